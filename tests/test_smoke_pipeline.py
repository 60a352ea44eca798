"""End to end on the synthetic study: every output exists and is consistent."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import rasterio

from conftest import write_raster
from susmap.runners import run_study
from susmap.runners.models import MAP_FILES, OUTPUT_FILES
from susmap.study import study_from_dict


def test_synthetic_study_runs_end_to_end(make_study, synthetic):
    study = study_from_dict(make_study())
    result = run_study(study)
    out = synthetic["dir"] / "out"
    names = {p.name for p in out.iterdir()}
    assert {*OUTPUT_FILES, *MAP_FILES} <= names
    assert not [p for p in synthetic["dir"].iterdir() if p.name.startswith(".out.partial")]
    metrics = json.loads((out / "metrics.json").read_text())
    auc = metrics["scores"]["spatial"]["logistic_regression"]["auroc"]["mean"]
    assert auc > 0.9  # factor a separates events perfectly up to noise
    with rasterio.open(out / "probability.tif") as src:
        prob = src.read(1)
        assert src.dtypes[0] == "float32"
        assert np.isnan(src.nodata)
    assert np.isnan(prob[:3, :3]).all()  # nodata of layer a masks the cell
    assert np.isfinite(prob[3:, 3:]).all()
    assert result.class_table["cells"].sum() == np.isfinite(prob).sum()


@pytest.mark.parametrize("encoding", ["onehot", "frequency_ratio", "woe"])
def test_study_with_derived_factors_and_encoded_categorical_layer(make_study, synthetic, encoding):
    """Factors derived from a DEM and a categorical layer encoded inside each fold, end to end."""
    h, w = synthetic["shape"]
    geology = np.repeat(np.array([1, 2, 3, 4], dtype=np.int16), w // 4)[None, :].repeat(h, axis=0)
    p_geo = write_raster(synthetic["dir"] / "geology.tif", geology, nodata=0)
    rng = np.random.default_rng(5)
    dem = (np.cumsum(rng.normal(size=(h, w)), axis=1) * 3 + 500).astype(np.float32)
    p_dem = write_raster(synthetic["dir"] / "dem.tif", dem)
    layers = make_study()["layers"] + [
        {"name": "geology", "path": str(p_geo), "kind": "categorical", "encoding": encoding}
    ]
    study = study_from_dict(
        make_study(
            layers=layers,
            dem={"path": str(p_dem)},
            factors=[{"name": "slope"}, {"name": "tpi", "params": {"radius_m": 20}, "edges": "extrapolate"}],
        )
    )
    result = run_study(study)
    out = result.out_dir
    assert (out / "factors" / "slope.tif").exists() and (out / "factors" / "tpi.tif").exists()
    assert {"slope", "tpi", "geology"} <= set(result.samples.columns)
    tables = pd.read_csv(out / "factor_class_tables.csv")
    geo = tables[tables["factor"] == "geology"]
    assert list(geo["class"]) == [1, 2, 3, 4]
    assert geo["area_pct"].sum() == pytest.approx(100.0)
    assert geo["events"].sum() == (result.samples["label"] == 1).sum()
    with rasterio.open(out / "factors" / "slope.tif") as src:
        assert src.tags()["factor"] == "slope" and src.tags()["units"] == "degrees"


def test_study_with_parametrized_schemes_youden_threshold_and_tuning(make_study, synthetic):
    study = study_from_dict(
        make_study(
            models=[{"name": "logistic_regression", "label": "lr"}],
            validation={
                "schemes": [{"name": "blocks", "block_size_m": 200}, {"name": "holdout", "test_size": 0.3}],
                "folds": 3,
                "repeats": 1,
                "threshold": "youden",
                "tuning": {"lr": {"param_grid": {"C": [0.01, 1.0]}, "inner_folds": 3}},
            },
            mapping={"enabled": False},
        )
    )
    result = run_study(study)
    assert list(result.cv_summary["scheme"].unique()) == ["blocks", "holdout"]
    samples = pd.read_csv(result.out_dir / "samples.csv")
    assert {"fold_blocks", "fold_holdout"} <= set(samples.columns)


def test_leave_one_region_out_from_a_polygon_file(make_study, synthetic):
    import geopandas as gpd
    from shapely.geometry import box

    from conftest import CELL, ORIGIN

    h, w = synthetic["shape"]
    x0, y1 = ORIGIN
    strips = [box(x0 + i * w * CELL / 3, y1 - h * CELL, x0 + (i + 1) * w * CELL / 3, y1) for i in range(3)]
    path = synthetic["dir"] / "regions.gpkg"
    gpd.GeoDataFrame({"name": ["west", "middle", "east"]}, geometry=strips, crs="EPSG:32717").to_file(path)
    scheme = {"name": "regions", "regions": str(path), "region_field": "name"}
    study = study_from_dict(make_study(validation={"schemes": [scheme], "folds": 3}, mapping={"enabled": False}))
    result = run_study(study)
    samples = pd.read_csv(result.out_dir / "samples.csv")
    # one fold per region: the fold of a sample is decided by its x alone
    fold_of_strip = samples.groupby(np.floor((samples["x"] - x0) / (w * CELL / 3)).clip(0, 2))["fold_regions"].nunique()
    assert (fold_of_strip == 1).all() and samples["fold_regions"].nunique() == 3
