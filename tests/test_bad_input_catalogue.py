"""A catalogue of bad inputs: every one exits 2 with one line naming the file or key, and damages nothing.

Each case builds a broken variant of the synthetic study (``conftest.py``),
runs ``susmap run STUDY --out DIR`` in-process over an output folder of an
earlier run, and checks the contract of :mod:`cli_checks`: exit status 2, no
traceback, one ``susmap: error:`` line naming what is wrong, the earlier
output byte-identical. ``tests/test_bad_input.py`` holds the first cases
(missing and unreadable files, alignment, YAML syntax); this file the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli_checks import assert_error, assert_untouched, existing_out, invoke, write_study
from conftest import write_raster

Builder = Callable[[dict, Callable], tuple[dict | str | None, list[str]]]


def _model(**model) -> dict:
    return {"models": [model]}


def _scheme(**scheme) -> dict:
    return {"validation": {"folds": 3, "repeats": 1, "schemes": [scheme]}}


def _inventory(s: dict, m: Callable, **changes) -> dict:
    inv = {**m()["inventory"], **changes}
    return m(inventory={k: v for k, v in inv.items() if v is not None})


def _events_csv(s: dict, name: str, frame) -> str:
    path = s["dir"] / name
    frame.to_csv(path, index=False)
    return str(path)


def _untagged_holes(s: dict) -> dict:
    """Layer b with -9999 holes and no nodata tag in the file."""
    data = np.random.default_rng(5).random(s["shape"], dtype=np.float32)
    data[10:20, 10:20] = -9999.0
    path = write_raster(s["dir"] / "b_untagged.tif", data, nodata=None)
    return {"name": "b", "path": str(path)}


def _conflicting_labels(s: dict) -> pd.DataFrame:
    first = s["points"].iloc[:1]
    return pd.concat([s["points"], first.assign(event=1 - first["event"])], ignore_index=True)


def _two_layer_gpkg(s: dict) -> str:
    path = s["dir"] / "events_two_layers.gpkg"
    pts = s["points"]
    gdf = gpd.GeoDataFrame(pts, geometry=gpd.points_from_xy(pts["x"], pts["y"]), crs="EPSG:32717")
    gdf.to_file(path, layer="slides", driver="GPKG")
    gdf.iloc[:5].to_file(path, layer="old_slides", driver="GPKG")
    return str(path)


def _epicentre_degrees(s: dict, m: Callable) -> dict:
    params = {"x": -79.1, "y": -3.98}  # longitude, latitude given on a UTM grid
    return m(factors=[{"name": "r_epi", "factor": "distance_to_epicentre", "params": params}])


CATALOGUE: dict[str, Builder] = {
    # models
    "unknown-model": lambda s, m: (m(**_model(name="random_jungle")), ["random_jungle", "models"]),
    "unknown-preset": lambda s, m: (m(**_model(name="random_forest", params={"preset": "paper999"})), ["paper999"]),
    "unknown-model-parameter": lambda s, m: (m(**_model(name="random_forest", params={"n_trees": 5})), ["n_trees"]),
    "deep-model-bad-optimizer": lambda s, m: (m(**_model(name="dlnn", params={"optimizer": "lbfgs"})), ["optimizer"]),
    "swarm-unknown-optimizer": lambda s, m: (
        m(**_model(name="swarm_mlp", params={"optimizer": "ants"})),
        ["optimizer"],
    ),
    "duplicate-model-labels": lambda s, m: (
        m(models=[{"name": "logistic_regression"}, {"name": "logistic_regression"}]),
        ["logistic_regression"],
    ),
    "mapping-model-not-in-study": lambda s, m: (m(mapping={"model": "svm"}), ["mapping.model", "svm"]),
    # validation
    "unknown-scheme": lambda s, m: (m(**_scheme(name="wobbly")), ["validation.schemes.0", "not 'wobbly'"]),
    "holdout-test-size-above-one": lambda s, m: (m(**_scheme(name="holdout", test_size=1.5)), ["test_size"]),
    "blocks-negative-size": lambda s, m: (m(**_scheme(name="blocks", block_size_m=-5)), ["block_size_m"]),
    "blocks-without-size": lambda s, m: (m(**_scheme(name="blocks")), ["block_size_m"]),
    "buffered-loo-negative-buffer": lambda s, m: (m(**_scheme(name="buffered_loo", buffer_m=-1)), ["buffer_m"]),
    "disc-without-radius": lambda s, m: (m(**_scheme(name="disc")), ["radius_m"]),
    "regions-file-missing": lambda s, m: (
        m(**_scheme(name="regions", regions=str(s["dir"] / "nope_regions.gpkg"))),
        ["nope_regions.gpkg"],
    ),
    "repeats-zero": lambda s, m: (m(validation={"folds": 3, "repeats": 0}), ["validation.repeats"]),
    "threshold-above-one": lambda s, m: (m(validation={"folds": 3, "repeats": 1, "threshold": 1.5}), ["threshold"]),
    "folds-float": lambda s, m: (m(validation={"folds": 2.5, "repeats": 1}), ["validation.folds"]),
    # mapping and outputs
    "one-class-map": lambda s, m: (m(mapping={"n_classes": 1}), ["mapping.n_classes"]),
    "unknown-classification": lambda s, m: (m(mapping={"classification": "fancy"}), ["mapping.classification"]),
    "unknown-compression": lambda s, m: (m(outputs={"compress": "brotli"}), ["outputs.compress"]),
    # layers and factors
    "duplicate-layer-names": lambda s, m: (
        m(layers=[{"name": "a", "path": str(s["a"])}, {"name": "a", "path": str(s["b"])}]),
        ["repeated: a"],
    ),
    "unknown-layer-kind": lambda s, m: (
        m(layers=[{"name": "a", "path": str(s["a"]), "kind": "ordinal"}]),
        ["layers.0.kind"],
    ),
    "unknown-resampling": lambda s, m: (
        m(layers=[{"name": "a", "path": str(s["a"]), "resampling": "magic"}]),
        ["layers.0.resampling"],
    ),
    "unknown-factor": lambda s, m: (
        m(dem={"path": str(s["a"])}, factors=[{"name": "s", "factor": "slopiness"}]),
        ["slopiness"],
    ),
    "factor-unknown-parameter": lambda s, m: (
        m(dem={"path": str(s["a"])}, factors=[{"name": "s", "factor": "slope", "params": {"unit": "furlongs"}}]),
        ["unit"],
    ),
    "factor-vector-file-missing": lambda s, m: (
        m(factors=[{"name": "d", "factor": "distance_to_features", "params": {"path": "nope_faults.gpkg"}}]),
        ["nope_faults.gpkg"],
    ),
    "band-name-not-in-file": lambda s, m: (
        m(layers=[{"name": "a", "path": str(s["a"]), "band": "curvature"}]),
        ["curvature"],
    ),
    "band-number-too-high": lambda s, m: (m(layers=[{"name": "a", "path": str(s["a"]), "band": 7}]), ["7"]),
    # inventory
    "label-column-missing": lambda s, m: (_inventory(s, m, label="nope_label"), ["nope_label"]),
    "x-column-missing": lambda s, m: (_inventory(s, m, x="easting"), ["easting"]),
    "csv-without-crs": lambda s, m: (_inventory(s, m, crs=None), ["crs"]),
    "labels-zero-one-two": lambda s, m: (
        _inventory(s, m, path=_events_csv(s, "events_012.csv", s["points"].assign(event=s["points"]["event"] * 2))),
        ["events_012.csv"],
    ),
    "labels-words": lambda s, m: (
        _inventory(s, m, path=_events_csv(s, "events_words.csv", s["points"].assign(event="maybe"))),
        ["events_words.csv"],
    ),
    "negative-absence-ratio": lambda s, m: (m(sampling={"absence_ratio": -1}), ["sampling.absence_ratio"]),
    # study as a whole
    "unknown-method": lambda s, m: (m(method="slope-units"), ["method"]),
    "seed-float": lambda s, m: (m(seed=1.5), ["seed"]),
    "empty-yaml": lambda s, m: ("", ["study.yaml"]),
    "yaml-scalar": lambda s, m: ("just words\n", ["study.yaml"]),
    "missing-inventory-section": lambda s, m: ({k: v for k, v in m().items() if k != "inventory"}, ["inventory"]),
    # numbers out of range (checked before any data is read)
    "seed-negative": lambda s, m: (m(seed=-1), ["seed", "2**32 - 1"]),
    "seed-too-large": lambda s, m: (m(seed=2**70), ["seed"]),
    "n_jobs-zero": lambda s, m: (m(validation={"folds": 3, "repeats": 1, "n_jobs": 0}), ["validation.n_jobs"]),
    "num_workers-negative": lambda s, m: (m(compute={"num_workers": -2}), ["compute.num_workers"]),
    "scheduler-not-an-address": lambda s, m: (m(compute={"scheduler": "my cluster"}), ["compute.scheduler"]),
    "repeats-a-billion": lambda s, m: (m(validation={"folds": 5, "repeats": 10**9}), ["fits"]),
    "repeats-text-exponent": lambda s, m: (
        "\n".join(write_study(s["dir"] / "tmp.yaml", m()).read_text().splitlines()).replace(
            "repeats: 1", "repeats: 1e9"
        ),
        ["validation.repeats", "1e9"],
    ),
    "chunk-size-one": lambda s, m: (m(mapping={"chunk_size": 1}), ["mapping.chunk_size"]),
    "class-sample-one": lambda s, m: (m(mapping={"class_sample": 1}), ["class_sample", "at least 500"]),
    # model parameters, from the estimators' own constraints
    "n-estimators-text": lambda s, m: (
        m(**_model(name="random_forest", params={"n_estimators": "many"})),
        ["models.0.params.n_estimators"],
    ),
    "n-estimators-zero": lambda s, m: (
        m(**_model(name="random_forest", params={"n_estimators": 0})),
        ["models.0.params.n_estimators"],
    ),
    "svm-negative-c": lambda s, m: (m(**_model(name="support_vector_machine", params={"C": -1})), ["C"]),
    "svm-huge-c": lambda s, m: (m(**_model(name="support_vector_machine", params={"C": 1e30})), ["C"]),
    "tree-negative-depth": lambda s, m: (m(**_model(name="decision_tree", params={"max_depth": -1})), ["max_depth"]),
    "knn-more-neighbours-than-samples": lambda s, m: (
        m(**_model(name="k_nearest_neighbors", params={"n_neighbors": 500})),
        ["n_neighbors"],
    ),
    "label-is-a-path": lambda s, m: (m(**_model(name="logistic_regression", label="../../x")), ["label"]),
    # YAML
    "yaml-duplicate-key": lambda s, m: (
        "name: dup\nlayers: []\n"
        + write_study(s["dir"] / "tmp.yaml", m()).read_text().replace("name: synthetic\n", ""),
        ["layers", "given twice"],
    ),
    # layers and factors that would lie
    "untagged-nodata-holes": lambda s, m: (
        m(layers=[{"name": "a", "path": str(s["a"])}, _untagged_holes(s)]),
        ["b_untagged.tif", "-9999", "nodata"],
    ),
    "epicentre-in-degrees-on-utm": lambda s, m: (_epicentre_degrees(s, m), ["distance_to_epicentre", "x"]),
    # inventory
    "conflicting-labels": lambda s, m: (
        _inventory(s, m, path=_events_csv(s, "events_conflict.csv", _conflicting_labels(s))),
        ["events_conflict.csv"],
    ),
    "where-bad-expression": lambda s, m: (_inventory(s, m, where="year <"), ["inventory", "where 'year <'"]),
    "where-unknown-column": lambda s, m: (_inventory(s, m, where="year < 2006"), ["inventory.where", "year"]),
    "temporal-without-time-field": lambda s, m: (m(**_scheme(name="temporal", split_at=2006)), ["time_field"]),
    "inventory-is-a-directory": lambda s, m: (_inventory(s, m, path=str(s["dir"])), ["is a directory"]),
    "header-only-csv": lambda s, m: (
        _inventory(s, m, path=_events_csv(s, "events_empty.csv", s["points"].iloc[:0])),
        ["events_empty.csv", "no rows"],
    ),
    "missing-coordinates": lambda s, m: (
        _inventory(
            s,
            m,
            path=_events_csv(
                s, "events_nan.csv", s["points"].assign(x=s["points"]["x"].where(s["points"].index % 7 > 0))
            ),
        ),
        ["events_nan.csv", "missing x/y"],
    ),
    "two-layer-geopackage": lambda s, m: (
        m(inventory={"path": _two_layer_gpkg(s), "label": "event"}),
        ["events_two_layers.gpkg", "inventory.layer"],
    ),
}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _build(case: str, synthetic: dict, make_study: Callable) -> tuple[Path, list[str]]:
    study, needles = CATALOGUE[case](synthetic, make_study)
    if study is None:
        return synthetic["dir"] / "nope_study.yaml", needles
    return write_study(synthetic["dir"] / "study.yaml", study), needles


@pytest.mark.parametrize("case", list(CATALOGUE))
def test_catalogue_case_exits_2_and_keeps_the_output(case, synthetic, make_study, runner):
    study_file, needles = _build(case, synthetic, make_study)
    out = existing_out(synthetic["dir"])
    result = invoke(runner, "run", study_file, "--out", out)
    assert_error(result.exit_code, result.stderr, needles, result.exception)
    assert_untouched(out)
