"""Spectral factors from the study's input bands: NDVI.

Computed chunk by chunk (lazy dask), never loading a whole band.

References
----------
Rouse, J.W., Haas, R.H., Schell, J.A., Deering, D.W. (1974). Monitoring
vegetation systems in the Great Plains with ERTS. Third ERTS Symposium,
NASA SP-351, 309-317.
Tucker, C.J. (1979). Red and photographic infrared linear combinations for
monitoring vegetation. Remote Sensing of Environment 8, 127-150.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import xarray as xr

from susmap.factors.registry import FactorContext, FactorSpec, register_factor, to_dataarray

__all__ = ["ndvi"]


def _band(ctx: FactorContext, name: str) -> da.Array:
    """An input layer as a float64 dask array (h, w) with its numeric nodata (if any) as NaN."""
    layer = ctx.layer(name)
    if tuple(layer.shape) != ctx.grid.shape:
        raise ValueError(f"ndvi: layer {name!r} has shape {tuple(layer.shape)}, the grid {ctx.grid.shape}")
    data = layer.data
    if not isinstance(data, da.Array):
        data = da.from_array(np.asarray(data), chunks=ctx.chunks)
    data = data.astype(np.float64)
    for key in ("nodata", "_FillValue"):
        value = layer.attrs.get(key, layer.encoding.get(key))
        if value is not None and np.isfinite(value):
            data = da.where(data == value, np.nan, data)
    return data


def _ndvi_block(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    total = nir + red
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (nir - red) / total
    out[total == 0] = np.nan
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def ndvi(ctx: FactorContext, red: str, nir: str) -> xr.DataArray:
    """Normalized difference vegetation index [unitless, -1 to 1].

    Parameters
    ----------
    ctx : FactorContext
        The study grid and its input layers.
    red : str
        Name of the input layer (``layers:`` of the study) holding the red
        band (reflectance or digital numbers, same scaling as ``nir``).
    nir : str
        Name of the input layer holding the near-infrared band.

    Returns
    -------
    xarray.DataArray
        Float32 (y, x), (NIR - red) / (NIR + red); chunked, lazy.

    Raises
    ------
    StudyConfigError
        No input layer named ``red`` or ``nir``.

    Notes
    -----
    NaN where either band is nodata (NaN, or equal to a numeric ``nodata``
    / ``_FillValue`` attribute) and where NIR + red = 0. With non-negative
    bands the index lies in [-1, 1]; slightly negative reflectances (after
    atmospheric correction, over water) can push it outside, and it is then
    clipped to [-1, 1]. Both bands must share one scaling (offsets change
    the index).

    References
    ----------
    Rouse, J.W. et al. (1974). NASA SP-351, 309-317.
    Tucker, C.J. (1979). Remote Sensing of Environment 8, 127-150.
    """
    r = _band(ctx, red)
    n = _band(ctx, nir).rechunk(r.chunks)
    data = da.map_blocks(_ndvi_block, r, n, dtype=np.float32)
    return to_dataarray(data, ctx, "ndvi", "1", red=red, nir=nir)


register_factor(
    FactorSpec(
        name="ndvi",
        func=ndvi,
        description="normalized difference vegetation index (NIR - red) / (NIR + red) (Rouse et al. 1974)",
        units="1",
        references=("rouse1974",),
    )
)
