"""The few-shot experiment of paper 004 section 5.3 (Tables 3-7): block-wise against global methods.

:func:`evaluate_few_shot` reproduces the comparison of section 5.3:
overall accuracy on the query samples of every meta-test block after
adapting with K = 1, 5 or M/2 labelled samples per class, for a global MLP,
a global random forest, a pretrained network fine-tuned globally
(RL-based), plain MAML (random initialisation, unweighted) and the proposed
method, under the task splits ``all`` and A-D
(:func:`susmap.meta.tasks.protocol_split`).

Blocks that no query label shaped
---------------------------------
Without given block ids the experiment segments the area per protocol and
repeat so that the SLIC factor weights come from the meta-training samples
only, never from the query labels (:mod:`susmap.meta.splits`). Given block
ids are used as they are; the caller answers for their weights.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from susmap.meta.blocks import as_array, split_areas
from susmap.meta.blockwise import Params, initial_params, unlabelled_cells
from susmap.meta.samples import prepare_samples, read_sample_values, sample_table
from susmap.meta.settings import BlockwiseSettings
from susmap.meta.splits import FewShotSplit, given_split, honest_split, label_free_regions
from susmap.meta.tasks import PROTOCOLS, shots_label, support_query_split

__all__ = ["METHODS", "evaluate_few_shot"]

#: Methods of :func:`evaluate_few_shot` (paper 004 section 5.1: MLP, RF, RL-based, MAML, proposed).
METHODS = ("global_mlp", "global_rf", "pretrained_global", "maml", "proposed")


# ---------------------------------------------------------------------------------------------- methods


def _train_global(
    params: Params, x: np.ndarray, y: np.ndarray, steps: int, learning_rate: float, seed: int, n_threads: int | None
) -> Params:
    """Fine-tune the whole network on pooled samples by Adam, ``steps`` mini-batches of 64 – the global baselines."""
    from susmap.meta.maml import build_network
    from susmap.models.torch_base import TrainSettings, import_torch, seeded, torch_threads, train_network

    torch = import_torch()
    with torch_threads(n_threads), seeded(seed):
        net = build_network(x.shape[1], [params[f"{2 * i}.weight"].shape[0] for i in range(len(params) // 2 - 1)])
        net.load_state_dict({k: torch.as_tensor(v) for k, v in params.items()})
        train_network(
            net,
            torch.as_tensor(x, dtype=torch.float32),
            torch.as_tensor(y, dtype=torch.long),
            TrainSettings(
                epochs=max(1, -(-int(steps) // -(-len(y) // 64))),
                learning_rate=float(learning_rate),
                batch_size=64,
                weight_decay=1e-4,
            ),
            rng=np.random.default_rng(seed),
        )
    return {k: v.detach().numpy().copy() for k, v in net.named_parameters()}


def _query_rows(
    eval_tasks: Sequence[tuple[int, np.ndarray, np.ndarray]],
    proba: np.ndarray,
    y: np.ndarray,
    **labels: Any,
) -> list[dict[str, Any]]:
    """One row per task: OA of the 0.5-thresholded probabilities (of all samples) on its query samples."""
    return [
        {
            **labels,
            "block_id": int(block),
            "n_support": len(s),
            "n_query": len(q),
            "oa": float(np.mean((proba[q] >= 0.5) == (y[q] == 1))),
        }
        for block, s, q in eval_tasks
    ]


def _pretraining_job(
    x: np.ndarray, cells: np.ndarray | None, settings: BlockwiseSettings, seed: int
) -> tuple[Params, np.ndarray, np.ndarray, float]:
    t0 = time.perf_counter()
    params, mean, scale, _ = initial_params(x, cells, settings, seed)
    return params, mean, scale, time.perf_counter() - t0


def _few_shot_job(
    x: np.ndarray,
    y: np.ndarray,
    split: FewShotSplit,
    pretraining: tuple[Params, np.ndarray, np.ndarray, float],
    settings: BlockwiseSettings,
    shots: Sequence[int | str],
    methods: Sequence[str],
    global_steps: int,
    global_learning_rate: float,
    rf_trees: int,
) -> tuple[list[dict[str, Any]], dict[tuple[str, str, str], float]]:
    """One protocol and seed of :func:`evaluate_few_shot`: rows of per-block OA and training times [s]."""
    from sklearn.ensemble import RandomForestClassifier

    from susmap.meta.maml import evaluate_tasks, init_params, meta_train, predict_proba

    protocol, seed, train, test = split.protocol, split.seed, split.train, split.test
    pre_params, mean, scale, t_pre = pretraining
    xs = ((x - mean) / scale).astype(np.float32)
    if not train:
        return [], {}
    train_idx = np.concatenate([t.indices for t in train])
    rows: list[dict[str, Any]] = []
    fit_times: dict[tuple[str, str, str], float] = {}

    meta_models: dict[str, tuple[Params, float]] = {}
    for method in ("maml", "proposed"):
        if method not in methods:
            continue
        t0 = time.perf_counter()
        if method == "proposed":
            init, weighted, extra = pre_params, True, t_pre
        else:
            init, weighted, extra = init_params(x.shape[1], settings.hidden, seed=seed), False, 0.0
        meta_settings = replace(settings.meta_settings(), weighted=weighted)
        params, _ = meta_train(
            init,
            xs,
            y,
            [t.indices for t in train],
            meta_settings,
            n_total=len(y),
            seed=seed,
            n_threads=settings.n_threads,
        )
        meta_models[method] = (params, time.perf_counter() - t0 + extra)

    for ki, k in enumerate(shots):
        rng = np.random.default_rng([seed, 11, ki])
        eval_tasks = []
        for t in test:
            s, q = support_query_split(y[t.indices], k, rng)
            if q.size:
                eval_tasks.append((t.block_id, t.indices[s], t.indices[q]))
        if not eval_tasks:
            continue
        pool = np.concatenate([train_idx, *[s for _, s, _ in eval_tasks]])
        label = shots_label(k)
        for method in methods:
            t0 = time.perf_counter()
            if method in ("global_mlp", "pretrained_global"):
                init = pre_params if method == "pretrained_global" else init_params(x.shape[1], settings.hidden, seed)
                fitted = _train_global(
                    init, xs[pool], y[pool], global_steps, global_learning_rate, seed, settings.n_threads
                )
                seconds = time.perf_counter() - t0 + (t_pre if method == "pretrained_global" else 0.0)
                proba = predict_proba(fitted, xs)
                rows += _query_rows(eval_tasks, proba, y, protocol=protocol, seed=seed, method=method, K=label)
            elif method == "global_rf":
                forest = RandomForestClassifier(n_estimators=int(rf_trees), random_state=seed, n_jobs=1)
                forest.fit(x[pool], y[pool])
                seconds = time.perf_counter() - t0
                proba = forest.predict_proba(x)[:, list(forest.classes_).index(1)]
                rows += _query_rows(eval_tasks, proba, y, protocol=protocol, seed=seed, method=method, K=label)
            else:
                params, seconds = meta_models[method]
                table = evaluate_tasks(
                    params, xs, y, eval_tasks, steps=int(settings.adapt_steps), lr=float(settings.inner_lr)
                )
                table = table.drop(columns="oa_before").assign(protocol=protocol, seed=seed, method=method, K=label)
                rows += table.to_dict(orient="records")
            fit_times[(protocol, method, label)] = seconds
    return rows, fit_times


def evaluate_few_shot(
    stack: Any,
    samples: Any,
    block_ids: np.ndarray | None = None,
    settings: BlockwiseSettings | None = None,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    shots: Sequence[int | str] = (1, 5, "half"),
    methods: Sequence[str] = METHODS,
    global_steps: int = 3000,
    global_learning_rate: float = 3e-3,
    rf_trees: int = 300,
    protocols: Sequence[str] = ("all",),
    area_split: tuple[str, float] | None = None,
    n_jobs: int = 1,
    sample_values: np.ndarray | None = None,
    return_runs: bool = False,
    importance_trees: Sequence[int] = (100,),
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Few-shot overall accuracy of block-wise and global methods (paper 004 section 5.3, Tables 3-7).

    For every protocol and seed: the tasks (blocks with samples) are split
    into meta-training and meta-test tasks – 60 / 40 at random for
    ``"all"``, or as experiment A, B, C or D prescribes for two areas
    (:func:`susmap.meta.tasks.protocol_split`; without ``block_ids`` the
    split comes first and the blocks are segmented per region with factor
    weights fitted on the meta-training samples only, see the module
    notes); for every K in ``shots``
    each meta-test task is split into K support samples per class
    (``"half"``: half of each class, K = M/2) and a query set (the rest).
    Every method learns from the same labelled samples – all samples of the
    meta-training tasks plus the support samples of the meta-test tasks –
    and is scored by OA on the query samples of every meta-test task:

    * ``global_mlp`` – the same network (random initialisation), trained on
      all those samples pooled (Adam, about ``global_steps`` mini-batches of
      64, whole epochs), one model for every block (MLP-based, Zare et al. 2013);
    * ``global_rf`` – a random forest of ``rf_trees`` trees on the pooled
      samples (RF-based, Catani et al. 2013);
    * ``pretrained_global`` – the pretrained network fine-tuned on the
      pooled samples (RL-based: unsupervised representation, then supervised);
    * ``maml`` – random initialisation, meta-trained without task weights,
      then adapted to each meta-test block on its support samples
      (Finn et al. 2017);
    * ``proposed`` – pretrained initialisation, meta-trained with the eq. 6
      weights, adapted to each block (paper 004).

    Pretraining uses neither labels nor blocks, so it runs once per seed and
    is shared by the protocols.

    Parameters
    ----------
    stack, samples
        As for :func:`susmap.meta.blockwise.fit_blockwise`.
    block_ids : numpy.ndarray of int, shape (height, width), optional
        Blocks used as they are for every protocol and seed (their weights
        must not come from the labels, or the query labels shape the
        tasks). Default: segmented per protocol and seed, factor weights
        from the meta-training samples only (:func:`honest_split`).
    settings : BlockwiseSettings, optional
        Pretraining and meta-training settings (``pretrain`` and
        ``task_weighting`` are set per method).
    seeds : sequence of int
        Repetitions (task split, support draws, initialisations, training).
    shots : sequence of int or "half"
        K values.
    methods : sequence of str
        Subset of :data:`METHODS`.
    global_steps, global_learning_rate : int, float
        Training of the global networks: mini-batch updates (rounded up to
        whole epochs; a budget in updates rather than epochs, so that small
        sample sets such as Ecuador's 350 points are trained as long as
        large ones) and Adam's step size.
    rf_trees : int
        Trees of the random forest.
    protocols : sequence of {"all", "A", "B", "C", "D"}
        Which tasks are meta-trained and which tested (paper 004 section 5.3).
    area_split : (axis, fraction), optional
        The two areas of protocols A-D: the study area cut along a grid line
        (:func:`susmap.meta.blocks.split_areas`, which also splits the blocks
        that cross the cut). Required by A-D.
    n_jobs : int
        Processes (joblib) running the seeds' pretraining and then the
        (protocol, seed) pairs in parallel; 1 runs here, -1 uses every core.
        Results do not depend on it.
    sample_values : numpy.ndarray of shape (n_samples, n_factors), optional
        The samples' factor values, if already read (as for :func:`fit_blockwise`).
    return_runs : bool
        Also return the per-seed, per-block table.
    importance_trees : sequence of int
        Forest sizes of the factor importance (without ``block_ids``).

    Returns
    -------
    pandas.DataFrame
        One row per protocol, method and K: ``protocol, method, K, oa_mean,
        oa_sd`` (mean and standard deviation over seeds of the per-seed mean
        OA over the meta-test blocks), ``oa_sd_blocks`` (standard deviation
        of the block OAs over all seeds), ``n_seeds``, ``n_test_blocks``
        (meta-test blocks scored per seed, mean) and ``fit_s`` (mean wall
        time of the method's training per seed and K: meta-training is
        counted once per seed and shared among the K values). With
        ``return_runs``, also the per-block table ``protocol, seed, method,
        K, block_id, n_support, n_query, oa``.
    """
    from joblib import Parallel, delayed

    settings = settings or BlockwiseSettings()
    settings.check()
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {METHODS}")
    for protocol in protocols:
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    two_area = [p for p in protocols if p != "all"]
    if two_area and area_split is None:
        raise ValueError(f"protocols {two_area} need area_split=(axis, fraction): the two areas")
    arr = as_array(stack)
    table = sample_table(samples)
    values = read_sample_values(arr, table, sample_values)
    seeds = [int(seed) for seed in seeds]
    pairs = [(protocol, seed) for protocol in protocols for seed in seeds]
    fraction = float(settings.meta_train_fraction)
    regions, splits = None, []
    if block_ids is None:
        ok = np.isfinite(values).all(axis=1)
        x, y = values[ok], table["label"].to_numpy()[ok]
        if ok.sum() == 0 or np.unique(y).size < 2:
            raise ValueError("block-wise meta-learning needs labelled samples of both classes inside the blocks")
        cells_rc = table["row"].to_numpy()[ok], table["col"].to_numpy()[ok]
        regions = label_free_regions(arr, *cells_rc, settings, area_split if two_area else None)
    else:
        block_ids = np.asarray(block_ids, dtype=np.int32)
        x, y, blocks, _ = prepare_samples(arr, table, block_ids, values)
        area_blocks, areas = None, None
        if two_area:
            area_ids, areas, _ = split_areas(block_ids, *area_split)
            _, _, area_blocks, _ = prepare_samples(arr, table, area_ids, values)  # the cut only renumbers
        for protocol, seed in pairs:
            sample_blocks = blocks if protocol == "all" else area_blocks
            splits.append(given_split(sample_blocks, y, None if protocol == "all" else areas, protocol, seed, fraction))

    needs_pretraining = any(m in ("pretrained_global", "proposed") for m in methods)
    pre_settings = settings.model_copy(update={"pretrain": needs_pretraining})
    rows: list[dict[str, Any]] = []
    fit_times: dict[tuple[str, str, str], list[float]] = {}
    with Parallel(n_jobs=n_jobs) as run:  # n_jobs=1: in this process; else one pool of workers for both phases
        cells = [unlabelled_cells(arr, pre_settings, seed) for seed in seeds]  # read here: workers get arrays
        first = [delayed(_pretraining_job)(x, c, pre_settings, seed) for c, seed in zip(cells, seeds, strict=True)]
        if regions is not None:  # the label-honest splits run beside the pretraining
            first += [delayed(honest_split)(regions, x, y, p, s, settings, importance_trees) for p, s in pairs]
        done = run(first)
        by_seed = dict(zip(seeds, done[: len(seeds)], strict=True))
        if regions is not None:
            splits = done[len(seeds) :]
        jobs = [
            delayed(_few_shot_job)(
                x,
                y,
                split,
                by_seed[split.seed],
                settings,
                list(shots),
                list(methods),
                global_steps,
                global_learning_rate,
                rf_trees,
            )
            for split in splits
        ]
        for job_rows, job_times in run(jobs):
            rows += job_rows
            for key, seconds in job_times.items():
                fit_times.setdefault(key, []).append(seconds)
    missing = [p for p in protocols if not any(r["protocol"] == p for r in rows)]
    if missing:
        raise ValueError(
            f"protocol {missing[0]!r} leaves no meta-test block with query samples "
            f"({max(len(sp.train) + len(sp.test) for sp in splits)} blocks hold samples): segment into more blocks"
        )

    runs = pd.DataFrame(rows, columns=["protocol", "seed", "method", "K", "block_id", "n_support", "n_query", "oa"])
    keys = ["protocol", "method", "K"]
    per_seed = runs.groupby([*keys, "seed"], sort=False)["oa"].agg(["mean", "size"]).reset_index()
    summary = (
        per_seed.groupby(keys, sort=False)
        .agg(
            oa_mean=("mean", "mean"), oa_sd=("mean", "std"), n_seeds=("seed", "nunique"), n_test_blocks=("size", "mean")
        )
        .reset_index()
    )
    block_sd = runs.groupby(keys, sort=False)["oa"].std().rename("oa_sd_blocks").reset_index()
    summary = summary.merge(block_sd, on=keys)
    summary["oa_sd"] = summary["oa_sd"].fillna(0.0)
    summary["fit_s"] = [
        float(np.mean(fit_times.get(key, [np.nan]))) for key in zip(*(summary[k] for k in keys), strict=True)
    ]
    summary = summary[[*keys, "oa_mean", "oa_sd", "oa_sd_blocks", "n_seeds", "n_test_blocks", "fit_s"]]
    order = {
        "protocol": {p: i for i, p in enumerate(protocols)},
        "method": {m: i for i, m in enumerate(METHODS)},
        "K": {shots_label(k): i for i, k in enumerate(shots)},
    }
    summary = summary.sort_values(keys, key=lambda col: col.map(order[col.name])).reset_index(drop=True)
    return (summary, runs) if return_runs else summary
