"""Wall-to-wall prediction of a fitted model over the factor stack, in blocks.

Each block of the stack (all factors × c × c cells) is predicted on its valid
cells only (every factor finite); other cells get NaN. Blocks without a valid
cell are skipped. The result is a lazy dask array; nothing is computed until
it is written (see :func:`susmap.mapping.writer.write_lazy_raster`).

Cost: one block holds ``n_factors × c² × 4`` bytes of input plus the model's
working memory for ``c²`` rows (c = 512, 5 factors: 5 MB).

Blocks are predicted in parallel (by the writer's threads or dask's), so
inside a block the model runs on one thread: joblib's sequential backend is
active while ``predict_proba`` runs (a forest with ``n_jobs=-1`` starts no
thread pool per block; scikit-learn's tree traversal, which releases the
GIL, runs in the block's thread), and every block calls the one fitted model,
shared, never copied. The model enters the graph by identity (its name is
not a hash of its bytes, which costs about a second for a forest of 100
trees). The probabilities are those of the model's own ``predict_proba`` on
the block's valid cells, one vectorised call per block. Tree models
(scikit-learn's decision trees and forests, which compare float32 inputs
with their thresholds whatever they are given) get the stack's float32 cells
as they are, so the map is the same and a block needs no float64 copy
(2,000² × 14, a forest of 100 trees: 5 % faster per block, about 30 MB less
per block in flight); every other model gets float64 (for a logistic
regression the call is a small share of the block's reading and
decompression, so float32 would gain nothing measurable), in batches of
:data:`FLOAT64_BATCH_ROWS` rows so the float64 copies stay small.

Patch models (a final estimator with ``window_halo`` and ``predict_dense``,
e.g. the patch CNN) need the neighbourhood of each cell: each block is read
with a halo of ``window_halo`` cells on every side (NaN beyond the raster
edge, dask ``overlap``) and the network runs convolutionally over it, so the
map equals per-window prediction without a loop over cells.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
from dask.base import tokenize
from joblib import parallel_config

from susmap.stack import Stack

__all__ = ["FLOAT64_BATCH_ROWS", "predict_block", "predict_stack"]

#: Rows per model call for models given float64 cells: the float64 copy of a
#: block and the model's own copies (a pipeline's scaled rows) exist for one
#: batch at a time. 2,000² × 14 factors, a scaled logistic regression: peak
#: 569-607 MB with one call per block of 512², 489-494 MB in batches of 32,768
#: rows, same time and the same map bit for bit. Trees get one call per block
#: (batches cost them 10 % and saved no memory).
FLOAT64_BATCH_ROWS = 32_768


def predict_block(block: np.ndarray, model) -> np.ndarray:
    """Event probability of every cell of a (n_factors, h, w) block; NaN where any factor is NaN.

    The model runs on this thread only (joblib's sequential backend, local to
    the thread): blocks are the unit of parallel work.
    """
    valid = np.isfinite(block).all(axis=0)
    out = np.full(block.shape[1:], np.nan, dtype=np.float32)
    if valid.any():
        X = block[:, valid].T  # noqa: N806
        with parallel_config(backend="sequential"):
            if _compares_float32(model):
                out[valid] = model.predict_proba(X)[:, 1]
            else:  # float64 copies (and the model's own, e.g. scaled ones) of one batch of rows at a time
                probs = np.empty(X.shape[0], dtype=np.float32)
                for i in range(0, X.shape[0], FLOAT64_BATCH_ROWS):
                    probs[i : i + FLOAT64_BATCH_ROWS] = model.predict_proba(
                        X[i : i + FLOAT64_BATCH_ROWS].astype(np.float64)
                    )[:, 1]
                out[valid] = probs
    return out


def _compares_float32(model) -> bool:
    """True for a decision tree or a forest of them: they cast their input to float32 before any split."""
    final = _final(model)
    if hasattr(final, "tree_"):
        return True
    members = getattr(final, "estimators_", None)
    return isinstance(members, list) and bool(members) and all(hasattr(m, "tree_") for m in members)


def _final(model):
    return model[-1] if hasattr(model, "steps") else model


def _predict_window_block(block: np.ndarray, model) -> np.ndarray:
    return model.predict_dense(block)


def predict_stack(stack: Stack, model) -> da.Array:
    """Lazy probability array (height, width) of a fitted ``model`` (sklearn-like, classes [0, 1])."""
    data = stack.data.data
    if data.numblocks[0] != 1:
        data = data.rechunk({0: -1})
    meta = np.empty((0, 0), np.float32)
    final = _final(model)
    halo = int(getattr(final, "window_halo", 0) or 0)
    if hasattr(final, "predict_dense"):
        if halo and min(min(c) for c in data.chunks[1:]) < halo:
            data = data.rechunk({1: max(halo, data.chunksize[1]), 2: max(halo, data.chunksize[2])})
        chunks = data.chunks[1:]
        if halo:
            data = da.overlap.overlap(data, depth={0: 0, 1: halo, 2: halo}, boundary={0: "none", 1: np.nan, 2: np.nan})
        return data.map_blocks(_predict_window_block, final, drop_axis=0, chunks=chunks, dtype=np.float32, meta=meta)
    # named by the model's identity: hashing a forest's bytes costs about a second, and the model is shared anyway
    name = f"predict_block-{tokenize(data.name, type(model).__qualname__, id(model))}"
    return data.map_blocks(predict_block, model, drop_axis=0, dtype=np.float32, meta=meta, name=name)
