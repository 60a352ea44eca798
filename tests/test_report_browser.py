"""The demo's HTML report as a person opens it, in a real headless Chromium, offline; and printed to PDF.

Only loading is checked here (images, links, requests, script errors): what
the report says is tested with the report. Without Chromium the browser
tests skip, unless ``SUSMAP_REQUIRE_BROWSER=1`` (CI) makes that a failure.
The full-page screenshot is kept in ``tests/artifacts/report_demo.png``.
"""

from __future__ import annotations

import os
import re
import struct
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from typer.testing import CliRunner

from browser import Chromium, PageReport
from susmap.cli import app
from susmap.errors import OutputError, SusmapError
from susmap.report.pdf import BrowserNotFoundError, PdfPrintError, find_browser, print_pdf

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
BROWSER_SECONDS: dict[str, float] = {}  # how long the browser took, for the time check

#: the print stylesheet, as the report template includes it
PRINT_CSS = Path(__file__).resolve().parents[1] / "src" / "susmap" / "report" / "templates" / "print.css"

A4_PT = (595.276, 841.890)  # 210 mm x 297 mm at 72 pt per inch (25.4 mm)


@pytest.fixture(scope="session")
def browser() -> Path:
    """The Chromium to test with; the tests that need it skip (or, with SUSMAP_REQUIRE_BROWSER=1, fail) without."""
    found = find_browser()
    if found is None:
        message = "no Chromium to open the report: apt-get install chromium, or set SUSMAP_BROWSER"
        if os.environ.get("SUSMAP_REQUIRE_BROWSER") == "1":
            pytest.fail(f"SUSMAP_REQUIRE_BROWSER=1 but {message}")
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def demo_report(demo_run) -> Path:
    """The demo's report.html (the demo run once per session, conftest.py)."""
    out, result = demo_run
    assert result.exit_code == 0, f"the demo failed: {result.exception!r}\n{result.output}"
    return out / "report.html"


@pytest.fixture(scope="module")
def demo_page(browser, demo_report) -> PageReport:  # browser first: no demo run when the tests skip
    """The demo's report.html opened once in Chromium; its full-page screenshot saved under tests/artifacts."""
    start = time.perf_counter()
    with Chromium(browser, timeout_s=30) as chromium:
        page = chromium.open_page(demo_report)
    BROWSER_SECONDS["open"] = time.perf_counter() - start
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "report_demo.png").write_bytes(page.screenshot)
    return page


def test_every_image_loads(demo_page):
    assert demo_page.images, "the report shows no image"
    broken = [img["src"][:80] for img in demo_page.images if not (img["complete"] and img["naturalWidth"] > 0)]
    assert not broken, f"images that did not load: {broken}"


def test_every_local_link_resolves_inside_the_output_folder(demo_page, demo_report):
    out = demo_report.parent.resolve()
    dead = []
    for href in demo_page.links:
        parts = urlsplit(href)
        if href.startswith("#") or (parts.scheme and parts.scheme != "file"):
            continue  # in-page anchors checked below; http(s), mailto, doi links are not files
        target = Path(unquote(parts.path))
        target = target if target.is_absolute() else out / target
        target = target.resolve()
        if not (target.exists() and target.is_relative_to(out)):
            dead.append(href)
    assert not dead, f"links to no file or folder of {out}: {dead}"
    assert not demo_page.dead_anchors, f"links to no section of the page: {demo_page.dead_anchors}"


def test_nothing_leaves_the_machine(demo_page):
    remote = [url for url in demo_page.requests if urlsplit(url).scheme not in ("file", "data")]
    assert not remote, f"the report asks the network for: {remote}"
    assert not demo_page.failed, f"requests that failed: {demo_page.failed}"
    assert not demo_page.exceptions, f"script errors: {demo_page.exceptions}"


def test_screenshot_is_the_whole_page(demo_page):
    png = demo_page.screenshot
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])  # IHDR: the first chunk
    assert width == 1280
    assert height == min(demo_page.height_px, 16000)
    assert BROWSER_SECONDS["open"] < 30, f"opening the report took {BROWSER_SECONDS['open']:.1f} s"


def test_demo_report_prints_to_pdf(browser, demo_report, tmp_path):
    start = time.perf_counter()
    pdf = print_pdf(demo_report, tmp_path / "report.pdf")
    assert time.perf_counter() - start < 30
    assert pdf == tmp_path / "report.pdf"
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and len(data) > 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.pdf"]  # no temporary file left


def test_print_stylesheet_gives_a4_pages(browser, tmp_path):
    """A page with print.css prints on A4 (595.3 x 841.9 pt), one page per sheet of content."""
    html = tmp_path / "a4.html"
    html.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><style media='print'>{PRINT_CSS.read_text()}</style>"
        "</head><body><h2>Heading</h2><p>One line of text.</p></body></html>"
    )
    data = print_pdf(html, tmp_path / "a4.pdf").read_bytes()
    boxes = {
        tuple(float(v) for v in box) for box in re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)
    }
    assert len(boxes) == 1, boxes
    (width, height) = boxes.pop()
    assert width == pytest.approx(A4_PT[0], abs=1.5) and height == pytest.approx(A4_PT[1], abs=1.5)


def _fake_browser(tmp_path: Path, body: str) -> Path:
    """An executable standing in for Chromium; ``$pdf`` is the path it was asked to print to."""
    script = tmp_path / "fake-chromium"
    script.write_text(
        '#!/bin/sh\npdf=\'\'\nfor a in "$@"; do case "$a" in --print-to-pdf=*) pdf="${a#--print-to-pdf=}";; '
        f"esac; done\n{body}\n"
    )
    script.chmod(0o755)
    return script


@pytest.fixture
def page(tmp_path) -> Path:
    html = tmp_path / "page.html"
    html.write_text("<!doctype html><p>text</p>")
    return html


def test_missing_browser_named_by_the_variable_is_a_clear_error(monkeypatch, tmp_path, page):
    monkeypatch.setenv("SUSMAP_BROWSER", str(tmp_path / "no-such-chromium"))
    assert find_browser() is None  # set but wrong: no other browser replaces it
    with pytest.raises(BrowserNotFoundError, match=r"SUSMAP_BROWSER=.*no-such-chromium.* not an executable"):
        print_pdf(page, tmp_path / "page.pdf")
    assert not (tmp_path / "page.pdf").exists()


def test_no_browser_on_the_path_says_how_to_install_one(monkeypatch, tmp_path, page):
    monkeypatch.delenv("SUSMAP_BROWSER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_browser() is None
    with pytest.raises(OutputError, match=r"--pdf needs Chromium: apt-get install chromium, or set SUSMAP_BROWSER"):
        print_pdf(page, tmp_path / "page.pdf")


def test_failing_browser_quotes_its_messages_and_leaves_no_file(monkeypatch, tmp_path, page):
    fake = _fake_browser(tmp_path, "printf 'half\\n' > \"$pdf\"; echo 'cannot open display :0' >&2; exit 3")
    monkeypatch.setenv("SUSMAP_BROWSER", str(fake))
    with pytest.raises(PdfPrintError, match=r"exited with status 3 on page.pdf:\ncannot open display :0"):
        print_pdf(page, tmp_path / "page.pdf")
    assert not any(p.suffix in (".pdf", ".part") for p in tmp_path.iterdir())


def test_hung_browser_is_stopped_after_the_timeout(monkeypatch, tmp_path, page):
    fake = _fake_browser(tmp_path, "printf '%%PDF-half' > \"$pdf\"; sleep 30")
    monkeypatch.setenv("SUSMAP_BROWSER", str(fake))
    start = time.perf_counter()
    with pytest.raises(PdfPrintError, match=r"did not finish page.pdf in 0.5 s"):
        print_pdf(page, tmp_path / "page.pdf", timeout_s=0.5)
    assert time.perf_counter() - start < 10  # the whole process group was killed, sleep included
    assert not any(p.suffix in (".pdf", ".part") for p in tmp_path.iterdir())


def test_browser_writing_no_pdf_is_an_error(monkeypatch, tmp_path, page):
    fake = _fake_browser(tmp_path, "printf '<html>' > \"$pdf\"")
    monkeypatch.setenv("SUSMAP_BROWSER", str(fake))
    with pytest.raises(PdfPrintError, match="wrote no PDF"):
        print_pdf(page, tmp_path / "page.pdf")
    assert not any(p.suffix in (".pdf", ".part") for p in tmp_path.iterdir())


def test_run_with_pdf_and_no_browser_stops_before_the_run(monkeypatch, make_study, tmp_path):
    monkeypatch.setenv("SUSMAP_BROWSER", str(tmp_path / "no-such-chromium"))
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(make_study()))
    result = CliRunner().invoke(app, ["run", "--pdf", str(study)])
    assert result.exit_code == 2
    assert "SUSMAP_BROWSER=" in result.stderr and "not an executable" in result.stderr
    assert not (tmp_path / "out").exists()
    assert issubclass(BrowserNotFoundError, SusmapError)
