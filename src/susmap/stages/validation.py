"""The study's validation schemes as scikit-learn splitters on its samples."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np

from susmap.errors import InputFileError, SamplingError, StudyConfigError
from susmap.stack import Stack
from susmap.study import Study
from susmap.validation import make_splitter

__all__ = ["region_ids", "study_splitters"]


def study_splitters(
    study: Study,
    coords: np.ndarray,
    X: np.ndarray,  # noqa: N803
    stack: Stack,
    *,
    n_repeats: int | None = None,
    times=None,
) -> list[tuple[str, object]]:
    """(label, splitter) of every validation scheme of the study, in the study's order.

    ``coords`` are the samples' x/y [m, grid CRS] and ``X`` their factor
    values (for the environmental scheme); ``n_repeats`` overrides the study's
    repeats (e.g. 1 for fold maps); ``times`` are the samples' ``event_time``
    (for the temporal scheme; None without ``inventory.time_field``).
    """
    val = study.validation
    out = []
    for cfg in val.scheme_configs:
        params = cfg.params
        if cfg.regions is not None:
            params = {"block_ids": region_ids(cfg.regions, cfg.region_field, coords, stack)}
        if cfg.name == "temporal":
            if study.inventory.time_field is None or times is None:
                raise StudyConfigError(
                    f"validation scheme {cfg.display_name!r} (temporal) needs the events' times: set "
                    "inventory.time_field to the attribute holding each event's date or year"
                )
            params = {**params, "times": np.asarray(times)}
        splitter = make_splitter(
            cfg.name,
            coords=coords,
            n_splits=val.folds,
            n_repeats=val.repeats if n_repeats is None else n_repeats,
            seed=study.seed,
            X=X,
            **params,
        )
        out.append((cfg.display_name, splitter))
    return out


def region_ids(path: Path, field: str | None, coords: np.ndarray, stack: Stack) -> np.ndarray:
    """The region (polygon of ``path``) each sample lies in, for leave-one-region-out validation.

    Regions are named by ``field`` (or their row number); samples outside
    every region are refused.
    """
    if not Path(path).exists():
        raise InputFileError(f"{path}: regions file not found")
    regions = gpd.read_file(path)
    if regions.crs is None:
        raise SamplingError(
            f"{path}: the regions have no CRS; assign one to the file (e.g. in QGIS, or ogr2ogr -a_srs EPSG:...)"
        )
    if field is not None and field not in regions.columns:
        raise StudyConfigError(f"{path}: region_field {field!r} not found (columns: {', '.join(regions.columns)})")
    crs = stack.grid.crs.to_wkt()
    regions = regions.to_crs(crs)
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(coords[:, 0], coords[:, 1]), crs=crs)
    joined = gpd.sjoin(points, regions, how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    ids = joined[field] if field is not None else joined["index_right"]
    if ids.isna().any():
        raise SamplingError(f"{path}: {int(ids.isna().sum())} samples lie in no region; regions must cover the samples")
    return ids.astype(str).to_numpy()
