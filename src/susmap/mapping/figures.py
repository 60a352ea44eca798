"""Map figures: the classified susceptibility map with its legend over a hillshade.

The map carries what a printed map needs: a scale bar of a round length
(1, 2 or 5 × 10ⁿ m, about a fifth of the map's width), a north arrow (the
rasters are north-up; a rotated grid gets none), the CRS by name and
authority code, and a legend with the classes and the events. Fonts are at
least 8 pt on a figure 7 in (17.8 cm) wide, so the figure prints on A4 at
full text width.

Large rasters are read decimated (at most ``max_pixels`` on the long side),
so the figure costs the same whatever the map's size.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import rasterio
from matplotlib import patheffects
from matplotlib.colors import LightSource, ListedColormap
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar
from pyproj import CRS
from rasterio.enums import Resampling

from susmap.mapping.breaks import class_names
from susmap.mapping.palette import CLASS_COLORS, class_colors

__all__ = [
    "CLASS_COLORS",
    "add_map_furniture",
    "add_north_arrow",
    "add_scale_bar",
    "class_colors",
    "crs_label",
    "draw_class_map",
    "draw_classes",
    "hillshade",
    "plot_class_map",
    "round_length",
    "style_map_axes",
]

log = logging.getLogger(__name__)

#: Smallest font on the map figure [pt]: 7 pt or more once printed at 90 % on A4.
MIN_FONT_PT = 8.0
#: Width of the map figure [in] (17.8 cm, A4 text width).
FIGURE_WIDTH_IN = 7.0
#: Tallest map figure [in], so a tall map still fits an A4 page.
FIGURE_MAX_HEIGHT_IN = 9.5

_HALO = [patheffects.withStroke(linewidth=2.5, foreground="white")]


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


def crs_label(crs) -> str:
    """``EPSG:32717 — WGS 84 / UTM zone 17S``: authority code and name of a CRS (any input pyproj reads).

    A CRS without an authority code is written by its name alone.
    """
    crs = CRS.from_user_input(crs)
    auth = crs.to_authority()
    return f"{auth[0]}:{auth[1]} — {crs.name}" if auth else crs.name


def style_map_axes(ax, title: str, *, fontsize: float = MIN_FONT_PT) -> None:
    """Title, x/y labels in metres, plain (not offset) coordinates, equal aspect: every map panel's axes."""
    ax.set_title(title, fontsize=fontsize + 3)
    ax.set_xlabel("x [m]", fontsize=fontsize + 1)
    ax.set_ylabel("y [m]", fontsize=fontsize + 1)
    ax.ticklabel_format(style="plain", useOffset=False)
    ax.tick_params(labelsize=fontsize)
    ax.set_aspect("equal")


def round_length(target: float) -> float:
    """The largest round length (1, 2 or 5 × 10ⁿ) not above ``target`` (> 0), in the same unit.

    >>> round_length(430.0), round_length(2600.0), round_length(0.9)
    (200.0, 2000.0, 0.5)
    """
    if not math.isfinite(target) or target <= 0:
        raise ValueError(f"round_length needs a positive finite length, got {target!r}")
    power = 10.0 ** math.floor(math.log10(target))
    return max(m * power for m in (1.0, 2.0, 5.0) if m * power <= target * (1 + 1e-12))


def add_scale_bar(ax, extent: Sequence[float], *, metres_per_unit: float = 1.0) -> float:
    """A scale bar of a round length, about 1/5 of the map's width, in the lower right corner of ``ax``.

    A black bar labelled ``0 … 2 km`` (metres below 1 km) on a white box,
    anchored to the corner with padding in font sizes, so it keeps its place
    on wide and tall maps. ``extent`` is ``(left, right, bottom, top)`` in map
    units of ``metres_per_unit`` metres each (1 for metres, 0.3048 for feet).

    Returns
    -------
    float
        The bar's length [m].
    """
    left, right = float(extent[0]), float(extent[1])
    metres = round_length((right - left) * metres_per_unit / 5)
    length = metres / metres_per_unit
    label = f"0 … {metres / 1000:g} km" if metres >= 1000 else f"0 … {metres:g} m"
    bar = AnchoredSizeBar(
        ax.transData,
        length,
        label,
        "lower right",
        pad=0.4,
        borderpad=0.8,
        sep=3,
        size_vertical=length / 20,
        fontproperties=FontProperties(size=MIN_FONT_PT),
        frameon=True,
    )
    bar.patch.set(facecolor="white", edgecolor="none", alpha=0.8)
    bar.set_zorder(7)
    ax.add_artist(bar)
    return metres


def add_north_arrow(ax) -> None:
    """An arrow pointing up with ``N`` under it, in the upper right corner of ``ax`` (valid on a north-up grid)."""
    ax.annotate(
        "N",
        xy=(0.95, 0.97),
        xycoords="axes fraction",
        xytext=(0, -34),
        textcoords="offset points",
        ha="center",
        va="top",
        fontsize=MIN_FONT_PT + 2,
        fontweight="bold",
        arrowprops={"facecolor": "black", "edgecolor": "white", "linewidth": 0.6, "width": 4, "headwidth": 11},
        zorder=7,
        path_effects=_HALO,
    )


def add_map_furniture(ax, crs, extent: Sequence[float], *, transform=None) -> None:
    """Scale bar, north arrow and the CRS's name and code on a map drawn over ``extent`` (left, right, bottom, top).

    ``crs`` is anything pyproj reads (a rasterio CRS, ``"EPSG:32717"``) or
    None; ``transform`` the raster's affine transform. Left out, with a log
    line: the CRS text and the scale bar without a CRS, the scale bar on a
    geographic CRS (degrees are no length), the north arrow on a rotated or
    not north-up grid (its ``b``/``d`` terms non-zero, or ``e`` ≥ 0).
    """
    if crs is None:
        log.info("map figure: no CRS, so no scale bar and no CRS text")
    else:
        parsed = CRS.from_user_input(crs)
        ax.text(
            0.01,
            0.99,
            crs_label(parsed),
            transform=ax.transAxes,
            ha="left",
            va="top",
            fontsize=MIN_FONT_PT,
            zorder=7,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 2},
        )
        if parsed.is_geographic or not parsed.axis_info:
            log.info("map figure: no scale bar on a geographic CRS (%s)", parsed.name)
        else:
            add_scale_bar(ax, extent, metres_per_unit=parsed.axis_info[0].unit_conversion_factor)
    if transform is not None and (transform.b != 0 or transform.d != 0 or transform.e >= 0 or transform.a <= 0):
        log.info("map figure: no north arrow, the raster's grid is rotated or not north-up (%s)", tuple(transform)[:6])
    else:
        add_north_arrow(ax)


def draw_class_map(
    ax,
    class_path: Path,
    *,
    dem: np.ndarray | None = None,
    title: str = "Susceptibility",
    events_xy: tuple[np.ndarray, np.ndarray] | None = None,
    held_out_xy: tuple[np.ndarray, np.ndarray] | None = None,
    max_pixels: int = 1200,
    boundaries: np.ndarray | None = None,
) -> float:
    """Draw the classified map of ``class_path`` on ``ax``: hillshade, classes, events, legend and map furniture.

    See :func:`plot_class_map` for the arguments. Returns the size of a
    figure pixel on the ground [map units] (the raster is read decimated to
    at most ``max_pixels`` on its long side).
    """
    with rasterio.open(class_path) as src:
        shape = _decimated_shape(src.height, src.width, max_pixels)
        cls = src.read(1, out_shape=shape, resampling=Resampling.nearest)
        left, bottom, right, top = src.bounds
        k = len([t for t in src.tags().get("classes", "").split(",") if t.strip()]) or int(cls.max())
        crs, transform = src.crs, src.transform
    extent = (left, right, bottom, top)
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
    handles: list = [Patch(facecolor=c, edgecolor="0.3", label=n) for c, n in zip(colors, class_names(k), strict=True)]
    # black dots with a thin white edge stay visible over every class colour and the hillshade
    marks = (
        (events_xy, "events", {"c": "black", "edgecolors": "white"}),
        (held_out_xy, "held-out events", {"facecolors": "none", "edgecolors": "black"}),
    )
    for xy, label, style in marks:
        if xy is None:
            continue
        x, y = (np.asarray(v, dtype=float).ravel() for v in xy)
        hollow = label != "events"
        ax.scatter(x, y, s=14 if hollow else 7, linewidths=0.8 if hollow else 0.4, zorder=5, **style)
        handles.append(
            Line2D(
                [],
                [],
                ls="none",
                marker="o",
                markersize=4.5 if hollow else 3.5,
                markerfacecolor="none" if hollow else "black",
                markeredgecolor="black" if hollow else "white",
                markeredgewidth=0.8 if hollow else 0.4,
                label=f"{label} (n = {x.size})",
            )
        )
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)
    ax.legend(
        handles=handles,
        loc="lower left",
        fontsize=MIN_FONT_PT,
        title_fontsize=MIN_FONT_PT + 1,
        framealpha=0.85,
        title="susceptibility",
    )
    style_map_axes(ax, title, fontsize=MIN_FONT_PT)
    add_map_furniture(ax, crs, extent, transform=transform)
    return (right - left) / shape[1]


def plot_class_map(
    class_path: Path,
    out_png: Path,
    *,
    dem: np.ndarray | None = None,
    title: str = "Susceptibility",
    events_xy: tuple[np.ndarray, np.ndarray] | None = None,
    max_pixels: int = 1200,
    boundaries: np.ndarray | None = None,
    held_out_xy: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    """Classified map (1..k, 0 = nodata) over the hillshade of ``dem``, ready to print on A4.

    ``dem`` may have any shape; it is shown over the map's extent. ``events_xy``
    (x and y [map units]) are drawn as small black dots with a white edge,
    ``held_out_xy`` (events held out of training, optional) as hollow circles;
    each is a legend entry with its count, ``events (n = 123)``.
    ``boundaries`` (an integer raster of the map's full shape, e.g. block ids
    of paper 004's block-wise prediction) is drawn as thin dark lines where
    neighbouring cells differ. The map carries a scale bar, a north arrow
    and its CRS (:func:`add_map_furniture`); the figure is 7 in wide (narrower
    for a map taller than an A4 page allows), fonts 8 pt or more.
    """
    with rasterio.open(class_path) as src:
        aspect = src.height / src.width
    # about 1 in of axis labels beside the map and 1.1 in of title and labels above and below it
    width, height = FIGURE_WIDTH_IN, (FIGURE_WIDTH_IN - 1.0) * aspect + 1.1
    if height > FIGURE_MAX_HEIGHT_IN:  # a tall map: narrower, so it fits the page
        height = FIGURE_MAX_HEIGHT_IN
        width = max(4.0, (height - 1.1) / aspect + 1.0)
    fig, ax = plt.subplots(figsize=(width, height), dpi=150)
    cell = draw_class_map(
        ax,
        class_path,
        dem=dem,
        title=title,
        events_xy=events_xy,
        held_out_xy=held_out_xy,
        max_pixels=max_pixels,
        boundaries=boundaries,
    )
    fig.text(0.99, 0.005, f"cell in figure ≈ {cell:.0f} m", ha="right", va="bottom", fontsize=MIN_FONT_PT, color="0.4")
    fig.tight_layout()
    fig.savefig(out_png, metadata={"Software": None})
    plt.close(fig)
