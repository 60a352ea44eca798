"""Tiled MFD / Quinn accumulation equals hydrology's whole-grid one on synthetic worst cases.

Reference: :func:`susmap.factors.hydrology.flow_accumulation` with
``method="mfd"`` or ``"quinn"`` (``routing_kernels.mfd_accumulate`` over
``flat_distance``), summed in float64 and kept in float32; the tiled result
sums the same terms in another order, so they agree to float32 rounding.
Cases: a spiral valley crossing tile edges dozens of times, a closed basin
larger than the tiles, terraced flats, fractal terrain with NaN holes; tiles
of 7, 16, (5, 13) and one tile holding the whole grid (not dividing the
shapes).
"""

from __future__ import annotations

import logging

import dask.array as da
import numpy as np
import pytest

from susmap.errors import SusmapError
from susmap.factors import hydrology as hy
from susmap.factors import routing_kernels as rk
from susmap.factors import tiled_mfd
from susmap.factors.registry import FactorContext
from susmap.factors.tiled_mfd import tiled_mfd_accumulation
from susmap.factors.tiled_routing import tiled_fill
from synthetic_dems import crater, fractal, noise_with_holes, spiral_valley, terraces, whole_fill

TILES = (7, 16, (5, 13), 10_000)
RTOL = 1e-5


def whole_mfd(surface: np.ndarray, quinn: bool, exponent: float, linear: float, extrapolate: bool) -> np.ndarray:
    dist = rk.flat_distance(surface, extrapolate)
    stack = np.empty(surface.size, dtype=np.int32)
    acc, _ = rk.mfd_accumulate(surface, dist, 1.0 if quinn else exponent, quinn, linear, extrapolate, stack)
    return acc.astype(np.float32)


CASES = {
    "spiral": lambda: spiral_valley()[0],
    "crater": crater,
    "terraces": terraces,
    "noise": noise_with_holes,
    "fractal": lambda: fractal(60, 66),
}


def check(surface: np.ndarray, tiles=TILES, **kw) -> None:
    quinn = kw.get("method", "mfd") == "quinn"
    want = whole_mfd(surface, quinn, kw.get("exponent", 1.1), kw.get("linear", 0.0), kw.get("extrapolate", True))
    for tile in tiles:
        got = tiled_mfd_accumulation(surface, tile, **kw)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=RTOL, equal_nan=True, err_msg=f"tile {tile}, {kw}")


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("method", ["mfd", "quinn"])
def test_filled_equals_whole_grid(case: str, method: str) -> None:
    check(whole_fill(CASES[case]()), method=method)


@pytest.mark.parametrize("case", ["crater", "terraces", "noise"])
def test_unfilled_outlets_and_linear_flow_equal_whole_grid(case: str) -> None:
    """fill=False (closed pits and unresolved flats), outflow "outlets", thresholded linear flow."""
    dem = CASES[case]()
    check(dem, tiles=(7, (5, 13)), method="mfd", exponent=1.7, extrapolate=False)
    check(dem, tiles=(7, 16), method="quinn", linear=12.5)
    check(whole_fill(dem), tiles=(7, (5, 13)), method="mfd", linear=30.25, extrapolate=False)


def test_spiral_corridor_collects_everything_through_many_tiles(caplog) -> None:
    """The spiral's flow crosses 5-cell tile edges dozens of times; the exit cell gets the whole catchment."""
    dem, _ = spiral_valley()
    for linear in (3.0, 0.0):  # re-solves push the change of the ring values only (with and without linear flow)
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="susmap.factors.tiled_mfd"):
            got = tiled_mfd_accumulation(dem, 5, linear=linear)
        want = whole_mfd(dem, False, 1.1, linear, True)
        np.testing.assert_allclose(got, want, rtol=RTOL)
        exit_cell = np.unravel_index(np.argmax(want), want.shape)
        assert got[exit_cell] > 0.5 * dem.size
        partial = int(caplog.text.split(" partial")[0].rsplit("(", 1)[1])
        assert partial > 0, caplog.text


def test_flat_grid_and_single_cell_tiles() -> None:
    """A flat grid drains to its border along the flat distances; tiles of one cell still give the same result."""
    flat = np.full((9, 11), 7.0, dtype=np.float32)
    check(flat, tiles=(1, 2, 4), method="mfd")
    check(flat, tiles=(1, 3), method="quinn", extrapolate=False)
    # hand-computed: a 1 x 3 plateau with the grid border all around, outflow "outlets": every cell is an outlet
    got = tiled_mfd_accumulation(np.full((1, 3), 5.0, dtype=np.float32), 1, extrapolate=False)
    np.testing.assert_array_equal(got, np.ones((1, 3), dtype=np.float32))


def test_plane_hand_computed() -> None:
    """A plane falling east with linear flow from 0.5 cells on (all D8, east): column j accumulates j + 1 cells."""
    plane = np.tile(np.arange(10, 0, -1, dtype=np.float32), (6, 1))
    got = tiled_mfd_accumulation(plane, (2, 3), linear=0.5, extrapolate=False)
    np.testing.assert_allclose(got, np.tile(np.arange(1, 11, dtype=np.float32), (6, 1)), rtol=1e-6)


def test_equal_to_the_hydrology_factor_dask_input_and_out() -> None:
    """The public factor (fill True / False, linear_threshold in m2) on a DEM with holes; dask input, given out."""
    dem = noise_with_holes(40, 45, seed=8)
    cs = 10.0
    ctx = FactorContext.from_array(dem, cellsize=cs)
    filled = tiled_fill(dem, tile=16)
    for method in ("mfd", "quinn"):
        want = hy.flow_accumulation(ctx, method=method, fill=True).values
        out = np.zeros(dem.shape, dtype=np.float32)
        got = tiled_mfd_accumulation(da.from_array(filled, chunks=11), (9, 16), out, method=method)
        assert got is out
        np.testing.assert_allclose(out, want, rtol=RTOL, equal_nan=True)
        want = hy.flow_accumulation(ctx, method=method, fill=False, linear_threshold=20 * cs**2, outflow="outlets")
        got = tiled_mfd_accumulation(dem, 8, method=method, linear=20.0, extrapolate=False)
        np.testing.assert_allclose(got, want.values, rtol=RTOL, equal_nan=True)


def test_windows_parked_on_disk(tmp_path, monkeypatch) -> None:
    """With the in-memory budget at 0 the extended windows go to npy files under ``workdir``, removed at the end."""
    monkeypatch.setattr(tiled_mfd, "_IN_MEMORY", 0)
    dem = whole_fill(crater())
    want = whole_mfd(dem, True, 1.0, 25.0, True)
    got = tiled_mfd_accumulation(dem, (16, 23), method="quinn", linear=25.0, workdir=tmp_path)
    np.testing.assert_allclose(got, want, rtol=RTOL)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("method", ["mfd", "quinn"])
def test_larger_fractal_with_holes(method: str) -> None:
    """600 x 520 fractal terrain with NaN blobs: filled and not, linear flow on and off, tiles of 64 and (100, 150)."""
    dem = fractal(600, 520, seed=9)
    rng = np.random.default_rng(9)
    for r, c, s in zip(rng.integers(0, 600, 40), rng.integers(0, 520, 40), rng.integers(2, 9, 40), strict=True):
        dem[max(r - s, 0) : r + s, max(c - s, 0) : c + s] = np.nan
    for surface in (whole_fill(dem), dem):
        check(surface, tiles=(64, (100, 150)), method=method)
        check(surface, tiles=(64,), method=method, linear=200.5, extrapolate=False)


def test_bad_input() -> None:
    dem = np.zeros((4, 4), dtype=np.float32)
    with pytest.raises(SusmapError, match=r"'method'.*'mfd', 'quinn'.*'d8'"):
        tiled_mfd_accumulation(dem, 2, method="d8")
    for bad in (0, -1.0, np.nan, "1", True):
        with pytest.raises(SusmapError, match=r"'exponent'.*positive"):
            tiled_mfd_accumulation(dem, 2, exponent=bad)
    with pytest.raises(SusmapError, match=r"'linear'.*non-negative"):
        tiled_mfd_accumulation(dem, 2, linear=-5)
    with pytest.raises(SusmapError, match="'extrapolate'"):
        tiled_mfd_accumulation(dem, 2, extrapolate="yes")
    with pytest.raises(SusmapError, match="'tile'"):
        tiled_mfd_accumulation(dem, 0)
    with pytest.raises(SusmapError, match="shape"):
        tiled_mfd_accumulation(dem, 2, out=np.zeros((3, 3)))
    with pytest.raises(SusmapError, match="2-D"):
        tiled_mfd_accumulation(np.zeros(4, dtype=np.float32))
