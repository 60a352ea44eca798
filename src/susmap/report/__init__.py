"""Reports: the HTML report of a run (document model, jinja2 rendering, PDF) and the papers' tables."""

from susmap.report.document import (
    Alert,
    Facts,
    Figure,
    FileList,
    ReferenceList,
    ReportDocument,
    ReportSection,
    Table,
    Text,
    readable_columns,
)
from susmap.report.html import cv_summary_table, render_report, write_report

__all__ = [
    "Alert",
    "Facts",
    "Figure",
    "FileList",
    "ReferenceList",
    "ReportDocument",
    "ReportSection",
    "Table",
    "Text",
    "cv_summary_table",
    "readable_columns",
    "render_report",
    "write_report",
]
