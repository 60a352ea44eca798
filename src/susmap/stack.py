"""Open factor layers on the study grid as one dask-backed stack.

The stack is an :class:`xarray.DataArray` of dims ``(factor, y, x)``, float32,
with NaN wherever a layer (or the grid template) has nodata. Nothing is read
until computed: every layer is a lazy, chunked view of its file. A layer that
is not on the grid is warped onto it through a GDAL ``WarpedVRT`` (still lazy,
read window by window) when the study's ``alignment`` section allows it, and
refused otherwise with the mismatch named; a layer within
``alignment.tolerance`` of a cell of the grid is read cell for cell.

Layers with ``role: auxiliary`` (a DEM for the source-area rule or the map's
hillshade) or ``role: mask`` are opened on the grid beside the stack, in
:attr:`Stack.auxiliary`, and are not factors: :attr:`Stack.names` are the
predictors only. A mask's cells with no data or the value 0 are outside the
study area: every factor is NaN there, so no sample and no prediction falls
on them.

Values are checked before they are used, cheaply: a sample of each band (the
whole band when it has at most :data:`SAMPLE_CELLS` cells, else a regular
grid of small windows) is read to find untagged nodata sentinels (-9999,
-32768, ±3.4e38, the integer type's extreme when isolated from the other
values), which are refused until the study sets ``nodata:``, and to compute a
robust bound per continuous factor (:func:`robust_bound`). The one pass over
the stack that counts valid cells also counts the cells beyond the bound
(reported in the log; ``clip:`` clips them) and finds each layer's extremes,
so a sentinel the sample missed is refused too.

A layer's ``transform:`` steps (``log10``, ``log1p``, ``degrees``, ``clip``,
``scale``, ``offset``) are applied per chunk (:func:`apply_transform`) after
nodata is masked and before everything else: the robust bound, the outlier
count, ``clip:`` and the model see the transformed values. A step that
leaves a valid cell without a finite value (log of a value <= 0) is refused
with the layer and the count of such cells: from the sample when it holds
some, else exactly, in the counting pass.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import rasterio
import rioxarray
import xarray as xr
from dask.base import tokenize
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from susmap.errors import AlignmentError, RasterReadError, StudyConfigError
from susmap.grid import Grid, open_raster, parse_crs
from susmap.study import AlignmentConfig, GridConfig, LayerConfig

__all__ = [
    "OUTLIER_WIDTH",
    "SAMPLE_CELLS",
    "Stack",
    "apply_transform",
    "describe_transform",
    "find_sentinel",
    "open_grid",
    "open_layer",
    "open_stack",
    "robust_bound",
]

log = logging.getLogger(__name__)

#: Cells read per band to look for sentinels and to compute the outlier bound.
SAMPLE_CELLS = 1 << 20
#: Sampled windows per side of a band larger than :data:`SAMPLE_CELLS`.
SAMPLE_WINDOWS = 16
#: Width of the outlier bound, in inter-quantile ranges beyond the quantiles (see :func:`robust_bound`).
OUTLIER_WIDTH = 3.0
#: Absolute values this large are nodata markers (±3.4e38 = the float32 extremes ArcGIS and GDAL write).
HUGE = 1e38
#: Negative values commonly written for "no data" without a tag.
LOW_SENTINELS = (-9999.0, -99999.0, -32768.0, -32767.0)
#: A sentinel must stand apart from the other values by this share of their range.
ISOLATION = 0.1


@dataclass
class Stack:
    """Factor layers on one grid, and the auxiliary layers beside them.

    Attributes
    ----------
    grid : Grid
        The study grid.
    data : xarray.DataArray of shape (n_factors, height, width)
        Float32 values of the predictors, NaN = nodata; dask-backed, chunked (all factors, c, c).
    kinds : dict
        ``{factor name: "continuous" | "categorical"}`` of the predictors.
    n_valid : int
        Cells where every predictor and the template have data.
    sources : dict
        ``{layer name: file}`` of every layer, auxiliary ones included.
    auxiliary : dict
        ``{name: DataArray (y, x)}``: the ``role: auxiliary`` layers, float32,
        NaN where they or the template have nodata (they mask no predictor);
        lazy, chunked like the stack. Their kind is ``.attrs["kind"]``.
    outliers : dict
        ``{factor: {"cells", "below", "above", "low", "high", "most_extreme",
        "clipped"}}``: continuous predictors with cells beyond their robust
        bound (or their clip bounds), as the counting pass of
        :func:`open_stack` found them.
    transforms : dict
        ``{layer name: "log10(name)"}``: the layers read through a ``transform:``.
    """

    grid: Grid
    data: xr.DataArray
    kinds: dict[str, str]
    n_valid: int = 0
    sources: dict[str, Path] = field(default_factory=dict)
    auxiliary: dict[str, xr.DataArray] = field(default_factory=dict)
    outliers: dict[str, dict[str, float | int | bool]] = field(default_factory=dict)
    transforms: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        """The predictors: the factors models are fitted on and maps are predicted from."""
        return [str(n) for n in self.data["factor"].values]

    @property
    def valid(self) -> da.Array:
        """Lazy boolean mask (height, width): True where every factor has data."""
        return da.isfinite(self.data.data).all(axis=0)

    def layer(self, name: str) -> xr.DataArray:
        """One layer (y, x) by name: a predictor of the stack, or an auxiliary layer.

        Raises
        ------
        KeyError
            No layer of that name (the message lists the names there are).
        """
        if name in self.names:
            return self.data.sel(factor=name, drop=True)
        if name in self.auxiliary:
            return self.auxiliary[name]
        known = ", ".join([*self.names, *self.auxiliary])
        raise KeyError(f"no layer named {name!r} on the stack (layers: {known})")

    def values_at(self, rows: np.ndarray, cols: np.ndarray, factor: str | None = None) -> np.ndarray:
        """Factor values at cells, shape (n, n_factors), or (n, 1) for one layer ``factor``.

        ``factor`` may name an auxiliary layer. Reads only the chunks the cells fall in.
        """
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        if factor is not None and factor not in self.names and factor in self.auxiliary:
            data = self.auxiliary[factor].expand_dims(factor=[factor])
        else:
            data = self.data if factor is None else self.data.sel(factor=[factor])
        if rows.size == 0:
            return np.empty((0, data.sizes["factor"]), dtype=np.float32)
        pts = data.isel(y=xr.DataArray(rows, dims="s"), x=xr.DataArray(cols, dims="s"))
        return np.asarray(pts.transpose("s", "factor").values)


# --------------------------------------------------------------------------- value checks


def robust_bound(sample: np.ndarray) -> tuple[float, float]:
    """The outlier bound of a factor from a sample of its valid values.

    ``[q_p - w * r, q_(1-p) + w * r]`` with ``r = q_(1-p) - q_p``, ``w =``
    :data:`OUTLIER_WIDTH` and ``p = 0.1 %`` (``10 / n`` for a sample of
    ``n < 10,000`` values, at most 1 %, so a few extreme values never move
    the quantiles). A normal factor has nothing beyond ±21.6 sd; a single
    cell far from every other (a curvature spike of -34 among values of a
    few tenths) is beyond. ``(-inf, inf)`` when the quantiles coincide (a
    nearly constant factor) or the sample is empty.
    """
    values = np.asarray(sample, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (-math.inf, math.inf)
    p = min(0.01, max(0.001, 10.0 / values.size))
    q_low, q_high = np.quantile(values, [p, 1.0 - p])
    spread = float(q_high - q_low)
    if not spread > 0:
        return (-math.inf, math.inf)
    return (float(q_low - OUTLIER_WIDTH * spread), float(q_high + OUTLIER_WIDTH * spread))


def _sentinel_candidates(dtype: np.dtype) -> tuple[set[float], set[float]]:
    """Values that mark "no data" in files of ``dtype``: (at the low end, at the high end)."""
    low, high = set(LOW_SENTINELS), set()
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        if info.min < 0:
            low.add(float(info.min))
        high.update({float(info.max), 65535.0})
    return low, high


def _is_sentinel(value: float, candidates: set[float]) -> bool:
    return abs(value) >= HUGE or value in candidates


def find_sentinel(values: np.ndarray, dtype: np.dtype | str) -> tuple[float, int] | None:
    """An untagged nodata marker among a band's ``values`` (nodata already removed), or None.

    The marker is the lowest value when it is one of -9999, -99999, -32768,
    -32767 or the integer type's minimum, or the highest when it is the
    integer type's maximum (255 in bytes, 65535 in uint16, ...) or 65535, and
    it stands apart from every other value by at least :data:`ISOLATION` of
    their range (or is alone); any value of magnitude 1e38 or more is a
    marker. Returns the value and how many of ``values`` hold it.
    """
    values = np.asarray(values)
    if values.dtype.kind == "f":
        values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    low, high = _sentinel_candidates(np.dtype(dtype))
    vmin, vmax = float(values.min()), float(values.max())
    for value, candidates, sign in ((vmin, low, 1.0), (vmax, high, -1.0)):
        if not _is_sentinel(value, candidates):
            continue
        hit = _sentinel_hits(values, value)
        rest = values[~hit]
        if abs(value) < HUGE and rest.size:
            gap = sign * (float(rest.min() if sign > 0 else rest.max()) - value)
            if not gap > ISOLATION * float(rest.max() - rest.min()):
                continue
        return value, int(hit.sum())
    return None


def _sentinel_hits(values, value: float):
    """Cells of ``values`` (numpy or dask) holding the marker ``value`` (any value as huge, for ±3.4e38)."""
    if abs(value) >= HUGE:
        return values <= -HUGE if value < 0 else values >= HUGE
    return values == value


def _nodata_hits(values, value: float):
    """Cells of ``values`` (numpy or dask) equal to the nodata ``value`` in their own dtype (±3.4e38: any huge)."""
    if abs(value) >= HUGE:
        return _sentinel_hits(values, value)
    return values == np.asarray(value, dtype=values.dtype)


def _exact_marker(value: float) -> float:
    """A stated nodata as GDAL must see it: -3.4e38 as typed is the float32 extreme the file holds."""
    f32 = float(np.finfo(np.float32).max)
    return math.copysign(f32, value) if HUGE <= abs(value) <= 1.01 * f32 else value


def _fmt_value(value: float) -> str:
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _sample_band(src: rasterio.DatasetReader, band: int, path: Path) -> tuple[np.ndarray, bool]:
    """Raw values of a band: all of them when there are at most SAMPLE_CELLS, else a regular grid of windows.

    Returns the values (1-D, the file's dtype) and whether they are a sample.
    """
    height, width = src.height, src.width
    try:
        if height * width <= SAMPLE_CELLS:
            return src.read(band).ravel(), False
        side = max(1, int(math.sqrt(SAMPLE_CELLS / SAMPLE_WINDOWS**2)))
        wh, ww = min(side, height), min(side, width)
        rows = np.unique(np.linspace(0, height - wh, SAMPLE_WINDOWS).astype(int))
        cols = np.unique(np.linspace(0, width - ww, SAMPLE_WINDOWS).astype(int))
        parts = [src.read(band, window=Window(c, r, ww, wh)).ravel() for r in rows for c in cols]
    except rasterio.RasterioIOError as err:
        raise RasterReadError(f"{path}: cannot read band {band} ({str(err).splitlines()[0]})") from None
    return np.concatenate(parts), True


@dataclass
class _Checked:
    """What the value checks of one band found: its nodata, its dtype and a sample of its valid values."""

    nodata: float | str | None  # the override to apply when reading (None: the file's tag)
    dtype: np.dtype
    sample: np.ndarray  # valid values (float64), nodata removed
    checked: bool  # sentinels were looked for (no nodata override)
    sampled: bool = False  # the sample is a sample, not the whole band


def _check_values(src, band: int, path: Path, what: str, key: str, override: float | str | None) -> _Checked:
    """Resolve a band's nodata and refuse an untagged sentinel or an integer band tagged NaN."""
    dtype = np.dtype(src.dtypes[band - 1])
    tag = src.nodatavals[band - 1]
    raw, sampled = _sample_band(src, band, path)
    integer = np.issubdtype(dtype, np.integer)
    if override == "none":
        nodata = None
    elif override is not None:
        nodata = float(override)
        if integer and not math.isnan(nodata):
            info = np.iinfo(dtype)
            if not math.isfinite(nodata) or nodata != int(nodata) or not info.min <= nodata <= info.max:
                raise StudyConfigError(
                    f"{path}: {key} {_fmt_value(nodata)} cannot occur in {what}, a {dtype.name} raster "
                    f"(whole numbers {info.min} to {info.max}); give the value that marks its holes"
                )
    else:
        nodata = tag
    if integer and nodata is not None and math.isnan(nodata):
        found = find_sentinel(raw, dtype)
        hint = f"{key}: {_fmt_value(found[0])}" if found else f"{key} to the value marking its holes"
        said = "the study's" if override is not None else "the file's"
        raise RasterReadError(
            f"{path}: {what} is a {dtype.name} raster but {said} nodata is NaN, which no integer cell can hold, "
            f"so its holes would be read as data; set {hint} (or {key}: none if every cell is data)"
        )
    keep = np.isfinite(raw) if raw.dtype.kind == "f" else np.ones(raw.shape, dtype=bool)
    if nodata is not None and not math.isnan(nodata):
        keep &= ~_nodata_hits(raw, nodata)
    valid = raw[keep]
    if override is None:
        found = find_sentinel(valid, dtype)
        if found is not None:
            raise _sentinel_error(path, what, key, found[0], found[1], raw.size, sampled, tag)
    return _Checked(
        nodata=override, dtype=dtype, sample=valid.astype(np.float64), checked=override is None, sampled=sampled
    )


def _sentinel_error(
    path: Path, what: str, key: str, value: float, count: int, total: int, sampled: bool, tag: float | None
) -> RasterReadError:
    v = _fmt_value(value)
    seen = f"{count:,} of {total:,} cells sampled" if sampled else f"{count:,} of its {total:,} cells"
    declared = "the file declares no nodata" if tag is None else f"the file's nodata is {_fmt_value(tag)}"
    return RasterReadError(
        f"{path}: {what} holds {v} in {seen}, a nodata marker by the look of it, but {declared}; "
        f"set {key}: {v} to mask those cells, or {key}: none to use the values as data"
    )


# --------------------------------------------------------------------------- reading


def open_grid(cfg: GridConfig) -> tuple[Grid, da.Array]:
    """The study grid and the template band's validity mask (lazy, True = data)."""
    grid, template, _ = _open_template(cfg)
    return grid, da.isfinite(template)


def _open_template(cfg: GridConfig, chunks: int = 512) -> tuple[Grid, da.Array, _Checked]:
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
        checked = _check_values(
            src, cfg.band, cfg.template, f"the grid template (band {cfg.band})", "grid.nodata", cfg.nodata
        )
    template = _read_band(cfg.template, cfg.band, grid, chunks, nodata=checked.nodata)
    return grid, template, checked


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


def _read_band(
    path: Path,
    band: int,
    grid: Grid,
    chunks: int,
    vrt_options: dict | None = None,
    nodata: float | str | None = None,
) -> da.Array:
    """Lazy float32 array of one band on ``grid`` (NaN = nodata).

    ``nodata`` overrides the file's tag (``"none"``: every value is data);
    with ``vrt_options`` the warped VRT applies it.
    """
    manual = nodata is not None and vrt_options is None
    with contextlib.ExitStack() as stack:
        src = stack.enter_context(open_raster(path))
        obj = src
        if vrt_options is not None:
            obj = stack.enter_context(WarpedVRT(src, **vrt_options))
        try:
            # lazy, read by _BandWindows; lock=False: one dataset handle per reading thread (opened on its first
            # read, closed with the array), so the windows of all layers are read and decompressed in parallel
            arr = rioxarray.open_rasterio(obj, masked=not manual, cache=False, lock=False)
        except Exception as err:  # GDAL driver errors surface as many types
            raise RasterReadError(f"{path}: cannot read band {band} ({err})") from None
    lazy = arr.isel(band=band - 1)
    if lazy.shape != grid.shape:
        raise AlignmentError(f"{path}: read shape {lazy.shape} does not match the grid {grid.shape}")
    windows = _BandWindows(lazy, Path(path), band, repr(sorted((vrt_options or {}).items(), key=str)))
    # fancy=False: dask passes plain slices, never index arrays (xarray would index them orthogonally)
    data = da.from_array(windows, chunks=(chunks, chunks), fancy=False, meta=np.empty((0, 0), lazy.dtype))
    if manual and nodata != "none" and not math.isnan(float(nodata)):
        return da.where(_nodata_hits(data, float(nodata)), np.float32(np.nan), data.astype(np.float32))
    return data.astype(np.float32)


class _BandWindows:
    """Array-like of one band whose windows are read on demand (by dask tasks), as rioxarray reads them.

    Each thread reads through its own dataset handle (rioxarray's ``lock=False``), never behind a global lock.

    A window GDAL cannot read (a corrupt or truncated strip or tile) raises
    :class:`RasterReadError` naming the file and the window, instead of a
    bare rasterio error from deep inside a dask task.
    """

    def __init__(self, lazy: xr.DataArray, path: Path, band: int, warp: str) -> None:
        self.lazy, self.path, self.band, self.warp = lazy, path, band, warp
        self.shape = lazy.shape
        self.ndim = 2
        self.dtype = lazy.dtype

    def __dask_tokenize__(self):
        stat = self.path.stat() if self.path.exists() else None
        return tokenize(str(self.path), self.band, self.warp, self.shape, stat and (stat.st_mtime_ns, stat.st_size))

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        try:
            return np.asarray(self.lazy[key].values)
        except (RasterioError, OSError) as err:
            rows, cols = (_span(k, n) for k, n in zip(key, self.shape, strict=True))
            cause = (str(err.__cause__ or err).strip() or type(err).__name__).splitlines()[0]
            raise RasterReadError(
                f"{self.path}: cannot read band {self.band} in the window rows {rows}, columns {cols} "
                f"(damaged or truncated file? {cause})"
            ) from None


def _span(key, n: int) -> str:
    """``first-last`` of the cells an index (a slice, or integers) selects along an axis of length ``n``."""
    if isinstance(key, slice):
        start, stop, _ = key.indices(n)
        return f"{start}-{stop - 1}"
    idx = np.atleast_1d(np.asarray(key))
    return f"{int(idx.min())}-{int(idx.max())}" if idx.size else "none"


@dataclass
class _Opened:
    """A layer on the grid (lazy) and what its value checks found; ``values``: after its transform (or None)."""

    data: da.Array
    checked: _Checked
    values: da.Array | None = None

    @property
    def transformed(self) -> da.Array:
        return self.data if self.values is None else self.values


def open_layer(
    layer: LayerConfig, grid: Grid, alignment: AlignmentConfig, *, chunks: int = 512, key: str | None = None
) -> da.Array:
    """One layer on the study grid as a lazy float32 dask array (NaN = nodata).

    ``layer.nodata`` overrides the file's nodata tag; ``key`` is the study key
    that sets it, named in messages (default ``layers[].nodata``). The layer's
    ``clip`` is not applied here (see :func:`open_stack`).

    Raises
    ------
    AlignmentError
        No CRS (and none stated), or off the grid without permission to warp.
    RasterReadError
        An untagged nodata marker (-9999, ...) or an integer band tagged NaN, until ``nodata`` is set.
    """
    return _open_layer(layer, grid, alignment, chunks=chunks, key=key).data


def _open_layer(
    layer: LayerConfig, grid: Grid, alignment: AlignmentConfig, *, chunks: int, key: str | None = None
) -> _Opened:
    key = key or "layers[].nodata"
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
        problems = grid.mismatches(layer_grid, tolerance=alignment.tolerance)
        crs_differs = layer_grid.crs != grid.crs
        if problems and crs_differs and not alignment.allow_reproject:
            raise AlignmentError(
                f"{layer.path}: layer {layer.name!r} has {problems[0]}; set alignment.allow_reproject: true "
                "to warp it onto the grid, or reproject it yourself"
            )
        if problems and not crs_differs and not alignment.allow_resample:
            raise AlignmentError(
                f"{layer.path}: layer {layer.name!r} is off the grid: {'; '.join(problems)}; "
                "set alignment.allow_resample: true to resample it onto the grid"
            )
        checked = _check_values(src, band, layer.path, f"layer {layer.name!r}", key, layer.nodata)
    if not problems:
        if layer_grid.transform != grid.transform:
            log.info(
                "layer %r is within alignment.tolerance of the grid (origin off by %.3g, %.3g); read cell for cell",
                layer.name,
                layer_grid.transform.c - grid.transform.c,
                layer_grid.transform.f - grid.transform.f,
            )
        return _Opened(_read_band(layer.path, band, grid, chunks, nodata=checked.nodata), checked)
    vrt_options = {
        "src_crs": src_crs,
        "crs": grid.crs,
        "transform": grid.transform,
        "width": grid.width,
        "height": grid.height,
        "resampling": Resampling[layer.resampling_method],
    }
    if checked.nodata is not None:
        vrt_options["src_nodata"] = None if checked.nodata == "none" else _exact_marker(float(checked.nodata))
    if not has_nodata or checked.nodata is not None:
        # Cells outside the layer's footprint must become nodata, not 0.
        vrt_options["nodata"] = np.nan
        vrt_options["dtype"] = "float32"
    return _Opened(_read_band(layer.path, band, grid, chunks, vrt_options=vrt_options), checked)


# --------------------------------------------------------------------------- transforms

#: The domain each log step needs, in words (for the refusal).
_LOG_DOMAIN = {"log10": "values > 0", "log1p": "values > -1"}


def _step_name(step: str | dict) -> str:
    return step if isinstance(step, str) else next(iter(step))


def apply_transform(values: np.ndarray, steps: list) -> np.ndarray:
    """``values`` through a layer's ``transform:`` steps in order (float64 inside, float32 out; NaN stays NaN).

    ``log10`` and ``log1p`` give NaN outside their domain (<= 0, <= -1),
    never a warning; ``clip`` keeps NaN, as ``clip:`` does.
    """
    out = np.asarray(values, dtype=np.float64)
    for step in steps:
        if step == "log10":
            out = np.log10(np.where(out > 0, out, np.nan))
        elif step == "log1p":
            out = np.log1p(np.where(out > -1, out, np.nan))
        elif step == "degrees":
            out = np.degrees(out)
        else:
            ((name, arg),) = step.items()
            if name == "clip":
                out = np.clip(out, arg[0], arg[1])
            elif name == "scale":
                out = out * arg
            else:  # offset
                out = out + arg
    with np.errstate(over="ignore", invalid="ignore"):
        return out.astype(np.float32)


def describe_transform(name: str, steps: list) -> str:
    """A layer's transform as an expression: ``log10(catchment)``, ``clip(dist, 0, 300)``, ``(slope * 2) + 1``."""
    text = name
    for step in steps:
        if isinstance(step, str):
            text = f"{step}({text})"
            continue
        ((key, arg),) = step.items()
        if key == "clip":
            text = f"clip({text}, {_fmt_value(arg[0])}, {_fmt_value(arg[1])})"
        else:
            wrapped = f"({text})" if " " in text else text
            if key == "scale":
                text = f"{wrapped} * {_fmt_value(arg)}"
            else:
                text = f"{wrapped} {'-' if arg < 0 else '+'} {_fmt_value(abs(arg))}"
    return text


def _impossible_error(layer: LayerConfig, cells: int, total: int, sampled: bool, step: str | None) -> StudyConfigError:
    """The refusal of a transform that leaves ``cells`` valid cells of ``layer`` without a finite value."""
    where = f"{cells:,} of {total:,} cells sampled" if sampled else f"{cells:,} of its {total:,} valid cells"
    if step in _LOG_DOMAIN:
        return StudyConfigError(
            f"{layer.path}: layer {layer.name!r}: transform {step} needs {_LOG_DOMAIN[step]}, but {where} are not "
            f"(transform: {describe_transform(layer.name, layer.transform)}); add an offset step before it, "
            "use log1p, or mark those cells as nodata"
        )
    return StudyConfigError(
        f"{layer.path}: layer {layer.name!r}: transform {describe_transform(layer.name, layer.transform)} "
        f"leaves {where} without a finite value; change the transform steps"
    )


def _transform_sample(layer: LayerConfig, checked: _Checked) -> _Checked:
    """The layer's sample through its transform, refused when a step has no value for some of it."""
    sample = checked.sample
    for step in layer.transform:
        after = apply_transform(sample, [step]).astype(np.float64)
        lost = int((np.isfinite(sample) & ~np.isfinite(after)).sum())
        if lost:
            raise _impossible_error(layer, lost, sample.size, checked.sampled, _step_name(step))
        sample = after
    return _Checked(checked.nodata, checked.dtype, sample, checked.checked, checked.sampled)


def _apply_layer_transform(layer: LayerConfig, opened: _Opened) -> _Opened:
    """``opened`` with its lazy transformed values (per chunk) and its sample transformed; as is without steps."""
    if not layer.transform:
        return opened
    steps = list(layer.transform)
    values = opened.data.map_blocks(apply_transform, steps, dtype=np.float32, token="transform")
    label = describe_transform(layer.name, steps)
    log.info("layer %r enters the stack as %s", layer.name, label)
    return _Opened(opened.data, _transform_sample(layer, opened.checked), values)


# --------------------------------------------------------------------------- the stack


def _clip_bounds(layer: LayerConfig, bound: tuple[float, float]) -> tuple[float, float] | None:
    """The bounds ``layer.clip`` asks for: its own, the robust ``bound``, or None (no clipping)."""
    if layer.clip is None:
        return None
    low, high = bound if layer.clip == "robust" else layer.clip
    return None if (math.isinf(low) and math.isinf(high)) else (low, high)


def open_stack(
    grid_cfg: GridConfig,
    layers: list[LayerConfig],
    alignment: AlignmentConfig,
    *,
    chunks: int = 512,
    count: bool = True,
) -> Stack:
    """Open every layer on the study grid and stack the predictors (lazy); auxiliary layers go beside.

    A continuous predictor with ``clip`` is clipped (to ``[low, high]``, or
    with ``robust`` to :func:`robust_bound` of a sample of its values).

    With ``count=True`` the stack is read once to count valid cells per layer
    and jointly; a layer (or the combination) without a single valid cell is
    an error that names it. The same pass finds each layer's extremes: an
    untagged nodata marker the sample missed is refused like one it found,
    and a continuous predictor whose extremes pass its robust bound (or its
    clip bounds) is read once more to count those cells: a warning names the
    factor, the count, the bound and the most extreme value (an info line
    when they are clipped), recorded in :attr:`Stack.outliers`.

    Raises
    ------
    AlignmentError, RasterReadError, InputFileError, StudyConfigError
    """
    predictors = [layer for layer in layers if layer.role == "predictor"]
    if not predictors:
        raise StudyConfigError(
            f"layers: every layer is role: auxiliary or mask ({', '.join(layer.name for layer in layers) or 'none'}); "
            "a model needs at least one predictor layer or derived factor"
        )
    grid, template, template_checked = _open_template(grid_cfg, chunks)
    template_valid = da.isfinite(template)
    opened = {
        layer.name: _apply_layer_transform(layer, _open_layer(layer, grid, alignment, chunks=chunks))
        for layer in layers
    }
    checked_bounds: dict[str, tuple[float, float]] = {}
    arrays = []
    for layer in predictors:
        arr = opened[layer.name].transformed
        if layer.kind == "continuous":
            robust = robust_bound(opened[layer.name].checked.sample)
            clip = _clip_bounds(layer, robust)
            checked_bounds[layer.name] = clip or robust
            if clip is not None:
                arr = da.clip(arr, np.float32(clip[0]), np.float32(clip[1]))
        arrays.append(arr)
    data = da.stack(arrays, axis=0)
    # A cell is valid only where the template and every predictor have data, inside every mask (finite, not 0);
    # elsewhere all factors are NaN.
    valid = template_valid & da.isfinite(data).all(axis=0)
    for layer in layers:
        if layer.role == "mask":
            mask = opened[layer.name].data
            valid = valid & da.isfinite(mask) & (mask != 0)
    data = da.where(valid[None, :, :], data, np.float32(np.nan))
    data = data.rechunk({0: -1, 1: chunks, 2: chunks})
    x, y = grid.coords()
    names = [layer.name for layer in predictors]
    arr = xr.DataArray(
        data,
        dims=("factor", "y", "x"),
        coords={"factor": names, "y": y, "x": x},
        name="factors",
        attrs={"crs": grid.crs.to_wkt()},
    )
    auxiliary = {
        layer.name: xr.DataArray(
            da.where(template_valid, opened[layer.name].transformed, np.float32(np.nan)).rechunk((chunks, chunks)),
            dims=("y", "x"),
            coords={"y": y, "x": x},
            name=layer.name,
            attrs={"kind": layer.kind, "role": layer.role},
        )
        for layer in layers
        if layer.role in ("auxiliary", "mask")
    }
    stack = Stack(
        grid=grid,
        data=arr,
        kinds={layer.name: layer.kind for layer in predictors},
        sources={layer.name: layer.path for layer in layers},
        auxiliary=auxiliary,
        transforms={layer.name: describe_transform(layer.name, layer.transform) for layer in layers if layer.transform},
    )
    if count:
        stack.n_valid, extremes = _count_and_check(
            grid_cfg, layers, opened, template, template_checked, valid, checked_bounds
        )
        stack.outliers = _report_outliers(predictors, checked_bounds, extremes)
    return stack


def _count_and_check(
    grid_cfg: GridConfig,
    layers: list[LayerConfig],
    opened: dict[str, _Opened],
    template: da.Array,
    template_checked: _Checked,
    valid: da.Array,
    bounds: dict[str, tuple[float, float]],
) -> tuple[int, dict[str, tuple[float, float, int, int]]]:
    """One pass over the stack: valid cells and each layer's extremes; then cells beyond ``bounds``.

    Only a layer whose extremes lie beyond its bound (or are a nodata
    marker) is read again, to count those cells within the template's
    valid area. Returns the joint valid count and ``{name: (min, max,
    below, above)}`` of the layers with extremes beyond their bounds.
    """
    template_valid = da.isfinite(template)
    names = list(opened)
    tasks = {
        "per_layer": [da.isfinite(o.data).sum() for o in opened.values()],
        "joint": valid.sum(),
        "template_n": template_valid.sum(),
        "template_range": (da.nanmin(template), da.nanmax(template)),
        "ranges": [(da.nanmin(o.data), da.nanmax(o.data)) for o in opened.values()],
        # transformed layers: their range, and valid cells a step left without a finite value (exact, same pass)
        "transformed": {
            name: (
                da.nanmin(o.values),
                da.nanmax(o.values),
                (template_valid & da.isfinite(o.data) & ~da.isfinite(o.values)).sum(),
                (template_valid & da.isfinite(o.data)).sum(),
            )
            for name, o in opened.items()
            if o.values is not None
        },
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmin of a layer without data: NaN, refused below
        (got,) = dask.compute(tasks)
    if int(got["template_n"]) == 0:
        raise AlignmentError(f"{grid_cfg.template}: every cell of the grid template is nodata")
    by_name = {layer.name: layer for layer in layers}
    for name, n in zip(names, got["per_layer"], strict=True):
        if int(n) == 0:
            layer = by_name[name]
            raise AlignmentError(f"{layer.path}: layer {name!r} is nodata on every cell of the grid")

    def inside(data: da.Array) -> da.Array:
        return da.where(template_valid, data, np.float32(np.nan))

    _refuse_missed_sentinel(
        grid_cfg.template,
        f"the grid template (band {grid_cfg.band})",
        "grid.nodata",
        template,
        template_checked,
        got["template_range"],
    )
    ranges = dict(zip(names, got["ranges"], strict=True))
    for name in names:
        _refuse_missed_sentinel(
            by_name[name].path,
            f"layer {name!r}",
            "layers[].nodata",
            inside(opened[name].data),
            opened[name].checked,
            ranges[name],
        )
    for name, (_, _, lost, total) in got["transformed"].items():
        if int(lost):
            layer = by_name[name]
            steps = [_step_name(step) for step in layer.transform]
            logs = [step for step in steps if step in _LOG_DOMAIN]
            raise _impossible_error(layer, int(lost), int(total), False, logs[0] if len(logs) == 1 else None)
    if int(got["joint"]) == 0:
        involved = [layer.name for layer in layers if layer.role == "predictor"]
        involved += [f"{layer.name} (mask)" for layer in layers if layer.role == "mask"]
        raise AlignmentError(
            "no cell has data in every layer (the layers' valid areas do not overlap): " + ", ".join(involved)
        )
    tasks = {}
    for name, (low, high) in bounds.items():
        vmin, vmax = got["transformed"][name][:2] if name in got["transformed"] else ranges[name]
        if vmin < low or vmax > high:
            data = inside(opened[name].transformed)
            tasks[name] = ((data < low).sum(), (data > high).sum(), da.nanmin(data), da.nanmax(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        (beyond,) = dask.compute(tasks)
    extremes = {
        n: (float(vmin), float(vmax), int(below), int(above)) for n, (below, above, vmin, vmax) in beyond.items()
    }
    return int(got["joint"]), extremes


def _refuse_missed_sentinel(
    path: Path, what: str, key: str, data: da.Array, checked: _Checked, value_range: tuple[float, float]
) -> None:
    """Refuse a band whose exact extreme is a nodata marker its sample did not hold (counted exactly).

    ``data`` is the band within the template's valid area: a marker found
    only outside it reaches no cell of the study and is let be.
    """
    if not checked.checked:
        return
    for value in value_range:
        value = float(value)
        if not math.isfinite(value):
            continue
        found = find_sentinel(np.append(checked.sample, value), checked.dtype)
        if found is not None and found[0] == value:
            cells = int(_sentinel_hits(data, value).sum().compute())
            if cells:
                total = int(np.prod(data.shape))
                raise _sentinel_error(path, what, key, value, cells, total, False, None)


def _report_outliers(
    predictors: list[LayerConfig],
    bounds: dict[str, tuple[float, float]],
    extremes: dict[str, tuple[float, float, int, int]],
) -> dict[str, dict[str, float | int | bool]]:
    """Log, per continuous predictor, the cells beyond its bound; returns what was found, by name."""
    found: dict[str, dict[str, float | int | bool]] = {}
    for layer in predictors:
        if layer.name not in extremes:
            continue
        vmin, vmax, below, above = extremes[layer.name]
        if below + above == 0:
            continue
        low, high = bounds[layer.name]
        extreme = vmin if below and (not above or low - vmin >= vmax - high) else vmax
        clipped = layer.clip is not None
        found[layer.name] = {
            "cells": below + above,
            "below": below,
            "above": above,
            "low": low,
            "high": high,
            "most_extreme": extreme,
            "clipped": clipped,
        }
        cells = "cell" if below + above == 1 else "cells"
        shown = repr(layer.name) + (f" ({describe_transform(layer.name, layer.transform)})" if layer.transform else "")
        if clipped:
            log.info(
                "layer %s: %d %s beyond [%.4g, %.4g] (most extreme %.4g) clipped to it",
                shown,
                below + above,
                cells,
                low,
                high,
                extreme,
            )
        else:
            log.warning(
                "layer %s: %d %s beyond the robust bound [%.4g, %.4g] of its values (most extreme %.4g); "
                "check them, or set clip: robust (or clip: [low, high]) on it (layers[] or factors[])",
                shown,
                below + above,
                cells,
                low,
                high,
                extreme,
            )
    return found
