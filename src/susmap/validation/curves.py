"""Curves of a susceptibility model: ROC, success rate and prediction rate.

ROC points (false positive rate, true positive rate) are computed at every
distinct predicted probability, as :func:`sklearn.metrics.roc_curve` with
``drop_intermediate=False``.

The success-rate and prediction-rate curves (Chung & Fabbri 2003) rank the
map cells by decreasing susceptibility and plot, for each threshold, the
share of the area at or above it (x) against the share of events whose cell
is at or above it (y). Events used for training give the success rate (how
well the model fits), events held out give the prediction rate (how well it
predicts). With k-fold cross-validation every fold's model rates its own
held-out events against the same sample of map cells;
:func:`prediction_rate_from_folds` pools these k curves into one out-of-fold
prediction-rate curve. Cells of equal susceptibility enter the ranking together, so the
curve is joined by a straight segment across ties: the result does not
depend on the order of equal values, and its area equals the probability
that an event cell outranks a random map cell (ties counting one half).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

__all__ = ["RateCurve", "RocCurve", "prediction_rate_from_folds", "rate_curve", "roc_points"]


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1])) / 2.0)


class RocCurve(NamedTuple):
    """ROC curve points, thresholds decreasing; the first point (0, 0) has threshold +inf."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray

    @property
    def auc(self) -> float:
        """Area under the curve (trapezoids), equal to :func:`~susmap.validation.metrics.auroc`."""
        return _trapezoid(self.tpr, self.fpr)


class RateCurve(NamedTuple):
    """Success- or prediction-rate curve from (0, 0) to (1, 1), thresholds decreasing.

    Attributes
    ----------
    area_share : ndarray
        Share of the map cells with susceptibility >= threshold [0, 1].
    event_share : ndarray
        Share of the events with susceptibility >= threshold [0, 1].
    thresholds : ndarray
        Susceptibility thresholds; the first, +inf, gives the (0, 0) point.
    auc : float
        Area under the curve [0, 1]; 0.5 for a ranking no better than chance.
    """

    area_share: np.ndarray
    event_share: np.ndarray
    thresholds: np.ndarray
    auc: float


def roc_points(y_true, y_prob) -> RocCurve:
    """ROC curve points at every distinct predicted probability.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        0/1 labels (1 = event); both classes must be present.
    y_prob : array-like of shape (n_samples,)
        Predicted event probabilities.

    Returns
    -------
    RocCurve
        ``(fpr, tpr, thresholds)``, equal to ``sklearn.metrics.roc_curve(y_true,
        y_prob, drop_intermediate=False)``; at threshold ``t`` the rates count
        ``prob >= t`` as event.

    Raises
    ------
    ValueError
        The labels hold one class only, or the arrays differ in length.
    """
    y = np.asarray(y_true).astype(bool)
    p = np.asarray(y_prob, dtype=float)
    if y.ndim != 1 or p.shape != y.shape:
        raise ValueError(f"y_true and y_prob must be 1-d arrays of one length, got shapes {y.shape} and {p.shape}")
    n1 = int(np.count_nonzero(y))
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        raise ValueError(f"a ROC curve needs events and non-events; got {n1} events and {n0} non-events")
    order = np.argsort(-p, kind="mergesort")
    ps = p[order]
    last = np.r_[np.flatnonzero(np.diff(ps)), ps.size - 1]  # last position of each run of equal values
    tps = np.cumsum(y[order])[last]
    fps = (last + 1) - tps
    return RocCurve(
        fpr=np.r_[0.0, fps / n0],
        tpr=np.r_[0.0, tps / n1],
        thresholds=np.r_[np.inf, ps[last]],
    )


def rate_curve(map_values, event_values) -> RateCurve:
    """Success-rate or prediction-rate curve and its AUC.

    Parameters
    ----------
    map_values : array-like
        Susceptibility of every valid map cell, or of a random sample of them
        (any shape; NaN = nodata, ignored).
    event_values : array-like
        Susceptibility at the event cells (NaN ignored): training events for
        the success rate, validation events for the prediction rate.

    Returns
    -------
    RateCurve
        One point per distinct value of ``map_values`` and ``event_values``
        together, plus (0, 0).

    Raises
    ------
    ValueError
        No valid map value or no valid event value.

    Notes
    -----
    Cost: sorting the values, O(n log n) for n map cells; a random sample of
    cells (say 10⁶) gives the curve to within sampling error without reading
    the whole map.

    Examples
    --------
    Events on the top 20 % of cells: the curve climbs to 1 at area share 0.2,
    so AUC = 0.2 / 2 + 0.8 = 0.9.

    >>> cells = np.arange(10.0)
    >>> round(rate_curve(cells, [8.0, 9.0]).auc, 3)
    0.9
    """
    m = np.asarray(map_values, dtype=float).ravel()
    e = np.asarray(event_values, dtype=float).ravel()
    m = m[~np.isnan(m)]
    e = e[~np.isnan(e)]
    if m.size == 0:
        raise ValueError("rate_curve needs at least one valid (non-NaN) map value")
    if e.size == 0:
        raise ValueError("rate_curve needs at least one valid (non-NaN) event value")
    thresholds = np.unique(np.concatenate([m, e]))[::-1]
    ms = np.sort(m)
    es = np.sort(e)
    area = np.r_[0.0, (m.size - np.searchsorted(ms, thresholds, side="left")) / m.size]
    events = np.r_[0.0, (e.size - np.searchsorted(es, thresholds, side="left")) / e.size]
    return RateCurve(
        area_share=area,
        event_share=events,
        thresholds=np.r_[np.inf, thresholds],
        auc=_trapezoid(events, area),
    )


def prediction_rate_from_folds(
    cell_probs_per_fold: Sequence[np.ndarray], event_probs_per_fold: Sequence[np.ndarray]
) -> RateCurve:
    """Out-of-fold prediction-rate curve: every event rated by the model that did not see it.

    Fold ``i``'s model predicts the same random sample of valid map cells
    (``cell_probs_per_fold[i]``) and its own held-out events
    (``event_probs_per_fold[i]``). Each held-out event's area share is the
    share of the sample cells its fold's model rates at least as high as the
    event; the pooled curve is the cumulative share of all held-out events,
    taken in order of area share, against area share, from (0, 0) to (1, 1)
    (Chung & Fabbri 2003's prediction rate, pooled over the folds).

    Events tied with cells are spread over the tied cells' area, as in
    :func:`rate_curve`: between its area share without and with the tied
    cells, along a straight segment. The pooled curve is thus the sum over
    folds of each fold's :func:`rate_curve` in event counts, divided by the
    number of held-out events, as a function of area share.

    Parameters
    ----------
    cell_probs_per_fold : sequence of array-like
        Per fold, its model's susceptibility of the cell sample (NaN ignored).
    event_probs_per_fold : sequence of array-like
        Per fold, its model's susceptibility of its held-out events (NaN
        ignored); a fold without valid events adds nothing.

    Returns
    -------
    RateCurve
        ``area_share`` and ``event_share`` [0, 1]; ``thresholds`` holds, at
        each point, the threshold of the fold model whose curve steps there
        (+inf at (0, 0)); ``auc`` equals the mean of the folds' rate-curve
        AUCs weighted by their held-out events. With one fold the result
        equals ``rate_curve(cell_probs, event_probs)``.

    Raises
    ------
    ValueError
        No fold, the two sequences differ in length, a fold has no valid
        cell value, or no fold has a valid event value.

    Examples
    --------
    Two folds over cells 0..9: fold 1's event at 9 (top 10 % of the area),
    fold 2's at 5 (top 50 %). AUC = (0.95 + 0.55) / 2 = 0.75.

    >>> cells = np.arange(10.0)
    >>> round(prediction_rate_from_folds([cells, cells], [[9.0], [5.0]]).auc, 3)
    0.75
    """
    if len(cell_probs_per_fold) != len(event_probs_per_fold):
        raise ValueError(
            f"prediction_rate_from_folds needs one cell array per fold and one event array per fold; got "
            f"{len(cell_probs_per_fold)} and {len(event_probs_per_fold)}"
        )
    if len(cell_probs_per_fold) == 0:
        raise ValueError("prediction_rate_from_folds needs at least one fold")
    areas, counts, thresholds = [], [], []
    for i, (cells, events) in enumerate(zip(cell_probs_per_fold, event_probs_per_fold, strict=True)):
        m = np.asarray(cells, dtype=float).ravel()
        e = np.asarray(events, dtype=float).ravel()
        e = e[~np.isnan(e)]
        if np.isnan(m).all():
            raise ValueError(f"prediction_rate_from_folds: fold {i} has no valid (non-NaN) cell value")
        if e.size == 0:
            continue
        curve = rate_curve(m, e)
        areas.append(curve.area_share)
        counts.append(np.rint(curve.event_share * e.size))  # exact: shares are counts / e.size
        thresholds.append(curve.thresholds)
    if not areas:
        raise ValueError("prediction_rate_from_folds needs at least one valid (non-NaN) held-out event value")
    n_events = float(sum(c[-1] for c in counts))
    grid = np.unique(np.concatenate(areas))
    # each fold's event count just before (low) and just after (high) every grid point; equal off its breakpoints
    low = np.empty((len(areas), grid.size))
    high = np.empty((len(areas), grid.size))
    for f, (a, c) in enumerate(zip(areas, counts, strict=True)):
        first = np.searchsorted(a, grid, side="left")
        last = np.searchsorted(a, grid, side="right") - 1
        on = last >= first
        low[f, on], high[f, on] = c[first[on]], c[last[on]]
        below, above = last[~on], first[~on]  # a[below] < x < a[above]
        x = grid[~on]
        low[f, ~on] = high[f, ~on] = c[below] + (c[above] - c[below]) * (x - a[below]) / (a[above] - a[below])
    # folds stepped earlier at a grid point are at their high count, later ones at their low count
    before = np.cumsum(high, axis=0) - high
    after = np.cumsum(low[::-1], axis=0)[::-1] - low
    fold = np.concatenate([np.full(a.size, f) for f, a in enumerate(areas)])
    point = np.concatenate([np.searchsorted(grid, a) for a in areas])
    own = np.concatenate(counts)
    order = np.lexsort((np.arange(fold.size), fold, point))  # by area share, fold, then the fold's own order
    fold, point, own = fold[order], point[order], own[order]
    total = own + before[fold, point] + after[fold, point]
    area = grid[point]
    share = total / n_events
    keep = np.r_[True, (np.diff(area) != 0) | (np.diff(share) != 0)]  # every fold starts at (0, 0)
    area, share = area[keep], share[keep]
    return RateCurve(
        area_share=area,
        event_share=share,
        thresholds=np.concatenate(thresholds)[order][keep],
        auc=_trapezoid(share, area),
    )
