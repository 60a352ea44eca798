"""Cross-validation splitters: random and spatial k-fold, repeated.

Both are scikit-learn splitters (``split(X, y=None, groups=None)``,
``get_n_splits``) so they work with ``cross_validate`` and nested searches.
Spatial k-fold clusters the sample coordinates with k-means, one cluster per
fold, as ``spcv_coords`` in mlr3spatiotempcv (Brenning 2012): the test fold
is a compact region, so spatial autocorrelation between training and test
samples no longer inflates the scores.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from sklearn.cluster import KMeans
from sklearn.model_selection import BaseCrossValidator, StratifiedKFold

from susmap.errors import SamplingError

__all__ = ["RepeatedRandomKFold", "RepeatedSpatialKFold", "check_fold_count", "make_splitter"]


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


class RepeatedRandomKFold(BaseCrossValidator):
    """Stratified random k-fold, repeated with different shuffles.

    Parameters
    ----------
    n_splits : int, default=5
    n_repeats : int, default=1
    random_state : int, default=0
    """

    def __init__(self, n_splits: int = 5, n_repeats: int = 1, *, random_state: int = 0) -> None:
        self.n_splits = n_splits
        self.n_repeats = n_repeats
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None) -> int:  # noqa: N803 (sklearn signature)
        return self.n_splits * self.n_repeats

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:  # noqa: N803
        n = len(X)
        y = np.zeros(n) if y is None else np.asarray(y)
        check_fold_count(n, self.n_splits, y)
        rng = np.random.default_rng(self.random_state)
        for _ in range(self.n_repeats):
            seed = int(rng.integers(2**31 - 1))
            yield from StratifiedKFold(self.n_splits, shuffle=True, random_state=seed).split(np.zeros(n), y)

    def _iter_test_indices(self, X=None, y=None, groups=None):  # noqa: N803
        for _, test in self.split(X, y, groups):
            yield test


class RepeatedSpatialKFold(BaseCrossValidator):
    """Spatial k-fold: k-means clusters of the sample coordinates are the folds.

    Parameters
    ----------
    coords : array-like of shape (n_samples, 2)
        Sample coordinates [m], in the order of ``X``.
    n_splits : int, default=5
        Number of clusters = folds.
    n_repeats : int, default=1
        Each repeat re-runs k-means from another random start.
    random_state : int, default=0

    Notes
    -----
    A cluster may hold one class only; scores that need both (AUROC) are then
    undefined for that fold and reported as NaN.
    """

    def __init__(self, coords, n_splits: int = 5, n_repeats: int = 1, *, random_state: int = 0) -> None:
        self.coords = coords
        self.n_splits = n_splits
        self.n_repeats = n_repeats
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None) -> int:  # noqa: N803
        return self.n_splits * self.n_repeats

    def fold_ids(self) -> np.ndarray:
        """Fold id (0 .. n_splits-1) of every sample, one row per repeat: shape (n_repeats, n)."""
        coords = np.asarray(self.coords, dtype=float)
        check_fold_count(len(coords), self.n_splits)
        n_distinct = len(np.unique(coords, axis=0))
        if n_distinct < self.n_splits:
            raise SamplingError(
                f"validation.folds: {self.n_splits} spatial folds but only {n_distinct} distinct sample locations"
            )
        rng = np.random.default_rng(self.random_state)
        out = np.empty((self.n_repeats, len(coords)), dtype=np.int64)
        centred = coords - coords.mean(axis=0)
        for r in range(self.n_repeats):
            seed = int(rng.integers(2**31 - 1))
            km = KMeans(n_clusters=self.n_splits, n_init=1, random_state=seed).fit(centred)
            out[r] = km.labels_
        return out

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:  # noqa: N803
        if len(X) != len(self.coords):
            raise ValueError(f"X has {len(X)} rows but coords has {len(self.coords)}")
        idx = np.arange(len(X))
        for labels in self.fold_ids():
            for k in range(self.n_splits):
                test = labels == k
                yield idx[~test], idx[test]

    def _iter_test_indices(self, X=None, y=None, groups=None):  # noqa: N803
        for _, test in self.split(X, y, groups):
            yield test


def make_splitter(scheme: str, *, coords: np.ndarray, n_splits: int, n_repeats: int, seed: int) -> BaseCrossValidator:
    """A splitter by scheme name: ``"spatial"`` or ``"random"``."""
    if scheme == "spatial":
        return RepeatedSpatialKFold(coords, n_splits, n_repeats, random_state=seed)
    if scheme == "random":
        return RepeatedRandomKFold(n_splits, n_repeats, random_state=seed)
    raise ValueError(f"unknown validation scheme {scheme!r}")
