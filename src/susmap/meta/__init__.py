"""Block-wise susceptibility by meta-learning an intermediate representation (paper 004).

Chen et al., "Meta-learning an intermediate representation for few-shot
block-wise prediction of landslide susceptibility": the study area is cut
into blocks (SLIC on weighted factors, section 4.3.1), each block with
samples is a few-shot task (4.3.2), a network pretrained without labels
(two RBMs and a denoising autoencoder, 4.2) is meta-trained by MAML with
sample-share task weights (4.4, eq. 6), adapted to every block from a few
samples (4.5) and the blocks' predictions are mosaicked.

Modules
-------
* :mod:`susmap.meta.settings` – the method's settings (one definition, also
  the study config's section) and its presets with their deviations;
* :mod:`susmap.meta.blocks` – segmentation, block polygons and map (numpy, scikit-image);
* :mod:`susmap.meta.samples` – sample table, factor vectors, importance weights of eq. 2 (numpy);
* :mod:`susmap.meta.tasks` – tasks, splits, eq. 6 weights (numpy);
* :mod:`susmap.meta.pretrain` – RBM / DAE pretraining (PyTorch);
* :mod:`susmap.meta.maml` – the meta-learner and few-shot adaptation (PyTorch);
* :mod:`susmap.meta.blockwise` – the estimator: fit, predict, mosaic (PyTorch);
* :mod:`susmap.meta.splits` – the few-shot experiment's task splits over
  blocks that no query label shaped;
* :mod:`susmap.meta.experiment` – the few-shot comparison of section 5.3 (PyTorch);
* :mod:`susmap.meta.figures` – meta-training curve, few-shot OA against K.

A study runs the method with ``method: meta-blockwise`` (:mod:`susmap.runners.meta_blockwise`).

PyTorch (``pip install 'susmap[deep]'``) is imported only when a function
that needs it runs, so ``import susmap.meta`` works without it.
"""

from __future__ import annotations

from susmap.meta.blocks import (
    block_average,
    block_map_png,
    block_polygons,
    downsample_factor,
    segment_blocks,
    split_areas,
    valid_mask,
    values_at,
    weights_from_importance,
    write_block_polygons,
)
from susmap.meta.blockwise import BlockwiseResult, fit_blockwise, predict_blockwise
from susmap.meta.experiment import METHODS, evaluate_few_shot
from susmap.meta.maml import MetaTrainSettings, adapt, meta_gradient, meta_train
from susmap.meta.pretrain import PretrainSettings, pretrain_network, sample_valid_cells
from susmap.meta.samples import importance_weights
from susmap.meta.settings import BlockwiseSettings, blockwise_presets
from susmap.meta.splits import FewShotSplit, honest_split, label_free_regions
from susmap.meta.tasks import (
    PROTOCOLS,
    Task,
    build_tasks,
    protocol_split,
    split_tasks,
    support_query_split,
    task_weights,
)

__all__ = [
    "METHODS",
    "PROTOCOLS",
    "BlockwiseResult",
    "BlockwiseSettings",
    "FewShotSplit",
    "MetaTrainSettings",
    "PretrainSettings",
    "Task",
    "adapt",
    "block_average",
    "block_map_png",
    "block_polygons",
    "blockwise_presets",
    "build_tasks",
    "downsample_factor",
    "evaluate_few_shot",
    "fit_blockwise",
    "honest_split",
    "importance_weights",
    "label_free_regions",
    "meta_gradient",
    "meta_train",
    "predict_blockwise",
    "pretrain_network",
    "protocol_split",
    "sample_valid_cells",
    "segment_blocks",
    "split_areas",
    "split_tasks",
    "support_query_split",
    "task_weights",
    "valid_mask",
    "values_at",
    "weights_from_importance",
    "write_block_polygons",
]
