"""Reports: HTML summary of a study run."""

from susmap.report.html import cv_summary_table, write_report

__all__ = ["cv_summary_table", "write_report"]
