"""End to end on the synthetic study: every output exists and is consistent."""

from __future__ import annotations

import json

import numpy as np
import rasterio

from susmap.pipeline import MAP_FILES, OUTPUT_FILES, run_study
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
