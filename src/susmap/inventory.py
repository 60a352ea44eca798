"""Read an event inventory and turn it into grid cells.

Points come from CSV (x/y columns named in the study), GeoPackage, Shapefile
or GeoJSON; polygons from the vector formats. Polygons become the cells whose
centres they contain (all of them, or the upper part by elevation: the source
area of paper 001, section 2.2, where only initiation areas are sampled).
Vector data in another CRS than the grid is reprojected (exact for vectors);
data without a CRS is refused unless the study states one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from rasterio import features
from rasterio.windows import Window
from rasterio.windows import transform as window_transform
from shapely.geometry import box

from susmap.errors import InputFileError, InventoryError
from susmap.grid import Grid, parse_crs
from susmap.stack import Stack
from susmap.study import InventoryConfig

__all__ = ["EventCells", "inventory_cells", "parse_labels", "read_inventory"]

log = logging.getLogger(__name__)

_TRUE = {"1", "true", "t", "yes", "y", "1.0"}
_FALSE = {"0", "false", "f", "no", "n", "0.0"}


@dataclass
class EventCells:
    """Inventory events as grid cells.

    Attributes
    ----------
    rows, cols : ndarray of int64
        Cell indices on the study grid.
    x, y : ndarray of float
        Coordinates in the grid CRS (the point itself, or the cell centre for polygons).
    label : ndarray of int8 or None
        1 = event, 0 = non-event; None for presence-only inventories.
    event_id : ndarray of int64
        Index of the feature (row of the inventory file) each cell comes from.
    counts : dict
        How many features were read, dropped off the grid, etc. (for the log and report).
    """

    rows: np.ndarray
    cols: np.ndarray
    x: np.ndarray
    y: np.ndarray
    label: np.ndarray | None
    event_id: np.ndarray
    counts: dict[str, int]

    def subset(self, keep: np.ndarray) -> EventCells:
        return EventCells(
            rows=self.rows[keep],
            cols=self.cols[keep],
            x=self.x[keep],
            y=self.y[keep],
            label=None if self.label is None else self.label[keep],
            event_id=self.event_id[keep],
            counts=dict(self.counts),
        )


def parse_labels(values: pd.Series, *, column: str, path: Path) -> np.ndarray:
    """0/1 labels from booleans, numbers or TRUE/FALSE/yes/no strings.

    Raises
    ------
    InventoryError
        A value that is none of those, or a missing value; the message names the column.
    """
    if values.isna().any():
        raise InventoryError(f"{path}: label column {column!r} has {int(values.isna().sum())} empty value(s)")
    text = values.astype(str).str.strip().str.lower()
    pos = text.isin(_TRUE)
    neg = text.isin(_FALSE)
    bad = ~(pos | neg)
    if bad.any():
        examples = ", ".join(repr(v) for v in pd.unique(values[bad])[:3])
        raise InventoryError(f"{path}: label column {column!r} must hold 0/1 or TRUE/FALSE; found {examples}")
    return pos.to_numpy().astype(np.int8)


def read_inventory(cfg: InventoryConfig, grid: Grid) -> gpd.GeoDataFrame:
    """The inventory as a GeoDataFrame in the grid CRS.

    Raises
    ------
    InputFileError, InventoryError
    """
    path = Path(cfg.path)
    if not path.exists():
        raise InputFileError(f"{path}: inventory file not found")
    if path.is_dir() and path.suffix.lower() != ".gdb":  # a File Geodatabase is a folder
        raise InputFileError(
            f"{path}: is a directory, not an inventory file; set inventory.path to the CSV, GeoPackage, "
            "Shapefile or GeoJSON file"
        )
    if path.suffix.lower() in {".csv", ".txt"}:
        gdf = _read_csv_points(cfg, path)
    else:
        if cfg.x or cfg.y:
            raise InventoryError(f"{path}: inventory.x/inventory.y apply to CSV files only")
        _check_vector_layer(path, cfg.layer)
        try:
            gdf = gpd.read_file(path, layer=cfg.layer) if cfg.layer else gpd.read_file(path)
        except Exception as err:
            raise InventoryError(f"{path}: cannot read the inventory ({str(err).splitlines()[0]})") from None
        if gdf.crs is None:
            if cfg.crs is None:
                raise InventoryError(f"{path}: the inventory has no CRS; state it as inventory.crs")
            gdf = gdf.set_crs(parse_crs(cfg.crs, key="inventory.crs").to_wkt())
    if len(gdf) == 0:
        raise InventoryError(f"{path}: the inventory holds no features")
    gdf = gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)]
    kinds = set(gdf.geom_type.unique())
    wanted = {"points": {"Point", "MultiPoint"}, "polygons": {"Polygon", "MultiPolygon"}}[cfg.geometry]
    if not kinds <= wanted:
        raise InventoryError(
            f"{path}: inventory.geometry is {cfg.geometry!r} but the file holds {', '.join(sorted(kinds))}"
        )
    if cfg.label is not None and cfg.label not in gdf.columns:
        cols = ", ".join(c for c in gdf.columns if c != "geometry")
        raise InventoryError(f"{path}: label column {cfg.label!r} not found (columns: {cols})")
    if not gdf.crs.equals(grid.crs):
        log.info("inventory %s reprojected from %s to the grid CRS", path.name, gdf.crs.to_string())
        gdf = gdf.to_crs(grid.crs.to_wkt())
    return gdf.reset_index(drop=True)


def _read_csv_points(cfg: InventoryConfig, path: Path) -> gpd.GeoDataFrame:
    if not cfg.x or not cfg.y:
        raise InventoryError(f"{path}: a CSV inventory needs inventory.x and inventory.y (column names)")
    if cfg.crs is None:
        raise InventoryError(f"{path}: a CSV has no CRS; state the coordinates' CRS as inventory.crs")
    try:
        df = pd.read_csv(path)
    except Exception as err:
        raise InventoryError(f"{path}: cannot read the CSV ({str(err).splitlines()[0]})") from None
    for key, col in (("inventory.x", cfg.x), ("inventory.y", cfg.y)):
        if col not in df.columns:
            raise InventoryError(f"{path}: {key} column {col!r} not found (columns: {', '.join(df.columns)})")
    if len(df) == 0:
        raise InventoryError(f"{path}: has no rows (a header only, no events)")
    for key, col in (("inventory.x", cfg.x), ("inventory.y", cfg.y)):
        if df[col].notna().any() and not pd.api.types.is_numeric_dtype(df[col]):
            bad = pd.to_numeric(df[col], errors="coerce").isna() & df[col].notna()
            examples = ", ".join(repr(v) for v in pd.unique(df.loc[bad, col])[:3])
            raise InventoryError(
                f"{path}: {key} column {col!r} is not numeric (e.g. {examples} on line(s) {_csv_lines(bad)})"
            )
    missing = df[cfg.x].isna() | df[cfg.y].isna()
    if missing.any():
        n = int(missing.sum())
        rows, lines = ("row", "line") if n == 1 else ("rows", "lines")
        raise InventoryError(
            f"{path}: {n} {rows} with missing x/y ({lines} {_csv_lines(missing)}); fill in or delete them"
        )
    crs = parse_crs(cfg.crs, key="inventory.crs")
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df[cfg.x], df[cfg.y]), crs=crs.to_wkt())


def _csv_lines(mask: pd.Series, show: int = 10) -> str:
    """Line numbers in the CSV file (the header is line 1) of the rows where ``mask`` holds, the first ``show``."""
    lines = (np.flatnonzero(mask.to_numpy()) + 2).tolist()
    text = ", ".join(str(n) for n in lines[:show])
    return text + (f", ... ({len(lines) - show} more)" if len(lines) > show else "")


def _check_vector_layer(path: Path, layer: str | None) -> None:
    """Refuse a multi-layer file without ``inventory.layer``, or a layer it does not hold, naming its layers."""
    try:
        layers = gpd.list_layers(path)
    except Exception:  # unreadable files get gpd.read_file's message
        return
    names = [str(n) for n in layers["name"]]
    spatial = [str(n) for n, g in zip(layers["name"], layers["geometry_type"], strict=True) if g is not None]
    if layer is None and len(spatial) > 1:  # tables without geometry (QGIS's layer_styles) do not count
        raise InventoryError(f"{path}: holds layers {', '.join(spatial)}; set inventory.layer to the one to use")
    if layer is not None and layer not in names:
        raise InventoryError(
            f"{path}: no layer {layer!r} (layers: {', '.join(names) or 'none'}); check inventory.layer"
        )


def inventory_cells(gdf: gpd.GeoDataFrame, cfg: InventoryConfig, stack: Stack, *, strip_rows: int = 512) -> EventCells:
    """Grid cells of the inventory's events; events off the grid are dropped and counted.

    Points: the cell holding each point (multipoints: each part). Polygons:
    the cells whose centres they contain, rasterized strip by strip so the
    grid is never held whole; with ``polygon_cells: source`` only cells at or
    above the ``1 - upper_fraction`` elevation quantile of their polygon stay.
    Overlapping polygons: a cell belongs to the later one.
    """
    grid = stack.grid
    path = Path(cfg.path)
    labels_all = parse_labels(gdf[cfg.label], column=cfg.label, path=path) if cfg.label else None
    counts = {"features": len(gdf)}
    if cfg.geometry == "points":
        parts = gdf.geometry.explode(index_parts=False)
        fid = parts.index.to_numpy(dtype=np.int64)
        x = parts.x.to_numpy()
        y = parts.y.to_numpy()
        rows, cols, inside = grid.rowcol(x, y)
        counts["off_grid"] = int((~inside).sum())
        if not inside.any():
            raise InventoryError(
                f"{path}: no event of the inventory falls on the study grid ({len(x)} points, all off the grid)"
            )
        if counts["off_grid"]:
            log.warning("%d of %d inventory points lie off the grid and were dropped", counts["off_grid"], len(x))
        rows, cols, x, y, fid = rows[inside], cols[inside], x[inside], y[inside], fid[inside]
    else:
        rows, cols, fid = _rasterize_polygons(gdf, grid, strip_rows)
        counts["polygons_without_cells"] = int(len(gdf) - np.unique(fid).size)
        if rows.size == 0:
            raise InventoryError(
                f"{path}: no polygon of the inventory covers a cell centre of the study grid ({len(gdf)} polygons)"
            )
        if counts["polygons_without_cells"]:
            log.warning(
                "%d of %d polygons cover no cell centre of the grid (off the grid or too small) and were dropped",
                counts["polygons_without_cells"],
                len(gdf),
            )
        counts["polygon_cells"] = int(rows.size)
        if cfg.polygon_cells == "source" and rows.size:
            keep = _source_area(rows, cols, fid, stack, cfg)
            counts["non_source_cells_dropped"] = int((~keep).sum())
            rows, cols, fid = rows[keep], cols[keep], fid[keep]
        x, y = grid.xy(rows, cols)
    if rows.size == 0:
        raise InventoryError(f"{path}: no event of the inventory falls on the study grid")
    label = None if labels_all is None else labels_all[fid]
    return EventCells(rows=rows, cols=cols, x=x, y=y, label=label, event_id=fid, counts=counts)


def _rasterize_polygons(gdf: gpd.GeoDataFrame, grid: Grid, strip_rows: int) -> tuple[np.ndarray, ...]:
    rows_out, cols_out, ids_out = [], [], []
    sindex = gdf.sindex
    for r0 in range(0, grid.height, strip_rows):
        h = min(strip_rows, grid.height - r0)
        win = Window(0, r0, grid.width, h)
        tr = window_transform(win, grid.transform)
        left, top = tr * (0, 0)
        right, bottom = tr * (grid.width, h)
        hits = sindex.query(box(min(left, right), min(top, bottom), max(left, right), max(top, bottom)))
        if hits.size == 0:
            continue
        hits = np.sort(hits)
        shapes = ((gdf.geometry.iloc[i], int(i) + 1) for i in hits)
        burned = features.rasterize(shapes, out_shape=(h, grid.width), transform=tr, fill=0, dtype="int32")
        r, c = np.nonzero(burned)
        rows_out.append(r + r0)
        cols_out.append(c)
        ids_out.append(burned[r, c].astype(np.int64) - 1)
    if not rows_out:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    return np.concatenate(rows_out), np.concatenate(cols_out), np.concatenate(ids_out)


def _source_area(rows: np.ndarray, cols: np.ndarray, fid: np.ndarray, stack: Stack, cfg: InventoryConfig) -> np.ndarray:
    """Mask of cells in the upper ``upper_fraction`` of their polygon by elevation."""
    src = cfg.source_area
    if src is None:
        raise InventoryError("inventory.polygon_cells: source needs an inventory.source_area section")
    elev = stack.values_at(rows, cols, factor=src.elevation_layer)[:, 0]
    frame = pd.DataFrame({"fid": fid, "elev": elev})
    threshold = frame.groupby("fid")["elev"].transform(lambda e: np.nanquantile(e, 1.0 - src.upper_fraction))
    return (frame["elev"] >= threshold).to_numpy()
