"""Labels of mapping units from an event inventory: a unit with events is a landslide unit.

Points: the number of events in each unit (a point on a shared border
counts once, for the first unit holding it). Polygons: the share of each
unit's area covered by events (the events are dissolved first, so
overlapping events are not counted twice) and the number of events touching
the unit. The rule turns these into 0/1:

=====================  =====================================================
rule                   label 1 when
=====================  =====================================================
``any``                count >= 1 (points) or area_share > 0 (polygons)
``count >= n``         at least n events (``>`` also accepted)
``area_share >= p``    polygons only: events cover at least p (0-1) of the unit
=====================  =====================================================

Rules are parsed by a regular expression, never evaluated as code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from susmap.errors import StudyConfigError

__all__ = ["LabelRule", "UnitEvents", "parse_label_rule", "unit_events", "unit_labels"]

_RULE = re.compile(r"^\s*(count|area_share)\s*(>=|>)\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*$")


@dataclass(frozen=True)
class LabelRule:
    """A parsed ``mapping_unit.label`` rule: ``measure op threshold`` (``any``: count >= 1 or area_share > 0)."""

    measure: str  # "any", "count" or "area_share"
    op: str = ">="
    threshold: float = 1.0

    def apply(self, count: np.ndarray, area_share: np.ndarray | None) -> np.ndarray:
        """0/1 label of each unit."""
        if self.measure == "any":
            hit = count >= 1 if area_share is None else (area_share > 0) | (count >= 1)
        else:
            values = count if self.measure == "count" else area_share
            hit = values >= self.threshold if self.op == ">=" else values > self.threshold
        return np.asarray(hit, dtype=np.int64)

    def __str__(self) -> str:
        return "any" if self.measure == "any" else f"{self.measure} {self.op} {self.threshold:g}"


def parse_label_rule(text: str, *, key: str = "mapping_unit.label") -> LabelRule:
    """Parse ``any``, ``count >= n`` or ``area_share >= p`` (also ``>``).

    Raises
    ------
    StudyConfigError
        Anything else, or an area share outside [0, 1], or a count below 1.
    """
    if str(text).strip().lower() == "any":
        return LabelRule("any")
    m = _RULE.match(str(text))
    if not m:
        raise StudyConfigError(
            f"{key}: {text!r} is not a label rule; give 'any', 'count >= n' or 'area_share >= p' (p from 0 to 1)"
        )
    measure, op, value = m.group(1), m.group(2), float(m.group(3))
    if measure == "area_share" and not 0 <= value <= 1:
        raise StudyConfigError(f"{key}: area_share threshold {value:g} must lie from 0 to 1")
    if measure == "count" and op == ">=" and value < 1:
        raise StudyConfigError(f"{key}: 'count >= {value:g}' labels every unit; give n >= 1")
    return LabelRule(measure, op, value)


@dataclass
class UnitEvents:
    """Events per unit: ``count`` (events in or touching the unit), ``area_share`` (polygons; None for points)."""

    count: np.ndarray
    area_share: np.ndarray | None
    events: int
    outside: int


def unit_events(units: gpd.GeoDataFrame, events: gpd.GeoDataFrame) -> UnitEvents:
    """Count the events in each unit and, for polygon events, the share of each unit's area they cover.

    ``units`` and ``events`` share a CRS. Points on a border between units
    count for the first unit only; events in no unit are counted in ``outside``.
    """
    n = len(units)
    ugeoms = units.geometry.to_numpy()
    egeoms = events.geometry.to_numpy()
    tree = shapely.STRtree(ugeoms)
    kinds = set(shapely.get_type_id(egeoms).tolist())
    points = kinds <= {0, 4}  # Point, MultiPoint
    if points:
        pts, unit_idx = tree.query(egeoms, predicate="intersects")
        first = pd.Series(unit_idx).groupby(pts).min()
        count = np.bincount(first.to_numpy(), minlength=n).astype(np.int64)
        return UnitEvents(count=count, area_share=None, events=len(egeoms), outside=len(egeoms) - len(first))
    ev_idx, unit_idx = tree.query(egeoms, predicate="intersects")
    count = np.bincount(unit_idx, minlength=n).astype(np.int64)
    dissolved = shapely.get_parts(shapely.union_all(egeoms))  # disjoint parts: no area counted twice
    part_idx, part_units = tree.query(dissolved, predicate="intersects")
    areas = shapely.area(shapely.intersection(dissolved[part_idx], ugeoms[part_units]))
    covered = np.bincount(part_units, weights=areas, minlength=n)
    share = np.clip(covered / np.maximum(shapely.area(ugeoms), np.finfo(float).tiny), 0.0, 1.0)
    outside = len(egeoms) - len(np.unique(ev_idx))
    return UnitEvents(count=count, area_share=share, events=len(egeoms), outside=outside)


def unit_labels(units: gpd.GeoDataFrame, events: gpd.GeoDataFrame, rule: LabelRule) -> tuple[np.ndarray, UnitEvents]:
    """0/1 label of every unit by ``rule``, and the event measures behind it.

    Raises
    ------
    StudyConfigError
        ``area_share`` rule with point events.
    """
    found = unit_events(units, events)
    if rule.measure == "area_share" and found.area_share is None:
        raise StudyConfigError(
            f"mapping_unit.label: {rule} needs polygon events; the inventory holds points (use 'count >= n' or 'any')"
        )
    return rule.apply(found.count, found.area_share), found
