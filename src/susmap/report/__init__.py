"""Reports: HTML summary of a study run."""

from susmap.report.html import Section, cv_summary_table, write_report

__all__ = ["Section", "cv_summary_table", "write_report"]
