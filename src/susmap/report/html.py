"""Render a :class:`~susmap.report.document.ReportDocument` as one self-contained HTML file.

The page comes from the package's jinja2 template (``templates/report.html.j2``)
with its two stylesheets inlined (``screen.css``; ``print.css`` for clean A4
pages from the browser's "print to PDF"). Figures are embedded as PNG data
URIs, so the file opens complete when mailed on its own, and each links to
its file beside the report. Nothing is fetched from the network: no CDN, no
web fonts, no scripts.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import jinja2
import pandas as pd

from susmap.report.document import Figure, ReportDocument

__all__ = ["cv_summary_table", "render_report", "write_report"]

_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def cv_summary_table(summary: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Wide table: one row per (scheme, model), one 'mean ± sd' column per metric."""
    rows = []
    for (scheme, model), grp in summary.groupby(["scheme", "model"], sort=False):
        row = {"scheme": scheme, "model": model}
        by = grp.set_index("metric")
        for m in metrics:
            if m not in by.index:
                continue
            mean, sd = by.loc[m, "mean"], by.loc[m, "sd"]
            row[m] = "n/a" if pd.isna(mean) else f"{mean:.3f} ± {0.0 if pd.isna(sd) else sd:.3f}"
        rows.append(row)
    return pd.DataFrame(rows)


def _templates() -> resources.abc.Traversable:
    return resources.files("susmap.report") / "templates"


def _environment() -> jinja2.Environment:
    folder = _templates()
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: (folder / name).read_text(encoding="utf-8")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _data_uri(path: Path) -> str:
    mime = _MIME.get(path.suffix.lower())
    if mime is None:
        raise ValueError(f"report figure {path.name}: only PNG, SVG and JPEG are embedded")
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def render_report(document: ReportDocument, folder: Path) -> str:
    """The HTML text of ``document``; figure paths are read relative to ``folder`` (the report's folder).

    Raises
    ------
    FileNotFoundError
        A figure the document names is not in ``folder``: a report never
        shows a broken image.
    """
    folder = Path(folder)
    images = {}
    for rel in document.figures():
        path = folder / rel
        if not path.is_file():
            raise FileNotFoundError(f"report figure {rel} was not written to {folder}")
        images[rel] = _data_uri(path)
    css = {name: (_templates() / name).read_text(encoding="utf-8") for name in ("screen.css", "print.css")}
    return _environment().get_template("report.html.j2").render(doc=document, images=images, css=css, Figure=Figure)


def write_report(path: Path, document: ReportDocument) -> Path:
    """Write ``document`` as ``path`` (UTF-8 HTML, self-contained); returns ``path``."""
    path = Path(path)
    path.write_text(render_report(document, path.parent), encoding="utf-8")
    return path
