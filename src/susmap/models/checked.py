"""What susmap's own estimators share with scikit-learn's checks: binary tags, NaN refused, settings checked early.

The deep (:mod:`susmap.models.torch_base`) and swarm-trained
(:mod:`susmap.models.swarm`) classifiers declare scikit-learn's
``_parameter_constraints`` and inherit this mixin, which

* tags them binary-only (event / no event) and refusing NaN in ``X``
  (scikit-learn's ``validate_data`` then says "Input X contains NaN"), and
* gives them :meth:`~CheckedBinaryClassifier.check_params`, which the model
  registry calls before any data is read.
"""

from __future__ import annotations

__all__ = ["CheckedBinaryClassifier"]


class CheckedBinaryClassifier:
    """Mixin (before ``ClassifierMixin, BaseEstimator``): binary-only, NaN-refusing, settings checked up front."""

    def _check_settings(self) -> None:
        """Checks the declared constraints cannot express; subclasses extend it (none here)."""

    def check_params(self) -> None:
        """Refuse impossible settings with a ValueError naming the parameter (before any data is read).

        The declared ``_parameter_constraints`` (scikit-learn's
        ``InvalidParameterError``, a ValueError), then the checks they cannot
        express (:meth:`_check_settings`).
        """
        self._validate_params()
        self._check_settings()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # event / no event
        tags.input_tags.allow_nan = False
        return tags
