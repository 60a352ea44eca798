"""Conditioning factors derived on the study grid: terrain, hydrology, proximity, seismic, spectral.

Each factor is registered by name (see :mod:`susmap.factors.registry`) and
usable from the study's ``factors:`` list and from the library.
"""

from susmap.factors.registry import (
    FactorContext,
    FactorSpec,
    available_factors,
    compute_factor,
    get_factor,
    register_factor,
    register_factors,
    to_dataarray,
)

__all__ = [
    "FactorContext",
    "FactorSpec",
    "available_factors",
    "compute_factor",
    "get_factor",
    "register_factor",
    "register_factors",
    "to_dataarray",
]
