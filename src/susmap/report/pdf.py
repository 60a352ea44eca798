"""Print the HTML report to PDF with a headless Chromium, offline.

The report's own print stylesheet (``templates/print.css``: A4, margins, no
table or figure split over two pages) sets the layout; Chromium's
``--print-to-pdf`` renders it exactly as a person's "Print → Save as PDF"
would, without the browser's date/URL header and footer.

The browser runs with a fresh temporary profile and with every start-up
network service off (component updates, sync, metrics, safe browsing, field
trials); every host name resolves to nothing (``--host-resolver-rules``), so
neither the browser nor the page can reach the network. The PDF is written
under a temporary name beside the target and renamed when it is complete: a
failed or timed-out print never leaves a half file.

The browser is, in order: the ``SUSMAP_BROWSER`` environment variable (a path
or a command name; when it is set nothing else is tried), else the first of
``chromium``, ``chromium-browser``, ``google-chrome``, ``google-chrome-stable``
on ``PATH``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from susmap.errors import InputFileError, OutputError

__all__ = [
    "BROWSER_ENV",
    "BROWSER_NAMES",
    "HEADLESS_FLAGS",
    "BrowserNotFoundError",
    "PdfPrintError",
    "find_browser",
    "headless_command",
    "print_pdf",
    "require_browser",
]

#: Environment variable naming the browser to use (a path or a command on ``PATH``).
BROWSER_ENV = "SUSMAP_BROWSER"

#: Commands looked for on ``PATH``, in this order, when ``SUSMAP_BROWSER`` is not set.
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: Flags for a headless, offline Chromium (checked with Chromium 156; unknown flags are ignored by Chromium).
HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",  # as root in CI and in containers the sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers have a small /dev/shm
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-breakpad",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-field-trial-config",
    # one --disable-features (a second would replace the first); AsyncDns: Chromium's own DNS client resolves
    # accounts.google.com and clients2.google.com at start-up whatever --host-resolver-rules says (strace, v156)
    "--disable-features=AsyncDns,DnsOverHttps,Translate,MediaRouter,OptimizationHints,AutofillServerCommunication,"
    "CertificateTransparencyComponentUpdater",
    "--dns-prefetch-disable",
    "--metrics-recording-only",  # metrics recorded in the throw-away profile, never sent
    "--safebrowsing-disable-auto-update",
    "--no-pings",
    "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # no host name resolves: nothing leaves the machine
)

_STDERR_TAIL = 12  # lines of the browser's stderr quoted in an error


class BrowserNotFoundError(OutputError):
    """No Chromium (or Chrome) to print the report with."""


class PdfPrintError(OutputError):
    """The browser failed, timed out or wrote no PDF."""


def find_browser() -> Path | None:
    """The Chromium to print with: ``$SUSMAP_BROWSER`` if set, else the first of :data:`BROWSER_NAMES` on ``PATH``.

    Returns ``None`` when none is found, or when ``SUSMAP_BROWSER`` is set but
    names no executable file (an explicit choice is never replaced by another browser).
    """
    chosen = os.environ.get(BROWSER_ENV, "").strip()
    if chosen:
        found = shutil.which(chosen)
        return Path(found) if found else None
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def require_browser() -> Path:
    """:func:`find_browser`, or a :class:`BrowserNotFoundError` saying how to get one."""
    browser = find_browser()
    if browser is not None:
        return browser
    chosen = os.environ.get(BROWSER_ENV, "").strip()
    if chosen:
        raise BrowserNotFoundError(
            f"--pdf: {BROWSER_ENV}={chosen!r} is not an executable browser; point it to Chromium or Chrome, or unset it"
        )
    raise BrowserNotFoundError(
        f"--pdf needs Chromium: apt-get install chromium, or set {BROWSER_ENV} to a Chromium or Chrome executable"
    )


def headless_command(browser: Path, profile_dir: Path, *extra: str) -> list[str]:
    """The command line of an offline headless ``browser`` using the fresh profile ``profile_dir``, then ``extra``."""
    return [str(browser), *HEADLESS_FLAGS, f"--user-data-dir={profile_dir}", *extra]


def print_pdf(html_path: Path, pdf_path: Path, *, timeout_s: float = 60) -> Path:
    """Print ``html_path`` to ``pdf_path`` (page size and margins from the page's ``@page`` rule) and return it.

    Runs :func:`find_browser`'s Chromium headless and offline with a fresh
    temporary profile; stops it (and its child processes) after ``timeout_s``
    seconds. The PDF appears at ``pdf_path`` only when complete.

    Raises :class:`~susmap.errors.InputFileError` when ``html_path`` does not
    exist, :class:`BrowserNotFoundError` when no browser is found, and
    :class:`PdfPrintError` (with the end of the browser's messages) when it
    fails, times out or writes something that is not a PDF.
    """
    html_path, pdf_path = Path(html_path), Path(pdf_path)
    if not html_path.is_file():
        raise InputFileError(f"print to PDF: {html_path} does not exist")
    browser = require_browser()
    if not pdf_path.parent.is_dir():
        raise OutputError(f"print to PDF: folder {pdf_path.parent} does not exist")
    part = pdf_path.with_name(f".{pdf_path.name}.{os.getpid()}.part")
    with tempfile.TemporaryDirectory(prefix="susmap-chromium-") as profile:
        command = headless_command(
            browser,
            Path(profile),
            "--no-pdf-header-footer",
            "--print-to-pdf-no-header",  # the same, for Chromium before 111
            f"--print-to-pdf={part}",
            html_path.resolve().as_uri(),
        )
        try:
            _run(command, timeout_s, pdf_path)
            with part.open("rb") as fh:
                head = fh.read(5)
            if head != b"%PDF-":
                raise PdfPrintError(f"print to PDF: {browser} wrote no PDF for {html_path} (starts with {head!r})")
            os.replace(part, pdf_path)
        except FileNotFoundError as err:
            raise PdfPrintError(f"print to PDF: {browser} wrote no {pdf_path.name} for {html_path}") from err
        finally:
            part.unlink(missing_ok=True)
    return pdf_path


def _run(command: list[str], timeout_s: float, pdf_path: Path) -> None:
    """Run the browser in its own process group; kill the whole group on timeout; fail on a non-zero exit."""
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # renderer and GPU processes share the group: one kill stops them all
    )
    try:
        _, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        _, stderr = proc.communicate()
        raise PdfPrintError(
            f"print to PDF: {command[0]} did not finish {pdf_path.name} in {timeout_s:g} s{_tail(stderr)}"
        ) from None
    finally:
        if proc.poll() is None:  # interrupted (Ctrl-C) while waiting
            _kill_group(proc)
    _kill_group(proc)  # helpers left behind by a finished browser
    if proc.returncode != 0:
        raise PdfPrintError(
            f"print to PDF: {command[0]} exited with status {proc.returncode} on {pdf_path.name}{_tail(stderr)}"
        )


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def _tail(stderr: bytes | None) -> str:
    """The last lines of the browser's messages, without its D-Bus complaints (no session bus in CI)."""
    lines = [
        line
        for line in (stderr or b"").decode("utf-8", "replace").splitlines()
        if line.strip() and "dbus" not in line.lower()
    ]
    return (":\n" + "\n".join(lines[-_STDERR_TAIL:])) if lines else ""
