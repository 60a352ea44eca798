"""One grid, checked: reading layers, alignment refusals, warping on request, nodata masking."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS

from conftest import CELL, ORIGIN, UTM17S, write_raster
from susmap.errors import AlignmentError, InputFileError, RasterReadError
from susmap.grid import Grid
from susmap.stack import open_layer, open_stack
from susmap.study import AlignmentConfig, GridConfig, LayerConfig


def _grid_cfg(path, **kw):
    return GridConfig(template=path, **kw)


def _values(arr):
    return np.asarray(arr.compute())


@pytest.fixture
def base(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.normal(100, 10, size=(20, 30)).astype(np.float32)
    return write_raster(tmp_path / "base.tif", data), data


def test_stack_reads_layers_lazily_on_the_grid(base):
    path, data = base
    stack = open_stack(_grid_cfg(path), [LayerConfig(name="v", path=path)], AlignmentConfig(), chunks=7)
    assert stack.data.dims == ("factor", "y", "x")
    assert stack.data.chunks[1][0] == 7  # dask-backed, chunked
    np.testing.assert_array_equal(_values(stack.data.data[0]), data)
    assert stack.n_valid == data.size
    x, y = stack.grid.coords()
    assert x[0] == pytest.approx(ORIGIN[0] + CELL / 2)
    assert y[0] == pytest.approx(ORIGIN[1] - CELL / 2)


@pytest.mark.parametrize("driver,suffix", [("AAIGrid", ".asc"), ("SAGA", ".sdat"), ("GTiff", ".tif")])
def test_any_gdal_format_is_read(tmp_path, base, driver, suffix):
    path, data = base
    other = write_raster(tmp_path / f"layer{suffix}", data, driver=driver)
    stack = open_stack(_grid_cfg(path), [LayerConfig(name="v", path=other)], AlignmentConfig(), chunks=16)
    np.testing.assert_allclose(_values(stack.data.data[0]), data, rtol=1e-6)


def test_band_by_description_and_number(ecuador_ta, ecuador_lsl):
    grid_cfg = _grid_cfg(ecuador_ta, band=4)
    by_name = open_stack(grid_cfg, [LayerConfig(name="s", path=ecuador_ta, band="slope")], AlignmentConfig())
    by_num = open_stack(grid_cfg, [LayerConfig(name="s", path=ecuador_ta, band=1)], AlignmentConfig())
    np.testing.assert_array_equal(_values(by_name.data.data), _values(by_num.data.data))
    with pytest.raises(RasterReadError, match=r"no band described as 'slop'"):
        open_stack(grid_cfg, [LayerConfig(name="s", path=ecuador_ta, band="slop")], AlignmentConfig())
    with pytest.raises(RasterReadError, match=r"band 9 requested but the file has 5"):
        open_stack(grid_cfg, [LayerConfig(name="s", path=ecuador_ta, band=9)], AlignmentConfig())


def test_nodata_of_any_layer_masks_the_cell(tmp_path, base):
    path, data = base
    other = data.copy()
    other[5, 7] = -9999.0
    p2 = write_raster(tmp_path / "other.tif", other)
    stack = open_stack(
        _grid_cfg(path),
        [LayerConfig(name="v", path=path), LayerConfig(name="w", path=p2)],
        AlignmentConfig(),
        chunks=8,
    )
    vals = _values(stack.data.data)
    assert np.isnan(vals[:, 5, 7]).all()  # masked in every factor, not only in 'w'
    assert stack.n_valid == data.size - 1
    assert not bool(stack.valid[5, 7].compute())


def test_template_nodata_masks_the_cell(tmp_path, base):
    path, data = base
    tmpl = data.copy()
    tmpl[0, 0] = -9999.0
    p_t = write_raster(tmp_path / "tmpl.tif", tmpl)
    stack = open_stack(_grid_cfg(p_t), [LayerConfig(name="v", path=path)], AlignmentConfig())
    assert np.isnan(_values(stack.data.data)[0, 0, 0])


@pytest.mark.parametrize(
    "transform,words",
    [
        (Affine(CELL * 2, 0, ORIGIN[0], 0, -CELL * 2, ORIGIN[1]), "cell size"),
        (Affine(CELL, 0, ORIGIN[0] + CELL, 0, -CELL, ORIGIN[1]), "origin"),
    ],
)
def test_off_grid_layer_is_refused_with_the_mismatch_named(tmp_path, base, transform, words):
    path, data = base
    shifted = write_raster(tmp_path / "shifted.tif", data, transform=transform)
    with pytest.raises(AlignmentError, match=f"shifted.tif.*{words}.*allow_resample"):
        open_stack(_grid_cfg(path), [LayerConfig(name="s", path=shifted)], AlignmentConfig())


def test_shape_mismatch_is_refused(tmp_path, base):
    path, data = base
    small = write_raster(tmp_path / "small.tif", data[:10, :10])
    with pytest.raises(AlignmentError, match=r"small.tif.*shape 10x10 instead of 20x30"):
        open_stack(_grid_cfg(path), [LayerConfig(name="s", path=small)], AlignmentConfig())


def test_shifted_layer_is_resampled_when_allowed(tmp_path, base):
    """A copy shifted by one cell east, resampled with nearest, lands one column over."""
    _, data = base
    shifted = write_raster(
        tmp_path / "shifted.tif", data, transform=Affine(CELL, 0, ORIGIN[0] + CELL, 0, -CELL, ORIGIN[1])
    )
    grid = Grid(
        crs=CRS.from_user_input(UTM17S),
        transform=Affine(CELL, 0, ORIGIN[0], 0, -CELL, ORIGIN[1]),
        height=20,
        width=30,
    )
    arr = open_layer(
        LayerConfig(name="s", path=shifted, resampling="nearest"), grid, AlignmentConfig(allow_resample=True)
    )
    vals = _values(arr)
    assert np.isnan(vals[:, 0]).all()  # outside the shifted layer's footprint: nodata, not 0
    np.testing.assert_array_equal(vals[:, 1:], data[:, :-1])


def test_crs_mismatch_refused_unless_reprojection_allowed(tmp_path, ecuador_ta):
    """ta.tif re-expressed in UTM 18S (other CRS): refused, or warped back bilinearly when allowed."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.warp import calculate_default_transform, reproject

    dst_crs = "EPSG:32718"
    with rasterio.open(ecuador_ta) as src:
        slope = src.read(1)
        tr, w, h = calculate_default_transform(src.crs, dst_crs, src.width, src.height, *src.bounds)
        out = np.full((h, w), np.nan, dtype=np.float32)
        reproject(
            slope,
            out,
            src_transform=src.transform,
            src_crs=src.crs,
            dst_transform=tr,
            dst_crs=dst_crs,
            resampling=Resampling.bilinear,
            src_nodata=np.nan,
            dst_nodata=np.nan,
        )
    other = write_raster(tmp_path / "slope_utm18.tif", out, crs=dst_crs, transform=tr, nodata=np.nan)
    layer = LayerConfig(name="slope", path=other)
    with pytest.raises(AlignmentError, match=r"slope_utm18.tif.*EPSG:32718 instead of EPSG:32717.*allow_reproject"):
        open_stack(_grid_cfg(ecuador_ta, band=4), [layer], AlignmentConfig())
    stack = open_stack(_grid_cfg(ecuador_ta, band=4), [layer], AlignmentConfig(allow_reproject=True))
    back = _values(stack.data.data[0])
    both = np.isfinite(back) & np.isfinite(slope)
    assert both.sum() > 0.9 * np.isfinite(slope).sum()
    # two bilinear warps smooth the field: the round trip stays close on average
    assert np.median(np.abs(back[both] - slope[both])) < 1.5  # degrees


def test_layer_without_crs_refused_unless_stated(tmp_path, base):
    path, data = base
    bare = write_raster(tmp_path / "bare.tif", data, crs=None)
    with pytest.raises(AlignmentError, match=r"bare.tif.*has no CRS.*layers\[\].crs"):
        open_stack(_grid_cfg(path), [LayerConfig(name="b", path=bare)], AlignmentConfig())
    stack = open_stack(_grid_cfg(path), [LayerConfig(name="b", path=bare, crs=UTM17S)], AlignmentConfig())
    np.testing.assert_array_equal(_values(stack.data.data[0]), data)


def test_template_without_crs_needs_grid_crs(tmp_path, base):
    _, data = base
    bare = write_raster(tmp_path / "bare.tif", data, crs=None)
    with pytest.raises(AlignmentError, match=r"bare.tif: the grid template has no CRS"):
        open_stack(_grid_cfg(bare), [LayerConfig(name="b", path=bare)], AlignmentConfig())
    stack = open_stack(_grid_cfg(bare, crs=UTM17S), [LayerConfig(name="b", path=bare, crs=UTM17S)], AlignmentConfig())
    assert stack.grid.crs.to_epsg() == 32717


def test_all_nodata_layer_is_named(tmp_path, base):
    path, data = base
    empty = write_raster(tmp_path / "empty.tif", np.full_like(data, -9999.0))
    with pytest.raises(AlignmentError, match=r"empty.tif: layer 'e' is nodata on every cell"):
        open_stack(
            _grid_cfg(path), [LayerConfig(name="v", path=path), LayerConfig(name="e", path=empty)], AlignmentConfig()
        )


def test_disjoint_valid_areas_are_refused(tmp_path, base):
    path, data = base
    left, right = data.copy(), data.copy()
    left[:, 15:] = -9999.0
    right[:, :15] = -9999.0
    p_l = write_raster(tmp_path / "left.tif", left)
    p_r = write_raster(tmp_path / "right.tif", right)
    with pytest.raises(AlignmentError, match=r"no cell has data in every layer"):
        open_stack(
            _grid_cfg(path), [LayerConfig(name="l", path=p_l), LayerConfig(name="r", path=p_r)], AlignmentConfig()
        )


def test_missing_and_unreadable_rasters(tmp_path, base):
    path, _ = base
    with pytest.raises(InputFileError, match=r"nope.tif: raster file not found"):
        open_stack(_grid_cfg(path), [LayerConfig(name="n", path=tmp_path / "nope.tif")], AlignmentConfig())
    junk = tmp_path / "junk.tif"
    junk.write_text("not a raster")
    with pytest.raises(RasterReadError, match=r"junk.tif: not a raster GDAL can read"):
        open_stack(_grid_cfg(path), [LayerConfig(name="j", path=junk)], AlignmentConfig())


def test_geographic_grid_is_refused_for_metric_work():

    grid = Grid(CRS.from_epsg(4326), Affine(0.001, 0, -79, 0, -0.001, -4), 10, 10)
    with pytest.raises(AlignmentError, match=r"geographic"):
        grid.require_projected("absence buffer")


def test_rowcol_and_xy_round_trip():

    grid = Grid(CRS.from_user_input(UTM17S), Affine(CELL, 0, ORIGIN[0], 0, -CELL, ORIGIN[1]), 20, 30)
    rows = np.array([0, 5, 19])
    cols = np.array([0, 7, 29])
    x, y = grid.xy(rows, cols)
    r, c, inside = grid.rowcol(x, y)
    np.testing.assert_array_equal(r, rows)
    np.testing.assert_array_equal(c, cols)
    assert inside.all()
    _, _, inside = grid.rowcol(np.array([ORIGIN[0] - 1, ORIGIN[0] + 30 * CELL]), np.array([ORIGIN[1] - 1] * 2))
    assert not inside.any()
