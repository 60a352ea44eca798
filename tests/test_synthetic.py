"""The synthetic regional landscape generator (susmap.datasets.synthetic)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from susmap.datasets.synthetic import (
    DEFAULT_RULES,
    FACTOR_NAMES,
    landscape_study_dict,
    regional_landscape,
    write_landscape,
)


@pytest.fixture(scope="module")
def land():
    return regional_landscape((96, 112), n_regions=4, n_samples=800, seed=3)


def test_reproducible_with_a_seed(land) -> None:
    again = regional_landscape((96, 112), n_regions=4, n_samples=800, seed=3)
    np.testing.assert_array_equal(land.factors, again.factors)
    np.testing.assert_array_equal(land.regions, again.regions)
    np.testing.assert_array_equal(land.probability, again.probability)
    assert land.samples.equals(again.samples)
    other = regional_landscape((96, 112), n_regions=4, n_samples=800, seed=4)
    assert not np.array_equal(np.nan_to_num(land.factors), np.nan_to_num(other.factors))


def test_shapes_nodata_and_probability_range(land) -> None:
    assert land.factors.shape == (len(FACTOR_NAMES), 96, 112)
    assert land.factors.dtype == np.float32 and land.probability.dtype == np.float32
    valid = land.valid
    assert 0.8 < valid.mean() < 0.95  # an irregular study area, about 12 % outside
    # nodata is the same everywhere: all factors, the region map and the probability
    assert np.array_equal(np.isfinite(land.factors).all(axis=0), valid)
    assert np.array_equal(np.isfinite(land.probability), valid)
    p = land.probability[valid]
    assert p.min() >= 0.0 and p.max() <= 1.0
    assert set(np.unique(land.regions[valid])) == {1, 2, 3, 4}
    assert land.region_rules == dict(enumerate(DEFAULT_RULES, 1))
    assert 0.80 < land.bayes_accuracy < 0.87  # sharpness 3


def test_rules_differ_per_region(land) -> None:
    names = list(land.factor_names)
    slope, dist = land.factors[names.index("slope")], land.factors[names.index("dist_river")]
    twi = land.factors[names.index("twi")]
    rho = {}
    for region, rule in land.region_rules.items():
        sel = land.regions == region
        p = land.probability[sel]
        rho[rule] = {
            "slope": stats.spearmanr(p, slope[sel]).statistic,
            "dist": stats.spearmanr(p, dist[sel]).statistic,
            "twi": stats.spearmanr(p, twi[sel]).statistic,
        }
    # every region's probability is a monotone function of its own factor ...
    assert rho["steep_slopes"]["slope"] > 0.999
    assert rho["near_rivers"]["dist"] < -0.999
    assert rho["wet_hollows"]["twi"] > 0.999
    assert rho["ridges"]["dist"] > 0.999
    # ... and the same factor acts in opposite directions in different regions
    assert rho["wet_hollows"]["slope"] < -0.3
    assert rho["steep_slopes"]["slope"] - rho["wet_hollows"]["slope"] > 1.3


def test_samples(land) -> None:
    s = land.samples
    assert len(s) == 800 and set(s["label"].unique()) == {0, 1}
    assert land.valid[s["row"], s["col"]].all()
    assert not s[["row", "col"]].duplicated().any()
    xs, ys = land.transform * (s["col"].to_numpy() + 0.5, s["row"].to_numpy() + 0.5)
    np.testing.assert_allclose(s["x"], xs)
    np.testing.assert_allclose(s["y"], ys)
    np.testing.assert_array_equal(s["region"], land.regions[s["row"], s["col"]])
    # labels follow the true probability: events are where p is high, in every region about half are events
    assert s.loc[s["label"] == 1, "probability"].mean() > s.loc[s["label"] == 0, "probability"].mean() + 0.3
    assert s.groupby("region")["label"].mean().between(0.3, 0.7).all()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="rules"):
        regional_landscape((32, 32), rules=("landslides_everywhere",))
    with pytest.raises(ValueError, match="shape"):
        regional_landscape((4, 4))
    with pytest.raises(ValueError, match="nodata_fraction"):
        regional_landscape((32, 32), nodata_fraction=0.95)


def test_write_and_run_as_a_study(tmp_path: Path) -> None:
    from susmap.stack import open_stack
    from susmap.stages import draw_samples
    from susmap.study import load_study

    land = regional_landscape((48, 56), n_regions=2, n_samples=120, seed=1)
    files = write_landscape(land, tmp_path / "land")
    for name in (*FACTOR_NAMES, "regions", "probability", "inventory", "study"):
        assert files[name].exists(), name
    study = load_study(files["study"])
    assert [layer.name for layer in study.layers] == list(FACTOR_NAMES)
    stack = open_stack(study.grid, study.layers, study.alignment)
    assert stack.data.shape == land.factors.shape
    np.testing.assert_allclose(np.asarray(stack.data.values), land.factors, equal_nan=True)
    table, _ = draw_samples(study, stack)
    merged = table.merge(land.samples, on=["row", "col"], suffixes=("", "_truth"))
    assert len(merged) == len(land.samples)
    np.testing.assert_array_equal(merged["label"], merged["label_truth"])
    d = landscape_study_dict(land, tmp_path / "land", tmp_path / "out")
    assert d["outputs"]["directory"] == str(tmp_path / "out")
