"""Shared fixtures: small georeferenced rasters, inventories and study dicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine

from susmap.datasets import ecuador_path

UTM17S = "EPSG:32717"
ORIGIN = (700000.0, 9560000.0)  # top-left corner [m]
CELL = 10.0  # [m]


def write_raster(
    path: Path,
    data: np.ndarray,
    *,
    crs: str | None = UTM17S,
    transform: Affine | None = None,
    nodata: float | None = -9999.0,
    driver: str = "GTiff",
    descriptions: list[str] | None = None,
) -> Path:
    """Write a (bands, rows, cols) or (rows, cols) array as a georeferenced raster."""
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    transform = transform or Affine(CELL, 0, ORIGIN[0], 0, -CELL, ORIGIN[1])
    profile = {
        "driver": driver,
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "transform": transform,
    }
    if crs is not None:
        profile["crs"] = crs
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        for i, d in enumerate(descriptions or [], 1):
            dst.set_band_description(i, d)
    return path


@pytest.fixture(autouse=True)
def fresh_cli_logger():
    """Let every test's CLI invocation install its own log handler, as a fresh process would.

    The CLI callback adds a stderr handler to the ``susmap`` logger only when
    it has none; in one pytest process the first handler would stay bound to
    the first runner's (closed) stream.
    """
    import logging

    logger = logging.getLogger("susmap")
    handlers, level = logger.handlers[:], logger.level
    logger.handlers.clear()
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)


def cell_centre(row: float, col: float) -> tuple[float, float]:
    return ORIGIN[0] + (col + 0.5) * CELL, ORIGIN[1] - (row + 0.5) * CELL


@pytest.fixture
def synthetic(tmp_path: Path) -> dict:
    """A 60 x 80 grid with two factors whose values make events predictable.

    ``a`` rises west to east, ``b`` is random; 120 labelled points anywhere,
    events where ``a`` (plus noise) is high. Cells (0..2, 0..2) of ``a`` are nodata.
    Returns paths and the truth.
    """
    rng = np.random.default_rng(1)
    h, w = 60, 80
    a = np.tile(np.linspace(0, 1, w, dtype=np.float32), (h, 1))
    b = rng.random((h, w), dtype=np.float32)
    a[:3, :3] = -9999.0
    p_a = write_raster(tmp_path / "a.tif", a)
    p_b = write_raster(tmp_path / "b.tif", b)
    # 120 labelled points spread over the grid: event where a (+ noise) is high
    rows = rng.integers(4, h, size=120)
    cols = rng.integers(4, w, size=120)
    event = (a[rows, cols] + 0.15 * rng.standard_normal(120) > 0.5).astype(int)
    xs, ys = zip(*(cell_centre(r, c) for r, c in zip(rows, cols, strict=True)), strict=True)
    inv = pd.DataFrame({"x": xs, "y": ys, "event": event})
    p_inv = tmp_path / "events.csv"
    inv.to_csv(p_inv, index=False)
    return {"dir": tmp_path, "a": p_a, "b": p_b, "inventory": p_inv, "shape": (h, w), "points": inv}


def synthetic_study(synthetic: dict, **sections) -> dict:
    """A study dict over the ``synthetic`` fixture; keyword sections override."""
    study = {
        "name": "synthetic",
        "seed": 7,
        "grid": {"template": str(synthetic["a"])},
        "layers": [
            {"name": "a", "path": str(synthetic["a"])},
            {"name": "b", "path": str(synthetic["b"])},
        ],
        "inventory": {
            "path": str(synthetic["inventory"]),
            "x": "x",
            "y": "y",
            "crs": UTM17S,
            "label": "event",
        },
        "models": [{"name": "logistic_regression"}],
        "validation": {"folds": 3, "repeats": 1},
        "mapping": {"chunk_size": 32, "class_sample": 2000},
        "outputs": {"directory": str(synthetic["dir"] / "out")},
    }
    study.update(sections)
    return study


@pytest.fixture
def ecuador_ta() -> Path:
    return ecuador_path("ta.tif")


@pytest.fixture
def ecuador_lsl() -> pd.DataFrame:
    return pd.read_csv(ecuador_path("lsl.csv"))


@pytest.fixture
def make_study(synthetic: dict):
    """``make_study(**sections)`` -> a study dict over the ``synthetic`` fixture."""

    def _make(**sections) -> dict:
        return synthetic_study(synthetic, **sections)

    return _make


class DemoRun(NamedTuple):
    """The bundled demo, run once: its output folder and the CLI runner's result (exit code, output)."""

    out: Path
    result: Any


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> DemoRun:
    """``susmap -q demo OUT`` (the README's demo, real Ecuador data), run once per test session (~20 s).

    Shared by the CLI's demo test and the report's browser checks; tests must only read ``out``.
    """
    import logging

    from typer.testing import CliRunner

    from susmap.cli import app

    logger = logging.getLogger("susmap")  # as fresh_cli_logger: the CLI's handlers stay inside this run
    handlers, level = logger.handlers[:], logger.level
    logger.handlers.clear()
    out = tmp_path_factory.mktemp("demo") / "demo"
    try:
        result = CliRunner().invoke(app, ["-q", "demo", str(out)])
    finally:
        logger.handlers[:] = handlers
        logger.setLevel(level)
    return DemoRun(out, result)
