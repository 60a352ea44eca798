"""Derive a study's ``factors:`` on its grid and write them as GeoTIFFs.

Stencil factors stay lazy until written, and are written together so shared
work (one DEM read, one derivative pass for slope, aspect and curvatures) is
done once; whole-grid factors (routing, distance transforms) are computed in
memory by their own functions. Writing
(:func:`susmap.factors.factor_writer.write_factor_rasters`) computes every
factor in one pass into uncompressed part files with their overviews, then
compresses the Cloud-Optimized GeoTIFFs on all cores with the study's
``outputs.compress``.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import xarray as xr

from susmap import progress
from susmap.errors import AlignmentError, StudyConfigError
from susmap.factors.factor_writer import write_factor_rasters
from susmap.factors.registry import (
    WHOLE_GRID_BYTES_PER_CELL,
    FactorContext,
    compute_factor,
    get_factor,
    holds_whole_grid,
)
from susmap.factors.terrain import PLANNED_OUTPUTS_KEY, derivative_output
from susmap.grid import Grid, open_raster
from susmap.mapping.writer import RasterTarget
from susmap.stack import open_grid, open_layer
from susmap.study import LayerConfig, Study

__all__ = ["DerivedFactor", "check_whole_grid_memory", "derive_factors", "factor_context", "physical_memory"]

log = logging.getLogger(__name__)

TILES_FOLDER = ".tiles"  # inside the output folder: intermediate rasters of tiled factors, removed after writing


@dataclass(frozen=True)
class DerivedFactor:
    """A derived factor written to ``path``, with its metadata for the summary."""

    name: str
    factor: str
    path: Path
    kind: str
    units: str
    description: str
    encoding: str = "onehot"
    clip: tuple[float, float] | str | None = None
    transform: tuple = ()

    def as_layer(self) -> LayerConfig:
        """The factor as an input layer of the stack (it is on the grid by construction).

        The factor is written untransformed; its ``transform`` steps are applied on the stack, as a layer's.
        """
        return LayerConfig(
            name=self.name,
            path=self.path,
            kind=self.kind,
            encoding=self.encoding,
            clip=self.clip,
            transform=list(self.transform),
        )


def factor_context(study: Study, *, chunks: int | None = None) -> tuple[FactorContext, Grid]:
    """The context factors are computed in: grid, DEM and input layers, all lazy.

    The DEM is ``study.dem`` (default: the grid template's band). Raises the
    same alignment errors as the stack does; a geographic grid is refused.
    """
    chunks = chunks or study.mapping.chunk_size
    grid, _ = open_grid(study.grid)
    grid.require_projected("derived factors")
    dem_cfg = study.dem.layer(study.grid)
    if dem_cfg.crs is None:
        if study.dem.path is None:  # the DEM is the template's band: grid.crs states its CRS
            dem_cfg = dem_cfg.model_copy(update={"crs": study.grid.crs})
        else:  # name the key that fixes it (the stack's own message names layers[].crs)
            with open_raster(dem_cfg.path) as src:
                if src.crs is None:
                    raise AlignmentError(
                        f"{dem_cfg.path}: the DEM has no CRS; state it as dem.crs if you know it "
                        "(e.g. crs: EPSG:32717; grid.crs states the grid template's only)"
                    )
    dem_key = "dem.nodata" if study.dem.path is not None else "grid.nodata"
    base = study.base_dir or Path.cwd()
    ctx = FactorContext(grid=grid, dem=None, chunks=chunks, base=base)  # type: ignore[arg-type]
    x, y = grid.coords()

    def wrap(data, name: str, units: str) -> xr.DataArray:
        return xr.DataArray(data, dims=("y", "x"), coords={"y": y, "x": x}, name=name, attrs={"units": units})

    ctx.dem = wrap(open_layer(dem_cfg, grid, study.alignment, chunks=chunks, key=dem_key), "dem", "m")
    ctx.layers = {
        layer.name: wrap(open_layer(layer, grid, study.alignment, chunks=chunks), layer.name, "")
        for layer in study.layers
    }
    return ctx, grid


def derive_factors(study: Study, folder: Path, *, chunks: int | None = None) -> list[DerivedFactor]:
    """Compute every factor of ``study.factors`` and write ``folder/<name>.tif`` (float32, NaN nodata).

    Tiled factors (``tiled: true`` routing) keep their intermediate rasters
    in ``folder/.tiles`` (:data:`TILES_FOLDER`), removed once the factors are
    written, or on error.

    Raises
    ------
    StudyConfigError
        Unknown factor or parameter (before anything is computed).
    """
    if not study.factors:
        return []
    for f in study.factors:  # fail on names before any work
        get_factor(f.registry_name)
    ctx, grid = factor_context(study, chunks=chunks)
    check_whole_grid_memory(study, grid)
    folder.mkdir(parents=True, exist_ok=True)
    ctx.workdir = folder / TILES_FOLDER
    try:
        return _derive(study, folder, ctx, grid)
    finally:
        shutil.rmtree(ctx.workdir, ignore_errors=True)


def _derive(study: Study, folder: Path, ctx: FactorContext, grid: Grid) -> list[DerivedFactor]:
    """The factors of :func:`derive_factors`, computed in ``ctx`` and written to ``folder``."""
    # slope, aspect and curvatures share one derivative pass: tell it which outputs the study wants
    ctx.cache[PLANNED_OUTPUTS_KEY] = {
        out for f in study.factors if (out := derivative_output(f.registry_name, f.params)) is not None
    }
    derived: list[DerivedFactor] = []
    targets: list[RasterTarget] = []
    with progress.task("deriving factors", total=len(study.factors)) as bar:
        for f in study.factors:
            spec = get_factor(f.registry_name)
            ctx.edges = f.edges
            arr = compute_factor(f.registry_name, ctx, f.params)
            bar.advance()
            units = str(arr.attrs.get("units", spec.units))
            path = folder / f"{f.name}.tif"
            targets.append(
                RasterTarget(
                    path,
                    arr.data if hasattr(arr.data, "dask") else _as_dask(arr, ctx.chunks),
                    description=f"{f.name}: {spec.description} [{units}]",
                    tags={"factor": f.registry_name, "units": units, "params": repr(dict(f.params))},
                    compress=study.outputs.compress,
                    resampling="mode" if f.kind == "categorical" else None,  # overviews of classes stay classes
                )
            )
            derived.append(
                DerivedFactor(
                    f.name,
                    f.registry_name,
                    path,
                    f.kind,
                    units,
                    spec.description,
                    f.encoding,
                    f.clip,
                    tuple(f.transform),
                )
            )
            log.info(
                "factor %s (%s) [%s]%s",
                f.name,
                f.registry_name,
                units,
                " (whole grid)" if holds_whole_grid(f.registry_name, f.params) else "",
            )
    write_factor_rasters(targets, grid)
    return derived


def physical_memory() -> int | None:
    """This machine's physical memory [bytes], or None where the platform does not say."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def check_whole_grid_memory(study: Study, grid: Grid, memory: int | None = None) -> None:
    """Refuse whole-grid factors (flow routing, distance transforms) on a grid this machine cannot hold.

    They hold about :data:`~susmap.factors.registry.WHOLE_GRID_BYTES_PER_CELL`
    bytes per cell at once; a grid needing more than the physical memory is
    refused before anything is computed, with the estimate.
    """
    whole = [f.name for f in study.factors if holds_whole_grid(f.registry_name, f.params)]
    memory = physical_memory() if memory is None else memory
    if not whole or memory is None:
        return
    cells = grid.height * grid.width
    need = cells * WHOLE_GRID_BYTES_PER_CELL
    if need > memory:
        raise StudyConfigError(
            f"factors: {', '.join(whole)} hold the whole grid in memory: {grid.height:,} x {grid.width:,} cells "
            f"need about {need / 2**30:,.0f} GiB and this machine has {memory / 2**30:,.0f} GiB; cut the study "
            "area, coarsen the grid, or derive these factors elsewhere and give them as layers"
        )


def _as_dask(arr: xr.DataArray, chunks: int):
    import dask.array as da

    return da.from_array(arr.values, chunks=chunks)
