"""Class breaks of a susceptibility map: quantile, equal interval, natural breaks.

Each function returns the ``k + 1`` class edges, from the minimum to the
maximum. A cell with value v is in class i (1-based) when
``edges[i-1] < v <= edges[i]`` (the lowest class also takes the minimum).
Breaks are computed on a random sample of cells (see
:func:`susmap.mapping.classes.sample_raster`) so they stay fast on large maps.
"""

from __future__ import annotations

import jenkspy
import numpy as np

__all__ = [
    "CLASSIFICATION_REFERENCES",
    "CLASS_NAMES",
    "class_names",
    "compute_breaks",
    "equal_interval",
    "natural_breaks",
    "quantile_breaks",
]

#: Where each classification comes from (keys of :mod:`susmap.references`); quantile and equal-interval classes
#: are elementary and cite nothing.
CLASSIFICATION_REFERENCES: dict[str, tuple[str, ...]] = {
    "natural_breaks": ("jenks1967",),
    "quantile": (),
    "equal_interval": (),
}

CLASS_NAMES = {
    3: ["low", "moderate", "high"],
    5: ["very low", "low", "moderate", "high", "very high"],
}


def class_names(k: int) -> list[str]:
    """'very low' … 'very high' for 5 classes (paper 002), 'class 1' … otherwise."""
    return CLASS_NAMES.get(k, [f"class {i}" for i in range(1, k + 1)])


def quantile_breaks(sample: np.ndarray, k: int) -> np.ndarray:
    """Edges at the 0, 1/k, …, 1 quantiles: classes of equal area."""
    return np.quantile(np.asarray(sample, dtype=float), np.linspace(0, 1, k + 1))


def equal_interval(vmin: float, vmax: float, k: int) -> np.ndarray:
    """Edges splitting [vmin, vmax] into k intervals of equal width."""
    return np.linspace(float(vmin), float(vmax), k + 1)


def natural_breaks(sample: np.ndarray, k: int) -> np.ndarray:
    """Jenks (1967) natural breaks: minimise the within-class sum of squared deviations.

    Computed exactly on ``sample`` with jenkspy (Fisher's optimal 1-D
    partition). With fewer than k distinct values, each distinct value ends a class.
    """
    sample = np.asarray(sample, dtype=float)
    distinct = np.unique(sample)
    if distinct.size <= k:
        return np.concatenate([[distinct[0]], distinct, np.repeat(distinct[-1], k - distinct.size)])
    return np.asarray(jenkspy.jenks_breaks(sample, n_classes=k), dtype=float)


def compute_breaks(method: str, sample: np.ndarray, k: int, *, vmin: float, vmax: float) -> np.ndarray:
    """Edges by method name; the outer edges are the map's true min and max."""
    if method == "quantile":
        edges = quantile_breaks(sample, k)
    elif method == "equal_interval":
        edges = equal_interval(vmin, vmax, k)
    elif method == "natural_breaks":
        edges = natural_breaks(sample, k)
    else:
        raise ValueError(f"unknown classification {method!r}")
    edges = np.asarray(edges, dtype=float)
    edges[0], edges[-1] = vmin, vmax
    return np.maximum.accumulate(edges)
