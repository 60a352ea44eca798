"""Figures of the factor analysis: importance bars, VIF bars, the factor-count curve (PNG, matplotlib Agg).

Each function takes the table of the matching analysis function and writes
one PNG (no timestamp in its metadata, so equal tables give equal files).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["plot_factor_count_curve", "plot_importance", "plot_vif"]

_NORMAL, _FLAGGED = "#4575b4", "#d73027"


def _check_columns(table: pd.DataFrame, columns: list[str], where: str, made_by: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{where}: the table has no column(s) {', '.join(missing)}; pass the table of {made_by}")
    if table.empty:
        raise ValueError(f"{where}: the table is empty")


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return path


def plot_importance(
    table: pd.DataFrame,
    path: str | Path,
    *,
    value: str | None = None,
    title: str | None = None,
    xlabel: str | None = None,
) -> Path:
    """Horizontal bars of factor importance, most important at the top.

    Parameters
    ----------
    table : pandas.DataFrame
        With a ``factor`` column and one of: ``trees_<n>`` columns
        (:func:`~susmap.analysis.random_forest_importance`: one bar per
        forest size, grouped by factor, as paper 002 Fig. 2); ``mean`` and
        ``sd`` (:func:`~susmap.analysis.permutation_importance_cv`: bars
        with ±sd error bars); or ``information_gain``
        (:func:`~susmap.analysis.information_gain`).
    path : str or Path
        PNG to write.
    value : str, default=None
        Column to draw instead of the automatic choice (no error bars).
    title, xlabel : str, default=None
        Figure title and x-axis label; defaults follow the table.

    Returns
    -------
    path : Path
        The PNG written.

    Raises
    ------
    ValueError
        A table without ``factor`` or without any column to draw.
    """
    where = "plot_importance"
    _check_columns(table, ["factor"], where, "an importance function")
    tree_cols = [c for c in table.columns if str(c).startswith("trees_")]
    if value is not None:
        _check_columns(table, [value], where, "an importance function")
        series, err, label = [value], None, value
    elif tree_cols:
        series, err = tree_cols, None
        label = f"impurity importance [{table.attrs.get('scale', 'percent')}]"
    elif "mean" in table.columns:
        series = ["mean"]
        err = np.nan_to_num(table["sd"].to_numpy(dtype=float)) if "sd" in table.columns else None
        label = f"decrease in {table.attrs.get('scoring', 'score')} when permuted"
    elif "information_gain" in table.columns:
        series, err = ["information_gain"], None
        label = f"information gain [{table.attrs.get('units', 'bit')}]"
    else:
        raise ValueError(
            f"{where}: nothing to draw: the table needs trees_<n>, mean/sd or information_gain columns, or value="
        )
    factors = table["factor"].astype(str).tolist()
    k, m = len(factors), len(series)
    fig, ax = plt.subplots(figsize=(6.5, 1.2 + 0.32 * k * max(1, m / 2.5)), dpi=120)
    pos = np.arange(k)[::-1]  # first row of the table at the top
    height = 0.8 / m
    colors = plt.get_cmap("viridis", m + 1)
    for i, col in enumerate(series):
        offset = (m - 1) / 2 * height - i * height
        label_i = col.removeprefix("trees_") + " trees" if col.startswith("trees_") else None
        ax.barh(
            pos + offset,
            table[col].to_numpy(dtype=float),
            height=height,
            xerr=err if m == 1 else None,
            capsize=3,
            color=colors(i) if m > 1 else _NORMAL,
            label=label_i,
        )
    if m > 1:
        ax.legend(fontsize=7, loc="lower right")
    ax.axvline(0.0, color="0.3", linewidth=0.8)
    ax.set_yticks(pos, factors, fontsize=8)
    ax.set_xlabel(xlabel or label)
    ax.set_title(title or "Factor importance")
    return _save(fig, path)


def plot_vif(
    table: pd.DataFrame,
    path: str | Path,
    *,
    threshold: float | None = None,
    title: str = "Variance inflation factor",
) -> Path:
    """Horizontal VIF bars with the threshold line (paper 003's VIF = 10 rule).

    Flagged factors are red. An infinite VIF (exact collinearity) is drawn
    as a hatched bar to the edge of the plot and labelled "inf". The axis
    is logarithmic when the largest finite VIF exceeds 100.

    Parameters
    ----------
    table : pandas.DataFrame
        The table of :func:`~susmap.analysis.vif_table` (columns
        ``factor``, ``VIF_df`` or ``VIF``, and ``flag``).
    path : str or Path
        PNG to write.
    threshold : float, default=None
        Where to draw the line; default the table's ``vif_threshold``
        (10 unless set otherwise).
    title : str, default="Variance inflation factor"

    Returns
    -------
    path : Path
        The PNG written.

    Raises
    ------
    ValueError
        A table without the columns of :func:`~susmap.analysis.vif_table`.
    """
    where = "plot_vif"
    _check_columns(table, ["factor", "VIF", "flag"], where, "vif_table")
    threshold = float(threshold if threshold is not None else table.attrs.get("vif_threshold", 10.0))
    col = "VIF_df" if "VIF_df" in table.columns else "VIF"
    vif = table[col].to_numpy(dtype=float)
    flags = table["flag"].to_numpy(dtype=bool)
    factors = table["factor"].astype(str).tolist()
    finite = vif[np.isfinite(vif)]
    top = max([threshold, *finite.tolist()]) if finite.size else threshold
    log = top > 100
    cap = top * (3.0 if log else 1.25)
    k = len(factors)
    fig, ax = plt.subplots(figsize=(6.5, 1.2 + 0.32 * k), dpi=120)
    pos = np.arange(k)[::-1]
    drawn = np.where(np.isfinite(vif), vif, cap)
    colors = [_FLAGGED if f else _NORMAL for f in flags]
    bars = ax.barh(pos, drawn, color=colors, height=0.7)
    for bar, v in zip(bars, vif, strict=True):
        if not np.isfinite(v):
            bar.set_hatch("//")
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, " inf", va="center", fontsize=8)
        else:
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {v:.2f}", va="center", fontsize=7)
    ax.axvline(threshold, color="0.2", linestyle="--", linewidth=1, label=f"VIF = {threshold:g}")
    if log:
        ax.set_xscale("log")
        ax.set_xlim(0.9, cap * 3)
    else:
        ax.set_xlim(0, cap * 1.15)
    ax.set_yticks(pos, factors, fontsize=8)
    blocks = "df" in table.columns and (table["df"] > 1).any()
    ax.set_xlabel("VIF (GVIF^(1/df) for categorical factors)" if blocks and col == "VIF_df" else "VIF")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title)
    return _save(fig, path)


def plot_factor_count_curve(
    table: pd.DataFrame,
    path: str | Path,
    *,
    title: str | None = None,
    ylabel: str | None = None,
) -> Path:
    """Score against number of factors, one line per model with a ±sd band (paper 001 Fig. 12 style).

    Parameters
    ----------
    table : pandas.DataFrame
        The long table of :func:`~susmap.analysis.accuracy_by_factor_count`
        (columns ``n_factors, factor_added, model, mean, sd``).
    path : str or Path
        PNG to write.
    title, ylabel : str, default=None
        Defaults follow the table's metric.

    Returns
    -------
    path : Path
        The PNG written.

    Raises
    ------
    ValueError
        A table without those columns.
    """
    where = "plot_factor_count_curve"
    _check_columns(table, ["n_factors", "factor_added", "model", "mean", "sd"], where, "accuracy_by_factor_count")
    metric = table.attrs.get("metric", "score")
    counts = sorted(table["n_factors"].unique())
    added = table.drop_duplicates("n_factors").set_index("n_factors")["factor_added"]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(counts) + 2.5), 4.2), dpi=120)
    for model, rows in table.groupby("model", sort=False):
        rows = rows.sort_values("n_factors")
        x = rows["n_factors"].to_numpy(dtype=float)
        mean = rows["mean"].to_numpy(dtype=float)
        sd = np.nan_to_num(rows["sd"].to_numpy(dtype=float))
        (line,) = ax.plot(x, mean, marker="o", markersize=4, label=str(model))
        ax.fill_between(x, mean - sd, mean + sd, color=line.get_color(), alpha=0.15, linewidth=0)
    ax.set_xticks(counts, [f"{n}\n+{added[n]}" for n in counts], fontsize=7)
    ax.set_xlabel("number of factors (factor added)")
    ax.set_ylabel(ylabel or f"{metric} (mean ± sd over folds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or f"{metric} vs number of factors added in importance order")
    return _save(fig, path)
