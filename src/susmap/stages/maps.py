"""From a fitted model to the maps: probability raster, classes, class table, figure, model records.

Shared by every runner that maps: :func:`classify_and_draw` turns the
``probability.tif`` of a run into ``classes.tif``, ``class_table.csv`` and
``susceptibility_map.png``; :func:`write_history` and
:func:`write_model_formula` keep a fitted model's training record.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from susmap.errors import SusmapError
from susmap.mapping import class_table, classify_raster, compute_breaks, predict_stack, sample_raster, write_lazy_raster
from susmap.mapping.comparison import plot_maps_comparison
from susmap.mapping.figures import plot_class_map
from susmap.outputs import OutputFolder
from susmap.stack import Stack, open_layer
from susmap.study import LayerConfig, Study
from susmap.timing import Timer

__all__ = [
    "HILLSHADE_NAMES",
    "ModelMap",
    "classify_and_draw",
    "hillshade_dem",
    "map_folder",
    "map_models",
    "pick_mapped_model",
    "write_history",
    "write_model_formula",
    "write_probability_map",
]

log = logging.getLogger(__name__)

#: Factor names taken as the DEM for the map's hillshade when ``mapping.hillshade`` is not given.
HILLSHADE_NAMES = ("elev", "elevation", "dem", "dtm", "altitude")


def pick_mapped_model(study: Study, summary: pd.DataFrame) -> str:
    """The model to map: ``mapping.model``, or with ``best`` the highest mean AUROC of the first scheme."""
    if study.mapping.model != "best":
        return study.mapping.model
    first = study.validation.scheme_labels[0]
    auc = summary[(summary["scheme"] == first) & (summary["metric"] == "auroc")]
    if auc["mean"].notna().any():
        return str(auc.loc[auc["mean"].idxmax(), "model"])
    return study.models[0].display_name


def hillshade_dem(study: Study, stack: Stack, max_pixels: int = 1200) -> np.ndarray | None:
    """The DEM for the map's hillshade, decimated to at most ``max_pixels`` per side; None without one.

    ``mapping.hillshade`` names a layer of the stack, a predictor or an
    auxiliary layer (``role: auxiliary``: a DEM shaded under the map without
    being a model input), or a raster file on the grid. Without it, the first
    layer named like a DEM (:data:`HILLSHADE_NAMES`), predictors first.
    """
    name = study.mapping.hillshade
    layers = [*stack.names, *stack.auxiliary]
    if name is None:
        name = next((n for n in layers if n.lower() in HILLSHADE_NAMES), None)
    step = max(1, int(np.ceil(max(stack.grid.shape) / max_pixels)))
    if name is not None and name in layers:
        return np.asarray(stack.layer(name)[::step, ::step].values)
    path = _hillshade_path(study, name)
    if path is None:
        if name is not None:
            log.warning(
                "mapping.hillshade %r is neither a layer (%s) nor a raster file; the map is drawn without hillshade",
                name,
                ", ".join(layers),
            )
        return None
    try:
        dem = open_layer(LayerConfig(name="hillshade", path=path), stack.grid, study.alignment, key="mapping.hillshade")
        return np.asarray(dem[::step, ::step].compute())
    except SusmapError as err:  # a map without shading beats a run lost at its last step
        log.warning("mapping.hillshade: %s; the map is drawn without hillshade", err)
        return None


def _hillshade_path(study: Study, name: str | None) -> Path | None:
    """``mapping.hillshade`` as a raster file (relative to the study's folder), or None when it names none."""
    if name is None:
        return None
    path = Path(name).expanduser()
    if not path.is_absolute():
        path = (study.base_dir or Path.cwd()) / path
    return path if path.is_file() else None


def write_probability_map(
    study: Study, stack: Stack, model, label: str, out: OutputFolder, *, folder: str = ""
) -> Path:
    """Predict ``model`` over the stack, block by block, into ``<folder>probability.tif`` (float32, NaN nodata).

    The band is described as the probability of an event by ``label`` and
    tagged with its units; returns the staged path.
    """
    path = out.path(f"{folder}probability.tif")
    write_lazy_raster(
        path,
        predict_stack(stack, model),
        stack.grid,
        description=f"susceptibility: probability of an event ({label})",
        tags={"model": label, "units": "probability [0-1]"},
        compress=study.outputs.compress,
    )
    return path


def classify_and_draw(
    study: Study,
    stack: Stack,
    samples: pd.DataFrame,
    out: OutputFolder,
    timer: Timer,
    title: str,
    *,
    boundaries: np.ndarray | None = None,
    folder: str = "",
) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Classify ``probability.tif`` into ``classes.tif``, ``class_table.csv`` and ``susceptibility_map.png``.

    Class edges follow ``mapping.classification`` on a sample of the mapped
    cells; the class table counts the events of ``samples`` per class (a
    success rate when those events trained the model). ``boundaries`` (block
    ids, 0 = none) are drawn as lines on the PNG. ``folder`` (e.g. ``maps/rf/``,
    with its trailing slash) is where these files are, relative to the output folder.

    Returns the class table, the class edges and the number of mapped cells.
    """
    prob_path = out.path(f"{folder}probability.tif")
    with timer.stage("classify"):
        sample, vmin, vmax, n_mapped = sample_raster(prob_path, study.mapping.class_sample, seed=study.seed)
        edges = compute_breaks(study.mapping.classification, sample, study.mapping.n_classes, vmin=vmin, vmax=vmax)
        ev = samples[samples["label"] == 1]
        cells, ev_classes = classify_raster(
            prob_path,
            out.path(f"{folder}classes.tif"),
            edges,
            stack.grid,
            event_rows=ev["row"].to_numpy(),
            event_cols=ev["col"].to_numpy(),
            compress=study.outputs.compress,
        )
        table = class_table(cells, ev_classes, edges, stack.grid.cell_area)
        table.to_csv(out.path(f"{folder}class_table.csv"), index=False)
    with timer.stage("figure"):
        plot_class_map(
            out.path(f"{folder}classes.tif"),
            out.path(f"{folder}susceptibility_map.png"),
            dem=hillshade_dem(study, stack),
            title=f"{title}, {study.mapping.classification.replace('_', ' ')}",
            events_xy=(ev["x"].to_numpy(), ev["y"].to_numpy()),
            boundaries=boundaries,
        )
    return table, edges, n_mapped


@dataclass
class ModelMap:
    """One model's map under ``maps/<label>/``: its folder (relative, with a trailing slash) and classes."""

    label: str
    folder: str
    table: pd.DataFrame
    edges: np.ndarray
    n_mapped: int


def map_folder(label: str) -> str:
    """``maps/<label>/``, the label made safe as a folder name."""
    return f"maps/{re.sub(r'[^A-Za-z0-9_.+-]+', '_', label).strip('.') or 'model'}/"


def map_models(
    study: Study,
    stack: Stack,
    samples: pd.DataFrame,
    out: OutputFolder,
    timer: Timer,
    fitted: Callable[[str], object],
) -> list[ModelMap]:
    """Map every model of ``mapping.models`` into ``maps/<label>/``, and ``maps.png`` when 2 or more.

    Each folder holds ``probability.tif``, ``classes.tif``, ``class_table.csv``
    and ``susceptibility_map.png``, classified like the top-level map
    (``mapping.classification``, ``n_classes``, breaks from each model's own
    probabilities). ``fitted(label)`` gives the model fitted on all samples.
    The top-level map (``mapping.model``) is left as it is.
    """
    labels = study.mapping.models_to_map([m.display_name for m in study.models])
    maps: list[ModelMap] = []
    for label in labels:
        folder = map_folder(label)
        log.info("mapping %s into %s", label, folder)
        model = fitted(label)
        with timer.stage("predict map"):
            write_probability_map(study, stack, model, label, out, folder=folder)
        table, edges, n_mapped = classify_and_draw(
            study, stack, samples, out, timer, f"{study.name}: susceptibility ({label})", folder=folder
        )
        maps.append(ModelMap(label, folder, table, edges, n_mapped))
    if len(maps) >= 2:
        ev = samples[samples["label"] == 1]
        with timer.stage("figure"):
            plot_maps_comparison(
                {m.label: out.path(f"{m.folder}classes.tif") for m in maps},
                out.path("maps.png"),
                dem=hillshade_dem(study, stack, max_pixels=600),
                title=f"{study.name}: susceptibility by model, {study.mapping.classification.replace('_', ' ')}",
                events_xy=(ev["x"].to_numpy(), ev["y"].to_numpy()),
            )
    return maps


def write_history(model, folder: Path, label: str) -> list[Path]:
    """Write a fitted deep model's training history (``<label>.csv`` and ``.png``); nothing for other models."""
    final = model[-1] if hasattr(model, "steps") else model
    history = getattr(final, "history_", None)
    if history is None:
        return []
    from susmap.models.torch_base import plot_history

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / f"{label}.csv"
    history.to_csv(csv, index=False)
    return [csv, plot_history(history, folder / f"{label}.png", title=f"{label}: training history")]


def write_model_formula(model, names: list[str], folder: Path, label: str) -> list[Path]:
    """Write a fitted weight-vector network as a formula (paper 002 eqs. 6-7); nothing for other models."""
    final = model[-1] if hasattr(model, "steps") else model
    if not hasattr(final, "coefs_") or not hasattr(final, "data_min_"):
        return []
    from susmap.models.formula import write_formula

    inputs = list(names)
    if hasattr(model, "steps") and len(model.steps) > 1:
        pre = model[:-1]
        extra = ["row", "col"][: max(0, int(pre.n_features_in_) - len(names))]  # patch-model cell columns, dropped
        inputs = [str(n) for n in pre.get_feature_names_out([*names, *extra])]
    return write_formula(final, inputs, folder, label)
