"""``mapping.models``: one map per model in ``maps/<label>/``, the ``maps.png`` comparison, and bad labels."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml
from typer.testing import CliRunner

from susmap.cli import app
from susmap.errors import StudyConfigError
from susmap.runners import run_study
from susmap.study import study_from_dict

MODELS = [{"name": "logistic_regression"}, {"name": "decision_tree"}]
TOP_FILES = ("probability.tif", "classes.tif", "class_table.csv", "susceptibility_map.png")


@pytest.fixture
def runs(make_study, tmp_path):
    """The same two-model study run without and with ``mapping.models: all``."""
    mapping = {"chunk_size": 32, "class_sample": 2000}
    plain = run_study(
        study_from_dict(make_study(models=MODELS, mapping=mapping, outputs={"directory": str(tmp_path / "plain")}))
    )
    every = run_study(
        study_from_dict(
            make_study(
                models=MODELS, mapping={**mapping, "models": "all"}, outputs={"directory": str(tmp_path / "all")}
            )
        )
    )
    return plain, every


def test_mapping_models_all_writes_one_map_per_model_and_the_comparison(runs):
    plain, every = runs
    out = every.out_dir
    probs = {}
    for label in ("logistic_regression", "decision_tree"):
        folder = out / "maps" / label
        for name in TOP_FILES:
            assert (folder / name).is_file(), folder / name
        with rasterio.open(folder / "probability.tif") as src:
            probs[label] = src.read(1)
            assert src.tags()["model"] == label
        table = pd.read_csv(folder / "class_table.csv")
        assert len(table) == 5
        assert table["cells"].sum() == np.isfinite(probs[label]).sum()
    lr, dt = probs["logistic_regression"], probs["decision_tree"]
    assert np.array_equal(np.isfinite(lr), np.isfinite(dt))
    assert not np.allclose(lr[np.isfinite(lr)], dt[np.isfinite(dt)])
    assert (out / "maps.png").stat().st_size > 0
    # the top-level map (mapping.model: best) is the same model's, file for file
    for name in TOP_FILES:
        assert (out / name).read_bytes() == (plain.out_dir / name).read_bytes(), name
    same_model = out / "maps" / every.mapped_model / "probability.tif"
    assert same_model.read_bytes() == (out / "probability.tif").read_bytes()
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["maps"]) == {"logistic_regression", "decision_tree"}
    assert metrics["maps"]["decision_tree"]["folder"] == "maps/decision_tree/"
    assert sum(r["cells"] for r in metrics["maps"]["decision_tree"]["table"]) == np.isfinite(dt).sum()
    report = (out / "report.html").read_text()
    assert "Maps per model" in report and "maps.png" in report
    # without mapping.models nothing of this is written
    assert not (plain.out_dir / "maps").exists() and not (plain.out_dir / "maps.png").exists()
    assert "maps" not in json.loads((plain.out_dir / "metrics.json").read_text())
    assert "Maps per model" not in (plain.out_dir / "report.html").read_text()


def test_mapping_models_list_and_config():
    from susmap.study import MappingConfig

    assert MappingConfig().models_to_map(["a", "b"]) == []
    assert MappingConfig(models="all").models_to_map(["a", "b"]) == ["a", "b"]
    assert MappingConfig(models=["b", "b"]).models_to_map(["a", "b"]) == ["b"]


def test_mapping_models_unknown_label_is_refused_at_load(make_study):
    with pytest.raises(StudyConfigError, match=r"mapping\.models.*'rf'.*logistic_regression"):
        study_from_dict(make_study(models=MODELS, mapping={"models": ["logistic_regression", "rf"]}))


def test_mapping_models_unknown_label_via_cli_exits_2_with_one_line(make_study, tmp_path):
    path = tmp_path / "s.yaml"
    out = tmp_path / "out_bad"
    path.write_text(
        yaml.safe_dump(make_study(mapping={"models": ["rf"]}, outputs={"directory": str(out)})), encoding="utf-8"
    )
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "mapping.models" in lines[0] and "'rf'" in lines[0] and "logistic_regression" in lines[0]
    assert not out.exists()
