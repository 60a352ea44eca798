"""Area of applicability (AOA) of a susceptibility model: where its factor combinations were seen in training.

After Meyer & Pebesma (2021), *Predicting into unknown space? Estimating the
area of applicability of spatial prediction models*, Methods Ecol. Evol. 12:
1620–1633, doi:10.1111/2041-210X.13650, with the definitions of the R package
CAST (``trainDI()``, ``aoa()``, CAST 1.0):

1. Factors are standardized with the training data's mean and standard
   deviation (R's ``scale``: sd with denominator n − 1) and multiplied by
   their weight, the model's importance of each factor (negative weights are
   set to 0, as CAST does).
2. ``d̄`` (CAST's ``trainDist_avrgmean``) is the mean Euclidean distance
   between two different training samples in that weighted space (the mean
   over all pairs i ≠ j).
3. The DI of a training sample is its distance to the nearest training
   sample of another cross-validation fold (of any other sample without
   folds), divided by ``d̄``. The DI of any other point is its distance to the
   nearest training sample, divided by ``d̄``.
4. The threshold (rule ``"cast"``, CAST ≥ 0.9.0, after CAST issue #65) is
   ``Q3 + 1.5 IQR`` of the training DI with R's default quantiles (type 7,
   numpy's ``linear``), but at most the largest training DI. Rule
   ``"whisker"`` is the paper's "outlier-removed maximum DI" as CAST ≤ 0.7.0
   computed it: ``boxplot.stats(TrainDI)$stats[5]``, the largest training DI
   not above ``H3 + 1.5 (H3 − H1)``, with Tukey's hinges ``H1``, ``H3``
   (R's ``fivenum``), not sample quantiles.
5. A point is inside the AOA (1) when its DI is at most the threshold, outside
   (0) when above it.
6. The local point density (LPD, CAST 1.0, Schumacher et al. 2024) of a
   point is the number of training samples whose distance to it, divided by
   ``d̄``, is below the threshold; for a training sample, only samples of other
   folds count.

Categorical factors are one-hot encoded as CAST does (``caret::dummyVars``):
one 0/1 column per level seen in training, each column standardized like a
continuous factor and weighted with the *whole* importance of its factor (not
the importance divided by the number of levels). A level not seen in training
gets 0 in every column (CAST sets such cells' dummies to 0).

Cost: ``d̄`` takes all n(n − 1)/2 pairwise distances of the n training samples
(in row blocks, O(n) memory); the DI of new points is one KD-tree query
(:class:`scipy.spatial.cKDTree`) per point. Maps are computed block by block
over the dask-backed stack; no step holds the raster whole.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dask.array as da
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import rasterio
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch
from rasterio.enums import Resampling
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

from susmap.errors import SamplingError, StudyConfigError
from susmap.mapping.breaks import class_names
from susmap.mapping.figures import draw_classes, hillshade, style_map_axes
from susmap.mapping.writer import RasterTarget, write_lazy_rasters
from susmap.stack import Stack

__all__ = [
    "AOA_NODATA",
    "THRESHOLD_RULES",
    "AOAMaps",
    "AOAResult",
    "TrainDI",
    "aoa_map",
    "aoa_threshold",
    "dissimilarity_index",
    "local_point_density",
    "plot_aoa",
    "training_di",
    "tukey_hinges",
    "write_aoa",
]

#: Nodata value of ``aoa.tif`` (uint8: 1 inside, 0 outside the AOA).
AOA_NODATA = 255
#: Nodata value of ``lpd.tif`` (int32 counts of training samples).
LPD_NODATA = -1
#: Threshold rules of :func:`training_di` (see the module docstring).
THRESHOLD_RULES = ("cast", "whisker")
#: Boxplot whisker coefficient (Tukey's 1.5).
WHISKER = 1.5
#: Training rows per block when summing pairwise distances.
_PAIR_ROWS = 1024


@dataclass(frozen=True)
class TrainDI:
    """The training side of the AOA: scaled, weighted training data, ``d̄``, training DI and threshold.

    Attributes
    ----------
    names : tuple of str
        Factor names, in the column order of the training data (``f0, f1, …`` when none were given).
    categorical : tuple of bool
        Whether each factor is categorical (one-hot encoded).
    levels : tuple
        For each factor, the sorted levels seen in training (categorical), or None.
    center, scale : ndarray of shape (n_columns,)
        Mean and standard deviation (denominator n − 1) of each encoded column in training.
    weights : ndarray of shape (n_columns,)
        Weight of each encoded column (a factor's importance, negative ones set to 0; a
        categorical factor's importance on each of its level columns).
    train : ndarray of shape (n_samples, n_columns)
        The training data standardized and weighted: the space distances are measured in.
    mean_distance : float
        ``d̄``: the mean distance between two different training samples (CAST's ``trainDist_avrgmean``).
    train_di : ndarray of shape (n_samples,)
        Cross-validated DI of each training sample.
    threshold : float
        DI above which a point is outside the AOA.
    rule : str
        The threshold rule (:data:`THRESHOLD_RULES`).
    folds : ndarray or None
        Fold of each training sample, as given.
    train_lpd : ndarray of shape (n_samples,) or None
        Local point density of each training sample (other folds only), when asked for.
    tree : scipy.spatial.cKDTree
        KD-tree on :attr:`train` (built from it when not given).
    """

    names: tuple[str, ...]
    categorical: tuple[bool, ...]
    levels: tuple[np.ndarray | None, ...]
    center: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    train: np.ndarray
    mean_distance: float
    train_di: np.ndarray
    threshold: float
    rule: str
    folds: np.ndarray | None = None
    train_lpd: np.ndarray | None = None
    tree: cKDTree | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.tree is None:  # the KD-tree on :attr:`train` for new points' nearest training sample
            object.__setattr__(self, "tree", cKDTree(self.train))

    @property
    def n_factors(self) -> int:
        """Number of factors (before one-hot encoding)."""
        return len(self.names)

    def transform(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        """Encode, standardize and weight factor rows ``X`` (n, n_factors) into the space of :attr:`train`.

        Rows with a NaN factor stay NaN in every column.
        """
        X = np.asarray(X, dtype=np.float64)  # noqa: N806
        if X.ndim != 2 or X.shape[1] != self.n_factors:
            raise SamplingError(
                f"AOA: {X.shape[-1] if X.ndim else 0} factor columns given, the training data had "
                f"{self.n_factors} ({', '.join(self.names)})"
            )
        enc = _encode(X, self.categorical, self.levels)
        return (enc - self.center) / self.scale * self.weights


def tukey_hinges(values: np.ndarray) -> tuple[float, float]:
    """Lower and upper hinge of ``values`` as R's ``fivenum`` (Tukey 1977): medians of the halves.

    With n sorted values and ``m = floor((n + 3) / 2) / 2``, the lower hinge is
    the mean of the values at 1-based positions ``floor(m)`` and ``ceil(m)``,
    the upper hinge the same counted from the top. They differ from the
    sample quartiles (R type 7, numpy ``linear``) for most n.
    """
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = x.size
    if n == 0:
        raise SamplingError("AOA: no training DI to compute the hinges of")
    m = math.floor((n + 3) / 2) / 2
    lo = 0.5 * (x[math.floor(m) - 1] + x[math.ceil(m) - 1])
    hi = 0.5 * (x[n - math.floor(m)] + x[n - math.ceil(m)])
    return float(lo), float(hi)


def aoa_threshold(train_di: np.ndarray, rule: str = "cast") -> float:
    """AOA threshold of the training DI (NaN dropped) by ``rule``.

    ``"cast"`` (CAST ≥ 0.9.0): ``min(Q3 + 1.5 (Q3 − Q1), max DI)`` with
    type-7 quartiles (R's ``quantile`` default, numpy's ``linear``).
    ``"whisker"`` (Meyer & Pebesma 2021; CAST ≤ 0.7.0,
    ``boxplot.stats(DI)$stats[5]``): the largest DI not above
    ``H3 + 1.5 (H3 − H1)`` with Tukey's hinges (:func:`tukey_hinges`).
    """
    if rule not in THRESHOLD_RULES:
        raise StudyConfigError(f"AOA: threshold rule must be one of {', '.join(THRESHOLD_RULES)}, not {rule!r}")
    di = np.asarray(train_di, dtype=np.float64).ravel()
    di = di[np.isfinite(di)]
    if di.size == 0:
        raise SamplingError("AOA: no training sample has a neighbour in another fold; the threshold is undefined")
    if rule == "cast":
        q1, q3 = np.percentile(di, [25.0, 75.0])  # R's default type 7 = numpy's linear
        return float(min(q3 + WHISKER * (q3 - q1), di.max()))
    h1, h3 = tukey_hinges(di)
    return float(di[di <= h3 + WHISKER * (h3 - h1)].max())


def _levels(column: np.ndarray, name: str) -> np.ndarray:
    levels = np.unique(column)
    if not np.all(levels == np.round(levels)):
        raise SamplingError(f"AOA: categorical factor {name!r} has non-integer values; classes must be integer codes")
    return levels


def _encode(X: np.ndarray, categorical: Sequence[bool], levels: Sequence[np.ndarray | None]) -> np.ndarray:  # noqa: N803
    """Continuous columns as they are, categorical ones one 0/1 column per training level; NaN rows stay NaN."""
    cols = []
    nan_row = ~np.isfinite(X).all(axis=1)
    for j, (is_cat, lev) in enumerate(zip(categorical, levels, strict=True)):
        if not is_cat:
            cols.append(X[:, j : j + 1])
            continue
        dummies = (X[:, j : j + 1] == np.asarray(lev)[None, :]).astype(np.float64)  # unseen level: all 0 (CAST)
        cols.append(dummies)
    enc = np.concatenate(cols, axis=1) if cols else np.empty((X.shape[0], 0))
    enc[nan_row] = np.nan
    return enc


def _mean_pairwise_distance(Z: np.ndarray) -> float:  # noqa: N803
    """Mean Euclidean distance over all pairs i ≠ j of the rows of ``Z`` (row blocks: O(n) memory)."""
    n = Z.shape[0]
    total = 0.0
    for r0 in range(0, n, _PAIR_ROWS):
        d = cdist(Z[r0 : r0 + _PAIR_ROWS], Z)
        total += float(d.sum(dtype=np.float64))  # the diagonal (self-distances) is 0
    return total / (n * (n - 1))


def _cv_nearest(Z: np.ndarray, folds: np.ndarray | None) -> np.ndarray:  # noqa: N803
    """Distance of each row to the nearest other row, of another fold when ``folds`` are given."""
    n = Z.shape[0]
    out = np.full(n, np.nan)
    if folds is None:
        dist, _ = cKDTree(Z).query(Z, k=2)
        return dist[:, 1]  # the first neighbour is the row itself (or a duplicate at distance 0)
    for f in np.unique(folds):
        inside = folds == f
        if inside.all():
            continue
        dist, _ = cKDTree(Z[~inside]).query(Z[inside], k=1)
        out[inside] = dist
    return out


#: Relative margin below the LPD radius: a distance equal to threshold × d̄ (the sample that set the
#: threshold) is not "below" it whatever the rounding of the product.
_LPD_MARGIN = 1e-9


def _count_within(tree: cKDTree, Z: np.ndarray, radius: float) -> np.ndarray:  # noqa: N803
    """Number of tree points at a distance below ``radius`` of each row of ``Z`` (ties excluded, as CAST's ``<``)."""
    if radius <= 0:
        return np.zeros(Z.shape[0], dtype=np.int64)
    counts = tree.query_ball_point(Z, radius * (1.0 - _LPD_MARGIN), return_length=True)
    return np.asarray(counts, dtype=np.int64)


def training_di(
    X_train: np.ndarray,  # noqa: N803
    weights: np.ndarray,
    folds: np.ndarray | None,
    *,
    categorical: Sequence[bool] | None = None,
    names: Sequence[str] | None = None,
    rule: str = "cast",
    lpd: bool = False,
) -> TrainDI:
    """The training side of the AOA (CAST's ``trainDI()``): ``d̄``, each training sample's DI and the threshold.

    Parameters
    ----------
    X_train : ndarray of shape (n_samples, n_factors)
        Factor values of the training samples (the model's units); no NaN.
        A categorical factor holds integer class codes.
    weights : ndarray of shape (n_factors,)
        Importance of each factor (e.g. permutation importance under spatial
        CV: drop of AUROC); negative values are set to 0. Ones = unweighted.
    folds : ndarray of shape (n_samples,) or None
        Cross-validation fold (any label) of each sample; a sample's DI is
        measured to the nearest sample of another fold. None: to the nearest
        other sample.
    categorical : sequence of bool, optional
        Which factors are categorical (one-hot encoded, see the module docstring).
    names : sequence of str, optional
        Factor names (for messages and to pick the stack's layers in :func:`aoa_map`).
    rule : {"cast", "whisker"}
        Threshold rule: ``"cast"`` = CAST ≥ 0.9.0 (``min(Q3 + 1.5 IQR, max DI)``,
        type-7 quantiles); ``"whisker"`` = the paper and CAST ≤ 0.7.0
        (largest DI not above the upper whisker with Tukey's hinges).
    lpd : bool
        Also compute the training samples' local point density.

    Raises
    ------
    SamplingError
        Fewer than two samples, NaN values, a factor without variance in
        training, or a single fold.
    StudyConfigError
        Weights, names, folds or ``categorical`` of the wrong length, or an unknown rule.
    """
    X = np.asarray(X_train, dtype=np.float64)  # noqa: N806
    if X.ndim != 2:
        raise SamplingError(f"AOA: training data must be a table (n_samples, n_factors), got shape {X.shape}")
    n, k = X.shape
    names = tuple(str(s) for s in names) if names is not None else tuple(f"f{j}" for j in range(k))
    categorical = tuple(bool(c) for c in categorical) if categorical is not None else (False,) * k
    w = np.asarray(weights, dtype=np.float64).ravel()
    for what, length in (("weights", w.size), ("names", len(names)), ("categorical", len(categorical))):
        if length != k:
            raise StudyConfigError(f"AOA: {length} {what} given for {k} factors")
    if rule not in THRESHOLD_RULES:
        raise StudyConfigError(f"AOA: threshold rule must be one of {', '.join(THRESHOLD_RULES)}, not {rule!r}")
    if n < 2:
        raise SamplingError(f"AOA: at least two training samples are needed, got {n}")
    if not np.isfinite(X).all():
        bad = [names[j] for j in range(k) if not np.isfinite(X[:, j]).all()]
        raise SamplingError(f"AOA: training data have missing values in {', '.join(bad)}")
    if not np.isfinite(w).all():
        raise StudyConfigError("AOA: weights must be finite numbers")
    w = np.clip(w, 0.0, None)
    fold_arr = None
    if folds is not None:
        fold_arr = np.asarray(folds).ravel()
        if fold_arr.size != n:
            raise StudyConfigError(f"AOA: {fold_arr.size} fold labels given for {n} training samples")
        if np.unique(fold_arr).size < 2:
            raise SamplingError("AOA: the folds hold one fold only; a cross-validated DI needs at least two")

    levels = tuple(_levels(X[:, j], names[j]) if categorical[j] else None for j in range(k))
    enc = _encode(X, categorical, levels)
    widths = [1 if lev is None else len(lev) for lev in levels]
    col_weights = np.repeat(w, widths)  # a categorical factor's whole weight on each of its levels (CAST)
    center = enc.mean(axis=0)
    scale = enc.std(axis=0, ddof=1)
    flat = ~(scale > 0)
    if flat.any():
        owner = np.repeat(np.arange(k), widths)
        owners = [names[j] for j in np.unique(owner[flat])]
        raise SamplingError(
            f"AOA: factor(s) {', '.join(owners)} have no variance in the training data "
            "(a categorical factor needs at least two classes among the samples)"
        )
    Z = (enc - center) / scale * col_weights  # noqa: N806
    mean_distance = _mean_pairwise_distance(Z)
    if not mean_distance > 0:
        raise SamplingError("AOA: all training samples coincide in the weighted factor space (all weights 0?)")
    di = _cv_nearest(Z, fold_arr) / mean_distance
    threshold = aoa_threshold(di, rule)
    train_lpd = None
    if lpd:
        train_lpd = _training_lpd(Z, fold_arr, threshold * mean_distance)
    return TrainDI(
        names=names,
        categorical=categorical,
        levels=levels,
        center=center,
        scale=scale,
        weights=col_weights,
        train=Z,
        mean_distance=float(mean_distance),
        train_di=di,
        threshold=threshold,
        rule=rule,
        folds=fold_arr,
        train_lpd=train_lpd,
    )


def _training_lpd(Z: np.ndarray, folds: np.ndarray | None, radius: float) -> np.ndarray:  # noqa: N803
    """LPD of each training sample: samples of other folds (any other sample without folds) within ``radius``."""
    n = Z.shape[0]
    if folds is None:
        return _count_within(cKDTree(Z), Z, radius) - 1  # minus the sample itself
    out = np.zeros(n, dtype=np.int64)
    for f in np.unique(folds):
        inside = folds == f
        out[inside] = _count_within(cKDTree(Z[~inside]), Z[inside], radius)
    return out


def dissimilarity_index(X: np.ndarray, train: TrainDI) -> np.ndarray:  # noqa: N803
    """DI of new points ``X`` (n, n_factors): distance to the nearest training sample / ``d̄``; NaN rows → NaN."""
    Z = train.transform(X)  # noqa: N806
    out = np.full(Z.shape[0], np.nan)
    ok = np.isfinite(Z).all(axis=1)
    if ok.any():
        dist, _ = train.tree.query(Z[ok], k=1)
        out[ok] = dist / train.mean_distance
    return out


def local_point_density(X: np.ndarray, train: TrainDI) -> np.ndarray:  # noqa: N803
    """LPD of new points ``X``: training samples whose distance / ``d̄`` is below the threshold; -1 for NaN rows.

    As CAST's ``aoa(LPD = TRUE)`` with ``maxLPD = 1`` (every training sample may count).
    """
    Z = train.transform(X)  # noqa: N806
    out = np.full(Z.shape[0], LPD_NODATA, dtype=np.int64)
    ok = np.isfinite(Z).all(axis=1)
    if ok.any():
        out[ok] = _count_within(train.tree, Z[ok], train.threshold * train.mean_distance)
    return out


@dataclass(frozen=True)
class AOAMaps:
    """Lazy (dask) maps of the AOA, each (height, width), chunked like the stack.

    ``di``: float32, NaN where a factor is NaN; ``aoa``: uint8, 1 inside, 0
    outside, :data:`AOA_NODATA` where a factor is NaN; ``lpd``: int32 counts,
    :data:`LPD_NODATA` where a factor is NaN (None unless asked for).
    """

    di: da.Array
    aoa: da.Array
    lpd: da.Array | None = None


def _di_block(block: np.ndarray, train: TrainDI, with_lpd: bool) -> np.ndarray:
    """(1 or 2, h, w) float64 block: DI (NaN = nodata) and, with ``with_lpd``, the LPD (-1 = nodata)."""
    rows = block.reshape(block.shape[0], -1).T
    valid = np.isfinite(rows).all(axis=1)
    out = np.full((2 if with_lpd else 1, rows.shape[0]), np.nan)
    if with_lpd:
        out[1] = LPD_NODATA
    if valid.any():
        out[0, valid] = dissimilarity_index(rows[valid], train)
        if with_lpd:
            out[1, valid] = local_point_density(rows[valid], train)
    return out.reshape((out.shape[0], *block.shape[1:]))


def _stack_factors(stack: Stack, train: TrainDI) -> da.Array:
    """The stack's layers in the training data's order (by name when every training name is a layer)."""
    names = stack.names
    if all(n in names for n in train.names):
        data = stack.data.sel(factor=list(train.names)).data
    elif len(names) == train.n_factors:
        data = stack.data.data
    else:
        missing = [n for n in train.names if n not in names]
        raise StudyConfigError(
            f"AOA: the stack has no layer {', '.join(missing)} (layers: {', '.join(names)}) "
            f"and {len(names)} layers for {train.n_factors} training factors"
        )
    return data


def aoa_map(stack: Stack, train: TrainDI, *, chunk_rows: int | None = None, lpd: bool = False) -> AOAMaps:
    """Lazy DI, AOA (and LPD) maps of ``stack``, block by block (nothing is computed here).

    ``chunk_rows``: rows (and columns) per block, else the stack's chunks. A
    block costs ``n_factors × c² × 8`` bytes plus one KD-tree query per valid cell.
    """
    data = _stack_factors(stack, train)
    chunks: dict[int, int] = {0: -1}
    if chunk_rows is not None:
        if int(chunk_rows) < 1:
            raise StudyConfigError(f"AOA: chunk_rows must be a positive number of rows, not {chunk_rows}")
        chunks.update({1: int(chunk_rows), 2: int(chunk_rows)})
    if data.numblocks[0] != 1 or chunk_rows is not None:
        data = data.rechunk(chunks)
    n_out = 2 if lpd else 1
    both = data.map_blocks(
        _di_block,
        train,
        lpd,
        chunks=((n_out,), *data.chunks[1:]),
        dtype=np.float64,
        meta=np.empty((0, 0, 0), np.float64),
    )
    di = both[0]
    aoa = da.where(da.isnan(di), AOA_NODATA, da.where(di > train.threshold, 0, 1)).astype(np.uint8)
    lpd_map = both[1].astype(np.int32) if lpd else None
    return AOAMaps(di=di.astype(np.float32), aoa=aoa, lpd=lpd_map)


@dataclass(frozen=True)
class AOAResult:
    """What :func:`write_aoa` wrote and counted."""

    di_path: Path
    aoa_path: Path
    lpd_path: Path | None
    cells_inside: int
    cells_outside: int
    threshold: float
    mean_distance: float

    @property
    def share_outside(self) -> float:
        """Share of the valid cells outside the AOA (0–1); NaN when no cell is valid."""
        total = self.cells_inside + self.cells_outside
        return self.cells_outside / total if total else float("nan")


def _count_aoa(path: Path) -> tuple[int, int]:
    """Cells inside (1) and outside (0) in ``aoa.tif``, read block by block."""
    inside = outside = 0
    with rasterio.open(path) as src:
        for _, window in src.block_windows(1):
            a = src.read(1, window=window)
            inside += int(np.count_nonzero(a == 1))
            outside += int(np.count_nonzero(a == 0))
    return inside, outside


def write_aoa(
    stack: Stack,
    train: TrainDI,
    folder: Path,
    *,
    lpd: bool = False,
    compress: str = "deflate",
    chunk_rows: int | None = None,
) -> AOAResult:
    """Write ``di.tif`` (float32, NaN nodata), ``aoa.tif`` (uint8: 1 inside, 0 outside, 255 nodata)
    and, with ``lpd``, ``lpd.tif`` (int32, -1 nodata) into ``folder``, in one chunked pass.

    The files carry the threshold, ``d̄`` and the rule as tags. Returns the
    paths and the count of valid cells inside and outside the AOA
    (:attr:`AOAResult.share_outside`).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    maps = aoa_map(stack, train, chunk_rows=chunk_rows, lpd=lpd)
    tags = {
        "threshold": repr(train.threshold),
        "mean_distance": repr(train.mean_distance),
        "threshold_rule": train.rule,
        "factors": ",".join(train.names),
        "weights": ",".join(repr(float(w)) for w in train.weights),
        "method": "Meyer & Pebesma 2021 (doi:10.1111/2041-210X.13650), as CAST aoa()",
    }
    targets = [
        RasterTarget(
            folder / "di.tif",
            maps.di,
            "float32",
            np.nan,
            "dissimilarity index: distance to the nearest training sample / mean training distance",
            {**tags, "units": "dimensionless"},
            compress,
        ),
        RasterTarget(
            folder / "aoa.tif",
            maps.aoa,
            "uint8",
            AOA_NODATA,
            f"area of applicability: 1 inside (DI <= {train.threshold:.4g}), 0 outside",
            tags,
            compress,
            "nearest",
        ),
    ]
    if lpd and maps.lpd is not None:
        targets.append(
            RasterTarget(
                folder / "lpd.tif",
                maps.lpd,
                "int32",
                LPD_NODATA,
                "local point density: training samples within the DI threshold",
                tags,
                compress,
                "nearest",
            )
        )
    write_lazy_rasters(targets, stack.grid)
    inside, outside = _count_aoa(folder / "aoa.tif")
    return AOAResult(
        di_path=folder / "di.tif",
        aoa_path=folder / "aoa.tif",
        lpd_path=folder / "lpd.tif" if lpd else None,
        cells_inside=inside,
        cells_outside=outside,
        threshold=train.threshold,
        mean_distance=train.mean_distance,
    )


def _read_decimated(path: Path, shape: tuple[int, int] | None, max_pixels: int):
    with rasterio.open(path) as src:
        if shape is None:
            scale = max(1.0, max(src.height, src.width) / max_pixels)
            shape = (max(1, round(src.height / scale)), max(1, round(src.width / scale)))
        a = src.read(1, out_shape=shape, resampling=Resampling.nearest)
        left, bottom, right, top = src.bounds
        tags = src.tags()
    return a, shape, (left, right, bottom, top), tags


def plot_aoa(
    class_path: Path,
    aoa_path: Path,
    out_png: Path,
    *,
    dem: np.ndarray | None = None,
    title: str = "Susceptibility and area of applicability",
    max_pixels: int = 1200,
) -> float:
    """Classified map (1..k, 0 = nodata) with the cells outside the AOA greyed and hatched.

    ``aoa_path`` is an ``aoa.tif`` of :func:`write_aoa` on the same grid;
    ``dem`` (any shape) is drawn as a hillshade beneath. Both rasters are read
    decimated (at most ``max_pixels`` on the long side). Returns the share of
    the figure's valid cells outside the AOA.
    """
    cls, shape, extent, tags = _read_decimated(class_path, None, max_pixels)
    aoa, _, _, _ = _read_decimated(aoa_path, shape, max_pixels)
    k = len([t for t in tags.get("classes", "").split(",") if t.strip()]) or max(int(cls.max()), 1)
    outside = aoa == 0
    valid = (aoa == 0) | (aoa == 1)
    share = float(outside.sum() / valid.sum()) if valid.any() else float("nan")
    fig, ax = plt.subplots(figsize=(8, 8 * shape[0] / shape[1] + 0.5), dpi=120)
    if dem is not None:
        shade = hillshade(dem.astype(float), cellsize=(extent[1] - extent[0]) / dem.shape[1])
        shade = np.where(np.isfinite(dem), shade, np.nan)
        ax.imshow(shade, cmap="gray", extent=extent, interpolation="bilinear", vmin=0, vmax=1)
    colors = draw_classes(ax, cls, k, extent, over_hillshade=dem is not None)
    ax.imshow(
        np.ma.masked_where(~outside, outside.astype(float)),
        cmap=ListedColormap(["#7f7f7f"]),
        extent=extent,
        interpolation="nearest",
        alpha=0.75,
    )
    if outside.any():
        ys = np.linspace(extent[3], extent[2], shape[0])
        xs = np.linspace(extent[0], extent[1], shape[1])
        ax.contourf(xs, ys, outside.astype(float), levels=[0.5, 1.5], colors="none", hatches=["////"])
    handles = [Patch(facecolor=c, edgecolor="0.3", label=n) for c, n in zip(colors, class_names(k), strict=True)]
    handles.append(Patch(facecolor="#7f7f7f", edgecolor="0.3", hatch="////", label=f"outside AOA ({share:.1%})"))
    ax.legend(handles=handles, loc="lower left", fontsize=8, framealpha=0.85, title="susceptibility")
    style_map_axes(ax, title)
    fig.tight_layout()
    fig.savefig(out_png, metadata={"Software": None})
    plt.close(fig)
    return share
