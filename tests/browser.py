"""A minimal Chrome DevTools Protocol client, to open a page in a real (headless) Chromium in tests.

The browser is started with ``--remote-debugging-pipe``: it reads commands
from its file descriptor 3 and writes replies and events to its descriptor 4,
each message one JSON object ending in a NUL byte (the protocol:
https://chromedevtools.github.io/devtools-protocol/). A small Python
trampoline puts the two pipe ends on descriptors 3 and 4 before it execs the
browser, so no ``preexec_fn`` runs in the forked test process.

:func:`open_page` loads one ``file:`` page with every other scheme blocked
and reports every request the page made, the requests that failed, every
``<img>`` (source, loaded, natural width), the page's local links and a
full-page screenshot.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from susmap.report.pdf import headless_command

#: Puts the browser's command pipe on fd 3 and its reply pipe on fd 4, then execs the browser.
_TRAMPOLINE = (
    "import os, sys\n"
    "r, w = int(sys.argv[1]), int(sys.argv[2])\n"
    "os.dup2(r, 3); os.dup2(w, 4); os.close(r); os.close(w)\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)

#: URL patterns the page may not load: everything that leaves the machine.
BLOCKED = ["http://*", "https://*", "ws://*", "wss://*", "ftp://*"]

#: What the page reports about its images and links, once every image has loaded or failed.
_INSPECT = """(async () => {
  const images = [...document.images];
  for (const img of images) img.loading = "eager";
  await Promise.all(images.map((img) => img.complete ? null
    : new Promise((done) => { img.addEventListener("load", done); img.addEventListener("error", done); })));
  return {
    images: images.map((img) => ({src: img.getAttribute("src") || "", complete: img.complete,
                                  naturalWidth: img.naturalWidth})),
    links: [...document.querySelectorAll("a[href]")].map((a) => a.getAttribute("href")),
    deadAnchors: [...document.querySelectorAll('a[href^="#"]')].map((a) => a.getAttribute("href"))
      .filter((h) => h.length > 1 && !document.getElementById(decodeURIComponent(h.slice(1)))),
    height: Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0),
  };
})()"""


class BrowserError(RuntimeError):
    """The browser did not start, answered with an error or did not answer in time."""


@dataclass
class PageReport:
    """What a page did when it was opened: requests, failures, images, links and a screenshot (PNG bytes)."""

    url: str
    requests: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (url, error text)
    exceptions: list[str] = field(default_factory=list)  # uncaught script errors
    images: list[dict] = field(default_factory=list)  # {src, complete, naturalWidth}
    links: list[str] = field(default_factory=list)  # every href as written
    dead_anchors: list[str] = field(default_factory=list)  # "#id" links to no element of the page
    height_px: int = 0
    screenshot: bytes = b""


class Chromium:
    """A headless Chromium with a throw-away profile, driven over the DevTools pipe.

    Use as a context manager; every call waits at most ``timeout_s`` seconds.
    On exit the browser is asked to close (``Browser.close``) and killed with
    its child processes if it does not.
    """

    def __init__(self, executable: Path, *, timeout_s: float = 20.0) -> None:
        self.executable = Path(executable)
        self.timeout_s = timeout_s
        self._next_id = 0
        self._replies: dict[int, dict] = {}
        self._events: list[dict] = []
        self._inbox: queue.Queue = queue.Queue()
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> Chromium:
        self._profile = tempfile.TemporaryDirectory(prefix="susmap-cdp-")
        self._stderr = tempfile.TemporaryFile()
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # the child's ends on descriptors >= 5, so that moving them to 3 and 4 cannot overwrite one another
        child_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD_CLOEXEC, 5)
        child_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD_CLOEXEC, 5)
        os.close(to_browser_r)
        os.close(from_browser_w)
        command = headless_command(self.executable, Path(self._profile.name), "--remote-debugging-pipe")
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _TRAMPOLINE, str(child_r), str(child_w), *command],
                pass_fds=(child_r, child_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                start_new_session=True,
            )
        finally:
            os.close(child_r)
            os.close(child_w)
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self._proc is not None and self._proc.poll() is None:
                with contextlib.suppress(BrowserError, OSError):
                    self.call("Browser.close", timeout_s=5)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(timeout=5)
        finally:
            if self._proc is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self._proc.pid, signal.SIGKILL)  # renderers left behind, or a hung browser
                self._proc.wait()
            with contextlib.suppress(OSError):
                os.close(self._to_browser)
            self._stderr.close()
            self._profile.cleanup()

    def _read(self) -> None:
        """Reader thread: split the browser's output at NUL bytes and queue each message."""
        buffer = b""
        with os.fdopen(self._from_browser, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                buffer += chunk
                *messages, buffer = buffer.split(b"\0")
                for message in messages:
                    self._inbox.put(json.loads(message))
        self._inbox.put(None)  # the browser closed its end

    def stderr_tail(self, lines: int = 15) -> str:
        """The end of the browser's messages (for a failure's explanation)."""
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", "replace").splitlines()
        return "\n".join(line for line in text if "dbus" not in line.lower())[-3000:] if text else ""

    def _receive(self, deadline: float) -> dict:
        left = deadline - time.monotonic()
        try:
            message = self._inbox.get(timeout=max(left, 0.0))
        except queue.Empty:
            raise BrowserError(f"no answer from the browser in {self.timeout_s:g} s\n{self.stderr_tail()}") from None
        if message is None:
            self._inbox.put(None)
            raise BrowserError(f"the browser closed the connection\n{self.stderr_tail()}")
        return message

    def call(self, method: str, params: dict | None = None, *, session: str | None = None, timeout_s=None) -> dict:
        """Send one command and return its result; events that arrive meanwhile are kept for :meth:`wait_event`."""
        self._next_id += 1
        message: dict = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while self._next_id not in self._replies:
            incoming = self._receive(deadline)
            if "id" in incoming:
                self._replies[incoming["id"]] = incoming
            else:
                self._events.append(incoming)
        reply = self._replies.pop(self._next_id)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message', reply['error'])}")
        return reply.get("result", {})

    def wait_event(self, method: str, *, session: str | None = None) -> dict:
        """The first event ``method`` (of ``session``) not yet waited for; waits at most ``timeout_s``."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            for i, event in enumerate(self._events):
                if event.get("method") == method and (session is None or event.get("sessionId") == session):
                    return self._events.pop(i)
            incoming = self._receive(deadline)
            if "id" in incoming:
                self._replies[incoming["id"]] = incoming
            else:
                self._events.append(incoming)

    def events(self, method: str, session: str | None = None) -> list[dict]:
        """The parameters of every kept event ``method`` (of ``session``)."""
        return [
            e.get("params", {})
            for e in self._events
            if e.get("method") == method and (session is None or e.get("sessionId") == session)
        ]

    def open_page(self, path: Path, *, width_px: int = 1280, max_height_px: int = 16000) -> PageReport:
        """Load ``path`` (a local HTML file) with non-local URLs blocked; report what it did and screenshot it all.

        The screenshot is ``width_px`` wide and as tall as the page, at most ``max_height_px``.
        """
        url = Path(path).resolve().as_uri()
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Network", "Page", "Runtime"):
            self.call(f"{domain}.enable", session=session)
        self.call("Network.setBlockedURLs", {"urls": BLOCKED}, session=session)
        self.call("Emulation.setDeviceMetricsOverride", _metrics(width_px, 900), session=session)
        self.call("Emulation.setScrollbarsHidden", {"hidden": True}, session=session)  # the page gets all the width
        self._events = [e for e in self._events if e.get("sessionId") != session]  # about:blank's own events
        navigated = self.call("Page.navigate", {"url": url}, session=session)
        if navigated.get("errorText"):
            raise BrowserError(f"{url}: {navigated['errorText']}")
        self.wait_event("Page.loadEventFired", session=session)
        inspected = self.call(
            "Runtime.evaluate",
            {"expression": _INSPECT, "awaitPromise": True, "returnByValue": True},
            session=session,
        )
        if "exceptionDetails" in inspected:
            raise BrowserError(f"inspecting {url}: {inspected['exceptionDetails'].get('text')}")
        found = inspected["result"]["value"]
        height = min(int(found["height"]), max_height_px)
        self.call("Emulation.setDeviceMetricsOverride", _metrics(width_px, max(height, 1)), session=session)
        clip = {"x": 0, "y": 0, "width": width_px, "height": max(height, 1), "scale": 1}  # the cap holds
        shot = self.call(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}, session=session
        )
        ids = {e["requestId"]: e["request"]["url"] for e in self.events("Network.requestWillBeSent", session)}
        report = PageReport(
            url=url,
            requests=list(ids.values()),
            failed=[
                (ids.get(e["requestId"], e["requestId"]), e.get("blockedReason") or e.get("errorText", ""))
                for e in self.events("Network.loadingFailed", session)
            ],
            exceptions=[
                e["exceptionDetails"].get("exception", {}).get("description") or e["exceptionDetails"].get("text", "")
                for e in self.events("Runtime.exceptionThrown", session)
            ],
            images=found["images"],
            links=found["links"],
            dead_anchors=found["deadAnchors"],
            height_px=int(found["height"]),
            screenshot=base64.b64decode(shot["data"]),
        )
        self.call("Target.closeTarget", {"targetId": target})
        return report


def _metrics(width: int, height: int) -> dict:
    return {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
