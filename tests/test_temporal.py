"""Temporal validation: train on events before ``split_at``, test on the later ones; times from the inventory."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from typer.testing import CliRunner

from conftest import synthetic_study
from susmap.cli import app
from susmap.errors import InventoryError, SamplingError, StudyConfigError
from susmap.stack import open_stack
from susmap.stages import draw_samples, study_splitters
from susmap.study import AlignmentConfig, GridConfig, LayerConfig, study_from_dict
from susmap.validation import TemporalSplit, make_splitter


def _years_and_labels():
    years = np.array([1990, 1995, 2000, 2004, 2005, 2006, 2008, 2010, 2012, 2015], dtype=float)
    y = np.ones(10, dtype=int)
    return years, y


def test_dated_samples_train_before_and_test_at_or_after():
    years, y = _years_and_labels()
    times = np.r_[years, [1998.0, 2011.0]]  # two dated non-events
    labels = np.r_[y, [0, 0]]
    (train, test), *rest = list(TemporalSplit(times, 2005).split(np.zeros((12, 1)), labels))
    assert rest == []
    assert sorted(times[test]) == [2005, 2006, 2008, 2010, 2011, 2012, 2015]
    assert sorted(times[train]) == [1990, 1995, 1998, 2000, 2004]
    assert TemporalSplit(times, 2005, n_repeats=3).get_n_splits() == 3


def test_undated_non_events_follow_the_test_share_per_class_and_seed():
    years, y = _years_and_labels()
    n_abs = 40
    times = np.r_[years, np.full(n_abs, np.nan)]
    labels = np.r_[y, np.zeros(n_abs, dtype=int)]
    X = np.zeros((len(times), 1))  # noqa: N806
    splitter = TemporalSplit(times, 2006, n_repeats=4, random_state=11)
    splits = list(splitter.split(X, labels))
    assert len(splits) == 4 == splitter.get_n_splits()
    share = 5 / 10  # 2006, 2008, 2010, 2012, 2015 of ten dated events
    for train, test in splits:
        assert set(train) | set(test) == set(range(len(times))) and not set(train) & set(test)
        assert (times[test][~np.isnan(times[test])] >= 2006).all()
        assert (times[train][~np.isnan(times[train])] < 2006).all()
        assert int((labels[test] == 0).sum()) == round(share * n_abs)
    # seeded: the same state gives the same parts, each repeat its own draw of the undated samples
    again = list(TemporalSplit(times, 2006, n_repeats=4, random_state=11).split(X, labels))
    for (a, b), (c, d) in zip(splits, again, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    assert len({tuple(test) for _, test in splits}) > 1


def test_dates_meet_a_date_a_text_or_a_year():
    dates = pd.to_datetime(["2003-05-01", "2005-12-31", "2006-01-01", "2007-03-02", None, None]).to_numpy()
    labels = np.array([1, 1, 1, 1, 0, 0])
    X = np.zeros((6, 1))  # noqa: N806
    for split_at in (dt.date(2006, 1, 1), "2006-01-01", 2006, 2006.0, dt.datetime(2006, 1, 1)):
        _, test = next(TemporalSplit(dates, split_at).split(X, labels))
        assert set(test) >= {2, 3} and not {0, 1} & set(test), split_at
    with pytest.raises(StudyConfigError, match=r"split_at 'spring' is not a date"):
        next(TemporalSplit(dates, "spring").split(X, labels))
    with pytest.raises(StudyConfigError, match=r"the time field holds numbers"):
        next(TemporalSplit(np.array([2000.0, 2010.0]), dt.date(2006, 1, 1)).split(np.zeros((2, 1)), [1, 1]))


def test_refusals():
    years, y = _years_and_labels()
    X = np.zeros((10, 1))  # noqa: N806
    undated = years.copy()
    undated[3] = np.nan
    with pytest.raises(SamplingError, match=r"1 events have no time in inventory.time_field"):
        next(TemporalSplit(undated, 2005).split(X, y))
    with pytest.raises(
        SamplingError, match=r"no dated sample at or after split_at 2020 \(times run from 1990 to 2015\)"
    ):
        next(TemporalSplit(years, 2020).split(X, y))
    with pytest.raises(SamplingError, match=r"no dated sample before split_at 1980"):
        next(TemporalSplit(years, 1980).split(X, y))
    # all the non-events are dated before the split: the test part would hold events only
    times = np.r_[years, [1991.0, 1992.0]]
    with pytest.raises(SamplingError, match=r"leaves the test part with class 1 only"):
        next(TemporalSplit(times, 2005).split(np.zeros((12, 1)), np.r_[y, [0, 0]]))
    with pytest.raises(StudyConfigError, match=r"needs the events' times: set inventory.time_field"):
        next(TemporalSplit(None, 2005).split(X, y))
    with pytest.raises(StudyConfigError, match=r"missing parameter\(s\) times"):
        make_splitter("temporal", coords=np.zeros((10, 2)), n_splits=5, n_repeats=1, seed=0, split_at=2005)


def test_make_splitter_gives_a_scikit_learn_splitter():
    rng = np.random.default_rng(0)
    n = 120
    X = rng.normal(size=(n, 2))  # noqa: N806
    y = (X[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(int)
    times = np.where(y == 1, rng.integers(1990, 2020, size=n), np.nan).astype(float)
    splitter = make_splitter(
        "temporal", coords=np.zeros((n, 2)), n_splits=5, n_repeats=3, seed=4, times=times, split_at=2010
    )
    assert isinstance(splitter, TemporalSplit) and splitter.get_n_splits() == 3
    scores = cross_val_score(LogisticRegression(), X, y, cv=splitter, scoring="roc_auc")
    assert scores.shape == (3,) and (scores > 0.8).all()


# --------------------------------------------------------------------------- from the inventory to the splitter


def _dated_study(synthetic, dates: bool, **inventory):
    pts = synthetic["points"].copy()
    rng = np.random.default_rng(2)
    years = rng.integers(1995, 2015, size=len(pts))
    pts["Year_obs"] = years
    pts["date"] = [f"{yr}-{m:02d}-15" for yr, m in zip(years, rng.integers(1, 13, size=len(pts)), strict=True)]
    path = synthetic["dir"] / "dated.csv"
    pts.to_csv(path, index=False)
    study = synthetic_study(synthetic)
    study["inventory"].update({"path": str(path), "time_field": "date" if dates else "Year_obs", **inventory})
    study["validation"] = {"schemes": [{"name": "temporal", "split_at": "2008-01-01" if dates else 2008}]}
    return study_from_dict(study), pts


@pytest.mark.parametrize("dates", [False, True])
def test_time_field_reaches_the_samples_and_the_splitter(synthetic, dates):
    study, pts = _dated_study(synthetic, dates)
    stack = open_stack(
        GridConfig(template=synthetic["a"]),
        [LayerConfig(name="a", path=synthetic["a"]), LayerConfig(name="b", path=synthetic["b"])],
        AlignmentConfig(),
    )
    samples, _ = draw_samples(study, stack)
    assert samples.columns[-1] == "event_time"
    expected = pd.to_datetime(pts["date"]) if dates else pts["Year_obs"].astype(float)
    np.testing.assert_array_equal(samples["event_time"].to_numpy(), expected.to_numpy()[samples["event_id"]])
    (label, splitter), *_ = study_splitters(
        study, samples[["x", "y"]].to_numpy(), samples[["a", "b"]].to_numpy(), stack, times=samples["event_time"]
    )
    assert label == "temporal"
    train, test = next(splitter.split(samples, samples["label"]))
    years = pts["Year_obs"].to_numpy()[samples["event_id"]]
    assert (years[test] >= 2008).all() and (years[train] < 2008).all()


def test_presence_only_absences_have_no_time(synthetic):
    study, _ = _dated_study(synthetic, False)
    data = study.model_dump()
    data["inventory"]["label"] = None
    data["inventory"]["where"] = "event == 1"
    data["sampling"] = {"absence_ratio": 1.0, "buffer_m": 0.0}
    study = study_from_dict(data)
    stack = open_stack(
        GridConfig(template=synthetic["a"]), [LayerConfig(name="a", path=synthetic["a"])], AlignmentConfig()
    )
    samples, counts = draw_samples(study, stack)
    absences = samples[samples["label"] == 0]
    assert len(absences) == counts["absences"] > 0 and absences["event_time"].isna().all()
    assert samples.loc[samples["label"] == 1, "event_time"].notna().all()
    (_, splitter), *_ = study_splitters(study, samples[["x", "y"]].to_numpy(), None, stack, times=samples["event_time"])
    _, test = next(splitter.split(samples, samples["label"]))
    events_share = (samples.loc[samples["label"] == 1, "event_time"] >= 2008).mean()
    assert int((samples["label"].to_numpy()[test] == 0).sum()) == round(events_share * len(absences))


def test_bad_time_field_is_refused(synthetic):
    study, _ = _dated_study(synthetic, False, time_field="Year")
    stack = open_stack(
        GridConfig(template=synthetic["a"]), [LayerConfig(name="a", path=synthetic["a"])], AlignmentConfig()
    )
    with pytest.raises(InventoryError, match=r"inventory.time_field column 'Year' not found \(columns: x, y, event"):
        draw_samples(study, stack)
    pts = synthetic["points"].assign(when=["soon"] * len(synthetic["points"]))
    path = synthetic["dir"] / "words.csv"
    pts.to_csv(path, index=False)
    data = study.model_dump()
    data["inventory"].update(path=str(path), time_field="when")
    with pytest.raises(InventoryError, match=r"must hold dates or numbers; found 'soon'"):
        draw_samples(study_from_dict(data), stack)


def test_temporal_scheme_without_time_field_is_refused_at_load(synthetic):
    study = synthetic_study(synthetic)
    study["validation"] = {"schemes": [{"name": "temporal", "split_at": 2008}]}
    with pytest.raises(StudyConfigError, match=r"'temporal' \(temporal\) needs inventory.time_field"):
        study_from_dict(study)
    study["validation"] = {"schemes": ["temporal"]}
    with pytest.raises(StudyConfigError, match=r"needs 'split_at: <date or year>'"):
        study_from_dict(study)


def test_cli_temporal_without_time_field_exits_2_with_one_line(synthetic, make_study):
    study = make_study(validation={"schemes": [{"name": "temporal", "split_at": 2008}]})
    study_file = synthetic["dir"] / "study.yaml"
    study_file.write_text(yaml.safe_dump(study, sort_keys=False), encoding="utf-8")
    out = synthetic["dir"] / "results"
    result = CliRunner().invoke(app, ["run", str(study_file), "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("susmap: error:") and "inventory.time_field" in lines[0]
    assert "study.yaml" in lines[0]
    assert not out.exists()


def test_time_field_from_a_geopackage_date_column(tmp_path):
    import geopandas as gpd
    from shapely.geometry import Point

    from susmap.inventory import event_times
    from susmap.study import InventoryConfig

    path = tmp_path / "dated.gpkg"
    when = pd.to_datetime(["2001-02-03", None, "2010-12-31"])
    gpd.GeoDataFrame({"when": when, "year": [2001, 2005, None]}, geometry=[Point(0, 0)] * 3, crs="EPSG:32717").to_file(
        path
    )
    gdf = gpd.read_file(path)
    times = event_times(gdf, InventoryConfig(path=path, time_field="when"))
    assert times.dtype == np.dtype("datetime64[ns]") and np.isnat(times[1])
    np.testing.assert_array_equal(times[[0, 2]], when[[0, 2]].to_numpy())
    years = event_times(gdf, InventoryConfig(path=path, time_field="year"))
    assert years.dtype == np.float64 and np.isnan(years[2]) and years[0] == 2001
