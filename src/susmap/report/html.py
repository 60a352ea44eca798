"""A short, self-contained HTML report of a study run.

Tables (cross-validation summary, spatial scheme first; class table), the map
figure and the sample counts. Figures are linked by relative path, so the
report travels with its output folder.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

__all__ = ["Section", "cv_summary_table", "write_report"]

_CSS = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:0.5rem 0 1.5rem}
th,td{border:1px solid #ccc;padding:0.25rem 0.6rem;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
caption{text-align:left;font-weight:600;padding:0.3rem 0}
img{max-width:100%;border:1px solid #ddd}.note{color:#555;font-size:0.9em}
"""


def cv_summary_table(summary: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Wide table: one row per (scheme, model), one 'mean ± sd' column per metric."""
    rows = []
    for (scheme, model), grp in summary.groupby(["scheme", "model"], sort=False):
        row = {"scheme": scheme, "model": model}
        by = grp.set_index("metric")
        for m in metrics:
            mean, sd = by.loc[m, "mean"], by.loc[m, "sd"]
            row[m] = "n/a" if pd.isna(mean) else f"{mean:.3f} ± {0.0 if pd.isna(sd) else sd:.3f}"
        rows.append(row)
    return pd.DataFrame(rows)


def _table(frame: pd.DataFrame, caption: str, floatfmt: str = "{:.3f}") -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for _, row in frame.iterrows():
        cells = []
        for v in row:
            text = floatfmt.format(v) if isinstance(v, float) else str(v)
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><caption>{html.escape(caption)}</caption><tr>{head}</tr>{''.join(body)}</table>"


@dataclass(frozen=True)
class Section:
    """A report section: heading, an optional note, tables (caption, frame) and images (relative paths)."""

    heading: str
    note: str = ""
    tables: Sequence[tuple[str, pd.DataFrame]] = ()
    images: Sequence[str] = ()

    def html(self) -> str:
        parts = [f"<h2>{html.escape(self.heading)}</h2>"]
        if self.note:
            parts.append(f"<p class='note'>{html.escape(self.note)}</p>")
        parts += [_table(frame, caption) for caption, frame in self.tables]
        parts += [f"<img src='{html.escape(img)}' alt='{html.escape(img)}'>" for img in self.images]
        return "\n".join(parts)


def write_report(
    path: Path,
    *,
    title: str,
    facts: Mapping[str, object],
    cv_table: pd.DataFrame | None = None,
    class_table: pd.DataFrame | None = None,
    map_png: str | None = None,
    files: Sequence[str] = (),
    sections: Sequence[Section] = (),
) -> None:
    """Write ``report.html``: study facts, cross-validation, classes and map, then ``sections``."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<table><caption>Study</caption>",
        *(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts.items()),
        "</table>",
    ]
    if cv_table is not None:
        parts += [
            "<h2>Cross-validation</h2>",
            "<p class='note'>Mean ± standard deviation over all folds and repeats. Spatial folds are k-means "
            "clusters of the sample coordinates; random folds ignore location and overstate skill on "
            "spatially autocorrelated data.</p>",
            _table(cv_table, "Scores on held-out folds"),
        ]
    if class_table is not None:
        ct = class_table.copy()
        parts += ["<h2>Susceptibility classes</h2>", _table(ct, "Area, events and frequency ratio per class")]
    if map_png:
        parts.append(f"<img src='{html.escape(map_png)}' alt='classified susceptibility map'>")
    parts += [section.html() for section in sections]
    parts.append("<h2>Files</h2><ul>")
    parts += [f"<li><a href='{html.escape(f)}'>{html.escape(f)}</a></li>" for f in files]
    parts.append("</ul></body></html>")
    Path(path).write_text("\n".join(parts), encoding="utf-8")
