"""The study grid and the checks that keep every layer on it.

Axis order everywhere in susmap is (band, row, column) = (factor, y, x); row 0
is the northern edge for north-up rasters. Cell centres are at
``transform * (col + 0.5, row + 0.5)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

from susmap.errors import AlignmentError, InputFileError, RasterReadError

__all__ = ["Grid", "open_raster", "parse_crs"]


def parse_crs(text: str, *, key: str) -> CRS:
    """Parse a user-given CRS string (``EPSG:32717``, WKT, PROJ); the error names ``key``."""
    try:
        return CRS.from_user_input(text)
    except Exception:
        raise AlignmentError(f"{key}: {text!r} is not a CRS GDAL understands (try 'EPSG:<code>')") from None


def open_raster(path: Path) -> rasterio.DatasetReader:
    """Open a raster with GDAL, turning failures into messages that name the file."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: raster file not found")
    try:
        return rasterio.open(path)
    except rasterio.RasterioIOError as err:
        if path.is_dir():  # GDAL opens some folder formats (ArcInfo grids); any other folder is a mistake
            raise RasterReadError(f"{path}: is a directory, not a raster file; give the GeoTIFF's path") from None
        raise RasterReadError(f"{path}: not a raster GDAL can read ({str(err).splitlines()[0]})") from None


@dataclass(frozen=True)
class Grid:
    """A raster grid: CRS, affine transform (cell corners) and shape (rows, cols)."""

    crs: CRS
    transform: Affine
    height: int
    width: int

    @classmethod
    def from_dataset(cls, src: rasterio.DatasetReader, crs: CRS | None = None) -> Grid:
        return cls(crs=crs or src.crs, transform=src.transform, height=src.height, width=src.width)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def res(self) -> tuple[float, float]:
        """Cell size (x, y) [CRS units, positive]."""
        return (abs(self.transform.a), abs(self.transform.e))

    @property
    def cell_area(self) -> float:
        """Area of one cell [CRS units²; m² on a projected metric CRS]."""
        return abs(self.transform.a * self.transform.e - self.transform.b * self.transform.d)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) [CRS units]."""
        left, top = self.transform * (0, 0)
        right, bottom = self.transform * (self.width, self.height)
        return (min(left, right), min(bottom, top), max(left, right), max(bottom, top))

    def xy(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cell-centre coordinates of (row, col) indices."""
        rows = np.asarray(rows, dtype=float)
        cols = np.asarray(cols, dtype=float)
        t = self.transform
        x = t.c + (cols + 0.5) * t.a + (rows + 0.5) * t.b
        y = t.f + (cols + 0.5) * t.d + (rows + 0.5) * t.e
        return x, y

    def rowcol(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row and column of the cells holding (x, y), and whether each is on the grid.

        A point on the shared edge of two cells falls in the one to its
        south-east (floor of the fractional index).
        """
        inv = ~self.transform
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        fc = inv.a * x + inv.b * y + inv.c
        fr = inv.d * x + inv.e * y + inv.f
        with np.errstate(invalid="ignore"):
            cols = np.floor(fc)
            rows = np.floor(fr)
        inside = np.isfinite(rows) & np.isfinite(cols)
        inside &= (rows >= 0) & (rows < self.height) & (cols >= 0) & (cols < self.width)
        rows = np.where(inside, rows, -1).astype(np.int64)
        cols = np.where(inside, cols, -1).astype(np.int64)
        return rows, cols, inside

    def coords(self) -> tuple[np.ndarray, np.ndarray]:
        """1-D cell-centre coordinates (x of each column, y of each row) of a north-up grid."""
        x, _ = self.xy(np.zeros(self.width), np.arange(self.width))
        _, y = self.xy(np.arange(self.height), np.zeros(self.height))
        return x, y

    def mismatches(self, other: Grid, *, tolerance: float = 1e-3) -> list[str]:
        """What differs between two grids, in words; empty when aligned.

        Cell size and origin are compared with a tolerance of ``tolerance`` of
        a cell (the study's ``alignment.tolerance``): a layer within it is on
        the grid. A difference beyond it is described with enough digits to
        show it, and its size in CRS units and in cells.
        """
        problems: list[str] = []
        if other.crs is None or self.crs is None:
            return ["no CRS"]
        if other.crs != self.crs:
            problems.append(f"CRS {_crs_name(other.crs)} instead of {_crs_name(self.crs)}")
            return problems
        res = np.asarray(self.res)
        units = _linear_units(self.crs)
        hint = f"alignment.tolerance is {tolerance:g} of a cell"
        # a cell-size difference adds up across the grid: compare the drift of the far edge
        drift = np.subtract(other.res, self.res) * (self.width, self.height)
        if np.any(np.abs(drift) > tolerance * res):
            problems.append(
                f"cell size {_fmt_apart(other.res, self.res)}, the far edge drifting by "
                f"{_fmt_diff(drift, units)} = {_fmt_diff(drift / res, 'cells')}; {hint}"
            )
        ours = (self.transform.c, self.transform.f)
        theirs = (other.transform.c, other.transform.f)
        offset = np.subtract(theirs, ours)
        if np.any(np.abs(offset) > tolerance * res):
            problems.append(
                f"origin {_fmt_apart(theirs, ours)}, "
                f"off by {_fmt_diff(offset, units)} = {_fmt_diff(offset / res, 'cells')}; {hint}"
            )
        if other.shape != self.shape:
            problems.append(f"shape {other.height}x{other.width} instead of {self.height}x{self.width}")
        if not np.allclose([other.transform.b, other.transform.d], [0, 0]):
            problems.append("a rotated transform")
        return problems

    def require_projected(self, what: str) -> None:
        """Refuse a geographic CRS for metric operations (distances, areas)."""
        if self.crs is not None and self.crs.is_geographic:
            raise AlignmentError(
                f"{what}: the grid CRS {_crs_name(self.crs)} is geographic (degrees); "
                "reproject the template to a projected CRS in metres"
            )


def _crs_name(crs: CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_string()[:60]


def _fmt_pair(pair: tuple[float, float], digits: int = 6) -> str:
    return f"({pair[0]:.{digits}g}, {pair[1]:.{digits}g})"


def _fmt_apart(found: tuple[float, float], expected: tuple[float, float]) -> str:
    """``found instead of expected`` with the fewest digits that tell every differing value apart.

    At least 6 significant digits, and never fewer than a coordinate's whole
    part (3846700, not 3.8467e+06).
    """
    whole = max(len(str(int(abs(v)))) for v in (*found, *expected) if np.isfinite(v))
    for digits in range(max(6, whole), 18):
        if all(
            f"{a:.{digits}g}" != f"{b:.{digits}g}" for a, b in zip(found, expected, strict=True) if float(a) != float(b)
        ):
            break
    return f"{_fmt_pair(found, digits)} instead of {_fmt_pair(expected, digits)}"


def _fmt_diff(diff: np.ndarray, units: str) -> str:
    return f"({diff[0]:.3g}, {diff[1]:.3g}) {units}"


def _linear_units(crs: CRS) -> str:
    if crs.is_geographic:
        return "degrees"
    units = (crs.linear_units or "").lower()
    return "m" if units in ("metre", "meter", "m") else (units or "CRS units")
