"""Summary of factor layers: range, mean, nodata count and the Pearson correlation matrix.

Computed chunk by chunk over the whole grid (dask reductions), so it works on
rasters larger than memory. Correlations use the cells where every factor
has data.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pandas as pd

__all__ = ["correlation_matrix", "factor_moments", "factor_statistics", "plot_correlation"]


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


def correlation_matrix(arrays: Mapping[str, da.Array], moments: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Pearson correlation between factors over the cells where all are finite (one chunked pass)."""
    names = list(arrays)
    m = moments or factor_moments(arrays)
    n = int(m["joint_n"])
    if n < 2:
        return pd.DataFrame(np.nan, index=names, columns=names)
    s = m["joint_sum"]
    cov = (m["joint_cross"] - np.outer(s, s) / n) / (n - 1)
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / np.outer(sd, sd)
    np.fill_diagonal(corr, 1.0)
    return pd.DataFrame(corr, index=names, columns=names)


def plot_correlation(corr: pd.DataFrame, path: Path, *, title: str = "Pearson correlation of factors") -> None:
    """Heat map of a correlation matrix with the values written in the cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(corr)
    size = max(4.0, 0.6 * k + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size), dpi=120)
    im = ax.imshow(corr.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(k), corr.columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), corr.index, fontsize=8)
    for i in range(k):
        for j in range(k):
            v = corr.iat[i, j]
            if np.isfinite(v):
                ax.text(
                    j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if abs(v) > 0.6 else "black"
                )
    fig.colorbar(im, ax=ax, shrink=0.8, label="r")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
