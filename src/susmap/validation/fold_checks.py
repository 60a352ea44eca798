"""What every splitter checks and shares: a base class, fold counts, scheme parameters, coordinates, seeds."""

from __future__ import annotations

from collections.abc import Iterator
from numbers import Integral, Real

import numpy as np
from sklearn.model_selection import BaseCrossValidator

from susmap.errors import SamplingError, StudyConfigError

__all__ = [
    "MAX_SEED",
    "Splitter",
    "check_coords",
    "check_fold_count",
    "check_int_param",
    "check_real_param",
    "folds_from_labels",
    "repeat_seeds",
    "splits_per_repeat",
]

#: Upper bound (exclusive) of the seeds drawn per repeat.
MAX_SEED = 2**31 - 1


class Splitter(BaseCrossValidator):
    """Base of susmap's splitters: each defines ``split`` (and ``get_n_splits``); test indices come from it."""

    def _iter_test_indices(self, X=None, y=None, groups=None):  # noqa: N803
        for _, test in self.split(X, y, groups):
            yield test


def check_fold_count(
    n_samples: int, n_splits: int, y: np.ndarray | None = None, *, key: str = "validation.folds"
) -> None:
    """Refuse more folds than the data allow (per class for stratified folds)."""
    if n_splits > n_samples:
        raise SamplingError(f"{key}: {n_splits} folds but only {n_samples} samples")
    if y is not None:
        _, counts = np.unique(y, return_counts=True)
        if counts.min() < n_splits:
            raise SamplingError(f"{key}: {n_splits} folds but the rarer class has only {int(counts.min())} samples")


def splits_per_repeat(splitter: BaseCrossValidator, X=None, y=None, groups=None) -> int:  # noqa: N803
    """Number of splits in one repeat: ``get_n_splits`` divided by ``n_repeats`` (1 if the splitter has none).

    Split ``i`` of ``splitter.split`` belongs to repeat ``i // splits_per_repeat(...)``.
    """
    n = splitter.get_n_splits(X, y, groups)
    repeats = getattr(splitter, "n_repeats", 1) or 1
    return max(1, n // repeats)


def check_int_param(scheme: str, name: str, value, low: int) -> int:
    """``value`` as an int >= ``low``, or a StudyConfigError naming the scheme and parameter."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise StudyConfigError(f"validation scheme {scheme!r}: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_real_param(scheme: str, name: str, value, *, low: float, low_open: bool, high: float | None = None) -> float:
    """``value`` as a finite float above ``low`` (and below ``high``), or a StudyConfigError naming the parameter."""
    ok = isinstance(value, Real) and not isinstance(value, bool) and np.isfinite(value)
    if ok:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high
    if not ok:
        bound = f"{'>' if low_open else '>='} {low:g}" + (f" and < {high:g}" if high is not None else "")
        raise StudyConfigError(f"validation scheme {scheme!r}: {name} must be a number {bound}, got {value!r}")
    return float(value)


def check_coords(scheme: str, coords, n_rows: int | None) -> np.ndarray:
    """Sample coordinates [m] as a finite (n, 2) float array matching ``n_rows`` rows of X."""
    xy = np.asarray(coords, dtype=float)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"validation scheme {scheme!r}: coords must have shape (n_samples, 2), got {xy.shape}")
    if not np.isfinite(xy).all():
        raise ValueError(f"validation scheme {scheme!r}: coords hold {int((~np.isfinite(xy)).sum())} non-finite values")
    if n_rows is not None and n_rows != len(xy):
        raise ValueError(f"X has {n_rows} rows but coords has {len(xy)}")
    return xy


def repeat_seeds(random_state: int, n: int) -> list[int]:
    """One seed per repeat, drawn from ``random_state`` (the same state gives the same seeds)."""
    rng = np.random.default_rng(random_state)
    return [int(rng.integers(MAX_SEED)) for _ in range(n)]


def folds_from_labels(labels: np.ndarray, n_folds: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(train, test) per fold of a label row: test = label k, train = the rest."""
    idx = np.arange(len(labels))
    for k in range(n_folds):
        test = labels == k
        yield idx[~test], idx[test]
