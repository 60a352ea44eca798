"""Model-comparison tables in the layouts of the papers, from per-fold scores.

Input is the long per-fold score table of :func:`susmap.validation.cross_validate_models`
(columns ``scheme, model, repeat, fold`` [, ``part``] and one column per metric).
Every cell is "mean ± sd" over folds and repeats of one scheme:

- paper 000, Table 4: model × precision, recall, F1, accuracy;
- paper 000, Table 5: model × MSE, MAPE, RMSE;
- paper 001, Table 5: metric (OA, precision, recall, in %) × model;
- paper 002 (Fig. 9 criteria): model × stage (training, testing) × AUC,
  sensitivity, specificity, MSE, R;
- paper 003, Table 5: model × stage (training, validation) × sensitivity,
  specificity, PPV, NPV, AUC, F-measure.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "comparison_tables",
    "mean_sd",
    "paper000_table4",
    "paper000_table5",
    "paper001_table5",
    "paper002_table",
    "paper003_table5",
    "paper004_table",
    "to_markdown",
    "write_tables",
]


def mean_sd(values: pd.Series, *, scale: float = 1.0, digits: int = 3) -> str:
    """'mean ± sd' of the finite values (sd with n - 1), or 'n/a'."""
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float) * scale
    v = v[np.isfinite(v)]
    if v.size == 0:
        return "n/a"
    sd = v.std(ddof=1) if v.size > 1 else 0.0
    return f"{v.mean():.{digits}f} ± {sd:.{digits}f}"


def _test_rows(scores: pd.DataFrame, scheme: str) -> pd.DataFrame:
    rows = scores[scores["scheme"] == scheme]
    if "part" in rows.columns:
        rows = rows[rows["part"] == "test"]
    return rows


def _by_model(rows: pd.DataFrame, columns: Sequence[tuple[str, str]], **fmt) -> pd.DataFrame:
    out = []
    for model, grp in rows.groupby("model", sort=False):
        out.append({"model": model, **{label: mean_sd(grp[m], **fmt) if m in grp else "n/a" for label, m in columns}})
    return pd.DataFrame(out)


def paper000_table4(scores: pd.DataFrame, scheme: str) -> pd.DataFrame:
    """Precision, recall, F1-score and accuracy per model (paper 000, Table 4)."""
    cols = [("Precision", "precision"), ("Recall", "recall"), ("F1-Score", "f1"), ("Accuracy", "accuracy")]
    return _by_model(_test_rows(scores, scheme), cols)


def paper000_table5(scores: pd.DataFrame, scheme: str) -> pd.DataFrame:
    """MSE, MAPE and RMSE of the predicted probabilities per model (paper 000, Table 5)."""
    cols = [("MSE", "mse"), ("MAPE", "mape"), ("RMSE", "rmse")]
    return _by_model(_test_rows(scores, scheme), cols, digits=4)


def paper001_table5(scores: pd.DataFrame, scheme: str) -> pd.DataFrame:
    """OA, precision and recall of events in % (rows) per model (columns), mean ± sd (paper 001, Table 5)."""
    rows = _test_rows(scores, scheme)
    table = {"Measurements": ["OA (%)", "Precision of events (%)", "Recall of events (%)"]}
    for model, grp in rows.groupby("model", sort=False):
        table[model] = [mean_sd(grp[m], scale=100.0, digits=2) for m in ("accuracy", "precision", "recall")]
    return pd.DataFrame(table)


def _by_model_and_stage(rows: pd.DataFrame, columns: Sequence[tuple[str, str]], *, first: str, **fmt) -> pd.DataFrame:
    """One row per model and stage (training, validation/testing) when training scores exist."""
    parts = [("Training", "train"), ("Validation", "test")] if "part" in rows.columns else [("Validation", None)]
    out = []
    for model, grp in rows.groupby("model", sort=False):
        for stage, part in parts:
            sel = grp if part is None else grp[grp["part"] == part]
            out.append(
                {
                    first: model,
                    "Stage": stage,
                    **{label: mean_sd(sel[m], **fmt) if m in sel else "n/a" for label, m in columns},
                }
            )
    return pd.DataFrame(out)


def paper002_table(scores: pd.DataFrame, scheme: str) -> pd.DataFrame:
    """AUC, sensitivity, specificity, MSE and Pearson R per model, training and testing (paper 002, Fig. 9)."""
    cols = [
        ("AUC", "auroc"),
        ("Sensitivity", "recall"),
        ("Specificity", "specificity"),
        ("MSE", "mse"),
        ("R", "pearson_r"),
    ]
    table = _by_model_and_stage(scores[scores["scheme"] == scheme], cols, first="Model", digits=3)
    return table.replace({"Stage": {"Validation": "Testing"}})


def paper003_table5(scores: pd.DataFrame, scheme: str) -> pd.DataFrame:
    """Sensitivity, specificity, PPV, NPV, AUC, F-measure per model, training and validation (paper 003, Table 5)."""
    cols = [
        ("Sensitivity", "recall"),
        ("Specificity", "specificity"),
        ("PPV", "precision"),
        ("NPV", "npv"),
        ("AUC", "auroc"),
        ("F-Measure", "f1"),
    ]
    return _by_model_and_stage(scores[scores["scheme"] == scheme], cols, first="Models")


LAYOUTS = {
    "paper000_table4": paper000_table4,
    "paper000_table5": paper000_table5,
    "paper001_table5": paper001_table5,
    "paper002_table": paper002_table,
    "paper003_table5": paper003_table5,
}


def comparison_tables(scores: pd.DataFrame, schemes: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Every layout for every scheme: ``{"<layout>_<scheme>": table}``, schemes in the order given."""
    return {f"{name}_{scheme}": layout(scores, scheme) for scheme in schemes for name, layout in LAYOUTS.items()}


def write_tables(tables: dict[str, pd.DataFrame], folder: Path) -> list[Path]:
    """Write each table as CSV and Markdown into ``folder``; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, table in tables.items():
        csv = folder / f"{name}.csv"
        table.to_csv(csv, index=False)
        md = folder / f"{name}.md"
        md.write_text(to_markdown(table) + "\n", encoding="utf-8")
        paths += [csv, md]
    return paths


#: Categories and backbones of paper 004's Tables 3-7 for the methods of ``susmap.meta.evaluate_few_shot``.
PAPER004_ROWS = {
    "global_mlp": ("Transferring-based", "MLP-based"),
    "global_rf": ("Transferring-based", "RF-based"),
    "pretrained_global": ("Transferring-based", "RL-based"),
    "maml": ("Meta-learning-based", "MAML-based"),
    "proposed": ("Meta-learning-based", "Proposed"),
}


def paper004_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Few-shot OA in % as paper 004 Tables 3-7: one row per (protocol,) method, one column per K, mean ± sd.

    ``summary`` is :func:`susmap.meta.evaluate_few_shot`'s table (``method,
    K, oa_mean, oa_sd``), optionally with a ``protocol`` column.
    """
    keys = ["protocol", "method"] if "protocol" in summary.columns else ["method"]
    k_order = list(dict.fromkeys(summary["K"].astype(str)))
    rows = []
    for key, grp in summary.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        method = key[-1]
        category, backbone = PAPER004_ROWS.get(method, ("", method))
        row = {**dict(zip(keys[:-1], key[:-1], strict=True)), "Categories": category, "Backbone": backbone}
        by_k = {str(r.K): f"{100 * r.oa_mean:.1f} ± {100 * r.oa_sd:.1f}" for r in grp.itertuples()}
        row.update({f"K = {k}": by_k.get(k, "n/a") for k in k_order})
        rows.append(row)
    return pd.DataFrame(rows)


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    head = "| " + " | ".join(str(c) for c in table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([head, rule, *body])
