"""Hydrological factors: routing on analytic surfaces, SAGA's ta.tif as reference, nodata, parameters.

Oracles: a V-shaped valley (mass balance at the outlet, HAND and distance
known in closed form), a tilted plane (specific catchment area = upslope
length; TWI, SPI and LS from known a and β), a pit (filling), a brute-force
MFD in elevation order, and SAGA GIS's ``log10_carea`` band of the bundled
Ecuador ``ta.tif``, whose ``elev`` band is the DEM it was computed from.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
from scipy import ndimage

from susmap.datasets import ecuador_path
from susmap.errors import AlignmentError, StudyConfigError
from susmap.factors import hydrology as hy
from susmap.factors import routing_kernels
from susmap.factors.registry import FactorContext, available_factors, compute_factor

CS = 10.0  # [m]
SIDE = 0.1  # valley side slope [m/m]
ALONG = 0.02  # channel slope [m/m]

HYDROLOGY_FACTORS = {
    "filled_dem": "m",
    "flow_accumulation": "cells",
    "catchment_area": "m2",
    "specific_catchment_area": "m",
    "topographic_wetness_index": "ln(m)",
    "stream_power_index": "m",
    "sediment_transport_index": "1",
    "streams": "1",
    "drainage_density": "km/km2",
    "distance_to_stream": "m",
    "height_above_nearest_drainage": "m",
}


def _ctx(z: np.ndarray, cellsize: float = CS, **kw) -> FactorContext:
    return FactorContext.from_array(np.asarray(z, dtype=np.float32), cellsize=cellsize, **kw)


def _v(da) -> np.ndarray:
    return np.asarray(da.values, dtype=np.float64)


def v_valley(nrow: int = 41, ncol: int = 31) -> tuple[np.ndarray, int]:
    """Two planes sloping (SIDE) to a channel in column c0 that slopes (ALONG) north to row 0."""
    r, c = np.mgrid[0:nrow, 0:ncol]
    c0 = ncol // 2
    z = 100.0 + SIDE * CS * np.abs(c - c0) + ALONG * CS * r
    return z.astype(np.float32), c0


def tilted_plane(nrow: int = 41, ncol: int = 61, slope: float = 0.1) -> np.ndarray:
    """A plane rising southwards: flow runs north; row nrow-1 is the divide."""
    r = np.mgrid[0:nrow, 0:ncol][0]
    return (50.0 + slope * CS * r).astype(np.float32)


# ----------------------------------------------------------------------------- registry


def test_registered_with_units_and_whole_grid():
    factors = available_factors()
    for name, units in HYDROLOGY_FACTORS.items():
        spec = factors[name]
        assert (spec.units, spec.whole_grid) == (units, True), name
        assert "whole-grid" in " ".join(spec.func.__doc__.lower().split()), name


# ----------------------------------------------------------------------------- 1. V-shaped valley


@pytest.mark.parametrize("method", ["d8", "mfd", "quinn"])
def test_valley_all_flow_reaches_the_outlet(method):
    z, c0 = v_valley()
    acc = _v(hy.flow_accumulation(_ctx(z), method=method, outflow="outlets"))
    # the outlet collects every cell, itself included
    np.testing.assert_allclose(acc[0, c0], z.size, rtol=1e-6)
    assert acc.min() >= 1.0
    area = _v(hy.catchment_area(_ctx(z), method=method, outflow="outlets"))
    np.testing.assert_allclose(area[0, c0], z.size * CS**2, rtol=1e-6)


@pytest.mark.parametrize("method", ["d8", "mfd", "quinn"])
def test_valley_with_rim_loses_nothing_when_extrapolating(method):
    # a rim on all sides except the outlet notch: nothing leaves across the border but the outlet
    z, c0 = v_valley()
    z[0, :] = z[-1, :] = z[:, 0] = z[:, -1] = 200.0
    z[0, c0] = 100.0
    acc = _v(hy.flow_accumulation(_ctx(z), method=method))
    np.testing.assert_allclose(acc[0, c0], z.size, rtol=1e-6)


def test_valley_extrapolated_border_lets_flow_leave():
    z, c0 = v_valley()
    acc = _v(hy.flow_accumulation(_ctx(z), method="mfd"))  # default outflow="extrapolate"
    assert 0.8 * z.size < acc[0, c0] < z.size


def test_valley_d8_channel_accumulation_grows_downstream():
    z, c0 = v_valley()
    acc = _v(hy.flow_accumulation(_ctx(z), method="d8", outflow="outlets"))
    channel = acc[:, c0]  # row 0 = outlet
    assert np.all(np.diff(channel) < 0)
    # D8 on the planes runs straight across to the channel: each channel cell adds one row
    np.testing.assert_array_equal(-np.diff(channel), z.shape[1])


# ----------------------------------------------------------------------------- 2. filling


def test_pit_is_filled_and_drains():
    z = tilted_plane(31, 31)
    z[15, 15] -= 5.0  # a 5 m pit
    z[15, 16] -= 2.0
    ctx = _ctx(z)
    filled = _v(hy.filled_dem(ctx))
    assert np.all(filled >= z)
    changed = np.argwhere(filled > z)
    assert {tuple(p) for p in changed} == {(15, 15), (15, 16)}
    # raised to the pour point: the lowest neighbour of the depression
    pour = min(z[r, c] for r in range(14, 17) for c in range(14, 18) if (r, c) not in {(15, 15), (15, 16)})
    np.testing.assert_allclose(filled[15, 15:17], pour)
    # no interior pit remains: every interior cell has a neighbour at most as high
    win_min = ndimage.minimum_filter(filled, footprint=np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]]))
    assert np.all(win_min[1:-1, 1:-1] <= filled[1:-1, 1:-1])
    # filled: all flow leaves at row 0; unfilled: the pit keeps its catchment
    kw = {"method": "mfd", "outflow": "outlets"}
    acc_f = _v(hy.flow_accumulation(ctx, fill=True, **kw))
    acc_u = _v(hy.flow_accumulation(ctx, fill=False, **kw))
    np.testing.assert_allclose(acc_f[0].sum(), z.size, rtol=1e-6)
    np.testing.assert_allclose(acc_u[0].sum() + acc_u[15, 15], z.size, rtol=1e-6)
    assert acc_u[15, 15] > 10


def test_flat_terrace_drains_across_not_to_the_sides():
    # a level terrace over the full width (rows 10-19); MFD must carry flow across it
    z = tilted_plane(41, 41)
    z[10:20] = z[20, 0]
    acc = _v(hy.flow_accumulation(_ctx(z), method="mfd", outflow="outlets"))
    centre = acc[:, 15:26]
    # the accumulation still grows by one per row down the middle of the grid
    np.testing.assert_allclose(centre[9], 41 - 9, rtol=0.02)
    np.testing.assert_allclose(acc[0].sum(), z.size, rtol=1e-6)
    dist = routing_kernels.flat_distance(z, False)
    # rows 11-20 (row 20 shares the terrace's elevation) are flat; row 10 drains to row 9
    np.testing.assert_array_equal(dist[11:21], np.broadcast_to(np.arange(1, 11)[:, None], (10, 41)))
    assert (dist[:11] == 0).all() and (dist[21:] == 0).all()


def test_mfd_kernel_matches_brute_force_in_elevation_order():
    rng = np.random.default_rng(11)
    z = ndimage.gaussian_filter(rng.normal(size=(40, 50)), 2.0) * 50 + np.mgrid[0:40, 0:50][0] * 0.5
    z = z.astype(np.float32)
    z[5:8, 30:34] = np.nan
    assert len(np.unique(z[np.isfinite(z)])) == np.isfinite(z).sum()  # no flats: order is unambiguous
    got = _v(hy.flow_accumulation(_ctx(z), method="mfd", outflow="outlets"))
    # reference: Freeman (1991) in descending elevation, flow only to valid lower neighbours
    ref = np.where(np.isfinite(z), 1.0, np.nan)
    order = np.argsort(np.where(np.isfinite(z), -z, np.inf), axis=None)
    for idx in order[: np.isfinite(z).sum()]:
        r, c = divmod(int(idx), z.shape[1])
        weights = {}
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                rr, cc = r + dr, c + dc
                if (dr or dc) and 0 <= rr < z.shape[0] and 0 <= cc < z.shape[1] and z[rr, cc] < z[r, c]:
                    weights[rr, cc] = ((float(z[r, c]) - float(z[rr, cc])) / math.hypot(dr, dc)) ** 1.1
        total = sum(weights.values())
        for (rr, cc), w in weights.items():
            ref[rr, cc] += ref[r, c] * w / total
    np.testing.assert_allclose(got, ref, rtol=1e-6, equal_nan=True)


# ----------------------------------------------------------------------------- 3. tilted plane


@pytest.mark.parametrize("method", ["mfd", "quinn", "d8"])
def test_plane_specific_catchment_area_is_upslope_length(method):
    nrow, ncol = 41, 61
    z = tilted_plane(nrow, ncol)
    a = _v(hy.specific_catchment_area(_ctx(z), method=method))
    rows = np.arange(5, nrow - 5)
    expected = (nrow - rows) * CS  # [m]: from the divide (south edge) to the cell's lower contour
    interior = a[5 : nrow - 5, 25:36]
    np.testing.assert_allclose(interior, np.broadcast_to(expected[:, None], interior.shape), rtol=0.05)


def test_plane_twi_spi_ls_follow_their_formulas():
    slope = 0.1
    z = tilted_plane(41, 61, slope)
    ctx = _ctx(z)
    a = _v(hy.specific_catchment_area(ctx))
    twi = _v(hy.topographic_wetness_index(ctx))
    spi = _v(hy.stream_power_index(ctx))
    ls = _v(hy.sediment_transport_index(ctx))
    np.testing.assert_allclose(twi, np.log(a / slope), rtol=1e-5)
    np.testing.assert_allclose(spi, a * slope, rtol=1e-5)
    sinb = math.sin(math.atan(slope))
    np.testing.assert_allclose(ls, (a / 22.13) ** 0.6 * (sinb / 0.0896) ** 1.3, rtol=1e-5)


def test_twi_clamps_flat_slopes():
    z = np.full((20, 20), 10.0, dtype=np.float32)
    ctx = _ctx(z)
    twi = _v(hy.topographic_wetness_index(ctx, min_slope=1e-3, outflow="outlets"))
    a = _v(hy.specific_catchment_area(ctx, outflow="outlets"))
    np.testing.assert_allclose(twi, np.log(a / 1e-3), rtol=1e-5)
    assert np.isfinite(twi).all()


def test_slope_helper_on_a_plane_including_the_border():
    r, c = np.mgrid[0:15, 0:12]
    z = (0.3 * CS * c - 0.4 * CS * r).astype(np.float32)  # tan β = 0.5
    z[6:8, 5:7] = np.nan
    tanb = routing_kernels.tan_slope(z, CS)
    np.testing.assert_allclose(tanb[np.isfinite(z)], 0.5, rtol=1e-5)
    assert np.isnan(tanb[6:8, 5:7]).all()


# ----------------------------------------------------------------------------- 4. SAGA reference


def _ecuador() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with rasterio.open(ecuador_path("ta.tif")) as src:
        names = list(src.descriptions)
        dem = src.read(names.index("elev") + 1)
        ref = src.read(names.index("log10_carea") + 1)
        assert src.res == (10.0, 10.0)
    # interior: 3 cells away from the border and from nodata
    interior = np.isfinite(ref) & np.isfinite(dem)
    interior &= ~ndimage.binary_dilation(~interior, iterations=3, border_value=1)
    return dem, ref, interior


def test_catchment_area_matches_saga_on_ecuador():
    """log10(MFD catchment area) against SAGA GIS's ``log10_carea`` of ta.tif.

    SAGA routed the DEM without filling it (fill=False matches, filling makes
    it worse), with MFD convergence 1.1 and its default "thresholded linear
    flow" from 500 cells on (D8 above). Our defaults (pure MFD, no fill) give
    r ≈ 0.97; adding ``linear_threshold=500 cells`` reproduces SAGA almost cell
    for cell (r ≈ 1.000, differences only downstream of the DEM's few flat
    cells, which SAGA treats as sinks and we drain).
    """
    dem, ref, interior = _ecuador()
    ctx = _ctx(dem, cellsize=10.0)
    variants = {
        "default (no fill)": {},
        "filled": {"fill": True},
        "SAGA settings": {"linear_threshold": 500 * 10.0**2},
    }
    stats = {}
    for label, kw in variants.items():
        x = np.log10(_v(hy.catchment_area(ctx, method="mfd", **kw)))[interior]
        y = ref[interior].astype(np.float64)
        r = float(np.corrcoef(x, y)[0, 1])
        stats[label] = (r, float(np.median(np.abs(x - y))), float(np.mean(np.abs(x - y) < 1e-3)))
        print(f"{label:>18}: r = {r:.5f}, median |diff| = {stats[label][1]:.2e}, within 1e-3: {stats[label][2]:.4f}")
    r, mad, _ = stats["default (no fill)"]
    assert r >= 0.95 and mad < 0.01
    assert stats["filled"][0] < r  # SAGA did not fill
    r, mad, close = stats["SAGA settings"]
    assert r >= 0.999 and mad < 1e-4 and close > 0.99


# ----------------------------------------------------------------------------- 5. streams, distance, density, HAND


def test_streams_distance_hand_on_the_valley():
    z, c0 = v_valley()
    ctx = _ctx(z)
    kw = {"threshold": 20, "unit": "cells"}  # planes hold at most 15 cells, the channel 31 or more
    s = _v(hy.streams(ctx, **kw))
    expected = np.zeros_like(s)
    expected[:, c0] = 1
    np.testing.assert_array_equal(s, expected)
    # the same network from an area threshold [m2]
    np.testing.assert_array_equal(_v(hy.streams(ctx, threshold=20 * CS**2)), s)

    dist = _v(hy.distance_to_stream(ctx, **kw))
    np.testing.assert_allclose(dist, ndimage.distance_transform_edt(s == 0, sampling=CS), rtol=1e-6)
    cols = np.arange(z.shape[1])
    np.testing.assert_allclose(dist, np.broadcast_to(np.abs(cols - c0) * CS, z.shape), rtol=1e-6)

    hand = _v(hy.height_above_nearest_drainage(ctx, **kw))
    assert np.all(hand[s == 1] == 0) and np.all(hand[s == 0] > 0)
    # D8 runs straight across the plane: HAND = side drop to the channel
    np.testing.assert_allclose(hand, np.broadcast_to(SIDE * CS * np.abs(cols - c0), z.shape), atol=1e-4)


def test_hand_kernel_matches_pyflwdir_on_ecuador():
    dem, _, _ = _ecuador()
    ctx = _ctx(dem, cellsize=10.0)
    hand = _v(hy.height_above_nearest_drainage(ctx, threshold=5e4))
    streams = _v(hy.streams(ctx, threshold=5e4)) == 1
    flw = hy._flwdir(ctx, fill=True, outflow="extrapolate")
    ref = flw.hand(drain=streams, elevtn=hy._filled(ctx))  # pyflwdir's Python loop
    valid = np.isfinite(dem)
    np.testing.assert_allclose(hand[valid], ref[valid], atol=1e-3)
    assert np.isnan(hand[~valid]).all() and hand[valid].min() >= 0 and (hand[streams] == 0).all()


def test_drainage_density_of_a_straight_stream():
    z, c0 = v_valley(61, 31)
    radius = 100.0  # [m] = 10 cells
    dd = _v(hy.drainage_density(_ctx(z), radius_m=radius, threshold=20, unit="cells"))
    # window centred on the channel, far from the border: 21 stream cells of 10 m each
    dy, dx = np.mgrid[-10:11, -10:11]
    ncells = int(np.count_nonzero(dy**2 + dx**2 <= 100))
    exact = (21 * CS / 1e3) / (ncells * CS**2 / 1e6)
    np.testing.assert_allclose(dd[30, c0], exact, rtol=1e-6)
    analytic = (2 * radius / 1e3) / (math.pi * radius**2 / 1e6)  # 2r / (π r²) [km/km2]
    np.testing.assert_allclose(dd[30, c0], analytic, rtol=0.05)
    # beyond the radius from the stream there is none
    assert dd[30, c0 + 11] == 0


# ----------------------------------------------------------------------------- 6. nodata


def test_nodata_hole_stays_nodata_and_the_rest_routes():
    z, c0 = v_valley()
    hole = np.zeros(z.shape, dtype=bool)
    hole[10:16, c0 + 3 : c0 + 7] = True
    z[hole] = np.nan
    ctx = _ctx(z)
    nvalid = int((~hole).sum())
    for method in ("d8", "mfd"):
        acc = _v(hy.flow_accumulation(ctx, method=method, outflow="outlets"))
        assert np.isnan(acc[hole]).all() and np.isfinite(acc[~hole]).all()
        np.testing.assert_allclose(acc[0, c0], nvalid, rtol=1e-6)
    # with the default outflow, flow running into the hole leaves there
    acc = _v(hy.flow_accumulation(ctx, method="mfd"))
    assert acc[0, c0] < nvalid
    stream_based = {"streams", "drainage_density", "distance_to_stream", "height_above_nearest_drainage"}
    for name in HYDROLOGY_FACTORS:
        params = {"threshold": 20, "unit": "cells"} if name in stream_based else {}
        out = compute_factor(name, ctx, params)
        assert (out.dtype, out.attrs["units"]) == (np.float32, HYDROLOGY_FACTORS[name]), name
        values = _v(out)
        assert np.isnan(values[hole]).all(), name
        assert np.isfinite(values[~hole]).all(), name


# ----------------------------------------------------------------------------- caching


def test_twi_spi_ls_share_one_routing(monkeypatch):
    ctx = _ctx(tilted_plane(20, 20))
    hy.topographic_wetness_index(ctx)
    assert "acc:mfd" in ctx.cache and "filled_dem" not in ctx.cache

    def fail(*args, **kwargs):
        raise AssertionError("routed twice")

    monkeypatch.setattr(routing_kernels, "mfd_accumulate", fail)
    hy.stream_power_index(ctx)
    hy.sediment_transport_index(ctx)
    hy.catchment_area(ctx)
    with pytest.raises(AssertionError, match="routed twice"):
        hy.catchment_area(ctx, exponent=1.0)  # another routing
    hy.filled_dem(ctx)
    assert "filled_dem" in ctx.cache


# ----------------------------------------------------------------------------- parameters and errors


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("catchment_area", {"method": "dinf"}, "'method' parameter of catchment_area must be one of"),
        ("flow_accumulation", {"unit": "km2"}, "'unit' parameter of flow_accumulation must be one of"),
        ("topographic_wetness_index", {"min_slope": 0}, "'min_slope' parameter .* positive number"),
        ("catchment_area", {"fill": "yes"}, "'fill' parameter of catchment_area must be true or false"),
        ("catchment_area", {"outflow": "mirror"}, "'outflow' parameter of catchment_area must be one of"),
        ("catchment_area", {"linear_threshold": -5}, "'linear_threshold' parameter .* positive"),
        ("streams", {"threshold": -1}, "'threshold' parameter of streams must be a positive number"),
        ("drainage_density", {"radius_m": 5.0}, "must be at least one cell"),
        ("distance_to_stream", {"threshold": 1e12}, "no cell drains .* lower the 'threshold'"),
        ("stream_power_index", {"slope": 3}, "stream_power_index does not take slope"),
    ],
)
def test_bad_parameters_are_study_config_errors(name, params, match):
    ctx = _ctx(tilted_plane(12, 12))
    with pytest.raises(StudyConfigError, match=match):
        compute_factor(name, ctx, params)


def test_geographic_grid_is_refused():
    ctx = FactorContext.from_array(tilted_plane(8, 8), cellsize=0.001, crs="EPSG:4326")
    with pytest.raises(AlignmentError, match="geographic"):
        hy.catchment_area(ctx)


def test_all_nodata_dem_is_refused():
    ctx = _ctx(np.full((5, 5), np.nan))
    with pytest.raises(ValueError, match="no valid cell"):
        hy.catchment_area(ctx)
