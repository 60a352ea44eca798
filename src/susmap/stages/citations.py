"""What a study cites: susmap, then the papers and methods of its models, factors, validation, map and encodings.

:func:`study_references` collects the :class:`~susmap.references.Reference`
entries of everything a study uses, each once, in a stable order:

1. susmap itself (its version from the installed package);
2. the models, in the study's order: the paper of each model's preset
   (``preset: paper001`` cites paper 001), then the model's own references;
   with ``method: meta-blockwise``, paper 004's block-wise meta-learning;
3. the derived factors (``factors:``, by registry name);
4. the validation schemes;
5. the map classification;
6. the encodings of categorical layers and factors.

``susmap cite STUDY.yaml`` prints them as BibTeX or as text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from susmap.encoding import ENCODING_REFERENCES
from susmap.factors import get_factor
from susmap.mapping.breaks import CLASSIFICATION_REFERENCES
from susmap.models import get_model
from susmap.references import BLOCKWISE_REFERENCES, PAPER_KEYS, Reference, reference
from susmap.study import Study
from susmap.validation.splitters import SCHEME_REFERENCES

__all__ = ["ANALYSIS_REFERENCES", "preset_paper", "study_reference_keys", "study_references"]


def preset_paper(preset: object) -> str | None:
    """The key of the paper a preset is named after (``"paper003"`` → ``"band2020"``), or None."""
    match = re.fullmatch(r"paper(\d{3})(_\w+)?", str(preset)) if preset is not None else None
    if match is None or int(match.group(1)) >= len(PAPER_KEYS):
        return None
    return PAPER_KEYS[int(match.group(1))]


#: What the analyses of ``analysis:`` (where the map holds) cite.
ANALYSIS_REFERENCES: dict[str, tuple[str, ...]] = {
    "aoa": ("meyer2021",),
    "ale": ("apley2020",),
    "pdp": ("friedman2001",),
    "shap": ("lundberg2017", "lundberg2020"),
    "shap_maps": ("lundberg2017", "lundberg2020"),
    "profiles": (),
}


def _model_keys(study: Study) -> Iterable[str]:
    if study.method == "meta-blockwise":
        yield from BLOCKWISE_REFERENCES
        return
    for model in study.models:
        paper = preset_paper(model.params.get("preset"))
        if paper is not None:
            yield paper
        yield from get_model(model.name).references


def study_reference_keys(study: Study) -> list[str]:
    """The reference keys of everything ``study`` uses, each once, in the order of :func:`study_references`."""
    keys: list[str] = ["susmap", *_model_keys(study)]
    for factor in study.factors:
        keys += get_factor(factor.registry_name).references
    for scheme in study.validation.scheme_configs:
        keys += SCHEME_REFERENCES.get(scheme.name, ())
    keys += CLASSIFICATION_REFERENCES.get(study.mapping.classification, ())
    for encoding in study.encodings.values():
        keys += ENCODING_REFERENCES.get(encoding, ())
    if study.mapping.enabled:
        keys.append("chung2003")  # success and prediction rates
    keys += ANALYSIS_REFERENCES["aoa"] if study.analysis.aoa else ()
    for kind in study.analysis.explain:
        keys += ANALYSIS_REFERENCES[kind]
    if study.mapping_unit.kind == "slope_units":
        keys.append("alvioli2016")
    return list(dict.fromkeys(keys))


def study_references(study: Study) -> list[Reference]:
    """The references of everything ``study`` uses: susmap first, then models, factors, schemes, map, encodings.

    Unknown model or factor names raise the registries' StudyConfigError (a
    loaded study has been checked already).
    """
    return [reference(key) for key in study_reference_keys(study)]
