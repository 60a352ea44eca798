"""What a reader sees of a report, for the report tests: sections, headings, images, links; dead links."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path


class Page(HTMLParser):
    """What a reader sees of a report: section ids and h2 headings in order, images, links, text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.h2: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.tags: list[str] = []
        self._in_h2 = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "section" and "id" in a:
            self.sections.append(a["id"])
        elif tag == "img":
            self.images.append(a.get("src", ""))
        elif tag == "a":
            self.links.append(a.get("href", ""))
        elif tag == "h2":
            self._in_h2 = True
            self.h2.append("")

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data):
        if self._in_h2:
            self.h2[-1] += data


def dead_links(report: Path, page: Page) -> list[str]:
    """Local links of the report that name no file beside it."""
    local = [h for h in page.links if not h.startswith(("#", "http://", "https://", "mailto:", "data:"))]
    return [h for h in local if not (report.parent / h).exists()]
