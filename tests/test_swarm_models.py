"""Networks trained by metaheuristics (papers 002, 003): estimators, presets, formula export, compare outputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from susmap.analysis.model_maps import class_shares, optimization_records
from susmap.errors import StudyConfigError
from susmap.models import make_estimator
from susmap.models.formula import network_formula, write_formula
from susmap.models.swarm import SwarmMLPClassifier


def xor_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2)) * [50.0, 2.0] + [300.0, 0.0]  # noqa: N806  (raw units, scaled inside)
    return X, ((X[:, 0] > 300.0) ^ (X[:, 1] > 0.0)).astype(int)


@pytest.mark.parametrize("optimizer", ["pso", "efo", "sceua", "sos", "esda"])
def test_weight_trained_mlp_learns_xor(optimizer):
    X, y = xor_data(400)  # noqa: N806
    budgets = {"pso": (30, 300), "efo": (35, 20_000), "sceua": (4, 150), "sos": (30, 150), "esda": (40, 300)}
    pop, iterations = budgets[optimizer]
    model = SwarmMLPClassifier(optimizer=optimizer, pop_size=pop, iterations=iterations, seed=1).fit(X[:300], y[:300])
    acc = (model.predict(X[300:]) == y[300:]).mean()
    lr_acc = (
        LogisticRegression(max_iter=1000)
        .fit((X[:300] - 300) / [50, 2], y[:300])
        .score((X[300:] - 300) / [50, 2], y[300:])
    )
    assert acc >= 0.85, (optimizer, acc)
    assert lr_acc <= 0.7 and acc - lr_acc >= 0.2
    assert model.convergence_.shape == (iterations,)
    assert np.all(np.diff(model.convergence_) <= 1e-12)  # best-so-far never worsens
    assert model.best_loss_ == pytest.approx(model.convergence_[-1])
    assert model.optimization_time_ > 0 and model.n_evaluations_ >= pop


def test_weight_trained_mlp_is_reproducible_and_probabilities_are_clipped_values():
    X, y = xor_data(200)  # noqa: N806
    a = SwarmMLPClassifier(optimizer="pso", pop_size=20, iterations=100, seed=3).fit(X, y)
    b = SwarmMLPClassifier(optimizer="pso", pop_size=20, iterations=100, seed=3).fit(X, y)
    c = SwarmMLPClassifier(optimizer="pso", pop_size=20, iterations=100, seed=4).fit(X, y)
    assert np.array_equal(a.weights_, b.weights_) and not np.array_equal(a.weights_, c.weights_)
    np.testing.assert_allclose(a.predict_proba(X)[:, 1], np.clip(a.network_output(X), 0, 1))
    # the training loss the optimizer reports is the MSE of the network output against the labels
    assert a.best_loss_ == pytest.approx(np.mean((a.network_output(X) - y) ** 2), rel=1e-9)


def test_registry_presets_of_papers_002_and_003():
    # sce_mlp: 10 complexes x 12 shuffling loops, the paper's SCE/EFO cost ratio (paper002_printed: 1,000 loops)
    for name, pop, iterations in [("efo_mlp", 35, 50_000), ("sce_mlp", 10, 12), ("sos_mlp", 500, 1000),
                                  ("esda_mlp", 400, 1000)]:  # fmt: skip
        est = make_estimator(name)
        assert (est.pop_size, est.iterations, tuple(est.hidden_layer_sizes)) == (pop, iterations, (5,))
        assert (est.activation, est.output, est.loss) == ("tanh", "linear", "mse")
        assert make_estimator(name, {"preset": "paper002"}).get_params() == est.get_params()
    printed = make_estimator("sce_mlp", {"preset": "paper002_printed"})
    assert (printed.pop_size, printed.iterations) == (10, 1000)
    dlnn = make_estimator("pso_dlnn")
    assert dlnn.optimizer == "pso_constriction" and tuple(dlnn.hidden_layer_sizes) == (3, 3)
    assert (dlnn.pop_size, dlnn.iterations) == (50, 500)
    assert (dlnn.activation, dlnn.output, dlnn.loss) == ("leaky_relu", "sigmoid", "mse")
    with pytest.raises(StudyConfigError, match="does not take"):
        make_estimator("efo_mlp", {"optimizer": "sos"})
    with pytest.raises(StudyConfigError, match="activation"):
        make_estimator("efo_mlp", {"activation": "swish"})
    with pytest.raises(StudyConfigError, match="needs output 'sigmoid'"):
        make_estimator("swarm_mlp", {"loss": "cross_entropy"})
    with pytest.raises(StudyConfigError, match="optimizer must be one of"):
        make_estimator("swarm_mlp", {"optimizer": "ga"})


@pytest.mark.parametrize(
    ("hidden", "activation", "output"),
    [
        ((5,), "tanh", "linear"),
        ((3, 3), "relu", "sigmoid"),
        ((4,), "logistic", "linear"),
        ((3, 3), "leaky_relu", "sigmoid"),
    ],
)
def test_formula_export_reproduces_the_model(tmp_path, hidden, activation, output):
    X, y = xor_data(300, seed=2)  # noqa: N806
    X = np.column_stack([X, np.full(len(X), 7.0)])  # noqa: N806  (a constant factor)
    model = SwarmMLPClassifier(
        optimizer="pso", hidden_layer_sizes=hidden, activation=activation, output=output, pop_size=20, iterations=80
    ).fit(X, y)
    formula = network_formula(model, ["Elevation", "D. to Faults", "lithology 3"])
    namespace: dict = {}
    exec(compile(formula.python, "exported.py", "exec"), namespace)
    assert "susmap" not in formula.python.replace("exported by susmap", "")
    values = np.array([namespace["v_ls"](*row) for row in X])
    np.testing.assert_allclose(values, model.network_output(X), rtol=0, atol=1e-9)
    assert namespace["INPUTS"] == ("Elevation", "D. to Faults", "lithology 3")
    fname = {"tanh": "Tansig", "relu": "Relu", "logistic": "Logsig", "leaky_relu": "LeakyRelu"}[activation]
    assert f"N{'1' if len(hidden) > 1 else ''}_1 = {fname}(" in formula.text
    assert f"V_LS = {'Purelin' if output == 'linear' else 'Logsig'}(" in formula.text
    assert r"\begin{aligned}" in formula.latex and r"\mathrm{D. to Faults}" in formula.latex
    n_params = sum(W.size + b.size for W, b in model.coefs_)
    w = formula.weights
    assert (w["parameter"].isin(["weight", "bias"])).sum() == n_params
    paths = write_formula(model, ["Elevation", "D. to Faults", "lithology 3"], tmp_path, "efo")
    assert [p.name for p in paths] == ["efo_formula.txt", "efo_formula.tex", "efo_formula.py", "efo_weights.csv"]
    back = pd.read_csv(paths[3])
    np.testing.assert_array_equal(back["value"].to_numpy(), w["value"].to_numpy())


def test_formula_refuses_unfitted_or_wrong_names():
    with pytest.raises(ValueError, match="not fitted"):
        network_formula(SwarmMLPClassifier(), ["a"])
    X, y = xor_data(50)  # noqa: N806
    model = SwarmMLPClassifier(optimizer="pso", pop_size=5, iterations=5).fit(X, y)
    with pytest.raises(ValueError, match="1 feature names for a network of 2 inputs"):
        network_formula(model, ["a"])


def test_class_shares_and_optimization_records():
    rng = np.random.default_rng(0)
    probs = {"a": rng.random(2000), "b": rng.beta(0.5, 3, 2000)}
    shares = class_shares(probs, method="quantile")
    assert shares.groupby("model")["share_pct"].sum().round(6).tolist() == [100.0, 100.0]
    np.testing.assert_allclose(shares[shares["model"] == "a"]["share_pct"], 20.0, atol=0.1)
    X, y = xor_data(60)  # noqa: N806
    swarm = SwarmMLPClassifier("pso", pop_size=5, iterations=7).fit(X, y)
    fitted = {"lr": LogisticRegression().fit(X, y), "pso": swarm}
    table, curves = optimization_records(fitted)
    assert list(table["model"]) == ["pso"] and list(curves) == ["pso"]
    assert table.loc[0, "iterations"] == 7 and table.loc[0, "optimizer"] == "pso"


def test_compare_writes_convergence_formulas_and_class_shares(make_study, synthetic):
    from susmap.runners.compare import run_compare
    from susmap.study import study_from_dict

    study = study_from_dict(
        make_study(
            models=[
                {"name": "logistic_regression", "label": "lr"},
                {"name": "efo_mlp", "label": "efo", "params": {"iterations": 3000}},
                {"name": "pso_dlnn", "label": "pso", "params": {"iterations": 60}},
            ],
            validation={"schemes": ["spatial"], "folds": 3, "repeats": 1, "n_jobs": 1},
        )
    )
    result = run_compare(study)
    out = result.out_dir
    opt = pd.read_csv(out / "optimization.csv")
    assert list(opt["model"]) == ["efo", "pso"] and list(opt["iterations"]) == [3000, 60]
    assert (out / "convergence.png").exists() and (out / "class_shares.png").exists()
    assert sorted(pd.read_csv(out / "class_shares.csv")["model"].unique()) == ["efo", "lr", "pso"]
    for label in ("efo", "pso"):
        assert (out / "formulas" / f"{label}_formula.py").exists()
    text = (out / "formulas" / "efo_formula.txt").read_text()
    assert "a'" in text and "Tansig" in text  # factor names of the synthetic study
    ranking = pd.read_csv(out / "ranking.csv")
    assert set(ranking["model"]) == {"lr", "efo", "pso"}


def test_pso_tuned_dlnn_searches_settings_within_bounds():
    pytest.importorskip("torch")
    from susmap.models.swarm import PSOTunedDLNNClassifier

    X, y = xor_data(120)  # noqa: N806
    X = (X - [300.0, 0.0]) / [50.0, 2.0]  # noqa: N806
    model = PSOTunedDLNNClassifier(pop_size=3, iterations=2, inner_folds=2, epochs=(5, 10), units=(2, 4)).fit(X, y)
    best = model.best_params_
    assert 1e-4 <= best["learning_rate"] <= 1e-1
    assert len(best["hidden_layer_sizes"]) == 2 and all(2 <= u <= 4 for u in best["hidden_layer_sizes"])
    assert 5 <= best["epochs"] <= 10
    assert model.convergence_.shape == (2,) and model.predict_proba(X).shape == (120, 2)


def test_run_maps_with_a_swarm_model_and_exports_its_formula(make_study, synthetic):
    from susmap.runners import run_study
    from susmap.study import study_from_dict

    study = study_from_dict(
        make_study(
            models=[{"name": "esda_mlp", "label": "esda", "params": {"pop_size": 30, "iterations": 100}}],
            validation={"schemes": ["spatial"], "folds": 3, "repeats": 1, "n_jobs": 1},
        )
    )
    result = run_study(study)
    formula = result.out_dir / "formulas" / "esda_formula.py"
    namespace: dict = {}
    exec(compile(formula.read_text(), str(formula), "exec"), namespace)
    import rasterio

    with rasterio.open(result.out_dir / "probability.tif") as src:
        prob = src.read(1)
    for _, row in result.samples.head(20).iterrows():
        value = namespace["v_ls"](*[row[name] for name in namespace["INPUTS"]])
        assert prob[int(row["row"]), int(row["col"])] == pytest.approx(min(max(value, 0.0), 1.0), abs=1e-6)
