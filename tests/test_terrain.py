"""Terrain stencils against analytic surfaces and SAGA GIS (the Ecuador ta.tif)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from susmap.datasets import ecuador_path
from susmap.factors import FactorContext, compute_factor
from susmap.factors.terrain import circular_offsets

H = 10.0  # cell size [m]


def surface(func, n=41, cellsize=H):
    """Evaluate z = func(x, y) on an n x n grid, x east, y north, origin at the centre cell."""
    idx = np.arange(n) - n // 2
    x = idx[None, :] * cellsize
    y = -idx[:, None] * cellsize  # row 0 is north
    return np.asarray(func(x + 0 * y, y + 0 * x), dtype=np.float64)


def factor(name, dem, chunks=16, edges="nodata", **params):
    ctx = FactorContext.from_array(dem, cellsize=H, chunks=chunks, edges=edges)
    return compute_factor(name, ctx, params).values.astype(np.float64)


@pytest.mark.parametrize("method", ["horn", "zevenbergen_thorne"])
@pytest.mark.parametrize("azimuth", [0, 30, 45, 90, 135, 180, 200, 270, 315, 359])
def test_tilted_plane_gives_exact_slope_and_aspect(method, azimuth):
    """A plane dipping 20° towards ``azimuth``: slope 20°, aspect = azimuth, for every orientation."""
    grad = np.tan(np.radians(20.0))
    ax, ay = np.sin(np.radians(azimuth)), np.cos(np.radians(azimuth))
    dem = surface(lambda x, y: 1000.0 - grad * (ax * x + ay * y))
    slope = factor("slope", dem, method=method)
    aspect = factor("aspect", dem, method=method)
    inner = (slice(1, -1), slice(1, -1))
    np.testing.assert_allclose(slope[inner], 20.0, atol=2e-3)
    diff = (aspect[inner] - azimuth + 180.0) % 360.0 - 180.0  # circular difference
    np.testing.assert_allclose(diff, 0.0, atol=2e-2)
    percent = factor("slope", dem, method=method, units="percent")
    np.testing.assert_allclose(percent[inner], 100 * grad, rtol=1e-4)
    east = factor("aspect", dem, output="eastness")
    north = factor("aspect", dem, output="northness")
    np.testing.assert_allclose(east[inner], ax, atol=1e-4)
    np.testing.assert_allclose(north[inner], ay, atol=1e-4)
    sector = factor("aspect", dem, output="sector")
    assert np.all(sector[inner] == int(((azimuth + 22.5) % 360) // 45) + 1)


def test_flat_cells_have_aspect_minus_one_and_sector_zero():
    dem = np.full((10, 10), 500.0)
    assert np.all(factor("aspect", dem)[1:-1, 1:-1] == -1)
    assert np.all(factor("aspect", dem, output="sector")[1:-1, 1:-1] == 0)
    assert np.all(factor("slope", dem)[1:-1, 1:-1] == 0)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_paraboloid_gives_the_analytic_curvatures(sign):
    """z = ±(x² + y²) / (2c): exact for Zevenbergen & Thorne's quadratic fit.

    With g = ρ/c (ρ distance from the axis): plan = ∓1/ρ, profile = ∓(1/c)/(1+g²)^1.5,
    tangential = ∓(1/c)/√(1+g²), total = 2/c²; a bowl (+) is concave (negative).
    """
    c = 400.0
    dem = surface(lambda x, y: 2000.0 + sign * (x**2 + y**2) / (2 * c), n=61)
    n = dem.shape[0]
    idx = np.arange(n) - n // 2
    rho = np.hypot(idx[None, :] * H, idx[:, None] * H)
    g2 = (rho / c) ** 2
    inner = np.zeros_like(dem, dtype=bool)
    inner[1:-1, 1:-1] = True
    inner &= rho > 3 * H  # away from the flat apex
    expected = {
        "plan_curvature": -sign / rho,
        "profile_curvature": -sign * (1 / c) / (1 + g2) ** 1.5,
        "tangential_curvature": -sign * (1 / c) / np.sqrt(1 + g2),
        "total_curvature": np.full_like(rho, 2 / c**2),
    }
    for name, want in expected.items():
        got = factor(name, dem)
        np.testing.assert_allclose(got[inner], want[inner], rtol=2e-3, err_msg=name)


def test_cone_tpi_at_the_apex_and_ruggedness_on_a_plane():
    """Cone z = -k ρ: TPI at the apex = k × mean distance of the window cells; plane: TRI = a h √6."""
    k_ = 0.5
    dem = surface(lambda x, y: 1000.0 - k_ * np.hypot(x, y))
    radius_m = 50.0
    tpi = factor("tpi", dem, radius_m=radius_m)
    offs = circular_offsets(radius_m / H)
    expected = k_ * H * np.hypot(offs[:, 0], offs[:, 1]).mean()
    c = dem.shape[0] // 2
    assert tpi[c, c] == pytest.approx(expected, rel=1e-5)
    assert tpi[c, c] > 0  # a peak sits above its surroundings
    a = 0.3
    plane = surface(lambda x, y: 100.0 + a * x)
    inner = (slice(5, -5), slice(5, -5))
    np.testing.assert_allclose(factor("tri", plane)[inner], a * H * np.sqrt(6), rtol=1e-5)
    np.testing.assert_allclose(factor("roughness", plane)[inner], 2 * a * H, rtol=1e-5)
    np.testing.assert_allclose(factor("relative_relief", plane, radius_m=30.0)[inner], 2 * 3 * a * H, rtol=1e-5)
    np.testing.assert_allclose(factor("tpi", plane, radius_m=30.0)[inner], 0.0, atol=1e-3)


def test_hillshade_flat_and_facing_the_sun():
    flat = np.full((9, 9), 100.0)
    np.testing.assert_allclose(factor("hillshade", flat, altitude=30.0)[1:-1, 1:-1], 255 * np.sin(np.radians(30)))
    # a slope of 60° facing the sun at azimuth 315°, altitude 30°, is lit perpendicularly
    grad = np.tan(np.radians(60.0))
    ax, ay = np.sin(np.radians(315)), np.cos(np.radians(315))
    facing = surface(lambda x, y: 5000.0 - grad * (ax * x + ay * y), n=9)
    np.testing.assert_allclose(factor("hillshade", facing, azimuth=315.0, altitude=30.0)[1:-1, 1:-1], 255.0, rtol=1e-4)


def test_results_do_not_depend_on_chunk_size():
    rng = np.random.default_rng(0)
    dem = np.cumsum(np.cumsum(rng.normal(size=(67, 53)), axis=0), axis=1) + 1000.0
    dem[20:23, 30:33] = np.nan
    for name, params in [("slope", {}), ("plan_curvature", {}), ("tpi", {"radius_m": 40.0}), ("tri", {})]:
        ref = factor(name, dem, chunks=512, **params)
        for chunks in (5, 9, 16):
            got = factor(name, dem, chunks=chunks, **params)
            np.testing.assert_array_equal(got, ref, err_msg=f"{name} chunks={chunks}")


def test_nodata_and_border_give_nodata_unless_extrapolated():
    dem = surface(lambda x, y: 100.0 + 0.2 * x + 0.1 * y, n=21)
    dem[10, 10] = np.nan
    s = factor("slope", dem)
    assert np.isnan(s[9:12, 9:12]).all()  # every window touching the hole
    assert np.isnan(s[0]).all() and np.isnan(s[:, -1]).all()  # the border
    assert np.isfinite(s[1:9, 1:9]).all()
    ext = factor("slope", dem, edges="extrapolate")
    assert np.isnan(ext[9:12, 9:12]).all()  # interior nodata stays nodata
    want = np.degrees(np.arctan(np.hypot(0.2, 0.1)))
    np.testing.assert_allclose(ext[0, :8], want, rtol=1e-5)  # linear extrapolation is exact on a plane
    tpi = factor("tpi", dem, edges="extrapolate", radius_m=30.0)
    assert np.isfinite(tpi[0, :5]).all()


def test_bad_parameters_are_config_errors():
    from susmap.errors import StudyConfigError

    dem = np.zeros((8, 8))
    with pytest.raises(StudyConfigError, match=r"slope: method must be one of horn, zevenbergen_thorne"):
        factor("slope", dem, method="sobel")
    with pytest.raises(StudyConfigError, match=r"slope does not take radius"):
        factor("slope", dem, radius=3)
    with pytest.raises(StudyConfigError, match=r"radius_m \(5 m\) must be at least one cell"):
        factor("tpi", dem, radius_m=5.0)
    with pytest.raises(StudyConfigError, match=r"unknown factor 'slop'"):
        factor("slop", dem)


def test_agreement_with_saga_on_the_ecuador_dem(capsys):
    """susmap vs SAGA GIS (ta.tif, Zevenbergen & Thorne) from the same DEM, interior cells."""
    with rasterio.open(ecuador_path("ta.tif")) as src:
        ref = {name: src.read(i) for i, name in enumerate(src.descriptions, 1)}
    dem = ref["elev"]  # ta.tif's elev band is the DEM SAGA worked on
    figures = {}
    for ours, theirs, r_min in [
        ("slope", "slope", 0.999),
        ("plan_curvature", "cplan", 0.99),
        ("profile_curvature", "cprof", 0.99),
    ]:
        got = factor(ours, dem, chunks=128)
        inner = np.zeros_like(got, dtype=bool)
        inner[2:-2, 2:-2] = True
        ok = inner & np.isfinite(got) & np.isfinite(ref[theirs])
        r = np.corrcoef(got[ok], ref[theirs][ok])[0, 1]
        mad = np.median(np.abs(got[ok] - ref[theirs][ok]))
        figures[ours] = (r, mad, int(ok.sum()))
        assert r >= r_min, ours
    assert figures["slope"][1] < 0.1  # degrees
    with capsys.disabled():
        for name, (r, mad, n) in figures.items():
            print(f"\n  SAGA agreement {name:<18} r = {r:.7f}  median |diff| = {mad:.2e}  ({n} cells)", end="")
