"""Open factor layers on the study grid as one dask-backed stack.

The stack is an :class:`xarray.DataArray` of dims ``(factor, y, x)``, float32,
with NaN wherever a layer (or the grid template) has nodata. Nothing is read
until computed: every layer is a lazy, chunked view of its file. A layer that
is not on the grid is warped onto it through a GDAL ``WarpedVRT`` (still lazy,
read window by window) when the study's ``alignment`` section allows it, and
refused otherwise with the mismatch named.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import rioxarray
import xarray as xr
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT

from susmap.errors import AlignmentError, RasterReadError
from susmap.grid import Grid, open_raster, parse_crs
from susmap.study import AlignmentConfig, GridConfig, LayerConfig

__all__ = ["Stack", "open_grid", "open_layer", "open_stack"]


@dataclass
class Stack:
    """Factor layers on one grid.

    Attributes
    ----------
    grid : Grid
        The study grid.
    data : xarray.DataArray of shape (n_factors, height, width)
        Float32 factor values, NaN = nodata; dask-backed, chunked (all factors, c, c).
    kinds : dict
        ``{factor name: "continuous" | "categorical"}``.
    n_valid : int
        Cells where every layer and the template have data.
    """

    grid: Grid
    data: xr.DataArray
    kinds: dict[str, str]
    n_valid: int = 0
    sources: dict[str, Path] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [str(n) for n in self.data["factor"].values]

    @property
    def valid(self) -> da.Array:
        """Lazy boolean mask (height, width): True where every factor has data."""
        return da.isfinite(self.data.data).all(axis=0)

    def values_at(self, rows: np.ndarray, cols: np.ndarray, factor: str | None = None) -> np.ndarray:
        """Factor values at cells, shape (n, n_factors) or (n, 1) for one ``factor``.

        Reads only the chunks the cells fall in.
        """
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        data = self.data if factor is None else self.data.sel(factor=[factor])
        if rows.size == 0:
            return np.empty((0, data.sizes["factor"]), dtype=np.float32)
        pts = data.isel(y=xr.DataArray(rows, dims="s"), x=xr.DataArray(cols, dims="s"))
        return np.asarray(pts.transpose("s", "factor").values)


def open_grid(cfg: GridConfig) -> tuple[Grid, da.Array]:
    """The study grid and the template band's validity mask (lazy, True = data)."""
    with open_raster(cfg.template) as src:
        if cfg.band > src.count:
            raise RasterReadError(f"{cfg.template}: grid.band {cfg.band} but the file has {src.count} band(s)")
        crs = src.crs
        if crs is None:
            if cfg.crs is None:
                raise AlignmentError(
                    f"{cfg.template}: the grid template has no CRS; state it as grid.crs (e.g. EPSG:32717)"
                )
            crs = parse_crs(cfg.crs, key="grid.crs")
        elif cfg.crs is not None and parse_crs(cfg.crs, key="grid.crs") != crs:
            raise AlignmentError(f"{cfg.template}: grid.crs {cfg.crs} contradicts the file's own CRS")
        grid = Grid.from_dataset(src, crs=crs)
    template = _read_band(cfg.template, cfg.band, grid, chunks=512)
    return grid, da.isfinite(template)


def _resolve_band(path: Path, band: int | str, names: tuple[str | None, ...], count: int) -> int:
    if isinstance(band, str):
        if band.isdigit():
            band = int(band)
        elif band in names:
            return names.index(band) + 1
        else:
            known = ", ".join(repr(n) for n in names if n) or "none"
            raise RasterReadError(f"{path}: no band described as {band!r} (band descriptions: {known})")
    if band > count:
        raise RasterReadError(f"{path}: band {band} requested but the file has {count} band(s)")
    return band


def _read_band(path: Path, band: int, grid: Grid, chunks: int, vrt_options: dict | None = None) -> da.Array:
    """Lazy float32 array of one band on ``grid`` (NaN = nodata)."""
    with contextlib.ExitStack() as stack:
        src = stack.enter_context(open_raster(path))
        obj = src
        if vrt_options is not None:
            obj = stack.enter_context(WarpedVRT(src, **vrt_options))
        try:
            arr = rioxarray.open_rasterio(obj, masked=True, chunks={"band": 1, "y": chunks, "x": chunks})
        except Exception as err:  # GDAL driver errors surface as many types
            raise RasterReadError(f"{path}: cannot read band {band} ({err})") from None
    data = arr.isel(band=band - 1).data
    if data.shape != grid.shape:
        raise AlignmentError(f"{path}: read shape {data.shape} does not match the grid {grid.shape}")
    return data.astype(np.float32)


def open_layer(layer: LayerConfig, grid: Grid, alignment: AlignmentConfig, *, chunks: int = 512) -> da.Array:
    """One layer on the study grid as a lazy float32 dask array (NaN = nodata).

    Raises
    ------
    AlignmentError
        No CRS (and none stated), or off the grid without permission to warp.
    """
    with open_raster(layer.path) as src:
        band = _resolve_band(layer.path, layer.band, src.descriptions, src.count)
        src_crs: CRS | None = src.crs
        if src_crs is None:
            if layer.crs is None:
                raise AlignmentError(
                    f"{layer.path}: layer {layer.name!r} has no CRS; state it as layers[].crs "
                    "if you know it (e.g. crs: EPSG:32717)"
                )
            src_crs = parse_crs(layer.crs, key=f"layer {layer.name}.crs")
        layer_grid = Grid.from_dataset(src, crs=src_crs)
        has_nodata = src.nodata is not None
    problems = grid.mismatches(layer_grid)
    if not problems:
        return _read_band(layer.path, band, grid, chunks)
    crs_differs = layer_grid.crs != grid.crs
    if crs_differs and not alignment.allow_reproject:
        raise AlignmentError(
            f"{layer.path}: layer {layer.name!r} has {problems[0]}; set alignment.allow_reproject: true "
            "to warp it onto the grid, or reproject it yourself"
        )
    if not crs_differs and not alignment.allow_resample:
        raise AlignmentError(
            f"{layer.path}: layer {layer.name!r} is off the grid: {'; '.join(problems)}; "
            "set alignment.allow_resample: true to resample it onto the grid"
        )
    vrt_options = {
        "src_crs": src_crs,
        "crs": grid.crs,
        "transform": grid.transform,
        "width": grid.width,
        "height": grid.height,
        "resampling": Resampling[layer.resampling_method],
    }
    if not has_nodata:
        # Cells outside the layer's footprint must become nodata, not 0.
        vrt_options["nodata"] = np.nan
        vrt_options["dtype"] = "float32"
    return _read_band(layer.path, band, grid, chunks, vrt_options=vrt_options)


def open_stack(
    grid_cfg: GridConfig,
    layers: list[LayerConfig],
    alignment: AlignmentConfig,
    *,
    chunks: int = 512,
    count: bool = True,
) -> Stack:
    """Open every layer on the study grid and stack them (lazy).

    With ``count=True`` the stack is read once to count valid cells per layer
    and jointly; a layer (or the combination) without a single valid cell is
    an error that names it.

    Raises
    ------
    AlignmentError, RasterReadError, InputFileError
    """
    grid, template_valid = open_grid(grid_cfg)
    arrays = [open_layer(layer, grid, alignment, chunks=chunks) for layer in layers]
    data = da.stack(arrays, axis=0)
    # A cell is valid only where the template and every layer have data; elsewhere all factors are NaN.
    valid = template_valid & da.isfinite(data).all(axis=0)
    data = da.where(valid[None, :, :], data, np.float32(np.nan))
    data = data.rechunk({0: -1, 1: chunks, 2: chunks})
    x, y = grid.coords()
    names = [layer.name for layer in layers]
    arr = xr.DataArray(
        data,
        dims=("factor", "y", "x"),
        coords={"factor": names, "y": y, "x": x},
        name="factors",
        attrs={"crs": grid.crs.to_wkt()},
    )
    stack = Stack(
        grid=grid,
        data=arr,
        kinds={layer.name: layer.kind for layer in layers},
        sources={layer.name: layer.path for layer in layers},
    )
    if count:
        per_layer, joint, template_n = dask.compute(
            da.stack([da.isfinite(a).sum() for a in arrays]), valid.sum(), template_valid.sum()
        )
        if int(template_n) == 0:
            raise AlignmentError(f"{grid_cfg.template}: every cell of the grid template is nodata")
        for layer, n in zip(layers, per_layer, strict=True):
            if int(n) == 0:
                raise AlignmentError(f"{layer.path}: layer {layer.name!r} is nodata on every cell of the grid")
        if int(joint) == 0:
            raise AlignmentError(
                "no cell has data in every layer (the layers' valid areas do not overlap): " + ", ".join(names)
            )
        stack.n_valid = int(joint)
    return stack
