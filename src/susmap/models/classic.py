"""Classic models (scikit-learn): the papers' baselines and beyond.

Logistic regression, SVM, k-NN, decision tree, random forest (papers 000,
001, 003), a one-hidden-layer ANN (paper 003) and histogram gradient boosting.
All are deterministic for a given seed and use one thread each, so the same
study gives the same map bit for bit; parallelism comes from the folds and
the prediction blocks instead. Papers' settings are named presets.
"""

from __future__ import annotations

from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from susmap.models.registry import ModelSpec, register_model
from susmap.presets import Preset, deviations

__all__ = [
    "ann",
    "decision_tree",
    "gradient_boosting",
    "k_nearest_neighbors",
    "logistic_regression",
    "random_forest",
    "support_vector_machine",
]


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


def support_vector_machine(
    *,
    seed: int = 0,
    C: float = 1.0,  # noqa: N803 (scikit-learn's name)
    gamma: float | str = "scale",
    kernel: str = "rbf",
) -> CalibratedClassifierCV:
    """Support vector machine, RBF kernel, with probability outputs (Platt scaling, Platt 1999).

    Paper 001 (preset ``paper001``): C = 1, gamma = 0.001. Inputs are
    standard-scaled inside each fold. gamma [1/(scaled factor units)²].
    """
    svc = SVC(C=C, gamma=gamma, kernel=kernel, random_state=seed)
    # Platt scaling on internal 5-fold decision values, one SVC fitted on all rows (libsvm's probability=True)
    return CalibratedClassifierCV(svc, method="sigmoid", cv=5, ensemble=False)


def k_nearest_neighbors(*, seed: int = 0, n_neighbors: int = 5, weights: str = "uniform") -> KNeighborsClassifier:
    """k-nearest neighbours on scaled factors (paper 000 baseline); probability = share of event neighbours."""
    del seed  # deterministic
    return KNeighborsClassifier(n_neighbors=n_neighbors, weights=weights, n_jobs=1)


def decision_tree(
    *, seed: int = 0, max_depth: int | None = None, min_samples_leaf: int = 1, criterion: str = "gini"
) -> DecisionTreeClassifier:
    """CART decision tree (Breiman et al. 1984; paper 000 baseline)."""
    return DecisionTreeClassifier(
        max_depth=max_depth, min_samples_leaf=min_samples_leaf, criterion=criterion, random_state=seed
    )


def ann(
    *,
    seed: int = 0,
    hidden_units: int = 10,
    activation: str = "tanh",
    alpha: float = 1e-4,
    learning_rate_init: float = 1e-3,
    max_iter: int = 2000,
) -> MLPClassifier:
    """Artificial neural network with one hidden layer, trained by backpropagation (Adam).

    The ANN baseline of paper 003 (section 2.5.2): ``hidden_units`` neurons
    with ``activation`` (tanh, as Hagan et al.'s tansig), logistic output.
    Inputs are standard-scaled inside each fold.
    """
    return MLPClassifier(
        hidden_layer_sizes=(hidden_units,),
        activation=activation,
        alpha=alpha,
        learning_rate_init=learning_rate_init,
        max_iter=max_iter,
        random_state=seed,
    )


def gradient_boosting(
    *,
    seed: int = 0,
    learning_rate: float = 0.1,
    max_iter: int = 200,
    max_leaf_nodes: int = 31,
    max_depth: int | None = None,
) -> HistGradientBoostingClassifier:
    """Histogram gradient boosting (Ke et al. 2017, LightGBM-style; beyond the papers)."""
    return HistGradientBoostingClassifier(
        learning_rate=learning_rate,
        max_iter=max_iter,
        max_leaf_nodes=max_leaf_nodes,
        max_depth=max_depth,
        random_state=seed,
        early_stopping=False,
    )


_SCALED = (
    "continuous factors standard-scaled inside each training fold",
    "the paper does not say how the factors were scaled",
)
#: Paper 001 section 4.2, the baselines of Table 5.
SVM_PAPER001 = Preset(
    {"C": 1.0, "gamma": 0.001},
    source="paper 001 section 4.2 (SVM: radial basis function kernel, penalty coefficient 1, kernel parameter 0.001)",
    deviations=deviations(
        (
            "the 'parameter of kernel function' 0.001 read as gamma of exp(-gamma |x - x'|^2)",
            "the paper does not say which parameter of the RBF kernel it gives (gamma or a width sigma); gamma is "
            "libsvm's and scikit-learn's",
        ),
        _SCALED,
        (
            "probabilities by Platt scaling on internal 5-fold decision values",
            "the paper scores classes (OA, precision, recall); maps and AUC need a probability",
        ),
    ),
)
RANDOM_FOREST_PAPER001 = Preset(
    {"n_estimators": 62, "max_depth": 13},
    source="paper 001 section 4.2 (RF: 62 trees, maximum depth 13)",
    deviations=deviations(
        (
            "other settings are scikit-learn's defaults: sqrt(p) factors per split, bootstrap samples, Gini "
            "impurity, leaves of 1 sample",
            "the paper gives only the number of trees and the depth",
        ),
    ),
)
LOGISTIC_REGRESSION_PAPER001 = Preset(
    {"C": 1.0, "penalty": "l2"},
    source="paper 001 section 4.2 (LR: loss with an L2 norm, regularization coefficient 1)",
    deviations=deviations(
        (
            "'regularization coefficient 1' read as scikit-learn's C = 1 (inverse strength)",
            "the paper does not say whether the coefficient weights the penalty or the data term; for 1 both "
            "readings give the same model",
        ),
        _SCALED,
    ),
)

register_model(
    ModelSpec(
        name="support_vector_machine",
        references=("nikoobakht2022", "li2021", "band2020", "cortes1995", "platt1999", "pedregosa2011"),
        factory=support_vector_machine,
        description="SVM, RBF kernel, probability outputs; preset paper001: C=1, gamma=0.001",
        presets={"paper001": SVM_PAPER001},
    )
)
register_model(
    ModelSpec(
        name="k_nearest_neighbors",
        references=("nikoobakht2022", "cover1967", "pedregosa2011"),
        factory=k_nearest_neighbors,
        description="k-nearest neighbours (k=5) on scaled factors (paper 000 baseline)",
    )
)
register_model(
    ModelSpec(
        name="decision_tree",
        references=("nikoobakht2022", "breiman1984", "pedregosa2011"),
        factory=decision_tree,
        description="CART decision tree (paper 000 baseline)",
        scale=False,
    )
)
register_model(
    ModelSpec(
        name="ann",
        references=("band2020", "rumelhart1986", "pedregosa2011"),
        factory=ann,
        description="one-hidden-layer neural network, tanh, backpropagation (paper 003 ANN)",
    )
)
register_model(
    ModelSpec(
        name="gradient_boosting",
        references=("friedman2001", "ke2017", "pedregosa2011"),
        factory=gradient_boosting,
        description="histogram gradient boosting (beyond the papers)",
        scale=False,
    )
)
register_model(
    ModelSpec(
        name="logistic_regression",
        references=("li2021", "cox1958", "pedregosa2011"),
        factory=logistic_regression,
        description="logistic regression, L2 (C=1), scaled inputs (paper 001 baseline)",
        scale=True,
        presets={"paper001": LOGISTIC_REGRESSION_PAPER001},
    )
)
register_model(
    ModelSpec(
        name="random_forest",
        references=("li2021", "xu2024", "breiman2001", "pedregosa2011"),
        factory=random_forest,
        description="random forest (Breiman 2001); preset paper001: 62 trees, depth 13",
        scale=False,
        presets={"paper001": RANDOM_FOREST_PAPER001},
    )
)
