"""Per-model map statistics and optimizer records for ``susmap compare`` (paper 002 Figs. 5 and 7, Table 5).

* :func:`class_shares` – each model's susceptibility classes (natural breaks
  by default, on the model's own probabilities over a random sample of
  cells) and the share of the area in each (paper 002 Fig. 7);
* :func:`optimization_records` / :func:`plot_convergence` – for networks
  trained by population-based optimizers: population, iterations,
  evaluations, wall time and the best training loss after every iteration
  (paper 002 Fig. 5 and the optimization times of its section "Comparison";
  paper 003 Fig. 10).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from susmap.mapping.breaks import compute_breaks

__all__ = ["CLASS_NAMES", "class_shares", "optimization_records", "plot_class_shares", "plot_convergence"]

CLASS_NAMES = ("very low", "low", "moderate", "high", "very high")


def class_shares(
    probabilities: Mapping[str, np.ndarray], *, method: str = "natural_breaks", n_classes: int = 5
) -> pd.DataFrame:
    """Share of the sampled area [%] in each class of each model's map.

    Parameters
    ----------
    probabilities : mapping
        ``{model: event probabilities of the same random sample of valid cells}``.
    method : {"natural_breaks", "quantile", "equal_interval"}
        Classification of each model's own values (paper 002: natural breaks).
    n_classes : int

    Returns
    -------
    pandas.DataFrame
        One row per model and class: model, class, lower, upper, share_pct.
    """
    rows = []
    names = CLASS_NAMES if n_classes == 5 else tuple(f"class {i + 1}" for i in range(n_classes))
    for model, prob in probabilities.items():
        p = np.asarray(prob, dtype=float)
        p = p[np.isfinite(p)]
        if p.size == 0:
            continue
        edges = compute_breaks(method, p, n_classes, vmin=float(p.min()), vmax=float(p.max()))
        idx = np.clip(np.searchsorted(edges[1:-1], p, side="right"), 0, n_classes - 1)
        counts = np.bincount(idx, minlength=n_classes)
        for k in range(n_classes):
            rows.append(
                {
                    "model": model,
                    "class": names[k],
                    "lower": float(edges[k]),
                    "upper": float(edges[k + 1]),
                    "share_pct": 100.0 * counts[k] / p.size,
                }
            )
    return pd.DataFrame(rows, columns=["model", "class", "lower", "upper", "share_pct"])


def plot_class_shares(shares: pd.DataFrame, path: Path, *, title: str = "") -> Path:
    """Stacked bars: the area share of each class per model (paper 002 Fig. 7)."""
    table = shares.pivot(index="model", columns="class", values="share_pct")
    order = [c for c in CLASS_NAMES if c in table.columns] or list(table.columns)
    table = table.loc[shares["model"].unique(), order]
    colors = ["#1a9641", "#a6d96a", "#ffffbf", "#fdae61", "#d7191c"][: len(order)]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(table) + 2), 4.2), dpi=110)
    bottom = np.zeros(len(table))
    for cls, color in zip(order, colors, strict=False):
        ax.bar(table.index, table[cls], bottom=bottom, color=color, edgecolor="0.3", linewidth=0.4, label=cls)
        bottom += table[cls].to_numpy()
    ax.set_ylabel("share of area [%]")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    ax.set_title(title or "Susceptibility classes per model (natural breaks)")
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return Path(path)


def _final(model):
    return model[-1] if hasattr(model, "steps") else model


def optimization_records(models: Mapping[str, object]) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Optimizer facts and convergence histories of the fitted models that were trained by one.

    Returns a table (model, optimizer, population, iterations, evaluations,
    time_s, best_training_loss) and ``{model: best loss per iteration}``;
    models without an optimizer record are left out.
    """
    rows, curves = [], {}
    for label, model in models.items():
        est = _final(model)
        curve = getattr(est, "convergence_", None)
        if curve is None:
            continue
        curves[label] = np.asarray(curve, dtype=float)
        rows.append(
            {
                "model": label,
                "optimizer": getattr(est, "optimizer", "pso_constriction"),
                "population": getattr(est, "pop_size", None),
                "iterations": int(curve.size),
                "evaluations": getattr(est, "n_evaluations_", None),
                "time_s": round(float(getattr(est, "optimization_time_", float("nan"))), 3),
                "best_training_loss": float(np.nanmin(curve)) if curve.size else float("nan"),
            }
        )
    columns = ["model", "optimizer", "population", "iterations", "evaluations", "time_s", "best_training_loss"]
    return pd.DataFrame(rows, columns=columns), curves


def plot_convergence(curves: Mapping[str, np.ndarray], path: Path, *, title: str = "") -> Path:
    """Best training loss against iteration, one line per model (paper 002 Fig. 5, paper 003 Fig. 10)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    for label, curve in curves.items():
        ax.plot(np.arange(1, curve.size + 1), curve, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("best training loss (MSE)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title(title or "Convergence of the optimizers")
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return Path(path)
