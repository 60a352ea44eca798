"""Parameter validation at ``fit`` for susmap's own scikit-learn estimators.

scikit-learn checks an estimator's declared ``_parameter_constraints`` when
``fit`` starts, then skips the checks of the estimators it calls inside (a
pipeline's steps, an inner optimizer or network). Its own decorator for this
is private; :func:`validated_fit` does the same with public configuration
(``sklearn.get_config`` / ``config_context``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import sklearn

__all__ = ["validated_fit"]

F = TypeVar("F", bound=Callable[..., Any])


def validated_fit(fit: F) -> F:
    """Decorate ``fit``: check the estimator's declared parameters, then fit without re-checking nested ones.

    A parameter outside its constraint raises scikit-learn's
    ``InvalidParameterError`` (a ``ValueError``) naming it, before any data
    is touched; inside a caller that already validated (``skip_parameter_validation``
    set), nothing is checked again.
    """

    @functools.wraps(fit)
    def wrapper(estimator, *args: Any, **kwargs: Any) -> Any:
        if not sklearn.get_config().get("skip_parameter_validation", False):
            estimator._validate_params()
        with sklearn.config_context(skip_parameter_validation=True):
            return fit(estimator, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
