"""What a study will cost before it runs: grid, samples, fits, CPU time per model, mapping time, peak memory.

:func:`estimate_study` checks the study as a run would (models, grid and
layers opened lazily, inventory read) without reading the rasters beyond
their headers and a few small windows, then

- counts the samples a run would draw (the inventory's events on the grid;
  absences at ``sampling.absence_ratio`` for presence-only inventories);
- counts the fits of every model: schemes x folds x repeats (one fold per
  test sample for ``buffered_loo``, per region for ``regions``), nested
  tuning (candidates x inner folds + 1 per outer fold), the final fit of the
  mapped model and, for ``susmap compare``, the extra analyses;
- times each model on synthetic data with the study's factors (categorical
  ones as class codes): one small fit, the same with twice the iterations
  (epochs, swarm iterations) and one on four times the samples, so the
  fixed cost, the cost per iteration and the growth with the sample count
  are measured, then scaled to the training-fold size and the model's own
  iterations; each model gets a few seconds at most (a fit that runs over
  stops the timing, the estimate is then a lower bound);
- measures prediction throughput on a block of cells for the mapping time;
- times reading a few chunk-sized windows of the grid template for the time
  of one pass over every layer (the stack's checks make one, the map
  another): a grid too large to read in an hour gets a warning;
- adds up peak memory: prediction blocks in flight, the writer's band of
  rows, the sample table and whole-grid factors.

Estimates are rough (within a factor of two or three on the same machine);
they say whether a study takes minutes or hours. A study whose
cross-validation would take more than :data:`LONG_CV_S` of wall time gets a
warning line.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import dask
import numpy as np
from rasterio.windows import Window

from susmap.errors import SusmapError
from susmap.factors.registry import WHOLE_GRID_BYTES_PER_CELL, holds_whole_grid
from susmap.grid import Grid, open_raster, parse_crs
from susmap.inventory import parse_labels, read_inventory, select_events
from susmap.models import get_model, make_estimator, make_pipeline
from susmap.stack import Stack, open_stack
from susmap.study import ModelConfig, Study

__all__ = ["LONG_CV_S", "LONG_READ_S", "TIMED_FITS", "ModelCost", "StudyEstimate", "estimate_study", "format_duration"]

log = logging.getLogger(__name__)

#: Cross-validation wall time [s] above which the estimate warns.
LONG_CV_S = 3600.0
#: Wall time [s] of one read pass over the layers above which the estimate warns.
LONG_READ_S = 3600.0
#: Fits from which a plain run times its models (``time_fits=None``).
TIMED_FITS = 100
#: Parameters counting training iterations (scaled when timing a fit).
_ITERATION_PARAMS = ("epochs", "pretrain_epochs", "iterations")
#: Samples of the smallest timing fit.
_TIMING_SAMPLES = 200
#: Classes given to each synthetic categorical factor.
_SYNTHETIC_CLASSES = 6
#: Scheduling cost of one dask task [s] (a chunk of one layer read and checked).
_TASK_OVERHEAD_S = 1e-3
#: The mapping writer's band of block rows (susmap.mapping.writer.write_lazy_rasters).
_WRITER_BAND_BYTES = 512e6


@dataclass
class ModelCost:
    """The fits of one model and their estimated CPU time [s] (None: not timed)."""

    label: str
    name: str
    cv_fits: int
    other_fits: int
    fit_s: float | None = None  # one fit on a training fold of the study's size
    predict_cells_per_s: float | None = None
    lower_bound: bool = False
    note: str = ""

    @property
    def fits(self) -> int:
        return self.cv_fits + self.other_fits

    @property
    def cv_cpu_s(self) -> float | None:
        return None if self.fit_s is None else self.fit_s * self.cv_fits

    @property
    def cpu_s(self) -> float | None:
        return None if self.fit_s is None else self.fit_s * self.fits


@dataclass
class StudyEstimate:
    """What :func:`estimate_study` found; :meth:`lines` is the printed summary."""

    study: str
    command: str
    grid: Grid
    valid_share: float
    factors: int
    samples: int
    events: int
    sample_note: str
    folds_note: str
    models: list[ModelCost]
    cv_processes: int
    map_workers: int
    mapped: str | None
    memory: dict[str, float] = field(default_factory=dict)
    timed: bool = True
    notes: list[str] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)  # the layers read, as "name (path)"
    derives: list[str] = field(default_factory=list)  # the derived factors, as "name = factor" (whole grid marked)
    writes_to: str = ""  # the output folder
    best_final_fit: bool = False  # mapping.model: best: one final fit, of the model that wins the CV
    read_cells_per_s: float | None = None  # reading one layer, measured on the template
    layers: int = 1  # rasters read per pass (predictor and auxiliary layers)
    chunk_size: int = 512  # cells per side of one read task (mapping.chunk_size)

    @property
    def cells(self) -> int:
        return self.grid.height * self.grid.width

    @property
    def valid_cells(self) -> int:
        return round(self.cells * self.valid_share)

    @property
    def fits(self) -> int:
        return sum(m.fits for m in self.models) + int(self.best_final_fit and bool(self.models))

    @property
    def cv_cpu_s(self) -> float | None:
        times = [m.cv_cpu_s for m in self.models]
        return None if not times or any(t is None for t in times) else float(sum(times))

    @property
    def cv_wall_s(self) -> float | None:
        cpu = self.cv_cpu_s
        return None if cpu is None else cpu / max(1, self.cv_processes)

    @property
    def map_s(self) -> float | None:
        """Wall time of predicting the map with the mapped model (the slowest candidate for ``best``)."""
        rates = [m.predict_cells_per_s for m in self.models if self.mapped in (None, m.label)]
        if not rates or any(r is None or r <= 0 for r in rates):
            return None
        return self.valid_cells / min(rates) / max(1, self.map_workers)

    @property
    def read_pass_s(self) -> float | None:
        """Wall time of one pass over every cell of every layer (measured read rate, one thread per core)."""
        if not self.read_cells_per_s:
            return None
        side = self.chunk_size
        tasks = math.ceil(self.grid.height / side) * math.ceil(self.grid.width / side) * self.layers
        reading = self.cells * self.layers / self.read_cells_per_s
        return (reading + tasks * _TASK_OVERHEAD_S) / max(1, self.map_workers)

    @property
    def peak_memory(self) -> float:
        return float(sum(self.memory.values()))

    @property
    def warnings(self) -> list[str]:
        out = []
        read = self.read_pass_s
        if read is not None and read > LONG_READ_S:
            out.append(
                f"one pass over the {self.cells:,} cells of the {self.layers} layer(s) would take about "
                f"{format_duration(read)} (the stack's checks make one, the map another); check the grid's size "
                "and cell size, or cut the study area"
            )
        wall = self.cv_wall_s
        if wall is not None and wall > LONG_CV_S:
            slow = max(self.models, key=lambda m: m.cv_cpu_s or 0.0)
            out.append(
                f"cross-validation would take about {format_duration(wall)} on {self.cv_processes} "
                f"process(es) ({self.fits} fits; slowest: {slow.label}, {format_duration(slow.cv_cpu_s or 0)} CPU); "
                "fewer repeats or folds, a lighter preset or validation.n_jobs would shorten it"
            )
        return out

    def lines(self) -> list[str]:
        """The estimate as printed by ``susmap run --dry-run``."""
        g = self.grid
        res = f"{g.res[0]:g} m" if g.crs is not None and g.crs.is_projected else f"{g.res[0]:g}"
        out = [
            f"dry run of {self.study!r} ({self.command}): nothing is written",
            f"grid      {g.height} x {g.width} = {self.cells:,} cells of {res}, "
            f"~{self.valid_cells:,} with data ({self.valid_share:.0%}); {self.factors} factors",
            f"samples   {self.samples:,} ({self.sample_note})",
        ]
        if self.reads:
            out.append(f"reads     {', '.join(self.reads)}")
        if self.derives:
            out.append(f"derives   {', '.join(self.derives)}")
        if self.models:
            final = " + the final fit of the best model" if self.best_final_fit else ""
            out.append(f"fits      {self.fits:,} in all: {self.folds_note}{final}")
        for m in self.models:
            parts = [f"  {m.label:<24} {m.cv_fits:>6,} CV fits + {m.other_fits} other"]
            if m.fit_s is not None:
                bound = ">= " if m.lower_bound else ""
                parts.append(
                    f"{bound}{format_duration(m.fit_s)} per fit, {bound}{format_duration(m.cpu_s or 0.0)} CPU in all"
                )
            if m.predict_cells_per_s:
                parts.append(f"predicts {m.predict_cells_per_s:,.0f} cells/s")
            if m.note:
                parts.append(m.note)
            out.append("; ".join(parts))
        if self.cv_cpu_s is not None:
            out.append(
                f"CV time   ~{format_duration(self.cv_cpu_s)} CPU, ~{format_duration(self.cv_wall_s or 0.0)} wall "
                f"on {self.cv_processes} process(es) (validation.n_jobs)"
            )
        elif not self.timed:
            out.append("CV time   not timed (--dry-run times one small fit of each model)")
        if self.read_pass_s is not None:
            out.append(
                f"read      ~{format_duration(self.read_pass_s)} per pass over {self.layers} layer(s) "
                f"({self.read_cells_per_s:,.0f} cells/s per layer on the template, {self.map_workers} thread(s))"
            )
        if self.map_s is not None:
            which = self.mapped or "the best model (chosen after CV)"
            out.append(
                f"map time  ~{format_duration(self.map_s)} for ~{self.valid_cells:,} cells with {which} "
                f"on {self.map_workers} thread(s)"
            )
        mem = ", ".join(f"{k} {_bytes(v)}" for k, v in self.memory.items() if v > 0)
        out.append(f"memory    peak ~{_bytes(self.peak_memory)} ({mem})")
        if self.writes_to:
            out.append(f"writes    to {self.writes_to} (nothing now: this is a dry run)")
        out += [f"note      {n}" for n in self.notes]
        out += [f"WARNING   {w}" for w in self.warnings]
        return out


def format_duration(seconds: float) -> str:
    """``0.12 s``, ``42 s``, ``7.5 min``, ``2.3 h``, ``3.1 days``."""
    if seconds < 1:
        return f"{seconds:.2g} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _bytes(n: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


# --------------------------------------------------------------------------- grid, stack, samples


def _header_grid(study: Study) -> Grid:
    """The study grid from the template's header (no pixel read)."""
    with open_raster(study.grid.template) as src:
        crs = src.crs
        if crs is None and study.grid.crs is not None:
            crs = parse_crs(study.grid.crs, key="grid.crs")
        return Grid(crs=crs, transform=src.transform, height=src.height, width=src.width)


def _valid_share(stack: Stack, windows: int = 6, side: int = 16) -> float:
    """Share of cells with data in every factor, from ``windows`` x ``windows`` small windows of the stack."""
    h, w = stack.grid.shape
    data = stack.data.data
    rows = np.unique(np.linspace(0, max(0, h - side), min(windows, h)).astype(int))
    cols = np.unique(np.linspace(0, max(0, w - side), min(windows, w)).astype(int))
    blocks = dask.compute(*[data[:, r : r + side, c : c + side] for r in rows for c in cols])
    valid = [np.isfinite(np.asarray(b)).all(axis=0) for b in blocks]
    total = sum(v.size for v in valid)
    return float(sum(int(v.sum()) for v in valid) / total) if total else 1.0


def _read_rate(study: Study, grid: Grid, windows: int = 3) -> float | None:
    """Cells per second of reading the template's first band, from ``windows`` chunk-sized windows (the slowest)."""
    side = study.mapping.chunk_size
    h, w = grid.shape
    rates = []
    try:
        with open_raster(study.grid.template) as src:
            for k in range(windows):
                r0 = (h - min(side, h)) * k // max(1, windows - 1)
                c0 = (w - min(side, w)) * k // max(1, windows - 1)
                window = Window(c0, r0, min(side, w), min(side, h))
                t0 = time.perf_counter()
                src.read(1, window=window)
                rates.append(window.width * window.height / max(time.perf_counter() - t0, 1e-6))
    except Exception:  # a read rate is a nicety: the run itself reports unreadable files
        return None
    return float(min(rates)) if rates else None


def _open_lazily(study: Study) -> tuple[Grid, Stack | None]:
    """The grid, and the stack of the study's layers (lazy, no valid-cell count) when it has predictor layers."""
    predictors = [layer for layer in study.layers if getattr(layer, "role", "predictor") == "predictor"]
    if not predictors:
        return _header_grid(study), None
    stack = open_stack(study.grid, list(study.layers), study.alignment, chunks=study.mapping.chunk_size, count=False)
    return stack.grid, stack


def _sample_count(study: Study, grid: Grid) -> tuple[int, int, str]:
    """Samples a run would draw (events on the grid, plus absences), events among them, and how they were counted."""
    cfg = study.inventory
    gdf = select_events(read_inventory(cfg, grid), cfg).reset_index(drop=True)
    cell_area = abs(grid.res[0] * grid.res[1])
    if cfg.geometry == "points":
        parts = gdf.geometry.explode(index_parts=False)
        _, _, inside = grid.rowcol(parts.x.to_numpy(), parts.y.to_numpy())
        per_feature = np.bincount(parts.index.to_numpy(dtype=np.int64)[inside], minlength=len(gdf))
        how = f"{len(gdf):,} inventory points, {int(inside.sum()):,} on the grid"
    else:
        cells = np.maximum(1.0, gdf.geometry.area.to_numpy() / cell_area)
        if cfg.source_area is not None:
            cells = np.maximum(1.0, np.ceil(cells * cfg.source_area.upper_fraction))
        per_feature = np.rint(cells).astype(np.int64)
        how = f"{len(gdf):,} polygons, ~{int(per_feature.sum()):,} cells by area"
    n_cells = int(per_feature.sum())
    if cfg.label:
        labels = parse_labels(gdf[cfg.label], column=cfg.label, path=Path(cfg.path))
        events = int(per_feature[labels == 1].sum())
        return n_cells, events, how + f", {events:,} events and {n_cells - events:,} non-events"
    absences = round(study.sampling.absence_ratio * n_cells)
    return n_cells + absences, n_cells, how + f", + {absences:,} absences (sampling.absence_ratio)"


# --------------------------------------------------------------------------- fits


def _splits(study: Study, n_samples: int) -> tuple[int, list[str]]:
    """Outer fits per model over every scheme (folds x repeats, or their own count), and a note per scheme."""
    val = study.validation
    total, notes = 0, []
    for cfg in val.scheme_configs:
        params = cfg.params
        if cfg.name in ("holdout", "temporal"):
            n, how = val.repeats, f"{val.repeats} repeats"
        elif cfg.name == "buffered_loo":
            n_tests = params.get("n_tests") or getattr(cfg, "n_tests", None)
            n = int(n_tests or n_samples)
            how = f"{n:,} test samples"
        elif cfg.name == "regions":
            n = _feature_count(cfg.regions)
            how = f"{n} regions"
        else:
            n, how = val.folds * val.repeats, f"{val.folds} folds x {val.repeats} repeats"
        total += n
        notes.append(f"{cfg.display_name} {how}")
    return total, notes


def _feature_count(path) -> int:
    try:
        import pyogrio

        return max(1, int(pyogrio.read_info(path)["features"]))
    except Exception:  # a bad regions file is refused by the run with its own message
        return 1


def _tuning_factor(study: Study, label: str) -> int:
    """Fits per outer fold: 1, or candidates x inner folds + the refit of the best candidate."""
    spec = study.validation.tuning.get(label)
    if not spec:
        return 1
    if "param_distributions" in spec:
        candidates = int(spec.get("n_iter", 10))
    else:
        grids = spec.get("param_grid") or {}
        grids = grids if isinstance(grids, list) else [grids]
        candidates = sum(math.prod(len(v) if isinstance(v, list | tuple) else 1 for v in g.values()) for g in grids)
    return max(1, candidates) * int(spec.get("inner_folds", 3)) + 1


# --------------------------------------------------------------------------- timing


def _synthetic(n: int, names: list[str], kinds: dict[str, str], rng: np.random.Generator):
    """Factor values with a learnable 0/1 label: continuous ~ N(0, 1), categorical codes 1..classes."""
    cols, signal = [], np.zeros(n)
    for name in names:
        if kinds.get(name) == "categorical":
            codes = rng.integers(1, _SYNTHETIC_CLASSES + 1, size=n)
            cols.append(codes.astype(np.float64))
            signal += (codes % 2) - 0.5
        else:
            values = rng.standard_normal(n)
            cols.append(values)
            signal += rng.normal() * values
    y = (signal + rng.standard_normal(n) > np.median(signal)).astype(int)
    if y.min() == y.max():
        y[: n // 2] = 1 - y[0]
    return np.column_stack(cols), y


class _Timer:
    """Fits of one model on synthetic data, within a time budget."""

    def __init__(self, build, names, kinds, windows, budget_s: float, seed: int) -> None:
        self.build, self.names, self.kinds, self.windows = build, names, kinds, windows
        self.deadline = time.perf_counter() + budget_s
        self.rng = np.random.default_rng(seed)
        self.over = False
        self.fitted = None
        self.X = None

    def design(self, n: int):
        X, y = _synthetic(n, self.names, self.kinds, self.rng)  # noqa: N806
        if self.windows is not None:  # patch models: cells of the synthetic raster, values read there
            size = self.windows.shape
            cells = self.rng.choice(size[0] * size[1], size=n, replace=n > size[0] * size[1])
            rows, cols = np.divmod(cells, size[1])
            X = np.column_stack([X, rows, cols]).astype(np.float64)  # noqa: N806
        return X, y

    def fit(self, n: int, iterations: dict[str, int]) -> float | None:
        """Seconds of one fit on ``n`` synthetic samples; None when the budget is spent."""
        if self.over or time.perf_counter() > self.deadline:
            self.over = True
            return None
        X, y = self.design(n)  # noqa: N806
        pipe = self.build()
        if iterations:
            pipe.set_params(**{f"{pipe.steps[-1][0]}__{k}": v for k, v in iterations.items()})
        failure: list[BaseException] = []

        def work() -> None:
            try:
                pipe.fit(X, y)
            except BaseException as err:  # handed to the caller below
                failure.append(err)

        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # a daemon thread: a fit that outlasts the budget is left behind (it ends with the process)
            worker = threading.Thread(target=work, name="susmap-estimate-fit", daemon=True)
            worker.start()
            worker.join(timeout=max(0.05, self.deadline - t0))
        took = time.perf_counter() - t0
        if worker.is_alive():  # over the budget: ``took`` is a lower bound
            self.over = True
            return took
        if failure:
            raise failure[0]
        self.fitted, self.X = pipe, X
        if time.perf_counter() > self.deadline:
            self.over = True
        return took


def _fastest(timer: _Timer, n: int, iterations: dict[str, int]) -> float | None:
    """The faster of two timed fits (one when the budget is spent): timings on a busy machine are noisy."""
    times = [t for t in (timer.fit(n, iterations), timer.fit(n, iterations)) if t is not None]
    return min(times) if times else None


def _iterations(estimator) -> dict[str, int]:
    params = estimator.get_params(deep=False)
    return {
        k: int(params[k])
        for k in _ITERATION_PARAMS
        if isinstance(params.get(k), int) and not isinstance(params.get(k), bool) and params[k] > 2
    }


def _time_model(
    study: Study, model: ModelConfig, names: list[str], kinds: dict[str, str], n_train: int, budget_s: float
) -> tuple[float | None, float | None, bool, str]:
    """(seconds per fit at ``n_train`` samples, predicted cells per second, lower bound?, note)."""
    spec = get_model(model.name)
    estimator = make_estimator(model.name, model.params, seed=study.seed)
    if spec.requires:
        package = spec.requires[0]
        try:
            __import__(package)
        except ImportError:
            return None, None, False, f"not timed ({package} is not installed)"
    windows = None
    if spec.inputs == "windows":
        import dask.array as da

        from susmap.models.windows import WindowSource

        rng = np.random.default_rng(study.seed)
        raster = rng.standard_normal((len(names), 64, 64)).astype(np.float32)
        for i, name in enumerate(names):
            if kinds.get(name) == "categorical":
                raster[i] = rng.integers(1, _SYNTHETIC_CLASSES + 1, size=(64, 64))
        windows = WindowSource(da.from_array(raster, chunks=(len(names), 64, 64)), names, kinds)

    encodings = {n: "onehot" for n, k in kinds.items() if k == "categorical"}  # FR/WoE cost about the same

    def build():
        return make_pipeline(
            model.name,
            model.params,
            factor_names=names,
            kinds=kinds,
            seed=study.seed,
            encodings=encodings,
            windows=windows,
        )

    full_iter = _iterations(estimator)
    small_iter = {k: max(2, min(v, v // 50)) for k, v in full_iter.items()}
    double_iter = {k: min(v, 2 * small_iter[k]) for k, v in full_iter.items()}
    timer = _Timer(build, names, kinds, windows, budget_s, study.seed)
    n0 = max(20, min(n_train, _TIMING_SAMPLES))
    t1 = timer.fit(n0, small_iter)
    if t1 is None:
        return None, None, False, "not timed"
    # the first fit pays one-off costs (imports of torch or numba kernels, caches): take the faster of two
    t1 = min(t1, timer.fit(n0, small_iter) or t1)
    fixed, per_iter_scale = 0.0, 1.0
    if full_iter:
        t2 = _fastest(timer, n0, double_iter)
        steps = max(double_iter[k] / small_iter[k] for k in full_iter)
        if t2 is not None and steps > 1 and t2 > t1:
            fixed = max(0.0, t1 - (t2 - t1) / (steps - 1))
        per_iter_scale = max(v / small_iter[k] for k, v in full_iter.items())
    exponent, bound = 1.0, timer.over
    if n_train > n0:
        t3 = _fastest(timer, min(n_train, 4 * n0), small_iter)
        if t3 is not None and t3 > fixed and t1 > fixed:
            ratio = min(n_train, 4 * n0) / n0
            exponent = float(np.clip(math.log(max(t3 - fixed, 1e-6) / max(t1 - fixed, 1e-6)) / math.log(ratio), 0.5, 2))
        else:
            bound = True
    variable = max(t1 - fixed, 0.0) * per_iter_scale * (n_train / n0) ** exponent
    fit_s = fixed + variable
    rate = None
    if timer.fitted is not None:
        n_pred = 4096
        X, _ = timer.design(n_pred)  # noqa: N806
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            timer.fitted.predict_proba(X)
        rate = n_pred / max(time.perf_counter() - t0, 1e-6)
    note = ""
    if full_iter:
        note = ", ".join(f"{k} {v}" for k, v in full_iter.items())
    return fit_s, rate, bound, note


# --------------------------------------------------------------------------- the estimate


def _other_fits(study: Study, command: str, label: str, tabular: bool, n_factors: int, first_splits: int) -> int:
    """Fits beyond cross-validation: the mapped model's; compare's rate curves and factor analyses."""
    if command == "compare":
        extra = 2  # rate curves: all samples, and the first fold's training part
        if tabular:
            extra += n_factors * first_splits  # accuracy by factor count (first scheme, one repeat)
            if label == study.models[0].display_name:
                extra += first_splits  # permutation importance (held-out folds of one repeat)
        return extra
    mapping = study.mapping
    return int(mapping.enabled and mapping.model == label)  # "best": counted once, in StudyEstimate.fits


def _memory(study: Study, grid: Grid, n_factors: int, n_samples: int, workers: int) -> dict[str, float]:
    chunk = study.mapping.chunk_size
    block = min(chunk, grid.height) * min(chunk, grid.width) * (n_factors + 2) * 4  # float32 factors + output
    cells = grid.height * grid.width
    memory = {
        "prediction blocks": float(block * 2 * workers),
        "writer band": float(min(_WRITER_BAND_BYTES, cells * 4 + cells)),
        "sample table": float(n_samples * (n_factors + 8) * 8 * 3),
    }
    whole = _whole_grid_factors(study)
    if whole:
        memory["whole-grid factors"] = float(cells * WHOLE_GRID_BYTES_PER_CELL)
    return memory


def _whole_grid_factors(study: Study) -> list[str]:
    """Names of the study's derived factors that hold the whole grid in memory (routing, distance transforms)."""
    return [f.name for f in study.factors if holds_whole_grid(f.registry_name, f.params)]


def estimate_study(
    study: Study,
    *,
    command: str = "run",
    time_fits: bool | None = True,
    budget_s: float = 4.0,
    open_layers: bool = True,
) -> StudyEstimate:
    """Check ``study`` and estimate its cost without running it (see the module docstring).

    Parameters
    ----------
    command : {"run", "compare"}
        ``compare`` adds its analyses' fits.
    time_fits : bool or None, default=True
        Time a few small fits of each model; False: only counts and memory;
        None: time them only where the study may be long (at least
        :data:`TIMED_FITS` fits, or a model with epochs or swarm iterations).
    budget_s : float, default=4
        Seconds of timing fits per model at most (a fit already running finishes).
    open_layers : bool, default=True
        Open the layers lazily (checks their alignment and nodata) and
        estimate the valid cells from a few small windows; False: the
        template's header only.

    Raises
    ------
    SusmapError
        Bad input, as the run would refuse it.
    """
    if study.mapping_unit.kind != "cells":
        raise SusmapError(
            f"{study.source or 'study'}: mapping_unit.kind {study.mapping_unit.kind!r}: the estimate covers studies "
            "on grid cells only; run the study (its cost is the cross-validation on the units)"
        )
    for m in study.models:  # model names and parameters, before any data
        make_estimator(m.name, m.params, seed=study.seed)
    grid, stack = _open_lazily(study) if open_layers else (_header_grid(study), None)
    n_samples, n_events, sample_note = _sample_count(study, grid)
    layer_names = [layer.name for layer in study.layers if getattr(layer, "role", "predictor") == "predictor"]
    kinds = {layer.name: layer.kind for layer in study.layers}
    kinds.update({f.name: f.kind for f in study.factors})
    names = layer_names + [f.name for f in study.factors]
    valid_share = _valid_share(stack) if stack is not None else 1.0
    notes = []
    if not open_layers:
        notes.append("valid cells not estimated (layers not opened)")
    elif stack is None or study.factors:
        notes.append("valid cells of derived factors are not known before they are derived")
    outer, scheme_notes = _splits(study, n_samples)
    first_cfg = study.validation.scheme_configs[0]
    first_splits = (
        study.validation.folds if first_cfg.name not in ("holdout", "buffered_loo", "regions", "temporal") else 1
    )
    folds = max(2, study.validation.folds)
    n_train = max(2, round(n_samples * (folds - 1) / folds))
    if time_fits is None:
        iterative = any(_iterations(make_estimator(m.name, m.params, seed=study.seed)) for m in study.models)
        time_fits = iterative or outer * len(study.models) >= TIMED_FITS
    if study.method != "models":
        notes.append(f"method {study.method}: its fits are not estimated here (only grid, samples and memory)")
    models = []
    for m in study.models if study.method == "models" else []:
        spec = get_model(m.name)
        label = m.display_name
        cost = ModelCost(
            label=label,
            name=m.name,
            cv_fits=outer * _tuning_factor(study, label),
            other_fits=_other_fits(study, command, label, spec.inputs == "cells", len(names), first_splits),
        )
        if time_fits:
            try:
                cost.fit_s, cost.predict_cells_per_s, cost.lower_bound, cost.note = _time_model(
                    study, m, names, kinds, n_train, budget_s
                )
            except SusmapError:
                raise
            except Exception as err:  # a model that cannot fit synthetic data is not a reason to refuse the study
                cost.note = f"not timed ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
        models.append(cost)
    if command == "compare":
        notes.append("compare also fits random forests of 100-500 trees for factor importance (not counted)")
    cv_processes = _processes(study.validation.n_jobs)
    map_workers = study.compute.num_workers or os.cpu_count() or 1
    mapped = None if study.mapping.model == "best" else study.mapping.model
    if not study.mapping.enabled or command == "compare":
        mapped = None
    return StudyEstimate(
        study=study.name,
        command=command,
        grid=grid,
        valid_share=valid_share,
        factors=len(names),
        samples=n_samples,
        events=n_events,
        sample_note=sample_note,
        folds_note=", ".join(scheme_notes) + f" per model; training folds of ~{n_train:,} samples",
        models=models,
        best_final_fit=command == "run" and study.mapping.enabled and study.mapping.model == "best",
        cv_processes=cv_processes,
        map_workers=int(map_workers),
        mapped=mapped,
        memory=_memory(study, grid, len(names), n_samples, int(map_workers)),
        read_cells_per_s=_read_rate(study, grid),
        layers=max(1, len(study.layers)),
        chunk_size=study.mapping.chunk_size,
        timed=time_fits,
        notes=notes,
        reads=[f"{layer.name} ({Path(layer.path).name}, {layer.role})" for layer in study.layers],
        derives=[
            f"{f.name} = {f.registry_name}" + (" (whole grid)" if holds_whole_grid(f.registry_name, f.params) else "")
            for f in study.factors
        ],
        writes_to=str(study.outputs.directory),
    )


def _processes(n_jobs: int) -> int:
    cpus = os.cpu_count() or 1
    if n_jobs is None or n_jobs == 0:
        return 1
    if n_jobs < 0:
        return max(1, cpus + 1 + n_jobs)
    return min(n_jobs, cpus)
