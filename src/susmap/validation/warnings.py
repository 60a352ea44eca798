"""Honest warnings: what a susceptibility run must say about the trust its map deserves.

Plain functions that look at what a run computed and return
:class:`StudyWarning` records, each with one plain-English sentence that
carries the numbers. The runners put them in the log, ``metrics.json`` and
the report.

- :func:`validation_warnings`: a spatial-CV AUROC whose interval (mean - sd)
  reaches below 0.6 (``near_chance``); random CV beating spatial CV by more
  than 0.1 AUROC, the optimism of random folds under spatial autocorrelation
  (``spatial_gap``; Brenning 2012, IGARSS, 5372-5375; Schratz et al. 2019,
  Ecol. Model. 406, 109-120); fewer than 30 events (``few_events``); folds
  whose scores were undefined because a part held one class
  (``folds_dropped``).
- :func:`inventory_warnings`: many inventory features dropped off the grid,
  without area or on nodata (``events_dropped``).
- :func:`edge_effect_warnings`: the highest susceptibility class crowding
  the cells next to nodata or the raster border (``edge_effect``). Slope,
  curvature and flow accumulation are computed from neighbourhoods that are
  cut short there (Zevenbergen & Thorne 1987, Earth Surf. Process.
  Landforms 12, 47-56: a 3 x 3 window; flow routing loses its upslope area),
  so a high class gathered along gaps may be an artefact.
  :func:`class_shares_near_edges` reads the classified raster window by
  window (memory ~ ``window_rows`` x width bytes x a few), so it works on
  rasters larger than memory. Measured: 0.45-0.64 s (three runs, the first
  cold) for a 5,000 x 5,000 tiled uint8 GeoTIFF (deflate, 256 x 256 tiles,
  random classes 1-5, three circular nodata holes and 0.1 % scattered nodata
  cells), ``edge_cells=3``, ``window_rows=1024``, on one core of a shared
  2-core x86_64 machine.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import rasterio
from rasterio.errors import RasterioIOError
from rasterio.windows import Window
from scipy import ndimage

from susmap.errors import InputFileError, RasterReadError, StudyConfigError

__all__ = [
    "SCHEME_KINDS",
    "StudyWarning",
    "class_shares_near_edges",
    "edge_effect_warnings",
    "inventory_warnings",
    "log_warnings",
    "validation_warnings",
    "warnings_json",
]

#: Scheme names of :class:`susmap.study.SchemeConfig`; the first two draw folds at random.
SCHEME_KINDS = (
    "spatial",
    "random",
    "holdout",
    "blocks",
    "buffered_loo",
    "disc",
    "environmental",
    "regions",
    "temporal",
)
_RANDOM_KINDS = ("random", "holdout")
#: Absolute tolerance of the threshold comparisons (a mean - sd of exactly 0.6 does not warn).
_TOL = 1e-9
_SUMMARY_COLUMNS = ("scheme", "model", "metric", "mean", "sd", "n_folds")


@dataclass(frozen=True)
class StudyWarning:
    """One warning a run carries.

    Attributes
    ----------
    code : str
        Stable identifier: ``near_chance``, ``spatial_gap``, ``few_events``,
        ``folds_dropped``, ``events_dropped`` or ``edge_effect``.
    message : str
        One plain-English sentence with the numbers.
    severity : {"caution", "serious"}
        ``serious`` when the map should not be used without a closer look.
    value : float or None
        The quantity tested (AUROC, gap, count, share or ratio; see each rule).
    threshold : float or None
        The limit it was tested against.
    """

    code: str
    message: str
    severity: Literal["caution", "serious"]
    value: float | None = None
    threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON: ``code, message, severity, value, threshold`` (a non-finite number becomes None)."""
        out = asdict(self)
        for key in ("value", "threshold"):
            v = out[key]
            out[key] = None if v is None or not math.isfinite(v) else float(v)
        return out


# --------------------------------------------------------------------------- cross-validation


def validation_warnings(
    summary: pd.DataFrame,
    *,
    scheme_kinds: Mapping[str, str],
    mapped_model: str | None,
    n_events: int,
    cv_scores: pd.DataFrame | None = None,
    min_auroc: float = 0.6,
    max_gap: float = 0.1,
    min_events: int = 30,
    expected_folds: Mapping[str, int] | None = None,
) -> list[StudyWarning]:
    """Warnings on the cross-validated scores of a run.

    Parameters
    ----------
    summary : DataFrame
        ``CVResult.summary`` of :func:`susmap.validation.cross_validate_models`:
        ``scheme, model, metric, mean, sd, n_folds``, with ``n_folds`` the
        folds whose score was defined (NaN folds left out) and ``sd`` the
        sample sd (ddof = 1) over them. With a ``part`` column (as
        ``CVResult.summarize("both")``) only the ``test`` rows count.
    scheme_kinds : mapping of str to str
        Scheme label (the ``scheme`` column) -> scheme name (one of
        :data:`SCHEME_KINDS`), e.g. ``{"spatial": "spatial", "blocks 500 m":
        "blocks", "random": "random"}``.
    mapped_model : str or None
        Label of the model the map is made with; None tests every model.
    n_events : int
        Events (label 1) in the sample table.
    cv_scores : DataFrame, optional
        ``CVResult.scores`` (one row per scheme, model, repeat, fold). When
        given, undefined folds are counted from its NaN rows; otherwise from
        ``n_folds`` against ``expected_folds`` (or, lacking those, against
        the most folds any headline metric of the model counted, which misses
        folds whose training part held one class).
    min_auroc : float, default=0.6
        ``near_chance`` when the spatial-CV AUROC's mean - sd is below it.
    max_gap : float, default=0.1
        ``spatial_gap`` when random-CV AUROC exceeds spatial-CV AUROC by more.
    min_events : int, default=30
        ``few_events`` below it.
    expected_folds : mapping of str to int, optional
        Scheme label -> folds x repeats it ran, for counting undefined folds
        without ``cv_scores``.

    Returns
    -------
    list of StudyWarning
        In the order ``near_chance``, ``spatial_gap``, ``few_events``,
        ``folds_dropped``; models in the order of ``summary``.

    Notes
    -----
    "Spatial CV" is the first scheme (in the order of ``summary``) whose kind
    is not ``random`` or ``holdout`` and whose AUROC is defined (the per-fold
    AUROC of leave-one-out schemes never is); "random CV" the first ``random``
    scheme, else the first ``holdout``. ``near_chance`` is serious when the
    mean itself is below ``min_auroc``; ``spatial_gap`` when the gap exceeds
    twice ``max_gap``; ``few_events`` below half of ``min_events``;
    ``folds_dropped`` when more than half of a scheme's folds are undefined.
    Leave-one-out schemes (``buffered_loo``) test one sample per fold, so
    their per-fold AUROC is undefined by design: only folds whose training
    part held one class count there.
    """
    summary = _check_summary(summary, scheme_kinds)
    models = list(dict.fromkeys(summary["model"]))
    if mapped_model is not None and mapped_model not in models:
        raise StudyConfigError(
            f"validation warnings: mapped model {mapped_model!r} is not in the cross-validation summary "
            f"(models: {', '.join(models)})"
        )
    tested = models if mapped_model is None else [mapped_model]
    auroc = summary[summary["metric"] == "auroc"]
    schemes = list(dict.fromkeys(summary["scheme"]))
    out: list[StudyWarning] = []
    for model in tested:
        w = _near_chance(auroc, schemes, scheme_kinds, model, min_auroc)
        if w is not None:
            out.append(w)
    for model in tested:
        w = _spatial_gap(auroc, schemes, scheme_kinds, model, max_gap)
        if w is not None:
            out.append(w)
    if n_events < min_events:
        out.append(
            StudyWarning(
                code="few_events",
                message=(
                    f"only {n_events} events were sampled, fewer than {min_events}: the fold scores rest on a "
                    "handful of test events each, vary widely between folds, and the map generalises from few "
                    "examples"
                ),
                severity="serious" if n_events < min_events / 2 else "caution",
                value=float(n_events),
                threshold=float(min_events),
            )
        )
    out += _folds_dropped(summary, schemes, scheme_kinds, cv_scores, expected_folds)
    return out


def _check_summary(summary: pd.DataFrame, scheme_kinds: Mapping[str, str]) -> pd.DataFrame:
    missing = [c for c in _SUMMARY_COLUMNS if c not in summary.columns]
    if missing:
        raise StudyConfigError(
            f"validation warnings: the cross-validation summary lacks columns {', '.join(missing)} "
            f"(expected {', '.join(_SUMMARY_COLUMNS)})"
        )
    if "part" in summary.columns:  # CVResult.summarize("both"): the test part only
        summary = summary[summary["part"] == "test"]
    bad = {label: kind for label, kind in scheme_kinds.items() if kind not in SCHEME_KINDS}
    if bad:
        label, kind = next(iter(bad.items()))
        raise StudyConfigError(
            f"validation warnings: scheme {label!r} has kind {kind!r}; known kinds: {', '.join(SCHEME_KINDS)}"
        )
    unknown = [s for s in dict.fromkeys(summary["scheme"]) if s not in scheme_kinds]
    if unknown:
        raise StudyConfigError(
            f"validation warnings: scheme {unknown[0]!r} of the summary has no entry in scheme_kinds "
            f"(given: {', '.join(map(repr, scheme_kinds)) or 'none'})"
        )
    return summary


def _auroc_row(auroc: pd.DataFrame, scheme: str, model: str) -> pd.Series | None:
    rows = auroc[(auroc["scheme"] == scheme) & (auroc["model"] == model)]
    if rows.empty or not np.isfinite(rows["mean"].iloc[0]):
        return None
    return rows.iloc[0]


def _spatial_row(auroc, schemes, kinds, model) -> tuple[str, pd.Series] | None:
    for scheme in schemes:
        if kinds[scheme] in _RANDOM_KINDS:
            continue
        row = _auroc_row(auroc, scheme, model)
        if row is not None:
            return scheme, row
    return None


def _random_row(auroc, schemes, kinds, model) -> tuple[str, pd.Series] | None:
    for wanted in _RANDOM_KINDS:
        for scheme in schemes:
            if kinds[scheme] == wanted:
                row = _auroc_row(auroc, scheme, model)
                if row is not None:
                    return scheme, row
    return None


def _folds_text(n: int) -> str:
    return f"{n} fold" if n == 1 else f"{n} folds"


def _near_chance(auroc, schemes, kinds, model, min_auroc) -> StudyWarning | None:
    found = _spatial_row(auroc, schemes, kinds, model)
    if found is None:
        return None
    scheme, row = found
    mean, sd = float(row["mean"]), float(row["sd"])
    sd = 0.0 if not math.isfinite(sd) else sd
    low = mean - sd
    if not low < min_auroc - _TOL:
        return None
    serious = mean < min_auroc - _TOL
    where = f"scheme {scheme!r}, {_folds_text(int(row['n_folds']))}"
    tail = (
        f"its mean is below {min_auroc:.2f}: the map is hardly better than chance"
        if serious
        else f"its interval reaches below {min_auroc:.2f}: the map may be little better than chance"
    )
    return StudyWarning(
        code="near_chance",
        message=f"the spatial-CV AUROC of {model} is {mean:.2f} ± {sd:.2f} ({where}); {tail}",
        severity="serious" if serious else "caution",
        value=low,
        threshold=min_auroc,
    )


def _spatial_gap(auroc, schemes, kinds, model, max_gap) -> StudyWarning | None:
    spatial = _spatial_row(auroc, schemes, kinds, model)
    random = _random_row(auroc, schemes, kinds, model)
    if spatial is None or random is None:
        return None
    (s_scheme, s_row), (r_scheme, r_row) = spatial, random
    s_mean, r_mean = float(s_row["mean"]), float(r_row["mean"])
    gap = r_mean - s_mean
    if not gap > max_gap + _TOL:
        return None
    return StudyWarning(
        code="spatial_gap",
        message=(
            f"the random-CV AUROC of {model} ({r_mean:.2f}, scheme {r_scheme!r}) exceeds its spatial-CV AUROC "
            f"({s_mean:.2f}, scheme {s_scheme!r}) by {gap:.2f}, more than {max_gap:.2f}: random folds test on "
            "neighbours of the training samples and reward spatial autocorrelation, so trust the spatial score "
            "for places the inventory does not cover"
        ),
        severity="serious" if gap > 2 * max_gap + _TOL else "caution",
        value=gap,
        threshold=max_gap,
    )


def _folds_dropped(summary, schemes, kinds, cv_scores, expected_folds) -> list[StudyWarning]:
    out = []
    for scheme in schemes:
        loo = kinds[scheme] == "buffered_loo"
        counted = (
            _dropped_from_scores(cv_scores, scheme, loo)
            if cv_scores is not None
            else _dropped_from_summary(summary, scheme, loo, expected_folds)
        )
        if counted is None:
            continue
        dropped, total = counted
        if dropped <= 0:
            continue
        why = "training part" if loo else "training or test part"
        out.append(
            StudyWarning(
                code="folds_dropped",
                message=(
                    f"in scheme {scheme!r}, {dropped} of {total} folds (folds x repeats) had one class only in "
                    f"their {why}; their scores are undefined and left out of the means, which rest on "
                    f"{_folds_text(total - dropped)}"
                ),
                severity="serious" if dropped > total / 2 else "caution",
                value=float(dropped),
                threshold=None,
            )
        )
    return out


def _dropped_from_scores(scores: pd.DataFrame, scheme: str, loo: bool) -> tuple[int, int] | None:
    """Undefined splits of one scheme from the fold rows: (dropped, total), a split counted once over models."""
    for col in ("scheme", "repeat", "fold"):
        if col not in scores.columns:
            raise StudyConfigError(f"validation warnings: the fold scores lack column {col!r}")
    rows = scores[scores["scheme"] == scheme]
    if rows.empty:
        return None
    if loo or "auroc" not in rows.columns:
        # threshold NaN <=> the training part held one class (every score undefined)
        if "threshold" in rows.columns:
            bad = rows["threshold"].isna()
        elif "accuracy" in rows.columns:
            bad = rows["accuracy"].isna()
        else:
            return None
    else:
        bad = rows["auroc"].isna()
    splits = rows[["repeat", "fold"]].drop_duplicates()
    dropped = rows.loc[bad.to_numpy(), ["repeat", "fold"]].drop_duplicates()
    return len(dropped), len(splits)


def _dropped_from_summary(summary, scheme, loo, expected_folds) -> tuple[int, int] | None:
    """Undefined splits of one scheme from ``n_folds``: (dropped, total), the most any model lost."""
    rows = summary[summary["scheme"] == scheme]
    metric = "accuracy" if loo else "auroc"
    worst: tuple[int, int] | None = None
    for _, grp in rows.groupby("model", sort=False):
        got = grp.loc[grp["metric"] == metric, "n_folds"]
        if got.empty:
            continue
        if expected_folds is not None and scheme in expected_folds:
            total = int(expected_folds[scheme])
        elif loo:
            continue  # without the expected count, a training fold with one class cannot be seen
        else:
            total = int(grp["n_folds"].max())
        dropped = total - int(got.iloc[0])
        if worst is None or dropped > worst[0]:
            worst = (dropped, total)
    return worst


# --------------------------------------------------------------------------- inventory


def inventory_warnings(counts: Mapping[str, int], *, max_dropped_share: float = 0.1) -> list[StudyWarning]:
    """``events_dropped`` when more than ``max_dropped_share`` of the inventory features were dropped.

    Parameters
    ----------
    counts : mapping of str to int
        The counts of :func:`susmap.inventory.inventory_cells` and
        :func:`susmap.sampling.build_samples`: ``features`` read,
        ``where_excluded`` (the user's ``inventory.where`` filter, not a
        drop), points ``off_grid``, ``polygons_off_grid``,
        ``polygons_without_area``, ``events_on_nodata`` (features that lost
        every cell to nodata), ``on_nodata`` (event cells on nodata) and
        ``polygon_cells``, ``non_source_cells_dropped`` for polygons.
    max_dropped_share : float, default=0.1
        Share of the features considered (read minus ``where_excluded``)
        above which a warning is given.

    Returns
    -------
    list of StudyWarning
        At most one ``events_dropped``: share = features dropped / (dropped +
        kept), causes named largest first; value = share. Serious above twice
        ``max_dropped_share``. For polygons whose features all kept a cell,
        the share of event cells on nodata is tested instead (a polygon that
        lost part of its cells still biases the sample).
    """
    if not 0 < max_dropped_share < 1:
        raise StudyConfigError(f"inventory warnings: max_dropped_share must be in (0, 1), got {max_dropped_share!r}")
    c = {k: int(v or 0) for k, v in counts.items()}
    on_nodata_features = c.get("events_on_nodata", 0)
    if not on_nodata_features and "polygon_cells" not in c:
        on_nodata_features = c.get("on_nodata", 0)  # points: one cell per feature
    causes = {
        "off the grid": c.get("off_grid", 0) + c.get("polygons_off_grid", 0),
        "without area": c.get("polygons_without_area", 0),
        "on nodata in some factor layer": on_nodata_features,
    }
    dropped = sum(causes.values())
    considered = c.get("features", 0) - c.get("where_excluded", 0)
    if considered <= 0:
        considered = dropped + c.get("features_sampled", 0)
    if dropped and considered > 0:
        share = dropped / considered
        if share > max_dropped_share + _TOL:
            named = ", ".join(f"{n} {why}" for why, n in sorted(causes.items(), key=lambda kv: -kv[1]) if n)
            excluded = c.get("where_excluded", 0)
            note = f" (besides {excluded} left out by inventory.where)" if excluded else ""
            return [
                StudyWarning(
                    code="events_dropped",
                    message=(
                        f"{dropped} of {considered} inventory features ({100 * share:.1f} %) were dropped{note}: "
                        f"{named}; the samples may miss the terrain where they fell"
                    ),
                    severity="serious" if share > 2 * max_dropped_share + _TOL else "caution",
                    value=share,
                    threshold=max_dropped_share,
                )
            ]
    cells = c.get("polygon_cells", 0) - c.get("non_source_cells_dropped", 0)
    lost = c.get("on_nodata", 0)
    if "polygon_cells" in c and cells > 0 and lost:
        share = lost / cells
        if share > max_dropped_share + _TOL:
            return [
                StudyWarning(
                    code="events_dropped",
                    message=(
                        f"{lost} of {cells} event cells of the inventory polygons ({100 * share:.1f} %) fall on "
                        "nodata in some factor layer and were dropped; the samples may miss the terrain there"
                    ),
                    severity="serious" if share > 2 * max_dropped_share + _TOL else "caution",
                    value=share,
                    threshold=max_dropped_share,
                )
            ]
    return []


# --------------------------------------------------------------------------- edge effects


def class_shares_near_edges(classes_path: Path, edge_cells: int = 3, *, window_rows: int = 1024) -> pd.DataFrame:
    """Share of each class in the edge zone and in the interior of a classified raster.

    The edge zone is every valid cell (class > 0) within ``edge_cells``
    cells, chessboard distance, of a nodata cell (class 0) or of the raster
    border (cells outside the raster count as nodata); the interior is every
    other valid cell. The raster is read in windows of ``window_rows`` full
    rows with an ``edge_cells`` halo above and below, and the nodata mask is
    grown by a (2 k + 1) x (2 k + 1) maximum filter; the result equals a
    whole-array computation.

    Parameters
    ----------
    classes_path : Path
        Single-band integer GeoTIFF of classes (``classes.tif``; 0 = nodata).
    edge_cells : int, default=3
        Width k of the edge zone [cells], >= 1.
    window_rows : int, default=1024
        Rows per window (memory ~ (window_rows + 2 k) x width x 3 bytes).

    Returns
    -------
    DataFrame
        One row per class 1..max class: ``class, edge_cells, interior_cells,
        edge_share, interior_share, ratio`` (shares of the valid cells of the
        zone, 0-1; ratio = edge_share / interior_share, inf when the class is
        absent from the interior, NaN when absent from both). Its ``attrs``
        hold ``edge_total``, ``interior_total`` and ``edge_cells``.

    Raises
    ------
    InputFileError
        No such file.
    RasterReadError
        Unreadable, or not an integer raster.
    StudyConfigError
        ``edge_cells`` < 1 or ``window_rows`` < 1.
    """
    for name, v in (("edge_cells", edge_cells), ("window_rows", window_rows)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise StudyConfigError(f"edge effects: {name} must be an integer >= 1, got {v!r}")
    k = int(edge_cells)
    path = Path(classes_path)
    if not path.exists():
        raise InputFileError(f"{path}: no such classified raster")
    edge_counts = np.zeros(256, dtype=np.int64)
    interior_counts = np.zeros(256, dtype=np.int64)
    try:
        with rasterio.open(path) as ds:
            if np.dtype(ds.dtypes[0]).kind not in "iu":
                raise RasterReadError(f"{path}: classes must be integers, got {ds.dtypes[0]}")
            height, width = ds.height, ds.width
            for top in range(0, height, window_rows):
                bottom = min(height, top + window_rows)
                lo, hi = max(0, top - k), min(height, bottom + k)
                block = ds.read(1, window=Window(0, lo, width, hi - lo))
                if block.min(initial=0) < 0 or block.max(initial=0) > 255:
                    raise RasterReadError(f"{path}: classes must lie in 0..255, got {block.min()}..{block.max()}")
                _count_window(block, top - lo, bottom - top, k, edge_counts, interior_counts)
    except RasterioIOError as exc:
        raise RasterReadError(f"{path}: cannot read the classified raster ({exc})") from exc
    n = max(int(np.flatnonzero(edge_counts + interior_counts).max(initial=0)), 1)
    edge, interior = edge_counts[1 : n + 1], interior_counts[1 : n + 1]
    e_tot, i_tot = int(edge_counts[1:].sum()), int(interior_counts[1:].sum())
    e_share = edge / e_tot if e_tot else np.zeros(n)
    i_share = interior / i_tot if i_tot else np.zeros(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(
            i_share > 0, e_share / np.where(i_share > 0, i_share, 1.0), np.where(e_share > 0, np.inf, np.nan)
        )
    frame = pd.DataFrame(
        {
            "class": np.arange(1, n + 1, dtype=np.int64),
            "edge_cells": edge,
            "interior_cells": interior,
            "edge_share": e_share,
            "interior_share": i_share,
            "ratio": ratio,
        }
    )
    frame.attrs.update(edge_total=e_tot, interior_total=i_tot, edge_cells=k)
    return frame


def _count_window(block, start, rows, k, edge_counts, interior_counts) -> None:
    """Add the class counts of the core rows ``start:start + rows`` of ``block`` (halo rows around them)."""
    nodata = (block == 0).view(np.uint8)
    # outside the raster counts as nodata (cval=1); a window edge inside the raster has a k-row halo instead
    near = ndimage.maximum_filter(nodata, size=2 * k + 1, mode="constant", cval=1)[start : start + rows]
    core = block[start : start + rows].astype(np.intp, copy=False)
    valid = core > 0
    edge = valid & (near > 0)
    edge_counts += np.bincount(core[edge], minlength=256)[:256]
    interior_counts += np.bincount(core[valid & ~edge], minlength=256)[:256]


def edge_effect_warnings(
    classes_path: Path,
    *,
    n_classes: int,
    edge_cells: int = 3,
    ratio: float = 1.5,
    min_edge_share: float = 0.01,
    window_rows: int = 1024,
) -> list[StudyWarning]:
    """``edge_effect`` when the highest class crowds the cells next to nodata or the raster border.

    Fires when class ``n_classes`` takes more than ``ratio`` times its
    interior share of the edge zone (see :func:`class_shares_near_edges`) and
    the edge zone holds at least ``min_edge_share`` of the valid cells.
    value = the ratio; serious above twice ``ratio``.
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer) or n_classes < 1:
        raise StudyConfigError(f"edge effects: n_classes must be an integer >= 1, got {n_classes!r}")
    shares = class_shares_near_edges(classes_path, edge_cells, window_rows=window_rows)
    e_tot, i_tot = shares.attrs["edge_total"], shares.attrs["interior_total"]
    if e_tot == 0 or e_tot / (e_tot + i_tot) < min_edge_share:
        return []
    row = shares[shares["class"] == n_classes]
    if row.empty or row["edge_cells"].iloc[0] == 0:
        return []
    r = float(row["ratio"].iloc[0])
    if not r > ratio + _TOL:
        return []
    e_share, i_share = float(row["edge_share"].iloc[0]), float(row["interior_share"].iloc[0])
    interior = (
        f"{r:.1f} times its {100 * i_share:.1f} % of the interior"
        if math.isfinite(r)
        else "and no cell of the interior"
    )
    zone = 100 * e_tot / (e_tot + i_tot)
    return [
        StudyWarning(
            code="edge_effect",
            message=(
                f"the highest class ({n_classes}) covers {100 * e_share:.1f} % of the cells within {edge_cells} "
                f"cells of nodata or the raster border ({zone:.1f} % of the map), {interior}: slope, "
                "curvature and flow routing are biased next to nodata, so part of the highest class may be an "
                "edge artefact"
            ),
            severity="serious" if r > 2 * ratio + _TOL else "caution",
            value=r,
            threshold=ratio,
        )
    ]


# --------------------------------------------------------------------------- output


def log_warnings(warnings: Iterable[StudyWarning], logger: logging.Logger) -> None:
    """Log every warning at WARNING level: ``"[serious] near_chance: <message>"``."""
    for w in warnings:
        logger.warning("[%s] %s: %s", w.severity, w.code, w.message)


def warnings_json(warnings: Iterable[StudyWarning]) -> list[dict[str, Any]]:
    """The warnings as plain dicts for ``metrics.json`` (see :meth:`StudyWarning.to_dict`)."""
    return [w.to_dict() for w in warnings]
