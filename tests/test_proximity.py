"""Proximity, seismic and spectral factors against independent oracles.

Oracles: brute-force nearest-cell distances, shapely's exact point-to-line
distances, the quartic kernel's analytic peak and unit mass, hand-computed
values of paper 001's eq. 16, hand-computed NDVI.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import dask.array as da
import geopandas as gpd
import numpy as np
import pytest
import shapely
import xarray as xr
from rasterio.features import rasterize
from shapely.geometry import LineString, MultiPoint, Point, Polygon

from susmap.errors import AlignmentError, InputFileError, StudyConfigError, SusmapWarning
from susmap.factors.proximity import distance_to_features, kernel_density
from susmap.factors.registry import FactorContext, available_factors, compute_factor
from susmap.factors.seismic import (
    direction_to_epicentre,
    distance_to_epicentre,
    epicentre_directivity,
    rupture_direction,
    rupture_distance,
)
from susmap.factors.spectral import ndvi

CRS = "EPSG:32717"
X0, Y0 = 600000.0, 9700000.0  # top-left corner [m]
CELL = 10.0


def make_ctx(h: int = 30, w: int = 40, *, chunks: int = 512, **kwargs) -> FactorContext:
    return FactorContext.from_array(np.zeros((h, w)), cellsize=CELL, origin=(X0, Y0), chunks=chunks, **kwargs)


def centre(row: float, col: float) -> tuple[float, float]:
    return X0 + (col + 0.5) * CELL, Y0 - (row + 0.5) * CELL


def write_vector(path: Path, geoms: list, **columns) -> str:
    gpd.GeoDataFrame(columns, geometry=geoms, crs=CRS).to_file(path)
    return str(path)


def cell_centres(ctx: FactorContext) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.indices(ctx.grid.shape)
    return ctx.grid.xy(rows, cols)


# --------------------------------------------------------------------------- distance_to_features


def brute_force_distance(ctx: FactorContext, geoms: list) -> np.ndarray:
    """Distance from every cell centre to the nearest centre of a cell the features touch, by brute force."""
    mask = rasterize(
        [(g, 1) for g in geoms], out_shape=ctx.grid.shape, transform=ctx.grid.transform, all_touched=True
    ).astype(bool)
    x, y = cell_centres(ctx)
    fx, fy = x[mask], y[mask]
    d = np.hypot(x[..., None] - fx, y[..., None] - fy)
    return d.min(axis=-1)


@pytest.mark.parametrize(
    "kind",
    ["lines", "points", "polygons"],
)
def test_distance_equals_exact_edt_of_rasterized_features(tmp_path: Path, kind: str) -> None:
    ctx = make_ctx()
    if kind == "lines":
        geoms = [
            LineString([(X0 + 33, Y0 - 17), (X0 + 251, Y0 - 203)]),
            LineString([(X0 + 300, Y0 - 290), (X0 + 390, Y0 - 40)]),
        ]
    elif kind == "points":
        geoms = [Point(X0 + 55, Y0 - 65), Point(X0 + 312, Y0 - 201), Point(X0 + 120, Y0 - 280)]
    else:
        geoms = [Polygon([(X0 + 100, Y0 - 100), (X0 + 180, Y0 - 100), (X0 + 180, Y0 - 170), (X0 + 100, Y0 - 170)])]
    path = write_vector(tmp_path / f"{kind}.gpkg", geoms)
    out = distance_to_features(ctx, path)
    assert out.attrs["units"] == "m"
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.values, brute_force_distance(ctx, geoms), rtol=1e-6, atol=1e-3)
    if kind == "polygons":
        # Cells whose centres lie inside the polygon are at distance 0.
        assert np.all(out.values[11:16, 11:17] == 0)
        assert out.values[0, 0] > 0


def test_horizontal_line_gives_row_offset_times_cellsize(tmp_path: Path) -> None:
    ctx = make_ctx(25, 20)
    _, y = centre(12, 0)
    path = write_vector(tmp_path / "road.gpkg", [LineString([(X0 - 50, y), (X0 + 500, y)])])
    out = distance_to_features(ctx, path).values
    expected = np.abs(np.arange(25) - 12)[:, None] * CELL * np.ones((1, 20))
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-4)


def test_where_filter_and_margin(tmp_path: Path) -> None:
    ctx = make_ctx(20, 20)
    _, y_in = centre(5, 0)
    y_out = Y0 + 25.0  # 25 m north of the grid's top edge: 30 m from the centres of row 0
    path = write_vector(
        tmp_path / "mixed.gpkg",
        [LineString([(X0, y_in), (X0 + 200, y_in)]), LineString([(X0, y_out), (X0 + 200, y_out)])],
        type=["road", "fault"],
    )
    roads = distance_to_features(ctx, path, where="type == 'road'").values
    assert roads[0, 3] == pytest.approx(50.0)
    # With margin_m: 0 the fault outside the grid is not rasterized.
    with pytest.raises(StudyConfigError, match=r"no feature of .*mixed\.gpkg lies on the grid"):
        distance_to_features(ctx, path, where="type == 'fault'", margin_m=0)
    faults = distance_to_features(ctx, path, where="type == 'fault'", margin_m=50.0).values
    # The fault's cells sit in padded row -3 (centre 25 m north of the edge): row r is (r + 3) cells away.
    np.testing.assert_allclose(faults[:, 7], (np.arange(20) + 3) * CELL, atol=1e-4)
    # By default every feature that can be the nearest is used, wherever it lies.
    np.testing.assert_array_equal(distance_to_features(ctx, path, where="type == 'fault'").values, faults)
    both = distance_to_features(ctx, path, margin_m=50.0).values
    assert both[0, 3] == pytest.approx(30.0)
    with pytest.raises(StudyConfigError, match="holds no feature matching where"):
        distance_to_features(ctx, path, where="type == 'river'")
    with pytest.raises(StudyConfigError, match="cannot be evaluated"):
        distance_to_features(ctx, path, where="kind == 'river'")


# --------------------------------------------------------------------------- kernel_density


@pytest.mark.parametrize("kernel", ["quartic", "gaussian"])
def test_kernel_density_integrates_to_number_of_points(tmp_path: Path, kernel: str) -> None:
    ctx = make_ctx(120, 140)
    rng = np.random.default_rng(3)
    # Points far enough inside that every kernel (radius h, or 4 h for the Gaussian) lies on the grid.
    h = 60.0 if kernel == "quartic" else 20.0
    pts = [Point(X0 + x, Y0 - y) for x, y in rng.uniform([300, 300], [1100, 900], size=(25, 2))]
    path = write_vector(tmp_path / "aftershocks.gpkg", pts)
    out = kernel_density(ctx, path, bandwidth_m=h, kernel=kernel)
    assert out.attrs["units"] == "1/km2"
    total = float(out.values.astype(np.float64).sum()) * CELL * CELL / 1e6
    assert total == pytest.approx(25, rel=0.01)
    assert np.all(out.values >= 0)


def test_kernel_density_peak_and_weights(tmp_path: Path) -> None:
    ctx = make_ctx(40, 40)
    x, y = centre(20, 15)
    h = 80.0
    path = write_vector(tmp_path / "one.gpkg", [Point(x, y), Point(x + 2000, y)], mag=[2.5, 7.0])
    out = kernel_density(ctx, path, bandwidth_m=h, kernel="quartic").values
    peak = 3.0 / (math.pi * h**2) * 1e6  # [1/km²]
    assert out[20, 15] == pytest.approx(peak, rel=1e-5)
    # One cell east: d = 10 m.
    assert out[20, 16] == pytest.approx(peak * (1 - (10 / h) ** 2) ** 2, rel=1e-5)
    # Beyond the search radius: exactly 0.
    assert out[20, 15 + 9] == 0.0
    gauss = kernel_density(ctx, path, bandwidth_m=30.0, kernel="gaussian").values
    assert gauss[20, 15] == pytest.approx(1e6 / (2 * math.pi * 30.0**2), rel=1e-5)
    weighted = kernel_density(ctx, path, bandwidth_m=h, weight="mag").values
    assert weighted[20, 15] == pytest.approx(2.5 * peak, rel=1e-5)


def test_kernel_density_counts_points_just_off_the_grid(tmp_path: Path) -> None:
    ctx = make_ctx(20, 20)
    path = write_vector(tmp_path / "off.gpkg", [Point(X0 - 15.0, Y0 - 105.0)])  # west of column 0, row 10
    out = kernel_density(ctx, path, bandwidth_m=50.0).values
    # The point is the centre of column -2: the centre of column 0 is 20 m away.
    expected = 3.0 / (math.pi * 50.0**2) * (1 - (20 / 50) ** 2) ** 2 * 1e6
    assert out[10, 0] == pytest.approx(expected, rel=1e-5)


def test_kernel_density_bad_input(tmp_path: Path) -> None:
    ctx = make_ctx(20, 20)
    pts = write_vector(tmp_path / "p.gpkg", [MultiPoint([(X0 + 50, Y0 - 50), (X0 + 60, Y0 - 60)])], mag=[1.0])
    lines = write_vector(tmp_path / "l.gpkg", [LineString([(X0, Y0), (X0 + 10, Y0 - 10)])])
    with pytest.raises(StudyConfigError, match="must hold points, not LineString"):
        kernel_density(ctx, lines, bandwidth_m=50.0)
    with pytest.raises(StudyConfigError, match="kernel must be one of quartic, gaussian"):
        kernel_density(ctx, pts, bandwidth_m=50.0, kernel="epanechnikov")
    with pytest.raises(StudyConfigError, match="bandwidth_m must be a positive number"):
        kernel_density(ctx, pts, bandwidth_m=-5)
    with pytest.raises(StudyConfigError, match="no column 'magnitude'"):
        kernel_density(ctx, pts, bandwidth_m=50.0, weight="magnitude")
    with pytest.warns(SusmapWarning, match="integrates to"):
        kernel_density(ctx, pts, bandwidth_m=12.0)
    # A MultiPoint counts each of its points.
    out = kernel_density(ctx, pts, bandwidth_m=50.0).values
    assert float(out.astype(np.float64).sum()) * CELL**2 / 1e6 == pytest.approx(2, rel=0.01)


# --------------------------------------------------------------------------- epicentre


def test_epicentre_distance_and_direction_on_known_cells() -> None:
    ctx = make_ctx(21, 21, chunks=8)
    xe, ye = centre(10, 10)
    dist = distance_to_epicentre(ctx, xe, ye)
    assert isinstance(dist.data, da.Array)
    d = dist.values
    assert d[10, 10] == 0.0
    assert d[10 - 3, 10 + 4] == pytest.approx(50.0)
    az = direction_to_epicentre(ctx, xe, ye).values
    # (row, col) -> azimuth of the cell seen from the epicentre.
    cases = {(5, 10): 0.0, (10, 15): 90.0, (15, 10): 180.0, (10, 5): 270.0, (5, 15): 45.0, (15, 5): 225.0}
    for (r, c), expected in cases.items():
        assert az[r, c] == pytest.approx(expected, abs=1e-4), (r, c)
    assert az[10, 10] == 0.0
    back = direction_to_epicentre(ctx, xe, ye, sense="to_epicentre").values
    assert back[5, 10] == pytest.approx(180.0)
    assert back[10, 15] == pytest.approx(270.0)
    with pytest.raises(StudyConfigError, match="sense must be one of"):
        direction_to_epicentre(ctx, xe, ye, sense="towards")


def test_epicentre_directivity_eq16_hand_values() -> None:
    ctx = make_ctx(21, 21, chunks=8)
    xe, ye = centre(10, 10)
    ep = epicentre_directivity(ctx, xe, ye)
    assert ep.attrs["units"] == "radians"
    v = ep.values
    a = math.atan(3 / 4)  # pixel 30 m east-or-west and 40 m north-or-south of the epicentre
    # xp > xe, yp > ye: arctan((xp - xe)/(yp - ye)) = arctan(30/40)
    assert v[10 - 4, 10 + 3] == pytest.approx(a, abs=1e-6)
    # yp < ye, xp > xe: π + arctan(30/-40)
    assert v[10 + 4, 10 + 3] == pytest.approx(math.pi - a, abs=1e-6)
    # yp < ye, xp < xe: π + arctan(-30/-40)
    assert v[10 + 4, 10 - 3] == pytest.approx(math.pi + a, abs=1e-6)
    # xp < xe, yp > ye: 2π + arctan(-30/40)
    assert v[10 - 4, 10 - 3] == pytest.approx(2 * math.pi - a, abs=1e-6)
    # Cases eq. 16 leaves out, filled by continuity.
    assert v[5, 10] == 0.0
    assert v[10, 14] == pytest.approx(math.pi / 2)
    assert v[10, 6] == pytest.approx(1.5 * math.pi)
    assert v[10, 10] == 0.0
    # Everywhere: the azimuth from the epicentre, atan2(dx, dy) mod 2π, in [0, 2π).
    x, y = cell_centres(ctx)
    np.testing.assert_allclose(v, np.arctan2(x - xe, y - ye) % (2 * np.pi), atol=1e-6)
    assert v.min() >= 0 and v.max() < 2 * math.pi
    # Extension: angle to a rupture propagating north-east (45°).
    rel = epicentre_directivity(ctx, xe, ye, rupture_azimuth=45.0).values
    assert rel[5, 15] == pytest.approx(0.0, abs=1e-6)
    assert rel[15, 5] == pytest.approx(math.pi, abs=1e-6)
    assert rel[5, 10] == pytest.approx(math.pi / 4, abs=1e-6)


# --------------------------------------------------------------------------- rupture subsections


def nearest_segment_oracle(ctx: FactorContext, line: LineString) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact distance of every cell to each segment with shapely: (min distance, argmin, gap to the runner-up)."""
    c = np.asarray(line.coords)
    segs = shapely.linestrings(np.stack([c[:-1], c[1:]], axis=1))
    x, y = cell_centres(ctx)
    pts = shapely.points(x, y)
    d = shapely.distance(pts[..., None], segs)
    order = np.sort(d, axis=-1)
    gap = order[..., 1] - order[..., 0] if d.shape[-1] > 1 else np.full(x.shape, np.inf)
    return d.min(axis=-1), d.argmin(axis=-1), gap


def test_rupture_l_shape_direction_and_distance(tmp_path: Path) -> None:
    ctx = make_ctx(40, 40, chunks=16)
    # E-W subsection (50, -300) -> (300, -300), then N-S subsection (300, -300) -> (300, -50), relative to the corner.
    line = LineString([(X0 + 50, Y0 - 300), (X0 + 300, Y0 - 300), (X0 + 300, Y0 - 50)])
    path = write_vector(tmp_path / "rupture.gpkg", [line])
    dist = rupture_distance(ctx, path)
    direc = rupture_direction(ctx, path)
    assert isinstance(direc.data, da.Array)
    assert direc.attrs["units"] == "degrees"
    exact, seg, gap = nearest_segment_oracle(ctx, line)
    np.testing.assert_allclose(dist.values, exact, rtol=1e-6, atol=1e-3)
    clear = gap > 1e-6
    assert np.all(direc.values[clear & (seg == 0)] == 90.0)
    assert np.all(direc.values[clear & (seg == 1)] == 0.0)
    assert (clear & (seg == 0)).sum() > 100 and (clear & (seg == 1)).sum() > 100
    # Beyond the bend (south-east of (300, -300)) both are equally far; the wedge is split on its bisector.
    assert direc.values[39, 30] == 90.0  # (305, -395): just beyond the E-W subsection's end
    assert direc.values[30, 39] == 0.0  # (395, -305): just beyond the N-S subsection's start
    # Digitizing direction: east, then north.
    directed = rupture_direction(ctx, path, directed=True).values
    assert directed[5, 5] == 90.0 and directed[5, 35] == 0.0


@pytest.mark.parametrize("chunks", [7, 64])
def test_rupture_wiggly_trace_matches_shapely(tmp_path: Path, chunks: int) -> None:
    ctx = make_ctx(45, 70, chunks=chunks)
    rng = np.random.default_rng(11)
    xs = np.linspace(-100, 800, 30)
    ys = -200 + np.cumsum(rng.normal(0, 25, 30))
    line = LineString(np.c_[X0 + xs, Y0 + ys])
    path = write_vector(tmp_path / "fault.gpkg", [line])
    exact, seg, gap = nearest_segment_oracle(ctx, line)
    np.testing.assert_allclose(rupture_distance(ctx, path).values, exact, rtol=1e-6, atol=1e-3)
    c = np.asarray(line.coords)
    orient = np.degrees(np.arctan2(c[1:, 0] - c[:-1, 0], c[1:, 1] - c[:-1, 1])) % 180.0
    clear = gap > 1e-6
    np.testing.assert_allclose(rupture_direction(ctx, path).values[clear], orient[seg[clear]], atol=1e-4)


def test_rupture_refuses_non_lines(tmp_path: Path) -> None:
    ctx = make_ctx(10, 10)
    path = write_vector(tmp_path / "pts.gpkg", [Point(X0 + 5, Y0 - 5)])
    with pytest.raises(StudyConfigError, match="must hold lines"):
        rupture_distance(ctx, path).compute()


# --------------------------------------------------------------------------- NDVI


def band(values: np.ndarray, **attrs) -> xr.DataArray:
    return xr.DataArray(da.from_array(np.asarray(values, dtype=np.float32), chunks=2), dims=("y", "x"), attrs=attrs)


def test_ndvi_hand_values_nodata_and_laziness() -> None:
    red = np.array([[0.1, 0.2, 0.0, np.nan], [0.3, -9999.0, 0.05, 0.4]])
    nir = np.array([[0.5, 0.2, 0.0, 0.4], [0.1, 0.5, -0.1, np.nan]])
    ctx = FactorContext.from_array(
        np.zeros((2, 4)), cellsize=CELL, origin=(X0, Y0), layers={"b4": band(red, nodata=-9999.0), "b8": band(nir)}
    )
    out = ndvi(ctx, red="b4", nir="b8")
    assert isinstance(out.data, da.Array)
    assert out.attrs["units"] == "1"
    v = out.values
    # (0.05, -0.1): a negative band gives -0.15 / -0.05 = 3, clipped to 1.
    expected = np.array([[0.4 / 0.6, 0.0, np.nan, np.nan], [-0.2 / 0.4, np.nan, 1.0, np.nan]])
    np.testing.assert_allclose(v, expected, atol=1e-6)
    assert np.nanmin(v) >= -1 and np.nanmax(v) <= 1
    with pytest.raises(StudyConfigError, match="no input layer named 'b5'"):
        ndvi(ctx, red="b5", nir="b8")


# --------------------------------------------------------------------------- bad input and registry


def test_missing_vector_file_names_it(tmp_path: Path) -> None:
    ctx = make_ctx(10, 10)
    missing = str(tmp_path / "no_roads.gpkg")
    for func, kwargs in [
        (distance_to_features, {}),
        (kernel_density, {"bandwidth_m": 50.0}),
        (rupture_distance, {}),
        (rupture_direction, {}),
    ]:
        with pytest.raises(InputFileError, match=r"no_roads\.gpkg: vector file not found"):
            func(ctx, missing, **kwargs)


def test_geographic_grid_refused(tmp_path: Path) -> None:
    ctx = FactorContext.from_array(np.zeros((10, 10)), cellsize=0.01, crs="EPSG:4326", origin=(-79.0, -1.0))
    path = write_vector(tmp_path / "p.gpkg", [Point(X0, Y0)])
    for func, kwargs in [
        (distance_to_features, {"path": path}),
        (kernel_density, {"path": path, "bandwidth_m": 50.0}),
        (rupture_distance, {"path": path}),
        (distance_to_epicentre, {"x": -78.95, "y": -1.05}),
        (direction_to_epicentre, {"x": -78.95, "y": -1.05}),
        (epicentre_directivity, {"x": -78.95, "y": -1.05}),
    ]:
        with pytest.raises(AlignmentError, match="is geographic"):
            func(ctx, **kwargs)


def test_rotated_grid_refused(tmp_path: Path) -> None:
    from affine import Affine

    ctx = make_ctx(10, 10)
    ctx.grid = dataclasses.replace(ctx.grid, transform=Affine(CELL, 1.0, X0, 1.0, -CELL, Y0))
    path = write_vector(tmp_path / "l.gpkg", [LineString([(X0, Y0 - 55), (X0 + 100, Y0 - 55)])])
    for func in (distance_to_features, rupture_distance, rupture_direction):
        with pytest.raises(AlignmentError, match="north-up grid without rotation"):
            func(ctx, path)


def test_registered_with_units(tmp_path: Path) -> None:
    factors = available_factors()
    expected = {
        "distance_to_features": ("m", True),
        "kernel_density": ("1/km2", True),
        "distance_to_epicentre": ("m", False),
        "direction_to_epicentre": ("degrees", False),
        "epicentre_directivity": ("radians", False),
        "rupture_distance": ("m", False),
        "rupture_direction": ("degrees", False),
        "ndvi": ("1", False),
    }
    for name, (units, whole) in expected.items():
        assert (factors[name].units, factors[name].whole_grid) == (units, whole), name
    modules = {"distance_to_features": "proximity", "kernel_density": "proximity", "ndvi": "spectral"}
    for name in expected:
        assert factors[name].func.__module__ == f"susmap.factors.{modules.get(name, 'seismic')}", name
    ctx = make_ctx(10, 10)
    path = write_vector(tmp_path / "l.gpkg", [LineString([(X0, Y0 - 55), (X0 + 100, Y0 - 55)])])
    out = compute_factor("distance_to_features", ctx, {"path": path})
    assert out.values[0, 0] == pytest.approx(50.0)
    with pytest.raises(StudyConfigError, match="does not take radius"):
        compute_factor("rupture_distance", ctx, {"path": path, "radius": 3})
