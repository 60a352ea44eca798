"""The models' class maps side by side (``maps.png``): same class scheme and colours, one panel each.

Rasters are read decimated (at most ``max_pixels`` on the long side), so the
figure costs the same whatever the maps' size.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import rasterio
from matplotlib.patches import Patch
from rasterio.enums import Resampling

from susmap.mapping.breaks import class_names
from susmap.mapping.figures import class_colors, draw_classes, hillshade

__all__ = ["plot_maps_comparison"]


def plot_maps_comparison(
    class_paths: dict[str, Path],
    out_png: Path,
    *,
    dem: np.ndarray | None = None,
    title: str = "Susceptibility by model",
    events_xy: tuple[np.ndarray, np.ndarray] | None = None,
    max_pixels: int = 600,
    ncols: int = 3,
) -> None:
    """Several models' class maps side by side (one panel each, ``label -> classes.tif``), one shared legend.

    Every panel uses the same class scheme and colours (green low to red
    high), over the hillshade of ``dem`` when given, with ``events_xy`` as
    black points; rasters are read decimated to ``max_pixels`` on the long side.
    """
    labels = list(class_paths)
    ncols = max(1, min(ncols, len(labels)))
    nrows = -(-len(labels) // ncols)
    with rasterio.open(class_paths[labels[0]]) as src:
        scale = max(1.0, max(src.height, src.width) / max_pixels)
        shape = (max(1, round(src.height / scale)), max(1, round(src.width / scale)))
        left, bottom, right, top = src.bounds
        k = len([t for t in src.tags().get("classes", "").split(",") if t.strip()])
    extent = (left, right, bottom, top)
    panel = 4.0
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(panel * ncols, panel * nrows * shape[0] / shape[1] + 1.0), dpi=110, squeeze=False
    )
    shade = None
    if dem is not None:
        shade = hillshade(dem.astype(float), cellsize=(right - left) / dem.shape[1])
        shade = np.where(np.isfinite(dem), shade, np.nan)
    maps = {}
    for label in labels:
        with rasterio.open(class_paths[label]) as src:
            maps[label] = src.read(1, out_shape=shape, resampling=Resampling.nearest)
    k = k or max(int(m.max()) for m in maps.values())
    colors = class_colors(k)
    for ax, label in zip(axes.flat, labels, strict=False):
        if shade is not None:
            ax.imshow(shade, cmap="gray", extent=extent, interpolation="bilinear", vmin=0, vmax=1)
        draw_classes(ax, maps[label], k, extent, over_hillshade=shade is not None)
        if events_xy is not None:
            ax.scatter(*events_xy, s=2, c="black", linewidths=0)
        ax.set_title(label, fontsize=9)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[len(labels) :]:
        ax.set_visible(False)
    handles = [Patch(facecolor=c, edgecolor="0.3", label=n) for c, n in zip(colors, class_names(k), strict=True)]
    fig.legend(handles=handles, loc="lower center", ncol=k, fontsize=8, frameon=False, title="susceptibility")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 0.97))
    fig.savefig(out_png, metadata={"Software": None})
    plt.close(fig)
