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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from susmap.errors import StudyConfigError
from susmap.models.windows import WindowSource
from susmap.presets import Preset
from susmap.registry import Registry, check_params

__all__ = [
    "ModelSpec",
    "available_models",
    "get_model",
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
    """

    name: str
    factory: Callable[..., BaseEstimator]
    description: str
    scale: bool = True
    presets: Mapping[str, Preset] = field(default_factory=dict)
    inputs: str = "cells"
    requires: tuple[str, str] | None = None

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


def make_estimator(name: str, params: Mapping[str, Any] | None = None, *, seed: int = 0) -> BaseEstimator:
    """Build the bare estimator of a registry entry.

    ``params`` may hold ``preset: <name>`` to start from a named preset;
    other keys override it. Unknown parameters are a :class:`StudyConfigError`.
    """
    spec = get_model(name)
    params = dict(params or {})
    preset = params.pop("preset", None)
    if preset is not None:
        if preset not in spec.presets:
            known = ", ".join(spec.presets) or "none"
            raise StudyConfigError(f"models: {name} has no preset {preset!r} (presets: {known})")
        params = {**spec.presets[preset].params, **params}
    check_params(spec.factory, params, where=f"models: {name}", skip=["seed", *_INTERNAL_PARAMS])
    if spec.requires is not None and importlib.util.find_spec(spec.requires[0]) is None:
        package, extra = spec.requires
        raise StudyConfigError(f"models: {name} needs {package}; install it with pip install 'susmap[{extra}]'")
    try:
        estimator = spec.factory(seed=seed, **params)
        if hasattr(estimator, "check_params"):  # the deep models check their settings up front
            estimator.check_params()
    except (TypeError, ValueError) as err:
        raise StudyConfigError(f"models: {name}: {err}") from None
    return estimator


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


def presets_markdown(extra: Mapping[str, tuple[str, Mapping[str, Preset]]] | None = None) -> str:
    """Every preset of the registry as Markdown (``docs/presets.md``): one section per model.

    Each section (anchor ``#<model>``) lists the model's presets (anchor ``#<model>-<preset>``) with source,
    parameters and deviations. ``extra`` adds sections for presets outside the model registry, as
    ``{anchor: (description, presets)}`` (``susmap models`` passes the block-wise method's).
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
    return "\n".join(lines).rstrip("\n") + "\n"
