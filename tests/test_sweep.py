"""``susmap sweep``: paper 001's framework-setting experiments on a study."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from susmap.cli import app
from susmap.errors import StudyConfigError
from susmap.runners.sweep import parse_vary, run_sweep
from susmap.study import study_from_dict


def test_parse_vary():
    assert parse_vary(["learning_rate=[0.1, 0.8]", "hidden_layer_sizes=[[3, 3], [10]]"]) == {
        "learning_rate": [0.1, 0.8],
        "hidden_layer_sizes": [[3, 3], [10]],
    }
    for bad, message in [
        ("learning_rate", "SETTING="),
        ("learning_rate=0.1", "YAML list"),
        ("learning_rate=[", "not a YAML list"),
        ("=[1]", "SETTING="),
    ]:
        with pytest.raises(StudyConfigError, match=message):
            parse_vary([bad])
    with pytest.raises(StudyConfigError, match="twice"):
        parse_vary(["a=[1]", "a=[2]"])


def test_sweep_of_a_classic_model_writes_paper_tables(make_study, synthetic):
    study = study_from_dict(make_study(models=[{"name": "decision_tree", "label": "dt"}]))
    result = run_sweep(study, "dt", {"max_depth": [1, 3]}, repeats=3)
    frame = pd.read_csv(result.out_dir / "sweep.csv")
    assert set(frame["metric"]) == {"oa", "precision", "recall"}
    assert (frame["n"] == 3).all() and len(frame) == 6
    table = result.tables["max_depth"]
    assert list(table.columns) == ["1", "3"]
    assert all(" ± " in cell for cell in table.to_numpy().ravel())
    assert (result.out_dir / "sweep_max_depth.md").read_text().startswith("| metric")


def test_sweep_refuses_unknown_model_and_bad_values(make_study, synthetic):
    study = study_from_dict(make_study())
    with pytest.raises(StudyConfigError, match="no model 'sae'"):
        run_sweep(study, "sae", {"learning_rate": [0.1]})
    with pytest.raises(StudyConfigError, match="does not take"):
        run_sweep(study, "logistic_regression", {"alpha": [0.1]})
    assert not (synthetic["dir"] / "out").exists()


def test_sweep_cli(make_study, synthetic, tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(make_study(models=[{"name": "decision_tree", "label": "dt"}])))
    runner = CliRunner()
    ok = runner.invoke(app, ["sweep", str(path), "-m", "dt", "--vary", "max_depth=[1, 2]", "--repeats", "2"])
    assert ok.exit_code == 0, ok.output
    assert "dt: max_depth" in ok.output and "OA (%)" in ok.output
    bad = runner.invoke(app, ["sweep", str(path), "-m", "dt", "--vary", "max_depth=2"])
    assert bad.exit_code == 2 and "YAML list" in bad.output
