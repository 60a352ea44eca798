"""The study: one YAML file that describes a susceptibility study, validated.

A study names the grid (a template raster, normally the DEM), the factor
layers, the event inventory, how samples are drawn, which models are fitted,
how they are validated and how the map is classified. Relative paths are
resolved against the folder of the YAML file.

Every section is a pydantic model with ``extra="forbid"``: an unknown key or a
wrong type is a :class:`~susmap.errors.StudyConfigError` whose message names
the file and the dotted key, e.g. ``study.yaml: validation.folds: Input should
be a valid integer``.
"""

from __future__ import annotations

import datetime
import math
import re
import warnings
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from susmap.errors import StudyConfigError, SusmapWarning

__all__ = [
    "CATEGORICAL_UNIT_STATISTICS",
    "CLASS_SAMPLE_PER_CLASS",
    "CONTINUOUS_UNIT_STATISTICS",
    "MAX_CHUNK_BYTES",
    "MAX_CLASS_SAMPLE",
    "MAX_FITS",
    "MAX_NATURAL_BREAKS_SAMPLE",
    "MIN_CHUNK_SIZE",
    "SAFE_LABEL",
    "SCHEDULER_FORMS",
    "SEED_MAX",
    "AlignmentConfig",
    "ComputeConfig",
    "DemConfig",
    "DuplicateKeyError",
    "FactorConfig",
    "GridConfig",
    "InventoryConfig",
    "LayerConfig",
    "MappingConfig",
    "MappingUnitConfig",
    "MetaAreasConfig",
    "MetaBlockwiseConfig",
    "MetaExperimentConfig",
    "ModelConfig",
    "OutputConfig",
    "SamplingConfig",
    "SchemeConfig",
    "SlopeUnitsConfig",
    "SourceAreaConfig",
    "Study",
    "ValidationConfig",
    "check_label",
    "check_n_jobs",
    "check_scheduler",
    "check_seed",
    "cpu_count",
    "example_study_yaml",
    "load_study",
    "no_bool",
    "parse_study_yaml",
    "study_from_dict",
    "yaml_text_number",
]

Resampling = Literal["nearest", "bilinear", "cubic", "average", "mode"]
Encoding = Literal["onehot", "frequency_ratio", "woe"]
PositiveInt = Annotated[int, Field(gt=0)]

#: Seeds are integers from 0 to 2**32 - 1: numpy's RandomState and scikit-learn's random_state take no other.
SEED_MAX = 2**32 - 1
#: Model fits a study may ask of its cross-validation (repeats × folds × schemes × models × tuning fits).
MAX_FITS = 1_000_000
#: Smallest side of a prediction block [cells]: each block is a dask task with its own scheduling overhead.
MIN_CHUNK_SIZE = 16
#: Largest prediction block [bytes]: its factor values as float64, held once per worker thread.
MAX_CHUNK_BYTES = 2**30
#: Cells of ``mapping.class_sample`` per class, at least: fewer leave classes empty or breaks at random.
CLASS_SAMPLE_PER_CLASS = 100
#: Largest ``mapping.class_sample`` for natural breaks (Jenks is quadratic: about 15 s at 100,000 cells).
MAX_NATURAL_BREAKS_SAMPLE = 100_000
#: Largest ``mapping.class_sample`` for the other classifications (memory of the drawn cells).
MAX_CLASS_SAMPLE = 10_000_000
#: Model and scheme labels name output files: letters, digits, '_', '-', '.', '+', starting with a letter or digit.
SAFE_LABEL = r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$"
_SAFE_LABEL = re.compile(SAFE_LABEL)
_LOCAL_SCHEDULERS = ("threads", "synchronous")
_HOSTNAME = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
_ADDRESS = re.compile(rf"^(?:(?:tcp|tls|ucx|ws|wss)://)?(?:{_HOSTNAME}|\[[0-9A-Fa-f:.]+\]):(\d{{1,5}})$")
_INPROC = re.compile(r"^inproc://\S+$")
SCHEDULER_FORMS = (
    "threads, synchronous, or a dask.distributed address (tcp://host:8786, tls://host:8786, inproc://…, host:8786)"
)


def cpu_count() -> int:
    """CPUs this process may use (joblib's count, which honours affinity and container quotas)."""
    import joblib

    return max(1, int(joblib.cpu_count()))


def no_bool(value: Any) -> Any:
    """Refuse YAML's ``true``/``yes``/``on`` where a count is expected (pydantic would read them as 1)."""
    if isinstance(value, bool):
        raise ValueError(f"{str(value).lower()} is not a number: give an integer")
    return value


def yaml_text_number(value: Any) -> float | None:
    """The number in a string YAML left as text (``1e9``: YAML 1.1 wants ``1.0e+9``), else None."""
    if not isinstance(value, str) or "e" not in value.lower():
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def check_seed(value: int) -> int:
    """A seed numpy and scikit-learn accept: 0 <= seed <= 2**32 - 1."""
    if not 0 <= value <= SEED_MAX:
        raise ValueError(f"{value} is not a seed: give an integer from 0 to {SEED_MAX} (2**32 - 1), as numpy requires")
    return value


def check_n_jobs(value: int) -> int:
    """Process counts with joblib's meaning: 1..cores, -1 for all cores, -k for all but k - 1.

    0 is refused. A count beyond this machine's cores (a study written on a
    larger machine) runs, with a warning: more processes than cores only add
    memory, and -k beyond the cores leaves one process.
    """
    cores = cpu_count()
    if value == 0:
        raise ValueError(f"0 processes: give 1 to {cores}, -1 for all {cores} cores, or -k for all cores but k - 1")
    if value > cores:
        warnings.warn(
            f"n_jobs: {value} processes on a machine with {cores} cores: more than one per core only adds "
            "memory; -1 uses all cores wherever the study runs",
            SusmapWarning,
            stacklevel=2,
        )
    elif value < -cores:
        warnings.warn(
            f"n_jobs: {value} means all cores but {-value - 1}, and this machine has {cores}: one process runs",
            SusmapWarning,
            stacklevel=2,
        )
    return value


def check_scheduler(value: str) -> str:
    """``threads``, ``synchronous`` or a dask.distributed address (``tcp://host:8786``, ``host:8786``, ...)."""
    if value in _LOCAL_SCHEDULERS or _INPROC.match(value):
        return value
    match = _ADDRESS.match(value)
    if match is None or not 1 <= int(match.group(1)) <= 65535:
        raise ValueError(f"{value!r} is not a scheduler: give {SCHEDULER_FORMS}")
    return value


def check_label(value: str | None) -> str | None:
    """A label that can name a file: no path separator, no '.' or '..', no spaces."""
    if value is not None and not _SAFE_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a name: labels name output files, so use 1 to 64 letters, digits, '_', '-', '.' "
            "or '+', starting with a letter or digit (no '/', '\\' or spaces)"
        )
    return value


#: A raster's nodata value as a study states it: a number, ``none`` (every value is data) or unset (the file's tag).
Nodata = float | Literal["none"] | None

_NODATA_HELP = (
    "value marking the holes, overriding the file's nodata tag (e.g. -9999); "
    "'none': every value is data; unset: the file's tag"
)


def _nodata_value(value: Any) -> Any:
    """``nodata:`` as a number, ``"none"`` or None; anything else is refused in words."""
    if value is None or isinstance(value, bool):
        if isinstance(value, bool):
            raise ValueError(f"nodata must be a number (e.g. -9999) or 'none', got {value!r}")
        return value
    if isinstance(value, str) and value.strip().lower() == "none":
        return "none"
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"nodata must be a number (e.g. -9999) or 'none', got {value!r}") from None


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _clip_value(value: Any) -> Any:
    """``clip:`` as ``(low, high)`` with low < high, ``"robust"`` or None; anything else is refused in words."""
    if value is None or value == "robust":
        return value
    if isinstance(value, list | tuple) and len(value) == 2 and not any(isinstance(v, bool) for v in value):
        try:
            low, high = float(value[0]), float(value[1])
        except (TypeError, ValueError):
            pass
        else:
            if not low < high:  # NaN fails it too
                raise ValueError(f"clip needs [low, high] with low < high, got [{low:g}, {high:g}]")
            return (low, high)
    raise ValueError(f"clip must be [low, high] (two numbers) or 'robust', got {value!r}")


class GridConfig(_Section):
    """The study grid: CRS, transform and shape are taken from ``template``."""

    template: Path
    band: int = Field(1, ge=1, description="band of the template whose nodata masks the grid")
    crs: str | None = Field(None, description="CRS to assume when the template has none")
    nodata: Nodata = Field(None, description=_NODATA_HELP)

    @field_validator("nodata", mode="before")
    @classmethod
    def _nodata_form(cls, value: Any) -> Any:
        return _nodata_value(value)


#: ``transform:`` steps without an argument (``- log10``) and with one (``- scale: 2``).
TRANSFORM_STEPS = ("log10", "log1p", "degrees")
TRANSFORM_ARG_STEPS = ("clip", "scale", "offset")
_TRANSFORM_HELP = "log10, log1p, degrees, {clip: [low, high]}, {scale: k} or {offset: k}"

#: One normalised ``transform:`` step: a name, or ``{name: argument}``.
TransformStep = str | dict[str, float | tuple[float, float]]


def _transform_step(value: Any) -> Any:
    """One ``transform:`` step as ``"log10"`` / ``{"clip": (low, high)}`` / ``{"scale": k}``; else refused in words."""
    if isinstance(value, str):
        if value in TRANSFORM_STEPS:
            return value
        if value in TRANSFORM_ARG_STEPS:
            raise ValueError(f"transform {value!r} needs an argument ({{{value}: ...}}); steps: {_TRANSFORM_HELP}")
    elif isinstance(value, dict) and len(value) == 1:
        ((name, arg),) = value.items()
        if name in TRANSFORM_STEPS:
            raise ValueError(f"transform {name!r} takes no argument (write it as '- {name}')")
        if name == "clip":
            if arg == "robust":
                raise ValueError("transform clip needs [low, high]; 'robust' is for the layer's clip: key")
            return {"clip": _clip_value(arg)}
        if name in ("scale", "offset"):
            number = float(arg) if isinstance(arg, int | float) and not isinstance(arg, bool) else yaml_text_number(arg)
            if number is None or not math.isfinite(number):
                raise ValueError(f"transform {name} needs one finite number, got {arg!r}")
            return {name: number}
    raise ValueError(f"unknown transform step {value!r}; steps: {_TRANSFORM_HELP}")


def _transform_list(value: Any) -> Any:
    """``transform:`` as a list of steps: one step alone is a list of one; None is no step."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


TransformSteps = list[Annotated[TransformStep, BeforeValidator(_transform_step)]]

_TRANSFORM_FIELD_HELP = (
    "continuous layers: steps applied in order on the stack before the outlier check and the model: " + _TRANSFORM_HELP
)


class _ShapedValues(_Section):
    """What layers and derived factors share: ``clip`` and ``transform`` of continuous values only."""

    _what: ClassVar[str] = "layer"

    @field_validator("transform", mode="before", check_fields=False)
    @classmethod
    def _transform_form(cls, value: Any) -> Any:
        return _transform_list(value)

    @field_validator("clip", mode="before", check_fields=False)
    @classmethod
    def _clip_form(cls, value: Any) -> Any:
        return _clip_value(value)

    @model_validator(mode="after")
    def _shaping_fits_kind(self) -> _ShapedValues:
        if self.kind == "categorical" and self.clip is not None:
            raise ValueError(
                f"{self._what} {self.name!r} is categorical: its class codes cannot be clipped (remove clip)"
            )
        if self.kind == "categorical" and self.transform:
            raise ValueError(
                f"{self._what} {self.name!r} is categorical: its class codes cannot be transformed (remove transform)"
            )
        return self


class LayerConfig(_ShapedValues):
    """One raster band on the study grid: a conditioning factor, or an auxiliary layer.

    ``role: predictor`` (the default) makes the layer a model input.
    ``role: auxiliary`` opens it on the grid for rules, masks and the map's
    hillshade (the DEM of ``inventory.source_area``, ``mapping.hillshade``)
    without making it a model input: it is in no sample factor column, design
    matrix or map prediction, and its nodata masks no cell of the predictors.
    ``role: mask`` is an auxiliary layer that bounds the study area: its
    cells with no data or the value 0 (water, glacier, outside the
    province) get no sample and no prediction, as nodata cells do.

    ``nodata`` overrides the file's nodata tag; a file holding an untagged
    sentinel (-9999, -32768, ±3.4e38, the integer type's extreme) is refused
    until it is set. ``clip`` bounds a continuous layer's values: ``[low, high]``,
    or ``robust`` for the outlier bound the stack reports (see
    :func:`susmap.stack.robust_bound`).

    ``transform`` (continuous predictor or auxiliary layers) is one step or a
    list applied in order, lazily on the stack: ``log10``, ``log1p``,
    ``degrees`` (from radians), ``{clip: [low, high]}``, ``{scale: k}``,
    ``{offset: k}``. The transformed values are what the outlier check, the
    robust bound, ``clip`` and the model see: a ``clip`` step is part of the
    value (a distance capped at 300 m, then perhaps ``log1p``), ``clip:`` is
    outlier handling after every step, reported in the log.
    """

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    path: Path
    band: int | str = Field(1, description="band number (1-based) or band description")
    kind: Literal["continuous", "categorical"] = "continuous"
    resampling: Resampling | None = Field(
        None, description="used only when the layer is off the grid and alignment allows it"
    )
    crs: str | None = Field(None, description="CRS to assume when the file has none")
    encoding: Encoding = Field("onehot", description="categorical layers: onehot, frequency_ratio or woe")
    role: Literal["predictor", "auxiliary", "mask"] = Field(
        "predictor",
        description="predictor: a model input; auxiliary: for rules and hillshade only; "
        "mask: cells with no data or 0 are outside the study area",
    )
    nodata: Nodata = Field(None, description=_NODATA_HELP)
    clip: tuple[float, float] | Literal["robust"] | None = Field(
        None, description="continuous layers: clip values to [low, high], or 'robust' (the reported outlier bound)"
    )
    transform: TransformSteps = Field(default_factory=list, description=_TRANSFORM_FIELD_HELP)

    @field_validator("band")
    @classmethod
    def _band_positive(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("band numbers start at 1")
        return value

    @field_validator("nodata", mode="before")
    @classmethod
    def _nodata_form(cls, value: Any) -> Any:
        return _nodata_value(value)

    @model_validator(mode="after")
    def _resampling_fits_kind(self) -> LayerConfig:
        if self.kind == "categorical" and self.resampling not in (None, "nearest", "mode"):
            raise ValueError(
                f"layer {self.name!r} is categorical: resampling must be 'nearest' or 'mode', not {self.resampling!r}"
            )
        if self.role == "mask" and self.transform:
            raise ValueError(f"layer {self.name!r} is a mask (data and 0 mark the area): remove transform")
        return self

    @property
    def resampling_method(self) -> str:
        """The resampling used when the layer must be warped onto the grid."""
        if self.resampling is not None:
            return self.resampling
        return "bilinear" if self.kind == "continuous" else "nearest"


class DemConfig(_Section):
    """The DEM that terrain and hydrology factors are derived from (default: the grid template)."""

    path: Path | None = None
    band: int | str | None = Field(None, description="default: grid.band for the template, else 1")
    crs: str | None = None
    nodata: Nodata = Field(None, description=_NODATA_HELP + " (default: grid.nodata for the template)")

    @field_validator("nodata", mode="before")
    @classmethod
    def _nodata_form(cls, value: Any) -> Any:
        return _nodata_value(value)

    def layer(self, grid: GridConfig) -> LayerConfig:
        """The DEM as a layer to open on the grid: this file, or the grid template's band."""
        if self.path is None:
            nodata = self.nodata if self.nodata is not None else grid.nodata
            return LayerConfig(name="dem", path=grid.template, band=self.band or grid.band, crs=self.crs, nodata=nodata)
        return LayerConfig(name="dem", path=self.path, band=self.band or 1, crs=self.crs, nodata=self.nodata)


class FactorConfig(_ShapedValues):
    """A factor derived on the grid (see ``susmap factors --list``)."""

    _what: ClassVar[str] = "factor"

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    factor: str | None = Field(None, description="registry name of the factor (default: name)")
    params: dict[str, Any] = Field(default_factory=dict)
    kind: Literal["continuous", "categorical"] = "continuous"
    edges: Literal["nodata", "extrapolate"] = Field(
        "nodata", description="stencils at the border: nodata, or extrapolate the DEM linearly"
    )
    encoding: Encoding = Field("onehot", description="categorical factors: onehot, frequency_ratio or woe")
    clip: tuple[float, float] | Literal["robust"] | None = Field(
        None, description="continuous factors: clip values to [low, high], or 'robust' (the reported outlier bound)"
    )
    transform: TransformSteps = Field(
        default_factory=list,
        description=_TRANSFORM_FIELD_HELP.replace("layers", "factors", 1) + " (the written factor stays untransformed)",
    )

    @property
    def registry_name(self) -> str:
        return self.factor or self.name


class AlignmentConfig(_Section):
    """Whether layers off the study grid may be warped onto it, and how close counts as on it.

    A layer whose origin and cell size differ from the grid's by at most
    ``tolerance`` of a cell (default 0.001: 3 cm on a 30 m grid) is read as
    on the grid, cell for cell; a larger difference is refused (or resampled
    with ``allow_resample``), the message giving the difference in metres and
    in cells.
    """

    allow_reproject: bool = Field(False, description="allow a layer in another CRS")
    allow_resample: bool = Field(False, description="allow another resolution or extent")
    tolerance: float = Field(
        1e-3,
        ge=0,
        le=0.1,
        description="largest origin or cell-size difference read as aligned, as a fraction of a cell",
    )


class SourceAreaConfig(_Section):
    """Keep only the upper part of each polygon, by elevation (paper 001's source areas).

    A polygon is never emptied by the rule: one whose cells all fail it (e.g.
    elevation nodata on all but one) keeps its highest cell with data.
    """

    elevation_layer: str
    upper_fraction: float = Field(0.5, gt=0, le=1, description="share of each polygon's elevation range kept, top down")


class InventoryConfig(_Section):
    """The inventory of past events.

    Polygons become cells by ``polygon_cells``: ``centre`` (cells whose centre
    they contain), ``all_touched`` (every cell they touch) or ``area_share``
    (cells they cover by at least ``min_area_share``). A polygon that gets no
    cell by the rule keeps the cell of its centroid (or of a point inside it),
    so no polygon is lost for being small; with a ``source_area`` section only
    the upper part of each polygon stays. Several events on one cell are merged
    into one sample or refused (``duplicates``); a cell labelled both 1 and 0
    is refused or kept as an event (``conflicts``).
    """

    path: Path
    geometry: Literal["points", "polygons"] = "points"
    x: str | None = Field(None, description="x column of a CSV inventory")
    y: str | None = Field(None, description="y column of a CSV inventory")
    crs: str | None = Field(None, description="CRS of the inventory (required for CSV)")
    label: str | None = Field(None, description="0/1 label column; none = presence-only")
    layer: str | None = Field(None, description="layer name inside a GeoPackage")
    polygon_cells: Literal["centre", "all_touched", "area_share"] = Field(
        "centre", description="polygons: cells whose centre they hold, every touched cell, or cells by area share"
    )
    min_area_share: float = Field(
        0.5, gt=0, le=1, description="polygon_cells: area_share: least share of a cell a polygon must cover"
    )
    source_area: SourceAreaConfig | None = Field(None, description="polygons: keep the upper part by elevation")
    where: str | None = Field(
        None, description="keep only the features matching this expression on the attributes, e.g. 'Year_obs < 2006'"
    )
    time_field: str | None = Field(
        None, description="attribute with each event's date or year (column event_time of the samples)"
    )
    duplicates: Literal["merge", "refuse", "keep"] = Field(
        "merge",
        description="several events on one cell: one sample per cell (the first event), refuse, or keep "
        "every one (a published protocol's repeated points; inflates cross-validation scores)",
    )
    conflicts: Literal["refuse", "event_wins"] = Field(
        "refuse", description="a cell labelled both 1 and 0: refuse, or keep it as an event"
    )

    @model_validator(mode="before")
    @classmethod
    def _old_polygon_cells(cls, data: Any) -> Any:
        # 'all' and 'source' (before the rules had names): 'all' is the centre rule; 'source' is the
        # centre rule with the source_area section, which now applies whenever it is given
        if isinstance(data, dict) and data.get("polygon_cells") in ("all", "source"):
            data = dict(data)
            if data["polygon_cells"] == "source" and data.get("source_area") is None:
                raise ValueError("polygon_cells: source needs a source_area section")
            data["polygon_cells"] = "centre"
        return data

    @model_validator(mode="after")
    def _polygon_keys(self) -> InventoryConfig:
        if self.geometry == "points" and self.source_area is not None:
            raise ValueError("source_area applies to polygon inventories (geometry: polygons) only")
        if self.where is not None:
            if not self.where.strip():
                raise ValueError("where is empty; give an expression such as 'Year_obs < 2006', or leave it out")
            import ast

            try:  # syntax only, before any data is read; the columns are checked on the inventory
                ast.parse(re.sub(r"`[^`]*`", "_column", self.where.strip()), mode="eval")
            except SyntaxError as err:
                raise ValueError(
                    f"where {self.where!r} is not a condition ({err.msg}); e.g. 'Year_obs < 2006', "
                    "`column name` in backticks"
                ) from None
        return self


class SamplingConfig(_Section):
    """Absence sampling for presence-only inventories.

    Absences are cells with data in every layer whose centre lies farther than
    ``buffer_m`` from every event (the whole polygon, for polygon
    inventories, not only its sampled cells) and that touch no event polygon.
    """

    absence_ratio: float = Field(1.0, gt=0, description="absences per presence")
    buffer_m: float = Field(0.0, ge=0, description="no absence within this distance of an event [m]")


class ModelConfig(_Section):
    """A model from the registry with its parameters."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    label: str | None = Field(None, description="name used in tables and output file names (default: name)")

    @field_validator("name", "label")
    @classmethod
    def _file_name(cls, value: str | None) -> str | None:
        return check_label(value)

    @property
    def display_name(self) -> str:
        return self.label or self.name


SchemeName = Literal[
    "spatial", "random", "holdout", "blocks", "buffered_loo", "disc", "environmental", "regions", "temporal"
]


class SchemeConfig(_Section):
    """A validation scheme with its parameters (see ``susmap.validation.splitters.make_splitter``)."""

    name: SchemeName
    label: str | None = Field(None, description="name in tables (default: name)")
    test_size: float | None = Field(None, gt=0, lt=1, description="holdout: share of samples tested (0.3 = 70/30)")
    block_size_m: float | None = Field(None, gt=0, description="blocks: side of the square blocks [m]")
    assignment: Literal["random", "systematic"] | None = None
    buffer_m: float | None = Field(None, ge=0, description="buffered_loo, disc: training excluded within [m]")
    radius_m: float | None = Field(None, gt=0, description="disc: radius of the test disc [m]")
    regions: Path | None = Field(None, description="regions: polygon file, one fold per region")
    region_field: str | None = Field(None, description="regions: attribute naming each region (default: row)")
    split_at: float | datetime.date | str | None = Field(
        None,
        description="temporal: first date or value (year) of the test events; earlier events train "
        "(needs inventory.time_field)",
    )

    @field_validator("label")
    @classmethod
    def _file_name(cls, value: str | None) -> str | None:
        return check_label(value)

    @model_validator(mode="after")
    def _regions_file(self) -> SchemeConfig:
        if (self.name == "regions") != (self.regions is not None):
            raise ValueError("the 'regions' scheme needs 'regions: <polygon file>' (and only it takes one)")
        if (self.name == "temporal") != (self.split_at is not None):
            raise ValueError("the 'temporal' scheme needs 'split_at: <date or year>' (and only it takes one)")
        return self

    @property
    def display_name(self) -> str:
        return self.label or self.name

    @property
    def params(self) -> dict[str, Any]:
        """The splitter parameters that were given."""
        keys = ("test_size", "block_size_m", "assignment", "buffer_m", "radius_m", "split_at")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


class ValidationConfig(_Section):
    """Cross-validation: schemes are reported in the order given (spatial first).

    A scheme is a name (``spatial``, ``random``, ...) or a mapping with its
    parameters, e.g. ``{name: blocks, block_size_m: 500}``.
    """

    schemes: list[SchemeName | SchemeConfig] = Field(default_factory=lambda: ["spatial", "random"])
    folds: int = Field(5, ge=2)
    repeats: PositiveInt = 5
    threshold: Annotated[float, Field(gt=0, lt=1)] | Literal["youden"] = Field(
        0.5, description="probability threshold of the confusion-matrix scores, or 'youden' (per training fold)"
    )
    n_jobs: int = Field(1, description="processes for the folds (-1: all cores, -k: all but k - 1)")
    tuning: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="model label -> {param_grid | param_distributions, n_iter, inner_folds, scoring}: "
        "search nested inside each outer fold (spatial inner folds under spatial schemes)",
    )

    @field_validator("schemes")
    @classmethod
    def _unique(cls, value: list[str | SchemeConfig]) -> list[str | SchemeConfig]:
        if not value:
            raise ValueError("give at least one scheme")
        labels = [v if isinstance(v, str) else v.display_name for v in value]
        if len(set(labels)) != len(labels):
            raise ValueError("scheme names must not repeat (give a 'label' to tell them apart)")
        return value

    @field_validator("folds", "repeats", "n_jobs", mode="before")
    @classmethod
    def _counts_not_bool(cls, value: Any) -> Any:
        return no_bool(value)

    @field_validator("n_jobs")
    @classmethod
    def _n_jobs(cls, value: int) -> int:
        return check_n_jobs(value)

    def fits_per_model(self) -> int:
        """Model fits of one model's cross-validation: schemes × repeats × folds × (1 + tuning fits).

        Tuning multiplies the fits of the models it names (see :meth:`tuning_fits`);
        this is the count for a model without tuning.
        """
        return len(self.schemes) * self.repeats * self.folds

    def tuning_fits(self, label: str) -> int:
        """Extra fits per outer fit for the model ``label``: candidates × inner folds (0 without tuning)."""
        spec = self.tuning.get(label)
        if not isinstance(spec, dict):
            return 0
        inner = spec.get("inner_folds", 3)
        inner = inner if isinstance(inner, int) and not isinstance(inner, bool) and inner > 0 else 3
        if "param_grid" in spec:
            grids = spec["param_grid"]
            grids = [grids] if isinstance(grids, dict) else grids if isinstance(grids, list) else []
            sizes = [
                math.prod(len(v) if isinstance(v, list | tuple) else 1 for v in grid.values())
                for grid in grids
                if isinstance(grid, dict)
            ]
            return sum(sizes) * inner
        n_iter = spec.get("n_iter", 10)
        return (n_iter if isinstance(n_iter, int) and not isinstance(n_iter, bool) and n_iter > 0 else 10) * inner

    @property
    def scheme_configs(self) -> list[SchemeConfig]:
        """Every scheme as a :class:`SchemeConfig`, in the order given."""
        return [SchemeConfig(name=v) if isinstance(v, str) else v for v in self.schemes]

    @property
    def scheme_labels(self) -> list[str]:
        return [c.display_name for c in self.scheme_configs]


class MappingConfig(_Section):
    """Wall-to-wall prediction and its classification."""

    enabled: bool = True
    model: str = Field("best", description="model label to map, or 'best' by mean AUROC of the first scheme")
    models: list[str] | Literal["all"] | None = Field(
        None,
        min_length=1,
        description="model labels (or 'all') each also mapped into maps/<label>/ beside the top-level map of "
        "'model', with the same classification; maps.png compares them when 2 or more",
    )
    classification: Literal["natural_breaks", "quantile", "equal_interval"] = "natural_breaks"
    n_classes: int = Field(5, ge=2, le=10)
    class_sample: PositiveInt = Field(
        10000, description=f"cells sampled to compute the breaks (at least {CLASS_SAMPLE_PER_CLASS} per class)"
    )
    chunk_size: PositiveInt = Field(
        512, description=f"rows and columns of a prediction block (at least {MIN_CHUNK_SIZE})"
    )
    hillshade: str | None = Field(
        None, description="layer (or raster path) shaded under the map PNG; default: an 'elev'/'dem' layer"
    )

    @field_validator("n_classes", "class_sample", "chunk_size", mode="before")
    @classmethod
    def _counts_not_bool(cls, value: Any) -> Any:
        return no_bool(value)

    @field_validator("chunk_size")
    @classmethod
    def _chunk_not_tiny(cls, value: int) -> int:
        if value < MIN_CHUNK_SIZE:
            raise ValueError(
                f"{value} x {value} cells per block is too small: every block is a task with its own scheduling "
                f"overhead, so tiny blocks run for hours; give at least {MIN_CHUNK_SIZE} (default 512)"
            )
        return value

    def models_to_map(self, labels: list[str]) -> list[str]:
        """The labels ``models`` asks to map into ``maps/<label>/`` (study order for 'all'); [] when not set."""
        if self.models is None:
            return []
        if self.models == "all":
            return list(labels)
        return list(dict.fromkeys(self.models))

    @model_validator(mode="after")
    def _class_sample_fits(self) -> MappingConfig:
        least = CLASS_SAMPLE_PER_CLASS * self.n_classes
        if self.class_sample < least:
            raise ValueError(
                f"class_sample: {self.class_sample} cells cannot place {self.n_classes} classes (breaks from so few "
                f"cells leave classes empty); give at least {least} ({CLASS_SAMPLE_PER_CLASS} per class)"
            )
        most = MAX_NATURAL_BREAKS_SAMPLE if self.classification == "natural_breaks" else MAX_CLASS_SAMPLE
        if self.class_sample > most:
            why = (
                "natural breaks take time growing with the square of the sample (about 15 s at 100,000 cells)"
                if self.classification == "natural_breaks"
                else "the drawn cells are held in memory, and more cells do not change the breaks"
            )
            raise ValueError(f"class_sample: {self.class_sample} cells is too many: {why}; give at most {most:,}")
        return self


MetaMethod = Literal["global_mlp", "global_rf", "pretrained_global", "maml", "proposed"]


class MetaAreasConfig(_Section):
    """Two areas cut from the study area by a straight line (paper 004 experiments A-D).

    Experiments B-D train on one area and adapt on the other.

    Area 1 is west of the cut (``axis: x``) or north of it (``axis: y``);
    the cut leaves ``fraction`` of the valid cells in area 1. Blocks that
    straddle the cut are split in two (see ``susmap.meta.blocks.split_areas``).
    """

    axis: Literal["x", "y"] = "x"
    fraction: float = Field(0.5, gt=0, lt=1)


class MetaExperimentConfig(_Section):
    """The few-shot comparison of paper 004 section 5.3 (Tables 3-7): OA for K shots, mean ± sd over repeats."""

    enabled: bool = True
    repeats: PositiveInt = Field(3, description="repeated runs (seeds seed, seed+1, ...)")
    shots: list[Annotated[int, Field(ge=1)] | Literal["half"]] = Field(
        default_factory=lambda: [1, 5, "half"], min_length=1, description="K values; 'half' = M/2"
    )
    methods: list[MetaMethod] = Field(
        default_factory=lambda: ["global_mlp", "global_rf", "pretrained_global", "maml", "proposed"], min_length=1
    )
    protocols: list[Literal["all", "A", "B", "C", "D"]] = Field(
        default_factory=lambda: ["all"],
        min_length=1,
        description="all: part of the tasks against the rest (Table 3); A-D: two areas (Tables 4-7), need 'areas'",
    )
    areas: MetaAreasConfig | None = None
    global_steps: PositiveInt = Field(3000, description="mini-batch updates of the global networks")
    rf_trees: PositiveInt = 300
    n_jobs: int = Field(1, description="processes for the repeats and protocols (-1: all cores); same results")

    @field_validator("n_jobs", mode="before")
    @classmethod
    def _n_jobs_not_bool(cls, value: Any) -> Any:
        return no_bool(value)

    @field_validator("n_jobs")
    @classmethod
    def _n_jobs(cls, value: int) -> int:
        return check_n_jobs(value)

    @model_validator(mode="after")
    def _areas_for_protocols(self) -> MetaExperimentConfig:
        two_area = [p for p in self.protocols if p != "all"]
        if two_area and self.areas is None:
            raise ValueError(f"protocols {two_area} compare two areas: give 'areas: {{axis: x, fraction: 0.5}}'")
        if len(set(self.protocols)) != len(self.protocols):
            raise ValueError("protocols must not repeat")
        return self


Shots = Annotated[int, Field(ge=1)] | Literal["half", "all"]
#: Presets of the block-wise method; ``susmap.meta.blockwise_presets()`` holds their sources and deviations.
BlockwisePreset = Literal["paper", "quick"]


class BlockwiseParameters(_Section):
    """The parameters of paper 004's block-wise meta-learning: their one definition (name, type, bounds, text).

    ``susmap.meta.BlockwiseSettings`` is this model plus the methods that use
    it; the study's ``meta_blockwise`` section takes every field as an
    optional override of a preset (:class:`MetaBlockwiseConfig`, generated
    from these fields). The defaults are the ``paper`` preset: section 4.6's
    value where the paper gives one, a stated choice where it does not; its
    departures from the text are listed, each with its reason, in
    ``susmap.meta.blockwise_presets()["paper"].deviations``.
    """

    # unsupervised pretraining (section 4.2)
    hidden: tuple[PositiveInt, PositiveInt, PositiveInt] = Field(
        (32, 32, 16), description="hidden units of RBM 1, RBM 2 and the DAE encoder (section 4.2 gives no sizes)"
    )
    pretrain: bool = Field(
        True, description="initialise from the unsupervised pretraining, or at random (plain MAML, section 5.2)"
    )
    n_unlabelled: int = Field(
        10000, ge=0, description="random valid cells drawn for pretraining, besides the sample vectors (0: samples)"
    )
    pretrain_epochs: PositiveInt = Field(20, description="epochs per pretrained module (section 4.6: 20)")
    rbm_learning_rate: float = Field(1e-3, gt=0, description="Adam step size of the RBMs (section 4.6: 1e-3)")
    dae_learning_rate: float = Field(
        1e-3, gt=0, description="Adam step size of the DAE (section 4.6: 1e-5; see the paper preset's deviations)"
    )
    pretrain_batch_size: PositiveInt = Field(128, description="mini-batch size of pretraining (not given)")
    dae_corruption: float = Field(0.2, ge=0, lt=1, description="masking-noise share of the DAE inputs (not given)")
    # scene segmentation (section 4.3.1)
    n_blocks: PositiveInt = Field(
        64, description="blocks requested from SLIC when no block ids are given (section 4.6: 64 for FJ, 196 for FL)"
    )
    compactness: float = Field(0.5, gt=0, description="SLIC compactness M of eq. 2 (not given)")
    max_segment_cells: PositiveInt = Field(
        1_500_000, description="stacks with more cells are segmented block-averaged (susmap.meta.blocks)"
    )
    # meta-tasks and meta-training (sections 4.3.2, 4.4)
    meta_train_fraction: float = Field(
        0.6, gt=0, lt=1, description="share of the tasks used for meta-training (section 4.3.2: 0.6)"
    )
    meta_shots: Shots = Field(
        5, description="support samples per class of a task in meta-training and validation (not given)"
    )
    inner_lr: float = Field(0.1, gt=0, description="α of eq. 3, also the adaptation step (section 4.6: 0.1)")
    inner_steps: PositiveInt = Field(5, description="inner-loop updates of eq. 3 (section 4.6: 5)")
    meta_lr: float = Field(1e-4, gt=0, description="Adam step size of the meta-objective (section 4.6: 1e-4)")
    meta_iterations: PositiveInt = Field(
        5000, description="meta-batches, one meta-update each (section 4.6: 5000 'epochs')"
    )
    meta_batch_size: PositiveInt = Field(8, description="tasks per meta-batch (not given)")
    first_order: bool = Field(False, description="FOMAML instead of the exact (second-order) meta-gradient")
    task_weighting: bool = Field(True, description="eq. 6 task weights, or the plain mean of MAML")
    engine: Literal["batched", "func"] = Field(
        "batched", description="meta-gradient engine (susmap.meta.maml.meta_gradient)"
    )
    # adaptation for the map (section 4.5)
    adapt_steps: int = Field(5, ge=0, description="updates of eq. 3 when adapting a block (section 4.6: 5)")
    adapt_shots: Shots = Field(
        "all",
        description="support samples per class a block is adapted on for the map: all (every labelled sample "
        "of the block), or 1, 5, half as in Tables 3-7",
    )
    adapt_min_per_class: int = Field(
        1,
        ge=0,
        description="adapt a block for the map only if it holds this many events and as many non-events; other "
        "blocks keep the intermediate model (0: every block with samples, as section 4.5)",
    )
    n_threads: PositiveInt | None = Field(
        1, description="torch CPU threads (1: reproducible bit for bit; none: torch's default)"
    )


def _overrides_of(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s fields as optional overrides: same type and bounds, default None (= the preset's value)."""
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        out[name] = (annotation | None, Field(None, description=info.description))
    return out


class _BlockwisePresetChoice(_Section):
    preset: BlockwisePreset = "paper"


_BlockwiseOverrides: Any = create_model(
    "_BlockwiseOverrides",
    __base__=_BlockwisePresetChoice,
    __module__=__name__,
    **_overrides_of(BlockwiseParameters),
)


class MetaBlockwiseConfig(_BlockwiseOverrides):
    """Block-wise meta-learning (paper 004), used when ``method: meta-blockwise``.

    ``preset`` picks the parameters, and any field of
    :class:`BlockwiseParameters` given here overrides the preset's value.
    ``preset: paper`` follows section 4.6 where the paper gives a value (meta
    learning rate 1e-4, 5000 meta-batches, inner rate 0.1 and 5 steps, RBMs
    at 1e-3, 20 epochs, K = 64) and departs from it in places, each listed
    with its reason in ``susmap.meta.blockwise_presets()["paper"]`` (``susmap
    models`` prints them): the DAE learns at 1e-3, not 1e-5; a block is
    adapted for the map only if it holds both classes (the paper adapts
    every block with samples), on all its samples; pretraining adds 10,000
    random cells to the sample vectors; and settings the paper does not
    give are chosen. ``preset: quick`` is ``paper`` with meta learning rate
    1e-2 and 500 meta-batches (about ten times faster).
    """

    weights: Literal["importance", "equal"] | dict[str, float] = Field(
        "importance", description="factor weights of SLIC: random-forest importance, equal, or {factor: weight}"
    )
    experiment: MetaExperimentConfig = MetaExperimentConfig()

    def overrides(self) -> dict[str, Any]:
        """The parameters given in the study (``susmap.meta.BlockwiseSettings.from_config`` adds the preset's)."""
        given = {k: getattr(self, k) for k in BlockwiseParameters.model_fields}
        return {k: v for k, v in given.items() if v is not None}


class OutputConfig(_Section):
    directory: Path = Path("susmap-output")
    compress: Literal["deflate", "zstd", "lzw", "none"] = Field(
        "deflate", description="GeoTIFF compression: deflate (everywhere readable), zstd (faster), lzw, none"
    )
    pdf: bool = Field(
        False, description="also print report.html to report.pdf (A4) with headless Chromium, offline; needs Chromium"
    )


#: Explanations ``analysis.explain`` may ask for.
ExplainKind = Literal["ale", "pdp", "shap", "shap_maps", "profiles"]


class AnalysisConfig(_Section):
    """Where the map holds: area of applicability, uncertainty and explanations of the mapped model.

    ``aoa``: the area of applicability after Meyer & Pebesma (2021) as CAST
    computes it (dissimilarity index on factors weighted by permutation
    importance under the first scheme, ``di.tif`` and ``aoa.tif``);
    ``uncertainty``: the spread of the fold models' probabilities
    (``uncertainty.tif``) and their agreement with the map's classes
    (``class_agreement.tif``); ``explain``: accumulated local effects
    (``ale``), partial dependence (``pdp``), SHAP summary (``shap``), SHAP maps
    of the top factors (``shap_maps``, tree models) and per-class factor
    profiles (``profiles``).
    """

    aoa: bool = Field(False, description="area of applicability: di.tif, aoa.tif and the share of the area outside")
    aoa_threshold: Literal["cast", "whisker"] = Field(
        "cast",
        description="DI threshold: 'cast' = min(Q3 + 1.5 IQR, max) as CAST >= 0.9, 'whisker' = the outlier-removed "
        "maximum of the training DI (Tukey hinges, CAST <= 0.7 and the paper)",
    )
    lpd: bool = Field(False, description="also the local point density lpd.tif (CAST 2023)")
    uncertainty: bool = Field(False, description="uncertainty.tif (sd, p05, p95 of the fold models), class agreement")
    explain: list[ExplainKind] = Field(
        default_factory=list, description="explanations of the mapped model: ale, pdp, shap, shap_maps, profiles"
    )
    shap_factors: PositiveInt = Field(3, description="shap_maps: the factors with the largest mean |SHAP| mapped")
    shap_samples: PositiveInt = Field(300, description="samples explained (and background size) for the SHAP summary")

    @field_validator("explain")
    @classmethod
    def _unique_explain(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("analysis.explain lists an explanation twice")
        return value


class ComputeConfig(_Section):
    """Where the dask graph runs."""

    scheduler: str = Field(
        "threads", description="'threads', 'synchronous' or a dask.distributed address (tcp://host:8786, host:8786)"
    )
    num_workers: int | None = Field(None, description="threads of scheduler: threads (default: one per core)")

    @field_validator("scheduler")
    @classmethod
    def _scheduler_form(cls, value: str) -> str:
        return check_scheduler(value)

    @field_validator("num_workers", mode="before")
    @classmethod
    def _workers_not_bool(cls, value: Any) -> Any:
        return no_bool(value)

    @field_validator("num_workers")
    @classmethod
    def _workers(cls, value: int | None) -> int | None:
        if value is None:
            return value
        cores = cpu_count()
        if value < 1:
            raise ValueError(f"{value} threads: give 1 or more (this machine has {cores} cores), or leave it out")
        if value > cores:
            warnings.warn(
                f"compute.num_workers: {value} threads on a machine with {cores} cores: the extra threads only wait",
                SusmapWarning,
                stacklevel=2,
            )
        return value

    @model_validator(mode="after")
    def _workers_for_threads(self) -> ComputeConfig:
        if self.num_workers is not None and self.scheduler != "threads":
            raise ValueError(
                f"num_workers sets the threads of scheduler: threads; with {self.scheduler!r} it would be ignored "
                "(remove it)"
            )
        return self


#: Statistics a mapping unit may take of a continuous layer (``p<q>``: the q-th percentile, 0 < q < 100).
CONTINUOUS_UNIT_STATISTICS = ("mean", "sd", "min", "max", "median")
#: Statistics a mapping unit may take of a categorical layer.
CATEGORICAL_UNIT_STATISTICS = ("proportions", "majority")
_PERCENTILE_STAT = re.compile(r"^p(\d{1,2})$")


def _check_unit_statistics(stats: list[str], where: str) -> list[str]:
    known = (*CONTINUOUS_UNIT_STATISTICS, *CATEGORICAL_UNIT_STATISTICS)
    for s in stats:
        m = _PERCENTILE_STAT.match(s)
        if s not in known and not (m and 0 < float(m.group(1)) < 100):
            raise ValueError(f"{where}: unknown statistic {s!r}; known: {', '.join(known)}, p<q> (e.g. p90)")
    if not stats:
        raise ValueError(f"{where}: give at least one statistic")
    return stats


class SlopeUnitsConfig(_Section):
    """``mapping_unit.slope_units``: the r.slopeunits criteria (Alvioli et al. 2016); unset: the default."""

    threshold_cells: PositiveInt | None = Field(None, description="initial flow-accumulation threshold [cells]")
    min_area_m2: float | None = Field(None, gt=0, description="units this small or smaller are not split [m²]")
    max_area_m2: float | None = Field(None, gt=0, description="units larger are split whatever their aspect [m²]")
    cvmin: float | None = Field(None, gt=0, lt=1, description="circular variance of aspect accepted (0-1)")
    reduction_factor: float | None = Field(None, gt=1, description="threshold t becomes t - t / rf per iteration")
    max_iterations: PositiveInt | None = None
    clean_min_area_m2: float | None = Field(None, ge=0, description="smaller units merged into a neighbour [m²]")

    def given(self) -> dict[str, Any]:
        """The criteria set in the study (the others keep the delineation's defaults)."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class MappingUnitConfig(_Section):
    """What a study maps: grid cells (default), polygon units, slope units delineated from the DEM, or a table.

    ``polygons``: a vector file of units (``path``, ``id_field``); factors are
    zonal statistics of the stack's layers per unit, the label comes from the
    inventory by the rule ``label``. ``slope_units``: units delineated from
    the DEM (``slope_units`` criteria), then as polygons. ``table``: a CSV or
    GeoPackage of units with factor columns and a 0/1 ``label_field``; no
    raster is read.
    """

    kind: Literal["cells", "polygons", "slope_units", "table"] = "cells"
    path: Path | None = Field(None, description="polygons: the units file; table: the CSV/GeoPackage table")
    layer: str | None = Field(None, description="layer name inside a GeoPackage")
    id_field: str | None = Field(None, description="unique unit id attribute (default: the row number, from 1)")
    label: str = Field("any", description="polygons, slope_units: 'any', 'count >= n' or 'area_share >= p'")
    statistics: list[str] | dict[str, list[str]] | None = Field(
        None,
        description="statistics of every continuous layer (a list), or per layer name / 'continuous' / "
        "'categorical' (a mapping); default mean, sd (continuous) and proportions (categorical)",
    )
    percentiles: list[Annotated[int, Field(gt=0, lt=100)]] = Field(
        default_factory=list,
        description="whole percentiles added to every continuous layer's statistics (e.g. [10, 90])",
    )
    allow_overlap: bool = Field(False, description="accept units that overlap one another")
    adjacency_tolerance_m: float = Field(
        0.0, ge=0, description="units closer than this [m] are neighbours (0: sharing a border or a corner)"
    )
    tile_cells: int = Field(
        1024, ge=64, description="side of the raster tiles the units are grouped by for zonal statistics [cells]"
    )
    label_field: str | None = Field(None, description="table: the 0/1 label column")
    factor_fields: list[str] | None = Field(
        None, description="table: the factor columns (default: every numeric column but id, label, x, y)"
    )
    categorical_fields: list[str] = Field(default_factory=list, description="table: factor columns that are classes")
    x: str | None = Field(None, description="table: x column of the unit centroids [m]")
    y: str | None = Field(None, description="table: y column of the unit centroids [m]")
    slope_units: SlopeUnitsConfig = SlopeUnitsConfig()

    @field_validator("statistics")
    @classmethod
    def _known_statistics(cls, value: list[str] | dict[str, list[str]] | None) -> Any:
        if isinstance(value, list):
            return _check_unit_statistics(value, "statistics")
        for name, stats in (value or {}).items():
            _check_unit_statistics(stats, f"statistics.{name}")
        return value

    @model_validator(mode="after")
    def _needs(self) -> MappingUnitConfig:
        if self.kind in ("polygons", "table") and self.path is None:
            raise ValueError(f"kind {self.kind!r} needs path: the units file")
        if self.kind == "table" and self.label_field is None:
            raise ValueError("kind 'table' needs label_field: the 0/1 label column")
        if (self.x is None) != (self.y is None):
            raise ValueError("give both x and y (the unit centroid columns) or neither")
        return self


class Study(_Section):
    """A whole susceptibility study."""

    name: str = "study"
    seed: int = Field(0, description=f"drives sampling, folds and models: an integer from 0 to {SEED_MAX}")
    method: Literal["models", "meta-blockwise"] = Field(
        "models",
        description="models: the registry models, cross-validated, best one mapped; "
        "meta-blockwise: paper 004's block-wise meta-learning (section meta_blockwise)",
    )
    grid: GridConfig | None = Field(None, description="the study grid; required unless mapping_unit.kind is table")
    layers: list[LayerConfig] = Field(default_factory=list)
    dem: DemConfig = DemConfig()
    factors: list[FactorConfig] = Field(default_factory=list)
    alignment: AlignmentConfig = AlignmentConfig()
    inventory: InventoryConfig | None = Field(None, description="the events; required unless mapping_unit is a table")
    sampling: SamplingConfig = SamplingConfig()
    models: list[ModelConfig] = Field(
        default_factory=lambda: [ModelConfig(name="logistic_regression"), ModelConfig(name="random_forest")],
        min_length=1,
    )
    validation: ValidationConfig = ValidationConfig()
    mapping: MappingConfig = MappingConfig()
    meta_blockwise: MetaBlockwiseConfig = MetaBlockwiseConfig()
    analysis: AnalysisConfig = AnalysisConfig()
    outputs: OutputConfig = OutputConfig()
    compute: ComputeConfig = ComputeConfig()
    mapping_unit: MappingUnitConfig = MappingUnitConfig()
    source: Path | None = Field(None, exclude=True, description="the YAML file this study came from")
    base_dir: Path | None = Field(None, exclude=True, description="folder relative paths are resolved against")

    @model_validator(mode="after")
    def _names_unique(self) -> Study:
        if self.mapping_unit.kind == "table":
            return self._table_study()
        missing = [key for key in ("grid", "inventory") if getattr(self, key) is None]
        if missing:
            raise ValueError(f"{' and '.join(missing)} required (only a mapping_unit of kind 'table' reads no raster)")
        if not self.layers and not self.factors:
            raise ValueError("give at least one input layer (layers) or derived factor (factors)")
        names = [layer.name for layer in self.layers] + [f.name for f in self.factors]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"layer and factor names must be unique; repeated: {', '.join(dupes)}")
        if not self.layer_names:
            raise ValueError(
                "every layer has role: auxiliary or mask and no factor is derived; a model needs at least one predictor"
            )
        labels = [m.display_name for m in self.models]
        dupes = sorted({n for n in labels if labels.count(n) > 1})
        if dupes:
            raise ValueError(f"model labels must be unique (set 'label'); repeated: {', '.join(dupes)}")
        src = self.inventory.source_area
        if src is not None and src.elevation_layer not in names:
            raise ValueError(f"inventory.source_area.elevation_layer {src.elevation_layer!r} is not a layer")
        temporal = [c.display_name for c in self.validation.scheme_configs if c.name == "temporal"]
        if temporal and self.inventory.time_field is None:
            raise ValueError(
                f"validation scheme {temporal[0]!r} (temporal) needs inventory.time_field: the attribute "
                "holding each event's date or year"
            )
        if self.mapping.model != "best" and self.mapping.model not in labels:
            raise ValueError(f"mapping.model {self.mapping.model!r} is not one of the models: {labels}")
        unknown = [m for m in self.mapping.models or [] if m not in labels] if self.mapping.models != "all" else []
        if unknown:
            raise ValueError(
                f"mapping.models: {', '.join(map(repr, unknown))} not among the study's model labels "
                f"({', '.join(labels)}); give labels of models or 'all'"
            )
        weights = self.meta_blockwise.weights
        if isinstance(weights, dict):
            unknown = sorted(set(weights) - set(self.layer_names))
            if unknown:
                raise ValueError(
                    f"meta_blockwise.weights: {unknown} are not factors ({', '.join(self.layer_names)}; "
                    "auxiliary layers are not)"
                )
        return self

    def _table_study(self) -> Study:
        """A study on a table of units: no grid, layers or inventory; models as any study."""
        given = [k for k in ("layers", "factors") if getattr(self, k)]
        if given:
            raise ValueError(
                f"mapping_unit.kind 'table' reads its factors from the table: remove {' and '.join(given)} "
                "(or give mapping_unit.factor_fields)"
            )
        if self.method != "models":
            raise ValueError(f"mapping_unit.kind 'table' runs method 'models' only, not {self.method!r}")
        temporal = [c.display_name for c in self.validation.scheme_configs if c.name in ("temporal", "regions")]
        if temporal:
            raise ValueError(f"validation scheme {temporal[0]!r} is not available on a table of units")
        labels = [m.display_name for m in self.models]
        dupes = sorted({n for n in labels if labels.count(n) > 1})
        if dupes:
            raise ValueError(f"model labels must be unique (set 'label'); repeated: {', '.join(dupes)}")
        if self.mapping.model != "best" and self.mapping.model not in labels:
            raise ValueError(f"mapping.model {self.mapping.model!r} is not one of the models: {labels}")
        return self

    @field_validator("seed", mode="before")
    @classmethod
    def _seed_not_bool(cls, value: Any) -> Any:
        return no_bool(value)

    @field_validator("seed")
    @classmethod
    def _seed_range(cls, value: int) -> int:
        return check_seed(value)

    @model_validator(mode="after")
    def _fits_in_resources(self) -> Study:
        """Refuse, before any data is read, a study whose cross-validation or map blocks cannot fit."""
        val = self.validation
        per_model = val.fits_per_model()
        fits = sum(per_model * (1 + val.tuning_fits(m.display_name)) for m in self.models)
        if fits > MAX_FITS:
            tuned = " (with their tuning fits)" if any(val.tuning_fits(m.display_name) for m in self.models) else ""
            raise ValueError(
                f"validation: {len(val.schemes)} scheme(s) x {val.repeats:,} repeats x {val.folds:,} folds x "
                f"{len(self.models)} model(s){tuned} = {fits:,} model fits, more than {MAX_FITS:,}; "
                "lower validation.repeats or validation.folds"
            )
        n_bands = max(1, len(self.layers) + len(self.factors))
        block = self.mapping.chunk_size**2 * n_bands * 8
        if block > MAX_CHUNK_BYTES:
            side = math.isqrt(MAX_CHUNK_BYTES // (8 * n_bands))
            raise ValueError(
                f"mapping.chunk_size: {self.mapping.chunk_size} x {self.mapping.chunk_size} cells x {n_bands} "
                f"factors = {block / 2**30:.1f} GiB per block (float64), held once per worker thread; "
                f"give at most {side}"
            )
        if self.method == "meta-blockwise":
            exp = self.meta_blockwise.experiment
            runs = exp.repeats * len(exp.protocols) * len(exp.methods) * len(exp.shots)
            if exp.enabled and runs > MAX_FITS:
                raise ValueError(
                    f"meta_blockwise.experiment: {exp.repeats:,} repeats x {len(exp.protocols)} protocol(s) x "
                    f"{len(exp.methods)} method(s) x {len(exp.shots)} shot count(s) = {runs:,} trainings, more than "
                    f"{MAX_FITS:,}; lower meta_blockwise.experiment.repeats"
                )
            last = self.seed + exp.repeats - 1
            if last > SEED_MAX:
                raise ValueError(
                    f"seed: the experiment's repeats use seeds {self.seed} to {last}, beyond {SEED_MAX} (2**32 - 1); "
                    "give a smaller seed"
                )
        return self

    @property
    def encodings(self) -> dict[str, str]:
        """Encoding of every categorical layer or factor, by name."""
        items = [*self.layers, *self.factors]
        return {i.name: i.encoding for i in items if i.kind == "categorical"}

    @property
    def layer_names(self) -> list[str]:
        """Names of the model's factors: predictor input layers (not auxiliary or mask), then derived factors."""
        return [layer.name for layer in self.layers if layer.role == "predictor"] + [f.name for f in self.factors]

    def resolve_paths(self, base: Path) -> Study:
        """Return a copy with every relative path made absolute against ``base``."""

        def fix(p: Path) -> Path:
            p = Path(p).expanduser()
            return p if p.is_absolute() else (base / p).resolve()

        data = self.model_dump()
        if self.grid is not None:
            data["grid"]["template"] = fix(self.grid.template)
        for layer in data["layers"]:
            layer["path"] = fix(layer["path"])
        if self.inventory is not None:
            data["inventory"]["path"] = fix(self.inventory.path)
        if self.mapping_unit.path is not None:
            data["mapping_unit"]["path"] = fix(self.mapping_unit.path)
        data["outputs"]["directory"] = fix(self.outputs.directory)
        for scheme in data["validation"]["schemes"]:
            if isinstance(scheme, dict) and scheme.get("regions") is not None:
                scheme["regions"] = fix(scheme["regions"])
        if self.dem.path is not None:
            data["dem"]["path"] = fix(self.dem.path)
        data["base_dir"] = base
        return Study.model_validate(data)


def _format_validation_error(err: ValidationError, where: str) -> str:
    items = err.errors()
    # a union (a scheme as a name or a mapping): keep the branch that matches the input's form
    if len(items) > 1:
        items = [
            i
            for i in items
            if not (i["type"] == "literal_error" and isinstance(i.get("input"), dict))
            and not (i["type"] in ("model_type", "dict_type") and isinstance(i.get("input"), str))
        ] or items
    lines = []
    for item in items:
        # pydantic's union branch tags (``literal[...]``, ``function-after[...]``) are no study keys
        key = ".".join(str(p) for p in item["loc"] if not ("[" in str(p) and str(p).endswith("]")))
        msg = item["msg"]
        if item["type"] == "extra_forbidden":
            msg = "unknown key"
        elif item["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        elif item["type"] == "literal_error":
            msg = f"{msg}, not {item.get('input')!r}"
        elif item["type"] == "int_parsing" and float(yaml_text_number(item.get("input")) or 0.5).is_integer():
            number = yaml_text_number(item["input"])
            msg = f"{item['input']!r} is text to YAML (an exponent needs a dot: 1.0e+9); write {number:.0f}"
        lines.append(f"{where}: {key}: {msg}" if key else f"{where}: {msg}")
    return "; ".join(lines)


class DuplicateKeyError(yaml.YAMLError):
    """A mapping of the study YAML gives one key twice (YAML would keep the last one silently)."""

    def __init__(self, key: Any, first_line: int, second_line: int) -> None:
        super().__init__(f"key {key!r} given twice (lines {first_line} and {second_line})")
        self.key, self.first_line, self.second_line = key, first_line, second_line


class _StudyLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses a key given twice in one mapping (merge keys ``<<`` excepted)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base class says so
                continue
            if first is not None:
                raise DuplicateKeyError(key, first, line)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _read_text(path: Path) -> str:
    """The study file as text: refused in words when it is a folder, binary or not UTF-8."""
    from susmap.errors import InputFileError

    if path.is_dir():
        raise StudyConfigError(f"{path}: is a directory, not a study file; give the study's YAML file")
    if not path.exists():
        raise InputFileError(f"{path}: study file not found")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise StudyConfigError(f"{path}: cannot be read ({err.strerror or err})") from None
    for bom, name in (
        (b"\xff\xfe\x00\x00", "UTF-32"),
        (b"\x00\x00\xfe\xff", "UTF-32"),
        (b"\xff\xfe", "UTF-16"),
        (b"\xfe\xff", "UTF-16"),
    ):
        if raw.startswith(bom):
            raise StudyConfigError(f"{path}: not UTF-8 (it is {name}); save it as UTF-8")
    if b"\x00" in raw[:8192]:
        raise StudyConfigError(f"{path}: not a text file (it holds binary data); give the study's YAML file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        column = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise StudyConfigError(
            f"{path}: not UTF-8 (byte 0x{raw[err.start]:02x} at line {line}, column {column}, offset {err.start}); "
            "save it as UTF-8"
        ) from None


def parse_study_yaml(text: str, where: str) -> Any:
    """Parse study YAML text; malformed YAML and repeated keys are a :class:`StudyConfigError` naming the line."""
    try:
        return yaml.load(text, Loader=_StudyLoader)  # a SafeLoader subclass: no arbitrary objects
    except DuplicateKeyError as err:
        raise StudyConfigError(
            f"{where}:{err.second_line}: key {err.key!r} given twice (lines {err.first_line} and {err.second_line}); "
            "YAML would keep only the second: merge them into one"
        ) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f"{where}:{mark.line + 1}" if mark is not None else where
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise StudyConfigError(f"{at}: malformed YAML: {problem}") from None


def load_study(path: str | Path, overrides: dict[str, Any] | None = None) -> Study:
    """Read and validate a study YAML file.

    Parameters
    ----------
    path : str or Path
        The YAML file. Relative paths inside it are resolved against its folder.
    overrides : dict, optional
        Top-level sections merged over the file's (e.g. ``{"outputs": {"directory": ...}}``).

    Raises
    ------
    InputFileError
        The file does not exist.
    StudyConfigError
        A folder, a binary or non-UTF-8 file, malformed YAML, a key given twice, unknown keys,
        wrong types, values out of range; the message names file and key (and line).
    """
    path = Path(path)
    data = parse_study_yaml(_read_text(path), str(path))
    if not isinstance(data, dict):
        raise StudyConfigError(f"{path}: a study must be a mapping of sections, got {type(data).__name__}")
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return study_from_dict(data, where=str(path), base=path.resolve().parent, source=path)


def study_from_dict(
    data: dict[str, Any], *, where: str = "study", base: Path | None = None, source: Path | None = None
) -> Study:
    """Validate a study given as a dict (paths resolved against ``base`` or the cwd)."""
    try:
        study = Study.model_validate(data)
    except ValidationError as err:
        raise StudyConfigError(_format_validation_error(err, where)) from None
    study = study.resolve_paths(base or Path.cwd())
    return study.model_copy(update={"source": source})


_EXAMPLE = """\
# susmap study: one file describes a whole susceptibility study.
# Relative paths are resolved against the folder of this file.
name: my-study
seed: 42                      # same seed, same samples, folds, models and map (0 to 4294967295)

grid:
  template: dem.tif           # the study grid (CRS, cell size, extent), normally the DEM
  band: 1
  # crs: EPSG:32717           # only if the template has no CRS
  # nodata: -9999             # only if the template's holes are not tagged as nodata

layers:                       # conditioning factors, each one raster band
  - name: elev
    path: dem.tif
    kind: continuous          # continuous | categorical
  - name: slope
    path: slope.tif
  # - name: lithology
  #   path: geology.tif
  #   kind: categorical       # encoded inside each training fold:
  #   encoding: onehot        # onehot | frequency_ratio (paper 001 eq. 17) | woe (weights of evidence)
  #   resampling: mode        # nearest | mode for categorical; bilinear | cubic | average for continuous
  #   crs: EPSG:32717         # only if the file has no CRS
  # - name: curvature
  #   path: curvature.tif
  #   nodata: -9999           # overrides the file's nodata tag; 'none': every value is data
  #   clip: robust            # or [low, high]: clip outliers (the log reports cells beyond a robust bound)
  # - name: dem_aux
  #   path: dem.tif
  #   role: auxiliary         # on the grid for rules and hillshade, never a model input
  # - name: study_area
  #   path: province.tif
  #   role: mask              # cells with no data or 0 (lakes, outside the province): no sample, no prediction

# dem: {path: dem.tif, band: 1}   # DEM for derived factors (default: the grid template); nodata: as for layers
factors:                      # derived on the grid; see `susmap factors --list`
  - name: plan_curv
    factor: plan_curvature    # registry name (default: the name)
  - name: twi
    factor: topographic_wetness_index
  # - name: aspect_sector
  #   factor: aspect
  #   params: {output: sector}
  #   kind: categorical
  # - name: dist_roads
  #   factor: distance_to_features
  #   params: {path: roads.gpkg}
  #   edges: extrapolate      # stencils at the border: nodata (default) or extrapolate

alignment:                    # layers off the grid are refused unless allowed here
  allow_reproject: false      # another CRS
  allow_resample: false       # another cell size or extent
  tolerance: 0.001            # origin or cell-size difference read as aligned [fraction of a cell]

inventory:
  path: landslides.csv        # CSV, GeoPackage, Shapefile or GeoJSON
  geometry: points            # points | polygons
  x: x                        # CSV only: coordinate columns and their CRS
  y: y
  crs: EPSG:32717
  label: lslpts               # 0/1 or TRUE/FALSE column; leave out for presence-only
  # polygon_cells: centre     # polygons: centre | all_touched | area_share (min_area_share: 0.5);
                              # a polygon with no cell by the rule keeps its centroid's cell
  # source_area: {elevation_layer: elev, upper_fraction: 0.5}   # polygons: the upper part only
  # where: "Year_obs < 2006"  # keep the features matching this condition on their attributes
  # time_field: Year_obs      # date or year of each event (for the temporal scheme)
  # duplicates: merge         # several events on one cell: merge (one sample) | refuse | keep
  # conflicts: refuse         # a cell labelled both 1 and 0: refuse | event_wins

sampling:                     # presence-only inventories only
  absence_ratio: 1.0          # absences per event cell
  buffer_m: 100               # no absence closer than this to an event [m]

models:                       # see `susmap models`
  - name: logistic_regression
  - name: random_forest
    params: {n_estimators: 500}  # checked against the model's own limits when the study is loaded
    # label: rf                 # name in tables and output files: letters, digits, _ - . +

validation:
  schemes: [spatial, random]  # spatial = k-means clusters of the coordinates
                              # {name: temporal, split_at: 2006}: train on earlier events, test on later
  folds: 5
  repeats: 5
  threshold: 0.5

# method: meta-blockwise      # instead of the models above: paper 004's block-wise meta-learning
# meta_blockwise:
#   preset: paper             # paper (meta lr 1e-4 x 5000 batches) | quick (1e-2 x 500)
#   n_blocks: 64              # SLIC blocks; compactness: 0.5; weights: importance | equal | {slope: 2}
#   experiment:               # few-shot OA for K = 1, 5, M/2 (paper 004 Tables 3-7)
#     repeats: 3
#     protocols: [all, A, B, C, D]
#     areas: {axis: x, fraction: 0.5}   # two areas for A-D: west / east halves

mapping:
  model: best                 # a model label, or best by mean AUROC of the first scheme
  classification: natural_breaks   # natural_breaks | quantile | equal_interval
  n_classes: 5
  chunk_size: 512             # rows/cols per prediction block (16 or more)
  # hillshade: elev           # layer shaded under the map PNG

analysis:                     # where the map holds (report section of that name)
  aoa: true                   # area of applicability (Meyer & Pebesma 2021): di.tif, aoa.tif, aoa.png
  uncertainty: true           # sd / p05 / p95 of the fold models (uncertainty.tif), class agreement
  explain: [ale, pdp, shap, profiles]   # + shap_maps: SHAP value rasters of the top factors (tree models)

outputs:
  directory: susmap-output
  # pdf: true                 # also report.pdf (A4), printed by headless Chromium (or: susmap run --pdf)

compute:
  scheduler: threads          # threads | synchronous | tcp://scheduler:8786 (or host:8786, tls://...)
"""


def example_study_yaml() -> str:
    """The commented example study written by ``susmap init``."""
    return _EXAMPLE
