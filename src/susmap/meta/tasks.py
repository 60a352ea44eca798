"""Meta-tasks from scene blocks (paper 004, section 4.3.2) and the task weights of eq. 6 (section 4.4).

Each block that holds labelled samples is a task ``T_k = {L_k, D_k}``
(``L_k`` the cross-entropy of eq. 4, ``D_k`` the block's samples). The tasks
are split at random into a meta-training set (60 %) and a meta-test set
(40 %, "for validation"); inside a task the samples are split into a
support set ``M_k,train`` (the few shots the inner loop and the few-shot
adaptation learn from) and a query set ``M_k,test`` (what the outer loop and
the evaluation score).

Nothing here needs PyTorch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "PROTOCOLS",
    "SHOT_CHOICES",
    "Task",
    "build_tasks",
    "protocol_split",
    "shots_label",
    "split_tasks",
    "support_query_split",
    "task_weights",
]

#: Non-integer shot settings: ``"half"`` (K = M/2, paper 004 Tables 3-7) and ``"all"`` (every sample).
SHOT_CHOICES = ("half", "all")


@dataclass(frozen=True)
class Task:
    """The labelled samples of one block.

    Attributes
    ----------
    block_id : int
        The block (scene segment) the samples lie in, ≥ 1.
    indices : numpy.ndarray
        Positions of the block's samples in the sample table, sorted.
    n_positive, n_negative : int
        Events (label 1) and non-events (label 0) among them.
    """

    block_id: int
    indices: np.ndarray
    n_positive: int
    n_negative: int

    @property
    def size(self) -> int:
        """Number of samples ``n^k`` of the task (eq. 6)."""
        return int(self.indices.size)


def build_tasks(sample_blocks: np.ndarray, labels: np.ndarray, *, min_samples: int = 1) -> list[Task]:
    """One task per block holding at least ``min_samples`` labelled samples (paper 004 section 4.3.2).

    Parameters
    ----------
    sample_blocks : array-like of int, shape (n_samples,)
        Block id of every sample (0 = outside every block: ignored).
    labels : array-like of {0, 1}, shape (n_samples,)
        Label of every sample.
    min_samples : int, default=1
        Blocks with fewer samples make no task.

    Returns
    -------
    list of Task
        Sorted by block id.
    """
    blocks = np.asarray(sample_blocks).astype(np.int64)
    labels = np.asarray(labels).astype(np.int64)
    if blocks.shape != labels.shape or blocks.ndim != 1:
        raise ValueError(f"sample_blocks and labels must be 1-d of one length, got {blocks.shape}, {labels.shape}")
    if np.any((labels != 0) & (labels != 1)):
        raise ValueError("labels must be 0 or 1")
    order = np.argsort(blocks, kind="stable")
    ids, starts = np.unique(blocks[order], return_index=True)
    bounds = [*starts.tolist(), blocks.size]
    tasks = []
    for i, block in enumerate(ids.tolist()):
        if block <= 0:
            continue
        idx = np.sort(order[bounds[i] : bounds[i + 1]])
        if idx.size < min_samples:
            continue
        pos = int(labels[idx].sum())
        tasks.append(Task(block_id=int(block), indices=idx, n_positive=pos, n_negative=int(idx.size - pos)))
    return tasks


def split_tasks(tasks: Sequence[Task], train_fraction: float = 0.6, seed: int = 0) -> tuple[list[Task], list[Task]]:
    """Random split of the tasks into meta-training and meta-test sets (paper 004 section 4.3.2: 60 / 40).

    With two or more tasks each side gets at least one.

    Returns
    -------
    (list of Task, list of Task)
        Meta-training and meta-test tasks, each sorted by block id.
    """
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    n = len(tasks)
    if n == 0:
        return [], []
    n_train = round(train_fraction * n)
    if n >= 2:
        n_train = min(max(n_train, 1), n - 1)
    perm = np.random.default_rng(seed).permutation(n)
    train = sorted((tasks[i] for i in perm[:n_train]), key=lambda t: t.block_id)
    test = sorted((tasks[i] for i in perm[n_train:]), key=lambda t: t.block_id)
    return train, test


#: Task splits of paper 004 section 5.3: ``"all"`` (one area, or part of both areas against the rest of
#: both: section 5.3.1, Table 3) and the two-area experiments A-D (section 5.3.2, Tables 4-7).
PROTOCOLS = ("all", "A", "B", "C", "D")


def protocol_split(
    tasks: Sequence[Task],
    protocol: str = "all",
    task_areas: dict[int, int] | None = None,
    train_fraction: float = 0.6,
    seed: int = 0,
) -> tuple[list[Task], list[Task]]:
    """Meta-training and meta-test tasks of one experiment of paper 004 (section 5.3), for two areas.

    Area 1 plays the part of the paper's FJ, area 2 of FL; "part" is a
    random ``train_fraction`` of an area's tasks (:func:`split_tasks`),
    "the other part" the rest:

    * ``"all"`` – part of all tasks, tested on the rest (areas ignored; section 5.3.1, Table 3);
    * ``"A"`` – part of area 1, tested on the other part of area 1 (Table 4);
    * ``"B"`` – all of area 1, tested on all of area 2 (Table 5);
    * ``"C"`` – part of area 1 and part of area 2, tested on the other part of area 1 (Table 6);
    * ``"D"`` – all of area 1 and part of area 2, tested on the other part of area 2 (Table 7).

    Parameters
    ----------
    tasks : sequence of Task
    protocol : {"all", "A", "B", "C", "D"}
    task_areas : dict of int to int, optional
        Area (1 or 2) of every task's block; required by A-D.
    train_fraction : float
        Share of an area's tasks in its meta-training part (paper: 0.6).
    seed : int
        Seeds the random parts.

    Returns
    -------
    (list of Task, list of Task)
        Meta-training and meta-test tasks, each sorted by block id.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if protocol == "all":
        return split_tasks(tasks, train_fraction, seed=seed)
    if task_areas is None:
        raise ValueError(f"protocol {protocol} needs the area of every block (two areas)")
    missing = [t.block_id for t in tasks if t.block_id not in task_areas]
    if missing:
        raise ValueError(f"blocks {missing[:5]} have no area")
    area1 = [t for t in tasks if task_areas[t.block_id] == 1]
    area2 = [t for t in tasks if task_areas[t.block_id] == 2]
    if not area1 or (protocol != "A" and not area2):
        raise ValueError(
            f"protocol {protocol} needs tasks in both areas; area 1 has {len(area1)}, area 2 has {len(area2)}"
        )
    train1, test1 = split_tasks(area1, train_fraction, seed=seed)
    train2, test2 = split_tasks(area2, train_fraction, seed=seed + 1)
    train, test = {
        "A": (train1, test1),
        "B": (area1, area2),
        "C": (train1 + train2, test1),
        "D": (area1 + train2, test2),
    }[protocol]
    return sorted(train, key=lambda t: t.block_id), sorted(test, key=lambda t: t.block_id)


def shots_label(shots: int | str) -> str:
    """How a shot setting is written in tables: ``"1"``, ``"5"``, ``"M/2"``, ``"all"``."""
    return "M/2" if shots == "half" else str(shots)


def _check_shots(shots: int | str) -> None:
    if isinstance(shots, str):
        if shots not in SHOT_CHOICES:
            raise ValueError(f"shots must be a positive integer, 'half' or 'all', got {shots!r}")
    elif isinstance(shots, bool) or not isinstance(shots, int | np.integer) or shots < 1:
        raise ValueError(f"shots must be a positive integer, 'half' or 'all', got {shots!r}")


def support_query_split(
    labels: np.ndarray, shots: int | str, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split one task's samples into support and query positions.

    Parameters
    ----------
    labels : array-like of {0, 1}, shape (m,)
        Labels of the task's samples.
    shots : int, "half" or "all"
        ``K`` (int): K samples of each class where the class has them (all of
        a smaller class), so up to 2K support samples; if that leaves no
        query sample, one support sample of the larger class moves to the
        query. ``"half"``: half of each class (``n_c // 2``), the paper's
        ``K = M/2``. ``"all"``: every sample is support, the query is empty
        (used to adapt a block for mapping).
    rng : numpy.random.Generator
        Draws the support samples.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Sorted positions (into ``labels``) of the support and query samples.
    """
    _check_shots(shots)
    labels = np.asarray(labels).astype(np.int64)
    m = labels.size
    if shots == "all":
        return np.arange(m), np.empty(0, dtype=np.int64)
    chosen: list[np.ndarray] = []
    for cls in (0, 1):
        idx = np.flatnonzero(labels == cls)
        if idx.size == 0:
            continue
        take = idx.size // 2 if shots == "half" else min(int(shots), idx.size)
        chosen.append(rng.permutation(idx)[:take])
    support = np.sort(np.concatenate(chosen)) if chosen else np.empty(0, dtype=np.int64)
    if support.size == m and m > 1:
        # keep at least one query sample: give back one of the larger class in the support
        counts = np.bincount(labels[support], minlength=2)
        cls = int(np.argmax(counts))
        drop = rng.choice(support[labels[support] == cls])
        support = support[support != drop]
    query = np.setdiff1d(np.arange(m), support)
    return support.astype(np.int64), query.astype(np.int64)


def task_weights(n_samples: Sequence[int] | np.ndarray, n_total: int) -> np.ndarray:
    """Task weights of paper 004 eq. 6, ``w_k = exp(n^k / n_total) / Σ_i exp(n^i / n_total)``.

    Parameters
    ----------
    n_samples : array-like of int
        Samples ``n^k`` of every task in the meta-batch.
    n_total : int
        All labelled samples of the study (the paper: of FJ and FL).

    Returns
    -------
    numpy.ndarray of float64
        Weights summing to 1, ordered as the sample counts (a softmax of the
        sample shares). Because the shares ``n^k / n_total`` are small, the
        weights stay close to uniform: with 2,000 samples, a task of 60
        samples weighs only about 2.5 % more than one of 10.
    """
    n = np.asarray(n_samples, dtype=np.float64)
    if n.ndim != 1 or n.size == 0:
        raise ValueError("n_samples must be a non-empty 1-d sequence")
    if n_total <= 0 or np.any(n < 0):
        raise ValueError("n_total must be positive and n_samples non-negative")
    share = n / float(n_total)
    e = np.exp(share - share.max())  # shifted for stability; the softmax is unchanged
    return e / e.sum()
