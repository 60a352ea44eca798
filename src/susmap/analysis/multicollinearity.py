"""Multicollinearity of factors: variance inflation factor, tolerance, Pearson correlation.

Paper 003 (Band et al. 2020, section 2.4 and Table 3) screens its factors
with the tolerance ``TOL = 1 − R²_j`` and the variance inflation factor
``VIF = 1 / TOL``, where ``R²_j`` is the coefficient of determination of
factor j regressed on all the others, and drops factors with ``TOL ≤ 0.1``
or ``VIF ≥ 10`` (the paper also mentions the stricter 0.2 / 5 rule, which
``vif_threshold=5`` gives). All functions here work on the sample table
(plain arrays or DataFrames), never on rasters; the correlation matrix
over every valid cell of a factor stack is
:func:`susmap.factors.summary.correlation_matrix`.

The private helpers at the top (input checking, categorical design
matrices) are shared by :mod:`susmap.analysis.importance` and
:mod:`susmap.analysis.selection`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["correlation_table", "vif_table"]

#: A tolerance (1 − R²) at or below this is taken as exact collinearity: VIF = inf.
EXACT_COLLINEARITY_TOL = 1e-12

VIF_COLUMNS = ("factor", "kind", "df", "VIF", "tolerance", "VIF_df", "flag")


# --------------------------------------------------------------------------- shared input helpers


def _factor_frame(
    X: Any,  # noqa: N803
    names: Sequence[str] | None,
    where: str,
) -> pd.DataFrame:
    """``X`` as a DataFrame with one column per factor, in ``names`` order.

    A DataFrame is subset to ``names`` (default: all its columns); a 2-D
    array needs ``names`` with one name per column.
    """
    if isinstance(X, pd.DataFrame):
        if names is None:
            names = [str(c) for c in X.columns]
        names = list(names)
        missing = [n for n in names if n not in X.columns]
        if missing:
            known = ", ".join(map(str, X.columns))
            raise ValueError(f"{where}: X has no column(s) {', '.join(map(repr, missing))} (columns: {known})")
        frame = X.loc[:, names].reset_index(drop=True)
    else:
        arr = np.asarray(X)
        if arr.ndim != 2:
            raise ValueError(f"{where}: X must be 2-D (samples, factors), got an array of shape {arr.shape}")
        if names is None:
            raise ValueError(f"{where}: X is an array, so names (one per column) must be given")
        names = list(names)
        if len(names) != arr.shape[1]:
            raise ValueError(f"{where}: {len(names)} names for an X with {arr.shape[1]} columns")
        frame = pd.DataFrame(arr, columns=names)
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: names holds a factor twice: {names}")
    if not names:
        raise ValueError(f"{where}: no factor given")
    return frame


def _factor_kinds(frame: pd.DataFrame, kinds: Mapping[str, str] | None, where: str) -> dict[str, str]:
    """Kind of every factor: ``kinds`` first, else categorical for non-numeric or boolean columns."""
    kinds = dict(kinds or {})
    out: dict[str, str] = {}
    for name in frame.columns:
        kind = kinds.get(name)
        if kind is None:
            col = frame[name]
            numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
            kind = "continuous" if numeric else "categorical"
        if kind not in ("continuous", "categorical"):
            raise ValueError(f"{where}: kind of {name!r} must be 'continuous' or 'categorical', got {kind!r}")
        if kind == "continuous" and not pd.api.types.is_numeric_dtype(frame[name]):
            raise ValueError(f"{where}: factor {name!r} is not numeric; declare it categorical in kinds")
        out[name] = kind
    return out


def _binary_labels(y: Any, n: int, where: str, *, both: bool = True) -> np.ndarray:
    """``y`` as int 0/1 (bool and 0/1 numbers accepted), one per sample."""
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{where}: y must hold one label per sample ({n}), got shape {arr.shape}")
    if arr.dtype == bool:
        labels = arr.astype(np.int64)
    else:
        try:
            values = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: y must be 0/1 or boolean, got values such as {arr[:3].tolist()}") from None
        if not np.isin(values, (0.0, 1.0)).all():
            bad = np.unique(values[~np.isin(values, (0.0, 1.0))])[:5]
            raise ValueError(f"{where}: y must be 0/1 (1 = event), found {bad.tolist()}")
        labels = values.astype(np.int64)
    if both and np.unique(labels).size < 2:
        raise ValueError(
            f"{where}: y holds one class only ({int(labels[0]) if n else 'empty'}); need events and non-events"
        )
    return labels


def _codes(col: pd.Series) -> np.ndarray:
    """Class codes 0..k-1 of a categorical column (classes sorted), -1 for missing."""
    codes, _ = pd.factorize(col, sort=True, use_na_sentinel=True)
    return codes


def _continuous_values(col: pd.Series) -> np.ndarray:
    return col.to_numpy(dtype=np.float64, na_value=np.nan)


def _missing_rows(frame: pd.DataFrame, kinds: Mapping[str, str]) -> np.ndarray:
    miss = np.zeros(len(frame), dtype=bool)
    for name in frame.columns:
        if kinds[name] == "categorical":
            miss |= _codes(frame[name]) < 0
        else:
            miss |= ~np.isfinite(_continuous_values(frame[name]))
    return miss


def _design(frame: pd.DataFrame, kinds: Mapping[str, str], *, drop_first: bool) -> tuple[np.ndarray, np.ndarray]:
    """Numeric design matrix and the factor index of each of its columns.

    Continuous factors are one column each; a categorical factor with k
    classes (present in ``frame``) is k one-hot columns, or k − 1 with
    ``drop_first`` (the first class is the reference, as a regression with
    an intercept needs).
    """
    cols: list[np.ndarray] = []
    owner: list[int] = []
    for j, name in enumerate(frame.columns):
        if kinds[name] == "categorical":
            codes = _codes(frame[name])
            k = int(codes.max()) + 1 if codes.size and codes.max() >= 0 else 0
            for c in range(1 if drop_first else 0, k):
                cols.append((codes == c).astype(np.float64))
                owner.append(j)
        else:
            cols.append(_continuous_values(frame[name]))
            owner.append(j)
    design = np.column_stack(cols) if cols else np.empty((len(frame), 0))
    return design, np.asarray(owner, dtype=np.int64)


# --------------------------------------------------------------------------- VIF


def _orthonormal_basis(a: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the column space of the centred columns ``a`` (rank-revealing SVD)."""
    if a.shape[1] == 0:
        return np.empty((a.shape[0], 0))
    a = a - a.mean(axis=0)
    norms = np.linalg.norm(a, axis=0)
    a = a[:, norms > 0] / norms[norms > 0]  # unit columns: the rank cut is scale-free
    if a.shape[1] == 0:
        return np.empty((a.shape[0], 0))
    u, s, _ = np.linalg.svd(a, full_matrices=False)
    cut = s[0] * max(a.shape) * np.finfo(np.float64).eps
    return u[:, s > cut]


def _block_tolerance(block: np.ndarray, rest: np.ndarray) -> float:
    """Tolerance of a block of columns given the other columns and an intercept.

    With ``Q1``, ``Q2`` orthonormal bases of the centred block and of the
    centred other columns, the residual of ``Q1`` after regression on ``Q2``
    has singular values ``sqrt(1 − ρ_i²)`` (``ρ_i`` the canonical
    correlations), so the product of their squares is
    ``det(R) / (det(R11) det(R22)) = 1 / GVIF`` (Fox & Monette 1992); for a
    single column it is ``1 − R²``. Rank deficiency among the other columns
    is harmless (their basis simply has fewer columns).
    """
    q1 = _orthonormal_basis(block)
    if q1.shape[1] == 0:  # a constant factor: collinear with the intercept
        return 0.0
    q2 = _orthonormal_basis(rest)
    resid = q1 - q2 @ (q2.T @ q1) if q2.shape[1] else q1
    sv = np.linalg.svd(resid, compute_uv=False)
    return float(np.clip(np.prod(sv**2), 0.0, 1.0))


def vif_table(
    X: Any,  # noqa: N803
    names: Sequence[str] | None = None,
    *,
    kinds: Mapping[str, str] | None = None,
    vif_threshold: float = 10.0,
) -> pd.DataFrame:
    """Variance inflation factor and tolerance of every factor (paper 003, Table 3).

    ``VIF_j = 1 / (1 − R²_j)`` and ``tolerance_j = 1 − R²_j = 1 / VIF_j``,
    with ``R²_j`` from the least-squares regression of factor j on all the
    other factors and an intercept. A factor is flagged as collinear when
    ``VIF ≥ vif_threshold`` or ``tolerance ≤ 1 / vif_threshold`` (the
    0.1 / 10 rule of paper 003; both conditions are the same test, stated
    twice as the paper does).

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_samples, n_factors)
        Factor values at the samples.
    names : sequence of str, default=None
        Factor names: the columns to use of a DataFrame (default: all), or
        one name per column of an array (required then).
    kinds : mapping of {str: {"continuous", "categorical"}}, default=None
        Kind of each factor. Unlisted factors are continuous if numeric
        (not boolean), else categorical.
    vif_threshold : float, default=10.0
        VIF at or above which a factor is flagged (5 for the stricter rule).

    Returns
    -------
    table : pandas.DataFrame
        One row per factor, in input order, with columns ``factor, kind,
        df, VIF, tolerance, VIF_df, flag``. ``df`` is 1 for a continuous
        factor and k − 1 for a categorical one with k classes;
        ``VIF_df = VIF ** (1 / df)`` (equal to VIF for continuous factors)
        is what the flag compares with ``vif_threshold``.
        ``attrs["n_samples"]`` holds the number of complete rows used.

    Raises
    ------
    ValueError
        Bad shapes or names, fewer than two factors, a threshold ≤ 1, or
        fewer complete rows than design columns + 2.

    Notes
    -----
    Exact collinearity (a factor that is a linear combination of others,
    or a constant one, which is collinear with the intercept) gives
    ``VIF = inf``, ``tolerance = 0`` and a flag: no matrix is inverted, the
    tolerance comes from the residuals of an orthonormal (rank-revealing
    SVD) basis, and a tolerance at or below
    :data:`EXACT_COLLINEARITY_TOL` (VIF above 1e12) is reported as exact.

    Categorical factors enter as one-hot blocks (k − 1 indicator columns,
    first class as reference) and get the generalised VIF of Fox & Monette
    (1992), ``GVIF = det(R11) det(R22) / det(R)``, computed the same way;
    ``VIF_df = GVIF ** (1 / df)`` (the square of Fox & Monette's
    ``GVIF^(1/(2 df))``) makes blocks of different sizes comparable with
    the 10 rule. For continuous factors GVIF is the ordinary VIF.

    Rows with a missing value (NaN, or a missing class) in any factor are
    left out. Cost: one SVD of the design per factor, O(p · n · p²).

    References
    ----------
    Band, S. S. et al. (2020). Novel ensemble approach of deep learning
    neural network (DLNN) model and particle swarm optimization (PSO)
    algorithm for prediction of gully erosion susceptibility. Sensors 20,
    5609 (paper 003, section 2.4, Table 3).
    Fox, J., Monette, G. (1992). Generalized collinearity diagnostics.
    Journal of the American Statistical Association 87, 178-183.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(2, 200))
    >>> t = vif_table(np.column_stack([a, b, a + b]), ["a", "b", "a_plus_b"])
    >>> t["VIF"].tolist(), t["flag"].tolist()
    ([inf, inf, inf], [True, True, True])
    """
    where = "vif_table"
    if not np.isfinite(vif_threshold) or vif_threshold <= 1:
        raise ValueError(f"{where}: vif_threshold must be a number above 1 (a VIF is ≥ 1), got {vif_threshold!r}")
    frame = _factor_frame(X, names, where)
    if frame.shape[1] < 2:
        raise ValueError(f"{where}: a VIF needs at least two factors, got {list(frame.columns)}")
    kind_of = _factor_kinds(frame, kinds, where)
    frame = frame.loc[~_missing_rows(frame, kind_of)]
    design, owner = _design(frame, kind_of, drop_first=True)
    n = design.shape[0]
    if n < design.shape[1] + 2:
        raise ValueError(
            f"{where}: {n} complete rows for {design.shape[1]} design columns; a VIF needs at least columns + 2 rows"
        )
    rows = []
    for j, name in enumerate(frame.columns):
        in_block = owner == j
        tol = _block_tolerance(design[:, in_block], design[:, ~in_block])
        df = int(in_block.sum())
        if tol <= EXACT_COLLINEARITY_TOL:
            tol, vif = 0.0, np.inf
        else:
            vif = 1.0 / tol
        vif_df = vif ** (1.0 / max(df, 1))
        flag = bool(vif_df >= vif_threshold or tol ** (1.0 / max(df, 1)) <= 1.0 / vif_threshold)
        rows.append((name, kind_of[name], df, vif, tol, vif_df, flag))
    table = pd.DataFrame(rows, columns=list(VIF_COLUMNS))
    table.attrs["n_samples"] = int(n)
    table.attrs["vif_threshold"] = float(vif_threshold)
    return table


def correlation_table(
    X: Any,  # noqa: N803
    names: Sequence[str] | None = None,
    *,
    kinds: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Pearson correlation matrix of the continuous factors at the samples.

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_samples, n_factors)
        Factor values at the samples.
    names : sequence of str, default=None
        As in :func:`vif_table`.
    kinds : mapping of {str: str}, default=None
        As in :func:`vif_table`. Categorical factors are left out: a
        Pearson coefficient of class codes has no meaning (their
        collinearity is in :func:`vif_table`'s generalised VIF).

    Returns
    -------
    corr : pandas.DataFrame of shape (k, k)
        ``r`` between factors (index and columns = factor names), each pair
        on the rows where both are finite; NaN for a constant factor.
        ``attrs["n_samples"]`` holds the number of rows of ``X``.

    Raises
    ------
    ValueError
        Bad shapes or names, or no continuous factor.

    See Also
    --------
    susmap.factors.summary.plot_correlation : heat map of this matrix.
    """
    where = "correlation_table"
    frame = _factor_frame(X, names, where)
    kind_of = _factor_kinds(frame, kinds, where)
    cont = [n for n in frame.columns if kind_of[n] == "continuous"]
    if not cont:
        raise ValueError(f"{where}: no continuous factor among {list(frame.columns)}")
    values = pd.DataFrame({n: _continuous_values(frame[n]) for n in cont})
    values = values.where(np.isfinite(values))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = values.corr(method="pearson")
    corr.index.name = None
    corr.columns.name = None
    corr.attrs["n_samples"] = len(frame)
    return corr
