"""The sample table as the factor analyses read it: checked frames, labels, kinds, design matrices.

Shared input handling of :mod:`susmap.analysis.multicollinearity`,
:mod:`susmap.analysis.importance`, :mod:`susmap.analysis.selection` and
:mod:`susmap.analysis.framework_sweep`: factor columns by name, the kind of
each factor (continuous or categorical), 0/1 labels, rows with missing
values, and design matrices with categorical factors as indicator columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "binary_labels",
    "category_codes",
    "check_complete",
    "continuous_values",
    "design_matrix",
    "factor_frame",
    "factor_kinds",
    "missing_rows",
    "model_input",
    "take_rows",
]


def factor_frame(
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


def factor_kinds(frame: pd.DataFrame, kinds: Mapping[str, str] | None, where: str) -> dict[str, str]:
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


def binary_labels(y: Any, n: int, where: str, *, both: bool = True) -> np.ndarray:
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


def category_codes(col: pd.Series) -> np.ndarray:
    """Class codes 0..k-1 of a categorical column (classes sorted), -1 for missing."""
    codes, _ = pd.factorize(col, sort=True, use_na_sentinel=True)
    return codes


def continuous_values(col: pd.Series) -> np.ndarray:
    """A continuous column as float64, missing values as NaN."""
    return col.to_numpy(dtype=np.float64, na_value=np.nan)


def missing_rows(frame: pd.DataFrame, kinds: Mapping[str, str]) -> np.ndarray:
    """Boolean mask of rows with a missing value in any factor (NaN, or no class)."""
    miss = np.zeros(len(frame), dtype=bool)
    for name in frame.columns:
        if kinds[name] == "categorical":
            miss |= category_codes(frame[name]) < 0
        else:
            miss |= ~np.isfinite(continuous_values(frame[name]))
    return miss


def design_matrix(frame: pd.DataFrame, kinds: Mapping[str, str], *, drop_first: bool) -> tuple[np.ndarray, np.ndarray]:
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
            codes = category_codes(frame[name])
            k = int(codes.max()) + 1 if codes.size and codes.max() >= 0 else 0
            for c in range(1 if drop_first else 0, k):
                cols.append((codes == c).astype(np.float64))
                owner.append(j)
        else:
            cols.append(continuous_values(frame[name]))
            owner.append(j)
    design = np.column_stack(cols) if cols else np.empty((len(frame), 0))
    return design, np.asarray(owner, dtype=np.int64)


def take_rows(X: Any, rows: np.ndarray) -> Any:  # noqa: N803
    """Rows ``rows`` (positions) of a DataFrame or an array."""
    return X.iloc[rows] if isinstance(X, pd.DataFrame) else X[rows]


def check_complete(X: Any, where: str) -> None:  # noqa: N803
    """Refuse ``X`` with any missing value (ValueError naming ``where``)."""
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
    if frame.isna().to_numpy().any():
        raise ValueError(f"{where}: X holds missing values; drop incomplete samples before cross-validation")


def model_input(X: Any, names: Sequence[str] | None, where: str) -> tuple[Any, list[str]]:  # noqa: N803
    """X as the pipeline sees it (DataFrame columns in ``names`` order, or the array) and the names."""
    frame = factor_frame(X, names, where)
    names = list(frame.columns)
    data = frame if isinstance(X, pd.DataFrame) else np.asarray(X)
    check_complete(data, where)
    return data, names
