"""Synthetic regional landscapes whose landslide rule changes from region to region.

A benchmark for methods that claim a study area holds several
landslide-inducing environments (paper 004, section 1.1: "the occurrence of a
landslide in one region is extremely sensitive to the slope, while the
occurrence in other regions is not"). :func:`regional_landscape` builds, from
one seed:

* a terrain: a fractal-like DEM, the sum of Gaussian-filtered white noise at
  octave scales (amplitude ∝ scale, i.e. a Hurst exponent of 1), scaled so the
  95th percentile of slope is ``max_slope_deg``;
* factors derived from it: elevation [m], slope [degrees], northness
  (cos aspect, [-1, 1]), curvature (Laplacian of the DEM [1/100 m]), distance
  to the river network [m] (D8 flow routing by :mod:`pyflwdir`, streams where
  the upstream area reaches ``stream_cells`` cells) and the topographic
  wetness index ln(a / tan β) [-];
* a latent region map (Voronoi cells of jittered seeds, boundaries warped by
  smooth noise) – **not** among the factors, so no model can read the region
  off a factor value (the situation of paper 004 section 1.1: the factor that
  explains the difference was not captured);
* one rule per region, cycling through ``rules`` (default
  :data:`DEFAULT_RULES`, two pairs of contradicting rules):

  - ``steep_slopes``: events on steep slopes (slope rank high);
  - ``near_rivers``: events close to the drainage (distance rank low),
    e.g. bank failures and undercut toes;
  - ``wet_hollows``: events in convergent wet hollows (TWI rank high) – wet
    hollows are gentle, so this rule contradicts ``steep_slopes``;
  - ``ridges``: events far from the drainage, on ridges and upper slopes
    (e.g. topographic amplification of seismic shaking) – contradicts
    ``near_rivers``;
  - ``elevation_band`` (not in the default cycle): events in the middle
    elevation band of the region;

* the true probability ``p = 1 / (1 + exp(-s z))`` where ``z`` is the
  region's rule score, a normal-quantile transform of the ranks of the
  rule's factor *within the region* (so ``z ~ N(0, 1)`` in every region and
  every region has about as many events as non-events) and ``s`` the
  ``sharpness``;
* ``n_samples`` labelled cells: valid cells drawn uniformly without
  replacement, label ~ Bernoulli(p).

With contradicting rules no single global model of the factors fits
every region: the effect of slope (or of the distance to the drainage) on
susceptibility changes sign from one region to another, and a global model
averages the signs away. (With the non-contradicting rules
``steep_slopes, near_rivers, elevation_band, wet_hollows`` a global random
forest reached the few-shot block-wise accuracy: the rules then add up to
one global rule that is right often enough.)

The best possible overall accuracy (OA) of any classifier on these labels is
the Bayes accuracy ``mean(max(p, 1 - p))`` (:attr:`RegionalLandscape.bayes_accuracy`);
``sharpness = 3`` gives about 0.83.

:func:`write_landscape` writes the landscape as GeoTIFFs, an inventory CSV
and a study YAML that ``susmap run`` reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from affine import Affine
from scipy import ndimage, special

__all__ = [
    "DEFAULT_RULES",
    "FACTOR_NAMES",
    "FACTOR_UNITS",
    "RULES",
    "UNIT_TABLE_COEFFICIENTS",
    "RegionalLandscape",
    "landscape_study_dict",
    "regional_landscape",
    "unit_table",
    "unit_table_study_dict",
    "write_landscape",
    "write_unit_table",
]

#: Factors of a regional landscape, in stack order.
FACTOR_NAMES = ("elevation", "slope", "northness", "curvature", "dist_river", "twi")
#: Units of the factors.
FACTOR_UNITS = {
    "elevation": "m",
    "slope": "degrees",
    "northness": "cos(aspect)",
    "curvature": "1/100 m",
    "dist_river": "m",
    "twi": "ln(m)",
}
#: Every region rule :func:`regional_landscape` knows.
RULES = ("steep_slopes", "near_rivers", "wet_hollows", "ridges", "elevation_band")
#: Rules assigned to regions 1, 2, ... in this order (cycling) by default: two contradicting pairs.
DEFAULT_RULES = ("steep_slopes", "near_rivers", "wet_hollows", "ridges")


@dataclass
class RegionalLandscape:
    """A synthetic study area with region-dependent landslide rules.

    Attributes
    ----------
    factors : numpy.ndarray of shape (n_factors, height, width)
        Float32 factor values, NaN outside the study area.
    factor_names : tuple of str
        Names of the factors (:data:`FACTOR_NAMES`).
    units : dict
        Unit of every factor.
    regions : numpy.ndarray of shape (height, width)
        Int32 region id, 1 ... n_regions; 0 outside the study area.
    region_rules : dict
        ``{region id: rule name}`` (see :data:`RULES`).
    probability : numpy.ndarray of shape (height, width)
        Float32 true probability of an event, in [0, 1]; NaN outside.
    samples : pandas.DataFrame
        Labelled cells: ``row, col, x, y`` (cell centre, CRS units [m]),
        ``label`` (1 event, 0 not), ``region`` and ``probability``.
    transform : affine.Affine
        Cell → map coordinates (north-up, ``cell_size`` m).
    crs : str
        CRS of the map coordinates (default ``"EPSG:32617"``, UTM 17N).
    seed : int
        The seed that made it.
    """

    factors: np.ndarray
    factor_names: tuple[str, ...]
    units: dict[str, str]
    regions: np.ndarray
    region_rules: dict[int, str]
    probability: np.ndarray
    samples: pd.DataFrame
    transform: Affine
    crs: str
    seed: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the grid [cells]."""
        return (int(self.factors.shape[1]), int(self.factors.shape[2]))

    @property
    def valid(self) -> np.ndarray:
        """Boolean (height, width): True inside the study area."""
        return self.regions > 0

    @property
    def bayes_accuracy(self) -> float:
        """Expected OA of the true probability on its own Bernoulli labels, ``mean(max(p, 1 - p))``."""
        p = self.probability[self.valid].astype(np.float64)
        return float(np.maximum(p, 1.0 - p).mean())


# ---------------------------------------------------------------------------------------------- terrain


def _fractal_surface(shape: tuple[int, int], rng: np.random.Generator, base_scale: float) -> np.ndarray:
    """Sum of Gaussian-filtered unit white noise at octave scales, amplitude ∝ scale; zero mean, unit sd."""
    h, w = shape
    out = np.zeros(shape, dtype=np.float64)
    scale = float(base_scale)
    while scale >= 1.0:
        noise = ndimage.gaussian_filter(rng.standard_normal((h, w)), scale, mode="reflect")
        sd = noise.std()
        if sd > 0:
            out += scale * noise / sd
        scale /= 2.0
    out -= out.mean()
    return out / (out.std() or 1.0)


def _slope_aspect(dem: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Slope [degrees] and northness (cos of the downslope aspect) by central differences."""
    dz_dy, dz_dx = np.gradient(dem, cell)  # axis 0 runs south (row index grows southwards)
    slope = np.degrees(np.arctan(np.hypot(dz_dx, dz_dy)))
    # downslope direction: -grad; north component is +dz_dy (rows grow southwards)
    norm = np.hypot(dz_dx, dz_dy)
    with np.errstate(invalid="ignore", divide="ignore"):
        northness = np.where(norm > 0, dz_dy / norm, 0.0)
    return slope, northness


def _terrain(
    shape: tuple[int, int],
    rng: np.random.Generator,
    cell: float,
    max_slope_deg: float,
    base_elevation: float,
    terrain_scale: float,
    tilt: float,
) -> np.ndarray:
    """A DEM [m]: fractal surface plus a planar regional tilt, relief scaled to the slope target."""
    h, w = shape
    surface = _fractal_surface(shape, rng, base_scale=terrain_scale)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    angle = rng.uniform(0, 2 * np.pi)
    surface = surface + tilt * (np.cos(angle) * xx + np.sin(angle) * yy)
    slope, _ = _slope_aspect(surface, cell)
    tan95 = np.tan(np.radians(np.percentile(slope, 95)))
    relief = np.tan(np.radians(max_slope_deg)) / max(tan95, 1e-12)
    dem = surface * relief
    return dem - dem.min() + base_elevation


def _hydrology(dem: np.ndarray, cell: float, transform: Affine, stream_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """(distance to the nearest stream cell [m], upstream area [cells]) by D8 routing over the filled DEM."""
    import pyflwdir

    flw = pyflwdir.from_dem(dem.astype(np.float32), nodata=np.float32(-9999.0), transform=transform, latlon=False)
    upa = np.asarray(flw.upstream_area(unit="cell"), dtype=np.float64)
    upa = np.where(upa > 0, upa, 1.0)
    streams = upa >= stream_cells
    if not streams.any():  # tiny grids: the largest accumulation is the river
        streams = upa >= upa.max()
    dist = ndimage.distance_transform_edt(~streams) * cell
    return dist, upa


def _study_area(shape: tuple[int, int], rng: np.random.Generator, nodata_fraction: float) -> np.ndarray:
    """Boolean mask of an irregular study area leaving about ``nodata_fraction`` of the grid outside."""
    h, w = shape
    if nodata_fraction <= 0:
        return np.ones(shape, dtype=bool)
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot((yy - (h - 1) / 2) / (h / 2), (xx - (w - 1) / 2) / (w / 2))
    wobble = _fractal_surface(shape, rng, base_scale=max(h, w) / 8.0)
    score = r + 0.12 * wobble
    return score <= np.quantile(score, 1.0 - nodata_fraction)


def _region_map(shape: tuple[int, int], n_regions: int, rng: np.random.Generator) -> np.ndarray:
    """Region ids 1 ... n_regions: Voronoi cells of jittered grid seeds, boundaries warped by smooth noise."""
    h, w = shape
    nx = int(np.ceil(np.sqrt(n_regions * w / h)))
    ny = int(np.ceil(n_regions / nx))
    cells = rng.permutation(nx * ny)[:n_regions]
    sy = (cells // nx + rng.uniform(0.25, 0.75, n_regions)) * h / ny
    sx = (cells % nx + rng.uniform(0.25, 0.75, n_regions)) * w / nx
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    amp = 0.08 * max(h, w)
    yy = yy + amp * _fractal_surface(shape, rng, base_scale=max(h, w) / 10.0)
    xx = xx + amp * _fractal_surface(shape, rng, base_scale=max(h, w) / 10.0)
    d2 = (yy[None] - sy[:, None, None]) ** 2 + (xx[None] - sx[:, None, None]) ** 2
    return (d2.argmin(axis=0) + 1).astype(np.int32)


def _normal_scores(values: np.ndarray) -> np.ndarray:
    """Normal-quantile transform of ranks: ``Φ⁻¹((rank + 0.5) / n)``, ties broken by order."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.arange(values.size)
    return special.ndtri((ranks + 0.5) / values.size)


def _rule_score(rule: str, cells: dict[str, np.ndarray]) -> np.ndarray:
    """Rule score z ~ N(0, 1) of the cells of one region (higher: more susceptible)."""
    if rule == "steep_slopes":
        return _normal_scores(cells["slope"])
    if rule == "near_rivers":
        return _normal_scores(-cells["dist_river"])
    if rule == "elevation_band":
        n = cells["elevation"].size
        u = (np.argsort(np.argsort(cells["elevation"], kind="stable"), kind="stable") + 0.5) / n
        return _normal_scores(-np.abs(u - 0.5))
    if rule == "wet_hollows":
        return _normal_scores(cells["twi"])
    if rule == "ridges":
        return _normal_scores(cells["dist_river"])
    raise ValueError(f"unknown rule {rule!r}; rules are {', '.join(RULES)}")


# ---------------------------------------------------------------------------------------------- public API


def regional_landscape(
    shape: tuple[int, int] = (256, 256),
    n_regions: int = 4,
    *,
    n_samples: int = 2000,
    sharpness: float = 3.0,
    rules: tuple[str, ...] = DEFAULT_RULES,
    cell_size: float = 10.0,
    origin: tuple[float, float] = (500000.0, 4500000.0),
    crs: str = "EPSG:32617",
    max_slope_deg: float = 40.0,
    terrain_scale: float = 16.0,
    tilt: float = 0.0,
    base_elevation: float = 300.0,
    stream_cells: int = 400,
    nodata_fraction: float = 0.12,
    seed: int = 0,
) -> RegionalLandscape:
    """A synthetic study area whose landslide rule differs between latent regions.

    Parameters
    ----------
    shape : (int, int), default=(256, 256)
        (height, width) of the grid [cells].
    n_regions : int, default=4
        Number of regions; region ``r`` gets rule ``rules[(r - 1) % len(rules)]``.
    n_samples : int, default=2000
        Labelled cells drawn uniformly from the study area (labels ~ Bernoulli(p)).
    sharpness : float, default=3.0
        Slope ``s`` of the logit in the rule score, ``p = σ(s z)``; larger is
        more deterministic (Bayes accuracy 0.76 at 2, 0.83 at 3, 0.87 at 4).
    rules : tuple of str, default=DEFAULT_RULES
        Rules to cycle through (names from :data:`RULES`).
    cell_size : float, default=10.0
        Cell side [m].
    origin : (float, float), default=(500000.0, 4500000.0)
        Map coordinates (x, y) of the top-left corner [m].
    crs : str, default="EPSG:32617"
        CRS of the map coordinates (UTM zone 17N).
    max_slope_deg : float, default=40.0
        95th percentile of slope the relief is scaled to [degrees].
    terrain_scale : float, default=16.0
        Largest scale of the fractal surface (sd of its widest Gaussian
        filter) [cells]: hills a few times this across. Small against the
        regions, so every region holds many hills and no factor's range
        gives its region away.
    tilt : float, default=0.0
        Amplitude of a planar regional trend added to the unit-variance
        surface (0: none); a strong trend makes elevation a proxy of the region.
    base_elevation : float, default=300.0
        Lowest elevation [m].
    stream_cells : int, default=400
        Upstream area [cells] from which a cell is a stream (4 ha at 10 m).
    nodata_fraction : float, default=0.12
        Share of the grid outside the irregular study area (NaN factors,
        region 0); 0 keeps every cell.
    seed : int, default=0
        Seeds everything; the same seed gives the same landscape bit for bit.

    Returns
    -------
    RegionalLandscape

    Raises
    ------
    ValueError
        Impossible sizes or counts, or an unknown rule.
    """
    h, w = (int(shape[0]), int(shape[1]))
    if h < 8 or w < 8:
        raise ValueError(f"shape must be at least 8 x 8 cells, got {shape}")
    if not 1 <= int(n_regions) <= h * w // 16:
        raise ValueError(f"n_regions must be between 1 and {h * w // 16}, got {n_regions}")
    if not rules or any(r not in RULES for r in rules):
        raise ValueError(f"rules must be names from {RULES}, got {rules}")
    if not 0.0 <= nodata_fraction < 0.9:
        raise ValueError(f"nodata_fraction must be in [0, 0.9), got {nodata_fraction}")
    if sharpness <= 0 or cell_size <= 0:
        raise ValueError("sharpness and cell_size must be positive")
    rng = np.random.default_rng(seed)
    transform = Affine(cell_size, 0.0, origin[0], 0.0, -cell_size, origin[1])

    dem = _terrain((h, w), rng, cell_size, max_slope_deg, base_elevation, float(terrain_scale), float(tilt))
    slope, northness = _slope_aspect(dem, cell_size)
    curvature = ndimage.laplace(dem) / cell_size**2 * 100.0
    dist, upa = _hydrology(dem, cell_size, transform, stream_cells)
    tan_b = np.maximum(np.tan(np.radians(slope)), 1e-3)
    twi = np.log(upa * cell_size / tan_b)
    layers = {
        "elevation": dem,
        "slope": slope,
        "northness": northness,
        "curvature": curvature,
        "dist_river": dist,
        "twi": twi,
    }

    inside = _study_area((h, w), rng, nodata_fraction)
    regions = np.where(inside, _region_map((h, w), int(n_regions), rng), 0).astype(np.int32)
    region_rules = {r: rules[(r - 1) % len(rules)] for r in range(1, int(n_regions) + 1)}

    logit = np.full((h, w), np.nan)
    for r, rule in region_rules.items():
        sel = regions == r
        if not sel.any():
            continue
        z = _rule_score(rule, {k: v[sel] for k, v in layers.items()})
        logit[sel] = sharpness * z
    probability = np.where(inside, special.expit(logit), np.nan).astype(np.float32)
    factors = np.stack([np.where(inside, layers[n], np.nan) for n in FACTOR_NAMES]).astype(np.float32)

    cells = np.flatnonzero(inside)
    n = min(int(n_samples), cells.size)
    pick = np.sort(rng.choice(cells, size=n, replace=False))
    rows, cols = np.divmod(pick, w)
    p = probability[rows, cols].astype(np.float64)
    labels = (rng.random(n) < p).astype(np.int8)
    xs, ys = transform * (cols + 0.5, rows + 0.5)
    samples = pd.DataFrame(
        {
            "row": rows.astype(np.int64),
            "col": cols.astype(np.int64),
            "x": np.asarray(xs, dtype=np.float64),
            "y": np.asarray(ys, dtype=np.float64),
            "label": labels,
            "region": regions[rows, cols],
            "probability": p.astype(np.float32),
        }
    )
    return RegionalLandscape(
        factors=factors,
        factor_names=FACTOR_NAMES,
        units=dict(FACTOR_UNITS),
        regions=regions,
        region_rules=region_rules,
        probability=probability,
        samples=samples,
        transform=transform,
        crs=crs,
        seed=int(seed),
        meta={"sharpness": float(sharpness), "stream_cells": int(stream_cells), "cell_size": float(cell_size)},
    )


def landscape_study_dict(
    landscape: RegionalLandscape,
    folder: str | Path,
    out_dir: str | Path | None = None,
    *,
    method: str = "models",
) -> dict[str, Any]:
    """A susmap study (as a plain dict) over the files :func:`write_landscape` wrote to ``folder``.

    Every factor is a continuous layer, the grid template is the elevation
    layer, the inventory is ``inventory.csv`` (labelled points, column
    ``label``). ``method="models"``: logistic regression and a random forest
    under spatial and random 5-fold cross-validation; ``method="meta-blockwise"``:
    paper 004's block-wise meta-learning (quick preset, about one block per
    30 samples) with its few-shot comparison for all protocols, the two areas
    being the western and eastern halves.
    """
    if method not in ("models", "meta-blockwise"):
        raise ValueError(f"method must be 'models' or 'meta-blockwise', got {method!r}")
    folder = Path(folder)
    study = {
        "name": f"synthetic-regional-{landscape.seed}",
        "seed": int(landscape.seed),
        "grid": {"template": str(folder / f"{landscape.factor_names[0]}.tif"), "band": 1},
        "layers": [{"name": n, "path": str(folder / f"{n}.tif"), "kind": "continuous"} for n in landscape.factor_names],
        "inventory": {
            "path": str(folder / "inventory.csv"),
            "geometry": "points",
            "x": "x",
            "y": "y",
            "crs": landscape.crs,
            "label": "label",
        },
        "models": [
            {"name": "logistic_regression"},
            {"name": "random_forest", "params": {"n_estimators": 300}},
        ],
        "validation": {"schemes": ["spatial", "random"], "folds": 5, "repeats": 2},
        "mapping": {"model": "best", "classification": "natural_breaks", "n_classes": 5},
        "outputs": {"directory": str(Path(out_dir) if out_dir is not None else folder / "output")},
    }
    if method == "meta-blockwise":
        del study["models"], study["validation"]
        study["name"] = f"synthetic-regional-{landscape.seed}-meta"
        study["method"] = method
        study["mapping"] = {"classification": "natural_breaks", "n_classes": 5}
        study["meta_blockwise"] = {
            "preset": "quick",
            "n_blocks": int(min(100, max(4, len(landscape.samples) // 30))),
            "compactness": 0.5,
            "experiment": {
                "repeats": 3,
                "n_jobs": -1,
                "shots": [1, 5, "half"],
                "protocols": ["all", "A", "B", "C", "D"],
                "areas": {"axis": "x", "fraction": 0.5},
            },
        }
    return study


def write_landscape(landscape: RegionalLandscape, folder: str | Path, *, method: str = "models") -> dict[str, Path]:
    """Write a landscape as GeoTIFFs, an inventory CSV and a study YAML.

    Files: ``<factor>.tif`` for every factor (float32, nodata -9999),
    ``regions.tif`` (int32, nodata 0), ``probability.tif`` (float32, the true
    probability, nodata -9999), ``inventory.csv`` (``x, y, label, region,
    row, col``; x, y are cell centres in the landscape's CRS [m]) and
    ``study.yaml`` (:func:`landscape_study_dict` with ``method``, run it with ``susmap run``).

    Returns
    -------
    dict
        ``{name: path}`` of every file written (names: the factors,
        ``"regions"``, ``"probability"``, ``"inventory"``, ``"study"``).
    """
    import rasterio
    import yaml

    folder = Path(folder)
    # paths relative to the YAML's folder, so the folder can be moved; also checks method before writing
    study = landscape_study_dict(landscape, Path("."), out_dir="output", method=method)
    folder.mkdir(parents=True, exist_ok=True)
    h, w = landscape.shape
    profile = {
        "driver": "GTiff",
        "width": w,
        "height": h,
        "count": 1,
        "crs": landscape.crs,
        "transform": landscape.transform,
        "compress": "deflate",
    }
    written: dict[str, Path] = {}

    def _write(name: str, data: np.ndarray, dtype: str, nodata: float, description: str) -> None:
        path = folder / f"{name}.tif"
        with rasterio.open(path, "w", dtype=dtype, nodata=nodata, **profile) as dst:
            dst.write(data.astype(dtype), 1)
            dst.set_band_description(1, description)
        written[name] = path

    for i, name in enumerate(landscape.factor_names):
        band = np.where(np.isfinite(landscape.factors[i]), landscape.factors[i], -9999.0)
        _write(name, band, "float32", -9999.0, name)
    _write("regions", landscape.regions, "int32", 0, "region")
    prob = np.where(np.isfinite(landscape.probability), landscape.probability, -9999.0)
    _write("probability", prob, "float32", -9999.0, "true probability")
    inv = landscape.samples[["x", "y", "label", "region", "row", "col"]]
    inv.to_csv(folder / "inventory.csv", index=False)
    written["inventory"] = folder / "inventory.csv"
    with open(folder / "study.yaml", "w", encoding="utf-8") as fh:
        yaml.safe_dump(study, fh, sort_keys=False)
    written["study"] = folder / "study.yaml"
    return written


# --------------------------------------------------------------------------- a table of mapping units

#: Coefficients of the first factors in the true logit of :func:`unit_table` (the others have none).
UNIT_TABLE_COEFFICIENTS = (1.5, -1.2, 1.0)


def unit_table(
    n_units: int = 10_000,
    n_factors: int = 14,
    *,
    seed: int = 0,
    coefficients: tuple[float, ...] = UNIT_TABLE_COEFFICIENTS,
    intercept: float = -1.5,
    spacing_m: float = 200.0,
) -> pd.DataFrame:
    """A table of mapping units whose landslide label follows a known logistic rule of a few factors.

    Units sit on a jittered square lattice (``spacing_m`` apart, centroids
    ``x``, ``y`` [m], shifted by up to a quarter spacing); factors
    ``f01`` … ``f<n_factors>`` are independent standard normals; the true
    probability is ``p_true = 1 / (1 + exp(-(intercept + Σ_j b_j f_j)))``
    with ``b = coefficients`` on the first ``len(coefficients)`` factors and
    zero on the rest, and ``label ~ Bernoulli(p_true)``. With the defaults
    about 29 % of the units are landslide units and the true probability's
    AUROC is about 0.88: a model that finds the rule scores near that, the
    other factors are noise (importance ~ 0), and no factor is collinear
    (VIF ~ 1).

    Parameters
    ----------
    n_units, n_factors : int
        Rows and factor columns (``n_factors >= len(coefficients)``).
    seed : int
        Seed of everything random.
    coefficients : tuple of float
        True logit coefficients of ``f01``, ``f02``, ….
    intercept : float
        True logit intercept.
    spacing_m : float
        Lattice spacing [m].

    Returns
    -------
    pandas.DataFrame
        Columns ``unit_id`` (1 …), ``x``, ``y`` [m], the factors, ``p_true``, ``label`` (0/1).
    """
    if n_factors < len(coefficients):
        raise ValueError(f"n_factors ({n_factors}) must be at least the number of coefficients ({len(coefficients)})")
    if n_units < 2:
        raise ValueError(f"n_units must be at least 2, got {n_units}")
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n_units)))
    k = np.arange(n_units)
    jitter = rng.uniform(-0.25, 0.25, size=(n_units, 2))
    x = (k % side + 0.5 + jitter[:, 0]) * spacing_m
    y = (k // side + 0.5 + jitter[:, 1]) * spacing_m
    factors = rng.standard_normal((n_units, n_factors))
    logit = intercept + factors[:, : len(coefficients)] @ np.asarray(coefficients, dtype=float)
    p_true = special.expit(logit)
    label = (rng.random(n_units) < p_true).astype(np.int64)
    frame = pd.DataFrame({"unit_id": k + 1, "x": x, "y": y})
    names = [f"f{j + 1:02d}" for j in range(n_factors)]
    frame[names] = factors
    frame["p_true"] = p_true
    frame["label"] = label
    return frame


def unit_table_study_dict(
    table: pd.DataFrame, path: str | Path, out_dir: str | Path, *, n_estimators: int = 100
) -> dict[str, Any]:
    """A study (plain dict) on the unit table of :func:`unit_table` written to ``path``.

    ``mapping_unit.kind: table`` with the factor columns ``f..`` (not
    ``p_true``), centroids ``x``/``y``; logistic regression and a random
    forest of ``n_estimators`` trees; spatial and random 5-fold
    cross-validation, one repeat.
    """
    names = [c for c in table.columns if c.startswith("f") and c[1:].isdigit()]
    return {
        "name": "synthetic-unit-table",
        "seed": 0,
        "models": [
            {"name": "logistic_regression"},
            {"name": "random_forest", "params": {"n_estimators": int(n_estimators)}},
        ],
        "validation": {"schemes": ["spatial", "random"], "folds": 5, "repeats": 1},
        "mapping": {"classification": "quantile", "n_classes": 5},
        "mapping_unit": {
            "kind": "table",
            "path": str(path),
            "id_field": "unit_id",
            "label_field": "label",
            "x": "x",
            "y": "y",
            "factor_fields": names,
        },
        "outputs": {"directory": str(out_dir)},
    }


def write_unit_table(table: pd.DataFrame, folder: str | Path, *, n_estimators: int = 100) -> dict[str, Path]:
    """Write a unit table as ``units.csv`` and its study as ``study.yaml`` (paths relative to ``folder``).

    Returns
    -------
    dict
        ``{"table": path, "study": path}``.
    """
    import yaml

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / "units.csv", index=False)
    study = unit_table_study_dict(table, "units.csv", "output", n_estimators=n_estimators)
    with open(folder / "study.yaml", "w", encoding="utf-8") as fh:
        yaml.safe_dump(study, fh, sort_keys=False)
    return {"table": folder / "units.csv", "study": folder / "study.yaml"}
