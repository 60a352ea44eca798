"""Factors that do not lie (issue 13, part 2).

- Vector features beyond the grid edge count: every factor built from
  vector files gives on the study grid the values it gives on a larger grid
  holding every feature, cropped (distance, kernel density, rupture).
- Points given to a factor are checked against the grid: a ``crs:``
  parameter transforms them, and coordinates far beyond any plausible range
  (an epicentre in degrees on a UTM grid) are refused in one line.
- The correlation matrix holds continuous factors only; categorical ones get
  Cramér's V against each other.
- ``susmap factors --list`` documents every parameter of every factor.
"""

from __future__ import annotations

import ast
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import LineString, Point, Polygon

from susmap.errors import StudyConfigError
from susmap.factors.proximity import distance_to_features, kernel_density
from susmap.factors.registry import FactorContext
from susmap.factors.seismic import (
    direction_to_epicentre,
    distance_to_epicentre,
    epicentre_directivity,
    rupture_direction,
    rupture_distance,
)

CRS = "EPSG:32717"
X0, Y0 = 600000.0, 9700000.0  # top-left corner of the study grid [m]
CELL = 10.0
PAD = 60  # cells the enlarged grid adds on each side


def study_ctx(h: int = 30, w: int = 40, **kwargs) -> FactorContext:
    return FactorContext.from_array(np.zeros((h, w)), cellsize=CELL, origin=(X0, Y0), **kwargs)


def enlarged_ctx(h: int = 30, w: int = 40, pad: int = PAD, **kwargs) -> FactorContext:
    """The study grid grown by ``pad`` cells on every side (same cell alignment)."""
    origin = (X0 - pad * CELL, Y0 + pad * CELL)
    return FactorContext.from_array(np.zeros((h + 2 * pad, w + 2 * pad)), cellsize=CELL, origin=origin, **kwargs)


def crop(values: np.ndarray, h: int = 30, w: int = 40, pad: int = PAD) -> np.ndarray:
    return values[pad : pad + h, pad : pad + w]


def write_vector(path: Path, geoms: list, crs: str = CRS) -> str:
    gpd.GeoDataFrame(geometry=geoms, crs=crs).to_file(path)
    return str(path)


# Faults: one crossing the grid, one parallel to the east edge 150 m beyond it, one in the north-west,
# wholly outside (the nearest feature for the grid's north-west corner).
FAULTS = [
    LineString([(X0 + 20, Y0 - 30), (X0 + 140, Y0 - 120)]),
    LineString([(X0 + 550, Y0 + 200), (X0 + 553, Y0 - 500)]),
    LineString([(X0 - 300, Y0 + 40), (X0 - 40, Y0 + 60), (X0 - 35, Y0 + 300)]),
]


# --------------------------------------------------------------------------- a) features beyond the edge


def test_distance_uses_faults_beyond_the_edge_like_an_enlarged_grid(tmp_path: Path) -> None:
    path = write_vector(tmp_path / "faults.gpkg", FAULTS)
    small = distance_to_features(study_ctx(), path).values
    big = crop(distance_to_features(enlarged_ctx(), path).values)
    np.testing.assert_allclose(small, big, rtol=1e-6, atol=1e-4)
    # The on-grid fault alone is farther for the east and north-west cells: the others are used.
    only_inside = distance_to_features(study_ctx(), path, margin_m=0).values
    assert (only_inside - small).max() > 100.0
    assert small[15, 39] <= 160.0  # the east fault lies about 155 m from the centre of the last column


@pytest.mark.parametrize("coarse_cells", [60, 7])
def test_distance_margin_bounded_on_blocks_stays_exact(tmp_path: Path, monkeypatch, coarse_cells: int) -> None:
    import susmap.factors.proximity as proximity

    # Blocks of 5 x 5 and 14 x 14 cells bound the reach on a 30 x 40 grid (a million cells in real use).
    monkeypatch.setattr(proximity, "COARSE_CELLS", coarse_cells)
    path = write_vector(tmp_path / "faults.gpkg", FAULTS)
    small = distance_to_features(study_ctx(), path).values
    big = crop(distance_to_features(enlarged_ctx(), path).values)
    np.testing.assert_allclose(small, big, rtol=1e-6, atol=1e-4)


def test_distance_grows_the_grid_only_as_far_as_can_matter(tmp_path: Path) -> None:
    # A fault crossing the grid and running 50 km east: only its part within reach of the grid is rasterized.
    path = write_vector(tmp_path / "long.gpkg", [LineString([(X0 + 100, Y0 - 150), (X0 + 50_000, Y0 - 150)])])
    out = distance_to_features(study_ctx(), path)
    left, top, right, bottom = ast.literal_eval(out.attrs["margin_cells"])
    assert (left, top, bottom) == (0, 0, 0)
    assert 0 < right <= 60  # the farthest cell is about 180 m from the fault: not 5,000 cells
    # The fault runs along the edge between rows 14 and 15: the last column sees it as the first does.
    np.testing.assert_array_equal(out.values[:, -1], out.values[:, 20])


def test_distance_default_is_exact_when_no_feature_lies_on_the_grid(tmp_path: Path) -> None:
    # Only the east fault, wholly outside: the default still gives the enlarged grid's distances.
    path = write_vector(tmp_path / "east.gpkg", [FAULTS[1]])
    small = distance_to_features(study_ctx(), path).values
    big = crop(distance_to_features(enlarged_ctx(), path).values)
    np.testing.assert_allclose(small, big, rtol=1e-6, atol=1e-4)
    assert small.min() > 100.0


def test_distance_polygon_and_points_beyond_the_edge(tmp_path: Path) -> None:
    lake = Polygon([(X0 - 200, Y0 - 100), (X0 - 30, Y0 - 100), (X0 - 30, Y0 - 250), (X0 - 200, Y0 - 250)])
    wells = [Point(X0 + 200, Y0 - 330), Point(X0 + 420, Y0 + 25)]
    path = write_vector(tmp_path / "mixed.gpkg", [lake, *wells])
    small = distance_to_features(study_ctx(), path).values
    big = crop(distance_to_features(enlarged_ctx(), path).values)
    np.testing.assert_allclose(small, big, rtol=1e-6, atol=1e-4)


def test_kernel_density_points_near_the_edge_like_an_enlarged_grid(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    # Points on and around the grid, up to 200 m beyond every edge.
    xy = rng.uniform([-200, -500], [600, 200], size=(60, 2))
    path = write_vector(tmp_path / "aftershocks.gpkg", [Point(X0 + x, Y0 + y) for x, y in xy])
    for kernel, h in (("quartic", 120.0), ("gaussian", 40.0)):
        small = kernel_density(study_ctx(), path, bandwidth_m=h, kernel=kernel).values
        big = crop(kernel_density(enlarged_ctx(), path, bandwidth_m=h, kernel=kernel).values)
        np.testing.assert_allclose(small, big, rtol=1e-5, atol=1e-6 * big.max())


def test_rupture_subsections_beyond_the_edge_like_an_enlarged_grid(tmp_path: Path) -> None:
    path = write_vector(tmp_path / "rupture.gpkg", FAULTS)
    for func in (rupture_distance, rupture_direction):
        small = func(study_ctx(chunks=16), path).values
        big = crop(func(enlarged_ctx(chunks=16), path).values)
        np.testing.assert_allclose(small, big, rtol=1e-6, atol=1e-3)


def test_features_in_another_crs_are_refused_not_measured(tmp_path: Path) -> None:
    # Fault coordinates in UTM zone 17S metres but tagged as zone 17N: about 10,000 km from the grid.
    faults = write_vector(tmp_path / "faults_wrong_zone.gpkg", FAULTS, crs="EPSG:32617")
    quakes = write_vector(tmp_path / "quakes_wrong_zone.gpkg", [Point(X0 + 50, Y0 - 50)], crs="EPSG:32617")
    for func, path, kwargs in (
        (distance_to_features, faults, {}),
        (rupture_distance, faults, {}),
        (kernel_density, quakes, {"bandwidth_m": 50.0}),
    ):
        with pytest.raises(StudyConfigError, match=r"wrong_zone\.gpkg lies [\d,]+ km from the grid") as info:
            func(study_ctx(), path, **kwargs)
        assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- b) points checked against the grid


def lonlat(x: float, y: float) -> tuple[float, float]:
    from pyproj import Transformer

    return Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)


EPICENTRE_FACTORS = (distance_to_epicentre, direction_to_epicentre, epicentre_directivity)


@pytest.mark.parametrize("func", EPICENTRE_FACTORS)
def test_epicentre_in_degrees_with_crs_equals_grid_coordinates(func) -> None:
    ctx = study_ctx(chunks=16)
    xe, ye = X0 + 123.0, Y0 - 2345.0  # 2 km south of the grid
    lon, lat = lonlat(xe, ye)
    metres = func(ctx, xe, ye).values
    degrees = func(ctx, lon, lat, crs="EPSG:4326")
    assert degrees.attrs["epicentre_x"] == pytest.approx(xe, abs=1e-4)
    assert degrees.attrs["epicentre_y"] == pytest.approx(ye, abs=1e-4)
    np.testing.assert_allclose(degrees.values, metres, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("func", EPICENTRE_FACTORS)
def test_epicentre_in_degrees_on_a_utm_grid_is_refused(func) -> None:
    lon, lat = lonlat(X0, Y0)  # about (-79.1, -2.7): read as metres, ~9,700 km from the grid
    with pytest.raises(StudyConfigError) as info:
        func(study_ctx(), lon, lat)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{func.__name__}: the epicentre x, y = (")
    assert "km from the grid" in message and "crs: EPSG:4326" in message


def test_epicentre_plausible_range_rule() -> None:
    ctx = study_ctx()  # 400 m x 300 m: 10 diagonals = 5 km, so the bound is 1,000 km
    assert ctx.plausible_reach == pytest.approx(1_000_000.0)
    distance_to_epicentre(ctx, X0 + 990_000.0, Y0 - 150.0)  # 990 km east of the west edge: accepted
    with pytest.raises(StudyConfigError, match=r"lies 1,010 km from the grid \(more than 1,000 km"):
        distance_to_epicentre(ctx, X0 + 400.0 + 1_010_000.0, Y0 - 150.0)
    # A large grid: 10 diagonals (2,000 km for a 200 km diagonal) is the bound.
    big = FactorContext.from_array(np.zeros((2, 2)), cellsize=100_000.0 / np.sqrt(2), origin=(X0, Y0))
    assert big.plausible_reach == pytest.approx(10 * 200_000.0)


def test_epicentre_crs_and_coordinates_checked() -> None:
    ctx = study_ctx()
    with pytest.raises(StudyConfigError, match=r"has no place in the grid CRS \(EPSG:32717\).*check x, y and crs"):
        ctx.require_near_grid(float("inf"), what="f", param="p", hint="check x, y and crs")
    with pytest.raises(StudyConfigError, match=r"^distance_to_epicentre: crs: 'EPSG:99999' is not a CRS"):
        distance_to_epicentre(ctx, -79.1, -2.7, crs="EPSG:99999")
    with pytest.raises(StudyConfigError, match=r"^epicentre_directivity: x, y = \(-2.7, -179\) are not longitude"):
        epicentre_directivity(ctx, -2.7, -179.0, crs="EPSG:4326")
    with pytest.raises(StudyConfigError, match=r"^direction_to_epicentre: y must be finite"):
        direction_to_epicentre(ctx, X0, float("nan"))
    with pytest.raises(StudyConfigError, match=r"^distance_to_epicentre: x must be a number, not 'east'"):
        distance_to_epicentre(ctx, "east", Y0)
    # Degrees that are valid but of the wrong place (lat, lon swapped): far from the grid, refused.
    lon, lat = lonlat(X0, Y0)
    with pytest.raises(StudyConfigError, match=r"in EPSG:4326 lies [\d,]+ km from the grid.*check x, y and crs"):
        distance_to_epicentre(ctx, lat, lon, crs="EPSG:4326")


def test_cli_epicentre_in_degrees_exits_2_with_one_line(make_study, tmp_path: Path) -> None:
    import subprocess
    import sys

    import yaml

    study = make_study(factors=[{"name": "epi", "factor": "distance_to_epicentre", "params": {"x": -79.2, "y": -3.9}}])
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    out = tmp_path / "factors_out"
    proc = subprocess.run(
        [sys.executable, "-c", "from susmap.cli import app; app()", "-q", "factors", str(path), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("susmap: error: ")
    assert "distance_to_epicentre: the epicentre x, y = (-79.2, -3.9)" in lines[0]
    assert not out.exists()


# --------------------------------------------------------------------------- c) correlation on continuous factors


def test_correlation_leaves_categorical_codes_out_and_cramers_v_matches_scipy() -> None:
    import dask.array as da
    from scipy.stats.contingency import association, crosstab

    from susmap.factors.summary import correlation_matrix, cramers_v_matrix, factor_moments

    rng = np.random.default_rng(0)
    h, w = 50, 70
    slope = rng.normal(30, 8, (h, w))
    relief = 2 * slope + rng.normal(0, 4, (h, w))
    geology = rng.integers(1, 5, (h, w)).astype(float)
    landcover = np.where(rng.random((h, w)) < 0.7, geology * 10, rng.integers(1, 4, (h, w)) * 10.0)
    slope[:4, :6] = np.nan  # nodata: left out of every association
    geology[-3:, -5:] = np.nan
    arrays = {
        name: da.from_array(a, chunks=16)
        for name, a in {"slope": slope, "geology": geology, "relief": relief, "landcover": landcover}.items()
    }
    kinds = {"geology": "categorical", "landcover": "categorical"}
    moments = factor_moments(arrays)
    corr = correlation_matrix(arrays, moments, kinds)
    assert list(corr.index) == list(corr.columns) == ["slope", "relief"]
    joint = np.isfinite(slope) & np.isfinite(geology)
    assert corr.loc["slope", "relief"] == pytest.approx(np.corrcoef(slope[joint], relief[joint])[0, 1], rel=1e-9)
    # Pearson over all factors gives the same r for the continuous pair: existing numbers do not change.
    assert correlation_matrix(arrays, moments).loc["slope", "relief"] == pytest.approx(corr.loc["slope", "relief"])

    v = cramers_v_matrix(arrays, kinds)
    assert list(v.index) == list(v.columns) == ["geology", "landcover"]
    table = crosstab(geology[joint], landcover[joint]).count
    expected = association(table, method="cramer", correction=False)
    assert v.loc["geology", "landcover"] == pytest.approx(expected, rel=1e-9)
    assert v.loc["landcover", "geology"] == v.loc["geology", "landcover"]
    assert v.loc["geology", "geology"] == 1.0
    assert 0.5 < expected < 1.0
    assert cramers_v_matrix(arrays, {}).empty


def test_cramers_v_extremes() -> None:
    from susmap.factors.summary import cramers_v

    assert cramers_v(np.array([[10, 0, 0], [0, 7, 0], [0, 0, 3]])) == pytest.approx(1.0)
    assert cramers_v(np.array([[10, 20], [5, 10]])) == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(cramers_v(np.array([[4, 5, 6]])))  # one class of the first factor


def test_factors_command_correlation_holds_continuous_factors_only(make_study, synthetic, tmp_path: Path) -> None:
    import pandas as pd
    import yaml
    from typer.testing import CliRunner

    from conftest import write_raster
    from susmap.cli import app

    rng = np.random.default_rng(2)
    h, w = synthetic["shape"]
    geology = rng.integers(1, 4, (h, w)).astype(np.float32)
    soil = np.where(rng.random((h, w)) < 0.8, geology + 10, 10 + rng.integers(1, 4, (h, w))).astype(np.float32)
    layers = [
        {"name": "a", "path": str(synthetic["a"])},
        {"name": "geology", "path": str(write_raster(tmp_path / "geology.tif", geology)), "kind": "categorical"},
        {"name": "b", "path": str(synthetic["b"])},
        {"name": "soil", "path": str(write_raster(tmp_path / "soil.tif", soil)), "kind": "categorical"},
    ]
    study = make_study(layers=layers, factors=[{"name": "slope"}])
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    out = tmp_path / "f"
    result = CliRunner().invoke(app, ["-q", "factors", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    corr = pd.read_csv(out / "factor_correlation.csv", index_col=0)
    assert list(corr.index) == list(corr.columns) == ["a", "b", "slope"]
    cramers = pd.read_csv(out / "factor_cramers_v.csv", index_col=0)
    assert list(cramers.index) == list(cramers.columns) == ["geology", "soil"]
    assert 0.3 < cramers.loc["geology", "soil"] < 1.0
    assert (out / "factor_cramers_v.png").exists() and (out / "factor_correlation.png").exists()
    summary = pd.read_csv(out / "factor_summary.csv").set_index("factor")
    assert summary.loc["geology", "association"] == "cramers_v"
    assert summary.loc["slope", "association"] == "pearson"


def test_factors_command_leaves_auxiliary_layers_out_of_the_associations(make_study, synthetic, tmp_path: Path) -> None:
    import pandas as pd
    import yaml
    from typer.testing import CliRunner

    from susmap.cli import app

    layers = [
        {"name": "a", "path": str(synthetic["a"])},
        {"name": "b", "path": str(synthetic["b"]), "role": "auxiliary"},
    ]
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(make_study(layers=layers, factors=[{"name": "slope"}])), encoding="utf-8")
    out = tmp_path / "f"
    result = CliRunner().invoke(app, ["-q", "factors", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    corr = pd.read_csv(out / "factor_correlation.csv", index_col=0)
    assert list(corr.index) == ["a", "slope"]
    summary = pd.read_csv(out / "factor_summary.csv").set_index("factor")
    assert summary.loc["b", "role"] == "auxiliary" and summary.loc["b", "association"] == "none: auxiliary layer"
    assert summary.loc["a", "role"] == "predictor"


# --------------------------------------------------------------------------- d) every parameter documented


def test_every_parameter_of_every_factor_is_documented() -> None:
    import inspect

    from susmap.factors import available_factors

    for name, spec in available_factors().items():
        signature = [p for p in inspect.signature(spec.func).parameters if p != "ctx"]
        params = spec.parameters()
        assert [p.name for p in params] == signature, name
        for p in params:
            assert p.type, f"{name}: {p.name} has no documented type"
            assert len(p.meaning) > 10, f"{name}: {p.name} has no documented meaning"
            assert p.default, (name, p.name)


def test_parameter_table_values() -> None:
    from susmap.factors.registry import get_factor

    by_name = {p.name: p for p in get_factor("distance_to_features").parameters()}
    assert (by_name["path"].type, by_name["path"].default) == ("str", "required")
    assert (by_name["margin_m"].type, by_name["margin_m"].default, by_name["margin_m"].units) == ("float", "none", "m")
    assert "exact" in by_name["margin_m"].meaning
    kd = {p.name: p for p in get_factor("kernel_density").parameters()}
    assert (kd["bandwidth_m"].default, kd["bandwidth_m"].units) == ("required", "m")
    assert (kd["kernel"].type, kd["kernel"].default, kd["kernel"].units) == ('{"quartic", "gaussian"}', "quartic", "")
    epi = {p.name: p for p in get_factor("epicentre_directivity").parameters()}
    assert (epi["x"].units, epi["rupture_azimuth"].units, epi["crs"].default) == ("m", "degrees", "none")
    assert "EPSG:4326" in epi["crs"].meaning
    # A parameter documented "as :func:`streams`" takes its type and meaning from there.
    stream = {p.name: p for p in get_factor("distance_to_stream").parameters()}
    assert stream["unit"].type == '{"m2", "cells"}' and "threshold" in stream["unit"].meaning
    assert get_factor("slope").parameters()[1].default == "degrees"
    assert get_factor("hillshade").parameters()[0].units == "degrees"


def test_cli_factors_list_shows_every_parameter_with_type_default_and_meaning() -> None:
    from typer.testing import CliRunner

    from susmap.cli import app
    from susmap.factors import available_factors

    result = CliRunner().invoke(app, ["factors", "--list"])
    assert result.exit_code == 0, result.output
    blocks = {block.splitlines()[0].split(" ")[0]: block for block in result.stdout.split("\n\n")}
    for name, spec in available_factors().items():
        block = blocks[name]
        assert f"{name} [{spec.units}] {spec.description}" in block
        for p in spec.parameters():
            default = "required" if p.default == "required" else f"default {p.default}"
            units = f" [{p.units}]" if p.units else ""
            assert f"    {p.name} : {p.type}{units}, {default}\n" in block + "\n", (name, p.name)
        assert "(undocumented)" not in block
    assert max(len(line) for line in result.stdout.splitlines()) <= 140
    assert "    margin_m : float [m], default none\n        Width [m] of the band around the grid" in result.stdout


def test_cli_factors_list_one_factor_in_full() -> None:
    from typer.testing import CliRunner

    from susmap.cli import app

    result = CliRunner().invoke(app, ["factors", "--list", "distance_to_features"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("distance_to_features [m] ")
    assert "margin_m : float [m], default none" in text
    flat = " ".join(text.split())
    assert "give a width only to limit the work on purpose" in flat  # the whole meaning, wrapped
    assert "Notes" in text and "distance_transform_edt" in text  # the method notes
    assert "kernel_density" not in text
    bad = CliRunner().invoke(app, ["factors", "--list", "slop"])
    assert bad.exit_code == 2
    assert bad.stderr.strip().count("\n") == 0
    assert "unknown factor 'slop'" in bad.stderr


def test_factors_command_with_edge_faults_and_an_epicentre_in_degrees(make_study, synthetic, tmp_path: Path) -> None:
    import rasterio
    import yaml
    from typer.testing import CliRunner

    from conftest import CELL as C
    from conftest import ORIGIN
    from susmap.cli import app

    h, w = synthetic["shape"]
    x0, y0 = ORIGIN
    # A fault 300 m beyond the east edge and another crossing the grid's south-west corner.
    faults = [
        LineString([(x0 + w * C + 300, y0 + 500), (x0 + w * C + 300, y0 - h * C - 500)]),
        LineString([(x0 - 200, y0 - h * C + 100), (x0 + 100, y0 - h * C - 200)]),
    ]
    gpd.GeoDataFrame(geometry=faults, crs=CRS).to_file(tmp_path / "faults.gpkg")
    xe, ye = x0 + 250.0, y0 - 1200.0  # the epicentre, 600 m south of the grid
    lon, lat = lonlat(xe, ye)
    factors = [
        {"name": "d_fault", "factor": "distance_to_features", "params": {"path": str(tmp_path / "faults.gpkg")}},
        {"name": "d_epi", "factor": "distance_to_epicentre", "params": {"x": lon, "y": lat, "crs": "EPSG:4326"}},
    ]
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(make_study(factors=factors)), encoding="utf-8")
    out = tmp_path / "f"
    result = CliRunner().invoke(app, ["-q", "factors", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    with rasterio.open(out / "factors" / "d_fault.tif") as src:
        d_fault = src.read(1)
    with rasterio.open(out / "factors" / "d_epi.tif") as src:
        d_epi = src.read(1)
    # The east column is 305 m from the east fault (its cells' centres: 300 m + half a cell and the touched cell).
    assert np.all(d_fault[:, -1] <= 310.0)
    rows, cols = np.indices((h, w))
    xc, yc = x0 + (cols + 0.5) * C, y0 - (rows + 0.5) * C
    np.testing.assert_allclose(d_epi, np.hypot(xc - xe, yc - ye), rtol=1e-5, atol=0.05)


# --------------------------------------------------------------------------- whole-grid factors and memory


def test_whole_grid_factors_on_a_grid_too_large_for_memory_are_refused(make_study, synthetic, tmp_path, monkeypatch):
    import yaml
    from typer.testing import CliRunner

    import susmap.factors.derive as derive_module
    from cli_checks import assert_error, assert_untouched, existing_out
    from susmap.cli import app

    h, w = synthetic["shape"]
    monkeypatch.setattr(derive_module, "physical_memory", lambda: h * w * 10)  # a quarter of what routing needs
    study = make_study(dem={"path": str(synthetic["a"])}, factors=[{"name": "acc", "factor": "flow_accumulation"}])
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    out = existing_out(tmp_path)
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out)])
    assert_error(result.exit_code, result.stderr, ["factors: acc hold the whole grid in memory", f"{h:,} x {w:,}"])
    assert_untouched(out)
    # stencil factors stream in chunks: no such limit
    monkeypatch.setattr(derive_module, "physical_memory", lambda: 1)
    study["factors"] = [{"name": "s", "factor": "slope"}]
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    assert CliRunner().invoke(app, ["-q", "run", str(path), "--out", str(tmp_path / "ok")]).exit_code == 0
