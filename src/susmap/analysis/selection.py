"""Forward factor selection in a given order: the score-vs-number-of-factors curve of paper 001 (Fig. 12).

Paper 001 ranks its 14 factors by information gain, then adds them one at
a time in that order and reports each model's accuracy for every count:
the shallow models level off or decline after about seven factors. Here
the same experiment runs for any set of models under any splitter (spatial
folds included), with every model and count scored on the same folds.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.metrics import check_scoring

from susmap.analysis.factor_table import binary_labels, model_input, take_rows
from susmap.errors import SusmapWarning

__all__ = ["accuracy_by_factor_count"]

CURVE_COLUMNS = ("n_factors", "factor_added", "model", "mean", "sd", "n_folds")


def _builder(label: str, spec: Any, where: str) -> Callable[[list[str]], Any]:
    """``make(names) -> unfitted estimator`` for a model given as a callable or an estimator."""
    if hasattr(spec, "fit"):
        return lambda names: clone(spec)
    if callable(spec):
        return spec
    raise ValueError(
        f"{where}: model {label!r} must be a callable make(names) -> estimator or an unfitted estimator, got {spec!r}"
    )


def _take_columns(X: Any, cols: list[int]) -> Any:  # noqa: N803
    return X.iloc[:, cols] if isinstance(X, pd.DataFrame) else X[:, cols]


def _fold_score(estimator, X, y, train, test, scoring):  # noqa: N803
    if np.unique(y[train]).size < 2 or np.unique(y[test]).size < 2:
        return np.nan
    model = clone(estimator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        model.fit(take_rows(X, train), y[train])
        scorer = check_scoring(model, scoring=scoring)
        return float(scorer(model, take_rows(X, test), y[test]))


def accuracy_by_factor_count(
    pipelines: Mapping[str, Callable[[list[str]], Any] | Any],
    X: Any,  # noqa: N803
    y: Any,
    names: Sequence[str] | None = None,
    order: Sequence[str] | None = None,
    splitter: Any = None,
    metric: str | Any = "accuracy",
    *,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Cross-validated score as factors are added one at a time in importance order (paper 001, Fig. 12).

    For n = 1 .. len(order), every model is built for the first n factors
    of ``order``, fitted on the training part of each fold of ``splitter``
    and scored on its test part; the table gives the mean ± sd over folds.
    All models and counts share the same folds.

    Parameters
    ----------
    pipelines : mapping of {str: callable or estimator}
        ``{label: make}`` with ``make(names) -> unfitted estimator`` for the
        factor subset ``names`` (so preprocessing matches the subset), e.g.
        ``lambda names: make_pipeline("logistic_regression", {}, factor_names=names, kinds=kinds)``.
        An estimator instead of a callable is cloned as it is and must
        accept any number of columns.
    X : DataFrame or array-like of shape (n_samples, n_factors)
        Factor values; no missing values.
    y : array-like of shape (n_samples,)
        Labels, 1 (or True) = event.
    names : sequence of str, default=None
        Factor names: the columns of a DataFrame (default: all), or one
        name per column of an array (required then).
    order : sequence of str
        Factors in the order they are added, most important first (e.g.
        ``information_gain(...)["factor"]``); required, a subset of
        ``names`` is allowed.
    splitter : cross-validation splitter
        Anything with ``split(X, y)``, e.g.
        :class:`susmap.validation.RepeatedSpatialKFold` (required).
    metric : str or callable, default="accuracy"
        A scikit-learn scorer name (``"accuracy"`` as in paper 001,
        ``"roc_auc"``, ...) or ``scorer(estimator, X, y)``. ``"accuracy"``
        uses ``predict``, i.e. a probability threshold of 0.5.
    n_jobs : int, default=1
        Fits run in parallel with joblib.

    Returns
    -------
    table : pandas.DataFrame
        Long table, one row per (count, model), with columns ``n_factors``
        (1 ..), ``factor_added`` (the factor added at that count),
        ``model``, ``mean``, ``sd`` (ddof=1, over valid folds) and
        ``n_folds``. ``attrs["metric"]`` names the score.

    Raises
    ------
    ValueError
        No models, order or splitter; a factor of ``order`` not in
        ``names`` or listed twice; labels not 0/1; missing values.

    Warns
    -----
    SusmapWarning
        When folds with one class only in their training or test part are
        left out.

    Notes
    -----
    Cost: ``len(order) · len(pipelines) · n_folds`` fits.

    References
    ----------
    Paper 001 (Remote Sensing 2021, 13, 3436), section 5, Fig. 12.
    """
    where = "accuracy_by_factor_count"
    if not pipelines:
        raise ValueError(f"{where}: give at least one model as {{label: make(names) -> estimator}}")
    if splitter is None or not hasattr(splitter, "split"):
        raise ValueError(f"{where}: give a splitter with split(X, y), e.g. RepeatedSpatialKFold, got {splitter!r}")
    if order is None or len(order) == 0:
        raise ValueError(f"{where}: give the order in which factors are added (most important first)")
    data, names = model_input(X, names, where)
    order = list(order)
    unknown = [f for f in order if f not in names]
    if unknown:
        raise ValueError(f"{where}: order names factor(s) {', '.join(map(repr, unknown))} not in {names}")
    if len(set(order)) != len(order):
        raise ValueError(f"{where}: order lists a factor twice: {order}")
    labels = binary_labels(y, len(data), where)
    builders = {label: _builder(label, spec, where) for label, spec in pipelines.items()}
    folds = list(splitter.split(data, labels))
    tasks = []
    for k in range(1, len(order) + 1):
        subset = order[:k]
        cols = [names.index(f) for f in subset]
        sub = _take_columns(data, cols)
        for label, make in builders.items():
            estimator = make(list(subset))
            for train, test in folds:
                tasks.append(((k, label), (estimator, sub, train, test)))
    scores = Parallel(n_jobs=n_jobs)(
        delayed(_fold_score)(est, sub, labels, train, test, metric) for _, (est, sub, train, test) in tasks
    )
    per_fold = pd.DataFrame([(k, label, s) for ((k, label), _), s in zip(tasks, scores, strict=True)])
    per_fold.columns = ["n_factors", "model", "score"]
    n_undefined = int(per_fold["score"].isna().sum())
    if n_undefined:
        warnings.warn(
            f"{n_undefined} of {len(per_fold)} model folds had one class only in their training or test part; "
            "they are left out of the means",
            SusmapWarning,
            stacklevel=2,
        )
    summary = (
        per_fold.groupby(["n_factors", "model"], sort=False)["score"]
        .agg(mean="mean", sd="std", n_folds="count")
        .reset_index()
    )
    summary.insert(1, "factor_added", [order[k - 1] for k in summary["n_factors"]])
    summary = summary.loc[:, list(CURVE_COLUMNS)]
    summary.attrs["metric"] = metric if isinstance(metric, str) else getattr(metric, "__name__", repr(metric))
    return summary
