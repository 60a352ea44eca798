"""Map figures: the classified susceptibility map with its legend over a hillshade.

Large rasters are read decimated (at most ``max_pixels`` on the long side),
so the figure costs the same whatever the map's size.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import rasterio
from matplotlib.colors import LightSource, ListedColormap
from matplotlib.patches import Patch
from rasterio.enums import Resampling

from susmap.mapping.breaks import class_names
from susmap.mapping.palette import CLASS_COLORS, class_colors

__all__ = ["CLASS_COLORS", "class_colors", "draw_classes", "hillshade", "plot_class_map"]


def hillshade(dem: np.ndarray, cellsize: float, *, azimuth: float = 315.0, altitude: float = 45.0) -> np.ndarray:
    """Hillshade in [0, 1] of a DEM [m] with cell size [m] (sun azimuth/altitude in degrees)."""
    ls = LightSource(azdeg=azimuth, altdeg=altitude)
    filled = np.where(np.isfinite(dem), dem, np.nanmean(dem) if np.isfinite(dem).any() else 0.0)
    return ls.hillshade(filled, vert_exag=1.0, dx=cellsize, dy=cellsize)


def draw_classes(ax, classes: np.ndarray, k: int, extent, *, over_hillshade: bool) -> list[str]:
    """Draw a class raster (1..k, 0 = no data) on ``ax`` in the palette's colours; returns the colours.

    Over a hillshade the classes are drawn at 65 % opacity, as in every map
    figure and the QGIS project.
    """
    colors = class_colors(k)
    ax.imshow(
        np.ma.masked_equal(classes, 0),
        cmap=ListedColormap(colors),
        vmin=0.5,
        vmax=k + 0.5,
        extent=extent,
        interpolation="nearest",
        alpha=0.65 if over_hillshade else 1.0,
    )
    return colors


def _decimated_shape(height: int, width: int, max_pixels: int) -> tuple[int, int]:
    scale = max(1.0, max(height, width) / max_pixels)
    return max(1, round(height / scale)), max(1, round(width / scale))


def plot_class_map(
    class_path: Path,
    out_png: Path,
    *,
    dem: np.ndarray | None = None,
    title: str = "Susceptibility",
    events_xy: tuple[np.ndarray, np.ndarray] | None = None,
    max_pixels: int = 1200,
    boundaries: np.ndarray | None = None,
) -> None:
    """Classified map (1..k, 0 = nodata) with a legend, over the hillshade of ``dem``.

    ``dem`` may have any shape; it is shown over the map's extent. ``events_xy``
    are drawn as small black points. ``boundaries`` (an integer raster of the
    map's full shape, e.g. block ids of paper 004's block-wise prediction) is
    drawn as thin dark lines where neighbouring cells differ.
    """
    with rasterio.open(class_path) as src:
        shape = _decimated_shape(src.height, src.width, max_pixels)
        cls = src.read(1, out_shape=shape, resampling=Resampling.nearest)
        left, bottom, right, top = src.bounds
        k = len([t for t in src.tags().get("classes", "").split(",") if t.strip()]) or int(cls.max())
        cell_x = (right - left) / shape[1]
    extent = (left, right, bottom, top)
    fig, ax = plt.subplots(figsize=(8, 8 * shape[0] / shape[1] + 0.5), dpi=120)
    if dem is not None:
        shade = hillshade(dem.astype(float), cellsize=(right - left) / dem.shape[1])
        shade = np.where(np.isfinite(dem), shade, np.nan)
        ax.imshow(shade, cmap="gray", extent=extent, interpolation="bilinear", vmin=0, vmax=1)
    colors = draw_classes(ax, cls, k, extent, over_hillshade=dem is not None)
    if boundaries is not None:
        from skimage.segmentation import find_boundaries

        ids = np.asarray(boundaries)
        rows = np.minimum((np.arange(shape[0]) + 0.5) * ids.shape[0] / shape[0], ids.shape[0] - 1).astype(int)
        cols = np.minimum((np.arange(shape[1]) + 0.5) * ids.shape[1] / shape[1], ids.shape[1] - 1).astype(int)
        small = ids[np.ix_(rows, cols)]
        lines = find_boundaries(small, mode="inner") & (small > 0)
        ax.imshow(
            np.ma.masked_where(~lines, lines.astype(float)),
            cmap=ListedColormap(["#202020"]),
            extent=extent,
            interpolation="nearest",
            alpha=0.8,
        )
    if events_xy is not None:
        ax.scatter(*events_xy, s=4, c="black", linewidths=0, label="events")
    handles = [Patch(facecolor=c, edgecolor="0.3", label=n) for c, n in zip(colors, class_names(k), strict=True)]
    ax.legend(handles=handles, loc="lower left", fontsize=8, framealpha=0.85, title="susceptibility")
    ax.set_title(title)
    ax.set_xlabel("x [m]")
    ax.set_ylabel("y [m]")
    ax.ticklabel_format(style="plain", useOffset=False)
    ax.tick_params(labelsize=7)
    ax.set_aspect("equal")
    fig.text(0.99, 0.01, f"cell in figure ≈ {cell_x:.0f} m", ha="right", fontsize=6, color="0.4")
    fig.tight_layout()
    fig.savefig(out_png, metadata={"Software": None})
    plt.close(fig)
