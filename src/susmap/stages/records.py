"""What a run records about itself: ``metrics.json``, the resolved ``study.yaml``, ``provenance.json``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from susmap.outputs import OutputFolder, file_sha256, package_versions, write_json
from susmap.study import Study

__all__ = ["input_files", "scores_by_scheme", "write_metrics", "write_provenance"]


def input_files(study: Study) -> list[Path]:
    """Every file the study reads (grid template, layers, inventory, mapping units, DEM, region polygons of
    validation schemes, files named in factor parameters, the study file)."""
    paths = [
        *([study.grid.template] if study.grid is not None else []),  # a study on a table of units has no grid
        *(layer.path for layer in study.layers),
        *([study.inventory.path] if study.inventory is not None else []),
        *([study.mapping_unit.path] if study.mapping_unit.path is not None else []),  # units file or table
    ]
    if study.dem.path is not None:
        paths.append(study.dem.path)
    for scheme in study.validation.schemes:
        if getattr(scheme, "regions", None) is not None:
            paths.append(scheme.regions)
    base = study.base_dir or Path.cwd()
    for f in study.factors:  # vector files and the like named in factor parameters
        for value in f.params.values():
            if isinstance(value, str) and value and (base / value).is_file():
                paths.append((base / value).resolve())
    if study.source is not None:
        paths.append(Path(study.source))
    seen: dict[str, Path] = {}
    for p in paths:
        seen.setdefault(str(Path(p).resolve()), Path(p))
    return list(seen.values())


def scores_by_scheme(summary: pd.DataFrame) -> dict:
    """``{scheme: {model: {metric: {mean, sd, n_folds}}}}`` from a cross-validation summary table."""
    return {
        scheme: {
            model: {
                row.metric: {"mean": row.mean, "sd": row.sd, "n_folds": int(row.n_folds)} for row in grp.itertuples()
            }
            for model, grp in sgrp.groupby("model", sort=False)
        }
        for scheme, sgrp in summary.groupby("scheme", sort=False)
    }


def write_metrics(
    out: OutputFolder,
    study: Study,
    metrics: dict,
    table: pd.DataFrame | None,
    edges: np.ndarray | None,
    n_mapped: int | None,
) -> None:
    """``metrics.json`` (with the map's classes when there is a class table) and the resolved ``study.yaml``."""
    if table is not None:
        metrics["classes"] = {
            "method": study.mapping.classification,
            "edges": [float(e) for e in edges],
            "mapped_cells": n_mapped,
            "table": table.to_dict(orient="records"),
        }
    write_json(out.path("metrics.json"), metrics)
    out.path("study.yaml").write_text(yaml.safe_dump(study.model_dump(mode="json"), sort_keys=False), encoding="utf-8")


def write_provenance(
    path: Path, study: Study, timings: dict[str, float], *, inputs: list[Path] | None = None, **extra: object
) -> None:
    """``provenance.json``: the resolved study, command, package versions, input hashes, seed, timings [s].

    ``inputs`` are the files hashed (default :func:`input_files`); ``extra`` keys are added as they are.
    """
    inputs = input_files(study) if inputs is None else inputs
    write_json(
        path,
        {
            "study": study.model_dump(mode="json"),
            "study_file": str(study.source) if study.source else None,
            "seed": study.seed,
            "command": sys.argv,
            "versions": package_versions(),
            "inputs": {str(p): {"sha256": file_sha256(p), "bytes": p.stat().st_size} for p in inputs},
            "timings_s": timings,
            **extra,
        },
    )
