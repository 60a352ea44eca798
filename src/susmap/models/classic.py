"""Classic models: logistic regression and random forest (scikit-learn).

Both are deterministic for a given seed and use one thread each, so the same
study gives the same map bit for bit; parallelism comes from the folds and
the prediction blocks instead.
"""

from __future__ import annotations

from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from susmap.models.registry import ModelSpec, register_model

__all__ = ["logistic_regression", "random_forest"]


def logistic_regression(
    *,
    seed: int = 0,
    C: float = 1.0,  # noqa: N803 (scikit-learn's name)
    penalty: str = "l2",
    max_iter: int = 1000,
) -> LogisticRegression:
    """L2-regularised logistic regression (inverse strength ``C``), lbfgs solver.

    The usual statistical baseline of susceptibility studies (paper 001, LR).
    Inputs are standard-scaled inside each fold.
    """
    kwargs = {"C": C, "max_iter": max_iter, "random_state": seed}
    if penalty == "none":
        kwargs["C"] = float("inf")
    elif penalty != "l2":
        raise ValueError(f"penalty must be 'l2' or 'none', not {penalty!r}")
    return LogisticRegression(**kwargs)


def random_forest(
    *,
    seed: int = 0,
    n_estimators: int = 500,
    max_depth: int | None = None,
    min_samples_leaf: int = 1,
    max_features: str | float | int | None = "sqrt",
    class_weight: str | None = None,
) -> RandomForestClassifier:
    """Random forest of ``n_estimators`` CART trees (Breiman 2001).

    Paper 001 uses 62 trees of depth 13 (preset ``paper001``); paper 002
    ranks factors with 100-500 trees.
    """
    return RandomForestClassifier(
        n_estimators=n_estimators,
        max_depth=max_depth,
        min_samples_leaf=min_samples_leaf,
        max_features=max_features,
        class_weight=class_weight,
        random_state=seed,
        n_jobs=1,
    )


register_model(
    ModelSpec(
        name="logistic_regression",
        factory=logistic_regression,
        description="logistic regression, L2 (C=1), scaled inputs",
        scale=True,
    )
)
register_model(
    ModelSpec(
        name="random_forest",
        factory=random_forest,
        description="random forest (Breiman 2001); preset paper001: 62 trees, depth 13",
        scale=False,
        presets={"paper001": {"n_estimators": 62, "max_depth": 13}},
    )
)
