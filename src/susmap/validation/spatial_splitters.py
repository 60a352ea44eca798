"""Spatial cross-validation: folds that keep a test sample's spatial neighbours out of its training data.

========================  ================  ==============================================
class                     scheme name       folds
========================  ================  ==============================================
RepeatedSpatialKFold      ``spatial``       k-means clusters of the coordinates
                                            (``spcv_coords`` in mlr3spatiotempcv)
SpatialBlockKFold         ``blocks``        square blocks, whole blocks to folds
                                            (``spcv_block``)
BufferedLeaveOneOut       ``buffered_loo``  one sample out, neighbours within a buffer
                                            dropped from training (Brenning 2012,
                                            Ploton et al. 2020)
LeaveDiscOut              ``disc``          a disc around a random sample out, plus a
                                            buffer (sperrorest ``partition_disc``)
LeaveOneBlockOut          ``regions``       one fold per user-given region
========================  ================  ==============================================

Spatially autocorrelated neighbours of a test sample in its training data
inflate the scores (Brenning 2012); these folds keep them apart. All are
scikit-learn splitters (see :mod:`susmap.validation.splitters`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans

from susmap.errors import SamplingError, StudyConfigError
from susmap.validation.fold_checks import (
    Splitter,
    check_coords,
    check_fold_count,
    check_int_param,
    check_real_param,
    folds_from_labels,
)

__all__ = ["BufferedLeaveOneOut", "LeaveDiscOut", "LeaveOneBlockOut", "RepeatedSpatialKFold", "SpatialBlockKFold"]


class RepeatedSpatialKFold(Splitter):
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


class SpatialBlockKFold(Splitter):
    """Spatial block k-fold: square blocks laid over the samples, whole blocks go to folds.

    As ``spcv_block`` in mlr3spatiotempcv (blockCV). Every sample lies in one
    block; blocks with samples are dealt to ``n_splits`` folds, so each sample
    is tested exactly once per repeat.

    Parameters
    ----------
    coords : array-like of shape (n_samples, 2)
        Sample coordinates [m], in the order of ``X``.
    block_size : float
        Side of the square blocks [m].
    n_splits : int, default=5
    n_repeats : int, default=1
        The first repeat's grid starts at the lower-left corner of the samples'
        bounding box; later repeats shift it by a random offset in
        ``[0, block_size)`` in x and y.
    assignment : {"random", "systematic"}, default="random"
        ``"random"``: the non-empty blocks are shuffled and dealt to the folds in
        turn (each fold gets the same number of blocks, ±1). ``"systematic"``:
        the block in grid row ``i``, column ``j`` goes to fold ``(i + j) mod
        n_splits``, a checkerboard for 2 folds and diagonal stripes otherwise, so
        blocks sharing an edge are never in the same fold.
    random_state : int, default=0

    Raises
    ------
    SamplingError
        Fewer non-empty blocks than folds, or (systematic) a fold without samples.
    """

    _scheme = "blocks"
    _assignments = ("random", "systematic")

    def __init__(
        self,
        coords,
        *,
        block_size: float,
        n_splits: int = 5,
        n_repeats: int = 1,
        assignment: str = "random",
        random_state: int = 0,
    ) -> None:
        self.coords = coords
        self.block_size = block_size
        self.n_splits = n_splits
        self.n_repeats = n_repeats
        self.assignment = assignment
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None) -> int:  # noqa: N803
        return self.n_splits * self.n_repeats

    def _check_params(self) -> tuple[float, int, int]:
        scheme = self._scheme
        size = check_real_param(scheme, "block_size", self.block_size, low=0.0, low_open=True)
        k = check_int_param(scheme, "n_splits", self.n_splits, 2)
        reps = check_int_param(scheme, "n_repeats", self.n_repeats, 1)
        if self.assignment not in self._assignments:
            raise StudyConfigError(
                f"validation scheme {scheme!r}: assignment must be one of {', '.join(self._assignments)}, "
                f"got {self.assignment!r}"
            )
        return size, k, reps

    def _rngs(self) -> tuple[np.random.Generator, np.random.Generator]:
        """Independent generators for the grid offsets and the block-to-fold assignment."""
        offsets, assignment = np.random.SeedSequence(self.random_state).spawn(2)
        return np.random.default_rng(offsets), np.random.default_rng(assignment)

    def block_origins(self) -> np.ndarray:
        """Lower-left corner [m] of the block grid of each repeat: shape (n_repeats, 2)."""
        size, _, reps = self._check_params()
        xy = check_coords(self._scheme, self.coords, None)
        offset_rng, _ = self._rngs()
        offsets = offset_rng.uniform(0.0, size, size=(reps, 2))
        offsets[0] = 0.0
        return xy.min(axis=0) - offsets

    def block_cells(self) -> np.ndarray:
        """Grid (row, column) of every sample's block, per repeat: shape (n_repeats, n, 2); row 0 is the south."""
        size, _, _ = self._check_params()
        xy = check_coords(self._scheme, self.coords, None)
        origins = self.block_origins()
        cells = np.floor((xy[None, :, :] - origins[:, None, :]) / size).astype(np.int64)
        return cells[:, :, ::-1]

    def fold_ids(self) -> np.ndarray:
        """Fold id (0 .. n_splits-1) of every sample, one row per repeat: shape (n_repeats, n)."""
        size, k, reps = self._check_params()
        xy = check_coords(self._scheme, self.coords, None)
        check_fold_count(len(xy), k, key=f"validation scheme {self._scheme!r}")
        _, rng = self._rngs()
        out = np.empty((reps, len(xy)), dtype=np.int64)
        for r, cells in enumerate(self.block_cells()):
            blocks, block_of = np.unique(cells, axis=0, return_inverse=True)
            block_of = block_of.ravel()
            if len(blocks) < k:
                raise SamplingError(
                    f"validation scheme {self._scheme!r}: {k} folds but the {len(xy)} samples lie in only "
                    f"{len(blocks)} non-empty blocks of {size:g} m; use smaller blocks or fewer folds"
                )
            if self.assignment == "random":
                fold_of_block = np.empty(len(blocks), dtype=np.int64)
                fold_of_block[rng.permutation(len(blocks))] = np.arange(len(blocks)) % k
            else:
                fold_of_block = (blocks[:, 0] + blocks[:, 1]) % k
                empty = np.setdiff1d(np.arange(k), fold_of_block)
                if empty.size:
                    raise SamplingError(
                        f"validation scheme {self._scheme!r}: systematic assignment of {len(blocks)} non-empty "
                        f"blocks of {size:g} m leaves {empty.size} of {k} folds without samples; "
                        "use assignment 'random', smaller blocks or fewer folds"
                    )
            out[r] = fold_of_block[block_of]
        return out

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:  # noqa: N803
        check_coords(self._scheme, self.coords, len(X))
        for labels in self.fold_ids():
            yield from folds_from_labels(labels, self.n_splits)


class BufferedLeaveOneOut(Splitter):
    """Leave-one-out with a buffer: training drops every sample within ``buffer_m`` of the test sample.

    After Brenning (2012) and Ploton et al. (2020): for each test sample, the
    training samples are those more than ``buffer_m`` away from it, so the
    distance from the test sample to its nearest training sample is greater
    than ``buffer_m``. Samples at the test sample's location are never used for
    training (also with ``buffer_m=0``).

    Parameters
    ----------
    coords : array-like of shape (n_samples, 2)
        Sample coordinates [m], in the order of ``X``.
    buffer_m : float
        Buffer radius [m], >= 0.
    n_tests : int or None, default=None
        ``None``: every sample is tested once, in order. An integer: that many
        test samples drawn at random (without replacement, sorted), to bound the
        cost on large sample sets.
    random_state : int, default=0
        Used only with ``n_tests``.

    Notes
    -----
    Each fold tests a single sample, so per-fold AUROC is undefined; pool the
    out-of-fold predictions to score. A test sample whose buffer holds every
    other sample raises :class:`~susmap.errors.SamplingError` when its fold is
    generated.
    """

    _scheme = "buffered_loo"

    def __init__(self, coords, *, buffer_m: float, n_tests: int | None = None, random_state: int = 0) -> None:
        self.coords = coords
        self.buffer_m = buffer_m
        self.n_tests = n_tests
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None) -> int:  # noqa: N803
        return len(self.coords) if self.n_tests is None else self.n_tests

    def test_indices(self) -> np.ndarray:
        """The test sample of each fold, in fold order."""
        n = len(check_coords(self._scheme, self.coords, None))
        if self.n_tests is None:
            return np.arange(n)
        n_tests = check_int_param(self._scheme, "n_tests", self.n_tests, 1)
        if n_tests > n:
            raise SamplingError(f"validation scheme {self._scheme!r}: {n_tests} test samples but only {n} samples")
        rng = np.random.default_rng(self.random_state)
        return np.sort(rng.choice(n, size=n_tests, replace=False))

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:  # noqa: N803
        xy = check_coords(self._scheme, self.coords, len(X))
        buffer = check_real_param(self._scheme, "buffer_m", self.buffer_m, low=0.0, low_open=False)
        idx = np.arange(len(xy))
        for i in self.test_indices():
            dist = np.hypot(xy[:, 0] - xy[i, 0], xy[:, 1] - xy[i, 1])
            train = idx[dist > buffer]
            if train.size == 0:
                raise SamplingError(
                    f"validation scheme {self._scheme!r}: every other sample lies within buffer_m {buffer:g} m "
                    f"of sample {i}; use a smaller buffer"
                )
            yield train, np.array([i])


class LeaveDiscOut(Splitter):
    """Leave-disc-out: test = samples within ``radius_m`` of a random sample; training beyond a further buffer.

    As ``partition_disc`` in sperrorest (Brenning 2012). Each fold's centre is
    a sample drawn at random without replacement; its test part holds the
    samples at distance <= ``radius_m`` from the centre, its training part the
    samples at distance > ``radius_m + buffer_m``. Discs may overlap, so a
    sample can be tested more than once per repeat, or not at all.

    Parameters
    ----------
    coords : array-like of shape (n_samples, 2)
        Sample coordinates [m], in the order of ``X``.
    radius_m : float
        Disc radius [m], >= 0 (0: the centre and samples at its location).
    buffer_m : float, default=0
        Further buffer [m] around the disc left out of training.
    n_splits : int or None, default=None
        Discs per repeat; ``None``: every sample is a centre once.
    n_repeats : int, default=1
        Each repeat draws new centres.
    random_state : int, default=0
    """

    _scheme = "disc"

    def __init__(
        self,
        coords,
        *,
        radius_m: float,
        buffer_m: float = 0.0,
        n_splits: int | None = None,
        n_repeats: int = 1,
        random_state: int = 0,
    ) -> None:
        self.coords = coords
        self.radius_m = radius_m
        self.buffer_m = buffer_m
        self.n_splits = n_splits
        self.n_repeats = n_repeats
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None) -> int:  # noqa: N803
        per = len(self.coords) if self.n_splits is None else self.n_splits
        return per * self.n_repeats

    def centres(self) -> np.ndarray:
        """Index of the centre sample of each disc: shape (n_repeats, discs per repeat)."""
        n = len(check_coords(self._scheme, self.coords, None))
        reps = check_int_param(self._scheme, "n_repeats", self.n_repeats, 1)
        k = n if self.n_splits is None else check_int_param(self._scheme, "n_splits", self.n_splits, 1)
        if k > n:
            raise SamplingError(f"validation scheme {self._scheme!r}: {k} discs but only {n} samples")
        rng = np.random.default_rng(self.random_state)
        return np.stack([rng.choice(n, size=k, replace=False) for _ in range(reps)])

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:  # noqa: N803
        xy = check_coords(self._scheme, self.coords, len(X))
        radius = check_real_param(self._scheme, "radius_m", self.radius_m, low=0.0, low_open=False)
        buffer = check_real_param(self._scheme, "buffer_m", self.buffer_m, low=0.0, low_open=False)
        idx = np.arange(len(xy))
        for c in self.centres().ravel():
            dist = np.hypot(xy[:, 0] - xy[c, 0], xy[:, 1] - xy[c, 1])
            train = idx[dist > radius + buffer]
            if train.size == 0:
                raise SamplingError(
                    f"validation scheme {self._scheme!r}: no sample lies beyond radius_m {radius:g} m + "
                    f"buffer_m {buffer:g} m of sample {c}; use a smaller disc or buffer"
                )
            yield train, idx[dist <= radius]


class LeaveOneBlockOut(Splitter):
    """Leave-one-region-out: one fold per user-given region.

    Parameters
    ----------
    block_ids : array-like of shape (n_samples,)
        Region id of every sample (numbers or strings, e.g. from polygons
        assigned upstream), in the order of ``X``. Fold ``i`` tests the
        ``i``-th region in sorted order (:meth:`regions`).
    """

    _scheme = "regions"

    def __init__(self, block_ids) -> None:
        self.block_ids = block_ids

    def regions(self) -> np.ndarray:
        """The distinct region ids, in fold order."""
        ids = np.asarray(self.block_ids)
        if ids.ndim != 1:
            raise ValueError(f"validation scheme {self._scheme!r}: block_ids must be 1-D, got shape {ids.shape}")
        missing = pd.isna(ids)
        if missing.any():
            raise SamplingError(
                f"validation scheme {self._scheme!r}: {int(missing.sum())} of {len(ids)} samples have no region id"
            )
        regions = np.unique(ids)
        if len(regions) < 2:
            raise SamplingError(
                f"validation scheme {self._scheme!r}: {len(regions)} region(s) but leaving one out needs at least 2"
            )
        return regions

    def get_n_splits(self, X=None, y=None, groups=None) -> int:  # noqa: N803
        return len(self.regions())

    def fold_ids(self) -> np.ndarray:
        """Fold id of every sample (index of its region in :meth:`regions`), shape (1, n)."""
        regions = self.regions()
        return np.searchsorted(regions, np.asarray(self.block_ids))[None, :]

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:  # noqa: N803
        if len(X) != len(self.block_ids):
            raise ValueError(f"X has {len(X)} rows but block_ids has {len(self.block_ids)}")
        labels = self.fold_ids()[0]
        yield from folds_from_labels(labels, int(labels.max()) + 1)
