"""A short, self-contained HTML report of a study run.

Tables (cross-validation summary, spatial scheme first; class table), the map
figure and the sample counts. Figures are linked by relative path, so the
report travels with its output folder.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

__all__ = ["cv_summary_table", "write_report"]

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


def write_report(
    path: Path,
    *,
    title: str,
    facts: Mapping[str, object],
    cv_table: pd.DataFrame,
    class_table: pd.DataFrame | None,
    map_png: str | None,
    files: Sequence[str],
) -> None:
    """Write ``report.html``."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<table><caption>Study</caption>",
        *(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts.items()),
        "</table>",
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
    parts.append("<h2>Files</h2><ul>")
    parts += [f"<li><a href='{html.escape(f)}'>{html.escape(f)}</a></li>" for f in files]
    parts.append("</ul></body></html>")
    Path(path).write_text("\n".join(parts), encoding="utf-8")
