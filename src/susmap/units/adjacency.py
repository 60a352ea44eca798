"""Unit adjacency and the validation splitters of mapping units.

Spatial schemes on units use the units' centroids as their coordinates
(k-means clusters, blocks, discs of :mod:`susmap.validation`). For the
buffered schemes (``buffered_loo``, ``disc``) a distance between centroids
is not enough: a large unit's neighbour may have its centroid far away yet
share a long border with it. :class:`NeighboursLeftOut` wraps any splitter and
also drops from each training part every unit that shares a border (or a
corner; or lies within ``tolerance`` m) with a unit of the test part, as
Brenning (2012) drops the test sample's surroundings.
"""

from __future__ import annotations

from collections.abc import Iterator

import geopandas as gpd
import numpy as np
import shapely
from scipy import sparse

from susmap.errors import SamplingError
from susmap.validation.fold_checks import Splitter

__all__ = ["NeighboursLeftOut", "overlap_area", "unit_adjacency", "unit_centroids"]


def unit_centroids(units: gpd.GeoDataFrame) -> np.ndarray:
    """Centroid x, y [CRS units] of each unit, shape (n, 2)."""
    c = shapely.centroid(units.geometry.to_numpy())
    return np.column_stack([shapely.get_x(c), shapely.get_y(c)])


def unit_adjacency(units: gpd.GeoDataFrame, tolerance: float = 0.0) -> sparse.csr_matrix:
    """Symmetric boolean adjacency of the units (n × n, no diagonal), via an STR-tree.

    Two units are neighbours when their polygons intersect (a shared border
    or corner), or, with ``tolerance`` > 0, lie within ``tolerance`` [CRS
    units, m] of each other (units from files with slivers between them).
    """
    geoms = units.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    if tolerance > 0:
        a, b = tree.query(geoms, predicate="dwithin", distance=tolerance)
    else:
        a, b = tree.query(geoms, predicate="intersects")
    keep = a != b
    n = len(geoms)
    m = sparse.coo_matrix((np.ones(int(keep.sum()), dtype=bool), (a[keep], b[keep])), shape=(n, n)).tocsr()
    return (m + m.T).astype(bool).tocsr()


def overlap_area(units: gpd.GeoDataFrame) -> tuple[float, int]:
    """Total area where units overlap one another [CRS units²] and the number of overlapping pairs."""
    geoms = units.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="overlaps")
    keep = a < b
    if not keep.any():
        return 0.0, 0
    areas = shapely.area(shapely.intersection(geoms[a[keep]], geoms[b[keep]]))
    return float(areas.sum()), int((areas > 0).sum())


class NeighboursLeftOut(Splitter):
    """A splitter whose training parts also leave out the neighbours of every test unit.

    Parameters
    ----------
    splitter : scikit-learn splitter
        The folds (e.g. ``BufferedLeaveOneOut`` on the unit centroids).
    adjacency : sparse matrix (n × n)
        :func:`unit_adjacency` of the units, in the order of ``X``.

    Its ``n_repeats`` is the wrapped splitter's, so repeats are scored as theirs.
    """

    def __init__(self, splitter, adjacency) -> None:
        self.splitter = splitter
        self.adjacency = adjacency
        self.n_repeats = getattr(splitter, "n_repeats", 1)

    def get_n_splits(self, X=None, y=None, groups=None) -> int:  # noqa: N803
        return self.splitter.get_n_splits(X, y, groups)

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:  # noqa: N803
        adj = sparse.csr_matrix(self.adjacency)
        if adj.shape[0] != len(X):
            raise ValueError(f"X has {len(X)} rows but the adjacency has {adj.shape[0]} units")
        for train, test in self.splitter.split(X, y, groups):
            near = np.zeros(len(X), dtype=bool)
            near[adj[test].indices] = True
            near[test] = True
            kept = train[~near[train]]
            if kept.size == 0:
                raise SamplingError(
                    "validation: every training unit neighbours the test units of a fold; use more units or "
                    "another scheme"
                )
            yield kept, test
