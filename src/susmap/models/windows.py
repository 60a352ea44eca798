"""Factor windows: the k × k neighbourhood of a cell in every factor layer (patch models, paper 000).

A window centred on cell (row, col) covers rows ``row - k//2 … row + k//2``
and the same columns. Cells outside the raster are NaN in the window, like
nodata cells: the array is never read outside its bounds, and the patch
model masks NaN explicitly (see :mod:`susmap.models.patch_cnn`).

:class:`WindowSource` hands windows of a stack to a patch model inside a
scikit-learn pipeline. Its design matrix rows carry the cell's row and
column as the last two columns, so the same sample table and the same
cross-validation folds serve tabular and patch models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dask.array as da
import numpy as np

__all__ = ["ORIENTED_NAME_PARTS", "WindowSource", "extract_windows", "orientation_dependent"]

#: Factor names containing one of these depend on the orientation of the grid
#: (rotating or flipping a window changes their meaning): no augmentation then.
ORIENTED_NAME_PARTS = ("aspect", "eastness", "northness", "direction", "azimuth", "bearing", "sector", "directivity")


def orientation_dependent(names: Sequence[str]) -> list[str]:
    """The factor names that look orientation-dependent (aspect, eastness, directions ...)."""
    return [n for n in names if any(part in n.lower() for part in ORIENTED_NAME_PARTS)]


def _check_cells(rows, cols, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    rows = np.asarray(rows, dtype=np.int64).ravel()
    cols = np.asarray(cols, dtype=np.int64).ravel()
    if rows.shape != cols.shape:
        raise ValueError(f"rows and cols differ in length ({rows.size} vs {cols.size})")
    if rows.size and (rows.min() < 0 or cols.min() < 0 or rows.max() >= shape[0] or cols.max() >= shape[1]):
        raise ValueError(f"cells outside the raster of {shape[0]} x {shape[1]} cells")
    return rows, cols


def _copy_windows(out: np.ndarray, idx: np.ndarray, block: np.ndarray, r0: int, c0: int, rows, cols, half: int) -> None:
    """Copy the windows of cells ``rows, cols`` (absolute) from ``block`` (whose origin is r0, c0) into ``out[idx]``."""
    h, w = block.shape[1:]
    for i, r, c in zip(idx, rows - r0, cols - c0, strict=True):
        top, left = r - half, c - half
        t0, l0 = max(top, 0), max(left, 0)
        t1, l1 = min(top + 2 * half + 1, h), min(left + 2 * half + 1, w)
        out[i, :, t0 - top : t1 - top, l0 - left : l1 - left] = block[:, t0:t1, l0:l1]


def extract_windows(data, rows, cols, size: int) -> np.ndarray:
    """Windows (n, n_factors, size, size) float32 of ``data`` (n_factors, height, width) at cells.

    ``data`` may be a numpy or a dask array; with dask, only the chunks that
    hold requested cells are read (each with a halo of ``size // 2``). Cells
    of a window beyond the raster edge are NaN.
    """
    if size < 1 or size % 2 != 1:
        raise ValueError(f"window size must be a positive odd number of cells, not {size}")
    n_factors, height, width = data.shape
    rows, cols = _check_cells(rows, cols, (height, width))
    half = size // 2
    out = np.full((rows.size, n_factors, size, size), np.nan, dtype=np.float32)
    if rows.size == 0:
        return out
    if not isinstance(data, da.Array):
        _copy_windows(out, np.arange(rows.size), np.asarray(data, dtype=np.float32), 0, 0, rows, cols, half)
        return out
    row_edges = np.cumsum((0, *data.chunks[1]))
    col_edges = np.cumsum((0, *data.chunks[2]))
    bi = np.searchsorted(row_edges, rows, side="right") - 1
    bj = np.searchsorted(col_edges, cols, side="right") - 1
    for key in sorted(set(zip(bi.tolist(), bj.tolist(), strict=True))):
        idx = np.flatnonzero((bi == key[0]) & (bj == key[1]))
        r0 = max(int(row_edges[key[0]]) - half, 0)
        r1 = min(int(row_edges[key[0] + 1]) + half, height)
        c0 = max(int(col_edges[key[1]]) - half, 0)
        c1 = min(int(col_edges[key[1] + 1]) + half, width)
        block = np.asarray(data[:, r0:r1, c0:c1].compute(), dtype=np.float32)
        _copy_windows(out, idx, block, r0, c0, rows[idx], cols[idx], half)
    return out


class WindowSource:
    """Read-only access to the factor windows of a stack, for patch models in a pipeline.

    Parameters
    ----------
    data : numpy or dask array (n_factors, height, width)
        The factor stack (NaN = nodata).
    names : sequence of str
        Factor names, in band order.
    kinds : mapping
        ``{name: "continuous" | "categorical"}``.
    prefetch : (rows, cols, size), optional
        Cells whose windows are read once now and kept (the sample cells):
        cross-validation then never touches the rasters again.

    Notes
    -----
    A scikit-learn ``clone`` deep-copies estimator parameters; this handle
    returns itself from ``__deepcopy__`` so every fold shares one source and
    its cache instead of copying the rasters.
    """

    def __init__(
        self,
        data,
        names: Sequence[str],
        kinds: Mapping[str, str] | None = None,
        *,
        prefetch: tuple[np.ndarray, np.ndarray, int] | None = None,
    ) -> None:
        if data.ndim != 3 or data.shape[0] != len(names):
            raise ValueError(f"data must be (n_factors={len(names)}, height, width), got shape {data.shape}")
        self.data = data
        self.names = [str(n) for n in names]
        self.kinds = {n: (kinds or {}).get(n, "continuous") for n in self.names}
        self._cache: dict[int, int] = {}
        self._cached = np.empty((0, len(self.names), 1, 1), dtype=np.float32)
        self._cached_size = 0
        if prefetch is not None:
            rows, cols, size = prefetch
            self.prefetch(rows, cols, size)

    @property
    def shape(self) -> tuple[int, int]:
        """Raster (height, width) in cells."""
        return int(self.data.shape[1]), int(self.data.shape[2])

    @property
    def categorical(self) -> list[int]:
        """Band indices of categorical factors."""
        return [i for i, n in enumerate(self.names) if self.kinds[n] == "categorical"]

    def _keys(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return rows.astype(np.int64) * self.shape[1] + cols.astype(np.int64)

    def prefetch(self, rows, cols, size: int) -> None:
        """Read and keep the windows of ``size`` at these cells (replaces any earlier cache)."""
        rows, cols = _check_cells(rows, cols, self.shape)
        keys, first = np.unique(self._keys(rows, cols), return_index=True)
        self._cached = extract_windows(self.data, rows[first], cols[first], size)
        self._cached_size = int(size)
        self._cache = {int(k): i for i, k in enumerate(keys)}

    def windows(self, rows, cols, size: int) -> np.ndarray:
        """Windows (n, n_factors, size, size) at cells; from the cache where prefetched (cropped if smaller)."""
        rows, cols = _check_cells(rows, cols, self.shape)
        keys = self._keys(rows, cols)
        pos = np.array([self._cache.get(int(k), -1) for k in keys], dtype=np.int64)
        if size <= self._cached_size and pos.size and (pos >= 0).all():
            crop = (self._cached_size - size) // 2
            return self._cached[pos][:, :, crop : crop + size, crop : crop + size].copy()
        return extract_windows(self.data, rows, cols, size)

    def __deepcopy__(self, memo) -> WindowSource:
        return self

    def __repr__(self) -> str:
        return f"WindowSource({len(self.names)} factors, {self.shape[0]} x {self.shape[1]} cells)"
