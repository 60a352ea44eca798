"""The content of a report, independent of how it is rendered: sections made of blocks.

A :class:`ReportDocument` is a title, warnings and a list of
:class:`ReportSection`; each section holds blocks (:class:`Text`,
:class:`Facts`, :class:`Table`, :class:`Figure`, :class:`ReferenceList`,
:class:`FileList`) and may nest subsections. The runners fill it
(:mod:`susmap.stages.report`); :func:`susmap.report.html.write_report`
renders it with the package's jinja2 template.

Column names of susmap's tables (``area_km2``, ``density_per_km2``,
``auroc``…) are shown with readable headers and units via
:func:`readable_columns`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import pandas as pd

__all__ = [
    "COLUMN_LABELS",
    "Alert",
    "Facts",
    "Figure",
    "FileList",
    "ReferenceList",
    "ReportDocument",
    "ReportSection",
    "Table",
    "Text",
    "readable_columns",
]

#: Readable headers (with units) of the columns susmap's tables use.
COLUMN_LABELS: Mapping[str, str] = {
    "scheme": "Validation scheme",
    "model": "Model",
    "auroc": "AUROC",
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall (sensitivity)",
    "sensitivity": "Sensitivity",
    "specificity": "Specificity",
    "f1": "F1-score",
    "npv": "NPV",
    "ppv": "PPV",
    "mpcd": "MPCD",
    "kappa": "Cohen's kappa",
    "mse": "MSE",
    "rmse": "RMSE",
    "mape": "MAPE",
    "class": "Class",
    "name": "Name",
    "lower": "Lower edge (probability)",
    "upper": "Upper edge (probability)",
    "cells": "Cells",
    "area_km2": "Area [km²]",
    "area_pct": "Area [%]",
    "events": "Events",
    "events_pct": "Events [%]",
    "density_per_km2": "Event density [events/km²]",
    "frequency_ratio": "Frequency ratio",
    "factor": "Factor",
    "vif": "VIF",
    "tolerance": "Tolerance",
    "information_gain": "Information gain [bits]",
    "importance": "Importance",
    "importance_sd": "Importance sd",
    "stage": "Stage",
    "seconds": "Time [s]",
    "file": "File",
    "sha256": "SHA-256",
    "bytes": "Size [bytes]",
    "package": "Package",
    "version": "Version",
    "label": "Label",
    "kind": "Kind",
    "role": "Role",
    "units": "Units",
    "transform": "Transform",
    "resampling": "Resampling",
    "parameters": "Parameters",
    "path": "File",
    "band": "Band",
    "method": "Method",
    "how it splits": "How it splits",
}


def readable_columns(frame: pd.DataFrame, labels: Mapping[str, str] = COLUMN_LABELS) -> pd.DataFrame:
    """``frame`` with its column names replaced by their readable headers (unknown names kept)."""
    return frame.rename(columns={c: labels.get(str(c), str(c)) for c in frame.columns})


@dataclass(frozen=True)
class Text:
    """A paragraph; ``kind`` is ``"p"`` (body text) or ``"note"`` (smaller, for caveats)."""

    text: str
    kind: str = "p"
    block: ClassVar[str] = "text"


@dataclass(frozen=True)
class Facts:
    """Key-value lines (a definition list), e.g. the grid's size, CRS and extent."""

    items: Sequence[tuple[str, str]]
    caption: str = ""
    block: ClassVar[str] = "facts"


@dataclass(frozen=True)
class Table:
    """A table with a caption; floats shown with ``digits`` decimals, columns renamed by :func:`readable_columns`."""

    frame: pd.DataFrame
    caption: str
    note: str = ""
    digits: int = 3
    block: ClassVar[str] = "table"

    def header(self) -> list[str]:
        return list(readable_columns(self.frame).columns)

    def rows(self) -> list[list[str]]:
        """Cell texts: floats rounded, NaN as an en dash, integers as they are, "±" bound to its numbers."""
        out = []
        for row in self.frame.itertuples(index=False):
            cells = []
            for v in row:
                if isinstance(v, float):
                    cells.append("–" if pd.isna(v) else f"{v:.{self.digits}f}")
                else:  # "0.770 ± 0.053" never wraps inside its ±
                    cells.append("–" if v is None else str(v).replace(" ± ", "\u00a0±\u00a0"))
            out.append(cells)
        return out


@dataclass(frozen=True)
class Figure:
    """An image file beside the report (path relative to it), embedded when rendered, with its caption."""

    path: str
    caption: str
    block: ClassVar[str] = "figure"


@dataclass(frozen=True)
class ReferenceList:
    """Literature: ``(text, url)`` pairs, the url (a DOI link) may be empty."""

    entries: Sequence[tuple[str, str]]
    caption: str = ""
    block: ClassVar[str] = "references"


@dataclass(frozen=True)
class FileList:
    """Files of the output folder: ``(relative path, description)``, linked from the report."""

    files: Sequence[tuple[str, str]]
    caption: str = ""
    block: ClassVar[str] = "files"


@dataclass(frozen=True)
class Alert:
    """A warning shown first in the report: ``severity`` is ``"serious"`` or ``"caution"``."""

    message: str
    severity: str = "caution"
    code: str = ""


@dataclass
class ReportSection:
    """A section: an anchor id, a heading, blocks, and subsections (one level deeper)."""

    id: str
    heading: str
    blocks: list = field(default_factory=list)
    subsections: list[ReportSection] = field(default_factory=list)

    def add(self, *blocks) -> ReportSection:
        """Append blocks (None skipped); returns the section."""
        self.blocks.extend(b for b in blocks if b is not None)
        return self


@dataclass
class ReportDocument:
    """A whole report: title, one-line subtitle, generation time (ISO 8601, UTC), warnings, sections."""

    title: str
    subtitle: str
    generated: str
    warnings: list[Alert] = field(default_factory=list)
    sections: list[ReportSection] = field(default_factory=list)

    def figures(self) -> list[str]:
        """Every figure path of the document, in order."""

        def walk(sections):
            for s in sections:
                yield from (b.path for b in s.blocks if isinstance(b, Figure))
                yield from walk(s.subsections)

        return list(walk(self.sections))
