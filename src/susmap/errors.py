"""Errors and warnings raised by susmap.

Every error a user can cause derives from :class:`SusmapError`, so the command
line turns it into a one-line message and exit status 2. Each subclass also
derives from the built-in exception a Python caller would expect
(``FileNotFoundError``, ``ValueError``, ``PermissionError``), so ordinary
``except`` clauses keep working.
"""

from __future__ import annotations

__all__ = [
    "AlignmentError",
    "InputFileError",
    "InventoryError",
    "ModelFitError",
    "OutputError",
    "RasterReadError",
    "SamplingError",
    "StudyConfigError",
    "SusmapError",
    "SusmapWarning",
]


class SusmapError(Exception):
    """Root of every error caused by the user's input or environment."""


class StudyConfigError(SusmapError, ValueError):
    """The study YAML is malformed, has an unknown key or a wrong type."""


class InputFileError(SusmapError, FileNotFoundError):
    """An input file named in the study does not exist."""


class RasterReadError(SusmapError, OSError):
    """A raster exists but GDAL cannot read it, or it has no usable band."""


class AlignmentError(SusmapError, ValueError):
    """A layer is not on the study grid (CRS, resolution, extent, shape) or has no CRS."""


class InventoryError(SusmapError, ValueError):
    """The event inventory cannot be used: no event on the grid, one class only, ..."""


class SamplingError(SusmapError, ValueError):
    """Samples cannot be drawn or are too few for the requested validation."""


class ModelFitError(SusmapError, ValueError):
    """A model cannot be fitted on the data it is given (a setting a training fold cannot take)."""


class OutputError(SusmapError, PermissionError):
    """The output folder cannot be created or written."""


class SusmapWarning(UserWarning):
    """Something the user should know that does not stop the study."""
