"""Task splits of the few-shot experiment (paper 004 section 5.3) over blocks that no query label shaped.

The SLIC factor weights of eq. 2 are learnt from labels (random-forest
importance, :func:`susmap.meta.samples.importance_weights`), and they come
*before* the blocks, while the meta-training / meta-test split comes
*after* them. Weights fitted on all samples would let the query labels of
the meta-test blocks shape the tasks. Without given block ids the
experiment therefore proceeds, for every protocol and repeat
(:func:`label_free_regions`, :func:`honest_split`):

1. label-free blocks: SLIC with equal weights (the same every repeat), cut
   into the two areas for protocols A-D;
2. the protocol splits these blocks' tasks into a meta-training region and
   a target (meta-test) region – a split that reads no label;
3. the factor weights are fitted on the samples of the meta-training region
   only – exactly the samples of the meta-training tasks;
4. each region is segmented on its own with those weights, into blocks in
   proportion to its share of the area; blocks of the meta-training region
   are the meta-training tasks, blocks of the target region the meta-test
   tasks. Blocks never cross the regions' boundary.

So the target labels touch neither the weights nor the blocks (tested: flipping
them changes neither). Given block ids are used as they are, for every
protocol and repeat; the caller answers for their weights (equal or
expert weights read no label).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from susmap.meta.blocks import as_array, block_average, downsample_factor, segment_blocks, split_areas
from susmap.meta.samples import importance_weights
from susmap.meta.settings import BlockwiseSettings
from susmap.meta.tasks import Task, build_tasks, protocol_split

__all__ = ["FewShotSplit", "Regions", "given_split", "honest_split", "label_free_regions"]


@dataclass(frozen=True)
class FewShotSplit:
    """The meta-training and meta-test tasks of one protocol and repeat.

    Attributes
    ----------
    protocol : str
    seed : int
    train, test : list of Task
        Meta-training and meta-test tasks (indices into the usable samples).
    sample_blocks : numpy.ndarray of int
        Block of every usable sample (0: in no task).
    weights : numpy.ndarray or None
        SLIC factor weights fitted on the meta-training samples; None where
        the blocks were given (or the meta-training samples hold one class:
        equal weights).
    """

    protocol: str
    seed: int
    train: list[Task]
    test: list[Task]
    sample_blocks: np.ndarray
    weights: np.ndarray | None = None


@dataclass(frozen=True)
class Regions:
    """Label-free blocks that carve the study area into regions before any label is read.

    Attributes
    ----------
    block_ids : numpy.ndarray of int32, shape (h, w) of ``image``
        SLIC blocks on equally weighted factors (0 = nodata), cut in two
        areas when ``areas`` is given.
    areas : dict of int to int or None
        Area (1 or 2) of every block (protocols A-D).
    image : numpy.ndarray of shape (n_factors, h, w)
        The factor image every segmentation of the experiment works on: the
        stack, block-averaged if it has more than ``max_segment_cells`` cells.
    rows, cols : numpy.ndarray of int
        Cell of every usable sample in ``image``.
    """

    block_ids: np.ndarray
    areas: dict[int, int] | None
    image: np.ndarray
    rows: np.ndarray
    cols: np.ndarray

    @property
    def sample_blocks(self) -> np.ndarray:
        """Region block of every usable sample."""
        return self.block_ids[self.rows, self.cols].astype(np.int64)


def label_free_regions(
    stack: Any,
    rows: np.ndarray,
    cols: np.ndarray,
    settings: BlockwiseSettings,
    area_split: tuple[str, float] | None = None,
) -> Regions:
    """Step 1 of the experiment's segmentation: SLIC blocks with equal weights, in two areas if asked.

    ``rows, cols``: the usable samples' cells in the stack. The stack is read
    once (block-averaged beyond ``settings.max_segment_cells`` cells).
    """
    arr = as_array(stack)
    f = downsample_factor(arr.shape[1:], int(settings.max_segment_cells))
    image = block_average(arr, f)
    ids = _segment(image, int(settings.n_blocks), settings, None)
    areas = None
    if area_split is not None:
        ids, areas, _ = split_areas(ids, *area_split)
    return Regions(ids, areas, image, np.asarray(rows) // f, np.asarray(cols) // f)


def _segment(image: np.ndarray, n_blocks: int, settings: BlockwiseSettings, weights: Any) -> np.ndarray:
    return segment_blocks(
        image,
        n_blocks,
        compactness=float(settings.compactness),
        weights=weights,
        max_cells=int(settings.max_segment_cells),
    )


def honest_split(
    regions: Regions,
    x: np.ndarray,
    y: np.ndarray,
    protocol: str,
    seed: int,
    settings: BlockwiseSettings,
    importance_trees: Sequence[int] = (100,),
) -> FewShotSplit:
    """Steps 2-4 of the experiment's segmentation (module notes): tasks whose blocks no target label shaped.

    Parameters
    ----------
    regions : Regions
        From :func:`label_free_regions`.
    x, y : numpy.ndarray
        Factor vectors and labels of the usable samples (as ``regions.rows``).
    protocol : {"all", "A", "B", "C", "D"}
    seed : int
        Seeds the split of the regions and the random forests.
    settings : BlockwiseSettings
        ``n_blocks``, ``compactness``, ``max_segment_cells``, ``meta_train_fraction``.
    importance_trees : sequence of int
        Forest sizes of the importance (:func:`susmap.meta.samples.importance_weights`).

    Returns
    -------
    FewShotSplit
        Its ``weights`` depend only on the labels of the meta-training samples.
    """
    tasks = build_tasks(regions.sample_blocks, y)
    train0, test0 = protocol_split(tasks, protocol, regions.areas, float(settings.meta_train_fraction), seed)
    empty = FewShotSplit(protocol, seed, [], [], np.zeros(len(y), dtype=np.int64))
    if not train0 or not test0:
        return empty
    train_idx = np.concatenate([t.indices for t in train0])
    weights = None
    if np.unique(y[train_idx]).size == 2:  # the meta-training samples, and only they
        weights = importance_weights(x[train_idx], y[train_idx], seed, n_trees=importance_trees)
    n_valid = int((regions.block_ids > 0).sum())
    ids = np.zeros(regions.block_ids.shape, dtype=np.int64)
    n_train_blocks = 0
    for i, part in enumerate((train0, test0)):  # each region on its own: no block crosses the boundary
        mask = np.isin(regions.block_ids, [t.block_id for t in part])
        k = max(1, round(int(settings.n_blocks) * int(mask.sum()) / n_valid))
        sub = _segment(np.where(mask[None], regions.image, np.float32(np.nan)), k, settings, weights)
        ids[mask] = sub[mask] + ids.max()
        if i == 0:
            n_train_blocks = int(ids.max())
    sample_blocks = ids[regions.rows, regions.cols]
    final = build_tasks(sample_blocks, y)
    train = [t for t in final if t.block_id <= n_train_blocks]
    test = [t for t in final if t.block_id > n_train_blocks]
    return FewShotSplit(protocol, seed, train, test, sample_blocks, weights)


def given_split(
    sample_blocks: np.ndarray, y: np.ndarray, areas: dict[int, int] | None, protocol: str, seed: int, fraction: float
) -> FewShotSplit:
    """The split of given blocks' tasks by the protocol (:func:`susmap.meta.tasks.protocol_split`)."""
    train, test = protocol_split(build_tasks(sample_blocks, y), protocol, areas, fraction, seed)
    return FewShotSplit(protocol, seed, train, test, np.asarray(sample_blocks))
