"""Classify a probability raster and tabulate its classes.

Works strip by strip on the written probability GeoTIFF, so memory holds one
strip of rows at a time whatever the map's size. ``classes.tif`` is a
Cloud-Optimized GeoTIFF (mode overviews) with a colour table and, in its
``.aux.xml`` sidecar (GDAL's PAM), a raster attribute table: class value,
name, lower and upper probability, colour; both from
:mod:`susmap.mapping.palette`, like the PNG legend.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from rasterio.windows import Window

from susmap.grid import Grid
from susmap.mapping.breaks import class_names
from susmap.mapping.frequency_ratio import frequency_ratio_table
from susmap.mapping.palette import class_colors, class_rgba, hex_to_rgba
from susmap.mapping.writer import PART_COMPRESS, cloud_optimize, geotiff_profile, part_path, remove_part

__all__ = [
    "CLASS_NODATA",
    "CLASS_TABLE_COLUMNS",
    "assign_classes",
    "class_rat_xml",
    "class_table",
    "classify_raster",
    "held_out_class_table",
    "read_class_rat",
    "sample_raster",
    "write_class_rat",
]

CLASS_NODATA = 0


def _strips(src: rasterio.DatasetReader, rows: int) -> Iterator[tuple[int, np.ndarray]]:
    for r0 in range(0, src.height, rows):
        h = min(rows, src.height - r0)
        strip = src.read(1, window=Window(0, r0, src.width, h), masked=True)
        yield r0, strip.astype(np.float64).filled(np.nan) if np.ma.is_masked(strip) else np.asarray(strip.data)


def _strip_rows(width: int, budget_cells: int = 4_000_000) -> int:
    return max(1, budget_cells // max(width, 1))


def sample_raster(path: Path, n: int, *, seed: int) -> tuple[np.ndarray, float, float, int]:
    """A uniform random sample of the valid cells of a probability raster.

    ``n`` cell indices are drawn without replacement over the whole grid;
    those on nodata are discarded, so the sample holds about ``n × valid share``
    values. The exact minimum, maximum and count of valid cells are
    computed in the same pass.

    Returns
    -------
    sample : ndarray, vmin : float, vmax : float, n_valid : int
    """
    rng = np.random.default_rng(seed)
    with rasterio.open(path) as src:
        n_cells = src.width * src.height
        picks = np.sort(rng.choice(n_cells, size=min(n, n_cells), replace=False))
        pick_rows, pick_cols = np.divmod(picks, src.width)
        out, vmin, vmax, n_valid = [], np.inf, -np.inf, 0
        for r0, strip in _strips(src, _strip_rows(src.width)):
            finite = np.isfinite(strip)
            count = int(finite.sum())
            if count:
                n_valid += count
                vmin = min(vmin, float(strip[finite].min()))
                vmax = max(vmax, float(strip[finite].max()))
            sel = (pick_rows >= r0) & (pick_rows < r0 + strip.shape[0])
            vals = strip[pick_rows[sel] - r0, pick_cols[sel]]
            out.append(vals[np.isfinite(vals)])
    sample = np.concatenate(out) if out else np.empty(0)
    if sample.size == 0 and n_valid:
        raise ValueError(f"{path}: the sample of {n} cells holds no valid cell; raise mapping.class_sample")
    return sample, vmin, vmax, n_valid


def assign_classes(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Class 1..k of each value (``edges[i-1] < v <= edges[i]``), 0 for NaN."""
    values = np.asarray(values)
    inner = np.asarray(edges)[1:-1]
    cls = np.searchsorted(inner, values, side="left").astype(np.uint8) + 1
    cls[~np.isfinite(values)] = CLASS_NODATA
    return cls


def classify_raster(
    prob_path: Path,
    out_path: Path,
    edges: np.ndarray,
    grid: Grid,
    *,
    event_rows: np.ndarray,
    event_cols: np.ndarray,
    compress: str = "deflate",
) -> tuple[np.ndarray, np.ndarray]:
    """Write the class raster (uint8, 1..k, 0 = nodata) of a probability raster.

    Returns
    -------
    cells : ndarray of shape (k,)
        Number of cells per class.
    event_classes : ndarray
        Class of each event cell (0 where the map has no value).
    """
    k = len(edges) - 1
    cells = np.zeros(k + 1, dtype=np.int64)
    event_rows = np.asarray(event_rows)
    event_cols = np.asarray(event_cols)
    event_classes = np.zeros(event_rows.size, dtype=np.uint8)
    profile = geotiff_profile(grid, "uint8", CLASS_NODATA, compress=PART_COMPRESS)
    out_path = Path(out_path)
    part = part_path(out_path)
    try:
        with rasterio.open(prob_path) as src, rasterio.open(part, "w", **profile) as dst:
            dst.set_band_description(1, "susceptibility class")
            dst.update_tags(classes=", ".join(f"{i}={n}" for i, n in enumerate(class_names(k), 1)))
            dst.write_colormap(1, class_rgba(k))
            for r0, strip in _strips(src, _strip_rows(src.width)):
                cls = assign_classes(strip, edges)
                cells += np.bincount(cls.ravel(), minlength=k + 1)
                sel = (event_rows >= r0) & (event_rows < r0 + strip.shape[0])
                event_classes[sel] = cls[event_rows[sel] - r0, event_cols[sel]]
                dst.write(cls, 1, window=Window(0, r0, src.width, strip.shape[0]))
        cloud_optimize(part, out_path, compress=compress, resampling="mode")
    finally:
        remove_part(out_path)
    write_class_rat(out_path, edges)
    return cells[1:], event_classes


#: Columns of the class raster attribute table: (name, GDAL field type, GDAL field usage).
#: Types: 0 integer, 1 real, 2 string; usages: 0 generic, 2 name, 5 min-max (the pixel value), 6-9 red-alpha.
RAT_FIELDS = (
    ("value", 0, 5),
    ("name", 2, 2),
    ("lower", 1, 0),
    ("upper", 1, 0),
    ("color", 2, 0),
    ("red", 0, 6),
    ("green", 0, 7),
    ("blue", 0, 8),
    ("alpha", 0, 9),
)


def class_rat_xml(edges: np.ndarray, names: Sequence[str] | None = None, colors: Sequence[str] | None = None) -> str:
    """GDAL PAM XML (``<PAMDataset>``) holding the thematic raster attribute table of a k-class raster.

    One row per class 1..k: value, name, lower and upper probability edge,
    colour (``#rrggbb``) and its red, green, blue, alpha (0-255). Names and
    colours default to :func:`~susmap.mapping.breaks.class_names` and
    :func:`~susmap.mapping.palette.class_colors`. The text depends only on
    its arguments (reruns give the same bytes).
    """
    edges = np.asarray(edges, dtype=float)
    k = len(edges) - 1
    names = list(names) if names is not None else class_names(k)
    colors = list(colors) if colors is not None else class_colors(k)
    if len(names) != k or len(colors) != k:
        raise ValueError(f"{k} classes need {k} names and colours, not {len(names)} and {len(colors)}")
    root = ET.Element("PAMDataset")
    band = ET.SubElement(root, "PAMRasterBand", band="1")
    rat = ET.SubElement(band, "GDALRasterAttributeTable", tableType="thematic")
    for i, (name, ftype, usage) in enumerate(RAT_FIELDS):
        fd = ET.SubElement(rat, "FieldDefn", index=str(i))
        ET.SubElement(fd, "Name").text = name
        ET.SubElement(fd, "Type").text = str(ftype)
        ET.SubElement(fd, "Usage").text = str(usage)
    for i in range(k):
        rgba = hex_to_rgba(colors[i])
        values = [i + 1, names[i], repr(float(edges[i])), repr(float(edges[i + 1])), colors[i], *rgba]
        row = ET.SubElement(rat, "Row", index=str(i))
        for v in values:
            ET.SubElement(row, "F").text = str(v)
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode") + "\n"


def write_class_rat(path: Path, edges: np.ndarray, names: Sequence[str] | None = None, colors=None) -> Path:
    """Write the raster attribute table of class raster ``path`` as its PAM sidecar ``<path>.aux.xml``.

    GDAL (``gdalinfo``, QGIS) reads it with the raster. Returns the sidecar's path.
    """
    sidecar = Path(f"{path}.aux.xml")
    sidecar.write_text(class_rat_xml(edges, names, colors), encoding="utf-8")
    return sidecar


def read_class_rat(path: Path) -> pd.DataFrame:
    """The raster attribute table of class raster ``path`` (from ``<path>.aux.xml``), one row per class."""
    sidecar = Path(f"{path}.aux.xml")
    rat = ET.parse(sidecar).getroot().find("PAMRasterBand/GDALRasterAttributeTable")
    if rat is None:
        raise ValueError(f"{sidecar}: no raster attribute table")
    fields = sorted(rat.findall("FieldDefn"), key=lambda f: int(f.get("index", 0)))
    columns = [f.findtext("Name") for f in fields]
    kinds = [int(f.findtext("Type") or 2) for f in fields]
    convert = {0: int, 1: float, 2: str}
    rows = [
        [convert[t](f.text or "") for t, f in zip(kinds, row.findall("F"), strict=True)]
        for row in sorted(rat.findall("Row"), key=lambda r: int(r.get("index", 0)))
    ]
    return pd.DataFrame(rows, columns=columns)


def class_table(cells: np.ndarray, event_classes: np.ndarray, edges: np.ndarray, cell_area_m2: float) -> pd.DataFrame:
    """Area, events, event density and frequency ratio per susceptibility class.

    Columns: ``class, name, lower, upper, cells, area_km2, area_pct, events,
    events_pct, density_per_km2, frequency_ratio``: the frequency-ratio table
    of :func:`susmap.mapping.frequency_ratio.frequency_ratio_table` (FR = share of events in
    the class over its share of area, paper 001 eq. 17; FR > 1 means more
    events than the class's area predicts) with the class edges and the event
    density [events/km²]. Events on cells without a map value are not counted.
    """
    k = len(edges) - 1
    table = frequency_ratio_table(np.asarray(cells), event_classes, cell_area_m2, class_labels=class_names(k))
    table = table.rename(columns={"label": "name"})
    table.attrs = {}
    table.insert(2, "lower", np.asarray(edges[:-1], dtype=float))
    table.insert(3, "upper", np.asarray(edges[1:], dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        density = np.where(table["area_km2"] > 0, table["events"] / table["area_km2"], np.nan)
    table.insert(table.columns.get_loc("frequency_ratio"), "density_per_km2", density)
    return table


#: Columns of :func:`class_table` (and :func:`held_out_class_table`).
CLASS_TABLE_COLUMNS = (
    "class",
    "name",
    "lower",
    "upper",
    "cells",
    "area_km2",
    "area_pct",
    "events",
    "events_pct",
    "density_per_km2",
    "frequency_ratio",
)


def held_out_class_table(table: pd.DataFrame, edges: np.ndarray, held_out_event_probs: np.ndarray) -> pd.DataFrame:
    """The map's class table with its event columns recounted for held-out events (a prediction-rate table).

    The area columns (``class`` … ``area_pct``) are the map's, copied from
    ``table``; each held-out event is placed in a class by its out-of-fold
    probability (the model that did not see it), with the map's class edges
    and the rule of the map itself (:func:`assign_classes`,
    ``edges[i-1] < p <= edges[i]``). ``events``, ``events_pct``,
    ``density_per_km2`` [events/km²] and ``frequency_ratio`` (share of
    held-out events over share of area, paper 001 eq. 17) are recomputed
    from them, so the table says how well the classes predict events no
    model was trained on, unlike the success table of :func:`class_table`.
    Events without a probability (NaN) are not counted.

    Parameters
    ----------
    table : DataFrame
        The map's class table, from :func:`class_table` (columns
        ``class, name, lower, upper, cells, area_km2, area_pct, events,
        events_pct, density_per_km2, frequency_ratio``), one row per class.
    edges : ndarray of shape (k + 1,)
        The map's class edges (probabilities, increasing).
    held_out_event_probs : ndarray
        Out-of-fold probability of each held-out event.

    Returns
    -------
    DataFrame
        Same columns and rows as ``table``.

    Raises
    ------
    ValueError
        ``table`` lacks a column, or its rows do not match the ``k`` classes of ``edges``.
    """
    missing = [c for c in CLASS_TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"held_out_class_table: the class table lacks the columns {', '.join(missing)}")
    edges = np.asarray(edges, dtype=float)
    k = edges.size - 1
    if len(table) != k:
        raise ValueError(f"held_out_class_table: the class table has {len(table)} rows for the {k} classes of edges")
    cells = table["cells"].to_numpy(dtype=np.int64)
    area_km2 = table["area_km2"].to_numpy(dtype=float)
    if cells.sum() <= 0 or area_km2.sum() <= 0:
        raise ValueError("held_out_class_table: the class table has no mapped cell")
    classes = assign_classes(np.asarray(held_out_event_probs, dtype=float).ravel(), edges)
    recount = class_table(cells, classes, edges, area_km2.sum() * 1e6 / cells.sum())
    out = table.copy()
    out.attrs = {}
    out["events"] = recount["events"].to_numpy()
    out["events_pct"] = recount["events_pct"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["density_per_km2"] = np.where(area_km2 > 0, out["events"].to_numpy() / area_km2, np.nan)
    out["frequency_ratio"] = recount["frequency_ratio"].to_numpy()
    return out
