"""Exploratory analysis of factors: class tables with area, events and frequency ratio."""

from susmap.analysis.class_tables import class_area_counts, factor_class_tables, frequency_ratio_table

__all__ = ["class_area_counts", "factor_class_tables", "frequency_ratio_table"]
