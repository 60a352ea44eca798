"""susmap compare: every model on the same folds, the papers' tables and figures."""

from __future__ import annotations

import json

import pandas as pd
import yaml
from typer.testing import CliRunner

from susmap.cli import app
from susmap.runners.compare import run_compare
from susmap.study import study_from_dict

runner = CliRunner()


def _study(make_study, tmp_path, **extra):
    return make_study(
        models=[{"name": "logistic_regression"}, {"name": "decision_tree", "label": "dt", "params": {"max_depth": 3}}],
        validation={
            "schemes": [
                "spatial",
                "random",
                {"name": "holdout", "test_size": 0.3},
                {"name": "buffered_loo", "buffer_m": 25.0, "label": "loo"},
            ],
            "folds": 3,
            "repeats": 2,
        },
        outputs={"directory": str(tmp_path / "cmp")},
        **extra,
    )


def test_compare_writes_tables_figures_and_json(make_study, tmp_path):
    result = run_compare(study_from_dict(_study(make_study, tmp_path)))
    out = result.out_dir
    names = {p.name for p in out.iterdir()}
    assert {
        "comparison.json", "roc.png", "rate_curves.png", "ranking.csv", "vif.csv", "vif.png",
        "information_gain.csv", "rf_importance.csv", "permutation_importance.csv", "factor_count.csv",
        "fold_map_spatial.png", "fold_map_random.png", "fold_map_holdout.png", "report.html", "provenance.json",
    } <= names  # fmt: skip
    tables = {p.name for p in (out / "tables").iterdir()}
    for layout in ("paper000_table4", "paper000_table5", "paper001_table5", "paper002_table", "paper003_table5"):
        for scheme in ("spatial", "random", "holdout", "loo"):
            assert f"{layout}_{scheme}.csv" in tables and f"{layout}_{scheme}.md" in tables
    t5 = pd.read_csv(out / "tables" / "paper003_table5_spatial.csv")
    assert list(t5["Stage"]) == ["Training", "Validation", "Training", "Validation"]
    assert list(t5["Models"].unique()) == ["logistic_regression", "dt"]
    assert all("±" in v for v in t5["AUC"])
    data = json.loads((out / "comparison.json").read_text())
    assert data["schemes"] == ["spatial", "random", "holdout", "loo"]
    loo = pd.read_csv(out / "tables" / "paper003_table5_loo.csv")
    assert not loo[loo["Stage"] == "Validation"]["AUC"].str.contains("n/a").any()  # pooled, so defined
    assert set(data["roc_auc_out_of_fold"]["spatial"]) == {"logistic_regression", "dt"}
    ranking = pd.read_csv(out / "ranking.csv")
    assert set(ranking["model"]) == {"logistic_regression", "dt"}
    # paper 002's five criteria, ranked for training and testing apart
    assert [c for c in ranking.columns if c.startswith("score_")] == [
        "score_mse",
        "score_pearson_r",
        "score_auroc",
        "score_recall",
        "score_specificity",
    ]
    assert set(ranking["part"]) == {"train", "test"}
    assert "Models under spatial cross-validation" in (out / "report.html").read_text()


def test_compare_cli_and_bad_scheme_parameter(make_study, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(_study(make_study, tmp_path)))
    bad = _study(make_study, tmp_path)
    bad["validation"]["schemes"] = [{"name": "blocks"}]  # block_size_m missing
    path_bad = tmp_path / "bad.yaml"
    path_bad.write_text(yaml.safe_dump(bad))
    result = runner.invoke(app, ["-q", "compare", str(path_bad)])
    assert result.exit_code == 2
    assert "block_size_m" in result.stderr
    assert not (tmp_path / "cmp").exists()


def test_paper002_table_is_mean_sd_of_training_and_testing_folds():
    from susmap.report.tables import paper002_table

    scores = pd.DataFrame(
        {
            "scheme": ["s"] * 4,
            "model": ["efo"] * 4,
            "part": ["train", "train", "test", "test"],
            "auroc": [0.9, 0.8, 0.7, 0.5],
            "recall": [1.0, 1.0, 0.5, 0.5],
            "specificity": [0.5, 0.7, 0.6, 0.6],
            "mse": [0.1, 0.3, 0.2, 0.2],
            "pearson_r": [0.6, 0.8, 0.3, 0.5],
        }
    )
    table = paper002_table(scores, "s")
    assert list(table.columns) == ["Model", "Stage", "AUC", "Sensitivity", "Specificity", "MSE", "R"]
    assert list(table["Stage"]) == ["Training", "Testing"]
    assert table.loc[0, "AUC"] == "0.850 ± 0.071"  # mean 0.85, sd (n - 1) = 0.0707
    assert table.loc[1, "R"] == "0.400 ± 0.141"
    assert table.loc[1, "MSE"] == "0.200 ± 0.000"
