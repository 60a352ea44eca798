"""GIS-ready outputs of a mapped run: styles beside the rasters and a QGIS project.

:func:`write_gis_package` runs after ``classes.tif`` is written and adds to
the output folder:

* ``classes.qml`` / ``classes.sld``: the class palette (names and colours of
  the PNG; QGIS applies ``classes.qml`` to ``classes.tif`` by itself);
* ``probability.qml`` / ``probability.sld``: the continuous 0-1 ramp;
* ``samples.qml`` (events red, non-events grey), also stored as the default
  style in the ``layer_styles`` table of ``samples.gpkg``;
* ``hillshade.tif`` (uint8, 0 = no data) when the study has a DEM-like layer
  (``mapping.hillshade`` or a layer named like a DEM), computed chunk by chunk;
* ``susmap.qgs``: a QGIS 3 project with the events, the fold ids of every
  validation scheme (the fold map, hidden), the classes over the hillshade and
  the probability (hidden), by relative paths, in the grid's CRS and extent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import pyogrio
import xarray as xr

from susmap.errors import SusmapError
from susmap.factors.registry import FactorContext
from susmap.factors.terrain import hillshade
from susmap.mapping import class_names, write_lazy_raster
from susmap.mapping.palette import class_colors, probability_ramp
from susmap.mapping.writer import write_failure
from susmap.outputs import OutputFolder
from susmap.report.qgis import (
    ProjectLayer,
    categorized_qml,
    classes_sld,
    gray_qml,
    paletted_qml,
    pseudocolor_qml,
    ramp_sld,
    write_qgs,
    write_xml,
)
from susmap.stack import Stack, open_layer
from susmap.stages.maps import ModelMap
from susmap.study import LayerConfig, Study

__all__ = ["EVENT_COLOR", "GIS_FILES", "NON_EVENT_COLOR", "fold_colors", "write_gis_package"]

log = logging.getLogger(__name__)

#: Files every mapped run adds (``hillshade.tif`` only with a DEM-like layer).
GIS_FILES = ("classes.qml", "classes.sld", "probability.qml", "probability.sld", "samples.qml", "susmap.qgs")
EVENT_COLOR = "#d7191c"
NON_EVENT_COLOR = "#9e9e9e"
_NOT_TESTED = "#bdbdbd"
_DEM_NAMES = ("elev", "elevation", "dem", "dtm", "altitude")  # as the PNG's hillshade (stages.maps)


def fold_colors(k: int) -> list[str]:
    """Colours of folds 0..k-1, as the fold maps draw them (tab10, tab20, then turbo)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    if k <= 10:
        return [to_hex(colormaps["tab10"](i)) for i in range(k)]
    if k <= 20:
        return [to_hex(colormaps["tab20"](i)) for i in range(k)]
    return [to_hex(colormaps["turbo"](v)) for v in np.linspace(0.05, 0.95, k)]


def _write_hillshade(study: Study, stack: Stack, out: OutputFolder) -> bool:
    layers = [*stack.names, *stack.auxiliary]
    name = study.mapping.hillshade
    if name is None:
        name = next((n for n in layers if n.lower() in _DEM_NAMES), None)
    if name is None:
        return False
    if name in layers:
        dem = stack.layer(name)
    else:  # mapping.hillshade as a raster file on the grid (relative to the study's folder)
        path = Path(name).expanduser()
        path = path if path.is_absolute() else (study.base_dir or Path.cwd()) / path
        if not path.is_file():
            return False
        try:
            arr = open_layer(
                LayerConfig(name="hillshade", path=path),
                stack.grid,
                study.alignment,
                chunks=study.mapping.chunk_size,
                key="mapping.hillshade",
            )
        except SusmapError as err:  # the map's figure has warned about it already
            log.warning("mapping.hillshade: %s; no hillshade.tif", err)
            return False
        dem = xr.DataArray(arr, dims=("y", "x"))
    ctx = FactorContext(grid=stack.grid, dem=dem, chunks=study.mapping.chunk_size)
    shade = hillshade(ctx).data
    shade = da.where(da.isnan(shade), 0, da.clip(da.round(shade), 1, 255)).astype("uint8")
    write_lazy_raster(
        out.path("hillshade.tif"),
        shade,
        stack.grid,
        dtype="uint8",
        nodata=0,
        description=f"hillshade of {name} (sun 315°, 45°)",
        compress=study.outputs.compress,
        resampling="average",  # shading is continuous, though stored as bytes
    )
    return True


def _store_gpkg_style(path, layer: str, qml: str, sld: str) -> None:
    """The style as the default of ``layer`` in the GeoPackage's ``layer_styles`` table (QGIS reads it)."""
    table = pd.DataFrame(
        {
            "f_table_catalog": [""],
            "f_table_schema": [""],
            "f_table_name": [layer],
            "f_geometry_column": ["geometry"],
            "styleName": [layer],
            "styleQML": [qml],
            "styleSLD": [sld],
            "useAsDefault": [True],
            "description": ["susmap: events red, non-events grey"],
            "owner": [""],
            "ui": [""],
            "update_time": ["2000-01-01T00:00:00"],
        }
    )
    pyogrio.write_dataframe(table, path, layer="layer_styles", driver="GPKG", append=False)


def write_gis_package(
    study: Study,
    stack: Stack,
    samples: pd.DataFrame,
    out: OutputFolder,
    edges: Sequence[float],
    model_maps: Sequence[ModelMap] = (),
) -> list[str]:
    """Write the styles, ``hillshade.tif`` (with a DEM) and ``susmap.qgs``; returns the file names written.

    ``edges`` are the class edges of ``classes.tif`` (k + 1 values for k
    classes). Each of ``model_maps`` (``maps/<label>/``) gets its own styles
    and a hidden class layer in the project.
    """
    k = len(edges) - 1
    values, names, colors = list(range(1, k + 1)), class_names(k), class_colors(k)
    ramp = [c for _, c in probability_ramp()]  # evenly spaced over 0-1
    classes_style = paletted_qml(values, names, colors)
    prob_style = pseudocolor_qml(ramp)
    write_xml(classes_style, out.path("classes.qml"))
    write_xml(prob_style, out.path("probability.qml"))
    write_xml(classes_sld("classes", values, names, colors), out.path("classes.sld"), qgis=False)
    write_xml(ramp_sld("probability", ramp), out.path("probability.sld"), qgis=False)
    events = [(1, "event", EVENT_COLOR), (0, "non-event", NON_EVENT_COLOR)]
    samples_style = categorized_qml("label", events)
    write_xml(samples_style, out.path("samples.qml"))
    qml_text = out.path("samples.qml").read_text(encoding="utf-8")
    try:
        _store_gpkg_style(out.path("samples.gpkg"), "samples", qml_text, "")
    except Exception as err:  # a style the GeoPackage cannot hold is not worth the run; a full disk is
        failure = write_failure(err, [out.path("samples.gpkg")], check_space=True)
        if str(failure).startswith("no space left"):
            raise failure from err
        log.warning("samples.gpkg: the style could not be stored in layer_styles (%s)", err)
    written = [*GIS_FILES]

    layers = [
        ProjectLayer("events", "samples (events, non-events)", "samples.gpkg", samples_style, "vector", "samples")
    ]
    for column in [c for c in samples.columns if c.startswith("fold_")]:
        ids = np.asarray(samples[column], dtype=np.int64)
        n = int(ids.max()) + 1 if ids.size and ids.max() >= 0 else 0
        cats = [(i, f"fold {i}", c) for i, c in enumerate(fold_colors(n))]
        if (ids < 0).any():
            cats.append((-1, "not tested", _NOT_TESTED))
        scheme = column.removeprefix("fold_")
        layers.append(
            ProjectLayer(
                column, f"folds: {scheme}", "samples.gpkg", categorized_qml(column, cats), "vector", "samples", False
            )
        )
    has_shade = _write_hillshade(study, stack, out)
    layers.append(
        ProjectLayer(
            "classes",
            "susceptibility classes",
            "classes.tif",
            paletted_qml(values, names, colors, 0.65 if has_shade else 1),
        )
    )
    layers.append(ProjectLayer("probability", "probability", "probability.tif", prob_style, visible=False))
    for m in model_maps:
        mk = len(m.edges) - 1
        m_names, m_colors = class_names(mk), class_colors(mk)
        m_values = list(range(1, mk + 1))
        write_xml(paletted_qml(m_values, m_names, m_colors), out.path(f"{m.folder}classes.qml"))
        write_xml(prob_style, out.path(f"{m.folder}probability.qml"))
        write_xml(classes_sld("classes", m_values, m_names, m_colors), out.path(f"{m.folder}classes.sld"), qgis=False)
        write_xml(ramp_sld("probability", ramp), out.path(f"{m.folder}probability.sld"), qgis=False)
        written += [f"{m.folder}{n}" for n in ("classes.qml", "probability.qml", "classes.sld", "probability.sld")]
        style = paletted_qml(m_values, m_names, m_colors)
        layers.append(
            ProjectLayer(
                f"classes_{m.folder.strip('/').replace('/', '_')}",
                f"classes: {m.label}",
                f"{m.folder}classes.tif",
                style,
                visible=False,
            )
        )
    if has_shade:
        layers.append(ProjectLayer("hillshade", "hillshade", "hillshade.tif", gray_qml(1, 255)))
        written.append("hillshade.tif")
    grid = stack.grid
    epsg = grid.crs.to_epsg()
    left, bottom, right, top = grid.bounds
    write_qgs(
        out.path("susmap.qgs"),
        layers,
        title=f"susmap: {study.name}",
        crs_wkt=grid.crs.to_wkt(),
        authid=f"EPSG:{epsg}" if epsg else None,
        extent=(left, bottom, right, top),
    )
    return written
