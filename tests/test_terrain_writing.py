"""Writing derived factors (susmap.factors.factor_writer): same values, valid COGs, overviews as GDAL's.

Oracles: the previous writer (:func:`susmap.mapping.writer.write_lazy_rasters`,
whose overviews GDAL's COG driver computes) for values, overviews, tags and
nodata; rio-cogeo's ``cog_validate`` for the layout; 2 x 2 means worked by
hand for :func:`mean_2x2`.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from susmap.datasets import ecuador_path
from susmap.errors import OutputError
from susmap.factors import FactorContext
from susmap.factors.factor_writer import mean_2x2, overview_count, write_factor_rasters
from susmap.factors.terrain import derivative_stack
from susmap.mapping.writer import RasterTarget, write_lazy_rasters

cogeo = pytest.importorskip("rio_cogeo.cogeo")

OUTPUTS = ("slope_degrees", "aspect", "plan_curvature", "profile_curvature")


def _dem(rows: int = 700, cols: int = 600) -> np.ndarray:
    """A smooth synthetic DEM [m] with a NaN hole (nodata inside) and a NaN corner."""
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float64)
    z = 800 + 40 * np.sin(x / 37.0) * np.cos(y / 53.0) + 0.3 * x + 0.05 * (y - 300) ** 2 / 30
    z[300:320, 200:260] = np.nan
    z[:15, :9] = np.nan
    return z.astype(np.float32)


def _targets(folder, ctx: FactorContext, compress: str = "deflate") -> list[RasterTarget]:
    stack = derivative_stack(ctx.dem.data, ctx.cellsize, OUTPUTS, chunks=ctx.chunks)
    return [
        RasterTarget(
            folder / f"{name}.tif",
            stack[i],
            description=f"{name}: test [units]",
            tags={"factor": name, "units": "x"},
            compress=compress,
        )
        for i, name in enumerate(OUTPUTS)
    ]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The four derivatives of a 700 x 600 DEM (chunks of 128) by the new writer and by the previous one."""
    ctx = FactorContext.from_array(_dem(), cellsize=10.0, chunks=128)
    new, old = tmp_path_factory.mktemp("new"), tmp_path_factory.mktemp("old")
    write_factor_rasters(_targets(new, ctx), ctx.grid, band_bytes=1)  # one block row per band
    write_lazy_rasters(_targets(old, ctx), ctx.grid)
    return ctx, new, old


def test_mean_2x2_is_the_mean_of_the_valid_cells_odd_edges_included():
    block = np.array(
        [
            [1.0, 3.0, 5.0, 7.0, 9.0],
            [2.0, np.nan, 6.0, 8.0, 10.0],
            [np.nan, np.nan, 1.0, 2.0, 4.0],
        ],
        dtype=np.float32,
    )
    expected = np.array([[2.0, 6.5, 9.5], [np.nan, 1.5, 4.0]], dtype=np.float32)  # (1+3+2)/3, (5+7+6+8)/4, ...
    np.testing.assert_array_equal(mean_2x2(block), expected)


@pytest.mark.parametrize(("shape", "levels"), [((256, 256), 0), ((257, 10), 1), ((700, 600), 2), ((4000, 4000), 4)])
def test_overview_count_halves_until_one_tile(shape, levels):
    assert overview_count(*shape) == levels


def test_values_overviews_and_metadata_equal_the_previous_writer(written):
    _, new, old = written
    for name in OUTPUTS:
        with rasterio.open(new / f"{name}.tif") as a, rasterio.open(old / f"{name}.tif") as b:
            np.testing.assert_allclose(a.read(1), b.read(1), rtol=0, atol=1e-6, equal_nan=True)
            assert np.array_equal(a.read(1), b.read(1), equal_nan=True)  # the same arrays: bit for bit
            assert a.overviews(1) == b.overviews(1) == [2, 4]
            for f in a.overviews(1):
                shape = (-(-a.height // f), -(-a.width // f))
                np.testing.assert_allclose(
                    a.read(1, out_shape=shape), b.read(1, out_shape=shape), rtol=1e-6, atol=1e-7, equal_nan=True
                )
            assert a.tags() == b.tags() and a.tags()["factor"] == name
            assert a.descriptions == b.descriptions == (f"{name}: test [units]",)
            assert np.isnan(a.nodata) and a.crs == b.crs and a.transform == b.transform
    assert not list(new.glob(".*")), "part files left behind"


def test_files_are_valid_tiled_cogs_with_the_chosen_compression(written, tmp_path):
    ctx, new, _ = written
    for name in OUTPUTS:
        valid, errors, warnings = cogeo.cog_validate(str(new / f"{name}.tif"), quiet=True)
        assert valid and not errors and not warnings, (name, errors, warnings)
        with rasterio.open(new / f"{name}.tif") as src:
            assert src.profile["compress"] == "deflate" and src.profile["tiled"]
            assert src.block_shapes == [(256, 256)]
    write_factor_rasters(_targets(tmp_path, ctx, compress="zstd")[:1], ctx.grid)
    with rasterio.open(tmp_path / "slope_degrees.tif") as src:
        assert src.profile["compress"] == "zstd"
    assert cogeo.cog_validate(str(tmp_path / "slope_degrees.tif"), quiet=True)[0]


def test_lerc_is_lossless_and_reruns_are_byte_identical(written, tmp_path):
    ctx, new, _ = written
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        write_factor_rasters(_targets(tmp_path / run, ctx, compress="lerc_deflate")[:2], ctx.grid)
    for name in OUTPUTS[:2]:
        assert (tmp_path / "a" / f"{name}.tif").read_bytes() == (tmp_path / "b" / f"{name}.tif").read_bytes()
        with rasterio.open(tmp_path / "a" / f"{name}.tif") as a, rasterio.open(new / f"{name}.tif") as b:
            assert a.profile["compress"] == "lerc_deflate"
            assert np.array_equal(a.read(1), b.read(1), equal_nan=True)


def test_the_predictor_is_used_where_it_pays(tmp_path):
    """The Ecuador DEM compresses far better with the floating-point predictor; its plan curvature does not."""
    with rasterio.open(ecuador_path("ta.tif")) as src:
        z = src.read(4)
    ctx = FactorContext.from_array(z, cellsize=10.0, chunks=128)
    dem = RasterTarget(tmp_path / "dem.tif", ctx.dem.data, description="dem", compress="deflate")
    plan = _targets(tmp_path, ctx)[2]
    write_factor_rasters([dem, plan], ctx.grid)
    with rasterio.open(tmp_path / "dem.tif") as a, rasterio.open(tmp_path / "plan_curvature.tif") as b:
        assert a.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == "3"
        assert b.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") is None
        assert np.array_equal(a.read(1), z, equal_nan=True)
    assert cogeo.cog_validate(str(tmp_path / "dem.tif"), quiet=True)[0]


def test_blocks_that_do_not_halve_evenly_leave_the_overviews_to_gdal(tmp_path):
    """Chunks of 100 cells: 100 is not a multiple of 4 (two overview levels), so GDAL computes them."""
    ctx = FactorContext.from_array(_dem(), cellsize=10.0, chunks=100)
    write_factor_rasters(_targets(tmp_path, ctx)[:1], ctx.grid)
    with rasterio.open(tmp_path / "slope_degrees.tif") as src:
        assert src.overviews(1) == [2, 4]
        full = src.read(1)
        expected = mean_2x2(full)
        np.testing.assert_allclose(src.read(1, out_shape=expected.shape), expected, rtol=1e-6, equal_nan=True)
    assert cogeo.cog_validate(str(tmp_path / "slope_degrees.tif"), quiet=True)[0]


def test_an_unknown_compression_is_refused_naming_the_file(tmp_path):
    ctx = FactorContext.from_array(_dem(64, 64), cellsize=10.0, chunks=32)
    with pytest.raises(OutputError, match=r"slope_degrees\.tif: compression 'brotli'"):
        write_factor_rasters(_targets(tmp_path, ctx, compress="brotli")[:1], ctx.grid)
