"""Why the model rates a cell high: factor effects, SHAP values and maps, per-class factor profiles.

Global effects (one curve per factor, on the event probability ``predict_proba[:, 1]``):

* :func:`accumulated_local_effects`: first-order ALE (Apley & Zhu 2020, J. R.
  Stat. Soc. B 82: 1059–1086, eq. 15–16). The factor's range is cut at its
  sample quantiles ``z_0 < … < z_K``; in bin k the local effect is the mean,
  over the samples in ``(z_{k-1}, z_k]`` (the first bin also holds ``z_0``),
  of ``f(z_k, x_\\j) − f(z_{k-1}, x_\\j)``; the effects are summed from
  ``z_0``. The curve is the linear interpolation of these sums between the
  edges (as ALEPlot draws it), centred so that its mean over the samples,
  each at its own factor value, is 0. For an additive model
  ``f = g(x_j) + h(x_\\j)`` it is exactly ``g(x) − mean_i g(x_i)`` wherever g
  is linear between the edges. Categorical factors: levels in the order of
  their codes; the step from level k−1 to k is the paper's eq. for
  categorical predictors (mean over the samples at either level of the
  change in f when their level is moved across the step); the accumulated
  steps are centred on their sample-weighted mean, so each level's effect is
  relative to the sample mean (for an additive model: ``b(l) − mean_i b(l_i)``).
* :func:`partial_dependence_curve`: the partial dependence (Friedman 2001)
  from :func:`sklearn.inspection.partial_dependence` (``kind="average"``,
  brute force on ``predict_proba``) over a grid spanning the whole sample
  range, centred the same way as the ALE (the mean probability is kept in
  :attr:`EffectCurve.offset`). Where factors are correlated the PD averages
  the model over factor combinations that do not occur; ALE does not.

SHAP values (Lundberg & Lee 2017; TreeSHAP: Lundberg et al. 2020, Nat. Mach.
Intell. 2: 56–67), always of the event probability (output space
"probability", so base value + Σ values = ``predict_proba[:, 1]``):

* random forests, extra trees, decision trees (scikit-learn): TreeExplainer,
  ``feature_perturbation="tree_path_dependent"``, raw output. scikit-learn
  classification trees hold class fractions in their leaves and a forest
  averages them, so the raw output *is* the probability: additivity is exact
  (< 1e-9) and no background is needed (the base value is the training-weighted
  mean leaf value). Method ``"tree_path_dependent"``.
* ``GradientBoostingClassifier``: TreeExplainer, ``feature_perturbation=
  "interventional"`` with ``model_output="probability"`` on a background of at
  most ``max_background`` rows (the raw output would be log-odds). Additivity
  ~1e-8. Method ``"tree_interventional"``.
* everything else (logistic regression, SVM, ANN, ``HistGradientBoosting``, whose
  interventional TreeSHAP in shap 0.51 misses additivity by ~0.01 log-odds, a
  pipeline whose preprocessing mixes columns such as one-hot encoding): the
  model-agnostic explainer on ``predict_proba[:, 1]`` of the whole pipeline
  with an independent (interventional) masker over a sampled background: the
  exact Shapley values over all coalitions (``shap.explainers.Exact``) for at
  most :data:`EXACT_MAX_FACTORS` factors (additivity to float rounding,
  < 1e-9), else the antithetic permutation estimate (``shap.explainers.Permutation``,
  seeded; additive by construction, each permutation telescopes, < 1e-9).
  Method ``"exact"`` or ``"permutation"``.

A scikit-learn ``Pipeline`` is unwrapped for TreeExplainer when its
preprocessing keeps the columns one to one (``passthrough``,
``StandardScaler``, frequency-ratio or WoE encoding): checked by changing one
input column at a time on the background and seeing exactly one output
column change. The tree is then explained on the transformed columns and the
values are mapped back to the factors (a per-column transform does not change
a factor's Shapley value). Otherwise the agnostic explainer runs on the whole
pipeline.

Local maps: :func:`shap_maps` computes SHAP value maps of chosen factors block
by block over a :class:`~susmap.stack.Stack`, like
:func:`susmap.mapping.predict_stack`; :func:`write_shap_maps` writes them as
``shap_<factor>.tif`` (float32, probability units, NaN nodata) in one dask
graph, so the SHAP values of a block are computed once for all factors.
Tree models only by default; the agnostic explainer needs ``allow_agnostic=True``.

Cost, measured (shap 0.51, scikit-learn 1.9, a shared 2-core machine at load ~3):
a 1,000 × 1,000 stack of five smooth factors in 250² blocks, a 100-tree
random forest fitted on 2,000 of its cells (fully grown: 321 leaves and
depth 20.5 per tree on average), :func:`write_shap_maps` of the top 3
factors: 254 s for a 40 × 1,000 band (40,000 cells), 6.3 ms per cell, so
about 6,300 s (1.8 h) for the whole 1,000² stack (linear in cells;
extrapolated, not run whole). Path-dependent TreeSHAP costs O(trees ×
leaves × depth²) per cell whatever the number of maps; shap's TreeSHAP holds
the GIL, so dask's threads do not help: a ``dask.distributed`` cluster of
worker processes does (the prepared explainer pickles), or a smaller forest
(``max_depth``, ``min_samples_leaf``), or a coarser grid.

Per-class profiles: :func:`class_profiles` samples mapped cells and gives per
susceptibility class the median and 10/90 percentiles of each continuous
factor and the share of each level of a categorical one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import matplotlib
import numpy as np
import pandas as pd
import rasterio
from rasterio.errors import RasterioError
from rasterio.windows import Window

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from susmap.errors import ModelFitError, RasterReadError, StudyConfigError, SusmapError
from susmap.mapping.writer import RasterTarget, write_lazy_rasters
from susmap.stack import Stack

__all__ = [
    "EXACT_MAX_FACTORS",
    "EffectCurve",
    "ExplainDependencyError",
    "ShapResult",
    "accumulated_local_effects",
    "class_profiles",
    "partial_dependence_curve",
    "plot_class_profiles",
    "plot_effects",
    "plot_shap_summary",
    "shap_importance",
    "shap_maps",
    "shap_values",
    "write_shap_maps",
]

#: At most this many factors: exact Shapley values over all 2^p coalitions; more: permutation estimate.
EXACT_MAX_FACTORS = 10
#: Sample values kept per effect curve for the rug of :func:`plot_effects`.
RUG_SIZE = 500

_PATH_DEPENDENT = frozenset(
    {"RandomForestClassifier", "ExtraTreesClassifier", "DecisionTreeClassifier", "ExtraTreeClassifier"}
)
_INTERVENTIONAL = frozenset({"GradientBoostingClassifier"})


class ExplainDependencyError(SusmapError, ImportError):
    """The optional ``shap`` package is not installed."""


# --------------------------------------------------------------------------- global effects


@dataclass(frozen=True, eq=False)
class EffectCurve:
    """One factor's effect on the event probability.

    Attributes
    ----------
    feature : str
        Factor name.
    x : ndarray
        Bin edges (continuous ALE), grid values (PDP) or levels (categorical), in factor units.
    effect : ndarray
        Centred effect at ``x`` [probability]; its sample mean is 0.
    counts : ndarray of int
        Samples per bin between consecutive ``x`` (continuous; ``len(x) − 1``)
        or per level (categorical; ``len(x)``).
    kind : str
        ``"ale"`` or ``"pdp"``.
    categorical : bool
        Whether ``x`` are levels.
    offset : float
        Mean predicted probability of the samples; ``offset + effect`` is on the probability scale.
    rug : ndarray
        At most :data:`RUG_SIZE` of the samples' factor values (for the rug of the figure).
    """

    feature: str
    x: np.ndarray
    effect: np.ndarray
    counts: np.ndarray
    kind: str
    categorical: bool = False
    offset: float = 0.0
    rug: np.ndarray | None = None


def _proba(model, X: np.ndarray) -> np.ndarray:  # noqa: N803
    return np.asarray(model.predict_proba(X), dtype=np.float64)[:, 1]


def _check_X(X, feature: int, where: str) -> np.ndarray:  # noqa: N802, N803
    X = np.asarray(X, dtype=np.float64)  # noqa: N806
    if X.ndim != 2 or X.shape[0] < 2:
        raise StudyConfigError(f"{where}: X must be a 2-D table of at least 2 samples, got shape {X.shape}")
    if not 0 <= feature < X.shape[1]:
        raise StudyConfigError(f"{where}: feature index {feature} is outside the {X.shape[1]} columns")
    if not np.isfinite(X).all():
        raise StudyConfigError(f"{where}: X holds NaN or infinite values; drop those samples first")
    return X


def _name(names: Sequence[str] | None, feature: int) -> str:
    return str(names[feature]) if names is not None else f"x{feature}"


def _rug(x: np.ndarray, seed: int = 0) -> np.ndarray:
    if x.size <= RUG_SIZE:
        return np.sort(x)
    return np.sort(np.random.default_rng(seed).choice(x, RUG_SIZE, replace=False))


def _centre_on_samples(x_grid: np.ndarray, curve: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Subtract the mean over the samples of the linear interpolation of ``curve`` at their own values."""
    return curve - float(np.mean(np.interp(x, x_grid, curve)))


def accumulated_local_effects(
    model,
    X: np.ndarray,  # noqa: N803
    feature: int,
    *,
    bins: int = 20,
    categorical: bool = False,
    names: Sequence[str] | None = None,
) -> EffectCurve:
    """First-order accumulated local effects of column ``feature`` of ``X`` on ``predict_proba[:, 1]``.

    Apley & Zhu (2020), eq. 15–16 (continuous: ``bins`` quantile bins, fewer
    when quantiles coincide) and section 5.2 (categorical, levels in code
    order). Centring and interpolation: see the module docstring. Costs
    ``2 × n`` predictions (continuous) or ``2 × n`` per step between levels.
    """
    X = _check_X(X, feature, "accumulated_local_effects")  # noqa: N806
    if bins < 1:
        raise StudyConfigError(f"accumulated_local_effects: bins must be >= 1, got {bins}")
    x = X[:, feature]
    offset = float(_proba(model, X).mean())
    if categorical:
        levels, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
        steps = np.zeros(levels.size)
        for k in range(1, levels.size):
            lo, hi = inverse == k - 1, inverse == k
            up = X[lo].copy()
            up[:, feature] = levels[k]
            down = X[hi].copy()
            down[:, feature] = levels[k - 1]
            diff = (_proba(model, up) - _proba(model, X[lo])).sum() + (_proba(model, X[hi]) - _proba(model, down)).sum()
            steps[k] = diff / (lo.sum() + hi.sum())
        acc = np.cumsum(steps)
        effect = acc - float((acc * counts).sum() / counts.sum())
        return EffectCurve(_name(names, feature), levels, effect, counts, "ale", True, offset, levels.copy())
    edges = np.unique(np.quantile(x, np.linspace(0.0, 1.0, bins + 1)))
    if edges.size < 2:
        raise StudyConfigError(f"accumulated_local_effects: {_name(names, feature)} is constant; no effect to show")
    k = np.clip(np.searchsorted(edges, x, side="left"), 1, edges.size - 1)
    upper, lower = X.copy(), X.copy()
    upper[:, feature] = edges[k]
    lower[:, feature] = edges[k - 1]
    diff = _proba(model, upper) - _proba(model, lower)
    counts = np.bincount(k - 1, minlength=edges.size - 1)
    local = np.bincount(k - 1, weights=diff, minlength=edges.size - 1) / np.maximum(counts, 1)
    acc = np.concatenate([[0.0], np.cumsum(local)])
    effect = _centre_on_samples(edges, acc, x)
    return EffectCurve(_name(names, feature), edges, effect, counts, "ale", False, offset, _rug(x))


def partial_dependence_curve(
    model,
    X: np.ndarray,  # noqa: N803
    feature: int,
    *,
    grid: int = 20,
    categorical: bool = False,
    names: Sequence[str] | None = None,
) -> EffectCurve:
    """Partial dependence of ``predict_proba[:, 1]`` on column ``feature``, centred on the samples.

    :func:`sklearn.inspection.partial_dependence` with ``kind="average"``,
    ``method="brute"``, ``grid`` points from the minimum to the maximum
    (percentiles 0 and 100; the unique values when fewer), or every level
    when ``categorical``. ``model`` must be a fitted scikit-learn classifier.
    """
    from sklearn.inspection import partial_dependence

    X = _check_X(X, feature, "partial_dependence_curve")  # noqa: N806
    if grid < 2:
        raise StudyConfigError(f"partial_dependence_curve: grid must be >= 2, got {grid}")
    x = X[:, feature]
    res = partial_dependence(
        model,
        X,
        [feature],
        kind="average",
        method="brute",
        response_method="predict_proba",
        grid_resolution=grid,
        percentiles=(0.0, 1.0),
        categorical_features=[feature] if categorical else None,
    )
    values = np.asarray(res["grid_values"][0], dtype=np.float64)
    pd_ = np.asarray(res["average"][0], dtype=np.float64)
    offset = float(_proba(model, X).mean())
    if categorical:
        _, counts = np.unique(x, return_counts=True)
        effect = pd_ - float((pd_ * counts).sum() / counts.sum())
        return EffectCurve(_name(names, feature), values, effect, counts, "pdp", True, offset, values.copy())
    counts = np.histogram(x, bins=values)[0] if values.size > 1 else np.array([x.size])
    effect = _centre_on_samples(values, pd_, x)
    return EffectCurve(_name(names, feature), values, effect, counts, "pdp", False, offset, _rug(x))


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return path


def plot_effects(curves: Sequence[EffectCurve], path: str | Path, *, ncols: int = 3) -> Path:
    """Small multiples of effect curves, one panel per factor, with a rug of the sample values; one PNG.

    Curves of the same factor (an ALE and a PDP) share a panel. The y axis is
    the centred effect on the event probability [probability].
    """
    curves = list(curves)
    if not curves:
        raise StudyConfigError("plot_effects: no effect curve to draw")
    features = list(dict.fromkeys(c.feature for c in curves))
    ncols = max(1, min(ncols, len(features)))
    nrows = math.ceil(len(features) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.7 * nrows), squeeze=False)
    colours = {"ale": "#2166ac", "pdp": "#d6604d"}
    for ax, feat in zip(axes.flat, features, strict=False):
        mine = [c for c in curves if c.feature == feat]
        for pos_c, c in enumerate(mine):
            label = "ALE" if c.kind == "ale" else "PD"
            if c.categorical:
                width = 0.8 / len(mine)
                pos = np.arange(c.x.size) + (pos_c - (len(mine) - 1) / 2) * width
                ax.bar(pos, c.effect, width=width, color=colours.get(c.kind, "grey"), label=label)
                ax.set_xticks(np.arange(c.x.size), [f"{v:g}" for v in c.x], fontsize=7)
            else:
                ax.plot(c.x, c.effect, color=colours.get(c.kind, "grey"), lw=1.6, label=label)
        ref = mine[0]
        if not ref.categorical and ref.rug is not None:
            lo = ax.get_ylim()[0]
            ax.plot(ref.rug, np.full(ref.rug.size, lo), "|", color="k", ms=6, alpha=0.35)
        ax.axhline(0.0, color="0.6", lw=0.6)
        ax.set_title(feat, fontsize=9)
        ax.tick_params(labelsize=7)
        if len(mine) > 1:
            ax.legend(fontsize=7, frameon=False)
    for ax in axes.flat[len(features) :]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("effect on P(event)", fontsize=8)
    return _save(fig, path)


# --------------------------------------------------------------------------- SHAP values


@dataclass(frozen=True, eq=False)
class ShapResult:
    """SHAP values of the event probability.

    Attributes
    ----------
    values : ndarray (n, p)
        SHAP value of each factor for each explained sample [probability].
    base_value : float
        Expected probability the values start from: ``base_value + values.sum(1)`` = ``predict_proba[:, 1]``.
    names : list of str
        Factor names (columns of ``values``).
    data : ndarray (n, p)
        The explained samples' factor values (colours of :func:`plot_shap_summary`).
    method : str
        ``"tree_path_dependent"``, ``"tree_interventional"``, ``"exact"`` or ``"permutation"``.
    """

    values: np.ndarray
    base_value: float
    names: list[str]
    data: np.ndarray
    method: str


def _import_shap():
    try:
        import shap
    except ImportError as err:
        raise ExplainDependencyError(
            "SHAP explanations need the package shap, a dependency of susmap: pip install 'shap>=0.46'"
        ) from err
    return shap


def _column_map(pre, X: np.ndarray) -> np.ndarray | None:  # noqa: N803
    """Output column of each input column when ``pre`` transforms column by column, keeping the count; else None."""
    try:
        base = np.asarray(pre.transform(X), dtype=np.float64)
    except (ValueError, TypeError):
        return None
    p = X.shape[1]
    if base.ndim != 2 or base.shape != X.shape:
        return None
    mapping = np.full(p, -1)
    for j in range(p):
        moved = X.copy()
        moved[:, j] = np.roll(X[:, j], 1)
        if np.array_equal(moved[:, j], X[:, j]):
            continue  # constant column: resolved by elimination below
        changed = np.flatnonzero(np.any(np.asarray(pre.transform(moved), dtype=np.float64) != base, axis=0))
        if changed.size != 1:
            return None
        mapping[j] = changed[0]
    free_in = np.flatnonzero(mapping < 0)
    free_out = sorted(set(range(p)) - set(mapping[mapping >= 0].tolist()))
    if len(free_out) != free_in.size or len(set(mapping[mapping >= 0].tolist())) != p - free_in.size:
        return None
    if free_in.size > 1:
        return None
    mapping[free_in] = free_out
    return mapping


class _Engine:
    """A prepared SHAP explainer of ``predict_proba[:, 1]``: ``values(X)`` gives (n, p) SHAP values and the base."""

    def __init__(self, model, background: np.ndarray, *, max_background: int, seed: int, allow_agnostic: bool = True):
        shap = _import_shap()
        if not hasattr(model, "predict_proba"):
            raise ModelFitError(f"SHAP: {type(model).__name__} has no predict_proba")
        background = np.asarray(background, dtype=np.float64)
        if background.ndim != 2 or background.shape[0] < 1:
            raise StudyConfigError(f"SHAP: the background must be a 2-D table of samples, got shape {background.shape}")
        background = background[np.isfinite(background).all(axis=1)]
        if background.shape[0] == 0:
            raise StudyConfigError("SHAP: every background sample holds NaN")
        if background.shape[0] > max_background:
            rows = np.sort(np.random.default_rng(seed).choice(background.shape[0], max_background, replace=False))
            background = background[rows]
        self.p = background.shape[1]
        self.pre, self.mapping = None, None
        final = model
        if hasattr(model, "steps") and len(model.steps) > 1:
            final = model[-1]
            mapping = _column_map(model[:-1], background)
            if mapping is None:
                final = None  # preprocessing mixes columns: agnostic on the whole pipeline
            else:
                self.pre, self.mapping = model[:-1], mapping
        elif hasattr(model, "steps"):
            final = model[-1]
        kind = type(final).__name__ if final is not None else ""
        if kind in _PATH_DEPENDENT or kind in _INTERVENTIONAL:
            self.cls = int(np.flatnonzero(np.asarray(final.classes_) == 1)[0]) if hasattr(final, "classes_") else 1
            if kind in _PATH_DEPENDENT:
                self.method = "tree_path_dependent"
                self.explainer = shap.TreeExplainer(final, feature_perturbation="tree_path_dependent")
            else:
                self.method = "tree_interventional"
                bg = self.pre.transform(background) if self.pre is not None else background
                self.explainer = shap.TreeExplainer(
                    final,
                    data=np.asarray(bg, np.float64),
                    feature_perturbation="interventional",
                    model_output="probability",
                )
            self.base = self._pick(self.explainer.expected_value, binary_scalar=True)
            return
        if not allow_agnostic:
            name = type(final if final is not None else model).__name__
            raise ModelFitError(
                "SHAP maps: TreeSHAP covers random forests, extra trees, decision trees and "
                f"GradientBoostingClassifier (behind preprocessing that keeps the columns); {name} needs the "
                "model-agnostic explainer, slow over a raster: pass allow_agnostic=True to run it anyway"
            )

        def f(x):
            return np.asarray(model.predict_proba(x), dtype=np.float64)[:, 1]

        masker = shap.maskers.Independent(background, max_samples=background.shape[0])
        if self.p <= EXACT_MAX_FACTORS:
            self.method = "exact"
            self.explainer = shap.explainers.Exact(f, masker)
        else:
            self.method = "permutation"
            self.explainer = shap.explainers.Permutation(f, masker, seed=seed)
        self.base = float(f(background).mean())

    def _pick(self, value, binary_scalar: bool = False):
        arr = np.asarray(value, dtype=np.float64)
        if binary_scalar:
            return float(arr.reshape(-1)[self.cls]) if arr.size > 1 else float(arr.reshape(-1)[0])
        return arr

    def values(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        """(n, p) SHAP values of the event probability for the rows of ``X`` (factor order)."""
        X = np.asarray(X, dtype=np.float64)  # noqa: N806
        if X.shape[0] == 0:
            return np.zeros((0, self.p))
        if self.method.startswith("tree"):
            Xt = np.asarray(self.pre.transform(X), np.float64) if self.pre is not None else X  # noqa: N806
            sv = self.explainer.shap_values(Xt, check_additivity=False)
            arr = np.stack(sv, axis=-1) if isinstance(sv, list) else np.asarray(sv, dtype=np.float64)
            if arr.ndim == 3:
                arr = arr[..., self.cls]
            return arr[:, self.mapping] if self.mapping is not None else arr
        if self.method == "exact":
            exp = self.explainer(X, silent=True)
        else:
            exp = self.explainer(X, max_evals=max(500, 2 * (2 * self.p + 1)), silent=True)
        return np.asarray(exp.values, dtype=np.float64)


def shap_values(
    model,
    X_background: np.ndarray,  # noqa: N803
    X_explain: np.ndarray,  # noqa: N803
    *,
    names: Sequence[str],
    max_background: int = 200,
    seed: int = 0,
) -> ShapResult:
    """SHAP values of ``predict_proba[:, 1]`` for the rows of ``X_explain``.

    Explainer per model, output space and additivity: see the module
    docstring. ``X_background`` (e.g. the training samples) is sampled down to
    ``max_background`` rows (seeded) for the interventional and agnostic
    explainers; the path-dependent TreeSHAP of forests does not use it.
    Rows of ``X_explain`` with NaN are refused.

    Raises
    ------
    ExplainDependencyError
        shap is not installed (a dependency of susmap: ``pip install 'shap>=0.46'``).
    """
    X_explain = np.asarray(X_explain, dtype=np.float64)  # noqa: N806
    names = [str(n) for n in names]
    if X_explain.ndim != 2 or X_explain.shape[1] != len(names):
        raise StudyConfigError(
            f"shap_values: X_explain has shape {X_explain.shape}, expected (n, {len(names)}) for the names {names}"
        )
    if not np.isfinite(X_explain).all():
        raise StudyConfigError("shap_values: X_explain holds NaN or infinite values; drop those rows first")
    if np.asarray(X_background).shape[1:] != (len(names),):
        raise StudyConfigError(f"shap_values: X_background must have {len(names)} columns ({names})")
    engine = _Engine(model, X_background, max_background=max_background, seed=seed)
    return ShapResult(engine.values(X_explain), engine.base, names, X_explain.copy(), engine.method)


def shap_importance(result: ShapResult) -> pd.DataFrame:
    """Mean absolute SHAP value per factor [probability], largest first: columns ``factor``, ``mean_abs_shap``."""
    mean_abs = np.abs(result.values).mean(axis=0) if result.values.size else np.zeros(len(result.names))
    table = pd.DataFrame({"factor": result.names, "mean_abs_shap": mean_abs})
    return table.sort_values("mean_abs_shap", ascending=False, kind="stable").reset_index(drop=True)


def _swarm_offsets(v: np.ndarray, nbins: int = 60, width: float = 0.4) -> np.ndarray:
    """Vertical offsets that spread points sharing a value bin (a beeswarm by histogram bins)."""
    if v.size == 0:
        return v
    lo, hi = float(v.min()), float(v.max())
    b = np.zeros(v.size, dtype=int) if hi <= lo else np.minimum(((v - lo) / (hi - lo) * nbins).astype(int), nbins - 1)
    order = np.argsort(b, kind="stable")
    rank = np.empty(v.size, dtype=int)
    starts = np.searchsorted(b[order], b[order], side="left")
    rank[order] = np.arange(v.size) - starts
    counts = np.bincount(b, minlength=nbins)
    side = np.where(rank % 2 == 0, 1.0, -1.0)
    step = (rank + 1) // 2
    scale = width / max(1, counts.max() // 2)
    return side * step * scale


def plot_shap_summary(result: ShapResult, path: str | Path, *, max_display: int = 20) -> Path:
    """Beeswarm-like SHAP summary: one row per factor (largest mean |SHAP| on top), points coloured by factor value.

    x: SHAP value [probability]; colour: the factor's value from its 5th
    (blue) to its 95th (red) percentile among the explained samples.
    """
    if result.values.size == 0:
        raise StudyConfigError("plot_shap_summary: no explained sample")
    order = shap_importance(result)["factor"].tolist()[:max_display]
    idx = [result.names.index(f) for f in order]
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(idx) + 1.3))
    cmap = plt.get_cmap("coolwarm")
    for row, j in enumerate(idx):
        y = len(idx) - 1 - row
        v = result.values[:, j]
        c = result.data[:, j]
        lo, hi = np.percentile(c, [5, 95])
        colour = np.clip((c - lo) / (hi - lo), 0, 1) if hi > lo else np.full(c.size, 0.5)
        ax.scatter(v, y + _swarm_offsets(v), c=cmap(colour), s=6, lw=0, alpha=0.8, rasterized=True)
    ax.set_yticks(range(len(idx)), [result.names[j] for j in idx][::-1], fontsize=8)
    ax.axvline(0.0, color="0.5", lw=0.7)
    ax.set_xlabel("SHAP value: change in P(event)", fontsize=9)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    bar = fig.colorbar(sm, ax=ax, ticks=[0, 1], aspect=30, pad=0.02)
    bar.ax.set_yticklabels(["low", "high"], fontsize=8)
    bar.set_label("factor value", fontsize=8)
    return _save(fig, path)


# --------------------------------------------------------------------------- SHAP maps


def _shap_block(block: np.ndarray, engine: _Engine, idx: tuple[int, ...], chunk_rows: int) -> np.ndarray:
    out = np.full((len(idx), *block.shape[1:]), np.nan, dtype=np.float32)
    valid = np.isfinite(block).all(axis=0)
    if not valid.any():
        return out
    X = block[:, valid].T.astype(np.float64)  # noqa: N806
    vals = np.concatenate([engine.values(X[i : i + chunk_rows]) for i in range(0, X.shape[0], chunk_rows)])
    out[:, valid] = vals[:, list(idx)].T
    return out


def shap_maps(
    stack: Stack,
    model,
    background: np.ndarray,
    *,
    factors: Sequence[str],
    chunk_rows: int = 65_536,
    max_background: int = 200,
    seed: int = 0,
    allow_agnostic: bool = False,
) -> dict[str, da.Array]:
    """Lazy SHAP value maps ``{factor: (height, width) float32}`` of ``model`` over ``stack`` [probability].

    Each block of the stack is explained on its valid cells (every factor
    finite; NaN elsewhere), ``chunk_rows`` cells per explainer call (working
    memory ≈ chunk_rows × n_factors × 16 bytes for a forest). The maps share
    one dask computation: compute or write them together
    (:func:`write_shap_maps`). ``background`` is a table of samples
    (n, n_factors) in the stack's factor order, for the explainers that need
    one. Tree models only unless ``allow_agnostic`` (slow: the exact explainer
    calls the model 2^p × background rows per cell).
    """
    names = stack.names
    factors = [str(f) for f in factors]
    unknown = [f for f in factors if f not in names]
    if unknown or not factors:
        raise StudyConfigError(
            f"shap_maps: factor(s) {unknown or '(none)'} not in the stack; the stack has {', '.join(names)}"
        )
    if chunk_rows < 1:
        raise StudyConfigError(f"shap_maps: chunk_rows must be >= 1, got {chunk_rows}")
    if np.asarray(background).shape[1:] != (len(names),):
        raise StudyConfigError(f"shap_maps: the background must have {len(names)} columns ({', '.join(names)})")
    engine = _Engine(model, background, max_background=max_background, seed=seed, allow_agnostic=allow_agnostic)
    data = stack.data.data
    if data.numblocks[0] != 1:
        data = data.rechunk({0: -1})
    idx = tuple(names.index(f) for f in factors)
    chunks = ((len(idx),), *data.chunks[1:])
    meta = np.empty((0, 0, 0), np.float32)
    maps = data.map_blocks(_shap_block, engine, idx, chunk_rows, chunks=chunks, dtype=np.float32, meta=meta)
    return {f: maps[i] for i, f in enumerate(factors)}


def write_shap_maps(
    stack: Stack,
    model,
    background: np.ndarray,
    folder: str | Path,
    *,
    factors: Sequence[str],
    label: str = "model",
    compress: str = "deflate",
    **kwargs: Any,
) -> dict[str, Path]:
    """Write :func:`shap_maps` as ``<folder>/shap_<factor>.tif`` (float32 COG, NaN nodata) in one pass.

    ``kwargs`` go to :func:`shap_maps`. Returns ``{factor: path}``.
    """
    maps = shap_maps(stack, model, background, factors=factors, **kwargs)
    folder = Path(folder)
    targets, paths = [], {}
    for f, arr in maps.items():
        path = folder / f"shap_{f}.tif"
        paths[f] = path
        targets.append(
            RasterTarget(
                path,
                arr,
                "float32",
                np.nan,
                f"SHAP value of {f}: its contribution to the event probability ({label})",
                {"model": label, "factor": f, "units": "probability [-1 to 1]"},
                compress,
                None,
            )
        )
    write_lazy_rasters(targets, stack.grid)
    return paths


# --------------------------------------------------------------------------- per-class profiles

_PROFILE_ROWS = 512


def _sample_classes(path: Path, shape: tuple[int, int], sample: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of a uniform random sample (without replacement) of the cells with a class > 0."""
    rng = np.random.default_rng(seed)
    keys = np.empty(0)
    rows = np.empty(0, dtype=np.int64)
    cols = np.empty(0, dtype=np.int64)
    try:
        with rasterio.open(path) as src:
            if (src.height, src.width) != shape:
                raise StudyConfigError(
                    f"class_profiles: {path} has {src.height} × {src.width} cells, the stack {shape[0]} × {shape[1]}"
                )
            for r0 in range(0, src.height, _PROFILE_ROWS):
                h = min(_PROFILE_ROWS, src.height - r0)
                cls = src.read(1, window=Window(0, r0, src.width, h))
                rr, cc = np.nonzero(cls > 0)
                k = rng.random(rr.size)
                keys = np.concatenate([keys, k])
                rows = np.concatenate([rows, rr + r0])
                cols = np.concatenate([cols, cc])
                if keys.size > sample:
                    keep = np.argpartition(keys, sample)[:sample]
                    keys, rows, cols = keys[keep], rows[keep], cols[keep]
    except RasterioError as err:
        raise RasterReadError(f"class_profiles: cannot read the classes raster {path}: {err}") from err
    order = np.lexsort((cols, rows))
    return rows[order], cols[order]


def class_profiles(
    stack: Stack,
    classes_path: str | Path,
    factors: Sequence[str],
    *,
    sample: int = 50_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Factor values per susceptibility class on a random sample of mapped cells.

    ``classes_path``: the classified map (1..k, 0 = nodata) on the stack's
    grid. ``sample`` cells are drawn uniformly without replacement among the
    cells with a class (all of them when fewer); cells where a listed factor
    is NaN are dropped. Percentiles: numpy's linear interpolation (R type 7).

    Returns a long table, one row per (class, factor) for a continuous factor
    (``median``, ``p10``, ``p90`` in factor units, ``n`` cells) and one row
    per (class, factor, level) for a categorical factor (``share`` of the
    class's cells at that level); columns ``class``, ``factor``, ``kind``,
    ``level``, ``n``, ``median``, ``p10``, ``p90``, ``share``.
    """
    names = stack.names
    factors = [str(f) for f in factors]
    unknown = [f for f in factors if f not in names]
    if unknown or not factors:
        raise StudyConfigError(
            f"class_profiles: factor(s) {unknown or '(none)'} not in the stack; the stack has {', '.join(names)}"
        )
    if sample < 1:
        raise StudyConfigError(f"class_profiles: sample must be >= 1, got {sample}")
    path = Path(classes_path)
    if not path.exists():
        raise StudyConfigError(f"class_profiles: the classes raster {path} does not exist")
    rows, cols = _sample_classes(path, stack.grid.shape, sample, seed)
    with rasterio.open(path) as src:
        # read the class of each sampled cell again, window by window of rows
        cls = np.empty(rows.size, dtype=np.int64)
        for r0 in range(0, src.height, _PROFILE_ROWS):
            sel = (rows >= r0) & (rows < r0 + _PROFILE_ROWS)
            if sel.any():
                h = min(_PROFILE_ROWS, src.height - r0)
                block = src.read(1, window=Window(0, r0, src.width, h))
                cls[sel] = block[rows[sel] - r0, cols[sel]]
    data = stack.data.data
    idx = [names.index(f) for f in factors]
    values = np.stack([np.asarray(data[i].vindex[rows, cols].compute(), dtype=np.float64) for i in idx], axis=1)
    ok = np.isfinite(values).all(axis=1)
    values, cls = values[ok], cls[ok]
    records = []
    for c in np.unique(cls):
        vc = values[cls == c]
        for j, f in enumerate(factors):
            kind = stack.kinds.get(f, "continuous")
            if kind == "categorical":
                levels, counts = np.unique(vc[:, j], return_counts=True)
                for lev, cnt in zip(levels, counts, strict=True):
                    records.append(
                        (int(c), f, kind, float(lev), vc.shape[0], np.nan, np.nan, np.nan, cnt / vc.shape[0])
                    )
            else:
                p10, med, p90 = np.percentile(vc[:, j], [10, 50, 90])
                records.append((int(c), f, kind, np.nan, vc.shape[0], med, p10, p90, np.nan))
    return pd.DataFrame.from_records(
        records, columns=["class", "factor", "kind", "level", "n", "median", "p10", "p90", "share"]
    )


def plot_class_profiles(df: pd.DataFrame, path: str | Path, *, ncols: int = 3) -> Path:
    """Small multiples of :func:`class_profiles`: per factor, the median and 10–90 % range per class.

    Categorical factors: stacked bars of the level shares per class.
    """
    need = ["class", "factor", "kind", "level", "median", "p10", "p90", "share"]
    missing = [c for c in need if c not in df.columns]
    if missing or df.empty:
        raise StudyConfigError(f"plot_class_profiles: pass the table of class_profiles (missing {missing or 'rows'})")
    factors = list(dict.fromkeys(df["factor"]))
    ncols = max(1, min(ncols, len(factors)))
    nrows = math.ceil(len(factors) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), squeeze=False)
    classes = sorted(df["class"].unique())
    cmap = plt.get_cmap("RdYlGn_r")
    for ax, f in zip(axes.flat, factors, strict=False):
        sub = df[df["factor"] == f]
        if (sub["kind"] == "categorical").all():
            levels = sorted(sub["level"].unique())
            bottom = np.zeros(len(classes))
            tab = plt.get_cmap("tab10")
            for i, lev in enumerate(levels):
                share = np.array([sub.loc[(sub["class"] == c) & (sub["level"] == lev), "share"].sum() for c in classes])
                ax.bar(classes, share, bottom=bottom, color=tab(i % 10), label=f"{lev:g}")
                bottom += share
            ax.set_ylabel("share of cells", fontsize=8)
            ax.legend(
                fontsize=6, frameon=False, title="level", title_fontsize=6, loc="upper left", bbox_to_anchor=(1, 1)
            )
        else:
            sub = sub.set_index("class").loc[classes]
            colours = [cmap(i / max(1, len(classes) - 1)) for i in range(len(classes))]
            ax.vlines(classes, sub["p10"], sub["p90"], colors=colours, lw=3, alpha=0.6)
            ax.scatter(classes, sub["median"], c=colours, s=25, zorder=3, edgecolors="k", linewidths=0.5)
            ax.set_ylabel("median, 10–90 %", fontsize=8)
        ax.set_title(f, fontsize=9)
        ax.set_xticks(classes)
        ax.set_xlabel("susceptibility class", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(factors) :]:
        ax.set_visible(False)
    return _save(fig, path)
