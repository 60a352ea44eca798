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

Input checking and categorical design matrices come from
:mod:`susmap.analysis.factor_table`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from susmap.analysis.factor_table import (
    continuous_values,
    design_matrix,
    factor_frame,
    factor_kinds,
    missing_rows,
)

__all__ = ["correlation_table", "vif_table"]

#: A tolerance (1 − R²) at or below this is taken as exact collinearity: VIF = inf.
EXACT_COLLINEARITY_TOL = 1e-12

VIF_COLUMNS = ("factor", "kind", "df", "VIF", "tolerance", "VIF_df", "flag")


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
    frame = factor_frame(X, names, where)
    if frame.shape[1] < 2:
        raise ValueError(f"{where}: a VIF needs at least two factors, got {list(frame.columns)}")
    kind_of = factor_kinds(frame, kinds, where)
    frame = frame.loc[~missing_rows(frame, kind_of)]
    design, owner = design_matrix(frame, kind_of, drop_first=True)
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
    frame = factor_frame(X, names, where)
    kind_of = factor_kinds(frame, kinds, where)
    cont = [n for n in frame.columns if kind_of[n] == "continuous"]
    if not cont:
        raise ValueError(f"{where}: no continuous factor among {list(frame.columns)}")
    values = pd.DataFrame({n: continuous_values(frame[n]) for n in cont})
    values = values.where(np.isfinite(values))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = values.corr(method="pearson")
    corr.index.name = None
    corr.columns.name = None
    corr.attrs["n_samples"] = len(frame)
    return corr
