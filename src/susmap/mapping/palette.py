"""The one palette of susceptibility classes and probabilities.

Every output that shows classes takes its colours from here: the PNG legend
(:mod:`susmap.mapping.figures`), the colour table and raster attribute table
of ``classes.tif`` (:mod:`susmap.mapping.classes`) and the GIS styles. Low
susceptibility is green, high is red (ColorBrewer RdYlGn, reversed).
"""

from __future__ import annotations

__all__ = [
    "CLASS_COLORS",
    "NODATA_RGBA",
    "class_colors",
    "class_rgba",
    "hex_to_rgba",
    "probability_ramp",
]

#: Colours of the five classes, very low to very high (ColorBrewer RdYlGn, 5 classes, reversed).
CLASS_COLORS: tuple[str, ...] = ("#1a9641", "#a6d96a", "#ffffbf", "#fdae61", "#d7191c")

#: Colour-table entry of class 0 (no data): transparent.
NODATA_RGBA: tuple[int, int, int, int] = (0, 0, 0, 0)


def class_colors(k: int) -> list[str]:
    """Hex colours (``#rrggbb``) of classes 1..k, green (low) to red (high).

    Five classes take :data:`CLASS_COLORS`; any other k samples matplotlib's
    ``RdYlGn_r`` at k points.
    """
    if k == len(CLASS_COLORS):
        return list(CLASS_COLORS)
    import matplotlib
    import matplotlib.colors

    cmap = matplotlib.colormaps["RdYlGn_r"].resampled(k)
    return [matplotlib.colors.to_hex(cmap(i)) for i in range(k)]


def hex_to_rgba(color: str) -> tuple[int, int, int, int]:
    """``#rrggbb`` (or ``#rrggbbaa``) as 0-255 integers (red, green, blue, alpha)."""
    h = color.lstrip("#")
    if len(h) not in (6, 8):
        raise ValueError(f"not a #rrggbb colour: {color!r}")
    rgba = tuple(int(h[i : i + 2], 16) for i in range(0, len(h), 2))
    return (*rgba, 255) if len(rgba) == 3 else rgba  # type: ignore[return-value]


def class_rgba(k: int) -> dict[int, tuple[int, int, int, int]]:
    """Colour table of a k-class raster: {0: transparent no data, 1..k: the class colours (opaque)}."""
    table = {0: NODATA_RGBA}
    table.update({i: hex_to_rgba(c) for i, c in enumerate(class_colors(k), 1)})
    return table


def probability_ramp() -> list[tuple[float, str]]:
    """Stops (value, hex colour) of the continuous 0-1 probability ramp: the five class colours, evenly spaced."""
    n = len(CLASS_COLORS)
    return [(i / (n - 1), c) for i, c in enumerate(CLASS_COLORS)]
