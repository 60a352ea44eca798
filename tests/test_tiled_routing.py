"""Tiled fill and D8 accumulation equal the whole-grid routines (Barnes 2016, 2017) on synthetic worst cases.

Reference: what :mod:`susmap.factors.hydrology` computes for ``filled_dem``
(``pyflwdir.dem.fill_depressions`` with NaN nodata) and for the D8
accumulation (``flat_distance`` -> ``d8_directions`` -> pyflwdir's
``upstream_area`` in cells). The fill must be bit-identical, the cell counts
exact, for tiles of 7, 16 and 33 cells and one tile holding the whole grid.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pyflwdir
import pytest
import rasterio
from rasterio.transform import from_origin

from susmap.errors import SusmapError
from susmap.factors import hydrology as hy
from susmap.factors import routing_kernels as rk
from susmap.factors.registry import FactorContext
from susmap.factors.tiled_routing import (
    RasterTiles,
    RasterWriter,
    tiled_d8_accumulation,
    tiled_fill,
    tiled_flow_index,
    tiled_hand,
    tiles,
)
from synthetic_dems import crater, fractal, spiral_valley, terraces, whole_fill, with_holes

TILES = (7, 16, 33, 10_000)


def whole_d8_acc(surface: np.ndarray, extrapolate: bool = True) -> np.ndarray:
    dist = rk.flat_distance(surface, extrapolate)
    d8 = rk.d8_directions(surface, dist, extrapolate)
    acc = pyflwdir.from_array(d8, ftype="d8", check_ftype=False).upstream_area(unit="cell").astype(np.float32)
    acc[np.isnan(surface)] = np.nan
    return acc


CASES = {
    "spiral": lambda: spiral_valley()[0],
    "crater": crater,
    "terraces": terraces,
    "holes": lambda: with_holes(fractal(70, 66, seed=5)),
    "fractal": fractal,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fill_and_d8_equal_whole_grid(case: str) -> None:
    dem = CASES[case]()
    filled = whole_fill(dem)
    acc = whole_d8_acc(filled)
    for tile in TILES:
        got = tiled_fill(dem, tile=tile)
        assert np.array_equal(got, filled, equal_nan=True), (case, tile)
        got_acc = tiled_d8_accumulation(filled, tile=tile)
        assert np.array_equal(got_acc, acc, equal_nan=True), (case, tile)


@pytest.mark.parametrize("case", ["crater", "terraces", "holes"])
def test_unfilled_and_outlets_routing_equal_whole_grid(case: str) -> None:
    """fill=False (pits, closed flats left unresolved) and outflow='outlets' route as the whole grid does."""
    dem = CASES[case]()
    for extrapolate in (True, False):
        acc = whole_d8_acc(dem, extrapolate)
        for tile in (7, 16):
            got = tiled_d8_accumulation(dem, tile=tile, extrapolate=extrapolate)
            assert np.array_equal(got, acc, equal_nan=True), (case, extrapolate, tile)


def test_spiral_collects_the_whole_corridor() -> None:
    """Known answer: the corridor's exit on the border drains every corridor cell, across many 7-cell tiles."""
    dem, path = spiral_valley()
    acc = tiled_d8_accumulation(tiled_fill(dem, tile=7), tile=7)
    assert len(path) > 1500
    assert acc[path[-1]] >= len(path)
    assert acc[path[0]] == 1  # the corridor's head at the centre


def test_flat_grid_drains_to_its_border() -> None:
    """Known answer on a level 9 × 9 grid: no cell drains, the border cells are outlets (count 1 + inflow)."""
    dem = np.full((9, 9), 100.0, dtype=np.float32)
    filled = tiled_fill(dem, tile=4)
    assert np.array_equal(filled, dem)
    acc = tiled_d8_accumulation(filled, tile=4)
    assert np.nansum(acc[[0, -1], :]) + np.nansum(acc[1:-1, [0, -1]]) == 81
    assert np.array_equal(acc, whole_d8_acc(dem))


def test_single_pit_filled_to_its_rim() -> None:
    """Known answer: a 3 × 3 pit (z 1) in a plateau (z 5) with one gap at z 3 fills to exactly 3."""
    dem = np.full((12, 12), 5.0, dtype=np.float32)
    dem[0, :] = dem[:, 0] = dem[-1, :] = dem[:, -1] = 0.0
    dem[5:8, 5:8] = 1.0
    dem[6, 8:11] = 3.0
    out = tiled_fill(dem, tile=5)
    assert np.all(out[5:8, 5:8] == 3.0)
    assert np.array_equal(out, whole_fill(dem))


def test_dask_input_raster_reader_and_writer(tmp_path) -> None:
    dem = with_holes(fractal(40, 50, seed=6))
    path = tmp_path / "dem.tif"
    profile = {
        "driver": "GTiff",
        "height": 40,
        "width": 50,
        "count": 1,
        "dtype": "float32",
        "nodata": -9999.0,
        "crs": "EPSG:32717",
        "transform": from_origin(500000, 9800000, 30, 30),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.where(np.isnan(dem), np.float32(-9999.0), dem), 1)
    filled = whole_fill(dem)
    assert np.array_equal(tiled_fill(da.from_array(dem, chunks=16), tile=16), filled, equal_nan=True)
    with RasterTiles(path) as src, RasterWriter(tmp_path / "filled.tif", src.shape, src.profile) as dst:
        tiled_fill(src, tile=16, out=dst)
    with RasterTiles(tmp_path / "filled.tif") as src:
        on_disk = src.read(0, 40, 0, 50)
    assert np.array_equal(on_disk, filled, equal_nan=True)
    acc = tiled_d8_accumulation(tmp_path / "filled.tif", tile=13)
    assert np.array_equal(acc, whole_d8_acc(filled), equal_nan=True)


def test_tiles_and_bad_input() -> None:
    assert tiles((5, 7), 3) == [(0, 3, 0, 3), (0, 3, 3, 6), (0, 3, 6, 7), (3, 5, 0, 3), (3, 5, 3, 6), (3, 5, 6, 7)]
    with pytest.raises(SusmapError, match="'tile'"):
        tiled_fill(np.zeros((4, 4), dtype=np.float32), tile=0)
    with pytest.raises(SusmapError, match="shape"):
        tiled_fill(np.zeros((4, 4), dtype=np.float32), tile=2, out=np.zeros((3, 3)))
    with pytest.raises(SusmapError, match="2-D"):
        tiled_fill(np.zeros(4, dtype=np.float32))


def test_equal_to_the_hydrology_factors() -> None:
    """The tiled chain equals the factors themselves: filled_dem, D8 accumulation, TWI, SPI and LS (d8, fill=True)."""
    dem = with_holes(fractal(60, 72, seed=7))
    cs = 12.5
    ctx = FactorContext.from_array(dem, cellsize=cs)
    filled = tiled_fill(dem, tile=16)
    assert np.array_equal(filled, hy.filled_dem(ctx).values, equal_nan=True)
    acc = tiled_d8_accumulation(filled, tile=16)
    assert np.array_equal(acc, hy.flow_accumulation(ctx, method="d8", fill=True).values, equal_nan=True)
    expected = {
        "twi": hy.topographic_wetness_index(ctx, method="d8", fill=True),
        "spi": hy.stream_power_index(ctx, method="d8", fill=True),
        "ls": hy.sediment_transport_index(ctx, method="d8", fill=True),
    }
    for index, want in expected.items():
        got = tiled_flow_index(filled, acc, cs, index=index, tile=16)
        assert np.array_equal(got, want.values, equal_nan=True), index
    with pytest.raises(SusmapError, match="'index'"):
        tiled_flow_index(filled, acc, cs, index="hand")


@pytest.mark.parametrize("case", ["spiral", "holes", "crater"])
def test_hand_equal_to_the_hydrology_factor(case: str) -> None:
    """HAND by tiles equals height_above_nearest_drainage to float rounding (paths crossing many tiles)."""
    dem = CASES[case]()
    ctx = FactorContext.from_array(dem, cellsize=10.0)
    want = hy.height_above_nearest_drainage(ctx, threshold=40, unit="cells").values
    for tile in (7, 16):
        filled = tiled_fill(dem, tile=tile)
        d8 = np.empty(dem.shape, dtype=np.uint8)
        acc = tiled_d8_accumulation(filled, tile=tile, directions=d8)
        got = tiled_hand(filled, d8, acc, threshold=40, tile=tile)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5, equal_nan=True)
        assert np.mean(got == want) > 0.95 - np.mean(np.isnan(want)), (case, tile)


@pytest.mark.parametrize("workers", ["1", "3"])
def test_results_do_not_depend_on_the_tile_threads(workers: str, monkeypatch, tmp_path) -> None:
    """Tiles solved on 1 or 3 threads (stored in tile order) give the same rasters, read from a file too."""
    monkeypatch.setenv("SUSMAP_TILE_WORKERS", workers)
    dem = with_holes(fractal(70, 66, seed=5))
    filled = whole_fill(dem)
    acc = whole_d8_acc(filled)
    assert np.array_equal(tiled_fill(dem, tile=9), filled, equal_nan=True)
    d8 = np.empty(dem.shape, dtype=np.uint8)
    assert np.array_equal(tiled_d8_accumulation(filled, tile=9, directions=d8), acc, equal_nan=True)
    profile = {"crs": "EPSG:32717", "transform": from_origin(500000, 9800000, 10, 10)}
    with RasterWriter(tmp_path / "f.tif", dem.shape, profile) as dst:
        dst[0 : dem.shape[0], 0 : dem.shape[1]] = filled
    twi = tiled_flow_index(tmp_path / "f.tif", acc, 10.0, tile=9)  # the file read by several threads
    assert np.array_equal(twi, tiled_flow_index(filled, acc, 10.0, tile=70), equal_nan=True)
    hand = tiled_hand(filled, d8, acc, threshold=40, tile=9)
    monkeypatch.setenv("SUSMAP_TILE_WORKERS", "1")
    assert np.array_equal(hand, tiled_hand(filled, d8, acc, threshold=40, tile=9), equal_nan=True)


def test_tile_workers_setting(monkeypatch) -> None:
    monkeypatch.setenv("SUSMAP_TILE_WORKERS", "0")
    with pytest.raises(SusmapError, match="SUSMAP_TILE_WORKERS"):
        tiled_fill(np.zeros((4, 4), dtype=np.float32), tile=2)
    monkeypatch.setenv("SUSMAP_TILE_WORKERS", "two")
    with pytest.raises(SusmapError, match="positive integer"):
        tiled_fill(np.zeros((4, 4), dtype=np.float32), tile=2)
