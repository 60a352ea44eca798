"""The block-wise estimator of paper 004 (sections 4.1-4.5): fit, predict, mosaic.

:func:`fit_blockwise` runs the whole method of paper 004 (Fig. 5):

1. **unsupervised pretraining** (section 4.2) of RBM 1 → RBM 2 → DAE on
   unlabelled factor vectors – ``n_unlabelled`` random valid cells of the
   stack plus the sample vectors – which also fixes the input
   standardisation (:mod:`susmap.meta.pretrain`);
2. **scene segmentation** (section 4.3.1) into blocks by SLIC, unless block
   ids are given (:func:`susmap.meta.blocks.segment_blocks`; factor
   weights: random-forest importance on the samples,
   :func:`susmap.meta.samples.importance_weights`);
3. **meta-tasks** (section 4.3.2): one task per block with samples, split
   60 / 40 into meta-training and meta-test tasks (:mod:`susmap.meta.tasks`);
4. **meta-training** (section 4.4) of the intermediate model by MAML with
   the eq. 6 task weights on the meta-training tasks
   (:func:`susmap.meta.maml.meta_train`); the meta-test tasks validate it
   (few-shot OA after adapting on ``meta_shots`` shots per class);
5. **few-shot adaptation** (section 4.5) of the intermediate model to every
   block with samples (``adapt_shots`` per class, ``adapt_steps`` updates
   of eq. 3); blocks without samples keep the intermediate model;

and :meth:`BlockwiseResult.predict` mosaics the blocks' predictions into
one probability raster (:func:`predict_blockwise`).

The settings are :class:`susmap.meta.settings.BlockwiseSettings`; the
few-shot comparison of section 5.3 is :mod:`susmap.meta.experiment`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from susmap.meta.blocks import as_array, is_dask
from susmap.meta.samples import importance_weights, prepare_samples, read_sample_values, sample_table
from susmap.meta.settings import BlockwiseSettings
from susmap.meta.tasks import Task, build_tasks, split_tasks, support_query_split
from susmap.timing import Timer

__all__ = [
    "BlockwiseResult",
    "Params",
    "fit_blockwise",
    "initial_params",
    "predict_blockwise",
    "unlabelled_cells",
]

#: Network parameters by name (``"0.weight"``, ``"0.bias"``, ...; :func:`susmap.meta.maml.build_network`).
Params = dict[str, np.ndarray]


@dataclass
class BlockwiseResult:
    """A fitted block-wise model (:func:`fit_blockwise`).

    Attributes
    ----------
    block_ids : numpy.ndarray of int32, shape (height, width)
        The blocks (0 = nodata).
    mean, scale : numpy.ndarray of shape (n_factors,)
        Input standardisation ``(x - mean) / scale``.
    initial : dict
        Parameters the meta-learner started from (pretrained or random).
    intermediate : dict
        The meta-learned intermediate model ``f'``.
    block_params : dict of int to dict
        Adapted model ``f'_i`` of every block with samples.
    train_blocks, test_blocks : list of int
        Blocks of the meta-training and meta-test tasks.
    validation : pandas.DataFrame
        Meta-test tasks adapted on ``meta_shots`` shots per class: ``block_id,
        n_support, n_query, oa, oa_before``.
    pretrain_history, meta_history : pandas.DataFrame
        Reconstruction / free-energy / denoising error per epoch;
        meta-objective and few-shot validation OA on the meta-test tasks
        (``val_oa``, every tenth of the meta-iterations) during meta-training.
    timings : dict
        Wall time of every stage [s].
    settings : BlockwiseSettings
    seed : int
    n_samples, dropped_samples : int
        Samples used, and samples dropped (nodata or outside every block).
    info : dict
        ``n_blocks``, ``n_tasks`` (blocks with samples) and ``blocks_without_samples``.
    """

    block_ids: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    initial: Params
    intermediate: Params
    block_params: dict[int, Params]
    train_blocks: list[int]
    test_blocks: list[int]
    validation: pd.DataFrame
    pretrain_history: pd.DataFrame
    meta_history: pd.DataFrame
    timings: dict[str, float]
    settings: BlockwiseSettings
    seed: int
    n_samples: int = 0
    dropped_samples: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    def predict(self, stack: Any, block_ids: np.ndarray | None = None, *, chunk_size: int = 1024) -> np.ndarray:
        """Probability raster of the stack (float32, NaN nodata), each block by its own adapted model."""
        t0 = time.perf_counter()
        out = predict_blockwise(
            stack,
            self.block_ids if block_ids is None else block_ids,
            self.block_params,
            self.intermediate,
            self.mean,
            self.scale,
            chunk_size=chunk_size,
            n_threads=self.settings.n_threads,
        )
        self.timings["prediction"] = time.perf_counter() - t0
        return out

    def predict_lazy(self, stack: Any, block_ids: np.ndarray | None = None) -> Any:
        """The probability raster as a lazy dask array (float32, NaN nodata), one task per chunk of the stack.

        For rasters larger than memory: nothing is computed until the array
        is (e.g. by :func:`susmap.mapping.write_lazy_raster`, block by block);
        the block ids are held in memory (4 bytes per cell), the factors are not.
        """
        import dask.array as da

        arr = as_array(stack)
        if not is_dask(arr):
            arr = da.from_array(np.asarray(arr), chunks=(-1, 1024, 1024))
        arr = arr.rechunk({0: -1})
        ids = np.asarray(self.block_ids if block_ids is None else block_ids, dtype=np.int32)
        if ids.shape != arr.shape[1:]:
            raise ValueError(f"block_ids of shape {ids.shape} do not match the stack's grid {arr.shape[1:]}")
        ids_lazy = da.from_array(ids, chunks=arr.chunks[1:])

        def tile(values: np.ndarray, tile_ids: np.ndarray) -> np.ndarray:
            return predict_blockwise(
                values,
                tile_ids,
                self.block_params,
                self.intermediate,
                self.mean,
                self.scale,
                chunk_size=max(values.shape[1:]),
                n_threads=self.settings.n_threads,
            )

        return da.map_blocks(tile, arr, ids_lazy, drop_axis=0, dtype=np.float32, meta=np.empty((0, 0), np.float32))


def unlabelled_cells(stack: Any, settings: BlockwiseSettings, seed: int) -> np.ndarray | None:
    """The ``n_unlabelled`` random valid cells' factor vectors pretraining uses (section 4.2; None when 0)."""
    from susmap.meta.pretrain import sample_valid_cells

    if int(settings.n_unlabelled) <= 0:
        return None
    cells, _, _ = sample_valid_cells(stack, int(settings.n_unlabelled), seed=seed)
    return cells


def initial_params(
    x: np.ndarray, cells: np.ndarray | None, settings: BlockwiseSettings, seed: int
) -> tuple[Params, np.ndarray, np.ndarray, pd.DataFrame]:
    """Initial network of the meta-learner (section 4.2) and the input standardisation.

    Pretraining (RBM 1 → RBM 2 → DAE, :func:`susmap.meta.pretrain.pretrain_network`)
    when ``settings.pretrain``, else a random initialisation; either way the
    standardisation comes from the unlabelled vectors. Uses no label.

    Parameters
    ----------
    x : numpy.ndarray of shape (n_samples, n_factors)
        The samples' vectors.
    cells : numpy.ndarray of shape (n_cells, n_factors) or None
        The unlabelled cells' vectors (:func:`unlabelled_cells`).

    Returns
    -------
    (dict, numpy.ndarray, numpy.ndarray, pandas.DataFrame)
        Parameters, mean, scale and the pretraining history (empty without pretraining).
    """
    from susmap.meta.maml import init_params
    from susmap.meta.pretrain import pretrain_network, standardize

    unlabelled = x if cells is None else np.concatenate([cells, x])
    mean, scale = standardize(unlabelled)
    if settings.pretrain:
        pre = pretrain_network(
            unlabelled, settings.pretrain_settings(), seed=seed, n_threads=settings.n_threads, mean=mean, scale=scale
        )
        return pre.params, mean, scale, pre.history
    return init_params(x.shape[1], settings.hidden, seed=seed), mean, scale, pd.DataFrame()


def _adapt_blocks(
    params: Params,
    xs: np.ndarray,
    y: np.ndarray,
    tasks: Sequence[Task],
    shots: int | str,
    steps: int,
    lr: float,
    seed: int,
    min_per_class: int = 0,
) -> dict[int, Params]:
    """Adapted parameters of every task's block with at least ``min_per_class`` samples of each class."""
    from susmap.meta.maml import adapt

    rng = np.random.default_rng([seed, 7])
    out: dict[int, Params] = {}
    for task in tasks:
        if min(task.n_positive, task.n_negative) < min_per_class:
            continue
        s, _ = support_query_split(y[task.indices], shots, rng)
        idx = task.indices[s]
        out[task.block_id] = adapt(params, xs[idx], y[idx], steps=steps, lr=lr)
    return out


# ---------------------------------------------------------------------------------------------- fit / predict


def fit_blockwise(
    stack: Any,
    samples: Any,
    block_ids: np.ndarray | None = None,
    settings: BlockwiseSettings | None = None,
    seed: int = 0,
    *,
    weights: Sequence[float] | None = None,
    sample_values: np.ndarray | None = None,
) -> BlockwiseResult:
    """Fit the block-wise meta-learning method of paper 004 (sections 4.1-4.5).

    Parameters
    ----------
    stack : array-like of shape (n_factors, height, width)
        Factor values (numpy or dask array, xarray DataArray or
        :class:`susmap.stack.Stack`), NaN = nodata.
    samples : pandas.DataFrame or (rows, cols, labels)
        Labelled cells: a table with columns ``row``, ``col``, ``label``
        (0/1; the sample table of a study run) or three arrays.
        Samples on nodata or outside every block are dropped (counted in
        ``dropped_samples``).
    block_ids : numpy.ndarray of int, shape (height, width), optional
        Blocks (0 = nodata). Default: SLIC segmentation with
        ``settings.n_blocks`` and ``settings.compactness``, factors weighted
        by ``weights`` or else by their random-forest importance on the samples.
    settings : BlockwiseSettings, optional
        Default: the paper's settings.
    seed : int
        Seeds the pretraining, the task split, meta-training and adaptation.
    weights : sequence of float, optional
        Factor weights of the segmentation (only without ``block_ids``).
    sample_values : numpy.ndarray of shape (n_samples, n_factors), optional
        The samples' factor values if the caller has read them already
        (reading them touches every chunk of a dask stack that holds a sample).

    Returns
    -------
    BlockwiseResult
        ``timings`` has the stages ``pretraining``, ``segmentation`` (when
        segmented here), ``tasks``, ``meta_training``, ``validation`` and
        ``adaptation`` [s]; :meth:`BlockwiseResult.predict` adds ``prediction``.
    """
    from susmap.meta.maml import evaluate_tasks, meta_train

    settings = settings or BlockwiseSettings()
    settings.check()
    timer = Timer(progress=False)
    arr = as_array(stack)
    table = sample_table(samples)
    values = read_sample_values(arr, table, sample_values)
    if block_ids is None:
        with timer.stage("segmentation"):
            if weights is None:
                ok = np.isfinite(values).all(axis=1)
                weights = importance_weights(values[ok], table["label"].to_numpy()[ok], seed)
            block_ids = settings.segment(arr, weights)
    block_ids = np.asarray(block_ids, dtype=np.int32)
    x, y, blocks, dropped = prepare_samples(arr, table, block_ids, values)

    with timer.stage("pretraining"):
        initial, mean, scale, pre_hist = initial_params(x, unlabelled_cells(arr, settings, seed), settings, seed)
    xs = ((x - mean) / scale).astype(np.float32)

    with timer.stage("tasks"):
        tasks = build_tasks(blocks, y)
        train, test = split_tasks(tasks, settings.meta_train_fraction, seed=seed)
        if not train:
            raise ValueError("no block holds samples: nothing to meta-train on")

    rng = np.random.default_rng([seed, 3])
    val_tasks = []
    for t in test:
        s, q = support_query_split(y[t.indices], settings.meta_shots, rng)
        val_tasks.append((t.block_id, t.indices[s], t.indices[q]))

    with timer.stage("meta_training"):
        intermediate, meta_hist = meta_train(
            initial,
            xs,
            y,
            [t.indices for t in train],
            settings.meta_settings(),
            n_total=len(y),
            seed=seed,
            n_threads=settings.n_threads,
            validation=val_tasks,
        )

    with timer.stage("validation"):
        validation = evaluate_tasks(
            intermediate, xs, y, val_tasks, steps=int(settings.adapt_steps), lr=float(settings.inner_lr)
        )

    with timer.stage("adaptation"):
        block_params = _adapt_blocks(
            intermediate,
            xs,
            y,
            tasks,
            settings.adapt_shots,
            int(settings.adapt_steps),
            float(settings.inner_lr),
            seed,
            int(settings.adapt_min_per_class),
        )

    return BlockwiseResult(
        block_ids=block_ids,
        mean=mean,
        scale=scale,
        initial=initial,
        intermediate=intermediate,
        block_params=block_params,
        train_blocks=[t.block_id for t in train],
        test_blocks=[t.block_id for t in test],
        validation=validation,
        pretrain_history=pre_hist,
        meta_history=meta_hist,
        timings=timer.timings,
        settings=settings,
        seed=int(seed),
        n_samples=len(y),
        dropped_samples=dropped,
        info={
            "n_blocks": int(block_ids.max()),
            "n_tasks": len(tasks),
            "blocks_without_samples": int(block_ids.max()) - len(tasks),
        },
    )


def predict_blockwise(
    stack: Any,
    block_ids: np.ndarray,
    block_params: Mapping[int, Mapping[str, np.ndarray]],
    default_params: Mapping[str, np.ndarray],
    mean: np.ndarray,
    scale: np.ndarray,
    *,
    chunk_size: int = 1024,
    n_threads: int | None = 1,
) -> np.ndarray:
    """Mosaic of block-wise predictions (paper 004 section 4.5): each block's cells by its own model.

    Parameters
    ----------
    stack : array-like of shape (n_factors, height, width)
        numpy or dask array (or xarray DataArray / Stack), NaN = nodata.
    block_ids : numpy.ndarray of int, shape (height, width)
        Block of every cell (0 = nodata).
    block_params : mapping of int to parameter dict
        Adapted model of each block.
    default_params : parameter dict
        Model of blocks missing from ``block_params`` (the intermediate model).
    mean, scale : numpy.ndarray of shape (n_factors,)
        Input standardisation.
    chunk_size : int, default=1024
        Rows and columns of a tile; one tile of the stack is read (computed,
        for dask) at a time, so memory stays bounded by the tile and the
        output.
    n_threads : int or None
        Torch CPU threads.

    Returns
    -------
    numpy.ndarray of float32, shape (height, width)
        Probability of an event; NaN where a factor is nodata or the block id is 0.

    Notes
    -----
    Within a tile the valid cells are grouped by block with one stable
    argsort and every group is one forward pass of its block's model – no
    Python loop over cells.
    """
    from susmap.meta.maml import predict_proba
    from susmap.models.torch_base import torch_threads

    arr = as_array(stack)
    n_f, h, w = arr.shape
    ids_all = np.asarray(block_ids)
    if ids_all.shape != (h, w):
        raise ValueError(f"block_ids of shape {ids_all.shape} do not match the stack's grid {(h, w)}")
    mean = np.asarray(mean, dtype=np.float32)
    scale = np.asarray(scale, dtype=np.float32)
    out = np.full((h, w), np.nan, dtype=np.float32)
    step = max(1, int(chunk_size))
    with torch_threads(n_threads):
        for r0 in range(0, h, step):
            for c0 in range(0, w, step):
                ids = ids_all[r0 : r0 + step, c0 : c0 + step]
                if not (ids > 0).any():
                    continue
                tile = np.asarray(arr[:, r0 : r0 + step, c0 : c0 + step], dtype=np.float32).reshape(n_f, -1)
                flat_ids = ids.reshape(-1)
                cells = np.flatnonzero((flat_ids > 0) & np.isfinite(tile).all(axis=0))
                if cells.size == 0:
                    continue
                cell_ids = flat_ids[cells]
                order = np.argsort(cell_ids, kind="stable")
                uniq, starts = np.unique(cell_ids[order], return_index=True)
                bounds = [*starts.tolist(), order.size]
                prob = np.empty(cells.size, dtype=np.float32)
                z = ((tile[:, cells].T - mean) / scale).astype(np.float32)
                for i, block in enumerate(uniq.tolist()):
                    sel = order[bounds[i] : bounds[i + 1]]
                    params = block_params.get(int(block), default_params)
                    prob[sel] = predict_proba(params, z[sel])
                tile_out = np.full(flat_ids.size, np.nan, dtype=np.float32)
                tile_out[cells] = prob
                out[r0 : r0 + ids.shape[0], c0 : c0 + ids.shape[1]] = tile_out.reshape(ids.shape)
    return out
