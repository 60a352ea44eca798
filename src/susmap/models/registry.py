"""The model registry: every model susmap can fit, by name.

A registry entry builds a scikit-learn estimator from keyword parameters and
a seed. :func:`make_pipeline` wraps it with the per-fold preprocessing
(standard scaling of continuous factors where the model needs it, one-hot
encoding of categorical factors), so nothing is fitted before the split.
Later families (deep, swarm-trained, meta-learned) register themselves the
same way.

A model's presets (``params: {preset: paper001}``) are
:class:`susmap.presets.Preset` objects: parameters, source and deviations
from the paper. :func:`presets_markdown` writes them all as
``docs/presets.md`` (``susmap models --markdown``).
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR, NuSVC, NuSVR

from susmap.errors import StudyConfigError
from susmap.models.windows import WindowSource
from susmap.presets import Preset
from susmap.references import reference
from susmap.registry import Registry, check_params
from susmap.study import yaml_text_number

__all__ = [
    "MAX_SVM_C",
    "ModelSpec",
    "available_models",
    "check_models",
    "check_neighbours",
    "check_tuning",
    "get_model",
    "inner_estimators",
    "make_estimator",
    "make_pipeline",
    "presets_markdown",
    "register_model",
]


@dataclass(frozen=True)
class ModelSpec:
    """How to build one model.

    Attributes
    ----------
    name : str
        Registry name used in study files.
    factory : callable
        ``factory(seed=..., **params)`` returning an unfitted estimator.
    description : str
        One line for ``susmap models``, with the citation.
    scale : bool
        Standard-scale continuous factors inside each fold.
    presets : dict of str to Preset
        Named parameter sets (e.g. a paper's settings), each with its source
        and its deviations from it (:class:`susmap.presets.Preset`).
    inputs : {"cells", "windows"}
        What the model reads per sample: the factor values of the cell, or
        the k × k factor windows around it (patch models; their pipelines
        need a :class:`~susmap.models.windows.WindowSource`).
    requires : tuple of str
        Optional packages the model needs, with the extra that installs them
        (``("torch", "deep")``); checked before anything is fitted.
    references : tuple of str
        Keys of :mod:`susmap.references`: the paper(s) the model implements,
        then the method's origin (``susmap models`` and ``susmap cite`` show them).
    """

    name: str
    factory: Callable[..., BaseEstimator]
    description: str
    scale: bool = True
    presets: Mapping[str, Preset] = field(default_factory=dict)
    inputs: str = "cells"
    requires: tuple[str, str] | None = None
    references: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for key, preset in self.presets.items():
            if not isinstance(preset, Preset):
                raise TypeError(
                    f"model {self.name}: preset {key!r} must be a susmap.presets.Preset (parameters, source, "
                    f"deviations), not {type(preset).__name__}"
                )


_FAMILIES = ["susmap.models.classic", "susmap.models.deep", "susmap.models.swarm"]
_REGISTRY: Registry[ModelSpec] = Registry("model", "models", _FAMILIES)


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add a model to the registry (a name may be registered once)."""
    return _REGISTRY.register(spec)


def available_models() -> dict[str, ModelSpec]:
    """All registered models, by name."""
    return _REGISTRY.available()


def get_model(name: str) -> ModelSpec:
    """The registry entry for ``name``; unknown names list the known ones."""
    return _REGISTRY.get(name)


#: Estimator parameters that susmap sets itself (data handles), not study files.
_INTERNAL_PARAMS = ("window_source", "factor_names", "categorical")
#: Largest C of a libsvm model without an iteration limit: beyond it the solver may not converge for hours.
MAX_SVM_C = 1e6
#: scikit-learn parameters that a registry factory sets from a parameter of another name.
_FACTORY_NAMES = {"hidden_layer_sizes": "hidden_units"}
_CONSTRAINT = re.compile(
    r"^The '(?P<param>\w+)' parameter of (?P<cls>\w+) must be (?P<allowed>.+?)\. Got (?P<got>.+) instead\.$", re.S
)


def inner_estimators(estimator: Any) -> Iterator[BaseEstimator]:
    """``estimator`` and every estimator it wraps (pipeline steps, ``estimator`` of meta-estimators), outer first."""
    if not isinstance(estimator, BaseEstimator):
        return
    yield estimator
    if isinstance(estimator, Pipeline):
        for _, step in estimator.steps:
            yield from inner_estimators(step)
    params = estimator.get_params(deep=False)
    for attr in ("estimator", "base_estimator"):
        inner = params.get(attr)
        if inner is not None and inner is not estimator:
            yield from inner_estimators(inner)


def _param_key(prefix: str, param: str, given: Mapping[str, Any]) -> str:
    """The study key of an estimator parameter: ``<prefix>.params.<name>`` under the name the study uses."""
    name = _FACTORY_NAMES.get(param, param)
    if name not in given and "preset" in given:
        return f"{prefix}.params.preset ({given['preset']!r} sets {name})"
    return f"{prefix}.params.{name}"


def _check_constraints(
    estimator: BaseEstimator,
    prefix: str,
    given: Mapping[str, Any],
    key_of: Callable[[str], str] | None = None,
) -> None:
    """Check the estimator's (and inner estimators') parameters against scikit-learn's own constraints.

    ``key_of(param)`` is the study key named in the message (default: ``<prefix>.params.<name>``).
    """
    if key_of is None:

        def key_of(param: str) -> str:
            return _param_key(prefix, param, given)

    for est in inner_estimators(estimator):
        if getattr(type(est), "_parameter_constraints", None) is None:
            continue  # not a scikit-learn estimator with declared constraints (deep, swarm: checked elsewhere)
        try:
            est._validate_params()  # scikit-learn's validation of its constraints (public by convention)
        except (ValueError, TypeError) as err:  # scikit-learn's InvalidParameterError is both
            text = str(err)
            match = _CONSTRAINT.match(text)
            if match is None:
                raise StudyConfigError(f"{prefix}: {text}") from None
            key = key_of(match["param"])
            hint = ""
            got = getattr(est, match["param"], None)
            if isinstance(got, str) and yaml_text_number(got) is not None:
                hint = f" (YAML reads {got} as text: an exponent needs a dot, as in {yaml_text_number(got):.1e})"
            raise StudyConfigError(
                f"{key}: must be {match['allowed']} ({match['cls']}), got {match['got']}{hint}"
            ) from None
        sizes = est.hidden_layer_sizes if isinstance(est, MLPClassifier | MLPRegressor) else ()
        if any(not isinstance(n, int) or isinstance(n, bool) or n < 1 for n in np.atleast_1d(sizes).tolist()):
            raise StudyConfigError(
                f"{key_of('hidden_layer_sizes')}: hidden layers need at least one unit each, got {sizes!r}"
            )
        if isinstance(est, SVC | NuSVC | SVR | NuSVR) and est.max_iter == -1:
            c = getattr(est, "C", None)
            if isinstance(c, int | float) and c > MAX_SVM_C:
                raise StudyConfigError(
                    f"{key_of('C')}: C = {c:g} is above {MAX_SVM_C:g}: libsvm does not converge "
                    "in reasonable time with so weak a regularisation (hours even on a few hundred samples); "
                    f"give C <= {MAX_SVM_C:g}"
                )


def make_estimator(
    name: str, params: Mapping[str, Any] | None = None, *, seed: int = 0, where: str | None = None
) -> BaseEstimator:
    """Build the bare estimator of a registry entry, its parameters checked.

    ``params`` may hold ``preset: <name>`` to start from a named preset;
    other keys override it. Unknown parameters, and values outside the
    estimator's own scikit-learn parameter constraints (``n_estimators: 0``,
    ``C: -1``, ``max_depth: -1``; checked here, before any data is read,
    inner estimators of wrappers included), are a :class:`StudyConfigError`
    naming the key under ``where`` (e.g. ``study.yaml: models.1`` gives
    ``study.yaml: models.1.params.C: ...``; default ``models: <name>``).
    """
    spec = get_model(name)
    prefix = where or f"models: {name}"
    label = f"{where} ({name})" if where else f"models: {name}"
    given = dict(params or {})
    params = dict(given)
    preset = params.pop("preset", None)
    if preset is not None:
        if preset not in spec.presets:
            known = ", ".join(spec.presets) or "none"
            raise StudyConfigError(f"{label} has no preset {preset!r} (presets: {known})")
        params = {**spec.presets[preset].params, **params}
    check_params(spec.factory, params, where=label, skip=["seed", *_INTERNAL_PARAMS])
    if spec.requires is not None and importlib.util.find_spec(spec.requires[0]) is None:
        package, extra = spec.requires
        raise StudyConfigError(f"{label} needs {package}; install it with pip install 'susmap[{extra}]'")
    try:
        estimator = spec.factory(seed=seed, **params)
        if hasattr(estimator, "check_params"):  # the deep models check their settings up front
            estimator.check_params()
    except (TypeError, ValueError) as err:
        raise StudyConfigError(f"{label}: {err}") from None
    _check_constraints(estimator, prefix, given)
    return estimator


def check_models(models: Iterable[Any], *, seed: int, source: str) -> None:
    """Build every model of a study once, so a bad name, preset or parameter is refused before any data is read.

    ``models`` are the study's :class:`~susmap.study.ModelConfig` entries; the
    messages name ``<source>: models.<i>.params.<name>``.
    """
    for i, model in enumerate(models):
        make_estimator(model.name, model.params, seed=seed, where=f"{source}: models.{i}")


def check_tuning(models: Iterable[Any], tuning: Mapping[str, Any] | None, *, seed: int, source: str) -> None:
    """Check every listed value of the study's tuning spaces against the estimators' constraints.

    Run before any data is read: ``validation.tuning.rf.param_grid.n_estimators: [0, 100]`` is refused
    naming that key, instead of failing inside the first fold. Values drawn from distributions
    (scipy.stats objects) cannot be listed and are left to the fit; unknown labels and parameter names
    are left to the cross-validation's own checks, which name them.
    """
    by_label = {m.display_name: m for m in models}
    for label, spec in (tuning or {}).items():
        cfg = by_label.get(label)
        if cfg is None or not isinstance(spec, Mapping):
            continue
        base = make_estimator(cfg.name, cfg.params, seed=seed)
        valid = base.get_params(deep=True)
        for space_key in ("param_grid", "param_distributions"):
            space = spec.get(space_key)
            grids = [space] if isinstance(space, Mapping) else space if isinstance(space, list) else []
            for grid in grids:
                if not isinstance(grid, Mapping):
                    continue
                for name, values in grid.items():
                    param = str(name).removeprefix("model__")
                    if param not in valid or not isinstance(values, list | tuple):
                        continue
                    key = f"{source}: validation.tuning.{label}.{space_key}.{name}"
                    for value in values:
                        candidate = clone(base)
                        try:
                            candidate.set_params(**{param: value})
                        except (TypeError, ValueError):
                            continue
                        _check_constraints(candidate, key, {}, key_of=lambda _param, key=key: key)


def _listed_neighbours(spec: Any) -> tuple[list[int], int | None]:
    """``n_neighbors`` values listed in a tuning spec, and its inner folds (None without tuning)."""
    if not isinstance(spec, Mapping):
        return [], None
    inner = spec.get("inner_folds", 3)
    inner = inner if isinstance(inner, int) and not isinstance(inner, bool) and inner >= 2 else 3
    values: list[int] = []
    for space_key in ("param_grid", "param_distributions"):
        space = spec.get(space_key)
        for grid in [space] if isinstance(space, Mapping) else space if isinstance(space, list) else []:
            if not isinstance(grid, Mapping):
                continue
            for name, listed in grid.items():
                if str(name).rsplit("__", 1)[-1] == "n_neighbors" and isinstance(listed, list | tuple):
                    values += [v for v in listed if isinstance(v, int) and not isinstance(v, bool)]
    return values, inner


def check_neighbours(
    models: Iterable[tuple[str, BaseEstimator]],
    splits: Iterable[tuple[str, Iterable[tuple[Any, Any]]]],
    tuning: Mapping[str, Any] | None = None,
) -> None:
    """Refuse, before any fit, a neighbour model whose ``n_neighbors`` exceeds a training part.

    ``models`` are ``(key, estimator or pipeline)`` with ``key`` the study key of
    the model (``study.yaml: models.1``); ``splits`` are ``(scheme, (train,
    test) index pairs)``. ``tuning`` maps a model key to its tuning spec
    (``validation.tuning[label]``): its listed ``n_neighbors`` values count
    too, and the training part is then that of the inner folds (the smallest
    one of a random k-fold split: ``n - ceil(n / inner_folds)``; spatial inner
    folds may be smaller still). Only models with an ``n_neighbors`` parameter
    are checked, so the splits are drawn only when such a model is present.
    """
    wanted = []
    for key, model in models:
        ks = [est.n_neighbors for est in inner_estimators(model) if isinstance(getattr(est, "n_neighbors", None), int)]
        if not ks:
            continue
        listed, inner = _listed_neighbours((tuning or {}).get(key))
        wanted.append((key, max(ks + listed), inner))
    if not wanted:
        return
    for scheme, pairs in splits:
        smallest = min((len(train) for train, _ in pairs), default=None)
        if smallest is None:
            continue
        for key, k, inner in wanted:
            if inner is None:
                if k > smallest:
                    raise StudyConfigError(
                        f"{key}.params.n_neighbors: {k} neighbours, but the smallest training part of scheme "
                        f"{scheme!r} holds {smallest} samples; give n_neighbors <= {smallest}"
                    )
                continue
            part = smallest - math.ceil(smallest / inner)
            if k > part:
                raise StudyConfigError(
                    f"{key}: n_neighbors up to {k} (params and validation.tuning), but tuning's {inner} inner folds "
                    f"train on at most {part} of the {smallest} samples of the smallest training part of scheme "
                    f"{scheme!r}; give n_neighbors <= {part}"
                )


def make_pipeline(
    name: str,
    params: Mapping[str, Any] | None,
    *,
    factor_names: Sequence[str],
    kinds: Mapping[str, str],
    seed: int = 0,
    encodings: Mapping[str, str] | None = None,
    area_shares: Mapping[str, Any] | None = None,
    windows: WindowSource | None = None,
) -> Pipeline:
    """Preprocessing + estimator, to be fitted on a training fold only.

    Columns of ``X`` are the factors in ``factor_names`` order. Continuous
    factors are standard-scaled when the model needs it. Categorical factors
    are encoded per ``encodings[factor]`` (default ``"onehot"``; unseen
    classes become all-zero rows), or by ``"frequency_ratio"`` / ``"woe"``
    computed from the training fold's labels (see :mod:`susmap.encoding`);
    ``area_shares[factor]`` (cells per class over the whole raster, label-free)
    makes the frequency ratio that of paper 001 eq. 17.

    Patch models (``inputs="windows"``) read the factor windows of each cell
    from ``windows`` instead: their design matrix ends with the cells' row
    and column, and they need every factor of the source (no subset).
    """
    from susmap.encoding import make_categorical_encoder

    spec = get_model(name)
    estimator = make_estimator(name, params, seed=seed)
    if spec.inputs == "windows":
        if windows is None:
            raise StudyConfigError(
                f"models: {name} reads the factor windows around each cell and needs raster layers; "
                "it cannot run on a table of samples"
            )
        if list(factor_names) != list(windows.names):
            raise StudyConfigError(f"models: {name} uses every factor of the stack; it cannot run on a subset")
        return Pipeline([("model", estimator.set_params(window_source=windows))])
    encodings = encodings or {}
    cont = [i for i, f in enumerate(factor_names) if kinds.get(f, "continuous") == "continuous"]
    transformers: list[tuple[str, Any, list[int]]] = []
    if cont:
        transformers.append(("continuous", StandardScaler() if spec.scale else "passthrough", cont))
    for method in ("onehot", "frequency_ratio", "woe"):
        cols = [
            i
            for i, f in enumerate(factor_names)
            if kinds.get(f) == "categorical" and encodings.get(f, "onehot") == method
        ]
        if not cols:
            continue
        kw: dict[str, Any] = {}
        if method == "frequency_ratio" and area_shares:
            shares = [area_shares.get(factor_names[i]) for i in cols]
            if all(sh is not None for sh in shares):
                kw["area_shares"] = shares
        encoder = make_categorical_encoder(method, **kw)
        if method != "onehot" and spec.scale:
            encoder = Pipeline([("encode", encoder), ("scale", StandardScaler())])
        transformers.append((f"categorical_{method}", encoder, cols))
    pre = ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
    return Pipeline([("preprocess", pre), ("model", estimator)])


def _markdown_value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_markdown_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_markdown_value(v)}" for k, v in value.items()) + "}"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _markdown_preset(name: str, preset: Preset, anchor: str) -> list[str]:
    lines = [f'<a id="{anchor}-{name}"></a>', "", f"### preset `{name}`", "", f"Source: {_sentence(preset.source)}", ""]
    params = ", ".join(f"`{key}: {_markdown_value(value)}`" for key, value in preset.params.items())
    lines += [f"Parameters: {params or 'none'}.", ""]
    if not preset.deviations:
        lines += ["Deviations: none; the preset follows the source.", ""]
        return lines
    lines.append("Deviations from the source:")
    lines.append("")
    lines += [f"- {_sentence(dev.what)} *Why:* {_sentence(dev.why)}" for dev in preset.deviations]
    lines.append("")
    return lines


def presets_markdown(
    extra: Mapping[str, tuple[str, Mapping[str, Preset]]] | None = None,
    extra_references: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """Every preset of the registry as Markdown (``docs/presets.md``): one section per model, then the references.

    Each section (anchor ``#<model>``) lists the model's presets (anchor ``#<model>-<preset>``) with source,
    parameters and deviations. ``extra`` adds sections for presets outside the model registry, as
    ``{anchor: (description, presets)}`` (``susmap models`` passes the block-wise method's), and
    ``extra_references`` their reference keys. The last section (anchor ``#references``) gives the full
    reference of every model, presets or not (:mod:`susmap.references`).
    """
    lines = [
        "# Presets: where each setting comes from",
        "",
        "<!-- Generated by `susmap models --markdown > docs/presets.md`; do not edit by hand "
        "(tests/test_presets.py checks that it is up to date). -->",
        "",
        "A preset is a paper's settings for a model, used as `{name: <model>, params: {preset: <preset>}}` in a "
        "study file (other parameters given next to it override the preset's). Each preset names its source and "
        "lists every place where it departs from the text, or reads an ambiguous text one way, with the reason.",
        "",
    ]
    sections: list[tuple[str, str, Mapping[str, Preset]]] = [
        (name, spec.description, spec.presets) for name, spec in available_models().items() if spec.presets
    ]
    sections += [(anchor, description, presets) for anchor, (description, presets) in (extra or {}).items()]
    lines += [
        ", ".join(f"[`{anchor}`](#{anchor})" for anchor, _, _ in sections),
        "",
    ]
    for anchor, description, presets in sections:
        lines += [f'<a id="{anchor}"></a>', "", f"## `{anchor}`", "", _sentence(description), ""]
        for name, preset in presets.items():
            lines += _markdown_preset(name, preset, anchor)
    cited = {name: spec.references for name, spec in available_models().items()}
    cited.update(extra_references or {})
    lines += ['<a id="references"></a>', "", "## References", ""]
    lines += [
        "The paper(s) each model implements, then the origin of its method (`susmap cite STUDY.yaml` prints the "
        "BibTeX of everything a study uses).",
        "",
    ]
    for anchor, keys in cited.items():
        lines += [f"- `{anchor}`:"] + [f"  - {reference(key).full()}" for key in keys]
    return "\n".join(lines).rstrip("\n") + "\n"
