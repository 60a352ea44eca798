"""The model registry: names, presets, parameters, per-fold preprocessing."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from susmap.errors import StudyConfigError
from susmap.models import available_models, make_estimator, make_pipeline


def test_registry_has_the_two_starting_models():
    models = available_models()
    assert {"logistic_regression", "random_forest"} <= set(models)
    assert isinstance(make_estimator("logistic_regression"), LogisticRegression)
    rf = make_estimator("random_forest", {"preset": "paper001"}, seed=5)
    assert isinstance(rf, RandomForestClassifier)
    assert (rf.n_estimators, rf.max_depth, rf.random_state, rf.n_jobs) == (62, 13, 5, 1)
    assert make_estimator("random_forest", {"preset": "paper001", "n_estimators": 10}).n_estimators == 10


def test_unknown_names_presets_and_parameters_are_config_errors():
    with pytest.raises(StudyConfigError, match=r"unknown model 'svm'; known: .*logistic_regression"):
        make_estimator("svm")
    with pytest.raises(StudyConfigError, match=r"random_forest does not take n_trees"):
        make_estimator("random_forest", {"n_trees": 5})
    with pytest.raises(StudyConfigError, match=r"has no preset 'paper999'"):
        make_estimator("random_forest", {"preset": "paper999"})
    with pytest.raises(StudyConfigError, match=r"penalty must be 'l2' or 'none'"):
        make_estimator("logistic_regression", {"penalty": "l1"})


def test_pipeline_scales_continuous_and_one_hot_encodes_categorical():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(50, 10, 200), rng.integers(1, 4, 200)])  # noqa: N806
    y = (X[:, 0] > 50).astype(int)
    pipe = make_pipeline("logistic_regression", {}, factor_names=["slope", "geology"], kinds={"geology": "categorical"})
    pre = pipe.named_steps["preprocess"]
    assert isinstance(pre, ColumnTransformer)
    with pytest.raises(NotFittedError):
        pipe.predict_proba(X)
    fitted = clone(pipe).fit(X[:100], y[:100])
    scaler = fitted.named_steps["preprocess"].named_transformers_["continuous"]
    assert isinstance(scaler, StandardScaler)
    assert scaler.mean_[0] == pytest.approx(X[:100, 0].mean())  # fitted on the training rows only
    assert fitted.named_steps["preprocess"].transform(X).shape[1] == 1 + 3  # slope + 3 geology classes
    rf = make_pipeline("random_forest", {"n_estimators": 5}, factor_names=["slope"], kinds={})
    assert rf.named_steps["preprocess"].transformers[0][1] == "passthrough"  # trees need no scaling


ZOO = [
    "logistic_regression",
    "support_vector_machine",
    "k_nearest_neighbors",
    "decision_tree",
    "random_forest",
    "ann",
    "gradient_boosting",
]


@pytest.mark.parametrize("name", ZOO)
def test_every_classic_model_learns_a_simple_rule_deterministically(name):
    """Each zoo model separates events (a + b > 0) well above chance, and the same seed gives the same output."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 3))  # noqa: N806
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    pipe = make_pipeline(name, {}, factor_names=["a", "b", "c"], kinds={}, seed=3)
    p1 = clone(pipe).fit(X[:200], y[:200]).predict_proba(X[200:])[:, 1]
    p2 = clone(pipe).fit(X[:200], y[:200]).predict_proba(X[200:])[:, 1]
    np.testing.assert_array_equal(p1, p2)
    assert ((p1 >= 0.5) == y[200:]).mean() > 0.8
    assert ((p1 >= 0) & (p1 <= 1)).all()


def test_paper_presets():
    svm = make_estimator("support_vector_machine", {"preset": "paper001"})
    assert (svm.estimator.C, svm.estimator.gamma, svm.estimator.kernel, svm.method) == (1.0, 0.001, "rbf", "sigmoid")
    lr = make_estimator("logistic_regression", {"preset": "paper001"})
    assert lr.C == 1.0 and lr.get_params() == make_estimator("logistic_regression").get_params()
