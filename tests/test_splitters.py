"""Splitters: coverage, seeding, spatial and environmental compactness, buffers, holdout ratios, errors, fold maps.

Oracles: sklearn's ``check_cv_coverage`` properties written out (train and
test disjoint, each sample tested once per repeat, the fold count), the buffer
rule checked directly on brute-force distances (as elapid asserts
``distance.min() >= min_distance``), holdout counts computed by hand, and
within- versus between-fold mean pairwise distances.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist, pdist, squareform
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_validate

from susmap.errors import SamplingError, StudyConfigError
from susmap.validation.fold_maps import first_repeat_splits, fold_ids_from_splits, plot_fold_map
from susmap.validation.splitters import (
    SCHEME_PARAMS,
    BufferedLeaveOneOut,
    EnvironmentalKFold,
    LeaveDiscOut,
    LeaveOneBlockOut,
    RepeatedRandomKFold,
    RepeatedSpatialKFold,
    SpatialBlockKFold,
    StratifiedHoldout,
    TemporalSplit,
    make_splitter,
    splits_per_repeat,
)

# --------------------------------------------------------------------------- data helpers


def _data(n: int = 150, seed: int = 0):
    """X (n, 3) with a spatial trend in column 0, y (0/1, both classes), coords uniform over 5 x 5 km."""
    rng = np.random.default_rng(seed)
    coords = rng.uniform(0, 5000, size=(n, 2))
    X = rng.standard_normal((n, 3))  # noqa: N806
    X[:, 0] += coords[:, 0] / 2000
    y = (X[:, 1] + 0.7 * rng.standard_normal(n) > 0).astype(int)
    return X, y, coords


def _regions(coords: np.ndarray) -> np.ndarray:
    """Three named strips from west to east."""
    return np.array(["west", "middle", "east"])[np.minimum((coords[:, 0] // (5000 / 3)).astype(int), 2)]


# name -> factory(coords, x, seed, n_repeats); the partition ones test every sample once per repeat
PARTITIONS = {
    "random": lambda c, x, s, r: RepeatedRandomKFold(5, r, random_state=s),
    "spatial": lambda c, x, s, r: RepeatedSpatialKFold(c, 5, r, random_state=s),
    "blocks_random": lambda c, x, s, r: SpatialBlockKFold(c, block_size=1000, n_splits=5, n_repeats=r, random_state=s),
    "blocks_systematic": lambda c, x, s, r: SpatialBlockKFold(
        c, block_size=1000, n_splits=5, n_repeats=r, assignment="systematic", random_state=s
    ),
    "environmental": lambda c, x, s, r: EnvironmentalKFold(n_splits=5, n_repeats=r, random_state=s),
    "regions": lambda c, x, s, r: LeaveOneBlockOut(_regions(c)),
}
OTHERS = {
    "holdout": lambda c, x, s, r: StratifiedHoldout(0.3, n_repeats=r, random_state=s),
    "buffered_loo": lambda c, x, s, r: BufferedLeaveOneOut(c, buffer_m=400, n_tests=25 * r, random_state=s),
    "disc": lambda c, x, s, r: LeaveDiscOut(c, radius_m=300, buffer_m=200, n_splits=8, n_repeats=r, random_state=s),
}
ALL = {**PARTITIONS, **OTHERS}


def _check_disjoint(splits, n: int) -> None:
    for train, test in splits:
        assert test.size > 0 and train.size > 0
        assert np.intersect1d(train, test).size == 0
        assert np.unique(train).size == train.size and np.unique(test).size == test.size
        assert train.min() >= 0 and max(train.max(), test.max()) < n


def _check_partition(splits, n: int, per_repeat: int, n_repeats: int) -> None:
    """Train/test disjoint and complementary; every sample tested exactly once per repeat."""
    assert len(splits) == per_repeat * n_repeats
    _check_disjoint(splits, n)
    for r in range(n_repeats):
        tested = np.zeros(n, dtype=int)
        for train, test in splits[r * per_repeat : (r + 1) * per_repeat]:
            assert train.size + test.size == n
            tested[test] += 1
        np.testing.assert_array_equal(tested, np.ones(n, dtype=int))


def _within_between(points: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Mean pairwise distance of points in the same fold, and in different folds."""
    d = squareform(pdist(points))
    same = labels[:, None] == labels[None, :]
    off_diag = ~np.eye(len(points), dtype=bool)
    return float(d[same & off_diag].mean()), float(d[~same].mean())


def _labels(splits, n: int) -> np.ndarray:
    ids = fold_ids_from_splits(splits, n)
    assert ids is not None
    return ids


# --------------------------------------------------------------------------- coverage and fold counts


@pytest.mark.parametrize("name", list(PARTITIONS))
@pytest.mark.parametrize("n_repeats", [1, 3])
def test_partition_splitters_cover_every_sample_once_per_repeat(name, n_repeats):
    X, y, coords = _data()  # noqa: N806
    splitter = PARTITIONS[name](coords, X, 7, n_repeats)
    splits = list(splitter.split(X, y))
    repeats = 1 if name == "regions" else n_repeats  # regions: one fixed fold per region
    per = 3 if name == "regions" else 5
    assert splitter.get_n_splits() == per * repeats
    assert splitter.get_n_splits(X, y) == per * repeats
    assert splits_per_repeat(splitter, X, y) == per
    _check_partition(splits, len(y), per, repeats)


def test_holdout_ratios_are_exact_and_stratified():
    rng = np.random.default_rng(1)
    n = 350
    y = (rng.random(n) < 0.3).astype(int)
    n_pos, n_neg = int(y.sum()), int(n - y.sum())
    X = np.zeros((n, 1))  # noqa: N806
    # the papers' ratios: 70/30, 80/20, and paper 001's 20/80 (train on 20 %)
    for test_size, n_test in [(0.3, 105), (0.2, 70), (0.8, 280)]:
        splitter = StratifiedHoldout(test_size, n_repeats=4, random_state=3)
        splits = list(splitter.split(X, y))
        assert splitter.get_n_splits() == 4 and len(splits) == 4
        assert splits_per_repeat(splitter) == 1
        _check_disjoint(splits, n)
        for train, test in splits:
            assert test.size == n_test and train.size == n - n_test
            assert np.union1d(train, test).size == n
            assert abs(y[test].sum() - test_size * n_pos) < 1
            assert abs((1 - y[test]).sum() - test_size * n_neg) < 1
        # the repeats are different splits
        assert not np.array_equal(np.sort(splits[0][1]), np.sort(splits[1][1]))
    # halves round up; without y the split is plain random with the same count
    assert len(next(StratifiedHoldout(0.25).split(np.zeros((10, 1))))[1]) == 3


def test_holdout_one_class_and_no_y():
    X = np.zeros((20, 1))  # noqa: N806
    for y in (None, np.ones(20, dtype=int)):
        ((train, test),) = list(StratifiedHoldout(0.3).split(X, y))
        assert test.size == 6 and train.size == 14 and np.union1d(train, test).size == 20


def test_buffered_loo_excludes_neighbours_and_keeps_the_rest():
    X, y, coords = _data(n=120, seed=2)  # noqa: N806
    coords[5] = coords[4]  # two samples at one place: never train on the twin, even with buffer 0
    d = cdist(coords, coords)
    for buffer in (0.0, 300.0, 900.0):
        splitter = BufferedLeaveOneOut(coords, buffer_m=buffer)
        splits = list(splitter.split(X, y))
        assert splitter.get_n_splits() == len(y) == len(splits)
        _check_disjoint(splits, len(y))
        tested = np.concatenate([test for _, test in splits])
        np.testing.assert_array_equal(tested, np.arange(len(y)))  # each sample tested once, in order
        for train, test in splits:
            (i,) = test
            assert d[i, train].min() > buffer  # the buffer rule
            np.testing.assert_array_equal(train, np.nonzero(d[i] > buffer)[0])  # nothing else dropped
        assert 5 not in splits[4][0] and 4 not in splits[5][0]
    # a subset of test samples, drawn with the seed
    sub = BufferedLeaveOneOut(coords, buffer_m=300, n_tests=10, random_state=4)
    tests = np.concatenate([test for _, test in sub.split(X)])
    assert sub.get_n_splits() == 10 and np.unique(tests).size == 10 and np.all(np.diff(tests) > 0)


def test_leave_disc_out_disc_and_buffer():
    X, y, coords = _data(n=150, seed=3)  # noqa: N806
    radius, buffer = 400.0, 250.0
    splitter = LeaveDiscOut(coords, radius_m=radius, buffer_m=buffer, n_splits=12, n_repeats=2, random_state=5)
    splits = list(splitter.split(X, y))
    assert splitter.get_n_splits() == 24 == len(splits)
    _check_disjoint(splits, len(y))
    centres = splitter.centres()
    assert centres.shape == (2, 12) and all(np.unique(row).size == 12 for row in centres)
    assert not np.array_equal(centres[0], centres[1])
    for c, (train, test) in zip(centres.ravel(), splits, strict=True):
        dc = np.hypot(*(coords - coords[c]).T)
        np.testing.assert_array_equal(test, np.nonzero(dc <= radius)[0])
        np.testing.assert_array_equal(train, np.nonzero(dc > radius + buffer)[0])
        assert c in test
        assert cdist(coords[test], coords[train]).min() > buffer
    # default: every sample is the centre of one disc per repeat
    every = LeaveDiscOut(coords, radius_m=0.0)
    assert every.get_n_splits() == len(y)
    assert sorted(np.concatenate([t for _, t in every.split(X)]).tolist()) == list(range(len(y)))


def test_regions_one_fold_per_region():
    X, y, coords = _data()  # noqa: N806
    ids = _regions(coords)
    splitter = LeaveOneBlockOut(ids)
    np.testing.assert_array_equal(splitter.regions(), ["east", "middle", "west"])
    for region, (train, test) in zip(splitter.regions(), splitter.split(X, y), strict=True):
        np.testing.assert_array_equal(test, np.nonzero(ids == region)[0])
        np.testing.assert_array_equal(train, np.nonzero(ids != region)[0])
    # integer ids work the same way
    assert LeaveOneBlockOut(np.arange(len(y)) % 4).get_n_splits() == 4


# --------------------------------------------------------------------------- seeding


@pytest.mark.parametrize("name", [n for n in ALL if n != "regions"])
def test_splitters_are_reproducible_and_seeded(name):
    X, y, coords = _data()  # noqa: N806

    def tests(seed):
        return [np.sort(test) for _, test in ALL[name](coords, X, seed, 2).split(X, y)]

    same_a, same_b, other = tests(42), tests(42), tests(43)
    assert all(np.array_equal(a, b) for a, b in zip(same_a, same_b, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(same_a, other, strict=True))


def test_systematic_blocks_first_repeat_is_the_fixed_grid():
    _, _, coords = _data()
    a = SpatialBlockKFold(coords, block_size=1000, n_splits=4, assignment="systematic", random_state=1).fold_ids()
    b = SpatialBlockKFold(coords, block_size=1000, n_splits=4, assignment="systematic", random_state=2).fold_ids()
    np.testing.assert_array_equal(a, b)  # no randomness in a single systematic repeat
    cells = np.floor((coords - coords.min(axis=0)) / 1000).astype(int)
    np.testing.assert_array_equal(a[0], (cells[:, 0] + cells[:, 1]) % 4)


# --------------------------------------------------------------------------- as cv= in scikit-learn


@pytest.mark.parametrize("name", list(ALL))
def test_splitters_work_with_sklearn_cross_validate(name):
    X, y, coords = _data()  # noqa: N806
    splitter = ALL[name](coords, X, 0, 2)
    res = cross_validate(LogisticRegression(), X, y, cv=splitter, scoring="accuracy")
    n = splitter.get_n_splits(X, y)
    assert res["test_score"].shape == (n,)
    assert np.all((res["test_score"] >= 0) & (res["test_score"] <= 1))


# --------------------------------------------------------------------------- compactness


def test_spatial_and_block_folds_are_compact():
    X, y, coords = _data(n=300, seed=5)  # noqa: N806
    random_within, random_between = _within_between(
        coords, _labels(list(RepeatedRandomKFold(4, 1, random_state=0).split(X, y)), len(y))
    )
    assert random_within > 0.9 * random_between  # random folds each span the whole area
    spatial = RepeatedSpatialKFold(coords, 4, 1, random_state=0)
    blocks = SpatialBlockKFold(coords, block_size=2500, n_splits=4)  # 4 blocks of 2.5 km = 4 folds
    for splitter in (spatial, blocks):
        within, between = _within_between(coords, _labels(list(splitter.split(X)), len(y)))
        assert within < 0.6 * between


def test_blocks_are_never_split_between_folds():
    _, _, coords = _data(n=300, seed=6)
    splitter = SpatialBlockKFold(coords, block_size=700, n_splits=5, n_repeats=3, random_state=2)
    origins = splitter.block_origins()
    np.testing.assert_array_equal(origins[0], coords.min(axis=0))
    assert not np.allclose(origins[1], origins[2])
    for ids, cells, origin in zip(splitter.fold_ids(), splitter.block_cells(), origins, strict=True):
        np.testing.assert_array_equal(cells[:, ::-1], np.floor((coords - origin) / 700).astype(int))
        _, block = np.unique(cells, axis=0, return_inverse=True)
        for b in np.unique(block):
            assert np.unique(ids[block.ravel() == b]).size == 1  # a block lies in one fold
        within, between = _within_between(coords, block.ravel())  # the blocks themselves are compact
        assert within < 0.3 * between
        # random assignment: every fold gets the same number of blocks, +-1
        per_fold = [np.unique(block.ravel()[ids == k]).size for k in range(5)]
        assert max(per_fold) - min(per_fold) <= 1


def test_environmental_folds_are_compact_in_factor_space():
    rng = np.random.default_rng(9)
    X = rng.standard_normal((200, 3)) * [1.0, 50.0, 0.01]  # noqa: N806 (very different scales)
    splitter = EnvironmentalKFold(n_splits=4, random_state=1)
    labels = _labels(list(splitter.split(X)), len(X))
    z = (X - X.mean(axis=0)) / X.std(axis=0)
    np.testing.assert_allclose(splitter.standardized(X), z)
    within, between = _within_between(z, labels)
    assert within < 0.8 * between
    random_within, random_between = _within_between(
        z, _labels(list(RepeatedRandomKFold(4, 1, random_state=0).split(X)), len(X))
    )
    assert random_within > 0.9 * random_between
    # X_env given to the constructor = the X given to split
    given = EnvironmentalKFold(X, n_splits=4, random_state=1)
    np.testing.assert_array_equal(given.fold_ids(), splitter.fold_ids(X))
    assert next(given.split(np.zeros((200, 1))))[1].size > 0
    # a constant column does not break the scaling
    with_constant = np.column_stack([X, np.full(200, 3.0)])
    assert np.isfinite(EnvironmentalKFold(with_constant).standardized()).all()


# --------------------------------------------------------------------------- errors


def test_errors_when_k_exceeds_the_data():
    X, _, coords = _data(n=100)  # noqa: N806
    with pytest.raises(SamplingError, match=r"'blocks': 5 folds but the 100 samples lie in only 4 non-empty blocks"):
        list(SpatialBlockKFold(coords, block_size=2500, n_splits=5).split(X))
    with pytest.raises(SamplingError, match=r"'blocks': 120 folds but only 100 samples"):
        list(SpatialBlockKFold(coords, block_size=10, n_splits=120).split(X))
    # systematic: blocks in columns 0, 2, 4 of one row all fall on the same diagonal
    line = np.array([[50.0, 0.0], [2050.0, 0.0], [4050.0, 0.0]] * 4)
    with pytest.raises(SamplingError, match=r"systematic assignment of 3 non-empty blocks of 1000 m leaves 1 of 2"):
        list(SpatialBlockKFold(line, block_size=1000, n_splits=2, assignment="systematic").split(line))
    assert len(list(SpatialBlockKFold(line, block_size=1000, n_splits=2).split(line))) == 2
    with pytest.raises(SamplingError, match=r"'environmental': 4 folds but only 3 distinct factor combinations"):
        list(EnvironmentalKFold(n_splits=4).split(np.repeat(np.eye(3), 5, axis=0)))
    with pytest.raises(SamplingError, match=r"'environmental': 101 folds but only 100 samples"):
        list(EnvironmentalKFold(n_splits=101).split(X))
    with pytest.raises(SamplingError, match=r"'environmental': the factor values hold 1 non-finite"):
        list(EnvironmentalKFold().split(np.where(np.arange(300).reshape(100, 3) == 7, np.nan, X)))
    with pytest.raises(SamplingError, match=r"'disc': 101 discs but only 100 samples"):
        list(LeaveDiscOut(coords, radius_m=100, n_splits=101).split(X))
    with pytest.raises(SamplingError, match=r"'disc': no sample lies beyond radius_m 4000 m \+ buffer_m 4000 m"):
        list(LeaveDiscOut(coords, radius_m=4000, buffer_m=4000, n_splits=3).split(X))
    with pytest.raises(SamplingError, match=r"'buffered_loo': every other sample lies within buffer_m 9000 m"):
        list(BufferedLeaveOneOut(coords, buffer_m=9000).split(X))
    with pytest.raises(SamplingError, match=r"'buffered_loo': 150 test samples but only 100 samples"):
        list(BufferedLeaveOneOut(coords, buffer_m=10, n_tests=150).split(X))
    with pytest.raises(SamplingError, match=r"'regions': 1 region\(s\) but leaving one out needs at least 2"):
        list(LeaveOneBlockOut(np.zeros(100)).split(X))
    ids = _regions(coords).astype(object)
    ids[[3, 7]] = None
    with pytest.raises(SamplingError, match=r"'regions': 2 of 100 samples have no region id"):
        list(LeaveOneBlockOut(ids).split(X))
    with pytest.raises(SamplingError, match=r"'holdout': test_size 0.01 of 30 samples leaves 30 training and 0 test"):
        list(StratifiedHoldout(0.01).split(np.zeros((30, 1)), np.arange(30) % 2))
    with pytest.raises(SamplingError, match=r"'holdout': the rarer class has only 1 sample"):
        list(StratifiedHoldout(0.3).split(np.zeros((30, 1)), (np.arange(30) == 0).astype(int)))
    with pytest.raises(SamplingError, match=r"'holdout': 1 training and 9 test samples cannot both hold all 2"):
        list(StratifiedHoldout(0.9).split(np.zeros((10, 1)), np.arange(10) % 2))


def test_errors_on_bad_parameters_and_shapes():
    X, _, coords = _data(n=50)  # noqa: N806
    with pytest.raises(StudyConfigError, match=r"'holdout': test_size must be a number > 0 and < 1, got 1.5"):
        list(StratifiedHoldout(1.5).split(X))
    with pytest.raises(StudyConfigError, match=r"'blocks': block_size must be a number > 0, got -5"):
        list(SpatialBlockKFold(coords, block_size=-5).split(X))
    with pytest.raises(StudyConfigError, match=r"'blocks': assignment must be one of random, systematic, got 'diag'"):
        list(SpatialBlockKFold(coords, block_size=500, assignment="diag").split(X))
    with pytest.raises(StudyConfigError, match=r"'buffered_loo': buffer_m must be a number >= 0, got -1"):
        list(BufferedLeaveOneOut(coords, buffer_m=-1).split(X))
    with pytest.raises(StudyConfigError, match=r"'disc': n_splits must be an integer >= 1, got 2.5"):
        list(LeaveDiscOut(coords, radius_m=10, n_splits=2.5).split(X))
    with pytest.raises(ValueError, match="X has 10 rows but coords has 50"):
        list(SpatialBlockKFold(coords, block_size=500).split(X[:10]))
    with pytest.raises(ValueError, match="X has 10 rows but coords has 50"):
        list(BufferedLeaveOneOut(coords, buffer_m=10).split(X[:10]))
    with pytest.raises(ValueError, match="X has 10 rows but block_ids has 50"):
        list(LeaveOneBlockOut(_regions(coords)).split(X[:10]))
    with pytest.raises(ValueError, match="X has 10 rows but X_env has 50"):
        list(EnvironmentalKFold(X).split(X[:10]))
    with pytest.raises(ValueError, match=r"coords must have shape \(n_samples, 2\), got \(50, 3\)"):
        list(LeaveDiscOut(X, radius_m=1).split(X))
    assert issubclass(StudyConfigError, ValueError) and issubclass(SamplingError, ValueError)


# --------------------------------------------------------------------------- make_splitter


def test_make_splitter_builds_every_scheme():
    X, _, coords = _data(n=60)  # noqa: N806
    base = {"coords": coords, "n_splits": 3, "n_repeats": 2, "seed": 9}
    regions = _regions(coords)
    cases = {
        "random": ({}, RepeatedRandomKFold, 6),
        "spatial": ({}, RepeatedSpatialKFold, 6),
        "holdout": ({"test_size": 0.2}, StratifiedHoldout, 2),
        "blocks": ({"block_size_m": 500, "assignment": "systematic"}, SpatialBlockKFold, 6),
        "buffered_loo": ({"buffer_m": 250}, BufferedLeaveOneOut, 60),
        "disc": ({"radius_m": 300, "buffer_m": 100}, LeaveDiscOut, 6),
        "environmental": ({}, EnvironmentalKFold, 6),
        "regions": ({"block_ids": regions}, LeaveOneBlockOut, 3),
        "temporal": ({"times": np.linspace(1990, 2019, 60), "split_at": 2010}, TemporalSplit, 2),
    }
    assert set(cases) == set(SCHEME_PARAMS)
    for scheme, (params, cls, n) in cases.items():
        sp = make_splitter(scheme, X=X, **base, **params)
        assert type(sp) is cls and sp.get_n_splits() == n
        assert getattr(sp, "random_state", 9) == 9
        assert len(list(sp.split(X))) == n
    blocks = make_splitter("blocks", **base, block_size_m=500, assignment="systematic")
    assert (blocks.block_size, blocks.assignment, blocks.n_splits) == (500, "systematic", 3)
    disc = make_splitter("disc", **base, radius_m=300)
    assert (disc.radius_m, disc.buffer_m) == (300, 0.0)
    assert make_splitter("holdout", **base).test_size == 0.3
    assert make_splitter("blocks", **base, block_size_m=500).assignment == "random"
    assert make_splitter("environmental", **base).X_env is None


def test_make_splitter_refuses_unknown_and_missing():
    _, _, coords = _data(n=20)
    base = {"coords": coords, "n_splits": 3, "n_repeats": 1, "seed": 0}
    with pytest.raises(ValueError, match=r"unknown validation scheme 'kriging'; known: random, spatial, holdout, "):
        make_splitter("kriging", **base)
    with pytest.raises(ValueError, match=r"'blocks': unknown parameter\(s\) radius_m; known: block_size_m, assignment"):
        make_splitter("blocks", **base, block_size_m=500, radius_m=3)
    with pytest.raises(ValueError, match=r"'random': unknown parameter\(s\) test_size; known: none"):
        make_splitter("random", **base, test_size=0.3)
    with pytest.raises(ValueError, match=r"'disc': missing parameter\(s\) radius_m"):
        make_splitter("disc", **base)


# --------------------------------------------------------------------------- fold maps


@pytest.mark.parametrize("name", list(ALL))
def test_plot_fold_map_writes_png(name, tmp_path):
    X, y, coords = _data(n=80)  # noqa: N806
    splitter = ALL[name](coords, X, 0, 2)
    out = plot_fold_map(splitter, coords, tmp_path / "maps" / f"{name}.png", title=name, X=X, y=y)
    assert out == tmp_path / "maps" / f"{name}.png"
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_plot_fold_map_from_fold_ids(tmp_path):
    _, _, coords = _data(n=80)
    ids = np.arange(80) % 3
    ids[:5] = -1
    out = plot_fold_map(ids, coords, tmp_path / "ids.png", title="given", labels=["a", "b", "c"])
    assert out.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="fold ids have 10 samples but coords has 80"):
        plot_fold_map(ids[:10], coords, tmp_path / "bad.png", title="bad")


def test_first_repeat_fold_ids():
    X, y, coords = _data(n=90)  # noqa: N806
    splitter = RepeatedSpatialKFold(coords, 3, 2, random_state=0)
    splits = first_repeat_splits(splitter, X, y)
    assert len(splits) == 3
    ids = fold_ids_from_splits(splits, 90)
    np.testing.assert_array_equal(ids, splitter.fold_ids()[0])
    # leave-out with a buffer is no partition
    loo = first_repeat_splits(BufferedLeaveOneOut(coords, buffer_m=500), n_samples=90)
    assert fold_ids_from_splits(loo, 90) is None
