"""Curves of a susceptibility model: ROC, success rate and prediction rate.

ROC points (false positive rate, true positive rate) are computed at every
distinct predicted probability, as :func:`sklearn.metrics.roc_curve` with
``drop_intermediate=False``.

The success-rate and prediction-rate curves (Chung & Fabbri 2003) rank the
map cells by decreasing susceptibility and plot, for each threshold, the
share of the area at or above it (x) against the share of events whose cell
is at or above it (y). Events used for training give the success rate (how
well the model fits), events held out give the prediction rate (how well it
predicts). Cells of equal susceptibility enter the ranking together, so the
curve is joined by a straight segment across ties: the result does not
depend on the order of equal values, and its area equals the probability
that an event cell outranks a random map cell (ties counting one half).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["RateCurve", "RocCurve", "rate_curve", "roc_points"]


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
