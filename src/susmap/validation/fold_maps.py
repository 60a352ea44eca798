"""Fold maps: where each cross-validation fold's samples lie.

Partition splitters (every sample tested once per repeat: random, k-means,
blocks, environmental, regions) are drawn as the samples coloured by the fold
that tests them, first repeat only. A single train/test split (holdout) is
drawn as training and test samples. Leave-out splitters whose training part is
not the complement of the test part (buffered leave-one-out, leave-disc-out)
are drawn as a few example folds: the test samples, the samples left out by
the buffer, and the training samples, with the disc and buffer circles.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle
from sklearn.model_selection import BaseCrossValidator

from susmap.validation.splitters import (
    BufferedLeaveOneOut,
    LeaveDiscOut,
    LeaveOneBlockOut,
    SpatialBlockKFold,
    splits_per_repeat,
)

__all__ = ["FixedSplits", "first_repeat_splits", "fold_ids_from_splits", "plot_fold_map"]

_TRAIN, _TEST, _LEFT_OUT = "#4575b4", "#d73027", "#bdbdbd"


class FixedSplits:
    """Given (train, test) index pairs as a splitter: ``split`` yields them, e.g. one repeat of a scheme."""

    def __init__(self, splits: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        self.splits = [(np.asarray(a), np.asarray(b)) for a, b in splits]

    def split(self, X=None, y=None, groups=None):  # noqa: N803
        yield from self.splits

    def get_n_splits(self, X=None, y=None, groups=None) -> int:  # noqa: N803
        return len(self.splits)


def first_repeat_splits(
    splitter: BaseCrossValidator,
    X=None,  # noqa: N803
    y=None,
    groups=None,
    *,
    n_samples: int | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (train, test) index pairs of the splitter's first repeat.

    ``X`` defaults to a zero column of ``n_samples`` rows (enough for splitters
    that take their coordinates or ids in the constructor).
    """
    if X is None:
        if n_samples is None:
            raise ValueError("give X or n_samples")
        X = np.zeros((n_samples, 1))  # noqa: N806
    per = splits_per_repeat(splitter, X, y, groups)
    out = []
    for i, pair in enumerate(splitter.split(X, y, groups)):
        if i >= per:
            break
        out.append((np.asarray(pair[0]), np.asarray(pair[1])))
    return out


def fold_ids_from_splits(splits: Sequence[tuple[np.ndarray, np.ndarray]], n_samples: int) -> np.ndarray | None:
    """Fold id of every sample if the splits partition the samples, else ``None``.

    A partition: test parts disjoint, each training part the complement of its
    test part. Samples in no test part get -1 (the training part of a holdout).
    """
    ids = np.full(n_samples, -1, dtype=np.int64)
    for k, (train, test) in enumerate(splits):
        if (ids[test] != -1).any() or train.size + test.size != n_samples:
            return None
        ids[test] = k
    return ids


def _colors(k: int) -> list:
    from matplotlib import colormaps

    if k <= 10:
        cmap = colormaps["tab10"]
        return [cmap(i) for i in range(k)]
    if k <= 20:
        cmap = colormaps["tab20"]
        return [cmap(i) for i in range(k)]
    cmap = colormaps["turbo"]
    return [cmap(v) for v in np.linspace(0.05, 0.95, k)]


def _style_axes(ax, coords: np.ndarray) -> None:
    ax.set_aspect("equal")
    ax.set_xlabel("x [m]", fontsize=8)
    ax.set_ylabel("y [m]", fontsize=8)
    ax.ticklabel_format(style="plain", useOffset=False)
    ax.tick_params(labelsize=7)
    span = np.ptp(coords, axis=0).max() if len(coords) > 1 else 1.0
    pad = 0.03 * (span or 1.0)
    lo, hi = coords.min(axis=0) - pad, coords.max(axis=0) + pad
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])


def _marker_size(n: int) -> float:
    return float(np.clip(3000.0 / max(n, 1), 2.0, 40.0))


def _draw_block_grid(ax, splitter: SpatialBlockKFold, coords: np.ndarray) -> None:
    x0, y0 = splitter.block_origins()[0]
    size = float(splitter.block_size)
    xmax, ymax = coords.max(axis=0)
    n_x = int(np.floor((xmax - x0) / size)) + 1
    n_y = int(np.floor((ymax - y0) / size)) + 1
    if n_x * n_y > 10_000:  # too many lines to read
        return
    for i in range(n_x + 1):
        ax.axvline(x0 + i * size, color="0.75", lw=0.5, zorder=0)
    for j in range(n_y + 1):
        ax.axhline(y0 + j * size, color="0.75", lw=0.5, zorder=0)


def _plot_partition(ax, ids: np.ndarray, coords: np.ndarray, labels: Sequence[str] | None) -> None:
    folds = np.unique(ids[ids >= 0])
    n = len(coords)
    s = _marker_size(n)
    untested = ids < 0
    handles = []
    if untested.any():
        ax.scatter(*coords[untested].T, s=s, color=_LEFT_OUT, linewidths=0, zorder=1)
        handles.append(
            Line2D([], [], ls="", marker="o", color=_LEFT_OUT, label=f"not tested (n={int(untested.sum())})")
        )
    colors = _colors(int(folds.max()) + 1 if folds.size else 0)
    for k in folds:
        mask = ids == k
        name = labels[k] if labels is not None and k < len(labels) else f"fold {k + 1}"
        ax.scatter(*coords[mask].T, s=s, color=colors[k], linewidths=0, zorder=2)
        handles.append(Line2D([], [], ls="", marker="o", color=colors[k], label=f"{name} (n={int(mask.sum())})"))
    if len(handles) <= 21:
        ax.legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), framealpha=0.9)


def _plot_holdout(ax, train: np.ndarray, test: np.ndarray, coords: np.ndarray) -> None:
    s = _marker_size(len(coords))
    ax.scatter(*coords[train].T, s=s, color=_TRAIN, linewidths=0, label=f"training (n={train.size})")
    ax.scatter(*coords[test].T, s=s, color=_TEST, linewidths=0, label=f"test (n={test.size})")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), framealpha=0.9)


def _plot_example(ax, splitter, fold: int, train, test, coords: np.ndarray) -> None:
    n = len(coords)
    s = _marker_size(n)
    left_out = np.ones(n, dtype=bool)
    left_out[train] = False
    left_out[test] = False
    ax.scatter(*coords[left_out].T, s=s, color=_LEFT_OUT, linewidths=0, label=f"left out (n={int(left_out.sum())})")
    ax.scatter(*coords[train].T, s=s, color=_TRAIN, linewidths=0, label=f"training (n={train.size})")
    ax.scatter(*coords[test].T, s=1.5 * s, color=_TEST, linewidths=0, label=f"test (n={test.size})")
    if isinstance(splitter, BufferedLeaveOneOut) and test.size == 1:
        ax.add_patch(
            Circle(coords[test[0]], float(splitter.buffer_m), fill=False, ec=_TEST, lw=0.8, ls="--", label="buffer")
        )
    elif isinstance(splitter, LeaveDiscOut):
        centre = coords[splitter.centres().ravel()[fold]]
        radius, buffer = float(splitter.radius_m), float(splitter.buffer_m)
        ax.add_patch(Circle(centre, radius, fill=False, ec=_TEST, lw=0.8, label="disc"))
        if buffer > 0:
            ax.add_patch(Circle(centre, radius + buffer, fill=False, ec=_TEST, lw=0.8, ls="--", label="buffer"))
    ax.set_title(f"fold {fold + 1}", fontsize=9)
    ax.legend(fontsize=6, loc="best", framealpha=0.85)


def plot_fold_map(
    splitter_or_fold_ids,
    coords,
    path,
    *,
    title: str = "Cross-validation folds",
    labels: Sequence[str] | None = None,
    X=None,  # noqa: N803
    y=None,
    n_examples: int = 4,
) -> Path:
    """Write a PNG map of the sample points coloured by cross-validation fold.

    Parameters
    ----------
    splitter_or_fold_ids : BaseCrossValidator or array-like of int
        A splitter (its first repeat is drawn; folds come from ``split``), or
        fold ids of shape (n_samples,) or (n_repeats, n_samples), -1 = not
        tested.
    coords : array-like of shape (n_samples, 2)
        Sample coordinates [m].
    path : path-like
        PNG to write (parent folders are created).
    title : str
    labels : sequence of str, optional
        Legend name of each fold (default "fold 1", ...; region ids for
        :class:`~susmap.validation.splitters.LeaveOneBlockOut`).
    X, y : array-like, optional
        Passed to ``split`` (``X`` defaults to a zero column; give it for
        :class:`~susmap.validation.splitters.EnvironmentalKFold` without
        ``X_env``, and ``y`` for stratified splitters).
    n_examples : int, default=4
        Example folds drawn for leave-out splitters with buffers.

    Returns
    -------
    Path
        ``path``.
    """
    xy = np.asarray(coords, dtype=float)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    splitter = splitter_or_fold_ids if hasattr(splitter_or_fold_ids, "split") else None
    fig = Figure(figsize=(7.5, 6.0), dpi=110)
    if splitter is None:
        ids = np.asarray(splitter_or_fold_ids)
        ids = (ids[0] if ids.ndim == 2 else ids).astype(np.int64)
        if ids.shape != (len(xy),):
            raise ValueError(f"fold ids have {ids.shape[-1]} samples but coords has {len(xy)}")
        ax = fig.add_subplot()
        _plot_partition(ax, ids, xy, labels)
        _style_axes(ax, xy)
        ax.set_title(title, fontsize=10)
    else:
        splits = first_repeat_splits(splitter, X, y, n_samples=len(xy))
        ids = fold_ids_from_splits(splits, len(xy))
        if labels is None and isinstance(splitter, LeaveOneBlockOut):
            labels = [str(r) for r in splitter.regions()]
        if ids is not None and len(splits) == 1:
            ax = fig.add_subplot()
            _plot_holdout(ax, splits[0][0], splits[0][1], xy)
            _style_axes(ax, xy)
            ax.set_title(title, fontsize=10)
        elif ids is not None:
            ax = fig.add_subplot()
            if isinstance(splitter, SpatialBlockKFold):
                _draw_block_grid(ax, splitter, xy)
            _plot_partition(ax, ids, xy, labels)
            _style_axes(ax, xy)
            ax.set_title(f"{title} (first repeat)" if getattr(splitter, "n_repeats", 1) > 1 else title, fontsize=10)
        else:
            shown = np.unique(np.linspace(0, len(splits) - 1, min(n_examples, len(splits))).round().astype(int))
            n_cols = min(2, len(shown))
            n_rows = int(np.ceil(len(shown) / n_cols))
            fig.set_size_inches(5.0 * n_cols, 4.6 * n_rows)
            for i, fold in enumerate(shown):
                ax = fig.add_subplot(n_rows, n_cols, i + 1)
                _plot_example(ax, splitter, int(fold), *splits[fold], xy)
                _style_axes(ax, xy)
            fig.suptitle(f"{title}: {len(shown)} of {len(splits)} folds", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    return path
