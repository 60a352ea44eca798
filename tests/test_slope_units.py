"""Slope units (Alvioli et al. 2016): coverage, stream lines, facets, criteria, GeoPackage."""

from __future__ import annotations

import itertools

import numpy as np
import pyflwdir
import pytest
from affine import Affine

from susmap.errors import AlignmentError, StudyConfigError
from susmap.units import SlopeUnitParameters, delineate_slope_units, slope_units_to_gpkg

CS = 10.0
# Neighbour offsets, counter-clockwise from east (row 0 = north).
DR = np.array([0, -1, -1, -1, 0, 1, 1, 1])
DC = np.array([1, 1, 0, -1, -1, -1, 0, 1])
CODE = np.array([[3, 2, 1], [4, -1, 0], [5, 6, 7]])


def _transform(n: int) -> Affine:
    return Affine(CS, 0.0, 500_000.0, 0.0, -CS, 9_000_000.0 + n * CS)


def _roof(n: int = 200, period: float = 1000.0) -> tuple[np.ndarray, np.ndarray]:
    """Eight-ish planar facets: V-valleys every ``period`` m running N and S from an E-W ridge.

    z = 0.5 tri(x) - 0.5 |y - y0| + N(0, 1 cm): every facet is a plane of
    slope 0.707 facing NE, NW, SE or SW. Returns (dem, facet label 0-3).
    """
    y, x = np.mgrid[0:n, 0:n] * CS + CS / 2
    phase = (x / period) % 1.0
    tri = np.abs(phase - 0.5) * period
    z = 0.5 * tri - 0.5 * np.abs(y - n * CS / 2) + np.random.default_rng(0).normal(0.0, 0.01, (n, n))
    facet = (phase < 0.5).astype(int) + 2 * (y > n * CS / 2)
    return z.astype(np.float32), facet


def _fractal(n: int, seed: int, beta: float = 3.0, relief: float = 500.0) -> np.ndarray:
    """Spectral-synthesis fractal DEM (power spectrum ∝ k^-beta), ``relief`` m from lowest to highest."""
    rng = np.random.default_rng(seed)
    k = np.hypot(np.fft.fftfreq(n)[:, None], np.fft.rfftfreq(n)[None, :])
    k[0, 0] = 1.0
    spec = (rng.normal(size=k.shape) + 1j * rng.normal(size=k.shape)) * k ** (-beta / 2)
    spec[0, 0] = 0.0
    z = np.fft.irfft2(spec, s=(n, n))
    return ((z - z.min()) / (z.max() - z.min()) * relief).astype(np.float32)


def _cv(east: np.ndarray, north: np.ndarray) -> float:
    """Circular variance 1 - |mean unit vector| of the given aspect unit vectors."""
    return 1.0 - float(np.hypot(east.mean(), north.mean()))


def _aspect_vectors(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Downslope unit vectors by central differences (an independent aspect, not the module's Horn)."""
    dzdy_rows, dzdx = np.gradient(z.astype(np.float64), CS)
    dzdy = -dzdy_rows  # rows run south
    g = np.hypot(dzdx, dzdy)
    return -dzdx / g, -dzdy / g


ROOF_PARAMS = SlopeUnitParameters(
    threshold_cells=500,
    min_area_m2=20_000.0,
    max_area_m2=2_000_000.0,
    cvmin=0.1,
    reduction_factor=2.0,
    max_iterations=10,
    clean_min_area_m2=5_000.0,
)

FRACTAL_PARAMS = SlopeUnitParameters(
    threshold_cells=2_000,
    min_area_m2=20_000.0,
    max_area_m2=300_000.0,
    cvmin=0.3,
    reduction_factor=4.0,
    max_iterations=8,
    clean_min_area_m2=0.0,
)


@pytest.fixture(scope="module")
def roof():
    z, facet = _roof()
    return z, facet, delineate_slope_units(z, _transform(z.shape[0]), params=ROOF_PARAMS)


@pytest.fixture(scope="module")
def fractal():
    n = 300
    z = _fractal(n, 3)
    z[:30, :50] = np.nan  # a nodata corner
    z[150:160, 200:215] = np.nan  # and a hole
    return z, delineate_slope_units(z, _transform(n), params=FRACTAL_PARAMS)


def test_every_valid_cell_in_exactly_one_unit(fractal, roof):
    for z, units in ((fractal[0], fractal[1]), (roof[0], roof[2])):
        assert units.ids.dtype == np.int32
        np.testing.assert_array_equal(units.ids > 0, np.isfinite(z))
        assert units.ids.max() == len(units.table)
        np.testing.assert_array_equal(np.unique(units.ids[units.ids > 0]), units.table["id"].to_numpy())
        np.testing.assert_array_equal(np.bincount(units.ids.ravel())[1:], units.table["cells"].to_numpy())
        assert units.table["area_m2"].sum() == pytest.approx(np.isfinite(z).sum() * CS * CS)


def test_units_do_not_cross_stream_lines(fractal):
    """Along every stream cell, the cells just left and right of the flow lie in different units."""
    z, units = fractal
    n = z.shape[1]
    ds = pyflwdir.from_dem(z, nodata=np.nan).idxs_ds
    s = np.flatnonzero(units.streams.ravel())
    d = ds[s]
    s, d = s[d != s], d[d != s]
    r, c = s // n, s % n
    code = CODE[d // n - r + 1, d % n - c + 1]
    lr, lc = r + DR[(code + 2) % 8], c + DC[(code + 2) % 8]
    rr, rc = r + DR[(code + 6) % 8], c + DC[(code + 6) % 8]
    inside = (lr >= 0) & (lr < n) & (lc >= 0) & (lc < n) & (rr >= 0) & (rr < n) & (rc >= 0) & (rc < n)
    lr, lc, rr, rc = lr[inside], lc[inside], rr[inside], rc[inside]
    ids, st = units.ids, units.streams
    pair = (ids[lr, lc] > 0) & (ids[rr, rc] > 0) & ~st[lr, lc] & ~st[rr, rc]
    assert pair.sum() > 1000
    assert (ids[lr, lc][pair] != ids[rr, rc][pair]).all()


def test_units_follow_planar_facets(roof):
    z, facet, units = roof
    east, north = _aspect_vectors(z)
    whole = _cv(east, north)
    assert whole > 0.9  # four facet directions cancel out
    ids = units.ids.ravel()
    per_unit = np.array([_cv(east.ravel()[ids == u], north.ravel()[ids == u]) for u in units.table["id"]])
    weights = units.table["cells"].to_numpy()
    assert np.average(per_unit, weights=weights) < 0.2 * whole
    # the module's own circular variance agrees
    assert np.average(units.table["circular_variance"], weights=weights) < 0.2 * whole
    # most cells share their unit with cells of the same facet
    majority = sum(np.bincount(facet.ravel()[ids == u]).max() for u in units.table["id"])
    assert majority / ids.size > 0.97


def test_plane_aspect_is_known():
    """A plane rising westwards faces east: aspect 90°, circular variance 0."""
    n = 60
    x = np.arange(n) * CS
    z = np.tile(-0.3 * x, (n, 1)).astype(np.float32)
    params = SlopeUnitParameters(threshold_cells=5_000, min_area_m2=1_000.0, max_area_m2=1e8, clean_min_area_m2=0.0)
    units = delineate_slope_units(z, _transform(n), params=params)
    # no stream reaches 5,000 cells and the flow gathers at one border outlet: one unit, one aspect
    assert len(units.table) == 1
    np.testing.assert_allclose(units.table["mean_aspect_deg"], 90.0, atol=1e-6)
    np.testing.assert_allclose(units.table["circular_variance"], 0.0, atol=1e-6)
    assert units.table["criterion"].iloc[0] == "circular_variance"


def test_criteria_and_threshold_sequence(fractal):
    _, units = fractal
    p = FRACTAL_PARAMS
    t = units.thresholds
    assert t[0] == p.threshold_cells
    for a, b in itertools.pairwise(t):
        assert b == int(a - a / p.reduction_factor)
    table = units.table
    assert set(table["criterion"]) <= {"circular_variance", "min_area", "split_rejected", "last_iteration"}
    # only units left at the last iteration may exceed max_area (no cleaning here)
    over = table[table["area_m2"] > p.max_area_m2]
    assert set(over["criterion"]) <= {"last_iteration"}
    by_cv = table[table["criterion"] == "circular_variance"]
    assert (by_cv["circular_variance"] <= p.cvmin + 1e-9).all()
    by_area = table[table["criterion"] == "min_area"]
    assert (by_area["area_m2"] <= p.min_area_m2).all()
    assert table["threshold_cells"].isin(t).all()
    assert table["iteration"].between(1, len(t)).all()


def test_cleaning_merges_small_units(fractal):
    z, raw = fractal
    clean = 10_000.0
    params = SlopeUnitParameters(**{**FRACTAL_PARAMS.__dict__, "clean_min_area_m2": clean})
    units = delineate_slope_units(z, _transform(z.shape[0]), params=params)
    np.testing.assert_array_equal(units.ids > 0, np.isfinite(z))
    assert (units.table["area_m2"] >= clean).all()
    assert len(raw.table) - len(units.table) == units.table["merged_units"].sum() > 0


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"threshold_cells": 0}, "threshold_cells"),
        ({"threshold_cells": 2.5}, "threshold_cells"),
        ({"min_area_m2": -1.0}, "min_area_m2"),
        ({"min_area_m2": 5e6, "max_area_m2": 1e6}, "min_area_m2"),
        ({"cvmin": 1.0}, "cvmin"),
        ({"cvmin": 0.0}, "cvmin"),
        ({"reduction_factor": 1.0}, "reduction_factor"),
        ({"max_iterations": 0}, "max_iterations"),
        ({"clean_min_area_m2": -5.0}, "clean_min_area_m2"),
        ({"cvmin": "low"}, "cvmin"),
        ({"max_area_m2": float("nan")}, "max_area_m2"),
    ],
)
def test_bad_parameters(change, key):
    with pytest.raises(StudyConfigError, match=f"slope_units.{key}"):
        SlopeUnitParameters(**change)


def test_bad_dem():
    with pytest.raises(AlignmentError, match="2-D"):
        delineate_slope_units(np.zeros((2, 3, 3)), _transform(3))
    with pytest.raises(AlignmentError, match="no valid cell"):
        delineate_slope_units(np.full((5, 5), -9999.0), _transform(5), nodata=-9999.0)
    with pytest.raises(AlignmentError, match="rotated"):
        delineate_slope_units(np.zeros((5, 5)), Affine(10, 1, 0, 0, -10, 0))


def test_geopackage_round_trip(roof, tmp_path):
    import geopandas as gpd
    import rasterio

    z, _, units = roof
    crs = "EPSG:32717"
    gpkg, tif = slope_units_to_gpkg(units, _transform(z.shape[0]), crs, tmp_path / "su.gpkg")
    frame = gpd.read_file(gpkg, layer="slope_units")
    assert len(frame) == len(units.table)
    assert frame.geometry.is_valid.all()
    assert frame.geometry.area.sum() == pytest.approx(np.isfinite(z).sum() * CS * CS, rel=1e-9)
    np.testing.assert_allclose(frame.geometry.area.to_numpy(), units.table["area_m2"].to_numpy(), rtol=1e-9)
    np.testing.assert_array_equal(frame["id"].to_numpy(), units.table["id"].to_numpy())
    np.testing.assert_allclose(frame["circular_variance"], units.table["circular_variance"])
    with rasterio.open(tif) as src:
        assert src.nodata == 0
        assert src.profile["tiled"]
        assert src.compression.name.lower() == "deflate"
        np.testing.assert_array_equal(src.read(1), units.ids)
