"""Figures of the validation curves: out-of-fold ROC per scheme, success- and prediction-rate curves.

Both figures are unit-square panels with the chance diagonal, one line per
model labelled with its area under the curve. ROC points come from
:func:`~susmap.validation.curves.roc_points`; rate curves (Chung & Fabbri
2003) from :func:`~susmap.validation.curves.rate_curve` or
:func:`~susmap.validation.curves.prediction_rate_from_folds`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from susmap.validation.curves import RateCurve, roc_points

__all__ = ["finish_curve_panel", "plot_rate_curves", "plot_roc_curves", "save_figure"]


def finish_curve_panel(ax, *, xlabel: str, ylabel: str, title: str) -> None:
    """Finish a unit-square curve panel: the chance diagonal (dashed grey), axis labels, title, legend."""
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_aspect("equal")


def save_figure(fig, path: Path) -> None:
    """Lay out ``fig`` tightly, write it to ``path`` (no software tag, so reruns give identical files) and close it."""
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def plot_roc_curves(
    predictions: pd.DataFrame, y: np.ndarray, schemes: list[str], path: Path, *, repeat: int = 0
) -> dict[str, dict[str, float]]:
    """One panel per scheme: the pooled out-of-fold ROC curve of every model in one repeat.

    Parameters
    ----------
    predictions : DataFrame
        Out-of-fold predictions, columns ``scheme``, ``repeat``, ``model``,
        ``sample`` (row index into ``y``) and ``prob`` (event probability), as
        ``CVResult.predictions`` of :func:`~susmap.validation.cross_validate_models`.
    y : ndarray
        0/1 labels of the samples (1 = event).
    schemes : list of str
        Scheme labels, one panel each, in this order.
    path : Path
        PNG to write.
    repeat : int
        Which repeat's predictions to pool (0 = the first).

    Returns
    -------
    dict
        ``{scheme: {model: AUC}}``, the trapezoid area under each pooled curve.
    """
    fig, axes = plt.subplots(1, len(schemes), figsize=(5.2 * len(schemes), 5), dpi=110, squeeze=False)
    aucs: dict[str, dict[str, float]] = {}
    for ax, scheme in zip(axes[0], schemes, strict=True):
        sel = predictions[(predictions["scheme"] == scheme) & (predictions["repeat"] == repeat)]
        aucs[scheme] = {}
        for model, grp in sel.groupby("model", sort=False):
            curve = roc_points(y[grp["sample"].to_numpy()], grp["prob"].to_numpy())
            aucs[scheme][str(model)] = curve.auc
            ax.plot(curve.fpr, curve.tpr, label=f"{model} (AUC {curve.auc:.3f})")
        finish_curve_panel(
            ax,
            xlabel="1 - specificity (false positive rate)",
            ylabel="sensitivity (true positive rate)",
            title=f"ROC, {scheme} CV (out-of-fold, repeat {repeat + 1})",
        )
    save_figure(fig, path)
    return aucs


def plot_rate_curves(
    success: Mapping[str, RateCurve],
    prediction: Mapping[str, RateCurve],
    path: Path,
    *,
    prediction_title: str = "Prediction rate (held-out events)",
) -> None:
    """Two panels: success-rate curves (left) and prediction-rate curves (right), one line per model.

    Parameters
    ----------
    success : Mapping of str to RateCurve
        Per model, the curve of its training events (how well it fits).
    prediction : Mapping of str to RateCurve
        Per model, the curve of held-out events (how well it predicts).
    path : Path
        PNG to write.
    prediction_title : str
        Title of the right panel, saying which events were held out.
    """
    fig, axes = plt.subplots(1, 2, figsize=(10.4, 5), dpi=110)
    for ax, curves in zip(axes, (success, prediction), strict=True):
        for label, curve in curves.items():
            ax.plot(curve.area_share, curve.event_share, label=f"{label} (AUC {curve.auc:.3f})")
    for ax, title in zip(axes, ("Success rate (all samples)", prediction_title), strict=True):
        finish_curve_panel(ax, xlabel="share of area, most susceptible first", ylabel="share of events", title=title)
    save_figure(fig, path)
