"""Output folders written whole or not at all, locked while written, and their provenance record.

A run writes every file into a hidden staging folder beside the output folder
(``.NAME.partial-<pid>-<8 random hex digits>``). On :meth:`OutputFolder.commit`
the staging folder becomes the output folder by one rename (an atomic
exchange where the kernel offers it, else two renames: the old folder to
``.NAME.old-<pid>-<8 random hex digits>``, the new folder to ``NAME``), so
a reader sees the old outputs or the new ones, never a mix. A run that
fails or is interrupted removes its staging folder; nothing already there
is damaged.

The rules, checked when the folder is entered (before any data is read):

* the output folder must not be, or contain, any input of the study (study
  file, inventory, layers, DEM, grid template, vector files of factors) nor
  the current folder or the home folder: the whole folder is replaced;
* one run at a time: a lock file ``.NAME.lock`` beside the folder holds the
  writer's pid (an ``flock`` the kernel drops when the process dies); a
  second run is refused naming the pid; a stale lock is taken over;
* staging (``.partial``) and swapped-out (``.old``) folders left by a killed
  run are removed when their pid is dead (an ``.old`` folder is moved back
  when the output folder itself is missing).

What happens to the files already in the output folder: each commit writes a
manifest (``.susmap-manifest.json``: every output with its size and
modification time). At the next commit, files the manifest lists and that
are unchanged are earlier outputs and are dropped (the new run replaces the
whole set). Every other file (the user's notes, QGIS sidecars, an output the
user has edited) is kept, byte-identical (hard-linked, else copied, into the
new folder), and the run is refused rather than replace one of them. Folders
written before manifests existed (a susmap ``provenance.json``, no manifest)
keep their old behaviour: same-named outputs are replaced, the rest kept.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any

from susmap.errors import OutputError

try:
    import fcntl
except ImportError:  # Windows: the pid in the lock file decides
    fcntl = None

__all__ = ["MANIFEST_NAME", "FolderLock", "OutputFolder", "file_sha256", "package_versions", "write_json"]

#: The file, inside every committed output folder, that lists the outputs of the run that wrote it.
MANIFEST_NAME = ".susmap-manifest.json"

_PACKAGES = (
    "susmap",
    "numpy",
    "scipy",
    "pandas",
    "xarray",
    "dask",
    "rasterio",
    "rioxarray",
    "geopandas",
    "pyogrio",
    "pyproj",
    "shapely",
    "scikit-learn",
    "numba",
    "matplotlib",
    "jenkspy",
    "pydantic",
    "torch",
)


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (on this machine)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class FolderLock:
    """One writer per output folder: an ``flock`` on ``.NAME.lock`` beside it, holding the writer's pid.

    The kernel drops the lock when its process dies, so a lock file left by a
    killed run is stale and simply taken over.

    Raises
    ------
    OutputError
        Another live process holds the lock (the message names the folder and its pid).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder).absolute()
        self.path = self.folder.parent / f".{self.folder.name}.lock"
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> FolderLock:
        while self._fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if fcntl is None:
                    raise OSError(errno.ENOLCK, "no flock")
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
                busy = err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
                if not busy and text.isdigit() and int(text) != os.getpid() and _pid_alive(int(text)):
                    busy = True  # a file system without flock: the pid written in the file decides
                if busy:
                    os.close(fd)
                    holder = f"pid {text}" if text.isdigit() else "another process"
                    raise OutputError(
                        f"{self.folder}: output folder in use by another susmap run ({holder}); "
                        "wait for it to finish or choose another output folder"
                    ) from None
            try:  # the holder we waited for may have removed the file: lock the file now at the path
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False where unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # kernel or file system without the exchange: fall back to two renames
    raise OSError(code, os.strerror(code), str(b))


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


class OutputFolder:
    """Stage files for ``final`` and swap them in, as one folder, on :meth:`commit`.

    Use as a context manager; leaving the block with an exception (an
    interrupt too) discards everything staged and releases the lock.

    Parameters
    ----------
    final : path
        The output folder.
    inputs : paths
        The files the run reads; refused when one lies inside ``final``.
    writes : names
        Outputs the run is known to write (relative paths); refused up front
        when one of them exists in ``final`` as a file susmap did not write.

    Raises
    ------
    OutputError
        ``final`` is a file, holds an input, the current or home folder, is
        locked by another run, or cannot be created or written.
    """

    def __init__(self, final: Path, *, inputs: Iterable[Path] = (), writes: Iterable[str] = ()) -> None:
        self.final = Path(final).absolute()
        self.inputs = [Path(p) for p in inputs]
        self.writes = [str(w) for w in writes]
        self.staging: Path | None = None
        self.committed: list[Path] = []
        self.lock = FolderLock(self.final)
        self._target = Path(os.path.realpath(self.final))  # where the folder really is (through a link)

    # ------------------------------------------------------------------ entering

    def __enter__(self) -> OutputFolder:
        try:
            self._check_place()
            self.final.parent.mkdir(parents=True, exist_ok=True)
            self.lock = FolderLock(self._target)
            self.lock.acquire()
            self._clean_stale()
            self._check_writes()
            token = f"{os.getpid()}-{secrets.token_hex(4)}"
            self.staging = self._target.parent / f".{self._target.name}.partial-{token}"
            self.staging.mkdir()
            if self._target.is_dir():
                probe = self._target / f".susmap-probe-{token}"
                probe.touch()
                probe.unlink()
        except OutputError:
            self._discard()
            raise
        except OSError as err:
            self._discard()
            raise OutputError(f"{self.final}: output folder not writable ({err.strerror or err})") from None
        except BaseException:  # an interrupt while entering: no lock or staging folder left behind
            self._discard()
            raise
        return self

    def _check_place(self) -> None:
        target = self._target
        if target.exists() and not target.is_dir():
            raise OutputError(f"{self.final}: output folder is an existing file; name a folder")
        if target.is_dir() and os.path.ismount(target):
            raise OutputError(
                f"{self.final}: output folder is a mount point, which cannot be replaced by a rename; "
                "name a folder inside it"
            )
        inside = [p for p in self.inputs if _is_within(Path(os.path.realpath(p)), target)]
        if inside:  # name first an input this run would overwrite (samples.csv, study.yaml ...)
            inside.sort(key=lambda p: Path(os.path.realpath(p)).relative_to(target).as_posix() not in self.writes)
            more = f" (and {len(inside) - 1} more)" if len(inside) > 1 else ""
            raise OutputError(
                f"{self.final}: output folder holds the study's input {inside[0]}{more}; susmap replaces the "
                "whole output folder, so choose a folder of its own (e.g. a new subfolder)"
            )
        try:
            cwd = os.getcwd()
        except OSError:  # a deleted current folder
            cwd = None
        home = os.path.expanduser("~")  # "~" itself where there is no home folder
        for name, where in (("current", cwd), ("home", home if home != "~" else None)):
            if where is not None and _is_within(Path(os.path.realpath(where)), target):
                raise OutputError(
                    f"{self.final}: output folder is or holds the {name} folder; susmap replaces the whole "
                    "output folder, so choose a folder of its own (e.g. a new subfolder)"
                )

    def _clean_stale(self) -> None:
        """Remove staging/swapped-out folders of this output folder whose run is dead (restore a lost folder)."""
        pattern = re.compile(rf"^\.{re.escape(self._target.name)}\.(partial|old)-(?:(\d+)-)?[^/]+$")
        stale: list[tuple[str, Path]] = []
        for entry in self._target.parent.iterdir():
            m = pattern.match(entry.name)
            if m is None or not entry.is_dir() or entry.is_symlink():
                continue
            pid = int(m.group(2)) if m.group(2) else None
            # We hold the lock, so no other run of this folder is writing: a live pid is a reused one or
            # ours; still leave a live stranger's folder alone.
            if pid is not None and pid != os.getpid() and _pid_alive(pid):
                continue
            stale.append((m.group(1), entry))
        if not self._target.exists():  # killed between the two renames of a commit: put the old folder back
            olds = sorted((p for kind, p in stale if kind == "old"), key=lambda p: p.stat().st_mtime)
            if olds:
                os.rename(olds[-1], self._target)
                stale = [(k, p) for k, p in stale if p != olds[-1]]
        for _, path in stale:
            shutil.rmtree(path, ignore_errors=True)

    # ------------------------------------------------------------------ what is there

    def _manifest(self) -> dict[str, dict] | None:
        try:
            data = json.loads((self._target / MANIFEST_NAME).read_text(encoding="utf-8"))
            files = data["files"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return files if isinstance(files, dict) else None

    def _legacy(self) -> bool:
        """A folder written by susmap before manifests: a susmap ``provenance.json`` and no manifest."""
        try:
            data = json.loads((self._target / "provenance.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(data, dict) and "susmap" in (data.get("versions") or {})

    def _foreign(self) -> dict[str, Path]:
        """Files (and links) of the output folder that are not unchanged outputs of an earlier run."""
        if not self._target.is_dir():
            return {}
        listed = self._manifest() or {}
        found: dict[str, Path] = {}
        for p in _walk_files(self._target):
            rel = p.relative_to(self._target).as_posix()
            if rel == MANIFEST_NAME:
                continue
            entry = listed.get(rel)
            if isinstance(entry, dict) and not p.is_symlink():
                st = p.stat()
                if entry.get("bytes") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns:
                    continue
            found[rel] = p
        return found

    def _refuse_replacing(self, rel: str, path: Path) -> None:
        raise OutputError(
            f"{path}: not written by susmap (or changed since) and this run writes a file of that name; "
            "move it out of the output folder and run again (nothing was changed)"
        )

    def _check_writes(self) -> None:
        if not self.writes or not self._target.is_dir() or (self._manifest() is None and self._legacy()):
            return
        foreign = self._foreign()
        for rel in self.writes:
            if rel in foreign:
                self._refuse_replacing(rel, foreign[rel])

    # ------------------------------------------------------------------ writing

    def path(self, name: str) -> Path:
        """Where to write output ``name`` (a relative path) while staging."""
        if self.staging is None:
            raise RuntimeError("OutputFolder used outside its with-block")
        p = self.staging / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def commit(self) -> list[Path]:
        """Swap the staged folder in for the output folder (keeping files susmap did not write)."""
        if self.staging is None:
            raise RuntimeError("nothing staged")
        staging = self.staging
        try:
            new = {p.relative_to(staging).as_posix(): p for p in sorted(staging.rglob("*")) if p.is_file()}
            for folder, _, _ in os.walk(staging, topdown=False):  # folders a run made but left empty
                if Path(folder) != staging and not any(Path(folder).iterdir()):
                    Path(folder).rmdir()
            manifest = {rel: {"bytes": (st := p.stat()).st_size, "mtime_ns": st.st_mtime_ns} for rel, p in new.items()}
            legacy = self._manifest() is None and self._legacy()
            for rel, src in self._foreign().items():
                if rel in new:
                    if legacy:
                        continue
                    self._refuse_replacing(rel, src)
                _carry(src, staging / rel)
            if self._target.is_dir():  # the user's empty folders too
                for folder, dirs, files in os.walk(self._target):
                    if not dirs and not files:
                        (staging / Path(folder).relative_to(self._target)).mkdir(parents=True, exist_ok=True)
            write_json(staging / MANIFEST_NAME, {"written_by": "susmap", "files": manifest})
            with _signals_held():  # the swap is not cut in half by Ctrl-C
                self._swap(staging)
                self.staging = None
        except OSError as err:
            if isinstance(err, OutputError):
                raise
            raise OutputError(f"{self.final}: cannot move outputs into place ({err.strerror or err})") from None
        finally:
            self._discard()
        self.committed = [self.final / rel for rel in new]
        return self.committed

    def _swap(self, staging: Path) -> None:
        target = self._target
        if not target.exists():
            os.rename(staging, target)
            return
        if _exchange(staging, target):
            shutil.rmtree(staging, ignore_errors=True)  # now the old outputs
            return
        old = target.parent / f".{target.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
        os.rename(target, old)
        try:
            os.rename(staging, target)
        except OSError:
            os.rename(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)

    def _discard(self) -> None:
        if self.staging is not None and self.staging.exists():
            shutil.rmtree(self.staging, ignore_errors=True)
        self.staging = None
        self.lock.release()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._discard()


@contextlib.contextmanager
def _signals_held():
    """Delay SIGINT, SIGTERM and SIGHUP until the block has run (where the platform can)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = {getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _walk_files(folder: Path) -> list[Path]:
    """Files and links (to files or folders, not followed) under ``folder``."""
    found = []
    for here, dirs, files in os.walk(folder):
        found += [Path(here) / d for d in dirs if os.path.islink(os.path.join(here, d))]
        found += [Path(here) / f for f in files]
    return found


def _carry(src: Path, dst: Path) -> None:
    """Keep ``src`` at ``dst``: the same file (hard link), else a byte copy; links stay links."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_symlink():
        os.symlink(os.readlink(src), dst)
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of Python, GDAL/PROJ and the packages susmap's results depend on."""
    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    try:
        import rasterio

        versions["gdal"] = rasterio.__gdal_version__
        import pyproj

        versions["proj"] = pyproj.proj_version_str
    except ImportError:
        pass
    return versions


def write_json(path: Path, data: Any) -> None:
    """Write JSON (keys in insertion order, so spatial results come first), NaN as null."""
    text = json.dumps(_nan_to_none(data), indent=2, default=str)
    Path(path).write_text(text + "\n", encoding="utf-8")


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and obj != obj:
        return None
    if isinstance(obj, dict):
        return {str(k): _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_nan_to_none(v) for v in obj]
    return obj
