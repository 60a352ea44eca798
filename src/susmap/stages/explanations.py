"""Why the mapped model rates a cell high: the ``analysis.explain`` list of a study, run on the mapped model.

- ``ale``, ``pdp``: accumulated local effects and partial dependence of every
  factor (``effects.png``, ``effects.csv``), on the samples;
- ``shap``: SHAP values of ``analysis.shap_samples`` samples against the
  samples as background (``shap_summary.png``, ``shap_importance.csv``);
- ``shap_maps``: the SHAP values of the ``analysis.shap_factors`` factors with
  the largest mean |SHAP|, cell by cell (``shap_<factor>.tif``; tree models:
  TreeSHAP; others are skipped with a note, the model-agnostic explainer being
  far too slow for a map);
- ``profiles``: the factors' median and 10th–90th percentiles per
  susceptibility class (``class_profiles.csv``, ``class_profiles.png``).

All on the probability of an event (:mod:`susmap.analysis.explain`).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from susmap.analysis.explain import (
    accumulated_local_effects,
    class_profiles,
    partial_dependence_curve,
    plot_class_profiles,
    plot_effects,
    plot_shap_summary,
    shap_importance,
    shap_values,
    write_shap_maps,
)
from susmap.errors import ModelFitError, StudyConfigError
from susmap.outputs import OutputFolder
from susmap.report.document import Figure, Table, Text
from susmap.stages.data import StudyData, reads_windows
from susmap.study import Study

__all__ = ["explain_model"]

log = logging.getLogger(__name__)


def _effects(study: Study, prep: StudyData, model, kinds: list[str], out: OutputFolder) -> list:
    curves, rows = [], []
    for j, name in enumerate(prep.names):
        categorical = prep.stack.kinds.get(name, "continuous") == "categorical"
        for kind in kinds:
            make = accumulated_local_effects if kind == "ale" else partial_dependence_curve
            curve = make(model, prep.X, j, categorical=categorical, names=prep.names)
            curves.append(curve)
            rows += [
                {"factor": name, "kind": kind, "x": float(x), "effect": float(e), "mean_probability": curve.offset}
                for x, e in zip(curve.x, curve.effect, strict=True)
            ]
    plot_effects(curves, out.path("effects.png"))
    pd.DataFrame(rows).to_csv(out.path("effects.csv"), index=False)
    names = " and ".join({"ale": "accumulated local effects (ALE)", "pdp": "partial dependence (PD)"}[k] for k in kinds)
    return [
        Figure(
            "effects.png",
            f"Effect of each factor on the event probability: {names}, centred on the mean probability",
        ),
        Text(
            "ALE (Apley & Zhu 2020) moves each sample within its own neighbourhood of the factor and stays valid "
            "where factors are correlated; PD (Friedman 2001) averages the model over every sample at each factor "
            "value, including combinations that never occur. Where the two disagree, trust the ALE.",
            kind="note",
        ),
    ]


def explain_model(
    study: Study, prep: StudyData, label: str, model, out: OutputFolder, *, classes: bool
) -> tuple[list, dict]:
    """The explanations ``study.analysis.explain`` asks for, of ``model`` (``label``, fitted on all samples).

    Returns the report's blocks and the numbers for ``metrics.json``.
    """
    cfg = study.analysis
    asked = list(cfg.explain)
    blocks: list = []
    metrics: dict = {"model": label}
    if reads_windows(prep.pipelines[label]):
        text = f"{label} reads factor windows around each cell; its explanations by factor are not computed"
        log.warning("analysis.explain: %s", text)
        return [Text(text + ".", kind="note")], {**metrics, "skipped": text}
    effect_kinds = [k for k in ("ale", "pdp") if k in asked]
    if effect_kinds:
        blocks += _effects(study, prep, model, effect_kinds, out)
    importance = None
    if "shap" in asked or "shap_maps" in asked:
        rng = np.random.default_rng(study.seed)
        n = min(cfg.shap_samples, len(prep.y))
        explained = prep.X[np.sort(rng.choice(len(prep.y), size=n, replace=False))]
        result = shap_values(model, prep.X, explained, names=prep.names, max_background=n, seed=study.seed)
        importance = shap_importance(result)
        importance.to_csv(out.path("shap_importance.csv"), index=False)
        metrics["shap"] = {"method": result.method, "samples": n, "base_value": float(result.base_value)}
        metrics["shap_importance"] = importance.to_dict(orient="records")
        if "shap" in asked:
            plot_shap_summary(result, out.path("shap_summary.png"))
            blocks += [
                Figure(
                    "shap_summary.png",
                    f"SHAP values of {n} samples ({result.method}): contribution to the "
                    "event probability, factors by mean |SHAP|",
                ),
                Table(importance, "Mean |SHAP| per factor [probability]", digits=4),
            ]
    if "shap_maps" in asked:
        top = list(importance["factor"][: cfg.shap_factors])
        try:
            paths = write_shap_maps(
                prep.stack, model, prep.X, out.staging, factors=top, label=label, compress=study.outputs.compress
            )
        except (StudyConfigError, ModelFitError) as err:  # a model TreeSHAP cannot explain: a note, not a lost run
            log.warning("analysis.explain shap_maps skipped: %s", err)
            blocks.append(Text(f"SHAP maps skipped: {err}", kind="note"))
        else:
            metrics["shap_maps"] = [p.name for p in paths.values()]
            blocks.append(
                Text(
                    f"SHAP maps of {', '.join(top)}: {', '.join(p.name for p in paths.values())} (each cell's "
                    "contribution of the factor to its event probability; open them in a GIS).",
                    kind="note",
                )
            )
    if "profiles" in asked and classes:
        profiles = class_profiles(prep.stack, out.path("classes.tif"), prep.names, seed=study.seed)
        profiles.to_csv(out.path("class_profiles.csv"), index=False)
        plot_class_profiles(profiles, out.path("class_profiles.png"))
        blocks.append(
            Figure(
                "class_profiles.png",
                "What makes a class: median and 10th-90th percentiles of each factor per "
                "susceptibility class (a random sample of mapped cells)",
            )
        )
    return blocks, metrics
