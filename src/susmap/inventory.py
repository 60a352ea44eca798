"""Read an event inventory and turn it into grid cells.

Points come from CSV (x/y columns named in the study), GeoPackage, Shapefile
or GeoJSON; polygons from the vector formats. ``inventory.where`` keeps the
features whose attributes match an expression. Polygons become cells by a
stated rule (``inventory.polygon_cells``): the cells whose centres they
contain, every cell they touch, or the cells they cover by a least area
share; a polygon that gets no cell by the rule (smaller than a cell) keeps
the cell of its centroid, so no polygon is lost for being small. With a
``source_area`` section only the upper part of each polygon by elevation
stays (the source area of paper 001, section 2.2, where only initiation
areas are sampled), never less than one cell. Every feature dropped (off the
grid) is counted and logged with its reason.
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
import shapely
from rasterio import features
from rasterio.windows import Window
from rasterio.windows import transform as window_transform
from shapely.geometry import box

from susmap.errors import InputFileError, InventoryError, StudyConfigError
from susmap.grid import Grid, parse_crs
from susmap.stack import Stack
from susmap.study import InventoryConfig

__all__ = ["EventCells", "event_times", "inventory_cells", "parse_labels", "read_inventory", "select_events"]

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
        Index of the feature each cell comes from: its row in the inventory file (features without a
        geometry, which are skipped and logged, not counted).
    counts : dict
        How many features were read, dropped off the grid, etc. (for the log and report).
    time : ndarray or None
        The event's time (``inventory.time_field``) per cell: floats, or
        datetime64 for dates; NaN / NaT where the inventory gives none.
    avoid_rows, avoid_cols : ndarray of int64 or None
        Cells of every event of the inventory on the grid, those left out by
        ``inventory.where`` or dropped later on nodata included: no absence is
        drawn there (None: the event cells themselves).
    avoid_shapes : ndarray of shapely geometries or None
        Polygon inventories: every polygon (the ``where``-excluded too), whole;
        absences keep off them and their buffer.
    """

    rows: np.ndarray
    cols: np.ndarray
    x: np.ndarray
    y: np.ndarray
    label: np.ndarray | None
    event_id: np.ndarray
    counts: dict[str, int]
    time: np.ndarray | None = None
    avoid_rows: np.ndarray | None = None
    avoid_cols: np.ndarray | None = None
    avoid_shapes: np.ndarray | None = None

    def subset(self, keep: np.ndarray) -> EventCells:
        """The cells selected by ``keep`` (mask or indices); what absences avoid stays whole."""
        return EventCells(
            rows=self.rows[keep],
            cols=self.cols[keep],
            x=self.x[keep],
            y=self.y[keep],
            label=None if self.label is None else self.label[keep],
            event_id=self.event_id[keep],
            counts=dict(self.counts),
            time=None if self.time is None else self.time[keep],
            avoid_rows=self.avoid_rows,
            avoid_cols=self.avoid_cols,
            avoid_shapes=self.avoid_shapes,
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
    empty = gdf.geometry.isna() | gdf.geometry.is_empty
    if empty.all():
        raise InventoryError(f"{path}: none of the {len(gdf)} features of the inventory has a geometry")
    if empty.any():
        log.warning("%d of %d features of %s have no geometry and were skipped", int(empty.sum()), len(gdf), path.name)
    gdf = gdf[~empty]
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


def select_events(gdf: gpd.GeoDataFrame, cfg: InventoryConfig) -> gpd.GeoDataFrame:
    """The features matching ``inventory.where`` (all when it is not set); the index is kept.

    The expression is a pandas query on the attribute table, e.g.
    ``Year_obs < 2006`` or ``type == "slide" and area_m2 > 100`` (a column
    name with spaces goes in backticks). A missing value never matches.

    Raises
    ------
    StudyConfigError
        An expression pandas cannot evaluate (syntax, unknown column), or one
        that is not a true/false condition; the message names the key and the columns.
    """
    if cfg.where is None:
        return gdf
    attrs = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    columns = ", ".join(map(str, attrs.columns)) or "none"
    where = f"{Path(cfg.path).name}: inventory.where {cfg.where!r}"
    try:
        mask = attrs.eval(cfg.where, engine="python")
    except Exception as err:
        cause = " ".join(str(err).split()) or type(err).__name__
        raise StudyConfigError(f"{where} cannot be evaluated ({cause}); columns: {columns}") from None
    if not isinstance(mask, pd.Series) or len(mask) != len(attrs) or not pd.api.types.is_bool_dtype(mask):
        raise StudyConfigError(f"{where} is not a true/false condition per feature; columns: {columns}")
    return gdf[mask.to_numpy()]


def event_times(gdf: gpd.GeoDataFrame, cfg: InventoryConfig) -> np.ndarray:
    """The ``inventory.time_field`` of every feature: floats (years, numbers) or datetime64 (dates).

    Empty values give NaN / NaT (an event without a time).

    Raises
    ------
    InventoryError
        The column is missing, or holds text that is neither a number nor a date.
    """
    path = Path(cfg.path)
    col = cfg.time_field
    if col not in gdf.columns or col == gdf.geometry.name:
        cols = ", ".join(str(c) for c in gdf.columns if c != gdf.geometry.name)
        raise InventoryError(f"{path}: inventory.time_field column {col!r} not found (columns: {cols})")
    values = gdf[col]
    if pd.api.types.is_bool_dtype(values):
        raise InventoryError(f"{path}: inventory.time_field column {col!r} holds true/false, not dates or numbers")
    if pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype=np.float64)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.to_numpy(dtype="datetime64[ns]")
    text = values.astype("string").str.strip()
    empty = values.isna() | (text == "")
    numbers = pd.to_numeric(text.where(~empty), errors="coerce")
    if (numbers.notna() | empty).all():
        return numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    dates = pd.to_datetime(text.where(~empty), errors="coerce", format="mixed")
    bad = dates.isna() & ~empty
    if bad.any():
        examples = ", ".join(repr(v) for v in pd.unique(values[bad])[:3])
        raise InventoryError(
            f"{path}: inventory.time_field column {col!r} must hold dates or numbers; found {examples}"
        )
    if isinstance(dates.dtype, pd.DatetimeTZDtype):
        dates = dates.dt.tz_convert("UTC").dt.tz_localize(None)
    return dates.to_numpy(dtype="datetime64[ns]")


def inventory_cells(gdf: gpd.GeoDataFrame, cfg: InventoryConfig, stack: Stack) -> EventCells:
    """Grid cells of the inventory's events; every feature dropped is counted and logged with its reason.

    ``inventory.where`` is applied first (the features it leaves out are
    counted as ``where_excluded``; absences still keep off them). Points:
    the cell holding each point (multipoints: each part); points off the grid
    are dropped (``off_grid``). Polygons: the cells of the
    ``inventory.polygon_cells`` rule, each polygon on its own (overlapping
    polygons share cells; :func:`susmap.sampling.build_samples` merges them);
    a polygon without a cell by the rule keeps the cell of its centroid
    (``polygons_centroid_cell``); polygons entirely off the grid are dropped
    (``polygons_off_grid``). With ``source_area`` only the cells at or above
    the ``1 - upper_fraction`` elevation quantile of their polygon stay, and
    at least the highest one (``source_area_highest_cell``).

    Raises
    ------
    InventoryError
        No event left on the grid; a bad label or time column.
    StudyConfigError
        A bad ``inventory.where``.
    """
    grid = stack.grid
    path = Path(cfg.path)
    counts = {"features": len(gdf)}
    if cfg.geometry == "polygons":
        gdf = _repaired(gdf, path, counts)
    every = gdf
    gdf = select_events(gdf, cfg)
    if cfg.where is not None:
        counts["where_excluded"] = int(len(every) - len(gdf))
        log.info(
            "inventory.where %r keeps %d of %d features (%d left out)",
            cfg.where,
            len(gdf),
            len(every),
            counts["where_excluded"],
        )
        if len(gdf) == 0:
            raise InventoryError(f"{path}: no feature matches inventory.where {cfg.where!r} (of {len(every)} features)")
    feature_ids = gdf.index.to_numpy(dtype=np.int64)  # features of read_inventory (its index is 0 .. n-1)
    gdf = gdf.reset_index(drop=True)
    labels_all = parse_labels(gdf[cfg.label], column=cfg.label, path=path) if cfg.label else None
    times_all = event_times(gdf, cfg) if cfg.time_field else None
    avoid_shapes = None
    if cfg.geometry == "points":
        parts = gdf.geometry.explode(index_parts=False)
        pos = parts.index.to_numpy(dtype=np.int64)
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
        rows, cols, x, y, pos = rows[inside], cols[inside], x[inside], y[inside], pos[inside]
        avoid_rows, avoid_cols = rows, cols
        if len(every) > len(gdf):
            all_parts = every.geometry.explode(index_parts=False)
            a_rows, a_cols, a_in = grid.rowcol(all_parts.x.to_numpy(), all_parts.y.to_numpy())
            avoid_rows, avoid_cols = a_rows[a_in], a_cols[a_in]
    else:
        rows, cols, pos = _polygons_to_cells(gdf, cfg, grid, counts)
        if cfg.source_area is not None:
            keep = _source_area(rows, cols, pos, stack, cfg, counts)
            counts["non_source_cells_dropped"] = int((~keep).sum())
            rows, cols, pos = rows[keep], cols[keep], pos[keep]
        x, y = grid.xy(rows, cols)
        avoid_rows, avoid_cols = rows, cols
        avoid_shapes = every.geometry.to_numpy()
    label = None if labels_all is None else labels_all[pos]
    time = None if times_all is None else times_all[pos]
    return EventCells(
        rows=rows,
        cols=cols,
        x=x,
        y=y,
        label=label,
        event_id=feature_ids[pos],
        counts=counts,
        time=time,
        avoid_rows=avoid_rows,
        avoid_cols=avoid_cols,
        avoid_shapes=avoid_shapes,
    )


def _repaired(gdf: gpd.GeoDataFrame, path: Path, counts: dict[str, int]) -> gpd.GeoDataFrame:
    """Polygons with invalid geometry (self-intersections, bow ties) made valid, their polygonal part kept."""
    invalid = ~gdf.geometry.is_valid.to_numpy()
    counts["polygons_repaired"] = int(invalid.sum())
    if not invalid.any():
        return gdf
    fixed = []
    for geom in shapely.make_valid(gdf.geometry.to_numpy()[invalid]):
        parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
        fixed.append(shapely.union_all(parts) if parts else shapely.Polygon())
    log.warning(
        "%d polygons of %s have invalid geometry (self-intersections) and were repaired (made valid)",
        int(invalid.sum()),
        path.name,
    )
    gdf = gdf.copy()
    geometry = gdf.geometry.to_numpy().copy()
    geometry[invalid] = fixed
    gdf[gdf.geometry.name] = gpd.GeoSeries(geometry, index=gdf.index, crs=gdf.crs)
    return gdf


def _polygons_to_cells(
    gdf: gpd.GeoDataFrame, cfg: InventoryConfig, grid: Grid, counts: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells of every polygon by the study's rule, the centroid cell when the rule gives none; counts updated."""
    path = Path(cfg.path)
    rule = cfg.polygon_cells
    rows_out, cols_out, pos_out = [], [], []
    fallback = off_grid = no_area = 0
    grid_box = box(*grid.bounds)
    for i, geom in enumerate(gdf.geometry):
        if geom.is_empty or geom.area <= 0:
            no_area += 1
            continue
        r, c = polygon_rule_cells(geom, grid, rule, cfg.min_area_share)
        if r.size == 0:
            cell = _centroid_cell(geom, grid, grid_box)
            if cell is None:
                off_grid += 1
                continue
            r, c = np.array([cell[0]], np.int64), np.array([cell[1]], np.int64)
            fallback += 1
        rows_out.append(r)
        cols_out.append(c)
        pos_out.append(np.full(r.size, i, dtype=np.int64))
    counts["polygons_off_grid"] = off_grid
    counts["polygons_centroid_cell"] = fallback
    counts["polygons_without_area"] = no_area
    n = len(gdf)
    if no_area:
        log.warning("%d of %d polygons have no area (collapsed to a line or point) and were dropped", no_area, n)
    if not rows_out:
        why = f"{off_grid} off it" + (f", {no_area} without area" if no_area else "")
        raise InventoryError(f"{path}: no polygon of the inventory lies on the study grid ({n} polygons: {why})")
    if off_grid:
        log.warning("%d of %d polygons lie off the grid and were dropped", off_grid, n)
    if fallback:
        how = {
            "centre": "cover no cell centre of the grid",
            "all_touched": "touch no cell of the grid",
            "area_share": f"cover no cell by at least {cfg.min_area_share:g} of its area",
        }[rule]
        log.info("%d of %d polygons %s and keep the cell of their centroid", fallback, n, how)
    rows = np.concatenate(rows_out)
    counts["polygon_cells"] = int(rows.size)
    return rows, np.concatenate(cols_out), np.concatenate(pos_out)


def polygon_rule_cells(geom, grid: Grid, rule: str, min_area_share: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the cells one polygon gives by ``rule`` (possibly none).

    ``centre``: cells whose centre lies inside; ``all_touched``: every cell
    the polygon touches; ``area_share``: cells whose area the polygon covers
    by at least ``min_area_share`` (exact intersection areas). Only the
    window of the polygon's bounds is rasterized.
    """
    empty = np.empty(0, dtype=np.int64)
    minx, miny, maxx, maxy = geom.bounds
    if not np.isfinite([minx, miny, maxx, maxy]).all():
        return empty, empty
    inv = ~grid.transform
    fc, fr = inv * (np.array([minx, maxx, minx, maxx]), np.array([miny, miny, maxy, maxy]))
    r0 = max(int(np.floor(fr.min())) - 1, 0)
    r1 = min(int(np.ceil(fr.max())) + 1, grid.height)
    c0 = max(int(np.floor(fc.min())) - 1, 0)
    c1 = min(int(np.ceil(fc.max())) + 1, grid.width)
    if r1 <= r0 or c1 <= c0:
        return empty, empty
    tr = window_transform(Window(c0, r0, c1 - c0, r1 - r0), grid.transform)
    burned = features.rasterize(
        [(geom, 1)], out_shape=(r1 - r0, c1 - c0), transform=tr, fill=0, all_touched=rule != "centre", dtype="uint8"
    )
    r, c = np.nonzero(burned)
    r = (r + r0).astype(np.int64)
    c = (c + c0).astype(np.int64)
    if rule == "area_share" and r.size:
        x, y = grid.xy(r, c)
        hx, hy = grid.res[0] / 2.0, grid.res[1] / 2.0
        cells = shapely.box(x - hx, y - hy, x + hx, y + hy)
        share = shapely.area(shapely.intersection(cells, geom)) / grid.cell_area
        keep = share >= min_area_share - 1e-9
        r, c = r[keep], c[keep]
    return r, c


def _centroid_cell(geom, grid: Grid, grid_box) -> tuple[int, int] | None:
    """The cell of the polygon's centroid (a point inside it when the centroid is not); None off the grid.

    A polygon partly off the grid uses its part on the grid.
    """
    part = geom if grid_box.contains(geom) else geom.intersection(grid_box)
    if part.is_empty or part.area <= 0:
        return None
    point = part.centroid
    if not part.contains(point):
        point = part.representative_point()
    rows, cols, inside = grid.rowcol(np.array([point.x]), np.array([point.y]))
    return (int(rows[0]), int(cols[0])) if inside[0] else None


def _source_area(
    rows: np.ndarray, cols: np.ndarray, pos: np.ndarray, stack: Stack, cfg: InventoryConfig, counts: dict[str, int]
) -> np.ndarray:
    """Mask of cells in the upper ``upper_fraction`` of their polygon by elevation; never empties a polygon.

    A polygon none of whose cells passes keeps its highest cell with data
    (``source_area_highest_cell``); one without any elevation data keeps its
    cells (they are dropped later as on nodata, counted there).
    """
    src = cfg.source_area
    elev = stack.values_at(rows, cols, factor=src.elevation_layer)[:, 0]
    keep = np.zeros(rows.size, dtype=bool)
    order = np.argsort(pos, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(pos[order]) != 0])
    highest = no_elevation = 0
    for idx in np.split(order, starts[1:]):
        e = elev[idx]
        finite = np.isfinite(e)
        if not finite.any():
            keep[idx] = True
            no_elevation += 1
            continue
        threshold = np.quantile(e[finite], 1.0 - src.upper_fraction)
        k = finite & (e >= threshold)
        if not k.any():
            k[np.nanargmax(np.where(finite, e, np.nan))] = True
            highest += 1
        keep[idx] = k
    counts["source_area_highest_cell"] = highest
    counts["source_area_without_elevation"] = no_elevation
    if highest:
        log.info("source area: %d polygons keep only their highest cell (no cell passed the rule)", highest)
    if no_elevation:
        log.warning(
            "source area: %d polygons have no elevation data in %r; the rule cannot rank their cells",
            no_elevation,
            src.elevation_layer,
        )
    log.info(
        "source area: %d of %d polygon cells in the upper %g of their polygon kept",
        int(keep.sum()),
        keep.size,
        src.upper_fraction,
    )
    return keep
