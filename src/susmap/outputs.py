"""Output folders written whole or not at all, and their provenance record.

Every file of a run is first written into a hidden staging folder beside the
output folder; only when the run has finished are the files renamed into
place (a rename on one file system is atomic). A run that fails removes its
staging folder, so files from an earlier run are never damaged and no file is
ever half-written.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any

from susmap.errors import OutputError

__all__ = ["OutputFolder", "file_sha256", "package_versions", "write_json"]

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


class OutputFolder:
    """Stage files for ``final`` and move them in on :meth:`commit`.

    Use as a context manager; leaving the block with an exception discards
    everything staged.

    Raises
    ------
    OutputError
        ``final`` is a file, or its folder cannot be created or written.
    """

    def __init__(self, final: Path) -> None:
        self.final = Path(final).absolute()
        self.staging: Path | None = None
        self.committed: list[Path] = []

    def __enter__(self) -> OutputFolder:
        if self.final.exists() and not self.final.is_dir():
            raise OutputError(f"{self.final}: output folder is an existing file")
        parent = self.final.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self.staging = Path(tempfile.mkdtemp(prefix=f".{self.final.name}.partial-", dir=parent))
            if self.final.exists():
                probe = tempfile.NamedTemporaryFile(dir=self.final, prefix=".susmap-probe-", delete=True)
                probe.close()
        except OSError as err:
            self._discard()
            raise OutputError(f"{self.final}: output folder not writable ({err.strerror or err})") from None
        return self

    def path(self, name: str) -> Path:
        """Where to write output ``name`` (a relative path) while staging."""
        if self.staging is None:
            raise RuntimeError("OutputFolder used outside its with-block")
        p = self.staging / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def commit(self) -> list[Path]:
        """Move every staged file into the output folder (replacing same-named files)."""
        if self.staging is None:
            raise RuntimeError("nothing staged")
        try:
            self.final.mkdir(parents=True, exist_ok=True)
            for src in sorted(p for p in self.staging.rglob("*") if p.is_file()):
                dst = self.final / src.relative_to(self.staging)
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dst)
                self.committed.append(dst)
        except OSError as err:
            raise OutputError(f"{self.final}: cannot move outputs into place ({err.strerror or err})") from None
        finally:
            self._discard()
        return self.committed

    def _discard(self) -> None:
        if self.staging is not None and self.staging.exists():
            shutil.rmtree(self.staging, ignore_errors=True)
        self.staging = None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._discard()


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
