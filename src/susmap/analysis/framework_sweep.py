"""Framework-setting sweep: test scores as one setting of a model varies (paper 001 section 4.1, Table 4).

Paper 001 tunes its stacked sparse autoencoder one setting at a time
(hidden units, hidden layers, learning rate, iterations), training and
testing each value several times on random 70/30 splits and reporting the
mean ± standard deviation of OA, precision and recall in percent (Table 4:
learning rates 0.0001 ... 0.8 in columns, scores in rows, cells such as
"80.35 ± 0.40"). :func:`framework_sweep` runs that experiment for any
estimator factory and any settings, and :func:`sweep_table` lays the result
out as the paper's table.

Every value of every setting is scored on the same ``repeats`` stratified
random splits (drawn once from ``seed``), and the estimator of repeat r is
built with ``seed + r``, so differences between values come from the
setting, not from different splits or initial weights.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedShuffleSplit

from susmap.analysis.factor_table import binary_labels
from susmap.errors import SusmapWarning
from susmap.validation.metrics import resolve_metric, score_all

__all__ = ["SWEEP_COLUMNS", "framework_sweep", "sweep_table"]

#: Columns of the long table returned by :func:`framework_sweep`.
SWEEP_COLUMNS = ("parameter", "value", "metric", "mean", "sd", "n")

#: Scores that are proportions, shown in percent by :func:`sweep_table`.
_PROPORTIONS = frozenset({"accuracy", "precision", "recall", "specificity", "f1", "npv", "mpcd", "auroc"})

#: How the papers write some score names in table rows.
_DISPLAY = {
    "oa": "OA",
    "auroc": "AUROC",
    "auc": "AUC",
    "f1": "F1",
    "mpcd": "MPCD",
    "npv": "NPV",
    "ppv": "PPV",
    "sst": "SST",
    "spf": "SPF",
    "mse": "MSE",
    "rmse": "RMSE",
    "mae": "MAE",
    "mape": "MAPE",
}


def take_rows(X: Any, rows: np.ndarray) -> Any:  # noqa: N803
    return X.iloc[rows] if isinstance(X, pd.DataFrame) else np.asarray(X)[rows]


def _event_probability(model: Any, X: Any) -> np.ndarray:  # noqa: N803
    """P(event) of each row: the ``predict_proba`` column of class 1 (or True)."""
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    classes = list(getattr(model, "classes_", [0, 1]))
    col = next((i for i, c in enumerate(classes) if c == 1), proba.shape[1] - 1)
    return proba[:, col]


def _check_vary(vary: Mapping[str, Sequence[Any]], base_params: Mapping[str, Any]) -> dict[str, list[Any]]:
    if not isinstance(vary, Mapping) or not vary:
        raise ValueError("framework_sweep: vary must be a non-empty mapping {parameter: [values]}")
    out = {}
    for param, values in vary.items():
        if not isinstance(param, str):
            raise ValueError(f"framework_sweep: parameter names must be strings, got {param!r}")
        if param == "seed":
            raise ValueError("framework_sweep: 'seed' cannot be varied; it is set per repeat (seed + repeat)")
        if isinstance(values, str) or not isinstance(values, Iterable):
            raise ValueError(f"framework_sweep: vary[{param!r}] must be a list of values, got {values!r}")
        values = list(values)
        if not values:
            raise ValueError(f"framework_sweep: vary[{param!r}] holds no value")
        out[param] = values
    if "seed" in base_params:
        raise ValueError("framework_sweep: base_params may not hold 'seed'; pass seed= instead")
    return out


def framework_sweep(
    make_estimator: Callable[..., Any],
    X: Any,  # noqa: N803
    y: Any,
    vary: Mapping[str, Sequence[Any]],
    *,
    base_params: Mapping[str, Any] | None = None,
    repeats: int = 5,
    test_size: float = 0.3,
    seed: int = 0,
    metrics: Sequence[str] = ("oa", "precision", "recall"),
    threshold: float = 0.5,
) -> pd.DataFrame:
    """Mean and sd of test scores for each value of each setting, one setting varied at a time (paper 001 Table 4).

    For every parameter ``p`` and value ``v`` of ``vary``, and every repeat
    r = 0 .. repeats - 1, the estimator
    ``make_estimator(**{**base_params, p: v, "seed": seed + r})`` is fitted
    on the training part of split r and scored on its test part. The
    splits are stratified random splits (``test_size`` of the rows held
    out, 0.3 as paper 001's 70/30), drawn once from ``seed`` and shared by
    every value. A fit that diverges (``FloatingPointError``, e.g. too large
    a learning rate) scores NaN for that repeat, with a warning.

    Parameters
    ----------
    make_estimator : callable
        ``make_estimator(**params)`` returns an unfitted classifier with
        ``fit`` and ``predict_proba`` that accepts a ``seed`` keyword, e.g.
        :class:`susmap.models.sae.StackedSparseAutoencoderClassifier`.
    X : array-like or pandas.DataFrame, shape (n_samples, n_factors)
        Factor table (complete rows).
    y : array-like of shape (n_samples,)
        0/1 or boolean labels, 1 = event.
    vary : mapping of {str: sequence}
        Settings to vary and their values, e.g.
        ``{"learning_rate": [1e-4, 1e-3, 1e-2, 0.1, 0.8]}``.
    base_params : mapping, optional
        Settings shared by every fit (the others held fixed).
    repeats : int
        Random splits (and seeds) per value; paper 001 repeats its
        comparisons (Table 5: 20 times).
    test_size : float
        Share of the rows in each test part, in (0, 1).
    seed : int
        Seeds the splits; repeat r builds the estimator with ``seed + r``.
    metrics : sequence of str
        Score names or aliases of :func:`susmap.validation.metrics.score_all`
        ("oa" is accuracy); the ``metric`` column keeps the names given.
    threshold : float
        Probability at or above which a row is predicted as event.

    Returns
    -------
    pandas.DataFrame
        Long table with columns :data:`SWEEP_COLUMNS`: ``parameter``,
        ``value`` (as given), ``metric``, ``mean`` and ``sd`` (sample
        standard deviation, ddof = 1) of the scores over repeats (as
        fractions, not percent) and ``n`` the number of finite scores;
        rows in the order of ``vary``, its values and ``metrics``.
        ``frame.attrs["scores"]`` holds the score of every repeat.

    Examples
    --------
    >>> from susmap.models.sae import StackedSparseAutoencoderClassifier  # doctest: +SKIP
    >>> frame = framework_sweep(StackedSparseAutoencoderClassifier, X, y,  # doctest: +SKIP
    ...                         {"learning_rate": [1e-4, 1e-3, 1e-2, 0.1, 0.8]})
    >>> sweep_table(frame)  # doctest: +SKIP
    """
    base = dict(base_params or {})
    values_of = _check_vary(vary, base)
    if int(repeats) < 1:
        raise ValueError(f"framework_sweep: repeats must be >= 1, not {repeats}")
    if not 0.0 < float(test_size) < 1.0:
        raise ValueError(f"framework_sweep: test_size must be in (0, 1), not {test_size}")
    if isinstance(metrics, str):
        metrics = (metrics,)
    labels = list(dict.fromkeys(metrics))
    if not labels:
        raise ValueError("framework_sweep: metrics holds no name")
    canonical = [resolve_metric(m) for m in labels]
    n = X.shape[0] if hasattr(X, "shape") else len(X)
    y_int = binary_labels(y, n, "framework_sweep")
    counts = np.bincount(y_int, minlength=2)
    n_test = math.ceil(float(test_size) * n)
    if counts.min() < 2 or n_test < 2 or n - n_test < 2:
        raise ValueError(
            f"framework_sweep: {n} rows ({counts[1]} events, {counts[0]} non-events) are too few "
            f"for stratified {1 - test_size:.0%}/{test_size:.0%} splits; need at least 2 of each class in each part"
        )
    splitter = StratifiedShuffleSplit(n_splits=int(repeats), test_size=float(test_size), random_state=int(seed))
    splits = list(splitter.split(np.zeros((n, 1)), y_int))

    score_rows = []
    rows = []
    for param, values in values_of.items():
        for value in values:
            per_metric: dict[str, list[float]] = {label: [] for label in labels}
            for r, (train, test) in enumerate(splits):
                params = {**base, param: value, "seed": int(seed) + r}
                try:
                    model = make_estimator(**params)
                    model.fit(take_rows(X, train), y_int[train])
                    prob = _event_probability(model, take_rows(X, test))
                    scores = score_all(y_int[test].astype(bool), prob, threshold, canonical)
                except FloatingPointError as err:
                    warnings.warn(
                        f"framework_sweep: {param}={value!r}, repeat {r}: fit diverged ({err}); scored NaN",
                        SusmapWarning,
                        stacklevel=2,
                    )
                    scores = dict.fromkeys(canonical, math.nan)
                for label, name in zip(labels, canonical, strict=True):
                    score_rows.append((param, value, label, r, scores[name]))
                    per_metric[label].append(scores[name])
            for label in labels:
                s = np.asarray(per_metric[label], dtype=np.float64)
                s = s[np.isfinite(s)]
                mean = float(s.mean()) if s.size else math.nan
                sd = float(s.std(ddof=1)) if s.size > 1 else math.nan
                rows.append((param, value, label, mean, sd, int(s.size)))
    frame = pd.DataFrame(rows, columns=list(SWEEP_COLUMNS))
    frame.attrs["scores"] = pd.DataFrame(score_rows, columns=["parameter", "value", "metric", "repeat", "score"])
    return frame


def _value_label(value: Any) -> str:
    """Column label of a setting value: ``110-110-110`` for layer sizes, ``0.0001`` for numbers."""
    if isinstance(value, list | tuple | np.ndarray):
        return "-".join(_value_label(v) for v in value)
    if isinstance(value, float | np.floating):
        return f"{float(value):g}"
    return str(value)


def _metric_label(name: str, percent: bool) -> str:
    text = _DISPLAY.get(name.strip().lower(), name[:1].upper() + name[1:])
    return f"{text} (%)" if percent else text


def sweep_table(frame: pd.DataFrame, parameter: str | None = None, *, percent: bool = True, decimals: int = 2):
    """Paper 001 Table 4 layout of a :func:`framework_sweep` result: scores in rows, values in columns.

    Parameters
    ----------
    frame : pandas.DataFrame
        Output of :func:`framework_sweep`.
    parameter : str, optional
        The setting to lay out; needed when ``frame`` holds several.
    percent : bool
        Show proportion scores (OA, precision, recall, ...) in percent, as
        the paper does; error scores stay as they are.
    decimals : int
        Decimals of mean and sd.

    Returns
    -------
    pandas.DataFrame
        One row per metric (e.g. "OA (%)"), one column per value in sweep
        order (labelled ``0.0001`` or ``110-110-110``), cells
        ``"80.35 ± 0.40"`` (only the mean when one repeat gives no sd;
        ``"n/a"`` when no repeat gave a score).
    """
    missing = [c for c in SWEEP_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"sweep_table: not a framework_sweep table (missing columns {missing})")
    params = list(dict.fromkeys(frame["parameter"]))
    if parameter is None:
        if len(params) != 1:
            raise ValueError(f"sweep_table: the table holds several parameters {params}; pass parameter=")
        parameter = params[0]
    if parameter not in params:
        raise ValueError(f"sweep_table: no parameter {parameter!r} in the table (has {params})")
    part = frame[frame["parameter"] == parameter]
    columns = list(dict.fromkeys(_value_label(v) for v in part["value"]))
    cells: dict[str, dict[str, str]] = {}
    for row in part.itertuples(index=False):
        try:
            scaled = percent and resolve_metric(row.metric) in _PROPORTIONS
        except ValueError:  # a metric name unknown to susmap: shown as it is
            scaled = False
        factor = 100.0 if scaled else 1.0
        if not math.isfinite(row.mean):
            text = "n/a"
        elif not math.isfinite(row.sd):
            text = f"{row.mean * factor:.{decimals}f}"
        else:
            text = f"{row.mean * factor:.{decimals}f} ± {row.sd * factor:.{decimals}f}"
        cells.setdefault(_metric_label(row.metric, scaled), {})[_value_label(row.value)] = text
    table = pd.DataFrame(
        [[by_value.get(c, "") for c in columns] for by_value in cells.values()], index=list(cells), columns=columns
    )
    table.index.name = "metric"
    table.columns.name = parameter
    return table
