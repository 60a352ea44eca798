"""Area of applicability on the synthetic regional landscape: trained on one half, mapped over both.

A random forest is trained on the samples of the western half only; the AOA
(Meyer & Pebesma 2021, as CAST: factors weighted by permutation importance
under spatial k-means folds of the training half, cross-validated training
DI, CAST's threshold) is computed over every cell. The table gives, per half,
the share of cells outside the AOA, and the AUROC of the forest on the
samples inside and outside (labels of the landscape's samples: out of fold
in the western half, and the eastern half was never trained on).

    python benchmarks/aoa_halves.py [--size 256] [--tilt 0.0] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score

from susmap.analysis import permutation_importance_cv
from susmap.analysis.aoa import dissimilarity_index, training_di
from susmap.datasets.synthetic import regional_landscape
from susmap.validation import make_splitter
from susmap.validation.fold_maps import first_repeat_splits, fold_ids_from_splits


def _auroc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p)) if np.unique(y).size == 2 else float("nan")


def one_run(size: int, tilt: float, seed: int) -> list[dict]:
    land = regional_landscape((size, size), 4, n_samples=3000, tilt=tilt, seed=seed)
    names = list(land.factor_names)
    s = land.samples
    X = land.factors[:, s["row"], s["col"]].T.astype(float)  # noqa: N806
    ok = np.isfinite(X).all(axis=1)
    s, X = s[ok].reset_index(drop=True), X[ok]  # noqa: N806
    west = (s["col"] < size // 2).to_numpy()
    y = s["label"].to_numpy()
    coords = s.loc[west, ["x", "y"]].to_numpy()
    splitter = make_splitter("spatial", coords=coords, n_splits=5, n_repeats=1, seed=seed)
    folds = fold_ids_from_splits(first_repeat_splits(splitter, X[west], y[west]), int(west.sum()))
    forest = RandomForestClassifier(n_estimators=200, min_samples_leaf=2, n_jobs=-1, random_state=seed)
    importance = permutation_importance_cv(
        forest, pd.DataFrame(X[west], columns=names), y[west], names, splitter, seed=seed
    )
    weights = importance.set_index("factor").loc[names, "mean"].to_numpy(dtype=float)
    train = training_di(X[west], weights, folds, names=names)
    model = forest.fit(X[west], y[west])
    cells = land.factors.reshape(len(names), -1).T.astype(float)
    valid = np.isfinite(cells).all(axis=1)
    di = np.full(cells.shape[0], np.nan)
    di[valid] = dissimilarity_index(cells[valid], train)
    outside_cells = (di > train.threshold).reshape(size, size)
    col = np.tile(np.arange(size), (size, 1))
    valid_grid = valid.reshape(size, size)
    sample_di = dissimilarity_index(X, train)
    inside = sample_di <= train.threshold
    prob = model.predict_proba(X)[:, 1]  # the east half: never trained on
    west_idx = np.flatnonzero(west)
    for train_part, test_part in first_repeat_splits(splitter, X[west], y[west]):  # the west half: out of fold
        fold_model = RandomForestClassifier(n_estimators=200, min_samples_leaf=2, n_jobs=-1, random_state=seed)
        fold_model.fit(X[west_idx[train_part]], y[west_idx[train_part]])
        prob[west_idx[test_part]] = fold_model.predict_proba(X[west_idx[test_part]])[:, 1]
    rows = []
    for half, cell_sel, sample_sel in (
        ("west (trained)", valid_grid & (col < size // 2), west),
        ("east (new)", valid_grid & (col >= size // 2), ~west),
    ):
        rows.append(
            {
                "seed": seed,
                "half": half,
                "cells outside AOA": f"{outside_cells[cell_sel].mean():.1%}",
                "samples": int(sample_sel.sum()),
                "AUROC inside": _auroc(y[sample_sel & inside], prob[sample_sel & inside]),
                "AUROC outside": _auroc(y[sample_sel & ~inside], prob[sample_sel & ~inside]),
                "n outside": int((sample_sel & ~inside).sum()),
                "threshold": round(train.threshold, 3),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--tilt", type=float, default=0.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    rows = [r for seed in args.seeds for r in one_run(args.size, args.tilt, seed)]
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
