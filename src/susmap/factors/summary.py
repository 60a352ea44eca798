"""Summary of factor layers: range, mean, nodata count, and how the factors go together.

Computed chunk by chunk over the whole grid (dask reductions), so it works on
rasters larger than memory. Associations use the cells where every factor
has data (the cells a model sees):

- continuous factors: Pearson's r (:func:`correlation_matrix`);
- categorical factors: Cramér's V between each pair (:func:`cramers_v_matrix`),
  from their contingency table. Pearson's r on class codes is meaningless
  (the codes are labels, their order and spacing arbitrary), so categorical
  factors never enter the correlation matrix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pandas as pd

__all__ = [
    "categorical_names",
    "continuous_names",
    "correlation_matrix",
    "cramers_v_matrix",
    "factor_moments",
    "factor_statistics",
    "plot_correlation",
]


def categorical_names(names: Sequence[str], kinds: Mapping[str, str] | None) -> list[str]:
    """The names whose kind is ``"categorical"``, in order."""
    return [n for n in names if (kinds or {}).get(n) == "categorical"]


def continuous_names(names: Sequence[str], kinds: Mapping[str, str] | None) -> list[str]:
    """The names whose kind is not ``"categorical"`` (continuous is the default), in order."""
    return [n for n in names if (kinds or {}).get(n) != "categorical"]


def _block_moments(block: np.ndarray) -> dict[str, np.ndarray]:
    """Per-factor and joint moments of one (n_factors, rows, cols) block."""
    n = block.shape[0]
    x = block.reshape(n, -1).astype(np.float64)
    finite = np.isfinite(x)
    xz = np.where(finite, x, 0.0)
    joint = finite.all(axis=0)
    xj = xz[:, joint]
    with np.errstate(all="ignore"):
        mins = np.where(finite.any(axis=1), np.nanmin(np.where(finite, x, np.inf), axis=1), np.inf)
        maxs = np.where(finite.any(axis=1), np.nanmax(np.where(finite, x, -np.inf), axis=1), -np.inf)
    return {
        "count": finite.sum(axis=1),
        "sum": xz.sum(axis=1),
        "sumsq": (xz * xz).sum(axis=1),
        "min": mins,
        "max": maxs,
        "size": np.full(n, x.shape[1]),
        "joint_n": np.array(joint.sum()),
        "joint_sum": xj.sum(axis=1),
        "joint_cross": xj @ xj.T,
    }


def _combine(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    out = dict(parts[0])
    for p in parts[1:]:
        for key, v in p.items():
            if key == "min":
                out[key] = np.minimum(out[key], v)
            elif key == "max":
                out[key] = np.maximum(out[key], v)
            else:
                out[key] = out[key] + v
    return out


def factor_moments(arrays: Mapping[str, da.Array]) -> dict[str, np.ndarray]:
    """One chunked pass over the factors: per-factor count/sum/sumsq/min/max and joint cross-products."""
    stack = da.stack([a.astype(np.float64) for a in arrays.values()])
    stack = stack.rechunk({0: -1})
    parts = [dask.delayed(_block_moments)(b) for b in stack.to_delayed().ravel()]
    while len(parts) > 1:  # tree reduction keeps each task small
        parts = [dask.delayed(_combine)(parts[i : i + 8]) for i in range(0, len(parts), 8)]
    (moments,) = dask.compute(parts[0])
    return moments


def factor_statistics(
    arrays: Mapping[str, da.Array],
    meta: Mapping[str, Mapping[str, str]] | None = None,
    moments: dict[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """One row per factor: ``min, max, mean, std, valid_cells, nodata_cells`` (+ ``meta`` columns such as units)."""
    m = moments or factor_moments(arrays)
    rows = []
    for i, name in enumerate(arrays):
        count = int(m["count"][i])
        mean = m["sum"][i] / count if count else np.nan
        var = m["sumsq"][i] / count - mean * mean if count else np.nan
        rows.append(
            {
                "factor": name,
                **dict((meta or {}).get(name, {})),
                "min": float(m["min"][i]) if count else np.nan,
                "max": float(m["max"][i]) if count else np.nan,
                "mean": float(mean),
                "std": float(np.sqrt(max(var, 0.0))) if count else np.nan,
                "valid_cells": count,
                "nodata_cells": int(m["size"][i] - count),
            }
        )
    return pd.DataFrame(rows)


def correlation_matrix(
    arrays: Mapping[str, da.Array],
    moments: dict[str, np.ndarray] | None = None,
    kinds: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Pearson correlation between the continuous factors over the cells where all factors are finite.

    Parameters
    ----------
    arrays : mapping
        ``{name: (rows, cols) array}`` of every factor (one chunked pass).
    moments : dict, optional
        :func:`factor_moments` of ``arrays``, when already computed.
    kinds : mapping, optional
        ``{name: "continuous" | "categorical"}``; categorical factors are
        left out (see :func:`cramers_v_matrix`). Default: all continuous.

    Returns
    -------
    pandas.DataFrame
        Square, indexed by the continuous factors' names; NaN for a factor
        that is constant on the joint cells (or fewer than 2 such cells).
    """
    names = list(arrays)
    keep = [i for i, n in enumerate(names) if n in set(continuous_names(names, kinds))]
    labels = [names[i] for i in keep]
    m = moments or factor_moments(arrays)
    n = int(m["joint_n"])
    if n < 2:
        return pd.DataFrame(np.nan, index=labels, columns=labels)
    s = m["joint_sum"][keep]
    cov = (m["joint_cross"][np.ix_(keep, keep)] - np.outer(s, s) / n) / (n - 1)
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / np.outer(sd, sd)
    np.fill_diagonal(corr, 1.0)
    return pd.DataFrame(corr, index=labels, columns=labels)


def _block_contingency(block: np.ndarray, pairs: list[tuple[int, int]]) -> dict[tuple[int, int], pd.Series]:
    """Counts of each (class of i, class of j) over the cells of one block where every factor is finite."""
    n = block.shape[0]
    x = block.reshape(n, -1)
    x = x[:, np.isfinite(x).all(axis=0)]
    out = {}
    for i, j in pairs:
        frame = pd.DataFrame({"a": x[i], "b": x[j]})
        out[(i, j)] = frame.value_counts(sort=False)
    return out


def _add_contingency(parts: list[dict[tuple[int, int], pd.Series]]) -> dict[tuple[int, int], pd.Series]:
    out = dict(parts[0])
    for p in parts[1:]:
        for key, counts in p.items():
            out[key] = out[key].add(counts, fill_value=0)
    return out


def cramers_v(table: np.ndarray) -> float:
    """Cramér's V of a contingency table: √(χ² / (n (min(r, c) - 1))) in [0, 1]; NaN with fewer than two classes.

    Empty rows and columns are dropped first; V is 1 when each class of one
    factor goes with a single class of the other (for square tables), 0 when
    the two are independent in the sample. Not bias-corrected (on maps the
    number of cells is large, and the correction of Bergsma 2013 changes V
    by O(classes / n)).

    References
    ----------
    Cramér, H. (1946). Mathematical Methods of Statistics. Princeton
    University Press, p. 282.
    """
    table = np.asarray(table, dtype=np.float64)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    k = min(table.shape)
    n = table.sum()
    if k < 2 or n == 0:
        return float("nan")
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return float(min(1.0, np.sqrt(chi2 / (n * (k - 1)))))


def cramers_v_matrix(arrays: Mapping[str, da.Array], kinds: Mapping[str, str] | None) -> pd.DataFrame:
    """Cramér's V between every pair of categorical factors, over the cells where all factors are finite.

    One chunked pass: each block's contingency tables (class against class)
    are summed over the grid, then V is taken from the whole table. The
    diagonal is 1 (NaN for a factor with one class on the joint cells).
    Returns an empty frame when no factor is categorical.
    """
    names = list(arrays)
    cats = categorical_names(names, kinds)
    if not cats:
        return pd.DataFrame()
    index = [names.index(c) for c in cats]
    pairs = [(i, j) for a, i in enumerate(index) for j in index[a:]]
    stack = da.stack([a.astype(np.float64) for a in arrays.values()]).rechunk({0: -1})
    parts = [dask.delayed(_block_contingency)(b, pairs) for b in stack.to_delayed().ravel()]
    while len(parts) > 1:
        parts = [dask.delayed(_add_contingency)(parts[i : i + 8]) for i in range(0, len(parts), 8)]
    (tables,) = dask.compute(parts[0])
    v = pd.DataFrame(np.nan, index=cats, columns=cats)
    for (i, j), counts in tables.items():
        table = counts.unstack(fill_value=0).to_numpy() if len(counts) else np.zeros((0, 0))
        value = cramers_v(table)
        if i == j:
            value = 1.0 if np.isfinite(value) else np.nan
        v.loc[names[i], names[j]] = v.loc[names[j], names[i]] = value
    return v


def plot_correlation(
    corr: pd.DataFrame,
    path: Path,
    *,
    title: str = "Pearson correlation of factors",
    label: str = "r",
    vmin: float = -1.0,
) -> None:
    """Heat map of a correlation (or, with ``vmin=0``, a Cramér's V) matrix with the values written in the cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(corr)
    size = max(4.0, 0.6 * k + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size), dpi=120)
    im = ax.imshow(corr.to_numpy(), cmap="RdBu_r" if vmin < 0 else "Reds", vmin=vmin, vmax=1)
    ax.set_xticks(range(k), corr.columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), corr.index, fontsize=8)
    for i in range(k):
        for j in range(k):
            v = corr.iat[i, j]
            if np.isfinite(v):
                ax.text(
                    j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if abs(v) > 0.6 else "black"
                )
    fig.colorbar(im, ax=ax, shrink=0.8, label=label)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
