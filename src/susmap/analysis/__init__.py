"""Exploratory analysis of factors: class tables with area, events and frequency ratio.

Factor analysis on the sample table (issue 4): VIF and tolerance (paper 003),
Pearson correlation, information gain (paper 001), random-forest importance
for several forest sizes (paper 002), permutation importance on
(spatial) validation folds, the score-vs-number-of-factors curve (paper 001
Fig. 12) and their figures.
"""

from susmap.analysis.aoa import TrainDI, aoa_map, dissimilarity_index, plot_aoa, training_di, write_aoa
from susmap.analysis.class_tables import class_area_counts, factor_class_tables, frequency_ratio_table
from susmap.analysis.explain import (
    EffectCurve,
    ShapResult,
    accumulated_local_effects,
    class_profiles,
    partial_dependence_curve,
    plot_class_profiles,
    plot_effects,
    plot_shap_summary,
    shap_importance,
    shap_maps,
    shap_values,
    write_shap_maps,
)
from susmap.analysis.figures import plot_factor_count_curve, plot_importance, plot_vif
from susmap.analysis.importance import information_gain, permutation_importance_cv, random_forest_importance
from susmap.analysis.multicollinearity import correlation_table, vif_table
from susmap.analysis.selection import accuracy_by_factor_count
from susmap.analysis.uncertainty import uncertainty_maps, write_uncertainty

__all__ = [
    "EffectCurve",
    "ShapResult",
    "TrainDI",
    "accumulated_local_effects",
    "accuracy_by_factor_count",
    "aoa_map",
    "class_area_counts",
    "class_profiles",
    "correlation_table",
    "dissimilarity_index",
    "factor_class_tables",
    "frequency_ratio_table",
    "information_gain",
    "partial_dependence_curve",
    "permutation_importance_cv",
    "plot_aoa",
    "plot_class_profiles",
    "plot_effects",
    "plot_factor_count_curve",
    "plot_importance",
    "plot_shap_summary",
    "plot_vif",
    "random_forest_importance",
    "shap_importance",
    "shap_maps",
    "shap_values",
    "training_di",
    "uncertainty_maps",
    "vif_table",
    "write_aoa",
    "write_shap_maps",
    "write_uncertainty",
]
