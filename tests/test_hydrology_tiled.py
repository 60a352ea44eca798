"""The hydrology factors with ``tiled: true`` equal the whole-grid ones (``tiled: false``).

Oracle: the same factor with ``tiled=False`` on the same context. Tiles are
made small by making the tile size follow the chunks (``TILE_CELLS`` = 32
cells, chunks of 16), so every grid here spans several tiles and chunks.
Bit-identical for the fill, D8 and its areas, TWI, SPI, LS, streams and
drainage density; HAND and MFD to float rounding; ``distance_to_stream``
equals min(whole-grid EDT, cap).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml

from conftest import write_raster
from susmap.datasets import ecuador_path
from susmap.errors import StudyConfigError
from susmap.factors import hydrology as hy
from susmap.factors import hydrology_tiled as ht
from susmap.factors.registry import FactorContext, compute_factor, factor_parameters, get_factor, holds_whole_grid
from synthetic_dems import crater, spiral_valley, valleys_with_holes

CS = 10.0  # [m]
CHUNKS = 16


@pytest.fixture(autouse=True)
def small_tiles(monkeypatch):
    """Tiles of 32 cells (two chunks of 16)."""
    monkeypatch.setattr(ht, "TILE_CELLS", 32)


CASES = {"crater": crater, "holes": valleys_with_holes, "spiral": lambda: spiral_valley(ripple=3)[0]}


def _ctx(dem: np.ndarray) -> FactorContext:
    return FactorContext.from_array(dem, cellsize=CS, chunks=CHUNKS)


def _pair(ctx: FactorContext, factor: str, **params) -> tuple[np.ndarray, np.ndarray, object]:
    """(whole-grid, tiled) values of ``factor`` and the tiled DataArray."""
    whole = compute_factor(factor, ctx, params)
    tiled = compute_factor(factor, ctx, {**params, "tiled": True})
    return np.asarray(whole.values), np.asarray(tiled.values), tiled


def test_tile_size_follows_the_chunks(monkeypatch) -> None:
    monkeypatch.setattr(ht, "TILE_CELLS", 1024)
    sizes = {c: ht.tile_size(FactorContext.from_array(np.zeros((4, 4)), chunks=c)) for c in (64, 256, 512, 600, 2048)}
    assert sizes == {64: 1024, 256: 1024, 512: 1024, 600: 1200, 2048: 2048}


@pytest.mark.parametrize("case", sorted(CASES))
def test_d8_fill_routing_factors_bit_identical(case: str) -> None:
    ctx = _ctx(CASES[case]())
    whole, tiled, arr = _pair(ctx, "filled_dem")
    assert np.array_equal(whole, tiled, equal_nan=True)
    assert hasattr(arr.data, "dask") and arr.data.chunksize == (CHUNKS, CHUNKS)  # lazy, in the study's chunks
    for factor, params in (
        ("flow_accumulation", {"unit": "cells"}),
        ("flow_accumulation", {"unit": "m2"}),
        ("catchment_area", {}),
        ("specific_catchment_area", {}),
        ("topographic_wetness_index", {"min_slope": 0.01}),
        ("stream_power_index", {}),
        ("sediment_transport_index", {"area_exponent": 0.5}),
    ):
        whole, tiled, arr = _pair(ctx, factor, method="d8", fill=True, **params)
        assert np.array_equal(whole, tiled, equal_nan=True), (factor, params)
        assert arr.attrs["fill"] == 1 and arr.attrs["method"] == "d8"
    # one filled DEM and one accumulation shared by every factor
    assert {k for k in ctx.cache if k.startswith("hydrology:tiled:")} >= {
        "hydrology:tiled:filled_dem",
        "hydrology:tiled:d8:fill=True:extrapolate=True",
    }
    assert not any(k.startswith("hydrology:tiled:acc:d8") for k in ctx.cache)


@pytest.mark.parametrize("outflow", ["extrapolate", "outlets"])
def test_d8_unfilled_and_outflows_bit_identical(outflow: str) -> None:
    ctx = _ctx(valleys_with_holes())
    for factor in ("flow_accumulation", "topographic_wetness_index", "stream_power_index", "sediment_transport_index"):
        for fill in (False, True):
            whole, tiled, _ = _pair(ctx, factor, method="d8", fill=fill, outflow=outflow)
            assert np.array_equal(whole, tiled, equal_nan=True), (factor, fill)


@pytest.mark.parametrize("case", sorted(CASES))
def test_stream_factors(case: str) -> None:
    ctx = _ctx(CASES[case]())
    stream = {"threshold": 30, "unit": "cells"}
    whole, tiled, _ = _pair(ctx, "streams", **stream)
    assert np.array_equal(whole, tiled, equal_nan=True)
    assert np.nansum(whole) > 20
    for radius in (10.0, 55.0, 250.0):  # one cell; a halo of 6 cells; a halo wider than a tile
        whole, tiled, _ = _pair(ctx, "drainage_density", radius_m=radius, **stream)
        assert np.array_equal(whole, tiled, equal_nan=True), radius
    whole, tiled, _ = _pair(ctx, "height_above_nearest_drainage", **stream)
    assert np.array_equal(np.isnan(whole), np.isnan(tiled))
    np.testing.assert_allclose(tiled, whole, rtol=1e-6, atol=1e-4)
    full = compute_factor("distance_to_stream", ctx, stream).values
    for cap in (25.0, 80.0, 1e4):
        tiled = compute_factor("distance_to_stream", ctx, {**stream, "tiled": True, "max_distance_m": cap})
        assert np.array_equal(tiled.values, np.minimum(full, np.float32(cap)), equal_nan=True), cap
        assert tiled.attrs["max_distance_m"] == cap
        capped = compute_factor("distance_to_stream", ctx, {**stream, "max_distance_m": cap}).values
        assert np.array_equal(capped, tiled.values, equal_nan=True)


def test_cap_reached_far_from_streams() -> None:
    """A plane draining north: streams only in the last rows; cells farther than the cap read the cap."""
    r = np.mgrid[0:60, 0:40][0]
    ctx = _ctx((50.0 + 1.0 * r).astype(np.float32))
    got = compute_factor(
        "distance_to_stream", ctx, {"threshold": 50, "unit": "cells", "tiled": True, "max_distance_m": 100.0}
    )
    streams = compute_factor("streams", ctx, {"threshold": 50, "unit": "cells"}).values
    first = int(np.argmax(streams.any(axis=1)))  # streams: rows 0..(60-50) drain 50 cells or more
    assert first == 0 and streams[: 60 - 49].all() and not streams[60 - 49 :].any()
    expected = np.minimum((np.arange(60) - (60 - 50)).clip(0) * CS, 100.0)
    np.testing.assert_array_equal(got.values, np.repeat(expected[:, None], 40, axis=1).astype(np.float32))


def test_bad_parameters_are_clear() -> None:
    ctx = _ctx(crater(40, 40))
    with pytest.raises(StudyConfigError, match="'tiled: true' needs 'max_distance_m'"):
        compute_factor("distance_to_stream", ctx, {"tiled": True})
    with pytest.raises(StudyConfigError, match="'max_distance_m' parameter of distance_to_stream must be a positive"):
        compute_factor("distance_to_stream", ctx, {"tiled": True, "max_distance_m": -5})
    for factor in hy.__all__:
        if callable(getattr(hy, factor)):
            with pytest.raises(StudyConfigError, match=f"'tiled' parameter of {factor} must be true or false"):
                compute_factor(factor, ctx, {"tiled": "yes"})
    with pytest.raises(StudyConfigError, match="no cell drains"):
        compute_factor("distance_to_stream", ctx, {"threshold": 1e9, "tiled": True, "max_distance_m": 50})


def test_parameters_documented_and_not_whole_grid() -> None:
    for factor in hy.__all__:
        func = getattr(hy, factor)
        if not callable(func):
            continue
        params = {p.name: p for p in factor_parameters(func)}
        assert params["tiled"].default == "false" and "tiles" in params["tiled"].meaning, factor
        assert holds_whole_grid(factor, {}) and not holds_whole_grid(factor, {"tiled": True})
    assert "max_distance_m" in {p.name for p in factor_parameters(get_factor("distance_to_stream").func)}


def test_work_folder_of_the_context(tmp_path) -> None:
    ctx = _ctx(crater(40, 40))
    ctx.workdir = tmp_path / "work"
    compute_factor("topographic_wetness_index", ctx, {"method": "d8", "fill": True, "tiled": True})
    assert sorted(p.name for p in ctx.workdir.iterdir()) == [
        "acc_d8_fill_True_extrapolate_True.tif",
        "acc_d8_fill_True_extrapolate_True_dirs.tif",
        "filled_dem.tif",
        "twi_acc_d8_fill_min_slope_0.001.tif",
    ]
    ctx = _ctx(crater(40, 40))  # no workdir: a temporary folder kept by the context
    compute_factor("filled_dem", ctx, {"tiled": True})
    tmp = ctx.cache["hydrology:tiled:tmpdir"]
    assert (Path(tmp.name) / "filled_dem.tif").exists()
    tmp.cleanup()


# ----------------------------------------------------------------------------- derive_factors


def _study(tmp_path, tiled: bool, factors: list[dict] | None = None):
    from susmap.study import study_from_dict

    with rasterio.open(ecuador_path("ta.tif")) as src:
        elev = src.read(4, window=((100, 180), (120, 210)))
        transform = src.window_transform(((100, 180), (120, 210)))
    p_dem = tmp_path / "dem.tif"
    if not p_dem.exists():
        write_raster(p_dem, elev.astype(np.float32), transform=transform, nodata=None)
    stream = {"threshold": 40, "unit": "cells"}
    factors = factors or [
        {"name": "twi", "factor": "topographic_wetness_index", "params": {"method": "d8", "fill": True}},
        {"name": "spi", "factor": "stream_power_index", "params": {"method": "d8", "fill": True}},
        {"name": "streams", "factor": "streams", "params": stream},
        {"name": "dd", "factor": "drainage_density", "params": {**stream, "radius_m": 60}},
        {"name": "hand", "factor": "height_above_nearest_drainage", "params": stream},
    ]
    for f in factors:
        f["params"] = {**f.get("params", {}), "tiled": tiled}
    text = yaml.safe_dump(
        {
            "grid": {"template": str(p_dem)},
            "factors": factors,
            "inventory": {"path": str(tmp_path / "none.csv"), "x": "x", "y": "y", "crs": "EPSG:32717"},
            "mapping": {"chunk_size": CHUNKS},
        }
    )
    return study_from_dict(yaml.safe_load(text))


def test_derive_tiled_equals_whole_grid_and_cleans_up(tmp_path) -> None:
    from susmap.factors.derive import derive_factors

    out = {}
    for tiled in (False, True):
        folder = tmp_path / f"factors_{tiled}"
        derived = derive_factors(_study(tmp_path, tiled), folder)
        out[tiled] = {}
        for d in derived:
            with rasterio.open(d.path) as src:
                out[tiled][d.name] = src.read(1)
        assert sorted(p.name for p in folder.iterdir()) == sorted(f"{d.name}.tif" for d in derived)  # no .tiles
    for name, whole in out[False].items():
        if name == "hand":
            np.testing.assert_allclose(out[True][name], whole, rtol=1e-6, atol=1e-4)
        else:
            assert np.array_equal(out[True][name], whole, equal_nan=True), name


def test_derive_removes_the_work_folder_on_error(tmp_path, monkeypatch) -> None:
    from susmap.factors import derive

    def boom(*args, **kwargs):
        assert (tmp_path / "f" / ".tiles" / "filled_dem.tif").exists()  # the tiled rasters were there
        raise RuntimeError("disk full")

    monkeypatch.setattr(derive, "write_factor_rasters", boom)
    study = _study(tmp_path, True, [{"name": "z", "factor": "filled_dem"}])
    with pytest.raises(RuntimeError, match="disk full"):
        derive.derive_factors(study, tmp_path / "f")
    assert not (tmp_path / "f" / ".tiles").exists()


@pytest.mark.parametrize("method", ["mfd", "quinn"])
def test_mfd_and_quinn_to_float_rounding(method: str) -> None:
    ctx = _ctx(valleys_with_holes())
    for fill, outflow, linear in ((False, "extrapolate", None), (True, "outlets", 20 * CS**2)):
        opts = {"method": method, "fill": fill, "outflow": outflow, "linear_threshold": linear}
        for factor in ("flow_accumulation", "topographic_wetness_index", "stream_power_index"):
            whole, tiled, _ = _pair(ctx, factor, **opts)
            assert np.array_equal(np.isnan(whole), np.isnan(tiled)), (factor, opts)
            np.testing.assert_allclose(tiled, whole, rtol=1e-5, atol=1e-5, err_msg=f"{factor} {opts}")
    stream = {"threshold": 30, "unit": "cells", "method": method}
    whole, tiled, _ = _pair(ctx, "streams", **stream)
    assert np.array_equal(whole, tiled, equal_nan=True)  # no accumulation within rounding of the threshold here
    whole, tiled, _ = _pair(ctx, "height_above_nearest_drainage", **stream)
    np.testing.assert_allclose(tiled, whole, rtol=1e-6, atol=1e-4)
