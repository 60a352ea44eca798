"""Real data bundled with susmap, and the demo study built on it.

``ecuador``: landslide initiation points and SAGA terrain layers of the
Reserva Biológica San Francisco, southern Ecuadorian Andes (Muenchow et al.
2012, Geomorphology 139-140; CC0 via the R package spDataLarge). See
``datasets/ecuador/SOURCE.md``.

``synthetic``: :func:`regional_landscape`, a seeded terrain whose landslide
rule differs between latent regions, with its true probability (paper 004's
benchmark, useful to every method), and :func:`write_landscape`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from susmap.datasets.synthetic import RegionalLandscape, landscape_study_dict, regional_landscape, write_landscape
from susmap.study import Study, study_from_dict

__all__ = [
    "ECUADOR_FACTORS",
    "RegionalLandscape",
    "demo_study",
    "demo_study_dict",
    "ecuador_path",
    "landscape_study_dict",
    "regional_landscape",
    "write_landscape",
]

ECUADOR_FACTORS = ("slope", "cplan", "cprof", "elev", "log10_carea")


def ecuador_path(name: str = "") -> Path:
    """Path of a bundled Ecuador file (``ta.tif``, ``lsl.csv``) or of its folder."""
    base = Path(str(resources.files("susmap.datasets") / "ecuador"))
    return base / name if name else base


def demo_study_dict(out_dir: str | Path = "susmap-demo") -> dict[str, Any]:
    """The demo study as a plain dict (what ``susmap demo`` runs).

    Five SAGA terrain factors of ``ta.tif`` on its own 10 m grid, the 350
    labelled points of ``lsl.csv`` (175 landslides, 175 not), logistic
    regression and a 300-tree random forest under 5-fold spatial and random
    cross-validation repeated 5 times, natural-breaks classes; where the map
    holds: its area of applicability, the fold models' uncertainty, and the
    mapped model's factor effects (ALE, PD), SHAP values and class profiles.
    """
    ta = str(ecuador_path("ta.tif"))
    return {
        "name": "ecuador-demo",
        "seed": 42,
        "grid": {"template": ta, "band": 4},
        "layers": [{"name": n, "path": ta, "band": n, "kind": "continuous"} for n in ECUADOR_FACTORS],
        "inventory": {
            "path": str(ecuador_path("lsl.csv")),
            "geometry": "points",
            "x": "x",
            "y": "y",
            "crs": "EPSG:32717",
            "label": "lslpts",
        },
        "models": [
            {"name": "logistic_regression"},
            {"name": "random_forest", "params": {"n_estimators": 300}},
        ],
        "validation": {"schemes": ["spatial", "random"], "folds": 5, "repeats": 5, "n_jobs": -1},
        "mapping": {"model": "best", "classification": "natural_breaks", "n_classes": 5, "chunk_size": 256},
        "analysis": {"aoa": True, "uncertainty": True, "explain": ["ale", "pdp", "shap", "profiles"]},
        "outputs": {"directory": str(out_dir)},
    }


def demo_study(out_dir: str | Path = "susmap-demo") -> Study:
    """The demo study, validated."""
    return study_from_dict(demo_study_dict(out_dir), where="demo study")
