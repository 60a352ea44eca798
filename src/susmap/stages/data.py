"""The data every runner starts from: derived factors, the stack, the sample table, the models' pipelines.

:func:`stack_and_samples` derives the study's factors (into ``factors/``),
opens the stack and draws the samples; :func:`prepare_study_data` adds what
the model runners need (design matrix, labels, coordinates, one unfitted
pipeline per model, factor class tables) as one :class:`StudyData`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from susmap.analysis import class_area_counts, factor_class_tables
from susmap.factors.derive import derive_factors
from susmap.inventory import inventory_cells, read_inventory
from susmap.mapping.writer import write_failure
from susmap.models import get_model, make_estimator, make_pipeline
from susmap.models.windows import WindowSource
from susmap.outputs import OutputFolder
from susmap.sampling import build_samples
from susmap.stack import Stack, open_stack
from susmap.study import Study
from susmap.timing import Timer

__all__ = [
    "StudyData",
    "class_tables_frame",
    "draw_samples",
    "prepare_study_data",
    "reads_windows",
    "stack_and_samples",
    "window_source",
    "write_samples",
]

log = logging.getLogger(__name__)


@dataclass
class StudyData:
    """A study's data, ready for models: stack, sample table, design matrix, unfitted pipelines.

    ``X`` holds the factor values of the samples; ``design`` is what the
    pipelines are fitted on: ``X`` itself, or, when a patch model reads
    factor windows, ``X`` with the cells' row and column appended (tabular
    pipelines ignore those two columns).
    """

    stack: Stack
    samples: pd.DataFrame
    counts: dict[str, int]
    names: list[str]
    X: np.ndarray
    y: np.ndarray
    coords: np.ndarray
    pipelines: dict[str, object]
    make: object  # make(model_config, factor_names) -> unfitted pipeline for a subset of factors
    design: np.ndarray
    windows: WindowSource | None = None
    class_tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def cell_design(self, values: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The design matrix of arbitrary cells (factor ``values`` at ``rows``, ``cols``)."""
        if self.windows is None:
            return values
        return np.column_stack([values, rows, cols]).astype(np.float64)

    def tabular(self) -> dict[str, object]:
        """The pipelines of models that read cell values only (for analyses on factor subsets)."""
        return {label: p for label, p in self.pipelines.items() if not reads_windows(p)}


def reads_windows(pipeline) -> bool:
    """Whether a (fitted or unfitted) pipeline's model reads factor windows (patch models)."""
    return getattr(pipeline[-1] if hasattr(pipeline, "steps") else pipeline, "window_source", None) is not None


def window_source(study: Study, stack: Stack, samples: pd.DataFrame) -> WindowSource | None:
    """Windows of the sample cells for patch models (largest window size any model asks for), or None."""
    sizes = []
    for m in study.models:
        if get_model(m.name).inputs == "windows":
            sizes.append(int(getattr(make_estimator(m.name, m.params, seed=study.seed), "window_size", 1)))
    if not sizes:
        return None
    prefetch = (samples["row"].to_numpy(), samples["col"].to_numpy(), max(sizes))
    return WindowSource(stack.data.data, stack.names, stack.kinds, prefetch=prefetch)


def draw_samples(study: Study, stack: Stack) -> tuple[pd.DataFrame, dict[str, int]]:
    """The study's sample table on ``stack`` (events, and absences for presence-only inventories).

    Returns the table (x, y, row, col, label, one column per factor,
    event_id, event_cells, and event_time with an ``inventory.time_field``)
    and the counts of :func:`susmap.inventory.inventory_cells` and
    :func:`susmap.sampling.build_samples` (features read, left out by
    ``inventory.where``, off the grid, on nodata, duplicates merged,
    conflicting labels, ...).
    """
    inv = study.inventory
    gdf = read_inventory(inv, stack.grid)
    events = inventory_cells(gdf, inv, stack)
    return build_samples(
        stack,
        events,
        study.sampling,
        seed=study.seed,
        inventory_path=inv.path,
        label_column=inv.label,
        duplicates=inv.duplicates,
        conflicts=inv.conflicts,
    )


def stack_and_samples(study: Study, out: OutputFolder, timer: Timer) -> tuple[Stack, pd.DataFrame, dict[str, int]]:
    """Derive the study's factors (into ``factors/``), open the stack and draw the samples."""
    layers = list(study.layers)
    if study.factors:
        with timer.stage("derive factors"):
            derived = derive_factors(study, out.path("factors/.keep").parent)
            layers += [d.as_layer() for d in derived]
    with timer.stage("stack"):
        stack = open_stack(study.grid, layers, study.alignment, chunks=study.mapping.chunk_size)
        log.info("grid %d x %d cells, %d valid, %d factors", *stack.grid.shape, stack.n_valid, len(stack.names))
        if stack.auxiliary:  # role: auxiliary: on the grid for rules and hillshade, never a model input
            log.info("auxiliary layers (not predictors): %s", ", ".join(stack.auxiliary))
    with timer.stage("samples"):
        samples, counts = draw_samples(study, stack)
    return stack, samples, counts


def write_samples(samples: pd.DataFrame, stack: Stack, out: OutputFolder) -> None:
    """``samples.csv`` and ``samples.gpkg`` (points in the grid's CRS)."""
    samples.to_csv(out.path("samples.csv"), index=False)
    path = out.path("samples.gpkg")
    frame = gpd.GeoDataFrame(
        samples, geometry=gpd.points_from_xy(samples["x"], samples["y"]), crs=stack.grid.crs.to_wkt()
    )
    try:
        frame.to_file(path, driver="GPKG", layer="samples")
    except Exception as err:  # GDAL reports a full disk as an SQLite error here
        raise write_failure(err, [path], check_space=True) from err


def class_tables_frame(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One long table (paper 000 Table 1 layout): factor, class, label, cells, area, events, FR."""
    frames = []
    for name, table in tables.items():
        frame = table.assign(factor=name)[["factor", *table.columns]]
        frame.attrs = {}  # per-table metadata (edges) would stop pandas from concatenating
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def prepare_study_data(study: Study, out: OutputFolder, timer: Timer) -> StudyData:
    """Derive factors, open the stack, draw samples, build every model's pipeline, write class tables.

    Writes ``factors/`` (derived factors) and ``factor_class_tables.csv``
    into ``out``'s staging folder.
    """
    stack, samples, counts = stack_and_samples(study, out, timer)
    names = stack.names
    with timer.stage("windows"):
        windows = window_source(study, stack, samples)
    encodings = {f: e for f, e in study.encodings.items() if f in names}  # auxiliary layers are never encoded
    # label-free class areas over the whole raster, for frequency-ratio encoding (paper 001 eq. 17)
    area_shares = {f: class_area_counts(stack, f) for f, e in encodings.items() if e == "frequency_ratio"}

    def make(model, factor_names):
        return make_pipeline(
            model.name,
            model.params,
            factor_names=list(factor_names),
            kinds=stack.kinds,
            seed=study.seed,
            encodings=encodings,
            area_shares=area_shares,
            windows=windows,
        )

    with timer.stage("factor class tables"):
        tables = factor_class_tables(stack, samples, names, seed=study.seed)
        class_tables_frame(tables).to_csv(out.path("factor_class_tables.csv"), index=False)
    X = samples[names].to_numpy(dtype=np.float64)  # noqa: N806
    design = X if windows is None else samples[[*names, "row", "col"]].to_numpy(dtype=np.float64)
    return StudyData(
        stack=stack,
        samples=samples,
        counts=counts,
        names=names,
        X=X,
        y=samples["label"].to_numpy(dtype=int),
        coords=samples[["x", "y"]].to_numpy(),
        pipelines={m.display_name: make(m, names) for m in study.models},
        make=make,
        design=design,
        windows=windows,
        class_tables=tables,
    )
