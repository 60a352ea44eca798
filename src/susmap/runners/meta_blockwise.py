"""``method: meta-blockwise``: paper 004's block-wise meta-learning as a study runner."""

from __future__ import annotations

from susmap.meta_study import (
    META_EXPERIMENT_FILES,
    META_FILES,
    META_MAP_FILES,
    MetaStudyResult,
    meta_inputs,
    run_meta_blockwise,
)
from susmap.runners import Runner, register_runner

__all__ = [
    "META_EXPERIMENT_FILES",
    "META_FILES",
    "META_MAP_FILES",
    "MetaStudyResult",
    "meta_inputs",
    "run_meta_blockwise",
]

register_runner(
    Runner(
        name="meta-blockwise",
        run=run_meta_blockwise,
        description="paper 004: SLIC blocks, pretraining, task-weighted MAML, block-wise adaptation and mosaic",
    )
)
