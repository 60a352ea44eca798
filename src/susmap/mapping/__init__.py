"""Wall-to-wall mapping: chunked prediction, class breaks, class statistics, writers, figures."""

from susmap.mapping.breaks import class_names, compute_breaks, equal_interval, natural_breaks, quantile_breaks
from susmap.mapping.classes import assign_classes, class_table, classify_raster, held_out_class_table, sample_raster
from susmap.mapping.predict import predict_block, predict_stack
from susmap.mapping.writer import geotiff_profile, write_lazy_raster

__all__ = [
    "assign_classes",
    "class_names",
    "class_table",
    "classify_raster",
    "compute_breaks",
    "equal_interval",
    "geotiff_profile",
    "held_out_class_table",
    "natural_breaks",
    "predict_block",
    "predict_stack",
    "quantile_breaks",
    "sample_raster",
    "write_lazy_raster",
]
