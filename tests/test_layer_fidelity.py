"""Raster layers that do not lie (issue 13, items 2 and 4).

* untagged nodata sentinels (-9999, -32768, ±3.4e38, 65535 ...) and integer
  rasters tagged NaN are refused until ``nodata:`` says what they are;
* ``role: auxiliary`` layers sit on the grid for rules and hillshade and are
  never model inputs;
* outliers per factor are reported and ``clip:`` clips them;
* a layer within ``alignment.tolerance`` of a cell is on the grid; a refusal
  prints enough digits to show the difference.

Every raster is a real GeoTIFF written with rasterio in ``tmp_path``.
"""

from __future__ import annotations

import json
import logging
import struct

import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml
from affine import Affine
from typer.testing import CliRunner

import susmap.stack as stack_module
from conftest import CELL, ORIGIN, write_raster
from susmap.cli import app
from susmap.errors import AlignmentError, RasterReadError, StudyConfigError
from susmap.runners import run_study
from susmap.stack import find_sentinel, open_grid, open_layer, open_stack, robust_bound
from susmap.stages.maps import hillshade_dem
from susmap.study import AlignmentConfig, GridConfig, LayerConfig, study_from_dict

SHAPE = (40, 50)


@pytest.fixture
def cli():
    """Invoke the CLI in-process as a fresh process would: its own log handler on this run's stderr."""
    logger = logging.getLogger("susmap")
    handlers, level = logger.handlers[:], logger.level
    logger.handlers.clear()
    yield lambda *args: CliRunner().invoke(app, [str(a) for a in args])
    logger.handlers[:] = handlers
    logger.setLevel(level)


def _one_error_line(result) -> str:
    """Exit 2, and stderr is one ``susmap: error:`` line, no traceback."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("susmap: error:"), result.stderr
    return lines[0]


def _values(arr) -> np.ndarray:
    return np.asarray(arr.compute())


@pytest.fixture
def template(tmp_path):
    """A clean float32 DEM-like template (tagged -9999, no hole)."""
    rng = np.random.default_rng(0)
    dem = (1000 + np.cumsum(rng.normal(size=SHAPE), axis=1) * 5).astype(np.float32)
    return write_raster(tmp_path / "dem.tif", dem), dem


def _slope(rng=None) -> np.ndarray:
    rng = rng or np.random.default_rng(1)
    return rng.uniform(0, 60, size=SHAPE).astype(np.float32)


def _stack(template_path, *layers: LayerConfig, alignment: AlignmentConfig | None = None, **kw):
    return open_stack(GridConfig(template=template_path), list(layers), alignment or AlignmentConfig(), chunks=16, **kw)


# --------------------------------------------------------------------------- a) untagged nodata


def _holes(data: np.ndarray, value, n_rows: int = 6) -> np.ndarray:
    out = data.copy()
    out[:n_rows, :10] = value  # a block of holes, like the corner of a clipped tile
    return out


SENTINELS = [
    pytest.param(np.float32, -9999.0, "-9999", id="float32 -9999"),
    pytest.param(np.int16, -32768, "-32768", id="int16 -32768"),
    pytest.param(np.int16, -9999, "-9999", id="int16 -9999"),
    pytest.param(np.float32, -np.finfo(np.float32).max, "-3.40282", id="float32 -3.4e38"),
    pytest.param(np.float32, np.finfo(np.float32).max, "3.40282", id="float32 +3.4e38"),
    pytest.param(np.uint16, 65535, "65535", id="uint16 65535"),
    pytest.param(np.int32, -99999, "-99999", id="int32 -99999"),
    pytest.param(np.uint8, 255, "255", id="uint8 255"),
]


@pytest.mark.parametrize("dtype,sentinel,shown", SENTINELS)
def test_untagged_sentinel_is_refused_naming_file_value_count_and_key(tmp_path, template, dtype, sentinel, shown):
    path_t, _ = template
    data = _holes(_slope().astype(dtype), sentinel)
    p = write_raster(tmp_path / "slope_holes.tif", data, nodata=None)
    with pytest.raises(RasterReadError) as err:
        _stack(path_t, LayerConfig(name="slope", path=p))
    msg = str(err.value)
    assert "\n" not in msg
    assert "slope_holes.tif" in msg and "'slope'" in msg
    assert shown in msg
    assert "60 of its 2,000 cells" in msg  # the 6 x 10 block, counted
    assert "the file declares no nodata" in msg
    assert "layers[].nodata:" in msg and "layers[].nodata: none" in msg


@pytest.mark.parametrize("dtype,sentinel,shown", SENTINELS)
def test_stated_nodata_masks_the_sentinel_cells(tmp_path, template, dtype, sentinel, shown):
    path_t, _ = template
    clean = _slope().astype(dtype)
    p = write_raster(tmp_path / "slope_holes.tif", _holes(clean, sentinel), nodata=None)
    stack = _stack(path_t, LayerConfig(name="slope", path=p, nodata=float(sentinel)))
    vals = _values(stack.data.data[0])
    assert np.isnan(vals[:6, :10]).all()
    np.testing.assert_array_equal(vals[6:], clean[6:].astype(np.float32))
    assert stack.n_valid == clean.size - 60


@pytest.mark.parametrize("sentinel,stated", [(-9999.0, -9999.0), (-np.finfo(np.float32).max, -3.4e38)])
def test_stated_nodata_is_kept_out_of_resampling(tmp_path, template, sentinel, stated):
    """A layer warped onto the grid: its stated holes are nodata, never blended into neighbouring cells."""
    path_t, _ = template
    coarse = np.random.default_rng(2).uniform(10, 20, size=(SHAPE[0] // 2, SHAPE[1] // 2)).astype(np.float32)
    coarse[:5, :5] = sentinel
    transform = Affine(2 * CELL, 0, ORIGIN[0], 0, -2 * CELL, ORIGIN[1])
    p = write_raster(tmp_path / "coarse.tif", coarse, transform=transform, nodata=None)
    allow = AlignmentConfig(allow_resample=True)
    with pytest.raises(RasterReadError, match=r"coarse\.tif: layer 'c' holds"):
        _stack(path_t, LayerConfig(name="c", path=p), alignment=allow)
    stack = _stack(path_t, LayerConfig(name="c", path=p, nodata=stated), alignment=allow)
    vals = _values(stack.data.data[0])
    assert np.isnan(vals[:8, :8]).all()
    assert np.nanmin(vals) >= 10 and np.nanmax(vals) <= 20


def test_approximate_float_extreme_masks_the_exact_one(tmp_path, template):
    """``nodata: -3.4e38`` (as a user types it) masks the file's -3.4028235e38 cells."""
    path_t, _ = template
    p = write_raster(tmp_path / "s.tif", _holes(_slope(), -np.finfo(np.float32).max), nodata=None)
    stack = _stack(path_t, LayerConfig(name="s", path=p, nodata=-3.4e38))
    assert np.isnan(_values(stack.data.data[0])[:6, :10]).all()
    assert stack.n_valid == SHAPE[0] * SHAPE[1] - 60


def test_nodata_none_accepts_the_values_as_data(tmp_path, template):
    path_t, _ = template
    data = _holes(_slope(), -9999.0)
    p = write_raster(tmp_path / "s.tif", data, nodata=None)
    stack = _stack(path_t, LayerConfig(name="s", path=p, nodata="none"))
    np.testing.assert_array_equal(_values(stack.data.data[0]), data)


def test_nodata_overrides_the_files_tag(tmp_path, template):
    """A file tagged -32768 whose holes are -9999: the untagged value is found; ``nodata:`` replaces the tag."""
    path_t, _ = template
    data = _holes(_slope(), -9999.0)
    p = write_raster(tmp_path / "s.tif", data, nodata=-32768.0)
    with pytest.raises(RasterReadError, match=r"holds -9999 in 60 of its 2,000 cells.*nodata is -32768"):
        _stack(path_t, LayerConfig(name="s", path=p))
    stack = _stack(path_t, LayerConfig(name="s", path=p, nodata=-9999))
    assert stack.n_valid == data.size - 60


def test_real_values_near_a_sentinel_are_data(tmp_path, template):
    """65535 in uint16 is data when the values run up to it; -9999 in a field spanning it is data."""
    path_t, _ = template
    counts = np.linspace(60000, 65535, SHAPE[0] * SHAPE[1]).astype(np.uint16).reshape(SHAPE)
    p = write_raster(tmp_path / "counts.tif", counts, nodata=None)
    stack = _stack(path_t, LayerConfig(name="counts", path=p))
    assert stack.n_valid == counts.size
    signed = np.linspace(-9999, 20000, counts.size).astype(np.float32).reshape(SHAPE)
    p2 = write_raster(tmp_path / "signed.tif", signed, nodata=None)
    assert _stack(path_t, LayerConfig(name="signed", path=p2)).n_valid == signed.size


def test_find_sentinel_rules():
    assert find_sentinel(np.array([-9999, 1, 2, 3], np.float32), np.float32) == (-9999.0, 1)
    assert find_sentinel(np.array([1, 2, 3], np.float32), np.float32) is None
    assert find_sentinel(np.array([-9999, -9998, 5000], np.float32), np.float32) is None  # not apart from the rest
    assert find_sentinel(np.array([0, 1, 255, 255], np.uint8), np.uint8) == (255.0, 2)
    assert find_sentinel(np.array([0, 1, 255], np.int16), np.int16) is None  # 255 is not special in int16
    assert find_sentinel(np.array([3e38, 1.0], np.float32), np.float32) == (float(np.float32(3e38)), 1)  # huge
    assert find_sentinel(np.array([-9999, -9999], np.float32), np.float32) == (-9999.0, 2)  # holes only


def _claim_nan_nodata(path) -> None:
    """Rewrite the GDAL_NODATA TIFF tag (42113) of a little-endian classic TIFF to the text 'nan'.

    What some tools write for an integer raster; GDAL (and rasterio) then
    report no nodata at all, so the holes would be read as data.
    """
    raw = bytearray(path.read_bytes())
    assert raw[:4] == b"II*\x00"
    ifd = struct.unpack_from("<I", raw, 4)[0]
    for i in range(struct.unpack_from("<H", raw, ifd)[0]):
        entry = ifd + 2 + 12 * i
        if struct.unpack_from("<H", raw, entry)[0] == 42113:
            struct.pack_into("<I", raw, entry + 4, 4)
            raw[entry + 8 : entry + 12] = b"nan\x00"
            path.write_bytes(bytes(raw))
            return
    raise AssertionError("no GDAL_NODATA tag")


def test_integer_raster_claiming_nan_nodata_is_refused(tmp_path, template):
    """NaN cannot occur in an integer raster: its holes (255 here) would be read as a class."""
    path_t, _ = template
    landcover = np.repeat(np.arange(1, 6, dtype=np.uint8), SHAPE[1] // 5)[None, :].repeat(SHAPE[0], axis=0)
    landcover[:6, :10] = 255
    p = write_raster(tmp_path / "landcover.tif", landcover, nodata=7)
    _claim_nan_nodata(p)
    with rasterio.open(p) as src:
        assert src.nodata is None  # GDAL drops a NaN tag on an integer band
    layer = LayerConfig(name="lc", path=p, kind="categorical")
    with pytest.raises(RasterReadError, match=r"landcover.tif: layer 'lc' holds 255 in 60 of its 2,000 cells"):
        _stack(path_t, layer)
    with pytest.raises(RasterReadError) as err:  # stating NaN is no way out
        _stack(path_t, layer.model_copy(update={"nodata": float("nan")}))
    msg = str(err.value)
    assert "landcover.tif" in msg and "uint8" in msg and "NaN, which no integer cell can hold" in msg
    assert "layers[].nodata: 255" in msg
    stack = _stack(path_t, layer.model_copy(update={"nodata": 255.0}))
    assert np.isnan(_values(stack.data.data[0])[:6, :10]).all()
    assert stack.n_valid == landcover.size - 60
    with pytest.raises(StudyConfigError, match=r"landcover.tif: layers\[\].nodata -9999 cannot occur in layer 'lc'"):
        _stack(path_t, layer.model_copy(update={"nodata": -9999.0}))


def test_large_raster_is_sampled_and_a_missed_sentinel_is_still_refused(tmp_path, template, monkeypatch):
    """Beyond SAMPLE_CELLS only windows are read; a marker outside them is caught by the counting pass."""
    monkeypatch.setattr(stack_module, "SAMPLE_CELLS", 256)  # 16 x 16 windows of one cell
    path_t, _ = template
    big_holes = _holes(_slope(), -9999.0, n_rows=SHAPE[0] // 2)
    p = write_raster(tmp_path / "big.tif", big_holes, nodata=None)
    with pytest.raises(RasterReadError, match=r"big.tif: layer 'b' holds -9999 in \d+ of 256 cells sampled"):
        _stack(path_t, LayerConfig(name="b", path=p))
    lone = _slope()
    lone[1, 1] = -9999.0  # in no sampled window (rows/cols 0, 2, 5, ...)
    p2 = write_raster(tmp_path / "lone.tif", lone, nodata=None)
    with pytest.raises(RasterReadError, match=r"lone.tif: layer 'l' holds -9999 in 1 of its 2,000 cells"):
        _stack(path_t, LayerConfig(name="l", path=p2))
    # without counting (a caller that only wants the lazy stack) the sample is all there is
    assert _stack(path_t, LayerConfig(name="l", path=p2), count=False).names == ["l"]


def test_template_with_untagged_sentinel_names_grid_nodata(tmp_path, template):
    _, dem = template
    p = write_raster(tmp_path / "dem_holes.tif", _holes(dem, -9999.0), nodata=None)
    with pytest.raises(RasterReadError, match=r"dem_holes.tif: the grid template \(band 1\) holds -9999.*grid.nodata"):
        _stack(p, LayerConfig(name="e", path=p, nodata=-9999))
    stack = open_stack(
        GridConfig(template=p, nodata=-9999),
        [LayerConfig(name="e", path=p, nodata=-9999)],
        AlignmentConfig(),
        chunks=16,
    )
    assert stack.n_valid == dem.size - 60


def test_dem_of_derived_factors_is_checked(tmp_path, template):
    """The DEM that slope is derived from is checked too, and ``dem.nodata`` masks its holes."""
    from susmap.factors.derive import factor_context

    path_t, dem = template
    p = write_raster(tmp_path / "dem_raw.tif", _holes(dem, -32768.0), nodata=None)
    base = {
        "grid": {"template": str(path_t)},
        "layers": [{"name": "a", "path": str(path_t)}],
        "inventory": {"path": str(tmp_path / "none.csv"), "x": "x", "y": "y", "crs": "EPSG:32717"},
    }
    with pytest.raises(RasterReadError, match=r"dem_raw.tif: layer 'dem' holds -32768 .*dem.nodata: -32768"):
        factor_context(study_from_dict({**base, "dem": {"path": str(p)}}))
    ctx, _ = factor_context(study_from_dict({**base, "dem": {"path": str(p), "nodata": -32768}}))
    assert np.isnan(_values(ctx.dem.data)[:6, :10]).all()


def test_cli_refuses_an_untagged_sentinel_in_one_line(synthetic, make_study, tmp_path, cli):
    with rasterio.open(synthetic["b"]) as src:
        b = src.read(1)
    p = write_raster(tmp_path / "b_untagged.tif", _holes(b, -9999.0), nodata=None)
    study = make_study(layers=[{"name": "a", "path": str(synthetic["a"])}, {"name": "b", "path": str(p)}])
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    line = _one_error_line(cli("run", path, "--out", tmp_path / "res"))
    assert "b_untagged.tif" in line and "-9999" in line and "layers[].nodata: -9999" in line
    assert not (tmp_path / "res").exists()
    study["layers"][1]["nodata"] = -9999
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    assert cli("run", path, "--out", tmp_path / "res").exit_code == 0
    samples = pd.read_csv(tmp_path / "res" / "samples.csv")
    assert samples["b"].between(0, 1).all()  # no -9999 reached a sample


@pytest.mark.parametrize(
    "value,words",
    [("nope", "nodata must be a number"), ([1, 2], "nodata must be a number"), (True, "nodata must be a number")],
)
def test_bad_nodata_key_is_named(tmp_path, value, words):
    with pytest.raises(Exception, match=words):
        LayerConfig(name="a", path=tmp_path / "a.tif", nodata=value)


# --------------------------------------------------------------------------- b) layer roles


def test_auxiliary_layer_is_on_the_grid_but_not_a_factor(tmp_path, template):
    path_t, dem = template
    slope = _slope()
    p_s = write_raster(tmp_path / "slope.tif", slope)
    aux_dem = dem.copy()
    aux_dem[0, :] = -9999.0  # tagged holes in the auxiliary layer mask no predictor cell
    p_d = write_raster(tmp_path / "aux_dem.tif", aux_dem)
    stack = _stack(path_t, LayerConfig(name="slope", path=p_s), LayerConfig(name="elev", path=p_d, role="auxiliary"))
    assert stack.names == ["slope"]
    assert stack.data.sizes["factor"] == 1
    assert stack.kinds == {"slope": "continuous"}
    assert set(stack.auxiliary) == {"elev"} and stack.sources["elev"] == p_d
    assert stack.n_valid == slope.size
    elev = stack.layer("elev")
    assert elev.dims == ("y", "x") and elev.attrs["kind"] == "continuous"
    np.testing.assert_array_equal(_values(elev.data)[1:], dem[1:])
    assert np.isnan(_values(elev.data)[0]).all()
    rows, cols = np.array([1, 5, 30]), np.array([2, 7, 40])
    np.testing.assert_array_equal(stack.values_at(rows, cols, factor="elev")[:, 0], dem[rows, cols])
    assert stack.values_at(rows, cols).shape == (3, 1)  # predictors only
    with pytest.raises(KeyError, match=r"no layer named 'nope'.*slope, elev"):
        stack.layer("nope")


def test_mask_layer_bounds_the_study_area(tmp_path, template):
    """role: mask: cells with no data or 0 in the mask are NaN in every factor (no sample, no prediction)."""
    path_t, _ = template
    slope = _slope()
    p_s = write_raster(tmp_path / "slope.tif", slope)
    area = np.ones(SHAPE, dtype=np.uint8)
    area[:, :5] = 0  # a lake
    area[-3:, :] = 255  # outside the province (the file's nodata)
    p_m = write_raster(tmp_path / "area.tif", area, nodata=255)
    stack = _stack(path_t, LayerConfig(name="slope", path=p_s), LayerConfig(name="area", path=p_m, role="mask"))
    assert stack.names == ["slope"] and stack.auxiliary["area"].attrs["role"] == "mask"
    values = _values(stack.data.data)[0]
    inside = area == 1
    np.testing.assert_array_equal(values[inside], slope[inside])
    assert np.isnan(values[~inside]).all()
    assert stack.n_valid == int(inside.sum())


def test_a_study_with_a_mask_maps_inside_it_only(make_study, synthetic, tmp_path):
    h, w = synthetic["shape"]
    area = np.ones((h, w), dtype=np.uint8)
    area[:, w // 2 :] = 0
    mask = write_raster(tmp_path / "area.tif", area, nodata=None)
    layers = [
        {"name": "a", "path": str(synthetic["a"])},
        {"name": "b", "path": str(synthetic["b"])},
        {"name": "area", "path": str(mask), "role": "mask", "nodata": "none"},
    ]
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(make_study(layers=layers)), encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["-q", "run", str(study), "--out", str(out)])
    assert result.exit_code == 0, result.output
    with rasterio.open(out / "probability.tif") as src:
        prob = src.read(1)
    assert np.isnan(prob[:, w // 2 :]).all() and np.isfinite(prob[4:, 4 : w // 2]).all()
    samples = pd.read_csv(out / "samples.csv")
    assert (samples["col"] < w // 2).all()
    assert "area" not in samples.columns


def test_source_area_rule_reads_an_auxiliary_dem(tmp_path, template):
    """inventory.source_area.elevation_layer may name an auxiliary DEM: same cells as with the DEM as a predictor."""
    import geopandas as gpd
    from shapely.geometry import box

    from susmap.inventory import inventory_cells, read_inventory
    from susmap.study import InventoryConfig

    path_t, _ = template
    dem = np.repeat(np.linspace(2000, 1000, SHAPE[0], dtype=np.float32)[:, None], SHAPE[1], axis=1)  # north is high
    p_dem = write_raster(tmp_path / "relief.tif", dem)
    p_s = write_raster(tmp_path / "slope.tif", _slope())
    left, top = ORIGIN[0] + 10 * CELL, ORIGIN[1] - 10 * CELL
    gpd.GeoDataFrame(geometry=[box(left, top - 10 * CELL, left + 10 * CELL, top)], crs="EPSG:32717").to_file(
        tmp_path / "slides.gpkg"
    )
    cfg = InventoryConfig(path=tmp_path / "slides.gpkg", geometry="polygons", source_area={"elevation_layer": "relief"})
    cells = {}
    for role in ("auxiliary", "predictor"):
        stack = _stack(path_t, LayerConfig(name="slope", path=p_s), LayerConfig(name="relief", path=p_dem, role=role))
        events = inventory_cells(read_inventory(cfg, stack.grid), cfg, stack)
        cells[role] = sorted(zip(events.rows.tolist(), events.cols.tolist(), strict=True))
    assert cells["auxiliary"] == cells["predictor"]
    assert {r for r, _ in cells["auxiliary"]} == set(range(10, 15))  # the upper half of rows 10..19


def test_every_layer_auxiliary_is_refused(tmp_path, template, synthetic, make_study, cli):
    path_t, _ = template
    with pytest.raises(StudyConfigError, match=r"every layer is role: auxiliary or mask \(elev\)"):
        _stack(path_t, LayerConfig(name="elev", path=path_t, role="auxiliary"))
    study = make_study(layers=[{"name": "a", "path": str(synthetic["a"]), "role": "auxiliary"}])
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    line = _one_error_line(cli("run", path, "--out", tmp_path / "res"))
    assert "study.yaml" in line and "every layer has role: auxiliary or mask" in line
    weights = make_study(
        layers=[*make_study()["layers"], {"name": "elev", "path": str(synthetic["a"]), "role": "auxiliary"}],
        meta_blockwise={"weights": {"a": 1.0, "elev": 1.0}},
    )
    with pytest.raises(StudyConfigError, match=r"meta_blockwise.weights: \['elev'\] are not factors"):
        study_from_dict(weights)
    assert study_from_dict(weights | {"meta_blockwise": {}}).layer_names == ["a", "b"]


def test_auxiliary_layer_changes_nothing_a_model_sees(make_study, synthetic, tmp_path):
    """The same study with an extra auxiliary DEM: byte-identical map, same samples and metrics, DEM shaded."""
    rng = np.random.default_rng(9)
    dem = (np.cumsum(rng.normal(size=synthetic["shape"]), axis=1) * 3 + 500).astype(np.float32)
    p_dem = write_raster(tmp_path / "elevation.tif", dem)
    plain = study_from_dict(make_study(outputs={"directory": str(tmp_path / "plain")}))
    geology = np.repeat(np.array([1, 2, 3, 4], dtype=np.int16), synthetic["shape"][1] // 4)[None, :]
    p_geo = write_raster(tmp_path / "geology.tif", geology.repeat(synthetic["shape"][0], axis=0), nodata=0)
    layers = [
        *make_study()["layers"],
        {"name": "elevation", "path": str(p_dem), "role": "auxiliary"},
        {"name": "geology", "path": str(p_geo), "role": "auxiliary", "kind": "categorical"}
        | {"encoding": "frequency_ratio"},
    ]
    with_aux = study_from_dict(make_study(layers=layers, outputs={"directory": str(tmp_path / "aux")}))
    r_plain, r_aux = run_study(plain), run_study(with_aux)
    assert (tmp_path / "plain" / "probability.tif").read_bytes() == (tmp_path / "aux" / "probability.tif").read_bytes()
    assert "elevation" not in r_aux.samples.columns and "geology" not in r_aux.samples.columns
    assert list(r_aux.samples.columns) == list(r_plain.samples.columns)
    m_plain = json.loads((tmp_path / "plain" / "metrics.json").read_text())
    m_aux = json.loads((tmp_path / "aux" / "metrics.json").read_text())
    assert m_plain["scores"] == m_aux["scores"]
    # the auxiliary DEM is what the map is shaded with (named like a DEM), not a factor
    stack = open_stack(with_aux.grid, list(with_aux.layers), with_aux.alignment, count=False)
    shaded = hillshade_dem(with_aux, stack)
    assert np.isnan(shaded[:3, :3]).all()  # outside the template's data, like every layer
    shaded[:3, :3] = dem[:3, :3]
    np.testing.assert_array_equal(shaded, dem)
    assert hillshade_dem(plain, open_stack(plain.grid, list(plain.layers), plain.alignment, count=False)) is None


def test_hillshade_from_a_named_auxiliary_layer_or_a_raster_file(make_study, synthetic, tmp_path, caplog):
    dem = np.linspace(100, 900, 60 * 80, dtype=np.float32).reshape(60, 80)
    p_dem = write_raster(tmp_path / "topo.tif", dem)
    layers = [*make_study()["layers"], {"name": "topo", "path": str(p_dem), "role": "auxiliary"}]
    study = study_from_dict(make_study(layers=layers, mapping={"hillshade": "topo"}))
    stack = open_stack(study.grid, list(study.layers), study.alignment, count=False)
    masked = dem.copy()
    masked[:3, :3] = np.nan  # the template's nodata
    np.testing.assert_array_equal(hillshade_dem(study, stack), masked)
    by_path = study_from_dict(make_study(mapping={"hillshade": str(p_dem)}))
    stack = open_stack(by_path.grid, list(by_path.layers), by_path.alignment, count=False)
    np.testing.assert_array_equal(hillshade_dem(by_path, stack), dem)
    off_grid = write_raster(
        tmp_path / "topo_shifted.tif", dem, transform=Affine(CELL, 0, ORIGIN[0] + 5 * CELL, 0, -CELL, ORIGIN[1])
    )
    shifted = study_from_dict(make_study(mapping={"hillshade": str(off_grid)}))
    with caplog.at_level(logging.WARNING, logger="susmap"):
        assert hillshade_dem(shifted, stack) is None  # a map without shading, not a run lost at its last step
    assert "topo_shifted.tif" in caplog.text and "drawn without hillshade" in caplog.text
    typo = study_from_dict(make_study(mapping={"hillshade": "topoo"}))
    with caplog.at_level(logging.WARNING, logger="susmap"):
        assert hillshade_dem(typo, stack) is None
    assert "mapping.hillshade 'topoo' is neither a layer" in caplog.text


# --------------------------------------------------------------------------- c) outliers


@pytest.fixture
def curvature(tmp_path):
    """Plan curvature [1/m]: a few tenths, and one spike of -34 1/m at (12, 17)."""
    rng = np.random.default_rng(4)
    curv = rng.normal(0, 0.05, size=SHAPE).astype(np.float32)
    curv[12, 17] = -34.0
    return write_raster(tmp_path / "cplan.tif", curv), curv


def test_single_curvature_outlier_is_reported(template, curvature, caplog):
    path_t, _ = template
    p, curv = curvature
    with caplog.at_level(logging.WARNING, logger="susmap"):
        stack = _stack(path_t, LayerConfig(name="cplan", path=p))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "layer 'cplan': 1 cell beyond the robust bound" in warnings[0]
    assert "most extreme -34" in warnings[0] and "clip: robust" in warnings[0]
    found = stack.outliers["cplan"]
    assert found["cells"] == 1 and found["below"] == 1 and found["most_extreme"] == -34.0
    low, high = found["low"], found["high"]
    assert -2 < low < -0.2 and 0.2 < high < 2  # a few tenths, widened; the spike moved nothing
    assert (low, high) == robust_bound(curv[np.arange(curv.size).reshape(SHAPE) >= 0])
    assert _values(stack.data.data[0])[12, 17] == -34.0  # reported, not changed


def test_robust_clip_clips_the_outlier_and_nothing_else(template, curvature, caplog):
    path_t, _ = template
    p, curv = curvature
    with caplog.at_level(logging.INFO, logger="susmap"):
        stack = _stack(path_t, LayerConfig(name="cplan", path=p, clip="robust"))
    low, _ = robust_bound(curv)
    vals = _values(stack.data.data[0])
    assert vals[12, 17] == np.float32(low)
    others = np.ones(SHAPE, bool)
    others[12, 17] = False
    np.testing.assert_array_equal(vals[others], curv[others])
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "1 cell beyond" in caplog.text and "clipped" in caplog.text
    assert stack.outliers["cplan"]["clipped"] is True


def test_explicit_clip_bounds(template, curvature):
    path_t, _ = template
    p, curv = curvature
    stack = _stack(path_t, LayerConfig(name="cplan", path=p, clip=[-0.1, 0.1]))
    vals = _values(stack.data.data[0])
    np.testing.assert_array_equal(vals, np.clip(curv, np.float32(-0.1), np.float32(0.1)))
    assert stack.outliers["cplan"]["cells"] == int(((curv < np.float32(-0.1)) | (curv > np.float32(0.1))).sum())


def test_derived_curvature_spike_is_reported_and_clipped(tmp_path, template, caplog):
    """A one-cell pit in the DEM makes a plan-curvature spike; ``factors[].clip`` clips it like a layer's."""
    from susmap.factors.derive import derive_factors

    path_t, _ = template
    r, c = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]]
    pitted = (1000 + 3 * c + 20 * np.sin(r / 6.0)).astype(np.float32)  # a smooth slope: curvature of a few 0.01
    pitted[20, 25] -= 40.0
    p_dem = write_raster(tmp_path / "pitted.tif", pitted)
    found = {}
    for clip in (None, "robust"):
        study = study_from_dict(
            {
                "grid": {"template": str(path_t)},
                "dem": {"path": str(p_dem)},
                "factors": [{"name": "cplan", "factor": "plan_curvature", "clip": clip}],
                "inventory": {"path": str(tmp_path / "none.csv"), "x": "x", "y": "y", "crs": "EPSG:32717"},
            }
        )
        derived = derive_factors(study, tmp_path / f"factors_{clip}")
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="susmap"):
            stack = _stack(path_t, *(d.as_layer() for d in derived))
        found[clip] = (stack.outliers["cplan"], _values(stack.data.data[0]), caplog.text)
    report, raw, text = found[None]
    assert report["cells"] >= 1 and not report["clipped"]
    assert "layer 'cplan'" in text and "beyond the robust bound" in text and "factors[]" in text
    report, clipped, text = found["robust"]
    assert report["clipped"] and "clipped" in text
    assert np.nanmin(clipped) == np.float32(report["low"]) or np.nanmax(clipped) == np.float32(report["high"])
    assert np.nanmin(clipped) >= np.float32(report["low"]) and np.nanmax(clipped) <= np.float32(report["high"])
    assert np.nanmin(raw) < report["low"] or np.nanmax(raw) > report["high"]


def test_ordinary_factors_raise_no_outlier_warning(synthetic, caplog):
    """Uniform, linear and normal factors: nothing beyond the bound."""
    with caplog.at_level(logging.WARNING, logger="susmap"):
        stack = open_stack(
            GridConfig(template=synthetic["a"]),
            [LayerConfig(name="a", path=synthetic["a"]), LayerConfig(name="b", path=synthetic["b"])],
            AlignmentConfig(),
        )
    assert stack.outliers == {} and not caplog.records


def test_robust_bound_edge_cases():
    assert robust_bound(np.array([])) == (-np.inf, np.inf)
    assert robust_bound(np.full(100, 3.0)) == (-np.inf, np.inf)  # constant: no bound
    normal = np.random.default_rng(0).normal(size=200_000)
    low, high = robust_bound(normal)
    assert -25 < low < -18 and 18 < high < 25  # ±(3.09 + 3 x 6.18) sd


@pytest.mark.parametrize(
    "clip,words",
    [([2, 1], "low < high"), ("tight", "clip must be"), ([1], "clip must be"), ([0, float("nan")], "low < high")],
)
def test_bad_clip_is_named(tmp_path, clip, words):
    with pytest.raises(Exception, match=words):
        LayerConfig(name="a", path=tmp_path / "a.tif", clip=clip)


def test_categorical_layers_are_not_clipped(tmp_path):
    with pytest.raises(Exception, match="categorical: its class codes cannot be clipped"):
        LayerConfig(name="g", path=tmp_path / "g.tif", kind="categorical", clip="robust")


# --------------------------------------------------------------------------- d) alignment tolerance


UTM = (339254.0, 3846700.0)


def _utm_raster(path, dx=0.0, dy=0.0, cell=30.0, data=None):
    data = np.arange(SHAPE[0] * SHAPE[1], dtype=np.float32).reshape(SHAPE) if data is None else data
    transform = Affine(cell, 0, UTM[0] + dx, 0, -cell, UTM[1] + dy)
    return write_raster(path, data, crs="EPSG:32611", transform=transform), data


def test_origin_offset_within_tolerance_is_on_the_grid(tmp_path):
    """4e-5 m on a 30 m grid: read cell for cell, not refused, not resampled."""
    p_t, _ = _utm_raster(tmp_path / "t.tif")
    p_l, data = _utm_raster(tmp_path / "l.tif", dx=4e-5)
    stack = _stack(p_t, LayerConfig(name="l", path=p_l))
    np.testing.assert_array_equal(_values(stack.data.data[0]), data)


def test_offset_beyond_tolerance_prints_the_difference(tmp_path):
    p_t, _ = _utm_raster(tmp_path / "t.tif")
    p_l, _ = _utm_raster(tmp_path / "l.tif", dx=4e-5)
    with pytest.raises(AlignmentError) as err:
        _stack(p_t, LayerConfig(name="l", path=p_l), alignment=AlignmentConfig(tolerance=0))
    msg = str(err.value)
    assert "origin (339254.00004, 3846700) instead of (339254, 3846700)" in msg
    assert "off by (4e-05, 0) m = (1.33e-06, 0) cells" in msg
    assert "alignment.tolerance is 0 of a cell" in msg and "alignment.allow_resample" in msg


def test_half_metre_offset_is_refused_by_default_and_accepted_with_a_wider_tolerance(tmp_path):
    p_t, _ = _utm_raster(tmp_path / "t.tif")
    p_l, data = _utm_raster(tmp_path / "l.tif", dy=-0.5)
    words = (
        r"l\.tif.*origin \(339254, 3846699\.5\) instead of \(339254, 3846700\), "
        r"off by \(0, -0\.5\) m = \(0, -0\.0167\) cells"
    )
    with pytest.raises(AlignmentError, match=words):
        _stack(p_t, LayerConfig(name="l", path=p_l))
    stack = _stack(p_t, LayerConfig(name="l", path=p_l), alignment=AlignmentConfig(tolerance=0.02))
    np.testing.assert_array_equal(_values(stack.data.data[0]), data)


def test_cell_size_drift_is_measured_at_the_far_edge(tmp_path):
    p_t, _ = _utm_raster(tmp_path / "t.tif")
    p_ok, _ = _utm_raster(tmp_path / "ok.tif", cell=30.0 + 1e-6)  # 5e-5 m over 50 cells
    _stack(p_t, LayerConfig(name="ok", path=p_ok))
    p_bad, _ = _utm_raster(tmp_path / "bad.tif", cell=30.001)  # 5 cm over 50 cells
    with pytest.raises(AlignmentError, match=r"cell size \(30.001, 30.001\) instead of \(30, 30\), the far edge"):
        _stack(p_t, LayerConfig(name="bad", path=p_bad))


@pytest.mark.parametrize("tolerance", [-0.1, 0.5, "small"])
def test_bad_tolerance_is_refused(tolerance):
    with pytest.raises(Exception, match="tolerance"):
        AlignmentConfig(tolerance=tolerance)


def test_open_layer_alone_refuses_a_sentinel_naming_its_key(tmp_path):
    """open_layer alone (factor inputs) refuses a sentinel too, naming the key it is given."""
    p_t, _ = _utm_raster(tmp_path / "t.tif")
    p_l, _ = _utm_raster(tmp_path / "l.tif", data=_holes(_slope(), -9999.0))
    with rasterio.open(p_l, "r+") as dst:
        dst.nodata = None
    grid, _ = open_grid(GridConfig(template=p_t))
    with pytest.raises(RasterReadError, match=r"set dem.nodata: -9999"):
        open_layer(LayerConfig(name="dem", path=p_l), grid, AlignmentConfig(), key="dem.nodata")
