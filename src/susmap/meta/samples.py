"""The labelled samples of the block-wise method (paper 004 sections 4.1.2, 4.3.1): table, vectors, weights.

* :func:`sample_table` – samples as ``row, col, label`` (0/1);
* :func:`read_sample_values` – their factor vectors ``V`` (section 4.1.2);
* :func:`prepare_samples` – the usable ones (complete factors, inside a
  block) with their block ids;
* :func:`importance_weights` – the SLIC factor weights of eq. 2 learnt from
  labelled samples (the only place where labels shape the segmentation).

Nothing here needs PyTorch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from susmap.meta.blocks import as_array, values_at, weights_from_importance

__all__ = ["importance_weights", "prepare_samples", "read_sample_values", "sample_table"]


def sample_table(samples: Any) -> pd.DataFrame:
    """Samples as a DataFrame ``row, col, label`` from a DataFrame or a ``(rows, cols, labels)`` triple."""
    if isinstance(samples, pd.DataFrame):
        missing = {"row", "col", "label"} - set(samples.columns)
        if missing:
            raise ValueError(f"the sample table needs columns row, col and label; missing {sorted(missing)}")
        frame = samples[["row", "col", "label"]]
    else:
        rows, cols, labels = samples
        frame = pd.DataFrame({"row": rows, "col": cols, "label": labels})
    out = pd.DataFrame(
        {
            "row": np.asarray(frame["row"], dtype=np.int64),
            "col": np.asarray(frame["col"], dtype=np.int64),
            "label": np.asarray(frame["label"]).astype(np.int64),
        }
    )
    if not out["label"].isin((0, 1)).all():
        raise ValueError("sample labels must be 0 or 1")
    return out


def read_sample_values(arr: Any, table: pd.DataFrame, values: np.ndarray | None = None) -> np.ndarray:
    """Factor values of the samples, shape (n_samples, n_factors): ``values`` if given (checked), else read.

    ``table`` is a :func:`sample_table`; reading touches every chunk of a
    dask stack that holds a sample, so callers that have the values pass them.
    """
    if values is None:
        return values_at(arr, table["row"].to_numpy(), table["col"].to_numpy())
    values = np.asarray(values, dtype=np.float32)
    if values.shape != (len(table), arr.shape[0]):
        raise ValueError(f"sample_values must have shape {(len(table), arr.shape[0])}, got {values.shape}")
    return values


def prepare_samples(
    stack: Any, samples: Any, block_ids: np.ndarray, values: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Factor vectors, labels and block ids of the usable samples (complete factors, inside a block).

    ``values``: the samples' factor values, if already read (else read here).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray, int)
        ``x`` (n, n_factors), ``y`` (n,), the block id of every usable
        sample, and the number of samples dropped.

    Raises
    ------
    ValueError
        The block raster does not match the stack, or the usable samples
        lack one of the classes.
    """
    table = sample_table(samples)
    arr = as_array(stack)
    ids = np.asarray(block_ids)
    if ids.shape != arr.shape[1:]:
        raise ValueError(f"block_ids of shape {ids.shape} do not match the stack's grid {arr.shape[1:]}")
    x = read_sample_values(arr, table, values)
    blocks = ids[table["row"].to_numpy(), table["col"].to_numpy()].astype(np.int64)
    keep = np.isfinite(x).all(axis=1) & (blocks > 0)
    y = table["label"].to_numpy()[keep]
    if keep.sum() == 0 or np.unique(y).size < 2:
        raise ValueError("block-wise meta-learning needs labelled samples of both classes inside the blocks")
    return x[keep], y, blocks[keep], int((~keep).sum())


def importance_weights(x: np.ndarray, y: np.ndarray, seed: int, *, n_trees: Sequence[int] = (100,)) -> np.ndarray:
    """SLIC factor weights of eq. 2 (section 4.3.1): random-forest importance of the factors on ``(x, y)``.

    Mean impurity importance over forests of ``n_trees`` trees
    (:func:`susmap.analysis.importance.random_forest_importance`), scaled to
    mean 1 (:func:`susmap.meta.blocks.weights_from_importance`). Paper 004
    weights the factors "based on (Popescu, 2002)" without the procedure;
    this is the package's reading (see the ``paper`` preset's deviations).
    The labels shape the weights: an experiment must pass only the samples
    it trains on (:mod:`susmap.meta.experiment`).
    """
    from susmap.analysis.importance import random_forest_importance

    names = [f"f{i}" for i in range(x.shape[1])]
    table = random_forest_importance(x, y, names=names, n_trees=tuple(n_trees), seed=seed)
    return weights_from_importance(table, names)
