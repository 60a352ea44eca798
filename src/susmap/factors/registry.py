"""The factor registry: every conditioning factor susmap derives, by name.

A factor is a function ``func(ctx, **params) -> xarray.DataArray`` that
returns one float32 layer ``(y, x)`` on the study grid, NaN = nodata. ``ctx``
(:class:`FactorContext`) gives it the grid, the DEM (lazy, dask-backed), the
study's input layers, vector files read in the grid CRS, and a cache shared
by the factors of one study (a filled DEM or a flow accumulation is computed
once for TWI, SPI and LS).

Each spec states the output ``units`` and whether the factor is a whole-grid
operation (flow routing, Euclidean distance transforms) that holds the grid
in memory, or a chunked stencil that works on rasters larger than memory.
Its parameters (:meth:`FactorSpec.parameters`: type, default, units,
meaning) are read from the signature and the numpy-style docstring of the
factor function, which is therefore the one place they are documented;
``susmap factors --list`` prints them (:func:`factor_listing`).

The context also holds what several factor families share: the metric-grid
check (:meth:`FactorContext.require_metric_grid`), filtered vector features
(:meth:`FactorContext.features`), the plausible range of points and
features given to a factor (:attr:`FactorContext.plausible_reach`) and lazy
functions of the cell-centre coordinates (:meth:`FactorContext.map_cells`),
used by the proximity and the seismic factors alike.
"""

from __future__ import annotations

import inspect
import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask.array as da
import geopandas as gpd
import numpy as np
import shapely
import xarray as xr

from susmap.errors import AlignmentError, StudyConfigError, SusmapError
from susmap.grid import Grid
from susmap.registry import Registry, check_params

__all__ = [
    "WHOLE_GRID_BYTES_PER_CELL",
    "FactorContext",
    "FactorParam",
    "FactorSpec",
    "available_factors",
    "check_number",
    "compute_factor",
    "factor_listing",
    "factor_parameters",
    "format_factor",
    "get_factor",
    "holds_whole_grid",
    "register_factor",
    "to_dataarray",
]

#: Peak memory of the whole-grid factors [bytes per cell]: flow routing holds about 4 GB for a
#: 10,000 x 10,000 DEM (docs/DESIGN.md, "Memory"); used to refuse a grid they cannot hold.
WHOLE_GRID_BYTES_PER_CELL = 40


def holds_whole_grid(factor: str, params: dict | None = None) -> bool:
    """Whether the registry factor ``factor`` with ``params`` holds the whole grid in memory.

    A whole-grid factor asked to run by chunks (``tiled: true``, e.g. the
    tiled distance transform of ``distance_to_features``) does not; an
    unknown factor name counts as not whole-grid (the registry refuses it
    elsewhere).
    """
    spec = available_factors().get(factor)
    return bool(getattr(spec, "whole_grid", False)) and not bool((params or {}).get("tiled", False))


def check_number(value: float, name: str, *, positive: bool = False, units: str = "") -> float:
    """``value`` as a finite float (and > 0 with ``positive``), else a StudyConfigError naming ``name``.

    ``units`` (e.g. ``" [m]"``) is written after "number" in the message.
    """
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise StudyConfigError(f"{name} must be a number{units}, not {value!r}") from None
    if positive and (not math.isfinite(value) or value <= 0):
        raise StudyConfigError(f"{name} must be a positive number{units}, not {value!r}")
    if not math.isfinite(value):
        raise StudyConfigError(f"{name} must be finite, not {value!r}")
    return value


# Points and features given to a factor must lie within max(PLAUSIBLE_DISTANCE [m], PLAUSIBLE_DIAGONALS grid
# diagonals) of the grid (FactorContext.plausible_reach).
PLAUSIBLE_DISTANCE = 1_000_000.0
PLAUSIBLE_DIAGONALS = 10.0


@dataclass(frozen=True)
class FactorSpec:
    """How to derive one factor.

    Attributes
    ----------
    name : str
        Registry name, used as ``kind`` in the study's ``factors:`` list.
    func : callable
        ``func(ctx, **params)`` returning a (y, x) float32 DataArray on the grid.
    description : str
        One line with the method and its citation.
    units : str
        Output units, e.g. ``"degrees"``, ``"m"``, ``"1/m"``, ``"ln(m)"``.
    whole_grid : bool
        True when the computation holds the whole grid in memory (routing,
        distance transforms); False for chunked stencils.
    references : tuple of str
        Keys of :mod:`susmap.references`: the method's origin (and the paper
        that uses the factor, where one of the five does).
    """

    name: str
    func: Callable[..., xr.DataArray]
    description: str
    units: str
    whole_grid: bool = False
    references: tuple[str, ...] = ()

    def parameters(self) -> list[FactorParam]:
        """Every parameter a study may give this factor (all but ``ctx``), documented from the function.

        Names, order and defaults come from the signature; type, meaning and
        units from the numpy-style ``Parameters`` section of the docstring.
        """
        return factor_parameters(self.func)

    def notes(self) -> str:
        """The ``Notes`` section of the factor function's docstring (method, conventions), or ``""``."""
        return _doc_sections(self.func).get("Notes", "").strip()


@dataclass(frozen=True)
class FactorParam:
    """One parameter of a factor, as ``susmap factors --list`` shows it.

    Attributes
    ----------
    name : str
        The key under the factor's ``params:`` in the study.
    type : str
        Its type or the values it takes, e.g. ``"float"``, ``'{"quartic", "gaussian"}'``.
    default : str
        ``"required"``, or the default as YAML would spell it (``none`` for None).
    units : str
        Units of a numeric value (``"m"``, ``"degrees"`` ...), ``""`` when it has none.
    meaning : str
        What it does, from the docstring.
    """

    name: str
    type: str
    default: str
    units: str
    meaning: str


def _doc_sections(func: Callable[..., Any]) -> dict[str, str]:
    """The numpy-style sections of ``func``'s docstring, by title (a line underlined with dashes)."""
    lines = (inspect.getdoc(func) or "").splitlines()
    sections: dict[str, list[str]] = {}
    current = "Summary"
    i = 0
    while i < len(lines):
        line = lines[i]
        underline = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if line.strip() and not line.startswith(" ") and underline and set(underline) == {"-"}:
            current = line.strip()
            i += 2
            continue
        sections.setdefault(current, []).append(line)
        i += 1
    return {title: "\n".join(body) for title, body in sections.items()}


def _doc_params(func: Callable[..., Any]) -> dict[str, tuple[str, str]]:
    """``{name: (type, meaning)}`` from the ``Parameters`` section (``x, y : float`` documents both)."""
    out: dict[str, tuple[str, list[str]]] = {}
    names: list[str] = []
    for line in _doc_sections(func).get("Parameters", "").splitlines():
        if line.strip() and not line.startswith(" "):
            head, _, typ = line.partition(" : ")
            names = [n.strip() for n in head.split(",") if n.strip()]
            for n in names:
                out[n] = (typ.strip(), [])
        elif line.strip():
            for n in names:
                out[n][1].append(line.strip())
    return {n: (typ, " ".join(text)) for n, (typ, text) in out.items()}


def _param_units(name: str, meaning: str) -> str:
    """Units of a parameter: the first ``[...]`` of its meaning (up to a comma), else from a ``_m`` suffix."""
    match = re.search(r"\[([^\]]+)\]", meaning)
    if match:
        units = match.group(1).split(",")[0].strip()
        return units.split()[0] if len(units) > 12 else units
    return "m" if name.endswith("_m") else ""


def factor_parameters(func: Callable[..., Any]) -> list[FactorParam]:
    """The study parameters of factor function ``func`` (all but ``ctx``), in signature order."""
    docs = _doc_params(func)
    params = []
    for p in inspect.signature(func).parameters.values():
        if p.name == "ctx" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        typ, meaning = docs.get(p.name, ("", ""))
        ref = re.search(r"as :func:`~?([\w.]+)`", meaning)
        if not typ and ref:  # "threshold, unit, method: Stream definition, as :func:`streams`"
            other = getattr(sys.modules.get(func.__module__), ref.group(1).rsplit(".", 1)[-1], None)
            if callable(other) and p.name in (more := _doc_params(other)):
                typ, inherited = more[p.name]
                meaning = f"{inherited} ({meaning.rstrip('.')})"
        typ = re.sub(r",\s*(optional|default\s*=.*)$", "", typ).strip()
        if p.default is inspect.Parameter.empty:
            default = "required"
        elif p.default is None:
            default = "none"
        elif isinstance(p.default, bool):
            default = str(p.default).lower()
        else:
            default = f"{p.default:g}" if isinstance(p.default, float) else str(p.default)
        numeric = typ.split(" or ")[0] in ("float", "int")
        params.append(FactorParam(p.name, typ, default, _param_units(p.name, meaning) if numeric else "", meaning))
    return params


_REGISTRY: Registry[FactorSpec] = Registry(
    "factor",
    "factors",
    [f"susmap.factors.{family}" for family in ("terrain", "hydrology", "proximity", "seismic", "spectral")],
)


def register_factor(spec: FactorSpec) -> FactorSpec:
    """Add a factor to the registry (each name once)."""
    return _REGISTRY.register(spec)


def register_factors(
    rows: Sequence[tuple[Any, ...]],
    *,
    whole_grid: bool = False,
) -> None:
    """Register a family of factors given as ``(name, func, units, description[, references])`` rows."""
    for name, func, units, description, *refs in rows:
        references = tuple(refs[0]) if refs else ()
        register_factor(
            FactorSpec(
                name=name, func=func, description=description, units=units, whole_grid=whole_grid, references=references
            )
        )


def available_factors() -> dict[str, FactorSpec]:
    """All registered factors, by name."""
    return _REGISTRY.available()


def get_factor(kind: str) -> FactorSpec:
    """The spec of factor ``kind``; unknown kinds list the known ones."""
    return _REGISTRY.get(kind)


def _shorten(text: str, width: int) -> str:
    """``text`` on one line, cut at a word boundary to ``width`` characters (with an ellipsis)."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    return text[: width - 1].rsplit(" ", 1)[0] + " …"


def format_factor(spec: FactorSpec, *, full: bool = False, width: int = 100) -> list[str]:
    """Lines describing one factor for ``susmap factors --list``.

    The header is ``name [units] description`` (``(whole grid)`` for
    in-memory factors); then, per parameter, ``name : type [units], default
    value`` (or ``required``) and its meaning on the next line: cut to one
    line of about ``width`` characters, or with ``full`` the whole text
    wrapped, followed by the method notes of the factor's docstring.
    """
    import textwrap

    whole = " (whole grid)" if spec.whole_grid else ""
    lines = [f"{spec.name} [{spec.units}] {spec.description}{whole}"]
    params = spec.parameters()
    if not params:
        lines.append("    (no parameters)")
    for p in params:
        units = f" [{p.units}]" if p.units else ""
        default = "required" if p.default == "required" else f"default {p.default}"
        lines.append(f"    {p.name} : {p.type or 'any'}{units}, {default}")
        meaning = p.meaning or "(undocumented)"
        if full:
            lines += textwrap.wrap(meaning, width, initial_indent=" " * 8, subsequent_indent=" " * 8)
        else:
            lines.append(" " * 8 + _shorten(meaning, width - 8))
    if full and (notes := spec.notes()):
        lines += ["", "    Notes", *("    " + line if line.strip() else "" for line in notes.splitlines())]
    return lines


def factor_listing(name: str | None = None) -> str:
    """The text of ``susmap factors --list [NAME]``: every factor with its parameters, or one factor in full.

    Raises
    ------
    StudyConfigError
        ``name`` is not a registered factor (the message lists the known ones).
    """
    if name is not None:
        return "\n".join(format_factor(get_factor(name), full=True)) + "\n"
    blocks = ["\n".join(format_factor(spec)) for spec in available_factors().values()]
    footer = "susmap factors --list NAME shows one factor in full; parameters go under `params:` of a study factor."
    return "\n\n".join([*blocks, footer]) + "\n"


@dataclass
class FactorContext:
    """What a factor function may use.

    Attributes
    ----------
    grid : Grid
        The study grid (projected, metres).
    dem : xarray.DataArray
        The DEM on the grid, (y, x), float32 [m], NaN = nodata, dask-backed.
    layers : mapping
        ``{name: DataArray}`` of the study's input layers (lazy), for factors
        built from other rasters (NDVI from red and NIR bands).
    chunks : int
        Chunk size (rows = cols) of lazy results.
    edges : str
        ``"nodata"``: a stencil touching the border or nodata gives nodata;
        ``"extrapolate"``: the border is padded by linear extrapolation.
    cache : dict
        Intermediate results shared between the factors of one study.
    base : Path
        Folder against which relative paths in factor parameters are resolved.
    workdir : Path or None
        Folder for the intermediate rasters of tiled factors (``tiled: true``
        routing); None: a temporary folder kept for the context's life.
        :func:`~susmap.factors.derive.derive_factors` sets it inside the
        output folder and removes it once the factors are written.
    """

    grid: Grid
    dem: xr.DataArray
    layers: Mapping[str, xr.DataArray] = field(default_factory=dict)
    chunks: int = 512
    edges: str = "nodata"
    cache: dict[str, Any] = field(default_factory=dict)
    base: Path = field(default_factory=Path.cwd)
    workdir: Path | None = None

    @classmethod
    def from_array(
        cls,
        dem: np.ndarray,
        *,
        cellsize: float = 10.0,
        crs: str = "EPSG:32717",
        origin: tuple[float, float] = (500000.0, 9000000.0),
        chunks: int = 512,
        **kwargs: Any,
    ) -> FactorContext:
        """A context over an in-memory DEM [m] (tests, notebooks); ``origin`` is the top-left corner [m]."""
        from affine import Affine
        from rasterio.crs import CRS

        dem = np.asarray(dem, dtype=np.float32)
        grid = Grid(
            crs=CRS.from_user_input(crs),
            transform=Affine(cellsize, 0, origin[0], 0, -cellsize, origin[1]),
            height=dem.shape[0],
            width=dem.shape[1],
        )
        ctx = cls(grid=grid, dem=None, chunks=chunks, **kwargs)  # type: ignore[arg-type]
        ctx.dem = to_dataarray(da.from_array(dem, chunks=chunks), ctx, "dem", "m")
        return ctx

    @property
    def cellsize(self) -> float:
        """Cell size [m]; square cells are required for terrain derivatives."""
        dx, dy = self.grid.res
        if not np.isclose(dx, dy, rtol=1e-6):
            raise AlignmentError(f"terrain factors need square cells; the grid has {dx:g} x {dy:g}")
        return float(dx)

    def layer(self, name: str) -> xr.DataArray:
        """An input layer by name, or a clear error listing the known ones."""
        if name not in self.layers:
            raise StudyConfigError(f"factors: no input layer named {name!r} (layers: {', '.join(self.layers)})")
        return self.layers[name]

    def path(self, value: str | Path) -> Path:
        """A parameter path, resolved against the study folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.base / p).resolve()

    def vector(self, value: str | Path, *, layer: str | None = None) -> gpd.GeoDataFrame:
        """A vector file (GeoPackage, Shapefile, GeoJSON, ...) in the grid CRS."""
        from susmap.errors import InputFileError

        path = self.path(value)
        key = f"vector:{path}:{layer}"
        if key in self.cache:
            return self.cache[key]
        if not path.exists():
            raise InputFileError(f"{path}: vector file not found")
        try:
            gdf = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
        except Exception as err:
            raise StudyConfigError(f"{path}: cannot read vector data ({str(err).splitlines()[0]})") from None
        if gdf.crs is None:
            raise AlignmentError(f"{path}: vector data without a CRS; assign one (e.g. in QGIS) first")
        gdf = gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)].to_crs(self.grid.crs.to_wkt())
        self.cache[key] = gdf
        return gdf

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per study for ``key`` (e.g. the filled DEM)."""
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]

    def require_metric_grid(self, what: str) -> None:
        """Refuse a geographic or rotated grid: distances and azimuths need a projected, north-up one.

        Raises
        ------
        AlignmentError
            The grid CRS is geographic, or its transform rotates or flips the axes.
        """
        self.grid.require_projected(what)
        t = self.grid.transform
        if t.b != 0 or t.d != 0 or t.a <= 0 or t.e >= 0:
            raise AlignmentError(
                f"{what}: needs a north-up grid without rotation; the grid transform is {tuple(t)[:6]}"
            )

    def features(
        self, value: str | Path, *, layer: str | None = None, where: str | None = None, what: str
    ) -> tuple[gpd.GeoDataFrame, str]:
        """The features of a vector file in the grid CRS, filtered by ``where``, and the file's resolved name.

        Parameters
        ----------
        value : str or Path
            Vector file, relative to the study folder or absolute.
        layer : str, optional
            Layer of a multi-layer file.
        where : str, optional
            Attribute filter, a pandas query on the file's columns, e.g. ``"type == 'fault'"``.
        what : str
            The factor asking, for messages.

        Raises
        ------
        InputFileError
            The file does not exist.
        StudyConfigError
            ``where`` cannot be evaluated, or no feature is left.
        """
        gdf = self.vector(value, layer=layer)
        name = str(self.path(value))
        if where is not None:
            try:
                gdf = gdf.query(where)
            except Exception as err:
                raise StudyConfigError(
                    f"{what}: {name}: where={where!r} cannot be evaluated ({str(err).splitlines()[0]}); "
                    f"columns: {', '.join(map(str, gdf.columns))}"
                ) from None
        if len(gdf) == 0:
            filt = f" matching where={where!r}" if where is not None else ""
            raise StudyConfigError(f"{what}: {name} holds no feature{filt}")
        return gdf, name

    @property
    def plausible_reach(self) -> float:
        """How far [grid CRS units] a point or feature given to a factor may lie from the grid.

        ``max(PLAUSIBLE_DISTANCE, PLAUSIBLE_DIAGONALS × grid diagonal)``: 1,000 km or
        10 grid diagonals, whichever is larger. Anything farther is almost
        certainly in another CRS (an epicentre in degrees on a UTM grid lies
        thousands of km from it) and is refused.
        """
        left, bottom, right, top = self.grid.bounds
        return max(PLAUSIBLE_DISTANCE, PLAUSIBLE_DIAGONALS * math.hypot(right - left, top - bottom))

    def distance_from_grid(self, geoms: Any) -> np.ndarray:
        """Distance [grid CRS units] of each shapely geometry from the grid's rectangle (0 on or inside it)."""
        return shapely.distance(shapely.box(*self.grid.bounds), np.asarray(geoms, dtype=object))

    def require_near_grid(self, distance: float, *, what: str, param: str, hint: str) -> None:
        """Refuse a point or feature set lying beyond :attr:`plausible_reach` of the grid.

        Raises
        ------
        StudyConfigError
            One line naming the factor (``what``) and the parameter, with the
            distance and ``hint`` (what to check).
        """
        reach = self.plausible_reach
        if not math.isfinite(distance):
            raise StudyConfigError(
                f"{what}: {param} has no place in the grid CRS ({self.grid.crs.to_string()}): its coordinates do "
                f"not transform to it; {hint}"
            )
        if not distance <= reach:
            raise StudyConfigError(
                f"{what}: {param} lies {distance / 1000:,.0f} km from the grid (more than {reach / 1000:,.0f} km, "
                f"the plausible range); {hint}"
            )

    def map_cells(self, func: Callable[[np.ndarray, np.ndarray], np.ndarray], n_out: int = 0) -> da.Array:
        """Lazy float32 ``func(x, y)`` of the cell-centre coordinates, chunk by chunk.

        ``func`` gets float64 arrays (h, w) of one chunk's cell-centre
        coordinates in the grid CRS and returns (h, w), or (n_out, h, w) when
        ``n_out`` is given; the result is (rows, cols) or (n_out, rows, cols),
        chunked by :attr:`chunks`.
        """
        grid = self.grid
        rows = da.arange(grid.height, chunks=self.chunks, dtype=np.float64)
        cols = da.arange(grid.width, chunks=self.chunks, dtype=np.float64)

        def block(r: np.ndarray, c: np.ndarray) -> np.ndarray:
            x, y = grid.xy(r, c)
            return func(x, y).astype(np.float32, copy=False)

        # Output chunks stated: dask infers (rows, 1) when the columns form a single chunk.
        if n_out:
            chunks = ((n_out,), rows.chunks[0], cols.chunks[0])
            return da.map_blocks(block, rows[:, None], cols[None, :], dtype=np.float32, new_axis=0, chunks=chunks)
        chunks = (rows.chunks[0], cols.chunks[0])
        return da.map_blocks(block, rows[:, None], cols[None, :], dtype=np.float32, chunks=chunks)


def to_dataarray(data: np.ndarray | da.Array, ctx: FactorContext, name: str, units: str, **attrs: Any) -> xr.DataArray:
    """Wrap a (rows, cols) array as a float32 DataArray on the grid with its own metadata."""
    if tuple(data.shape) != ctx.grid.shape:
        raise ValueError(f"factor {name!r}: shape {data.shape} differs from the grid {ctx.grid.shape}")
    x, y = ctx.grid.coords()
    return xr.DataArray(
        data.astype(np.float32),
        dims=("y", "x"),
        coords={"y": y, "x": x},
        name=name,
        attrs={"units": units, "long_name": name, **attrs},
    )


def compute_factor(kind: str, ctx: FactorContext, params: Mapping[str, Any] | None = None) -> xr.DataArray:
    """Derive factor ``kind`` with ``params``; unknown parameters are a StudyConfigError."""
    spec = get_factor(kind)
    params = dict(params or {})
    check_params(spec.func, params, where=f"factors: {kind}", skip=["ctx"])
    try:
        out = spec.func(ctx, **params)
    except SusmapError:
        raise
    except ValueError as err:  # factor functions raise ValueError for bad parameter values
        raise StudyConfigError(f"factors: {kind}: {err}") from None
    out.attrs.setdefault("units", spec.units)
    return out
