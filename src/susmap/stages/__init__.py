"""The steps every study runner shares, with public names only.

=====================  ==========================================================
module                 job
=====================  ==========================================================
:mod:`.compute`        where dask graphs run (local threads or a cluster)
:mod:`.data`           derived factors, stack, samples, the models' pipelines
:mod:`.validation`     the study's validation schemes as splitters
:mod:`.maps`           classify and draw a probability map; model records
:mod:`.records`        metrics, resolved study and provenance files
:mod:`.citations`      the references of everything a study uses (``susmap cite``)
=====================  ==========================================================

Runners (:mod:`susmap.runners`) call these; these call the domain packages
(factors, models, validation, mapping, analysis, meta, optim, report).
"""

from susmap.stages.citations import study_references
from susmap.stages.compute import dask_scheduler
from susmap.stages.data import (
    StudyData,
    class_tables_frame,
    draw_samples,
    prepare_study_data,
    reads_windows,
    stack_and_samples,
    window_source,
    write_samples,
)
from susmap.stages.maps import (
    HILLSHADE_NAMES,
    classify_and_draw,
    hillshade_dem,
    pick_mapped_model,
    write_history,
    write_model_formula,
)
from susmap.stages.records import input_files, scores_by_scheme, write_metrics, write_provenance
from susmap.stages.validation import region_ids, study_splitters
from susmap.timing import Timer

__all__ = [
    "HILLSHADE_NAMES",
    "StudyData",
    "Timer",
    "class_tables_frame",
    "classify_and_draw",
    "dask_scheduler",
    "draw_samples",
    "hillshade_dem",
    "input_files",
    "pick_mapped_model",
    "prepare_study_data",
    "reads_windows",
    "region_ids",
    "scores_by_scheme",
    "stack_and_samples",
    "study_references",
    "study_splitters",
    "window_source",
    "write_history",
    "write_metrics",
    "write_model_formula",
    "write_provenance",
    "write_samples",
]
