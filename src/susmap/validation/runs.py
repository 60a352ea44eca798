"""Repeated cross-validation of several models on the same folds, with optional nested tuning.

For every scheme, every repeat and fold, every model is fitted on the
training part (preprocessing included, so scaling never sees the test fold)
and scored on the test part and, as paper 003 Table 5 does, on its own
training part. Results: one row per (scheme, model, repeat, fold) and part,
mean ± sd per (scheme, model, metric) with NaN folds excluded, optional
out-of-fold probabilities for ROC curves, and the parameters chosen per fold
when a model is tuned.

Tuning is nested: inside each outer training part, every candidate of a grid
or random search is scored on inner folds of that training part only, the
best is refitted on the whole training part and then scored on the outer
test part, which no tuning step ever sees. Inner folds are spatial (k-means
on the training coordinates) when the outer scheme is spatial, stratified
random otherwise (Schratz et al. 2019, Ecol. Model. 406, 109-120).

Models are fitted with BLAS/OpenMP limited to one thread: the fits are small,
their floating-point results do not depend on thread timing, and on a
two-core machine an idle BLAS thread pool slows each small fit many times.
Parallelism comes from the folds (``n_jobs``) instead.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import threading
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, effective_n_jobs, parallel_config
from joblib.parallel import LokyBackend, MultiprocessingBackend, get_active_backend
from sklearn import config_context
from sklearn.base import clone
from sklearn.model_selection import (
    KFold,
    LeaveOneOut,
    LeavePOut,
    ParameterGrid,
    ParameterSampler,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    ShuffleSplit,
    StratifiedKFold,
    StratifiedShuffleSplit,
)
from threadpoolctl import threadpool_limits

from susmap import progress
from susmap.errors import ModelFitError, StudyConfigError, SusmapError, SusmapWarning
from susmap.validation.metrics import (
    METRIC_NAMES,
    is_higher_better,
    resolve_metric,
    resolve_metrics,
    score_prepared,
    youden_threshold,
)
from susmap.validation.ranking import summarize_scores
from susmap.validation.splitters import (
    RepeatedRandomKFold,
    RepeatedSpatialKFold,
    StratifiedHoldout,
    check_fold_count,
    make_splitter,
    splits_per_repeat,
)

__all__ = ["CVResult", "cross_validate_models", "stop_workers"]

_KEYS = ("scheme", "model", "repeat", "fold")
#: Splitters whose folds are not spatial: nested tuning under them uses stratified random inner folds.
_RANDOM_SPLITTERS = (
    KFold,
    StratifiedKFold,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    ShuffleSplit,
    StratifiedShuffleSplit,
    LeaveOneOut,
    LeavePOut,
    RepeatedRandomKFold,
    StratifiedHoldout,
)
_TUNING_KEYS = frozenset({"param_grid", "param_distributions", "n_iter", "inner_folds", "scoring", "inner"})


@dataclass
class CVResult:
    """What :func:`cross_validate_models` computed.

    Attributes
    ----------
    scores : DataFrame
        One row per (scheme, model, repeat, fold) scored on the test part:
        ``scheme, model, repeat, fold, part ("test"), n_train, n_test,
        threshold`` and one column per metric.
    summary : DataFrame
        Mean, sd and count of valid folds of the test scores per (scheme,
        model, metric), headline metrics (:data:`METRIC_NAMES`) only:
        ``scheme, model, metric, mean, sd, n_folds``.
    fold_ids : dict of str to ndarray
        Per scheme, the first repeat's test fold of every sample (-1: never tested).
    train_scores : DataFrame
        As ``scores``, scored on the training part (``part = "train"``).
    train_summary : DataFrame
        As ``summary``, for the training part.
    predictions : DataFrame or None
        With ``return_predictions=True``: ``scheme, repeat, fold, model,
        sample, label, prob``, one row per tested sample and model (NaN prob
        where the training part held one class).
    pooled : DataFrame
        Scores of each repeat's test predictions pooled over its folds
        (each fold's threshold applied to its own samples; NaN predictions
        left out): ``scheme, model, repeat, n_folds, n_test`` and one column
        per metric. The only defined AUROC of leave-one-out schemes, whose
        single-sample test folds have none; ``summarize_scores(pooled,
        metrics)`` gives its mean ± sd over repeats.
    tuning : DataFrame or None
        For tuned models: ``scheme, model, repeat, fold, scoring,
        inner_score, n_candidates`` and one column per tuned parameter (its
        chosen value).
    metrics : tuple of str
        The metrics in ``scores``.
    """

    scores: pd.DataFrame
    summary: pd.DataFrame
    fold_ids: dict[str, np.ndarray]
    train_scores: pd.DataFrame | None = None
    train_summary: pd.DataFrame | None = None
    predictions: pd.DataFrame | None = None
    tuning: pd.DataFrame | None = None
    metrics: tuple[str, ...] = METRIC_NAMES
    pooled: pd.DataFrame | None = None

    def summarize(self, part: str = "test", metrics: str | Iterable[str] | None = None) -> pd.DataFrame:
        """Mean, sd and count of valid folds for any metrics (default: all computed) and part.

        ``part`` is ``"test"``, ``"train"`` or ``"both"``; with ``"both"`` a
        ``part`` column leads the table (test first).
        """
        names = self.metrics if metrics is None else resolve_metrics(metrics)
        missing = [m for m in names if m not in self.scores.columns]
        if missing:
            computed = ", ".join(self.metrics)
            raise StudyConfigError(f"metrics {', '.join(missing)} were not computed; computed: {computed}")
        if part == "test":
            return summarize_scores(self.scores, names)
        if part == "train":
            return summarize_scores(self._train(), names)
        if part == "both":
            both = pd.concat([self.scores, self._train()], ignore_index=True)
            return summarize_scores(both, names, by=("part", "scheme", "model"))
        raise ValueError(f"part must be 'test', 'train' or 'both', got {part!r}")

    def _train(self) -> pd.DataFrame:
        if self.train_scores is None:
            raise ValueError("this result has no training scores")
        return self.train_scores


@dataclass(frozen=True)
class _Tuning:
    """A validated tuning spec of one model."""

    candidates: tuple[dict[str, Any], ...]
    inner_folds: int
    scoring: str
    inner: str  # "auto", "spatial" or "random"
    param_names: tuple[str, ...]


@dataclass
class _Outcome:
    train: dict[str, float]
    test: dict[str, float]
    threshold: float
    prob: np.ndarray | None = None
    params: dict[str, Any] | None = None
    inner_score: float = math.nan


# --------------------------------------------------------------------------- fold kernels


def _one_class(y: np.ndarray) -> bool:
    return y.size == 0 or y.min() == y.max()


def _fit_predict(model, X, y, train, test) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
    """Fit on ``train``; event probabilities of the training rows and of the test rows (one predict call)."""
    model.fit(X[train], y[train])
    prob = model.predict_proba(X[np.concatenate([train, test])])[:, 1]
    return prob[: len(train)], prob[len(train) :]


def _threshold(threshold, y_train, p_train) -> float:
    return youden_threshold(y_train, p_train) if threshold == "youden" else float(threshold)


def _inner_splitter(tune: _Tuning, spatial: bool, coords_train, seed: int):
    if spatial:
        return RepeatedSpatialKFold(coords_train, tune.inner_folds, 1, random_state=seed)
    return RepeatedRandomKFold(tune.inner_folds, 1, random_state=seed)


def _tune(pipe, tune: _Tuning, X, y, coords, train, threshold, spatial, seed):  # noqa: N803
    """Best candidate of ``tune`` by its mean inner score on the training rows ``train`` only."""
    Xt, yt = X[train], y[train]  # noqa: N806
    splitter = _inner_splitter(tune, spatial, None if coords is None else coords[train], seed)
    inner = list(splitter.split(Xt, yt))
    higher = is_higher_better(tune.scoring)
    best, best_score = tune.candidates[0], math.nan
    for params in tune.candidates:
        values = []
        for itr, ite in inner:
            if _one_class(yt[itr]):
                continue
            model = clone(pipe).set_params(**params)
            p_tr, p_te = _fit_predict(model, Xt, yt, itr, ite)
            thr = _threshold(threshold, yt[itr], p_tr)
            values.append(score_prepared(yt[ite] == 1, p_te, thr, (tune.scoring,))[tune.scoring])
        valid = [v for v in values if not math.isnan(v)]
        score = float(np.mean(valid)) if valid else math.nan
        if not math.isnan(score) and (math.isnan(best_score) or (score > best_score if higher else score < best_score)):
            best, best_score = params, score
    return best, best_score


def _evaluate(pipe, tune, X, y, coords, train, test, threshold, metrics, spatial, seed) -> _Outcome:  # noqa: N803
    """Fit one model on one fold's training part (tuned if asked) and score both parts."""
    if _one_class(y[train]):
        nan = dict.fromkeys(metrics, math.nan)
        return _Outcome(train=nan, test=dict(nan), threshold=math.nan, prob=np.full(len(test), math.nan))
    params, inner_score = None, math.nan
    model = clone(pipe)
    if tune is not None:
        params, inner_score = _tune(pipe, tune, X, y, coords, train, threshold, spatial, seed)
        model.set_params(**params)
    p_train, p_test = _fit_predict(model, X, y, train, test)
    thr = _threshold(threshold, y[train], p_train)
    return _Outcome(
        train=score_prepared(y[train] == 1, p_train, thr, metrics),
        test=score_prepared(y[test] == 1, p_test, thr, metrics),
        threshold=thr,
        prob=p_test,
        params=params,
        inner_score=inner_score,
    )


_SERIAL_BATCHES = 50  # progress steps of a serial run (one batch is one or more fits)


def _run_batch(jobs, X, y, coords, threshold, metrics, finite, parent=None) -> list[_Outcome]:  # noqa: N803
    # X was checked for NaN/inf once (``finite``): skip the per-fit checks, a fifth of a small GLM fit
    outcomes = []
    # the folds are the parallel work: a model's own joblib calls (a forest's trees, a pipeline's steps) run
    # here, in sequence; on a dask worker they would otherwise go back to the cluster as tasks of milliseconds
    with (
        threadpool_limits(limits=1),
        parallel_config(backend="sequential"),
        config_context(assume_finite=finite),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", category=UserWarning)  # convergence and similar, per fit
        _exit_if_orphaned(parent)
        for label, scheme, pipe, tune, train, test, spatial, seed in jobs:
            try:
                outcomes.append(_evaluate(pipe, tune, X, y, coords, train, test, threshold, metrics, spatial, seed))
            except SusmapError:
                raise
            except ValueError as err:  # a setting the fold cannot take (k-NN's k above its size, ...)
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                raise ModelFitError(
                    f"models: {label!r} cannot be fitted on a {scheme} training fold of {len(train)} samples "
                    f"({first}); change its parameters or the validation"
                ) from err
    return outcomes


_WATCHED: set[tuple[str, int]] = set()


def _exit_if_orphaned(parent: tuple[str, int] | None, poll_s: float = 0.5) -> None:
    """In a fold worker: end the process as soon as the main process is gone (SIGKILL, no clean-up).

    ``parent`` is the (host, pid) of the process that runs the cross-validation. The first batch a
    worker on that host receives starts a daemon thread that ends the worker once it is no longer that
    process's child and that process has ended: busy or idle, the worker does not wait for its batch
    or its idle timeout (minutes).
    """
    if parent is None or parent in _WATCHED:
        return
    host, pid = parent
    if pid == os.getpid() or host != socket.gethostname():
        return
    _WATCHED.add(parent)

    def watch() -> None:
        while os.getppid() == pid or _running(pid):
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="susmap-orphan-watch", daemon=True).start()


# --------------------------------------------------------------------------- argument checks


def _is_spatial(splitter) -> bool:
    return not isinstance(splitter, _RANDOM_SPLITTERS)


def _resolve_schemes(schemes, X, y, coords, n_splits, n_repeats, seed) -> list[tuple[str, Any]]:  # noqa: N803
    items = list(schemes.items()) if isinstance(schemes, Mapping) else list(schemes)
    if not items:
        raise StudyConfigError("give at least one validation scheme")
    out: list[tuple[str, Any]] = []
    named = False
    for item in items:
        if isinstance(item, str):
            named = True
            out.append((item, make_splitter(item, coords=coords, n_splits=n_splits, n_repeats=n_repeats, seed=seed)))
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            if not callable(getattr(item[1], "split", None)):
                raise TypeError(f"scheme {item[0]!r}: a splitter needs a split() method, got {type(item[1]).__name__}")
            out.append(item)
        else:
            raise TypeError(f"a scheme is a name or a (name, splitter) pair, got {item!r}")
    labels = [name for name, _ in out]
    if len(set(labels)) != len(labels):
        raise StudyConfigError(f"scheme names must not repeat, got {labels}")
    if named:
        check_fold_count(len(y), n_splits, y)
    return out


def _param_name(pipe, name: str, valid: set[str], label: str) -> str:
    if name in valid:
        return name
    steps = getattr(pipe, "steps", None)
    if steps:
        prefixed = f"{steps[-1][0]}__{name}"
        if prefixed in valid:
            return prefixed
    raise StudyConfigError(f"tuning of {label!r}: unknown parameter {name!r}; known: {', '.join(sorted(valid))}")


def _parse_tuning(tuning, pipelines, seed) -> dict[str, _Tuning]:
    if not tuning:
        return {}
    out: dict[str, _Tuning] = {}
    for label, spec in tuning.items():
        if label not in pipelines:
            raise StudyConfigError(f"tuning: no model labelled {label!r}; models: {', '.join(pipelines)}")
        if not isinstance(spec, Mapping):
            raise StudyConfigError(f"tuning of {label!r} must be a mapping, got {type(spec).__name__}")
        unknown = sorted(set(spec) - _TUNING_KEYS)
        if unknown:
            raise StudyConfigError(
                f"tuning of {label!r}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_TUNING_KEYS))}"
            )
        if ("param_grid" in spec) == ("param_distributions" in spec):
            raise StudyConfigError(f"tuning of {label!r}: give exactly one of 'param_grid' and 'param_distributions'")
        pipe = pipelines[label]
        valid = set(pipe.get_params(deep=True))
        space = spec.get("param_grid", spec.get("param_distributions"))
        if not isinstance(space, Mapping) or not space:
            raise StudyConfigError(f"tuning of {label!r}: the parameter space must be a non-empty mapping")
        space = {_param_name(pipe, k, valid, label): v for k, v in space.items()}
        try:
            if "param_grid" in spec:
                candidates = list(ParameterGrid(space))
            else:
                n_iter = int(spec.get("n_iter", 10))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # n_iter above the size of an all-list grid
                    candidates = list(ParameterSampler(space, n_iter, random_state=seed))
        except (TypeError, ValueError) as err:
            raise StudyConfigError(f"tuning of {label!r}: {err}") from None
        inner_folds = spec.get("inner_folds", 3)
        if isinstance(inner_folds, bool) or not isinstance(inner_folds, int) or inner_folds < 2:
            raise StudyConfigError(f"tuning of {label!r}: inner_folds must be an integer >= 2, got {inner_folds!r}")
        inner = spec.get("inner", "auto")
        if inner not in ("auto", "spatial", "random"):
            raise StudyConfigError(f"tuning of {label!r}: inner must be 'auto', 'spatial' or 'random', got {inner!r}")
        out[label] = _Tuning(
            candidates=tuple(candidates),
            inner_folds=inner_folds,
            scoring=resolve_metric(spec.get("scoring", "auroc")),
            inner=inner,
            param_names=tuple(space),
        )
    return out


def _check_threshold(threshold) -> float | str:
    if isinstance(threshold, str):
        if threshold.lower() == "youden":
            return "youden"
    elif isinstance(threshold, Real) and not isinstance(threshold, bool) and 0 < threshold < 1:
        return float(threshold)
    raise StudyConfigError(f"threshold must be a number in (0, 1) or 'youden', got {threshold!r}")


# --------------------------------------------------------------------------- public


def cross_validate_models(
    X: np.ndarray,  # noqa: N803
    y: np.ndarray,
    coords: np.ndarray | None,
    pipelines: Mapping[str, object],
    *,
    schemes: Sequence[str | tuple[str, Any]] | Mapping[str, Any] = ("spatial", "random"),
    n_splits: int = 5,
    n_repeats: int = 1,
    threshold: float | str = 0.5,
    seed: int = 0,
    n_jobs: int | None = 1,
    metrics: str | Iterable[str] | None = "all",
    return_predictions: bool = False,
    tuning: Mapping[str, Mapping[str, Any]] | None = None,
    backend: str | None = None,
) -> CVResult:
    """Score every pipeline on the same folds of every scheme.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_factors)
    y : ndarray of shape (n_samples,), 0/1
    coords : ndarray of shape (n_samples, 2) or None
        Sample coordinates [m] for spatial schemes and spatial inner folds.
    pipelines : mapping
        ``{label: unfitted estimator}``; each is cloned per fold.
    schemes : sequence or mapping, default=("spatial", "random")
        Scheme names (built by :func:`~susmap.validation.splitters.make_splitter`
        with ``n_splits``, ``n_repeats`` and ``seed``) or ``(name, splitter)``
        pairs with any scikit-learn splitter, or a ``{name: splitter}`` mapping.
        Split ``i`` of a splitter belongs to repeat ``i // (get_n_splits() //
        n_repeats)`` (``n_repeats`` attribute, 1 if absent).
    n_splits, n_repeats : int, default=5, 1
        Folds and repeats of the schemes given by name (paper 001: 20 repeats).
    threshold : float or "youden", default=0.5
        Probability threshold of the confusion-matrix scores. ``"youden"``
        takes Youden's J optimum of each fold's training predictions and
        applies it to both parts.
    seed : int, default=0
        Seeds the named splitters, the random-search candidates and the inner folds.
    n_jobs : int or None, default=1
        Folds in parallel (joblib). ``1`` runs in this process without joblib,
        the fastest choice for small fits such as a GLM on a few hundred samples.
    metrics : str or iterable of str, default="all"
        Metric names or aliases for the per-fold rows (``"all"``:
        :data:`~susmap.validation.metrics.ALL_METRICS`). ``summary`` holds
        the headline metrics among them.
    return_predictions : bool, default=False
        Keep the out-of-fold probabilities (``CVResult.predictions``).
    tuning : mapping, optional
        ``{model label: spec}`` with ``param_grid`` (grid search) or
        ``param_distributions`` + ``n_iter`` (random search, default 10),
        ``inner_folds`` (default 3), ``scoring`` (default ``"auroc"``) and
        ``inner`` (``"auto"``: spatial inner folds under spatial outer
        schemes, stratified random under random ones; or ``"spatial"`` /
        ``"random"``). Parameter names are the pipeline's (``model__C``) or
        the final estimator's (``C``).
    backend : str, optional
        joblib backend for ``n_jobs != 1`` (default loky processes).

    Returns
    -------
    CVResult

    Raises
    ------
    SamplingError
        More folds than samples (or than samples of the rarer class).
    StudyConfigError
        Unknown metric, bad threshold or bad tuning spec.

    Notes
    -----
    Cost: one fit per (scheme, split, model), plus ``candidates x
    inner_folds`` inner fits for tuned models; one predict call per fit
    covers the training and test rows.
    """
    X = np.asarray(X)  # noqa: N806
    y = np.asarray(y).astype(int)
    coords = None if coords is None else np.asarray(coords, dtype=float)
    names = resolve_metrics(metrics)
    threshold = _check_threshold(threshold)
    tunes = _parse_tuning(tuning, pipelines, seed)
    resolved = _resolve_schemes(schemes, X, y, coords, n_splits, n_repeats, seed)

    keys: list[tuple[str, str, int, int, int, int]] = []
    jobs: list[tuple] = []
    tests: list[np.ndarray] = []
    fold_ids: dict[str, np.ndarray] = {}
    for s, (scheme, splitter) in enumerate(resolved):
        per_repeat = splits_per_repeat(splitter, X, y)
        spatial = _is_spatial(splitter)
        ids = np.full(len(y), -1, dtype=np.int64)
        with threadpool_limits(limits=1):  # k-means of spatial splitters: small, and slower with idle threads
            splits = list(splitter.split(X, y))
        for i, (train, test) in enumerate(splits):
            repeat, fold = divmod(i, per_repeat)
            if repeat == 0:
                ids[test] = fold
            inner_seed = int(np.random.SeedSequence([seed, s, repeat, fold]).generate_state(1)[0])
            for label, pipe in pipelines.items():
                tune = tunes.get(label)
                inner_spatial = spatial if tune is None or tune.inner == "auto" else tune.inner == "spatial"
                if tune is not None and inner_spatial and coords is None:
                    raise StudyConfigError(f"tuning of {label!r}: spatial inner folds need the sample coordinates")
                keys.append((scheme, label, repeat, fold, len(train), len(test)))
                jobs.append((label, scheme, pipe, tune, train, test, inner_spatial, inner_seed))
                tests.append(test)
        fold_ids[scheme] = ids

    finite = X.dtype.kind in "biuf" and bool(np.isfinite(X).all())
    args = (X, y, coords, threshold, names, finite)
    serial = n_jobs == 1 or effective_n_jobs(n_jobs) == 1
    # fold batches: each job is independent (own clone, own seed), so batching never changes a result
    n_batches = min(len(jobs), _SERIAL_BATCHES if serial else 4 * effective_n_jobs(n_jobs))
    bounds = np.linspace(0, len(jobs), n_batches + 1).astype(int)
    outcomes = []
    with progress.task(f"cross-validation: {len(jobs)} fits in fold batches", total=n_batches) as bar:
        if serial:
            for a, b in pairwise(bounds):
                outcomes += _run_batch(jobs[a:b], *args)
                bar.advance()
        else:
            # fold workers of this process's own pool (loky) end with it; a dask cluster's workers outlive it
            active = get_active_backend()[0] if backend is None else None
            local_pool = active is None or isinstance(active, (LokyBackend, MultiprocessingBackend))
            parent = (socket.gethostname(), os.getpid()) if local_pool else None
            try:
                for batch in Parallel(n_jobs=n_jobs, backend=backend, return_as="generator")(
                    delayed(_run_batch)(jobs[a:b], *args, parent=parent) for a, b in pairwise(bounds)
                ):
                    outcomes += batch
                    bar.advance()
            except KeyboardInterrupt:  # Ctrl-C, or SIGTERM turned into one by the CLI: no fold worker goes on
                stop_workers(children=False)
                raise

    test_scores = _score_frame(keys, outcomes, names, "test")
    train_scores = _score_frame(keys, outcomes, names, "train")
    headline = [m for m in METRIC_NAMES if m in names] or list(names)
    check = "auroc" if "auroc" in names else names[0]
    n_undefined = int(test_scores[check].isna().sum())
    if n_undefined:
        warnings.warn(
            f"{n_undefined} of {len(test_scores)} model folds had one class only in their training or test part; "
            "their scores are undefined (NaN) and left out of the means (CVResult.pooled scores the pooled "
            "test predictions of each repeat)",
            SusmapWarning,
            stacklevel=2,
        )
    return CVResult(
        scores=test_scores,
        summary=summarize_scores(test_scores, headline),
        fold_ids=fold_ids,
        train_scores=train_scores,
        train_summary=summarize_scores(train_scores, headline),
        predictions=_prediction_frame(keys, outcomes, tests, y) if return_predictions else None,
        tuning=_tuning_frame(keys, outcomes, tunes),
        metrics=names,
        pooled=_pooled_frame(keys, outcomes, tests, y, names),
    )


def _score_frame(keys, outcomes, names, part: str) -> pd.DataFrame:
    cols: dict[str, Any] = {k: [key[i] for key in keys] for i, k in enumerate(_KEYS)}
    cols["part"] = part
    cols["n_train"] = np.array([key[4] for key in keys], dtype=np.int64)
    cols["n_test"] = np.array([key[5] for key in keys], dtype=np.int64)
    cols["threshold"] = np.array([o.threshold for o in outcomes], dtype=float)
    for m in names:
        cols[m] = np.array([getattr(o, part)[m] for o in outcomes], dtype=float)
    return pd.DataFrame(cols, index=pd.RangeIndex(len(keys)))


def _pooled_frame(keys, outcomes, tests, y, names) -> pd.DataFrame:
    groups: dict[tuple[str, str, int], list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault((key[0], key[1], key[2]), []).append(i)
    rows = []
    for (scheme, model, repeat), idx in groups.items():
        sample = np.concatenate([tests[i] for i in idx])
        prob = np.concatenate([outcomes[i].prob for i in idx])
        thr = np.concatenate([np.full(len(tests[i]), outcomes[i].threshold) for i in idx])
        ok = ~np.isnan(prob)
        scores = score_prepared(y[sample[ok]] == 1, prob[ok], thr[ok], names)
        row = {"scheme": scheme, "model": model, "repeat": repeat, "n_folds": len(idx), "n_test": int(ok.sum())}
        rows.append({**row, **scores})
    return pd.DataFrame(rows)


def _prediction_frame(keys, outcomes, tests, y) -> pd.DataFrame:
    lengths = np.array([len(t) for t in tests], dtype=np.int64)
    sample = np.concatenate(tests) if tests else np.empty(0, dtype=np.int64)
    return pd.DataFrame(
        {
            "scheme": np.repeat(np.array([k[0] for k in keys], dtype=object), lengths),
            "repeat": np.repeat(np.array([k[2] for k in keys], dtype=np.int64), lengths),
            "fold": np.repeat(np.array([k[3] for k in keys], dtype=np.int64), lengths),
            "model": np.repeat(np.array([k[1] for k in keys], dtype=object), lengths),
            "sample": sample.astype(np.int64),
            "label": y[sample],
            "prob": np.concatenate([o.prob for o in outcomes]) if outcomes else np.empty(0),
        }
    )


def _tuning_frame(keys, outcomes, tunes) -> pd.DataFrame | None:
    if not tunes:
        return None
    rows = []
    for key, o in zip(keys, outcomes, strict=True):
        tune = tunes.get(key[1])
        if tune is None:
            continue
        row = dict(zip(_KEYS, key[:4], strict=True))
        row.update(scoring=tune.scoring, inner_score=o.inner_score, n_candidates=len(tune.candidates))
        row.update(o.params or dict.fromkeys(tune.param_names))
        rows.append(row)
    return pd.DataFrame(rows)


def stop_workers(children: bool = True, grace_s: float = 3.0) -> list[int]:
    """Stop the fold workers now (and, with ``children``, every child process); returns the pids signalled.

    Fold workers (joblib's loky processes) otherwise stay alive after an
    interrupt until they finish their batch or time out, minutes later. The
    loky executor is shut down with its workers killed; with ``children``
    (the command line, whose children are all susmap's workers) any child
    process still running, recursively, gets SIGTERM and, after ``grace_s``
    seconds, SIGKILL.
    """
    try:
        from joblib.externals.loky import get_reusable_executor
    except ImportError:  # pragma: no cover - joblib always vendors loky
        pass
    else:
        with contextlib.suppress(Exception):  # a broken executor is what we are cleaning up
            get_reusable_executor().shutdown(wait=True, kill_workers=True)
    if not children:
        return []
    # loky's resource tracker is left to end with this process (it exits when its pipe closes, after
    # removing the semaphores and memory maps it tracks); killing it would leak them.
    pids = [pid for pid in _child_pids(os.getpid()) if b"resource_tracker" not in _cmdline(pid)]
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [pid for pid in alive if _running(pid)]
    for pid in alive:
        _signal(pid, signal.SIGKILL)
    return pids


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _running(pid: int) -> bool:
    """Alive and not a zombie; reaps our own exited children."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:  # not our child (a grandchild) or already reaped
        pass
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _child_pids(parent: int) -> list[int]:
    """Pids of every descendant of ``parent`` (psutil where installed, else ``/proc``)."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            return [p.pid for p in psutil.Process(parent).children(recursive=True)]
        except psutil.Error:
            return []
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [parent]
    while todo:
        for pid in children.get(todo.pop(), []):
            found.append(pid)
            todo.append(pid)
    return found
