"""Tiled distance to features against today's whole-grid EDT (distance_to_features) and hand-computed values."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from rasterio import crs as rio_crs
from shapely.geometry import LineString, MultiPoint, Point, Polygon

from susmap.errors import StudyConfigError
from susmap.factors.proximity import distance_to_features
from susmap.factors.registry import FactorContext
from susmap.factors.tiled_distance import (
    FeatureLattice,
    WindowStats,
    chunk_distance,
    tiled_distance_to_features,
    tiled_feature_distance,
)
from susmap.grid import Grid

CRS = "EPSG:32717"
X0, Y0 = 600000.0, 9700000.0  # top-left corner [m]
CELL = 10.0


def make_ctx(h: int, w: int, *, chunks: int = 512, dy: float = CELL) -> FactorContext:
    grid = Grid(crs=rio_crs.CRS.from_user_input(CRS), transform=Affine(CELL, 0, X0, 0, -dy, Y0), height=h, width=w)
    return FactorContext(grid=grid, dem=None, chunks=chunks)  # type: ignore[arg-type]


def write(path: Path, geoms: list) -> str:
    gpd.GeoDataFrame(geometry=geoms, crs=CRS).to_file(path)
    return str(path)


def mixed_features() -> list:
    """Lines crossing chunk edges, a point, a polygon, and features beyond every edge of a 50 x 70 grid."""
    return [
        LineString([(X0 + 33, Y0 - 17), (X0 + 251, Y0 - 203), (X0 + 180, Y0 - 330)]),
        LineString([(X0 + 404.5, Y0 - 60.2), (X0 + 612.3, Y0 - 141.7)]),
        Point(X0 + 555.5, Y0 - 444.4),
        Polygon([(X0 + 90.4, Y0 - 380.7), (X0 + 160.2, Y0 - 379.1), (X0 + 130.6, Y0 - 460.3)]),
        LineString([(X0 - 300, Y0 + 250), (X0 - 120, Y0 - 90)]),  # beyond the left and top edges
        Point(X0 + 940.0, Y0 - 260.0),  # beyond the right edge (grid is 700 m wide)
        MultiPoint([(X0 + 300.0, Y0 - 760.0), (X0 + 20.0, Y0 - 800.0)]),  # beyond the bottom edge
    ]


@pytest.mark.parametrize("chunks", [7, 16, 23, 64, 512])
def test_equals_whole_grid_edt_for_every_chunk_size(tmp_path: Path, chunks: int) -> None:
    path = write(tmp_path / "f.gpkg", mixed_features())
    ctx = make_ctx(50, 70, chunks=chunks)
    ref = distance_to_features(ctx, path).values
    out = tiled_distance_to_features(ctx, path)
    assert out.chunks is not None and max(out.chunks[0]) == min(chunks, 50)  # lazy, chunked
    np.testing.assert_array_equal(out.values, ref)


def test_far_features_only(tmp_path: Path) -> None:
    """Every feature lies off the grid in one corner: no chunk has a feature nearby; the halos reach them."""
    geoms = [Point(X0 - 95.0, Y0 + 42.0), LineString([(X0 - 400, Y0 + 100), (X0 - 200, Y0 + 300)])]
    path = write(tmp_path / "far.gpkg", geoms)
    for chunks in (8, 25):
        ctx = make_ctx(60, 45, chunks=chunks)
        np.testing.assert_array_equal(
            tiled_distance_to_features(ctx, path).values, distance_to_features(ctx, path).values
        )


def test_single_point_hand_computed(tmp_path: Path) -> None:
    """A point inside cell (2, 3): distance of cell (r, c) is 10 m x hypot(r - 2, c - 3)."""
    path = write(tmp_path / "p.gpkg", [Point(X0 + 31.0, Y0 - 27.0)])
    ctx = make_ctx(12, 9, chunks=4)
    r, c = np.indices((12, 9))
    out = tiled_distance_to_features(ctx, path).values
    np.testing.assert_allclose(out, 10.0 * np.hypot(r - 2, c - 3), rtol=1e-7)
    assert out[2, 3] == 0.0 and out[11, 8] == pytest.approx(10.0 * math.hypot(9, 5), rel=1e-7)


def test_anisotropic_cells(tmp_path: Path) -> None:
    """10 m x 25 m cells: the sampling of the EDT follows the axes, as in the whole-grid transform."""
    path = write(tmp_path / "f.gpkg", mixed_features())
    ctx = make_ctx(30, 70, chunks=11, dy=25.0)
    np.testing.assert_array_equal(tiled_distance_to_features(ctx, path).values, distance_to_features(ctx, path).values)


@pytest.mark.parametrize("cap", [0.0, 4.0, 35.0, 120.0, 10_000.0])
def test_capped_equals_min_of_edt_and_cap(tmp_path: Path, cap: float) -> None:
    path = write(tmp_path / "f.gpkg", mixed_features())
    ctx = make_ctx(50, 70, chunks=16)
    ref = distance_to_features(ctx, path).values
    out = tiled_distance_to_features(ctx, path, max_distance_m=cap)
    assert out.attrs["max_distance_m"] == cap
    np.testing.assert_array_equal(out.values, np.minimum(ref, np.float32(cap)))


@pytest.mark.parametrize("margin", [0.0, 45.0, 400.0])
def test_margin_equals_whole_grid_margin(tmp_path: Path, margin: float) -> None:
    """With margin_m only the features within the grown grid count, as in distance_to_features."""
    path = write(tmp_path / "f.gpkg", mixed_features())
    ctx = make_ctx(50, 70, chunks=13)
    ref = distance_to_features(ctx, path, margin_m=margin).values
    np.testing.assert_array_equal(tiled_distance_to_features(ctx, path, margin_m=margin).values, ref)


def test_valid_mask_gives_nan_outside_and_skips_empty_chunks(tmp_path: Path) -> None:
    path = write(tmp_path / "f.gpkg", mixed_features())
    ctx = make_ctx(50, 70, chunks=10)
    ref = distance_to_features(ctx, path).values
    valid = np.ones((50, 70), dtype=bool)
    valid[:20, :30] = False  # six whole chunks of nodata
    valid[35:, 50:] = False
    valid[25, 33] = False
    geoms = gpd.read_file(path).geometry.values
    out = tiled_feature_distance(geoms, ctx.grid, chunks=10, valid=valid).compute()
    assert np.isnan(out[~valid]).all()
    np.testing.assert_array_equal(out[valid], ref[valid])
    lattice = FeatureLattice(geoms, ctx.grid, None)
    stats: list[WindowStats] = []
    blank = chunk_distance(lattice, 0, 0, 10, 10, valid=np.zeros((10, 10), dtype=bool), stats=stats)
    assert np.isnan(blank).all() and stats == []  # no EDT for a chunk without data


@pytest.mark.parametrize("cap", [None, 35.0])
def test_halo_check_makes_it_exact_even_from_a_zero_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cap: float | None
) -> None:
    """With the index's bound forced to 0, the halo grows (several passes) until every cell is resolved."""
    path = write(tmp_path / "f.gpkg", mixed_features())
    ctx = make_ctx(50, 70)
    ref = distance_to_features(ctx, path).values
    geoms = gpd.read_file(path).geometry.values
    monkeypatch.setattr(FeatureLattice, "halo_bound", lambda self, r0, c0, r1, c1: 0.0)
    lattice = FeatureLattice(geoms, ctx.grid, None)
    stats: list[WindowStats] = []
    out = chunk_distance(lattice, 30, 40, 50, 70, max_distance_m=cap, stats=stats, window_budget=10**9)
    assert stats[0].passes > 1
    want = ref[30:50, 40:70] if cap is None else np.minimum(ref[30:50, 40:70], np.float32(cap))
    np.testing.assert_array_equal(out.astype(np.float32), want)


def test_first_window_suffices_with_the_index_bound(tmp_path: Path) -> None:
    geoms = gpd.GeoSeries(mixed_features()).values
    ctx = make_ctx(50, 70)
    lattice = FeatureLattice(geoms, ctx.grid, None)
    stats: list[WindowStats] = []
    for r0, c0 in [(0, 0), (0, 35), (25, 0), (25, 35)]:
        chunk_distance(lattice, r0, c0, r0 + 25, c0 + 35, stats=stats)
    assert [s.passes for s in stats] == [1, 1, 1, 1]


def test_bad_input(tmp_path: Path) -> None:
    path = write(tmp_path / "f.gpkg", [Point(X0 + 5000.0, Y0 - 5000.0)])
    ctx = make_ctx(20, 20)
    with pytest.raises(StudyConfigError, match="max_distance_m must be a number >= 0"):
        tiled_distance_to_features(ctx, path, max_distance_m=-1.0)
    with pytest.raises(StudyConfigError, match="margin_m must be a number >= 0"):
        tiled_distance_to_features(ctx, path, margin_m="wide")  # type: ignore[arg-type]
    with pytest.raises(StudyConfigError, match=r"no feature of .* within margin_m"):
        tiled_distance_to_features(ctx, path, margin_m=50.0)
    with pytest.raises(StudyConfigError, match="no feature given"):
        tiled_feature_distance([], ctx.grid)
    with pytest.raises(StudyConfigError, match="valid mask shape"):
        tiled_feature_distance([Point(X0, Y0)], ctx.grid, valid=np.ones((3, 3), dtype=bool))


def test_wired_as_options_of_distance_to_features(tmp_path: Path) -> None:
    """``tiled: true`` and ``max_distance_m`` of the registered factor: the same values, lazily or capped."""
    from susmap.factors.registry import compute_factor

    path = write(tmp_path / "f.gpkg", mixed_features())
    ctx = make_ctx(50, 70, chunks=16)
    ref = compute_factor("distance_to_features", ctx, {"path": path}).values
    tiled = compute_factor("distance_to_features", ctx, {"path": path, "tiled": True})
    assert tiled.chunks is not None
    np.testing.assert_array_equal(tiled.values, ref)
    for on in (False, True):
        capped = compute_factor("distance_to_features", ctx, {"path": path, "tiled": on, "max_distance_m": 55.0})
        np.testing.assert_array_equal(capped.values, np.minimum(ref, np.float32(55.0)))
    with pytest.raises(StudyConfigError, match="tiled must be true or false"):
        compute_factor("distance_to_features", ctx, {"path": path, "tiled": "yes"})
    with pytest.raises(StudyConfigError, match="max_distance_m must be a number >= 0"):
        compute_factor("distance_to_features", ctx, {"path": path, "max_distance_m": -3})


@pytest.mark.parametrize("far", [False, True])
@pytest.mark.parametrize(("margin", "cap"), [(None, None), (45.0, None), (None, 35.0), (400.0, 120.0)])
def test_nearest_boundary_cell_path_equals_edt(
    tmp_path: Path, far: bool, margin: float | None, cap: float | None
) -> None:
    """Chunks whose window exceeds the budget (here every one) take the k-d tree of boundary cells: same values."""
    if far:
        geoms = [Point(X0 - 95.0, Y0 + 42.0), LineString([(X0 - 400, Y0 + 100), (X0 - 200, Y0 + 300)])]
        geoms.append(
            Polygon([(X0 + 151.3, Y0 - 148.2), (X0 + 262.7, Y0 - 151.9), (X0 + 258.4, Y0 - 243.1)])
        )  # interior
    else:
        geoms = mixed_features()
    path = write(tmp_path / "f.gpkg", geoms)
    ctx = make_ctx(50, 70, chunks=12)
    ref = distance_to_features(ctx, path, margin_m=margin).values
    if cap is not None:
        ref = np.minimum(ref, np.float32(cap))
    valid = np.ones((50, 70), dtype=bool)
    valid[3:9, 40:61] = False
    geoms_arr = gpd.read_file(path).geometry.values
    out = tiled_feature_distance(
        geoms_arr, ctx.grid, chunks=12, margin_m=margin, max_distance_m=cap, valid=valid, window_budget=0
    ).compute()
    np.testing.assert_array_equal(out[valid], ref[valid])
    assert np.isnan(out[~valid]).all()
    lattice = FeatureLattice(geoms_arr, ctx.grid, None)
    stats: list[WindowStats] = []
    chunk_distance(lattice, 12, 12, 24, 24, stats=stats, window_budget=0)
    assert stats[0].method == "nearest"


def test_large_polygon_beyond_the_edge_on_both_paths(tmp_path: Path) -> None:
    """A lake covering the west of the grid and reaching far beyond it: 0 inside, exact distances east of it."""
    lake = Polygon([(X0 - 3000.3, Y0 + 2000.6), (X0 + 251.7, Y0 + 1500.2), (X0 + 203.4, Y0 - 2700.9)])
    path = write(tmp_path / "lake.gpkg", [lake, Point(X0 + 655.5, Y0 - 95.5)])
    ctx = make_ctx(50, 70, chunks=9)
    ref = distance_to_features(ctx, path).values
    geoms = gpd.read_file(path).geometry.values
    for budget in (None, 0):
        out = tiled_feature_distance(geoms, ctx.grid, chunks=9, window_budget=budget).compute()
        np.testing.assert_array_equal(out, ref)
    assert (ref[:, :5] == 0).all() and ref[25, 60] > 0


def test_a_tiled_distance_is_not_refused_as_a_whole_grid_factor(tmp_path):
    """A grid too big for the whole-grid EDT is refused, unless the distance runs by tiles (``tiled: true``)."""
    from affine import Affine
    from pyproj import CRS

    from susmap.errors import SusmapError
    from susmap.factors.derive import check_whole_grid_memory
    from susmap.factors.registry import holds_whole_grid
    from susmap.grid import Grid
    from susmap.study import study_from_dict

    grid = Grid(crs=CRS.from_epsg(32717), transform=Affine(10, 0, 0, 0, -10, 0), height=100_000, width=100_000)
    (tmp_path / "dem.tif").write_bytes(b"")
    (tmp_path / "ev.csv").write_text("x,y\n")

    def study(params):
        return study_from_dict(
            {
                "grid": {"template": str(tmp_path / "dem.tif")},
                "factors": [{"name": "d", "factor": "distance_to_features", "params": params}],
                "inventory": {"path": str(tmp_path / "ev.csv"), "x": "x", "y": "y", "crs": "EPSG:32717"},
            }
        )

    assert holds_whole_grid("distance_to_features", {"path": "f.gpkg"})
    assert not holds_whole_grid("distance_to_features", {"path": "f.gpkg", "tiled": True})
    with pytest.raises(SusmapError, match="whole"):
        check_whole_grid_memory(study({"path": "f.gpkg"}), grid, memory=24 * 2**30)
    check_whole_grid_memory(study({"path": "f.gpkg", "tiled": True}), grid, memory=24 * 2**30)
