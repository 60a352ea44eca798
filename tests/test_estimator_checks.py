"""scikit-learn's own estimator checks over every registry model.

Every model of :func:`susmap.models.available_models` (classic, deep, swarm)
is built through the registry with a tiny budget (few epochs or iterations,
small networks: the checks fit each estimator about a hundred times) and run
through :func:`~sklearn.utils.estimator_checks.parametrize_with_checks`. A
check may be listed as an expected failure only where it cannot apply, with
the reason; ``xfail_strict`` makes a listed check that starts passing fail,
so the list stays true.

The categorical encoders (frequency ratio, weights of evidence) go through
the same checks in ``tests/test_encoding.py``, with 0/1 targets (their only
use), so every check runs on them.

The patch CNN reads the k x k factor windows around each cell; its checks run
with ``window_size=1``, where a plain factor table is the 1 x 1 windows (the
window and design-matrix inputs have their own tests below).
"""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import check_param_validation, parametrize_with_checks
from threadpoolctl import threadpool_limits

from susmap.encoding import FrequencyRatioEncoder, WeightsOfEvidenceEncoder
from susmap.models import available_models, make_estimator

HAS_TORCH = importlib.util.find_spec("torch") is not None
_DEEP = {"device": "cpu", "n_threads": 1}

#: Registry parameters of each model for the checks: the smallest budget that still learns make_blobs
#: (check_classifiers_train asks for accuracy > 0.83).
TINY: dict[str, dict] = {
    "logistic_regression": {},
    "random_forest": {"n_estimators": 10},
    "support_vector_machine": {},
    "k_nearest_neighbors": {},
    "decision_tree": {},
    "ann": {"hidden_units": 5, "max_iter": 50, "learning_rate_init": 0.01},
    "gradient_boosting": {"max_iter": 10},
    "dlnn": {"hidden_layer_sizes": (8,), "epochs": 20, "batch_size": None, "learning_rate": 0.05, **_DEEP},
    "sae": {"hidden_layer_sizes": (8,), "pretrain_epochs": 3, "epochs": 40, "learning_rate": 0.05, **_DEEP},
    "patch_cnn": {"window_size": 1, "dense_units": 8, "epochs": 20, "learning_rate": 0.05, **_DEEP},
    "swarm_mlp": {"optimizer": "pso", "pop_size": 10, "iterations": 30},
    "efo_mlp": {"pop_size": 10, "iterations": 300},
    "sce_mlp": {"pop_size": 2, "iterations": 3},
    "sos_mlp": {"pop_size": 10, "iterations": 10},
    "esda_mlp": {"pop_size": 10, "iterations": 30},
    "pso_dlnn": {"pop_size": 10, "iterations": 30},
    "pso_tuned_dlnn": {"pop_size": 2, "iterations": 1, "inner_folds": 2, "epochs": (2, 5), "units": (2, 4)},
}

_CV_SAMPLE_WEIGHT = (
    "the internal 5-fold Platt calibration splits a row repeated twice differently from the same row "
    "weighted 2, so the two fits differ (CalibratedClassifierCV, not a susmap class)"
)
#: Checks that cannot apply, per registry model, each with its reason.
EXPECTED_FAILURES: dict[str, dict[str, str]] = {
    "random_forest": dict.fromkeys(
        ("check_sample_weight_equivalence_on_dense_data", "check_sample_weight_equivalence_on_sparse_data"),
        "bootstrap samples drawn from repeated rows differ from those drawn from weighted rows "
        "(RandomForestClassifier, also expected to fail in scikit-learn's own suite)",
    ),
    "support_vector_machine": {
        "check_sample_weight_equivalence_on_dense_data": _CV_SAMPLE_WEIGHT,
        "check_sample_weight_equivalence_on_sparse_data": _CV_SAMPLE_WEIGHT,
        "check_fit2d_1feature": "the internal 5-fold Platt calibration needs 5 rows of each class; the check "
        "fits 10 rows whose classes are not both 5 strong, and scikit-learn's message names the folds",
        "check_supervised_y_2d": "CalibratedClassifierCV(ensemble=False) hands a column-vector y on to "
        "cross_val_predict, which fails in scikit-learn; susmap always passes 1-D labels",
    },
}


def _usable(name: str) -> bool:
    requires = available_models()[name].requires
    return requires is None or importlib.util.find_spec(requires[0]) is not None


MODEL_NAMES = [name for name in sorted(available_models()) if _usable(name) and name in TINY]
MODELS = {name: make_estimator(name, TINY[name], seed=0) for name in MODEL_NAMES}
_NAME_OF = {id(est): name for name, est in MODELS.items()}


def _expected_failures(estimator) -> dict[str, str]:
    return EXPECTED_FAILURES.get(_NAME_OF.get(id(estimator), ""), {})


def test_every_registry_model_is_checked():
    assert set(TINY) == set(available_models()), "give every registry model a tiny budget in TINY"
    assert set(EXPECTED_FAILURES) <= set(TINY)


@parametrize_with_checks(list(MODELS.values()), expected_failed_checks=_expected_failures, xfail_strict=True)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # tiny budgets
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")  # array-API input: not installed
def test_sklearn_estimator_checks(estimator, check):
    with threadpool_limits(1):  # the checks' data are tiny: OpenMP/BLAS threads only contend (boosting, SVM)
        check(estimator)


# --- the susmap estimators: declared constraints cover every parameter ----------------------------------------------

OWN = [est for est in MODELS.values() if type(est).__module__.startswith("susmap.")]
OWN += [FrequencyRatioEncoder(), WeightsOfEvidenceEncoder()]


@pytest.mark.parametrize("estimator", OWN, ids=lambda est: type(est).__name__)
def test_parameter_constraints_cover_every_parameter(estimator):
    # scikit-learn runs this check on its own estimators only: a constraint for every parameter, and fit
    # refuses a value outside it with InvalidParameterError naming the parameter
    check_param_validation(type(estimator).__name__, estimator)


def test_binary_only_models_say_so():
    for name, est in MODELS.items():
        if type(est).__module__.startswith("susmap."):
            assert get_tags(est).classifier_tags.multi_class is False, name


# --- NaN in X: refused with a clear message by every model that cannot take it ----------------------------------------


def _blobs(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.tile([0, 1], n // 2)
    return rng.normal(size=(n, 3)) + 2.0 * y[:, None], y


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_nan_is_refused_or_handled(name):
    X, y = _blobs()  # noqa: N806
    holed = X.copy()
    holed[5, 1] = np.nan
    est = make_estimator(name, TINY[name], seed=0)
    if get_tags(est).input_tags.allow_nan:  # trees and boosting split on missing values themselves
        proba = est.fit(holed, y).predict_proba(holed)
        assert np.isfinite(proba).all()
        return
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.fit(holed, y)
    fitted = make_estimator(name, TINY[name], seed=0).fit(X, y)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        fitted.predict_proba(holed)  # never scaled or filled to a number


@pytest.mark.parametrize("labels", [("no", "yes"), (-1, 1)])
@pytest.mark.parametrize("name", ["dlnn", "swarm_mlp"])
def test_any_two_labels(name, labels):
    if not _usable(name):
        pytest.skip("needs torch")
    X, y = _blobs()  # noqa: N806
    y = np.asarray(labels)[y]
    est = make_estimator(name, TINY[name], seed=0).fit(X, y)
    assert est.classes_.tolist() == list(labels)
    assert set(est.predict(X)) <= set(labels)
    with pytest.raises(ValueError, match="Only binary classification is supported"):
        make_estimator(name, TINY[name], seed=0).fit(X, np.arange(60) % 3)


# --- the patch CNN on factor windows ------------------------------------------------------------------------------


@pytest.mark.skipif(not HAS_TORCH, reason="needs torch")
def test_patch_cnn_windows_follow_the_same_rules():
    from susmap.models.patch_cnn import PatchCNNClassifier
    from susmap.models.windows import WindowSource

    rng = np.random.default_rng(1)
    data = rng.normal(size=(2, 12, 12)).astype(np.float32)
    data[:, 0, :] = np.nan  # a nodata row at the top edge
    source = WindowSource(data, ["slope", "twi"])
    rows, cols = np.repeat(np.arange(1, 11), 4)[:40], np.tile(np.arange(1, 11), 4)[:40]
    design = np.column_stack([data[:, rows, cols].T, rows, cols]).astype(np.float64)
    y = np.tile([0, 1], 20)
    params = {"window_size": 3, "channels": (2, 2), "dense_units": 2, "epochs": 2, **_DEEP}

    with pytest.raises(NotFittedError):
        PatchCNNClassifier(window_source=source, **params).predict_proba(design)
    model = PatchCNNClassifier(window_source=source, **params).fit(design, y)
    assert model.n_features_in_ == 2  # factor bands; the row and column are cell addresses, not features
    assert model.n_inputs_ == 3  # two standardised bands and the validity mask
    assert get_tags(model).input_tags.allow_nan  # nodata neighbours are masked
    assert model.predict_proba(design).shape == (40, 2)  # windows touching the nodata row included

    windows = source.windows(rows, cols, 3)
    np.testing.assert_array_equal(model.predict_proba(windows), model.predict_proba(design))
    with pytest.raises(ValueError, match="expecting 2 features"):
        model.predict_proba(windows[:, :1])
    centre = windows.copy()
    centre[3, 1, 1, 1] = np.nan
    with pytest.raises(ValueError, match="centre cell of 1 window"):
        model.predict_proba(centre)  # no prediction from a fill value
    with pytest.raises(ValueError, match="centre cell"):
        PatchCNNClassifier(**params).fit(centre, y)
    with pytest.raises(ValueError, match="neighbourhood"):
        PatchCNNClassifier(**params).fit(design[:, :2], y)  # a table has no 3 x 3 neighbourhood
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PatchCNNClassifier(**{**params, "window_size": 1}).fit(design[:, :2], y).predict(design[:, :2])
