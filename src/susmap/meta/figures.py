"""Figures of the block-wise meta-learning method: meta-training curve and few-shot OA against K (paper 004 Fig. 12)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["few_shot_png", "meta_history_png"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def meta_history_png(history: pd.DataFrame, path: str | Path, *, title: str = "meta-training") -> Path:
    """Meta-objective (weighted query cross-entropy, eq. 6) and few-shot validation OA per meta-iteration.

    ``history`` has columns ``iteration``, ``meta_loss`` and ``val_oa`` (NaN
    where not evaluated), as returned by :func:`susmap.meta.maml.meta_train`.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    ax.plot(history["iteration"], history["meta_loss"], color="tab:blue", lw=0.8, label="meta-objective")
    ax.set_xlabel("meta-iteration")
    ax.set_ylabel("cross-entropy on query sets")
    val = history.dropna(subset=["val_oa"])
    if len(val):
        ax2 = ax.twinx()
        ax2.plot(val["iteration"], val["val_oa"], "o-", color="tab:red", ms=3, label="meta-test OA (few-shot)")
        ax2.set_ylabel("OA of meta-test blocks")
        ax2.set_ylim(0, 1)
        ax2.legend(loc="upper right", fontsize=8)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title)
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def few_shot_png(summary: pd.DataFrame, path: str | Path, *, title: str = "few-shot OA") -> Path:
    """OA (mean ± sd over repeats) against the number of labelled samples K, one line per method (paper 004 Fig. 12).

    ``summary`` is :func:`susmap.meta.evaluate_few_shot`'s table, optionally
    with a ``protocol`` column (one panel per protocol).
    """
    plt = _pyplot()
    protocols = list(dict.fromkeys(summary["protocol"])) if "protocol" in summary.columns else [None]
    n_cols = min(3, len(protocols))
    n_rows = -(-len(protocols) // n_cols)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(4.4 * n_cols, 3.6 * n_rows), squeeze=False, sharey=True, constrained_layout=True
    )
    for ax in axes.ravel()[len(protocols) :]:
        ax.set_visible(False)
    for ax, protocol in zip(axes.ravel(), protocols, strict=False):
        part = summary if protocol is None else summary[summary["protocol"] == protocol]
        k_labels = list(dict.fromkeys(part["K"].astype(str)))
        for method, grp in part.groupby("method", sort=False):
            pos = np.array([k_labels.index(str(k)) for k in grp["K"]])
            ax.errorbar(pos, 100 * grp["oa_mean"], yerr=100 * grp["oa_sd"], marker="o", capsize=3, label=method)
        ax.set_xticks(range(len(k_labels)), [f"K = {k}" for k in k_labels])
        ax.set_title(title if protocol is None else f"{title}: experiment {protocol}", fontsize=9)
        ax.grid(alpha=0.3)
    for row in axes:
        row[0].set_ylabel("OA of meta-test blocks [%]")
    axes.ravel()[len(protocols) - 1].legend(fontsize=7, loc="lower right")
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
