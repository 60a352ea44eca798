"""Cross-validation splitters: random, holdout, spatial, environmental, by region, temporal.

All are scikit-learn splitters (``split(X, y=None, groups=None)``,
``get_n_splits(X=None, y=None, groups=None)``) so they work as ``cv=`` in
``cross_validate`` and nested searches. Coordinates [m], factor values or
region ids are given to the constructor, which only stores its parameters;
they are checked when ``split`` runs. Every splitter is repeatable: the same
``random_state`` gives the same folds.

========================  ==============  ==================================================
class                     scheme name     folds
========================  ==============  ==================================================
RepeatedRandomKFold       ``random``      stratified random k-fold
StratifiedHoldout         ``holdout``     one stratified random train/test split per repeat
RepeatedSpatialKFold      ``spatial``     k-means clusters of the coordinates
                                          (``spcv_coords`` in mlr3spatiotempcv)
SpatialBlockKFold         ``blocks``      square blocks, whole blocks to folds
                                          (``spcv_block``)
BufferedLeaveOneOut       ``buffered_loo``  one sample out, neighbours within a buffer
                                          dropped from training (Brenning 2012,
                                          Ploton et al. 2020)
LeaveDiscOut              ``disc``        a disc around a random sample out, plus a buffer
                                          (sperrorest ``partition_disc``)
EnvironmentalKFold        ``environmental``  k-means clusters of the standardized factors
                                          (``spcv_env``)
LeaveOneBlockOut          ``regions``     one fold per user-given region
TemporalSplit             ``temporal``    train before a date or value, test on the later
                                          events (one split per repeat)
========================  ==============  ==================================================

Spatial folds keep spatially autocorrelated neighbours of a test sample out of
its training data, so the scores are not inflated by it (Brenning 2012); they
live in :mod:`susmap.validation.spatial_splitters` and are re-exported here.
The temporal scheme is in :mod:`susmap.validation.temporal`. The checks every
splitter shares are in :mod:`susmap.validation.fold_checks`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
from sklearn.cluster import KMeans
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit

from susmap.errors import SamplingError, StudyConfigError
from susmap.validation.fold_checks import (
    Splitter,
    check_fold_count,
    check_int_param,
    check_real_param,
    folds_from_labels,
    repeat_seeds,
    splits_per_repeat,
)
from susmap.validation.spatial_splitters import (
    BufferedLeaveOneOut,
    LeaveDiscOut,
    LeaveOneBlockOut,
    RepeatedSpatialKFold,
    SpatialBlockKFold,
)
from susmap.validation.temporal import TemporalSplit

__all__ = [
    "SCHEME_PARAMS",
    "SCHEME_REFERENCES",
    "BufferedLeaveOneOut",
    "EnvironmentalKFold",
    "LeaveDiscOut",
    "LeaveOneBlockOut",
    "RepeatedRandomKFold",
    "RepeatedSpatialKFold",
    "SpatialBlockKFold",
    "StratifiedHoldout",
    "TemporalSplit",
    "check_fold_count",
    "make_splitter",
    "splits_per_repeat",
]


# --------------------------------------------------------------------------- random


class RepeatedRandomKFold(Splitter):
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


class StratifiedHoldout(Splitter):
    """One stratified random train/test split per repeat (the papers' 70/30, 80/20, 20/80 splits).

    Parameters
    ----------
    test_size : float, default=0.3
        Share of the samples in the test part, in (0, 1): 0.3 for 70/30, 0.2 for
        80/20, 0.8 for paper 001's 20/80 (train on 20 %). The test part holds
        ``round(test_size * n)`` samples (halves round up), split between the
        classes in proportion to their counts (each class's share differs from
        ``test_size`` times its count by less than one sample).
    n_repeats : int, default=1
        Number of independent splits.
    random_state : int, default=0

    Notes
    -----
    Without ``y`` the split is a plain random one. The training part is the
    complement of the test part.
    """

    _scheme = "holdout"

    def __init__(self, test_size: float = 0.3, *, n_repeats: int = 1, random_state: int = 0) -> None:
        self.test_size = test_size
        self.n_repeats = n_repeats
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None) -> int:  # noqa: N803
        return self.n_repeats

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:  # noqa: N803
        scheme = self._scheme
        size = check_real_param(scheme, "test_size", self.test_size, low=0.0, low_open=True, high=1.0)
        n_repeats = check_int_param(scheme, "n_repeats", self.n_repeats, 1)
        n = len(X)
        n_test = int(np.floor(size * n + 0.5 + 1e-9))
        n_train = n - n_test
        if n_test < 1 or n_train < 1:
            raise SamplingError(
                f"validation scheme {scheme!r}: test_size {size:g} of {n} samples leaves "
                f"{n_train} training and {n_test} test samples; both need at least one"
            )
        y = np.zeros(n) if y is None else np.asarray(y)
        classes, counts = np.unique(y, return_counts=True)
        if len(classes) > 1:
            if counts.min() < 2:
                raise SamplingError(
                    f"validation scheme {scheme!r}: the rarer class has only {int(counts.min())} sample; "
                    "a stratified split needs at least 2 per class"
                )
            if min(n_test, n_train) < len(classes):
                raise SamplingError(
                    f"validation scheme {scheme!r}: {n_train} training and {n_test} test samples "
                    f"cannot both hold all {len(classes)} classes"
                )
        sss = StratifiedShuffleSplit(
            n_splits=n_repeats, test_size=n_test, train_size=n_train, random_state=self.random_state
        )
        yield from sss.split(np.zeros(n), y)


# --------------------------------------------------------------------------- environmental


class EnvironmentalKFold(Splitter):
    """Environmental k-fold: k-means clusters of the standardized factor values are the folds.

    As ``spcv_env`` in mlr3spatiotempcv: test folds hold factor combinations
    that the training folds lack, which tests extrapolation in factor space.

    Parameters
    ----------
    X_env : array-like of shape (n_samples, n_features) or None, default=None
        Factor values to cluster; ``None`` clusters the ``X`` given to ``split``.
        Each column is standardized (mean 0, sd 1; constant columns centred
        only). Categorical codes are treated as numbers: pass continuous
        factors only if that matters.
    n_splits : int, default=5
    n_repeats : int, default=1
        Each repeat re-runs k-means from another random start.
    random_state : int, default=0
    """

    _scheme = "environmental"

    def __init__(self, X_env=None, *, n_splits: int = 5, n_repeats: int = 1, random_state: int = 0) -> None:  # noqa: N803
        self.X_env = X_env
        self.n_splits = n_splits
        self.n_repeats = n_repeats
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None) -> int:  # noqa: N803
        return self.n_splits * self.n_repeats

    def standardized(self, X=None) -> np.ndarray:  # noqa: N803
        """The factor values that are clustered: ``X_env`` (or ``X``) standardized per column."""
        scheme = self._scheme
        source = self.X_env if self.X_env is not None else X
        if source is None:
            raise ValueError(f"validation scheme {scheme!r}: give X_env or the X to split")
        feats = np.asarray(source, dtype=float)
        if feats.ndim == 1:
            feats = feats[:, None]
        if X is not None and len(X) != len(feats):
            raise ValueError(f"X has {len(X)} rows but X_env has {len(feats)}")
        if not np.isfinite(feats).all():
            raise SamplingError(
                f"validation scheme {scheme!r}: the factor values hold {int((~np.isfinite(feats)).sum())} "
                "non-finite values"
            )
        sd = feats.std(axis=0)
        return (feats - feats.mean(axis=0)) / np.where(sd > 0, sd, 1.0)

    def fold_ids(self, X=None) -> np.ndarray:  # noqa: N803
        """Fold id (0 .. n_splits-1) of every sample, one row per repeat: shape (n_repeats, n)."""
        scheme = self._scheme
        k = check_int_param(scheme, "n_splits", self.n_splits, 2)
        reps = check_int_param(scheme, "n_repeats", self.n_repeats, 1)
        feats = self.standardized(X)
        check_fold_count(len(feats), k, key=f"validation scheme {scheme!r}")
        n_distinct = len(np.unique(feats, axis=0))
        if n_distinct < k:
            raise SamplingError(
                f"validation scheme {scheme!r}: {k} folds but only {n_distinct} distinct factor combinations"
            )
        out = np.empty((reps, len(feats)), dtype=np.int64)
        for r, seed in enumerate(repeat_seeds(self.random_state, reps)):
            out[r] = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(feats).labels_
        return out

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:  # noqa: N803
        for labels in self.fold_ids(X):
            yield from folds_from_labels(labels, self.n_splits)


# --------------------------------------------------------------------------- by name

#: Scheme name -> (required parameters, optional parameters with their defaults) of ``make_splitter``.
SCHEME_PARAMS: dict[str, tuple[tuple[str, ...], dict[str, object]]] = {
    "random": ((), {}),
    "spatial": ((), {}),
    "holdout": ((), {"test_size": 0.3}),
    "blocks": (("block_size_m",), {"assignment": "random"}),
    "buffered_loo": (("buffer_m",), {"n_tests": None}),
    "disc": (("radius_m",), {"buffer_m": 0.0}),
    "environmental": ((), {}),
    "regions": (("block_ids",), {}),
    "temporal": (("times", "split_at"), {}),
}

#: Where each scheme comes from (keys of :mod:`susmap.references`): ``susmap cite`` and the report cite them.
SCHEME_REFERENCES: dict[str, tuple[str, ...]] = {
    "random": ("kohavi1995",),
    "spatial": ("brenning2012",),
    "holdout": ("kohavi1995",),
    "blocks": ("roberts2017", "valavi2019"),
    "buffered_loo": ("ploton2020", "brenning2012"),
    "disc": ("brenning2012",),
    "environmental": ("roberts2017", "valavi2019"),
    "regions": ("roberts2017",),
    "temporal": ("roberts2017",),
}


def make_splitter(
    scheme: str,
    *,
    coords: np.ndarray,
    n_splits: int,
    n_repeats: int,
    seed: int,
    X: np.ndarray | None = None,  # noqa: N803
    **params,
) -> Splitter:
    """A splitter by scheme name, with the study's folds, repeats and seed.

    ================  ==========================  =====================================================
    scheme            params                      uses
    ================  ==========================  =====================================================
    ``random``        --                          n_splits, n_repeats
    ``spatial``       --                          coords, n_splits, n_repeats
    ``holdout``       test_size (0.3)             n_repeats (one split each)
    ``blocks``        block_size_m, assignment    coords, n_splits, n_repeats
                      ("random" / "systematic")
    ``buffered_loo``  buffer_m, n_tests (None)    coords (one fold per test sample; no repeats)
    ``disc``          radius_m, buffer_m (0)      coords, n_splits (discs), n_repeats
    ``environmental`` --                          X (or the X given to split), n_splits, n_repeats
    ``regions``       block_ids                   one fold per region; no repeats
    ``temporal``      times, split_at             n_repeats (one split each; undated samples
                                                  shared out at random per repeat)
    ================  ==========================  =====================================================

    Raises
    ------
    ValueError
        Unknown scheme, unknown parameter for the scheme, or a required one
        missing (:class:`~susmap.errors.StudyConfigError`); the message lists
        the known ones.
    """
    if scheme not in SCHEME_PARAMS:
        raise StudyConfigError(f"unknown validation scheme {scheme!r}; known: {', '.join(SCHEME_PARAMS)}")
    required, optional = SCHEME_PARAMS[scheme]
    accepted = (*required, *optional)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        known = ", ".join(accepted) if accepted else "none"
        raise StudyConfigError(
            f"validation scheme {scheme!r}: unknown parameter(s) {', '.join(unknown)}; known: {known}"
        )
    missing = [p for p in required if p not in params]
    if missing:
        raise StudyConfigError(f"validation scheme {scheme!r}: missing parameter(s) {', '.join(missing)}")
    p: Mapping[str, object] = {**optional, **params}
    if scheme == "spatial":
        return RepeatedSpatialKFold(coords, n_splits, n_repeats, random_state=seed)
    if scheme == "random":
        return RepeatedRandomKFold(n_splits, n_repeats, random_state=seed)
    if scheme == "holdout":
        return StratifiedHoldout(p["test_size"], n_repeats=n_repeats, random_state=seed)
    if scheme == "blocks":
        return SpatialBlockKFold(
            coords,
            block_size=p["block_size_m"],
            n_splits=n_splits,
            n_repeats=n_repeats,
            assignment=p["assignment"],
            random_state=seed,
        )
    if scheme == "buffered_loo":
        return BufferedLeaveOneOut(coords, buffer_m=p["buffer_m"], n_tests=p["n_tests"], random_state=seed)
    if scheme == "disc":
        return LeaveDiscOut(
            coords,
            radius_m=p["radius_m"],
            buffer_m=p["buffer_m"],
            n_splits=n_splits,
            n_repeats=n_repeats,
            random_state=seed,
        )
    if scheme == "environmental":
        return EnvironmentalKFold(X, n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
    if scheme == "temporal":
        return TemporalSplit(p["times"], p["split_at"], n_repeats=n_repeats, random_state=seed)
    return LeaveOneBlockOut(p["block_ids"])
