"""Factor importance: information gain, random-forest impurity importance, cross-validated permutation importance.

- :func:`information_gain` ranks factors by the information gain of the
  label given the (binned) factor, as paper 001 does before its Fig. 12
  experiment.
- :func:`random_forest_importance` is the random-forest importance
  assessment (RFIA) of paper 002 (Fig. 2), repeated for forest sizes of 100
  to 500 trees to show that the ranking does not depend on the size.
- :func:`permutation_importance_cv` measures, on the held-out part of each
  fold of a (spatial) splitter, how much a score drops when one factor's
  values are shuffled, with the model fitted on the training part only;
  unlike impurity importance it is not biased towards factors with many
  distinct values, and under spatial folds it does not reward factors that
  only help to interpolate between neighbouring samples.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.inspection import permutation_importance
from sklearn.metrics import check_scoring

from susmap.analysis.factor_table import (
    binary_labels,
    category_codes,
    continuous_values,
    design_matrix,
    factor_frame,
    factor_kinds,
    missing_rows,
    model_input,
    take_rows,
)
from susmap.encoding import bin_continuous
from susmap.errors import SusmapWarning
from susmap.models.registry import make_estimator

__all__ = ["information_gain", "permutation_importance_cv", "random_forest_importance"]

IMPORTANCE_SCALES = ("percent", "max", "minmax")
_LOG = {2: np.log(2.0), "e": 1.0}


def _entropy(counts: np.ndarray, log_base: float) -> float:
    """Shannon entropy of a histogram, in units of ``log(base)``."""
    counts = counts[counts > 0].astype(np.float64)
    if counts.size == 0:
        return 0.0
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum() / log_base)


def _classes_of(values: np.ndarray | pd.Series, kind: str, bins: int) -> np.ndarray:
    """Class index 0..k-1 of every (non-missing) value; -1 for missing."""
    if kind == "categorical":
        return category_codes(pd.Series(values))
    x = np.asarray(values, dtype=np.float64)
    out = np.full(x.shape, -1, dtype=np.int64)
    ok = np.isfinite(x)
    if not ok.any():
        return out
    distinct = np.unique(x[ok])
    if distinct.size <= bins:  # few values (e.g. a 0/1 factor): each value is a class, no binning
        out[ok] = np.searchsorted(distinct, x[ok])
    else:
        classes, _ = bin_continuous(x[ok], "quantile", n_bins=bins)
        out[ok] = classes - 1
    return out


def information_gain(
    X: Any,  # noqa: N803
    y: Any,
    names: Sequence[str] | None = None,
    bins: int = 10,
    *,
    kinds: Mapping[str, str] | None = None,
    base: int | str = 2,
) -> pd.DataFrame:
    """Information gain of the label given each factor, ranked (paper 001, Fig. 12).

    ``IG(Y; F) = H(Y) − H(Y | F) = H(Y) − Σ_c (n_c / n) H(Y | F = c)``, the
    entropy of the label minus its conditional entropy given the factor's
    class c. Paper 001 ranks its factors with the information gain (IG,
    citing it as one of the quickest attribute-ranking methods), not the
    gain ratio; the ratio ``IG / H(F)`` (Quinlan's gain ratio, which
    penalises factors with many classes) is given as an extra column.

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_samples, n_factors)
        Factor values at the samples.
    y : array-like of shape (n_samples,)
        Labels, 1 (or True) = event.
    names : sequence of str, default=None
        Factor names: the columns to use of a DataFrame (default: all), or
        one name per column of an array (required then).
    bins : int, default=10
        Quantile (equal-count) classes of a continuous factor, with edges
        from the samples themselves; tied edges are merged. A continuous
        factor with at most ``bins`` distinct values uses each value as a
        class. Categorical factors use their classes as they are.
    kinds : mapping of {str: {"continuous", "categorical"}}, default=None
        Kind of each factor; unlisted ones are continuous if numeric (not
        boolean), else categorical.
    base : {2, "e"}, default=2
        Logarithm base: 2 gives bits (a balanced 0/1 label has 1 bit of
        entropy), ``"e"`` nats (ln 2 ≈ 0.693 for the same label).

    Returns
    -------
    table : pandas.DataFrame
        One row per factor, sorted by decreasing information gain (ties in
        input order), with columns ``rank`` (1 = most informative),
        ``factor, kind, n_classes, information_gain, gain_ratio,
        label_entropy``. ``attrs["units"]`` is ``"bit"`` or ``"nat"``.

    Raises
    ------
    ValueError
        Bad shapes or names, labels that are not 0/1, ``bins < 2`` or an
        unknown ``base``.

    Notes
    -----
    Samples where a factor is missing are left out of that factor's gain
    (``H(Y)`` is then computed on the same rows). Paper 001 does not say
    how continuous factors were discretised (Weka's ``InfoGainAttributeEval``
    uses the supervised MDL discretisation of Fayyad & Irani); susmap uses
    unsupervised quantile classes, so the gain does not depend on the label
    through the class edges. On finite samples the plug-in estimate is
    biased upwards by about ``(k − 1) / (2 n ln 2)`` bits for k classes, the
    same for every continuous factor with the same ``bins``.

    References
    ----------
    Paper 001 (Remote Sensing 2021, 13, 3436), section 5, Fig. 12.
    Quinlan, J. R. (1986). Induction of decision trees. Machine Learning 1, 81-106.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0, 0, 1, 1])
    >>> t = information_gain(np.column_stack([y, [0, 1, 0, 1]]), y, ["separating", "useless"])
    >>> t[["factor", "information_gain"]].to_numpy().tolist()
    [['separating', 1.0], ['useless', 0.0]]
    """
    where = "information_gain"
    if base not in _LOG:
        raise ValueError(f"{where}: base must be 2 (bits) or 'e' (nats), got {base!r}")
    if int(bins) != bins or bins < 2:
        raise ValueError(f"{where}: bins must be an integer ≥ 2, got {bins!r}")
    log_base = _LOG[base]
    frame = factor_frame(X, names, where)
    labels = binary_labels(y, len(frame), where, both=False)
    kind_of = factor_kinds(frame, kinds, where)
    rows = []
    for name in frame.columns:
        values = frame[name] if kind_of[name] == "categorical" else continuous_values(frame[name])
        classes = _classes_of(values, kind_of[name], int(bins))
        ok = classes >= 0
        c, lab = classes[ok], labels[ok]
        h_y = _entropy(np.bincount(lab, minlength=2), log_base)
        if c.size == 0:
            rows.append((name, kind_of[name], 0, np.nan, np.nan, h_y))
            continue
        k = int(c.max()) + 1
        joint = np.bincount(c * 2 + lab, minlength=2 * k).reshape(k, 2)
        n_c = joint.sum(axis=1)
        h_cond = sum(n_c[i] / c.size * _entropy(joint[i], log_base) for i in range(k) if n_c[i])
        ig = max(h_y - h_cond, 0.0)
        split_info = _entropy(n_c, log_base)
        ratio = ig / split_info if split_info > 0 else np.nan
        rows.append((name, kind_of[name], int((n_c > 0).sum()), ig, ratio, h_y))
    table = pd.DataFrame(
        rows, columns=["factor", "kind", "n_classes", "information_gain", "gain_ratio", "label_entropy"]
    )
    table = table.sort_values("information_gain", ascending=False, kind="stable", na_position="last")
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    table = table.reset_index(drop=True)
    table.attrs["units"] = "bit" if base == 2 else "nat"
    table.attrs["bins"] = int(bins)
    return table


def _scale_importance(imp: np.ndarray, scale: str) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        if scale == "percent":
            return 100.0 * imp / imp.sum()
        if scale == "max":
            return 100.0 * imp / imp.max()
        return 100.0 * (imp - imp.min()) / (imp.max() - imp.min())


def random_forest_importance(
    X: Any,  # noqa: N803
    y: Any,
    names: Sequence[str] | None = None,
    n_trees: Sequence[int] = (100, 200, 300, 400, 500),
    seed: int = 0,
    *,
    kinds: Mapping[str, str] | None = None,
    scale: str = "percent",
    params: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Random-forest importance of each factor for several forest sizes (paper 002, Fig. 2).

    For every size in ``n_trees`` a forest of the registry's
    ``random_forest`` model is fitted on all samples and its impurity
    importance (mean decrease in Gini impurity, Breiman 2001) is read.
    Paper 002 tries 100, 200, 300, 400 and 500 trees "for ensuring the
    repeatability of the results"; agreement between the columns is the check.

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_samples, n_factors)
        Factor values at the samples.
    y : array-like of shape (n_samples,)
        Labels, 1 (or True) = event.
    names : sequence of str, default=None
        As in :func:`information_gain`.
    n_trees : sequence of int, default=(100, 200, 300, 400, 500)
        Forest sizes.
    seed : int, default=0
        Seed of every forest.
    kinds : mapping of {str: str}, default=None
        As in :func:`information_gain`. A categorical factor is one-hot
        encoded (as :func:`susmap.models.make_pipeline` does) and its
        importance is the sum over its indicator columns (impurity
        decrease is additive over splits).
    scale : {"percent", "max", "minmax"}, default="percent"
        ``"percent"``: share of the total impurity decrease, the column sums
        to 100. ``"max"``: the most important factor is 100. ``"minmax"``:
        most important 100, least important 0, as the relative importances
        of paper 003 Table 8 (100 ... 0) are shown.
    params : mapping, default=None
        Other parameters of the registry's ``random_forest`` (``max_depth``,
        ``min_samples_leaf``, ``max_features``, ``class_weight``).

    Returns
    -------
    table : pandas.DataFrame
        One row per factor, sorted by decreasing mean importance, with
        columns ``rank, factor``, ``trees_<n>`` per forest size (scaled
        importance), and ``mean`` and ``sd`` over the sizes.
        ``attrs["scale"]`` and ``attrs["n_samples"]`` say how it was made.

    Raises
    ------
    ValueError
        Bad shapes, names, labels, forest sizes or ``scale``.
    susmap.errors.StudyConfigError
        Unknown forest parameters.

    Notes
    -----
    Impurity importance is computed on the training data and favours
    continuous factors and factors with many classes (Strobl et al. 2007);
    :func:`permutation_importance_cv` is the held-out counterpart. Rows
    with a missing value in any factor are left out. Cost: ``sum(n_trees)``
    trees on one thread (about 1 s for 1500 trees on 350 samples).

    References
    ----------
    Paper 002 (Scientific Reports, Ardal County), section "Landslide
    conditioning factors and importance analysis", Fig. 2.
    Breiman, L. (2001). Random forests. Machine Learning 45, 5-32.
    Strobl, C. et al. (2007). Bias in random forest variable importance
    measures. BMC Bioinformatics 8, 25.
    """
    where = "random_forest_importance"
    if scale not in IMPORTANCE_SCALES:
        raise ValueError(f"{where}: scale must be one of {', '.join(IMPORTANCE_SCALES)}, got {scale!r}")
    try:
        sizes = [int(n) for n in n_trees]
        valid = bool(sizes) and all(n >= 1 and n == s for n, s in zip(sizes, n_trees, strict=True))
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(f"{where}: n_trees must be positive integers, got {n_trees!r}")
    if len(set(sizes)) != len(sizes):
        raise ValueError(f"{where}: n_trees lists a forest size twice: {sizes}")
    frame = factor_frame(X, names, where)
    kind_of = factor_kinds(frame, kinds, where)
    labels = binary_labels(y, len(frame), where)
    keep = ~missing_rows(frame, kind_of)
    frame, labels = frame.loc[keep], labels[keep]
    labels = binary_labels(labels, len(labels), where)  # both classes still there
    design, owner = design_matrix(frame, kind_of, drop_first=False)
    p = frame.shape[1]
    out = {}
    for n in sizes:
        forest = make_estimator("random_forest", {**dict(params or {}), "n_estimators": n}, seed=seed)
        forest.fit(design, labels)
        per_factor = np.bincount(owner, weights=forest.feature_importances_, minlength=p)
        out[f"trees_{n}"] = _scale_importance(per_factor, scale)
    table = pd.DataFrame({"factor": list(frame.columns), **out})
    cols = list(out)
    table["mean"] = table[cols].mean(axis=1)
    table["sd"] = table[cols].std(axis=1, ddof=1) if len(cols) > 1 else 0.0
    table = table.sort_values("mean", ascending=False, kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, p + 1))
    table.attrs["scale"] = scale
    table.attrs["n_samples"] = int(keep.sum())
    return table


def _fold_permutation(pipeline, X, y, train, test, scoring, n_repeats, seed):  # noqa: N803
    if np.unique(y[train]).size < 2 or np.unique(y[test]).size < 2:
        return None
    model = clone(pipeline)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        model.fit(take_rows(X, train), y[train])
        scorer = check_scoring(model, scoring=scoring)
        result = permutation_importance(
            model, take_rows(X, test), y[test], scoring=scorer, n_repeats=n_repeats, random_state=seed, n_jobs=1
        )
        baseline = float(scorer(model, take_rows(X, test), y[test]))
    return baseline, result.importances_mean


def permutation_importance_cv(
    pipeline: Any,
    X: Any,  # noqa: N803
    y: Any,
    names: Sequence[str] | None = None,
    splitter: Any = None,
    n_repeats: int = 5,
    scoring: str | Any = "roc_auc",
    seed: int = 0,
    *,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Permutation importance on the held-out part of every fold of a splitter.

    For each fold of ``splitter`` a clone of ``pipeline`` (preprocessing
    included) is fitted on the training rows only; on the test rows each
    factor's column is shuffled ``n_repeats`` times and the drop of the
    score against the unshuffled test score is averaged
    (:func:`sklearn.inspection.permutation_importance`). The table gives
    the mean and sd of that drop over the folds.

    Parameters
    ----------
    pipeline : estimator
        Unfitted estimator or pipeline taking ``X``'s columns in order,
        e.g. :func:`susmap.models.make_pipeline`; cloned per fold.
    X : DataFrame or array-like of shape (n_samples, n_factors)
        Factor values; no missing values.
    y : array-like of shape (n_samples,)
        Labels, 1 (or True) = event.
    names : sequence of str, default=None
        As in :func:`information_gain`; the pipeline sees the columns in
        this order.
    splitter : cross-validation splitter
        Anything with ``split(X, y)``, e.g.
        :class:`susmap.validation.RepeatedSpatialKFold` (required).
    n_repeats : int, default=5
        Shuffles per factor and fold.
    scoring : str or callable, default="roc_auc"
        A scikit-learn scorer name or ``scorer(estimator, X, y)``; with
        ``"roc_auc"`` the importance is the decrease in AUROC [0-1].
    seed : int, default=0
        Seed of the shuffles (the same in every fold).
    n_jobs : int, default=1
        Folds run in parallel with joblib.

    Returns
    -------
    table : pandas.DataFrame
        One row per factor, sorted by decreasing mean, with columns
        ``rank, factor, mean, sd, n_folds``: the mean and sd (ddof=1) over
        the valid folds of each fold's mean decrease of the score.
        ``attrs`` hold ``scoring``, ``baseline_mean`` and ``baseline_sd``
        (the unshuffled held-out score) and ``n_folds_skipped``.

    Raises
    ------
    ValueError
        No splitter, bad shapes or names, labels not 0/1, missing values,
        ``n_repeats < 1``, or no fold with both classes in its training and
        test parts.

    Warns
    -----
    SusmapWarning
        When folds with one class only in their training or test part are
        left out (their AUROC is undefined).

    Notes
    -----
    Correlated factors share importance: shuffling one leaves its partner's
    information in place, so both can look unimportant (see
    :func:`susmap.analysis.vif_table`). Cost: per fold one fit and
    ``1 + n_factors · n_repeats`` predictions of the test rows.

    References
    ----------
    Breiman, L. (2001). Random forests. Machine Learning 45, 5-32.
    Brenning, A. (2012). Spatial cross-validation and bootstrap for the
    assessment of prediction rules in remote sensing: the R package sperrorest.
    IGARSS 2012, 5372-5375 (permutation importance on spatial folds).
    """
    where = "permutation_importance_cv"
    if splitter is None or not hasattr(splitter, "split"):
        raise ValueError(f"{where}: give a splitter with split(X, y), e.g. RepeatedSpatialKFold, got {splitter!r}")
    if int(n_repeats) != n_repeats or n_repeats < 1:
        raise ValueError(f"{where}: n_repeats must be a positive integer, got {n_repeats!r}")
    data, names = model_input(X, names, where)
    labels = binary_labels(y, len(data), where)
    folds = list(splitter.split(data, labels))
    results = Parallel(n_jobs=n_jobs)(
        delayed(_fold_permutation)(pipeline, data, labels, train, test, scoring, int(n_repeats), seed)
        for train, test in folds
    )
    valid = [r for r in results if r is not None]
    skipped = len(results) - len(valid)
    if not valid:
        raise ValueError(f"{where}: none of the {len(folds)} folds has both classes in its training and test parts")
    if skipped:
        warnings.warn(
            f"{skipped} of {len(folds)} folds had one class only in their training or test part; "
            "they are left out of the permutation importance",
            SusmapWarning,
            stacklevel=2,
        )
    drops = np.vstack([r[1] for r in valid])
    baselines = np.array([r[0] for r in valid])
    table = pd.DataFrame(
        {
            "factor": names,
            "mean": drops.mean(axis=0),
            "sd": drops.std(axis=0, ddof=1) if len(valid) > 1 else np.nan,
            "n_folds": len(valid),
        }
    )
    table = table.sort_values("mean", ascending=False, kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    table.attrs["scoring"] = scoring if isinstance(scoring, str) else getattr(scoring, "__name__", repr(scoring))
    table.attrs["baseline_mean"] = float(baselines.mean())
    table.attrs["baseline_sd"] = float(baselines.std(ddof=1)) if len(valid) > 1 else float("nan")
    table.attrs["n_folds_skipped"] = int(skipped)
    return table
