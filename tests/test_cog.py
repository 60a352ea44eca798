"""Cloud-Optimized GeoTIFFs: every raster susmap writes, the class raster's colour table and attribute table.

Oracles: rio-cogeo's ``cog_validate`` (the COG layout rules GDAL's own
validator checks: tiles, overviews, IFD and data order); the overviews
recomputed from the full-resolution array (2 x 2 means for ``average``);
the palette module for the colours; the class edges and names for the
raster attribute table.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import dask.array as da
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from susmap.grid import Grid
from susmap.mapping import class_names, classify_raster, figures, write_lazy_raster
from susmap.mapping.classes import read_class_rat
from susmap.mapping.palette import CLASS_COLORS, class_colors, class_rgba, hex_to_rgba, probability_ramp
from susmap.runners import run_study
from susmap.study import study_from_dict

cogeo = pytest.importorskip("rio_cogeo.cogeo")

N = 2048


def _valid_cog(path) -> None:
    valid, errors, warnings = cogeo.cog_validate(str(path), quiet=True)
    assert valid, (path, errors)
    assert not errors and not warnings, (path, errors, warnings)


def _no_part_files(folder) -> None:
    assert not [p for p in folder.rglob("*") if ".part" in p.name], list(folder.rglob("*.part*"))


def _grid(n: int) -> Grid:
    return Grid(
        crs=rasterio.crs.CRS.from_epsg(32717), transform=from_origin(700_000, 9_800_000, 10, 10), height=n, width=n
    )


@pytest.fixture(scope="module")
def big_probability(tmp_path_factory):
    """A 2048 x 2048 probability map written by write_lazy_raster (4 chunks), with a NaN corner."""
    folder = tmp_path_factory.mktemp("big")
    rng = np.random.default_rng(3)
    prob = rng.random((N, N), dtype=np.float32)
    prob[:300, :200] = np.nan
    path = folder / "probability.tif"
    start = time.perf_counter()
    write_lazy_raster(
        path,
        da.from_array(prob, chunks=N // 2),
        _grid(N),
        description="susceptibility: probability of an event (test)",
        tags={"model": "test", "units": "probability [0-1]"},
    )
    print(f"write_lazy_raster {N} x {N}: {time.perf_counter() - start:.2f} s")
    return path, prob


# --------------------------------------------------------------------------- a run's rasters


def test_run_rasters_are_cogs_with_metadata_and_reruns_are_byte_identical(make_study, synthetic, tmp_path):
    files = ("probability.tif", "classes.tif", "classes.tif.aux.xml")
    raw = []
    for name in ("run1", "run2"):
        out = tmp_path / name
        study = make_study(
            dem={"path": str(synthetic["b"])},
            factors=[{"name": "slope"}],
            outputs={"directory": str(out)},
        )
        run_study(study_from_dict(study))
        factors = sorted(out.rglob("slope.tif"))
        assert factors, sorted(p.name for p in out.rglob("*"))
        for path in (out / "probability.tif", out / "classes.tif", factors[0]):
            _valid_cog(path)
        _no_part_files(out)
        raw.append({f: (out / f).read_bytes() for f in files} | {"slope.tif": factors[0].read_bytes()})

    with rasterio.open(out / "probability.tif") as src:
        assert src.descriptions[0].startswith("susceptibility: probability of an event")
        assert src.tags()["units"] == "probability [0-1]"
        assert np.isnan(src.nodata)
        assert "TIFFTAG_DATETIME" not in src.tags()  # no timestamp: reruns give the same bytes
    with rasterio.open(out / "classes.tif") as src:
        assert src.descriptions == ("susceptibility class",)
        assert src.nodata == 0
        cmap = src.colormap(1)
    assert {i: cmap[i] for i in range(6)} == class_rgba(5)
    rat = read_class_rat(out / "classes.tif")
    assert list(rat["value"]) == [1, 2, 3, 4, 5]
    assert list(rat["name"]) == class_names(5)
    assert list(rat["color"]) == list(CLASS_COLORS)
    with rasterio.open(factors[0]) as src:
        assert src.tags()["units"] == "degrees"
        assert src.descriptions[0].startswith("slope")
    assert raw[0] == raw[1]


# --------------------------------------------------------------------------- a 2048 x 2048 map


def test_big_probability_map_is_a_cog_with_average_overviews(big_probability):
    path, prob = big_probability
    _valid_cog(path)
    _no_part_files(path.parent)
    with rasterio.open(path) as src:
        assert src.overviews(1) == [2, 4, 8]
        assert src.block_shapes == [(256, 256)]
        assert src.descriptions == ("susceptibility: probability of an event (test)",)
        assert src.tags()["units"] == "probability [0-1]"
        assert np.isnan(src.nodata)
        np.testing.assert_array_equal(src.read(1), prob)
    with rasterio.open(path, overview_level=0) as ov:
        half = ov.read(1)
    assert half.shape == (N // 2, N // 2)
    # average of each 2 x 2 block (away from the NaN corner)
    expected = prob[400:, 400:].reshape(N // 2 - 200, 2, N // 2 - 200, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(half[200:, 200:], expected, rtol=1e-5)
    assert np.isnan(half[:100, :100]).all()


def test_big_class_map_is_a_cog_with_colour_table_rat_and_class_overviews(big_probability, tmp_path):
    path = big_probability[0]
    edges = np.array([0.0, 0.1, 0.3, 0.6, 0.9, 1.0])
    out = tmp_path / "classes.tif"
    cells, _ = classify_raster(path, out, edges, _grid(N), event_rows=np.array([0]), event_cols=np.array([0]))
    _valid_cog(out)
    _no_part_files(tmp_path)
    with rasterio.open(out) as src:
        assert src.overviews(1) == [2, 4, 8]
        assert src.dtypes == ("uint8",)
        assert src.colormap(1)[5] == hex_to_rgba(CLASS_COLORS[4])
        assert src.colormap(1)[0][3] == 0  # no data: transparent
        full = src.read(1)
    with rasterio.open(out, overview_level=2) as ov:
        eighth = ov.read(1)
    assert set(np.unique(eighth)) <= set(range(6))  # class values only, never a mean of classes
    assert (eighth[:30, :20] == 0).all()
    np.testing.assert_array_equal(cells, np.bincount(full.ravel(), minlength=6)[1:])

    # the attribute table: GDAL PAM XML, one row per class
    root = ET.parse(f"{out}.aux.xml").getroot()
    table = root.find("PAMRasterBand/GDALRasterAttributeTable")
    assert root.find("PAMRasterBand").get("band") == "1"
    assert table.get("tableType") == "thematic"
    fields = {f.findtext("Name"): (f.findtext("Type"), f.findtext("Usage")) for f in table.findall("FieldDefn")}
    assert fields["value"] == ("0", "5")  # integer, min-max (the pixel value)
    assert fields["name"] == ("2", "2")  # string, name
    assert fields["red"] == ("0", "6") and fields["alpha"] == ("0", "9")
    rat = read_class_rat(out)
    assert list(rat["value"]) == [1, 2, 3, 4, 5]
    assert list(rat["name"]) == class_names(5)
    np.testing.assert_array_equal(rat["lower"], edges[:-1])
    np.testing.assert_array_equal(rat["upper"], edges[1:])
    assert list(rat["color"]) == class_colors(5)
    assert [tuple(r) for r in rat[["red", "green", "blue", "alpha"]].to_numpy()] == [
        class_rgba(5)[i] for i in range(1, 6)
    ]


def test_integer_rasters_get_nearest_overviews_and_stay_cogs(tmp_path):
    ids = np.repeat(np.repeat(np.arange(1, 65, dtype=np.int32).reshape(8, 8), 100, axis=0), 100, axis=1)
    ids[:, ::7] = 999  # thin lines an average or mode would blur
    path = tmp_path / "blocks.tif"
    write_lazy_raster(path, da.from_array(ids, chunks=400), _grid(800), dtype="int32", nodata=0)
    _valid_cog(path)
    with rasterio.open(path, overview_level=0) as ov:
        half = ov.read(1)
    np.testing.assert_array_equal(half, ids[::2, ::2])  # nearest: every other cell


# --------------------------------------------------------------------------- one palette


def test_one_palette_for_png_colour_table_and_styles():
    assert class_colors(5) == list(CLASS_COLORS)
    assert figures.class_colors is class_colors  # the PNG legend reads the same palette
    assert list(figures.CLASS_COLORS) == list(CLASS_COLORS)
    assert len(class_colors(3)) == 3 and len(set(class_colors(7))) == 7
    table = class_rgba(3)
    assert sorted(table) == [0, 1, 2, 3] and table[0] == (0, 0, 0, 0)
    assert all(rgba[3] == 255 for v, rgba in table.items() if v)
    assert hex_to_rgba("#1a9641") == (0x1A, 0x96, 0x41, 255)
    ramp = probability_ramp()
    assert ramp[0] == (0.0, CLASS_COLORS[0]) and ramp[-1] == (1.0, CLASS_COLORS[-1])


def _gdal_rat(path) -> list[list[str]]:
    """The raster attribute table as GDAL itself reads it (its C API, from the libgdal rasterio loads)."""
    import ctypes
    import glob
    import os

    libs = glob.glob(os.path.join(os.path.dirname(rasterio.__file__), os.pardir, "rasterio.libs", "libgdal*.so*"))
    if not libs:
        pytest.skip("no libgdal beside rasterio (a wheel install ships one)")
    lib = ctypes.CDLL(libs[0])
    vp, ci = ctypes.c_void_p, ctypes.c_int
    for name, res, args in (
        ("GDALOpen", vp, [ctypes.c_char_p, ci]),
        ("GDALGetRasterBand", vp, [vp, ci]),
        ("GDALGetDefaultRAT", vp, [vp]),
        ("GDALRATGetRowCount", ci, [vp]),
        ("GDALRATGetColumnCount", ci, [vp]),
        ("GDALRATGetNameOfCol", ctypes.c_char_p, [vp, ci]),
        ("GDALRATGetValueAsString", ctypes.c_char_p, [vp, ci, ci]),
        ("GDALClose", None, [vp]),
    ):
        getattr(lib, name).restype, getattr(lib, name).argtypes = res, args
    lib.GDALAllRegister()
    ds = lib.GDALOpen(str(path).encode(), 0)
    assert ds, path
    try:
        rat = lib.GDALGetDefaultRAT(lib.GDALGetRasterBand(ds, 1))
        assert rat, f"GDAL finds no raster attribute table in {path}"
        cols = range(lib.GDALRATGetColumnCount(rat))
        header = [lib.GDALRATGetNameOfCol(rat, c).decode() for c in cols]
        rows = [
            [lib.GDALRATGetValueAsString(rat, r, c).decode() for c in cols] for r in range(lib.GDALRATGetRowCount(rat))
        ]
    finally:
        lib.GDALClose(ds)
    return [header, *rows]


def test_gdal_reads_the_class_raster_attribute_table(big_probability, tmp_path):
    out = tmp_path / "classes.tif"
    classify_raster(
        big_probability[0],
        out,
        np.linspace(0, 1, 4),
        _grid(N),
        event_rows=np.zeros(0, int),
        event_cols=np.zeros(0, int),
    )
    sidecar = out.with_name("classes.tif.aux.xml").read_bytes()
    table = _gdal_rat(out)
    assert table[0] == ["value", "name", "lower", "upper", "color", "red", "green", "blue", "alpha"]
    assert [r[:2] for r in table[1:]] == [["1", "low"], ["2", "moderate"], ["3", "high"]]
    assert [r[4] for r in table[1:]] == class_colors(3)
    assert out.with_name("classes.tif.aux.xml").read_bytes() == sidecar  # reading leaves it as it was
