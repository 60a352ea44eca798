"""Mapping units delineated from the DEM: slope units (Alvioli et al. 2016).

See :mod:`susmap.units.slope_units`.
"""

from susmap.units.slope_units import SlopeUnitParameters, SlopeUnits, delineate_slope_units, slope_units_to_gpkg

__all__ = ["SlopeUnitParameters", "SlopeUnits", "delineate_slope_units", "slope_units_to_gpkg"]
