"""Categorical encoders (frequency ratio, weights of evidence) and factor class tables.

Oracles are small tables computed by hand (the arithmetic is in the comments),
paper 001 eq. 17 ``FR = (Li / Lt) / (Ai / A)``, Bonham-Carter's (1994) weights
of evidence, and plain NumPy on the whole bundled Ecuador raster.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks

import susmap.analysis
import susmap.encoding
from conftest import write_raster
from susmap.analysis import class_area_counts, factor_class_tables, frequency_ratio_table
from susmap.datasets import ecuador_path
from susmap.encoding import (
    FrequencyRatioEncoder,
    WeightsOfEvidenceEncoder,
    bin_continuous,
    make_categorical_encoder,
)
from susmap.errors import StudyConfigError
from susmap.stack import open_stack
from susmap.study import AlignmentConfig, GridConfig, LayerConfig

# A hand-made training table: one categorical factor with classes 1, 2, 3.
#   class 1: 4 samples, 3 events
#   class 2: 4 samples, 1 event
#   class 3: 2 samples, 0 events
#   all:    10 samples, 4 events
X_HAND = np.array([1, 1, 1, 1, 2, 2, 2, 2, 3, 3], dtype=float)[:, None]
Y_HAND = np.array([1, 1, 1, 0, 1, 0, 0, 0, 0, 0])


# --- frequency ratio -------------------------------------------------------------------------------------------------


def test_frequency_ratio_sample_variant_by_hand():
    enc = FrequencyRatioEncoder().fit(X_HAND, Y_HAND)
    # FR = (events in class / all events) / (samples in class / all samples)
    # class 1: (3/4) / (4/10) = 0.75 / 0.4 = 1.875
    # class 2: (1/4) / (4/10) = 0.25 / 0.4 = 0.625
    # class 3: (0/4) / (2/10) = 0            (no event -> FR 0)
    np.testing.assert_allclose(enc.frequency_ratio_[0], [1.875, 0.625, 0.0])
    np.testing.assert_array_equal(enc.categories_[0], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(enc.sample_counts_[0], [4, 4, 2])
    np.testing.assert_array_equal(enc.event_counts_[0], [3, 1, 0])
    np.testing.assert_allclose(enc.class_shares_[0], [0.4, 0.4, 0.2])
    out = enc.transform(np.array([[3.0], [1.0], [2.0]]))
    np.testing.assert_allclose(out[:, 0], [0.0, 1.875, 0.625])


def test_frequency_ratio_class_without_events_is_zero():
    X = np.array([[1.0], [1.0], [2.0], [2.0], [2.0]])  # noqa: N806
    y = np.array([1, 0, 0, 0, 0])
    enc = FrequencyRatioEncoder().fit(X, y)
    # class 2 holds 3 samples and no event
    assert enc.frequency_ratio_[0][1] == 0.0
    assert enc.transform([[2.0]])[0, 0] == 0.0


def test_frequency_ratio_area_variant_is_paper001_eq17():
    # Areas as cell counts (normalised by the encoder): A = 200 + 500 + 250 + 50 = 1000 cells.
    # Eq. 17: I = (Li / Lt) / (Ai / A) with Li = events in class i, Lt = all events = 4.
    # class 1: (3/4) / (200/1000) = 0.75 / 0.20 = 3.75
    # class 2: (1/4) / (500/1000) = 0.25 / 0.50 = 0.5
    # class 3: (0/4) / (250/1000) = 0
    # class 4: no training sample, but it has area and no event: (0/4) / (50/1000) = 0
    shares = [{1: 200, 2: 500, 3: 250, 4: 50}]
    enc = FrequencyRatioEncoder(area_shares=shares).fit(X_HAND, Y_HAND)
    np.testing.assert_array_equal(enc.categories_[0], [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(enc.class_shares_[0], [0.2, 0.5, 0.25, 0.05])
    np.testing.assert_allclose(enc.frequency_ratio_[0], [3.75, 0.5, 0.0, 0.0])
    np.testing.assert_array_equal(enc.sample_counts_[0], [4, 4, 2, 0])
    out = enc.transform([[4.0], [1.0], [9.0]])[:, 0]
    np.testing.assert_allclose(out, [0.0, 3.75, 1.0])  # class 9: in neither -> unknown_value 1.0
    # The shares are only a denominator: the same as the whole-raster table's FR.
    table = frequency_ratio_table(pd.Series({1.0: 200, 2.0: 500, 3.0: 250, 4.0: 50}), X_HAND[Y_HAND == 1, 0], 100.0)
    np.testing.assert_allclose(table["frequency_ratio"], enc.frequency_ratio_[0])


def test_area_shares_from_class_area_counts_series():
    cells = pd.Series({1.0: 200, 2.0: 500, 3.0: 250, 4.0: 50}, name="cells")
    enc = FrequencyRatioEncoder(area_shares=(cells,)).fit(X_HAND, Y_HAND)
    np.testing.assert_allclose(enc.frequency_ratio_[0], [3.75, 0.5, 0.0, 0.0])
    with pytest.raises(TypeError, match=r"area_shares\[0\] must be a mapping"):
        FrequencyRatioEncoder(area_shares=[[0.5, 0.5]]).fit(X_HAND, Y_HAND)


def test_failed_fit_leaves_no_fitted_state():
    X = np.column_stack([X_HAND[:, 0], np.full(10, np.nan)])  # noqa: N806 (column 2: no class at all)
    enc = FrequencyRatioEncoder()
    with pytest.raises(ValueError, match="no event"):
        enc.fit(X, Y_HAND)
    assert not hasattr(enc, "categories_")
    with pytest.raises(NotFittedError, match="not fitted yet"):
        enc.transform(X)


def test_frequency_ratio_unseen_nan_and_log():
    enc = FrequencyRatioEncoder().fit(X_HAND, Y_HAND)
    out = enc.transform([[7.0], [np.nan], [1.0]])[:, 0]
    assert out[0] == 1.0  # unseen class: neutral by default
    assert np.isnan(out[1])  # NaN in, NaN out
    assert FrequencyRatioEncoder(unknown_value=0.0).fit(X_HAND, Y_HAND).transform([[7.0]])[0, 0] == 0.0
    log = FrequencyRatioEncoder(log=True, epsilon=0.01).fit(X_HAND, Y_HAND)
    got = log.transform([[1.0], [3.0], [7.0], [np.nan]])[:, 0]
    # ln(1.875 + 0.01), ln(0 + 0.01), ln(1 + 0.01) for the unseen class, NaN
    np.testing.assert_allclose(got[:3], np.log([1.885, 0.01, 1.01]))
    assert np.isnan(got[3])
    np.testing.assert_allclose(log.frequency_ratio_[0], [1.875, 0.625, 0.0])  # the table stays un-logged


def test_nan_rows_are_left_out_of_the_counts():
    # Adding rows with a missing class (even events) changes nothing for that column.
    X = np.vstack([X_HAND, [[np.nan], [np.nan]]])  # noqa: N806
    y = np.concatenate([Y_HAND, [1, 1]])
    enc = FrequencyRatioEncoder().fit(X, y)
    np.testing.assert_allclose(enc.frequency_ratio_[0], [1.875, 0.625, 0.0])


def test_two_columns_are_encoded_independently():
    X = np.column_stack([X_HAND[:, 0], X_HAND[::-1, 0]])  # noqa: N806
    enc = FrequencyRatioEncoder().fit(X, Y_HAND)
    # column 2 reversed: class 3 holds rows 0, 1 (2 events); class 2 rows 2-5 (2 events); class 1 rows 6-9 (0)
    # class 1: 0 / 0.4 = 0; class 2: (2/4) / (4/10) = 1.25; class 3: (2/4) / (2/10) = 2.5
    np.testing.assert_allclose(enc.frequency_ratio_[1], [0.0, 1.25, 2.5])
    assert list(enc.get_feature_names_out(["lithology", "landcover"])) == ["lithology", "landcover"]


def test_frequency_ratio_refuses_bad_input():
    with pytest.raises(ValueError, match="0/1 target"):
        FrequencyRatioEncoder().fit(X_HAND, Y_HAND + 1)
    with pytest.raises(ValueError, match=r"0/1 target y .*multiclass"):
        FrequencyRatioEncoder().fit(X_HAND, np.arange(10) % 3)
    with pytest.raises(ValueError, match="no event"):
        FrequencyRatioEncoder().fit(X_HAND, np.zeros(10, dtype=int))
    with pytest.raises(ValueError, match="requires y to be passed"):
        FrequencyRatioEncoder().fit(X_HAND, None)
    with pytest.raises(ValueError, match=r"class\(es\) 3 of column 0 .* no area"):
        FrequencyRatioEncoder(area_shares=[{1: 0.5, 2: 0.5}]).fit(X_HAND, Y_HAND)
    with pytest.raises(ValueError, match=r"2 mapping.* 1 column"):
        FrequencyRatioEncoder(area_shares=[{1: 1}, {1: 1}]).fit(X_HAND, Y_HAND)
    with pytest.raises(ValueError, match="finite areas >= 0"):
        FrequencyRatioEncoder(area_shares=[{1: -1, 2: 1, 3: 1}]).fit(X_HAND, Y_HAND)
    with pytest.raises(InvalidParameterError, match="'epsilon' parameter"):
        FrequencyRatioEncoder(epsilon=0).fit(X_HAND, Y_HAND)
    with pytest.raises(ValueError, match="Input X contains infinity"):
        FrequencyRatioEncoder().fit(np.array([[np.inf], [1.0]]), [1, 0])
    with pytest.raises(NotFittedError, match="not fitted yet"):
        FrequencyRatioEncoder().transform(X_HAND)
    enc = FrequencyRatioEncoder().fit(X_HAND, Y_HAND)
    with pytest.raises(ValueError, match="X has 2 features"):
        enc.transform(np.ones((3, 2)))


# --- weights of evidence ---------------------------------------------------------------------------------------------

# Two classes, 4 events and 4 non-events:
#   class A (1): 3 events, 1 non-event
#   class B (2): 1 event,  3 non-events
X_WOE = np.array([1, 1, 1, 1, 2, 2, 2, 2], dtype=float)[:, None]
Y_WOE = np.array([1, 1, 1, 0, 1, 0, 0, 0])


def test_weights_of_evidence_by_hand_uncorrected():
    enc = WeightsOfEvidenceEncoder(correction=0.0).fit(X_WOE, Y_WOE)
    # class A: a = 3 events in, b = 1 non-event in, c = 1 event out, d = 3 non-events out
    # W+ = ln[(a/(a+c)) / (b/(b+d))] = ln[(3/4) / (1/4)] = ln 3
    # W- = ln[(c/(a+c)) / (d/(b+d))] = ln[(1/4) / (3/4)] = -ln 3
    # C  = W+ - W- = 2 ln 3 = ln 9;  class B is the mirror image
    ln3 = np.log(3.0)
    np.testing.assert_allclose(enc.w_plus_[0], [ln3, -ln3])
    np.testing.assert_allclose(enc.w_minus_[0], [-ln3, ln3])
    np.testing.assert_allclose(enc.contrast_[0], [np.log(9.0), -np.log(9.0)])
    # s(C) = sqrt(1/3 + 1/1 + 1/1 + 1/3)
    np.testing.assert_allclose(enc.contrast_std_[0], np.sqrt(2 / 3 + 2) * np.ones(2))
    np.testing.assert_allclose(enc.transform([[1.0], [2.0]])[:, 0], [np.log(9.0), -np.log(9.0)])


def test_weights_of_evidence_by_hand_with_half_correction():
    enc = WeightsOfEvidenceEncoder(weight="w_plus").fit(X_WOE, Y_WOE)
    # +0.5 on every count of class A: a = 3.5, b = 1.5, c = 1.5, d = 3.5 (a + c = 5, b + d = 5)
    # W+ = ln[(3.5/5) / (1.5/5)] = ln(7/3);  W- = ln[(1.5/5) / (3.5/5)] = ln(3/7);  C = ln(49/9)
    np.testing.assert_allclose(enc.w_plus_[0][0], np.log(7 / 3))
    np.testing.assert_allclose(enc.w_minus_[0][0], np.log(3 / 7))
    np.testing.assert_allclose(enc.contrast_[0][0], np.log(49 / 9))
    np.testing.assert_allclose(enc.transform([[1.0]])[0, 0], np.log(7 / 3))  # weight="w_plus"
    minus = WeightsOfEvidenceEncoder(weight="w_minus").fit(X_WOE, Y_WOE)
    np.testing.assert_allclose(minus.transform([[1.0]])[0, 0], np.log(3 / 7))


def test_weights_of_evidence_zero_counts_unseen_and_nan():
    X = np.array([[1.0], [1.0], [2.0], [2.0]])  # noqa: N806
    y = np.array([1, 1, 0, 0])  # class 2 has no event, class 1 no non-event
    corrected = WeightsOfEvidenceEncoder().fit(X, y)
    # class 1: a = 2.5, b = 0.5, c = 0.5, d = 2.5 -> C = ln(2.5 * 2.5 / (0.5 * 0.5)) = ln 25
    np.testing.assert_allclose(corrected.contrast_[0], [np.log(25.0), -np.log(25.0)])
    with np.errstate(divide="ignore"):
        raw = WeightsOfEvidenceEncoder(correction=0).fit(X, y)
    assert np.isposinf(raw.contrast_[0][0]) and np.isneginf(raw.contrast_[0][1])
    out = corrected.transform([[5.0], [np.nan]])[:, 0]
    assert out[0] == 0.0  # unseen: neutral
    assert np.isnan(out[1])
    with pytest.raises(ValueError, match="one class only"):
        WeightsOfEvidenceEncoder().fit(X, np.ones(4, dtype=int))
    with pytest.raises(InvalidParameterError, match="'weight' parameter"):
        WeightsOfEvidenceEncoder(weight="odds").fit(X, y)


# --- no leakage: fitted inside each training fold --------------------------------------------------------------------


def test_encoder_in_pipeline_sees_only_the_training_rows():
    # Fit on the first 6 rows only (classes 1 and 2 of X_HAND):
    #   class 1: 4 samples, 3 events; class 2: 2 samples (rows 4, 5), 1 event; all: 6 samples, 4 events
    #   FR1 = (3/4) / (4/6) = 1.125;  FR2 = (1/4) / (2/6) = 0.75;  class 3 unseen -> 1.0
    pipe = Pipeline([("encode", FrequencyRatioEncoder()), ("model", LogisticRegression())])
    pipe.fit(X_HAND[:6], Y_HAND[:6])
    enc = pipe.named_steps["encode"]
    np.testing.assert_allclose(enc.frequency_ratio_[0], [1.125, 0.75])
    np.testing.assert_allclose(enc.transform([[3.0]])[0, 0], 1.0)

    # Under cross-validation each fold's encoder equals one fitted on that fold's training rows alone.
    rng = np.random.default_rng(3)
    X = np.column_stack([rng.normal(size=60), rng.integers(1, 5, size=60)]).astype(float)  # noqa: N806
    y = (rng.random(60) < 0.3 + 0.15 * X[:, 1]).astype(int) * (rng.random(60) < 0.9)
    y[:2] = [0, 1]
    pre = ColumnTransformer(
        [("continuous", StandardScaler(), [0]), ("categorical", make_categorical_encoder("frequency_ratio"), [1])]
    )
    pipe = Pipeline([("preprocess", pre), ("model", LogisticRegression())])
    res = cross_validate(
        pipe, X, y, cv=KFold(4, shuffle=True, random_state=0), return_estimator=True, return_indices=True
    )
    full = FrequencyRatioEncoder().fit(X[:, [1]], y).frequency_ratio_[0]
    for model, train in zip(res["estimator"], res["indices"]["train"], strict=True):
        fold_enc = model.named_steps["preprocess"].named_transformers_["categorical"]
        alone = FrequencyRatioEncoder().fit(X[train][:, [1]], y[train])
        np.testing.assert_allclose(fold_enc.frequency_ratio_[0], alone.frequency_ratio_[0])
        assert not np.allclose(fold_enc.frequency_ratio_[0], full)  # the test rows' labels changed nothing here


def test_make_categorical_encoder():
    onehot = make_categorical_encoder("onehot")
    assert isinstance(onehot, OneHotEncoder)
    assert onehot.handle_unknown == "ignore" and onehot.sparse_output is False
    assert make_categorical_encoder("frequency_ratio", log=True).log is True
    assert make_categorical_encoder("woe", weight="w_plus").weight == "w_plus"
    with pytest.raises(StudyConfigError, match="unknown method 'target'; known: onehot, frequency_ratio, woe"):
        make_categorical_encoder("target")


# --- scikit-learn's estimator checks ---------------------------------------------------------------------------------

# These checks fit transformers with a 3- or 4-class target (or labels 1/2); the encoders accept only a
# 0/1 event target (label 1 = event) and refuse anything else with a ValueError, so they cannot apply as written.
MULTICLASS_TARGET_CHECKS = frozenset(
    {
        "check_dict_unchanged",
        "check_dont_overwrite_parameters",
        "check_dtype_object",
        "check_estimators_dtypes",
        "check_estimators_fit_returns_self",
        "check_estimators_overwrite_params",
        "check_f_contiguous_array_estimator",
        "check_fit2d_1feature",
        "check_fit2d_predict1d",
        "check_fit_score_takes_y",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_n_features_in_after_fitting",
        "check_positive_only_tag_during_fit",
        "check_readonly_memmap_input",
    }
)
# With 0/1 targets (see _BinaryTarget) only these two still fit with labels 1 and 2.
ONE_TWO_TARGET_CHECKS = ("check_estimators_dtypes", "check_fit2d_1feature")


try:  # scikit-learn >= 1.6: estimator tags, expected_failed_checks, check_estimator(on_fail=None)
    from sklearn.utils._tags import ClassifierTags
except ImportError:  # pragma: no cover
    ClassifierTags = None
needs_tags = pytest.mark.skipif(ClassifierTags is None, reason="scikit-learn < 1.6 has no estimator tags API")


class _BinaryTarget:
    """Test-only mixin: a binary-classifier tag makes the checks generate 0/1 targets, the encoders' real use.

    It changes nothing but the tags, so the multiclass-target checks run on the real code.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags = ClassifierTags(multi_class=False)
        return tags


class _BinaryFR(_BinaryTarget, FrequencyRatioEncoder):
    pass


class _BinaryWoE(_BinaryTarget, WeightsOfEvidenceEncoder):
    pass


if ClassifierTags is not None:

    @parametrize_with_checks(
        [_BinaryFR(log=True), _BinaryWoE()],
        expected_failed_checks=lambda est: dict.fromkeys(ONE_TWO_TARGET_CHECKS, "fits with labels 1/2, not 0/1"),
        xfail_strict=True,
    )
    def test_sklearn_estimator_checks(estimator, check):
        check(estimator)


@pytest.mark.parametrize(
    "estimator",
    [FrequencyRatioEncoder(), WeightsOfEvidenceEncoder(weight="w_plus", correction=1.0)],
    ids=["frequency_ratio", "woe"],
)
@needs_tags
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")  # array-API input: not applicable
def test_sklearn_checks_on_the_real_tags(estimator):
    # One call per estimator (per-check pytest items would double this file's run time).
    reason = "fits with a multiclass target; the encoders need 0/1"
    results = check_estimator(
        estimator, on_fail=None, expected_failed_checks=dict.fromkeys(MULTICLASS_TARGET_CHECKS, reason)
    )
    failed = {r["check_name"]: r["exception"] for r in results if r["status"] == "failed"}
    assert not failed
    xfailed = {r["check_name"] for r in results if r["status"] == "xfail"}
    assert xfailed == MULTICLASS_TARGET_CHECKS  # strict: each still fails, for the documented reason
    assert sum(r["status"] == "passed" for r in results) >= 30


# --- binning and class tables ----------------------------------------------------------------------------------------


def test_bin_continuous():
    values = np.array([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10, np.nan])
    cls, edges = bin_continuous(values, "quantile", n_bins=2)
    np.testing.assert_allclose(edges, [1.0, 5.5, 10.0])  # median of 1..10 is 5.5
    np.testing.assert_array_equal(cls, [1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 0])
    # right-closed classes, open ends: -5 -> class 1, 2 (on an edge) -> class 1, 99 -> class 3
    cls, _ = bin_continuous([-5.0, 2.0, 2.5, 99.0], "edges", edges=[0, 2, 4, 6])
    np.testing.assert_array_equal(cls, [1, 1, 2, 3])
    # ties merge coinciding quantile edges: 0 0 0 0 0 0 1 2 -> fewer classes than asked
    _, edges = bin_continuous([0, 0, 0, 0, 0, 0, 1, 2], "quantile", n_bins=4)
    assert edges[0] == 0 and np.all(np.diff(edges) > 0)
    with pytest.raises(ValueError, match="increasing"):
        bin_continuous([1.0], "edges", edges=[0, 0, 1])
    with pytest.raises(ValueError, match="needs edges"):
        bin_continuous([1.0], "edges")
    with pytest.raises(ValueError, match="unknown method 'jenks'"):
        bin_continuous([1.0], "jenks")
    with pytest.raises(ValueError, match="no finite value"):
        bin_continuous([np.nan], "quantile")


def test_frequency_ratio_table_by_hand():
    # 4 classes of 100 m² cells; 10 events, one of them on a cell without a class (0)
    cells = pd.Series({1: 500, 2: 300, 3: 200, 4: 0})
    events = [1, 1, 2, 2, 2, 2, 2, 2, 2, 0]
    t = frequency_ratio_table(cells, events, 100.0, class_labels={1: "low", 2: "mid"})
    # area_pct: 500/1000 = 50 %, 30 %, 20 %, 0 %; events 2, 7, 0, 0 of 9 counted
    # FR: (2/9) / 0.5 = 0.444, (7/9) / 0.3 = 2.593, 0 (no event), NaN (no area)
    assert list(t.columns) == [
        "class",
        "label",
        "cells",
        "area_km2",
        "area_pct",
        "events",
        "events_pct",
        "frequency_ratio",
    ]
    np.testing.assert_allclose(t["area_km2"], [0.05, 0.03, 0.02, 0.0])
    np.testing.assert_allclose(t["area_pct"], [50.0, 30.0, 20.0, 0.0])
    np.testing.assert_array_equal(t["events"], [2, 7, 0, 0])
    np.testing.assert_allclose(t["frequency_ratio"][:3], [(2 / 9) / 0.5, (7 / 9) / 0.3, 0.0])
    assert np.isnan(t["frequency_ratio"][3])
    assert list(t["label"]) == ["low", "mid", "3", "4"]
    assert t.attrs["events_outside"] == 1
    assert t["area_pct"].sum() == pytest.approx(100.0)
    assert t["events"].sum() == 9
    assert t["events_pct"].sum() == pytest.approx(100.0)
    # plain arrays are classes 1..k
    t2 = frequency_ratio_table(np.array([500, 300, 200, 0]), events, 100.0)
    pd.testing.assert_series_equal(t2["frequency_ratio"], t["frequency_ratio"])
    with pytest.raises(ValueError, match="cell_area_m2 must be a positive"):
        frequency_ratio_table(cells, events, 0.0)
    with pytest.raises(ValueError, match="3 class_labels for 4 classes"):
        frequency_ratio_table(cells, events, 100.0, class_labels=["a", "b", "c"])


def test_frequency_ratio_table_is_the_general_form_of_mapping_class_table():
    from susmap.mapping.classes import class_table

    edges = np.array([0.0, 0.2, 0.5, 0.8, 1.0])
    cells = np.array([120, 0, 60, 20])
    event_classes = np.array([1, 3, 3, 4, 4, 4, 0])  # 0: an event without a map value
    old = class_table(cells, event_classes, edges, 25.0)
    new = frequency_ratio_table(cells, event_classes, 25.0)
    shared = ["class", "cells", "area_km2", "area_pct", "events", "events_pct", "frequency_ratio"]
    pd.testing.assert_frame_equal(old[shared], new[shared])


ECUADOR_EDGES = np.array([0.0, 10.0, 25.0, 35.0, 45.0, 90.0])  # slope classes [degrees]


def _ecuador_slope(chunks: int):
    ta = ecuador_path("ta.tif")
    layers = [LayerConfig(name="slope", path=ta, band="slope")]
    return open_stack(GridConfig(template=ta, band=4), layers, AlignmentConfig(), chunks=chunks)


@pytest.fixture(scope="module")
def ecuador_slope():
    return _ecuador_slope(97)


def test_class_area_counts_ecuador_equals_numpy(ecuador_slope):
    stack = ecuador_slope
    counts = class_area_counts(stack, "slope", edges=ECUADOR_EDGES)
    full = stack.data.sel(factor="slope").values  # the whole array, for the oracle only
    finite = full[np.isfinite(full)]
    # np.digitize(right=True) puts v in bin i when edges[i-1] < v <= edges[i]; clip the open ends
    expected = np.bincount(np.clip(np.digitize(finite, ECUADOR_EDGES[1:-1], right=True), 0, 4), minlength=5)
    np.testing.assert_array_equal(counts.to_numpy(), expected)
    assert list(counts.index) == [1, 2, 3, 4, 5]
    assert counts.sum() == stack.n_valid == finite.size
    # chunk-size independence
    other = class_area_counts(_ecuador_slope(50), "slope", edges=ECUADOR_EDGES)
    pd.testing.assert_series_equal(counts, other)
    with pytest.raises(ValueError, match="continuous: give class edges"):
        class_area_counts(stack, "slope")
    with pytest.raises(ValueError, match="factor 'aspect' is not in the stack"):
        class_area_counts(stack, "aspect", edges=ECUADOR_EDGES)


def test_class_area_counts_categorical(tmp_path: Path):
    rng = np.random.default_rng(5)
    codes = rng.choice([3, 7, 11, 20], size=(45, 38), p=[0.5, 0.3, 0.15, 0.05]).astype(np.int16)
    codes[:4, :6] = -9999  # nodata
    path = write_raster(tmp_path / "lith.tif", codes)
    layer = LayerConfig(name="lith", path=path, kind="categorical")
    counts = {}
    for chunks in (7, 16, 64):
        stack = open_stack(GridConfig(template=path), [layer], AlignmentConfig(), chunks=chunks)
        counts[chunks] = class_area_counts(stack, "lith")
    values, n = np.unique(codes[codes != -9999], return_counts=True)
    np.testing.assert_array_equal(counts[7].index, values.astype(float))
    np.testing.assert_array_equal(counts[7].to_numpy(), n)
    assert counts[7].sum() == stack.n_valid == codes.size - 24
    pd.testing.assert_series_equal(counts[7], counts[16])
    pd.testing.assert_series_equal(counts[7], counts[64])
    # factor_class_tables on the categorical layer: events at two cells of class 3 and one of class 20
    samples = pd.DataFrame({"lith": [3.0, 3.0, 20.0, 7.0], "label": [1, 1, 1, 0]})
    t = factor_class_tables(stack, samples)["lith"]
    assert t.attrs["kind"] == "categorical"
    assert list(t["label"]) == ["3", "7", "11", "20"]
    np.testing.assert_array_equal(t["events"], [2, 0, 0, 1])
    # FR of class 3 = (2/3) / (cells of class 3 / valid cells)
    assert t["frequency_ratio"][0] == pytest.approx((2 / 3) / (n[0] / n.sum()))


def test_factor_class_tables_ecuador(ecuador_slope):
    lsl = pd.read_csv(ecuador_path("lsl.csv"))
    rows, cols, inside = ecuador_slope.grid.rowcol(lsl["x"].to_numpy(), lsl["y"].to_numpy())
    assert inside.all()
    samples = pd.DataFrame(
        {"slope": ecuador_slope.values_at(rows, cols)[:, 0], "label": lsl["lslpts"].astype(int).to_numpy()}
    )
    t = factor_class_tables(ecuador_slope, samples, bins=5, n_sample=20_000, seed=1)["slope"]
    assert len(t) == 5 and t.attrs["edges"].size == 6
    assert t["cells"].sum() == ecuador_slope.n_valid
    assert t["area_pct"].sum() == pytest.approx(100.0)
    assert t["events"].sum() == int(samples["label"].sum()) == 175
    # quantile classes from a sample hold about a fifth of the area each
    np.testing.assert_allclose(t["area_pct"], 20.0, atol=2.0)
    # landslides favour steep slopes: FR rises from the gentlest to the steepest class
    assert t["frequency_ratio"].iloc[0] < 1 < t["frequency_ratio"].iloc[-1]
    assert t["label"].iloc[0].startswith("≤ ") and t["label"].iloc[-1].startswith("> ")
    with pytest.raises(ValueError, match=r"no column.*label"):
        factor_class_tables(ecuador_slope, samples.drop(columns="label"))


@pytest.mark.parametrize("module", [susmap.encoding, susmap.analysis])
def test_all_names_import(module):
    for name in module.__all__:
        assert hasattr(importlib.import_module(module.__name__), name)
