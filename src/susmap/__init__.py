"""susmap: GIS-based natural-hazard susceptibility mapping.

From a DEM, thematic layers and an inventory of past events to a validated,
classified susceptibility map. See ``docs/DESIGN.md`` for the data flow and
conventions (axis order, units, nodata, CRS rules).
"""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("susmap")
except metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__", "show_versions"]


def show_versions() -> str:
    """Versions of susmap, Python, GDAL, PROJ and the key packages, for bug reports."""
    from susmap.outputs import package_versions

    return "\n".join(f"{k:>14}: {v}" for k, v in package_versions().items())
