"""Inputs that used to get a misleading message or a traceback now get the right one line.

Each case runs ``susmap run`` in-process (typer's ``CliRunner``) on a broken
variant of the synthetic study and checks exit status 2, one
``susmap: error:`` line on stderr naming the file and the real cause, no
traceback, and an earlier output folder left byte-identical.
"""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import yaml
from shapely.geometry import Point
from typer.testing import CliRunner

from susmap.cli import app

PREFIX = "susmap: error:"
KEEP = b"an earlier result \x00\xff\n"


def _run(study: dict | Path, tmp: Path) -> tuple[int, str, Path]:
    """``susmap run`` on ``study`` into a folder holding an earlier file; (exit code, stderr, out)."""
    if isinstance(study, dict):
        path = tmp / "study.yaml"
        path.write_text(yaml.safe_dump(study, sort_keys=False), encoding="utf-8")
    else:
        path = study
    out = tmp / "results"
    out.mkdir(exist_ok=True)
    (out / "keep.txt").write_bytes(KEEP)
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stderr, out


def _error_line(code: int, stderr: str, out: Path, *needles: str) -> str:
    assert code == 2, f"exit {code}; stderr:\n{stderr}"
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX), stderr
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in: {lines[0]}"
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert (out / "keep.txt").read_bytes() == KEEP
    assert not [p for p in out.parent.iterdir() if ".partial-" in p.name]
    return lines[0]


# --------------------------------------------------------------------------- a directory for a file


def test_inventory_directory_is_called_a_directory(synthetic, make_study):
    folder = synthetic["dir"] / "events_dir.csv"
    folder.mkdir()
    study = make_study(inventory={**make_study()["inventory"], "path": str(folder)})
    line = _error_line(*_run(study, synthetic["dir"]), "events_dir.csv", "is a directory")
    assert "not found" not in line


def test_layer_directory_is_called_a_directory(synthetic, make_study):
    folder = synthetic["dir"] / "b_dir.tif"
    folder.mkdir()
    study = make_study(layers=[{"name": "a", "path": str(synthetic["a"])}, {"name": "b", "path": str(folder)}])
    line = _error_line(*_run(study, synthetic["dir"]), "b_dir.tif", "is a directory")
    assert "not found" not in line


def test_study_file_directory_is_called_a_directory(synthetic):
    folder = synthetic["dir"] / "study_dir.yaml"
    folder.mkdir()
    line = _error_line(*_run(folder, synthetic["dir"]), "study_dir.yaml", "is a directory")
    assert "not found" not in line


# --------------------------------------------------------------------------- CSV inventories


def test_header_only_csv_has_no_rows(synthetic, make_study):
    path = synthetic["dir"] / "events_empty.csv"
    path.write_text("x,y,event\n", encoding="utf-8")
    study = make_study(inventory={**make_study()["inventory"], "path": str(path)})
    line = _error_line(*_run(study, synthetic["dir"]), "events_empty.csv", "has no rows")
    assert "numeric" not in line


@pytest.mark.parametrize("which", ["x", "y"])
def test_missing_coordinates_are_counted_with_their_lines(synthetic, make_study, which):
    frame = synthetic["points"].copy()
    frame[which] = frame[which].astype(float)
    frame.loc[[3, 10, 11], which] = np.nan
    path = synthetic["dir"] / "events_nan.csv"
    frame.to_csv(path, index=False)
    study = make_study(inventory={**make_study()["inventory"], "path": str(path)})
    line = _error_line(*_run(study, synthetic["dir"]), "events_nan.csv", "3 rows with missing x/y", "lines 5, 12, 13")
    assert "off the grid" not in line


def test_all_coordinates_missing(synthetic, make_study):
    frame = synthetic["points"].assign(x=np.nan, y=np.nan)
    path = synthetic["dir"] / "events_all_nan.csv"
    frame.to_csv(path, index=False)
    study = make_study(inventory={**make_study()["inventory"], "path": str(path)})
    line = _error_line(*_run(study, synthetic["dir"]), "events_all_nan.csv", f"{len(frame)} rows with missing x/y")
    assert "off the grid" not in line and "numeric" not in line


# --------------------------------------------------------------------------- GeoPackage layers


def _two_layer_gpkg(syn: dict) -> Path:
    path = syn["dir"] / "events_two.gpkg"
    pts = syn["points"]
    gdf = gpd.GeoDataFrame(
        {"event": pts["event"]}, geometry=[Point(x, y) for x, y in zip(pts["x"], pts["y"], strict=True)]
    )
    gdf = gdf.set_crs("EPSG:32717")
    gdf.to_file(path, layer="slides_2005", driver="GPKG")
    gdf.to_file(path, layer="slides_2010", driver="GPKG")
    return path


def test_two_layer_geopackage_without_layer_names_the_layers(synthetic, make_study):
    path = _two_layer_gpkg(synthetic)
    study = make_study(inventory={"path": str(path), "label": "event"})
    line = _error_line(*_run(study, synthetic["dir"]), "events_two.gpkg", "slides_2005, slides_2010", "inventory.layer")
    assert "no event" not in line


def test_unknown_geopackage_layer_names_the_layers(synthetic, make_study):
    path = _two_layer_gpkg(synthetic)
    study = make_study(inventory={"path": str(path), "label": "event", "layer": "slides_2020"})
    _error_line(*_run(study, synthetic["dir"]), "events_two.gpkg", "'slides_2020'", "slides_2005, slides_2010")


def test_two_layer_geopackage_with_layer_runs(synthetic, make_study):
    path = _two_layer_gpkg(synthetic)
    study = make_study(inventory={"path": str(path), "label": "event", "layer": "slides_2010"})
    code, stderr, out = _run(study, synthetic["dir"])
    assert code == 0, stderr
    assert (out / "cv_summary.csv").is_file()


# --------------------------------------------------------------------------- a corrupt GeoTIFF strip


def _corrupt_strip(path: Path, strip: int) -> None:
    """Overwrite the middle of one deflate strip of ``path`` with garbage."""
    with rasterio.open(path) as src:
        offset = int(src.get_tag_item(f"BLOCK_OFFSET_0_{strip}", "TIFF", bidx=1))
        size = int(src.get_tag_item(f"BLOCK_SIZE_0_{strip}", "TIFF", bidx=1))
    data = bytearray(path.read_bytes())
    data[offset : offset + size] = bytes(range(256)) * (size // 256) + bytes(size % 256)
    path.write_bytes(bytes(data))


def test_corrupt_strip_read_inside_dask_names_file_and_window(tmp_path):
    """A strip the opening checks do not read fails later, inside a dask task: RasterReadError, file and window."""
    from susmap.errors import RasterReadError
    from susmap.grid import Grid
    from susmap.stack import open_layer
    from susmap.study import AlignmentConfig, LayerConfig

    shape = (1040, 1024)  # more cells than the opening checks read whole: they sample windows
    path = tmp_path / "big_corrupt.tif"
    transform = rasterio.transform.from_origin(700000, 9560000, 10, 10)
    profile = {
        "driver": "GTiff",
        "height": shape[0],
        "width": shape[1],
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:32717",
        "transform": transform,
        "nodata": -9999.0,
        "compress": "deflate",
        "blockysize": 1,
    }
    values = np.random.default_rng(2).random(shape, dtype=np.float32)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)
    _corrupt_strip(path, strip=64)  # between the sampled windows (rows 0-63, 65-128, ...)
    with rasterio.open(path) as src:
        grid = Grid.from_dataset(src)
    data = open_layer(LayerConfig(name="b", path=path), grid, AlignmentConfig(), chunks=256)
    with pytest.raises(RasterReadError) as info:
        data.compute()
    message = str(info.value)
    assert "big_corrupt.tif" in message and "rows 0-255" in message and "columns" in message
    assert "\n" not in message
    # the intact windows still read, with the file's values
    np.testing.assert_array_equal(data[256:512, :256].compute(), values[256:512, :256])


def test_corrupt_strip_is_one_line_naming_file(synthetic, make_study):
    rng = np.random.default_rng(5)
    path = synthetic["dir"] / "b_corrupt.tif"
    with rasterio.open(synthetic["a"]) as src:
        profile = {**src.profile, "compress": "deflate", "tiled": False, "blockysize": 4}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(rng.random(synthetic["shape"], dtype=np.float32), 1)
    _corrupt_strip(path, strip=7)  # rows 28-31
    study = make_study(layers=[{"name": "a", "path": str(synthetic["a"])}, {"name": "b", "path": str(path)}])
    _error_line(*_run(study, synthetic["dir"]), "b_corrupt.tif", "cannot read")


# --------------------------------------------------------------------------- a full disk


def test_full_disk_while_writing_the_map_keeps_earlier_outputs(synthetic, make_study, monkeypatch):
    import susmap.mapping.writer as writer

    real_open = rasterio.open

    def full_disk_open(path, mode="r", *args, **kwargs):
        if mode == "w" and Path(path).name == "probability.tif":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(writer.rasterio, "open", full_disk_open)
    _error_line(*_run(make_study(), synthetic["dir"]), "no space left", "probability.tif")


GDAL_NO_SPACE = "Free disk space available is 0 bytes, whereas 4096 are needed"


class _Failing:
    """A dataset whose every write fails with ``error`` (what GDAL raises on a full disk or a broken device)."""

    def __init__(self, name: str, error: Exception) -> None:
        self.name, self.error = name, error

    def write(self, *args, **kwargs):
        raise self.error


def test_full_disk_reported_by_gdal_keeps_earlier_outputs(synthetic, make_study, monkeypatch):
    import susmap.mapping.writer as writer

    real = writer.write_window

    def no_space(dst, block, row, col, dtype):  # GDAL's own message, from the dataset the block goes to
        real(_Failing(dst.name, rasterio.errors.RasterioIOError(GDAL_NO_SPACE)), block, row, col, dtype)

    monkeypatch.setattr(writer, "write_window", no_space)
    _error_line(*_run(make_study(), synthetic["dir"]), "no space left", "probability.tif")


def test_write_error_other_than_space_is_not_called_a_full_disk(synthetic, make_study, monkeypatch):
    import susmap.mapping.writer as writer

    real = writer.write_window

    def broken(dst, block, row, col, dtype):
        real(_Failing(dst.name, OSError(errno.EIO, "Input/output error")), block, row, col, dtype)

    monkeypatch.setattr(writer, "write_window", broken)
    line = _error_line(*_run(make_study(), synthetic["dir"]), "probability.tif", "cannot write")
    assert "space" not in line


def test_full_disk_while_writing_a_table_keeps_earlier_outputs(synthetic, make_study, monkeypatch):
    import pandas as pd

    real_to_csv = pd.DataFrame.to_csv

    def full_disk_to_csv(self, path=None, *args, **kwargs):
        if path is not None and Path(path).name == "cv_scores.csv":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_to_csv(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk_to_csv)
    _error_line(*_run(make_study(), synthetic["dir"]), "no space left", "cv_scores.csv")


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs (needs the right to mount; skipped elsewhere), unmounted after the test."""
    import shutil
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True, check=False)


@pytest.mark.parametrize("room", [0.3, 0.85], ids=["at-the-geopackage", "late"])
def test_real_full_disk_on_a_rerun_keeps_the_earlier_outputs(synthetic, make_study, small_disk, room):
    """A rerun into an output folder on a disk too small for its staged files: one line, old outputs intact."""
    import shutil

    out = small_disk / "results"
    path = synthetic["dir"] / "study.yaml"
    path.write_text(yaml.safe_dump(make_study(), sort_keys=False), encoding="utf-8")
    logging.getLogger("susmap").handlers.clear()
    free_before = shutil.disk_usage(small_disk).free
    first = CliRunner().invoke(app, ["run", str(path), "--out", str(out)])
    assert first.exit_code == 0, first.output
    run_bytes = free_before - shutil.disk_usage(small_disk).free
    earlier = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    # leave room for a share of a run's files: the rerun fails while writing the sample GeoPackage
    # (GDAL reports it as an SQLite error), or late, after the tables
    filler = small_disk / "filler.bin"
    filler.write_bytes(b"\0" * max(0, shutil.disk_usage(small_disk).free - int(room * run_bytes)))
    logging.getLogger("susmap").handlers.clear()
    second = CliRunner().invoke(app, ["run", str(path), "--out", str(out)])
    assert second.exit_code == 2, second.output
    lines = second.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX), second.stderr
    assert f"no space left on {small_disk}" in lines[0], lines[0]
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == earlier
    assert not [p for p in small_disk.iterdir() if ".partial-" in p.name]
