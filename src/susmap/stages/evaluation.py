"""How good the map is, beyond the fold scores: ROC, success and prediction rates, held-out classes.

- :func:`random_cells`: the design matrix of a random sample of valid cells,
  the "area" of the rate curves;
- :func:`rate_curves`: the success rate of a model fitted on all samples
  (its own training events) and the prediction rate out of fold (each fold
  model of the first repeat rates the same cells and its held-out events,
  :func:`susmap.validation.curves.prediction_rate_from_folds`);
- :func:`held_out_event_probabilities`: the out-of-fold probability of every
  event under a scheme's first repeat, for the class table of held-out events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone

from susmap.stages.data import StudyData
from susmap.validation.curves import RateCurve, prediction_rate_from_folds, rate_curve
from susmap.validation.fold_maps import first_repeat_splits

__all__ = ["FoldModel", "first_repeat_fold_models", "held_out_event_probabilities", "random_cells", "rate_curves"]


def random_cells(prep: StudyData, n: int, seed: int) -> np.ndarray:
    """Design matrix of up to ``n`` random valid cells of the stack (see ``StudyData.cell_design``)."""
    grid = prep.stack.grid
    rng = np.random.default_rng(seed)
    cells = rng.choice(grid.height * grid.width, size=min(n, grid.height * grid.width), replace=False)
    rows, cols = np.divmod(np.sort(cells), grid.width)
    values = prep.stack.values_at(rows, cols)
    ok = np.isfinite(values).all(axis=1)
    return prep.cell_design(values[ok], rows[ok], cols[ok])


@dataclass(frozen=True)
class FoldModel:
    """A model fitted on the training part of one fold, and that fold's test indices."""

    model: object
    test: np.ndarray


def first_repeat_fold_models(prep: StudyData, pipeline, splitter) -> list[FoldModel]:
    """``pipeline`` refitted on the training part of each fold of ``splitter``'s first repeat.

    Folds whose training part holds one class are skipped (no model can be
    fitted); the rest serve the out-of-fold prediction rate and the
    uncertainty maps.
    """
    X, y = prep.design, prep.y  # noqa: N806
    out = []
    for train, test in first_repeat_splits(splitter, prep.X, y):
        if np.unique(y[train]).size < 2:
            continue
        out.append(FoldModel(clone(pipeline).fit(X[train], y[train]), np.asarray(test)))
    return out


def rate_curves(
    prep: StudyData,
    fitted,
    fold_models: Sequence[FoldModel],
    cells: np.ndarray,
    cell_probs: np.ndarray | None = None,
) -> tuple[RateCurve, RateCurve]:
    """Success rate of ``fitted`` (trained on all samples) and the out-of-fold prediction rate of ``fold_models``.

    Each fold model rates ``cells`` and its held-out events
    (:func:`susmap.validation.curves.prediction_rate_from_folds`). Both curves
    are the share of events against the share of area, cells ranked by
    susceptibility (Chung & Fabbri 2003). ``cell_probs``: ``fitted``'s
    probabilities of ``cells`` when the caller has them already.
    """
    X, y = prep.design, prep.y  # noqa: N806
    if cell_probs is None:
        cell_probs = fitted.predict_proba(cells)[:, 1]
    success = rate_curve(cell_probs, fitted.predict_proba(X[y == 1])[:, 1])
    fold_cells, event_probs = [], []
    for fold in fold_models:
        held = fold.test[y[fold.test] == 1]
        if held.size == 0:
            continue
        fold_cells.append(fold.model.predict_proba(cells)[:, 1])
        event_probs.append(fold.model.predict_proba(X[held])[:, 1])
    return success, prediction_rate_from_folds(fold_cells, event_probs)


def held_out_event_probabilities(predictions: pd.DataFrame, scheme: str, model: str) -> np.ndarray:
    """Out-of-fold probabilities of the events under ``scheme`` (first repeat) for ``model``; NaN ones dropped."""
    sel = predictions[
        (predictions["scheme"] == scheme)
        & (predictions["model"] == model)
        & (predictions["repeat"] == 0)
        & (predictions["label"] == 1)
    ]
    probs = sel["prob"].to_numpy(dtype=float)
    return probs[np.isfinite(probs)]
