"""Encoders for categorical factors, fitted inside each training fold.

A categorical factor (lithology, land cover, soil) arrives as numeric class
codes, one column per factor, NaN = missing. A model can take it one-hot
encoded (scikit-learn's :class:`~sklearn.preprocessing.OneHotEncoder`), or as
one number per class that says how strongly the class is associated with
events:

- :class:`FrequencyRatioEncoder`: the frequency ratio of the class (paper 001,
  eq. 17), from the training samples or against the class's share of the
  study area;
- :class:`WeightsOfEvidenceEncoder`: the weights of evidence W+, W− or their
  contrast C (Bonham-Carter 1994).

Both learn their tables in ``fit(X, y)`` from the rows they are given, so in a
:class:`~sklearn.pipeline.Pipeline` under cross-validation they see only the
training fold: the test fold's labels never reach the encoding.
:func:`make_categorical_encoder` builds any of the three by name, and
:func:`bin_continuous` cuts a continuous factor into classes for class tables.

References
----------
Bonham-Carter, G. F. (1994). Geographic Information Systems for Geoscientists:
Modelling with GIS. Pergamon, Oxford. Chapter 9 (weights of evidence).
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d

from susmap.errors import StudyConfigError
from susmap.fit_validation import validated_fit

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _sk_validate_data
except ImportError:  # pragma: no cover - scikit-learn 1.4, 1.5
    _sk_validate_data = None

__all__ = [
    "ENCODING_METHODS",
    "ENCODING_REFERENCES",
    "FrequencyRatioEncoder",
    "WeightsOfEvidenceEncoder",
    "bin_continuous",
    "make_categorical_encoder",
]

ENCODING_METHODS = ("onehot", "frequency_ratio", "woe")
#: Where each encoding comes from (keys of :mod:`susmap.references`): the frequency ratio of paper 001 eq. 17 and
#: paper 000 Table 1, the weights of evidence of Bonham-Carter (1994).
ENCODING_REFERENCES: dict[str, tuple[str, ...]] = {
    "onehot": ("pedregosa2011",),
    "frequency_ratio": ("li2021", "nikoobakht2022", "lee2007"),
    "woe": ("bonhamcarter1994",),
}


def _validate(estimator: BaseEstimator, X: Any, y: Any = "no_validation", *, reset: bool) -> Any:  # noqa: N803
    """Float64 2-D ``X`` (NaN allowed, inf refused) and sets/checks ``n_features_in_``."""
    kwargs = {"dtype": np.float64, "reset": reset}
    if _sk_validate_data is not None:
        return _sk_validate_data(estimator, X, y, ensure_all_finite="allow-nan", **kwargs)
    return estimator._validate_data(X, y, force_all_finite="allow-nan", **kwargs)  # pragma: no cover


def _event_mask(y: np.ndarray, owner: str) -> np.ndarray:
    """Boolean events (label 1) of a 0/1 target; anything else is an error that shows the labels."""
    kind = type_of_target(y, input_name="y")
    if kind == "unknown":  # e.g. object arrays of numbers: say so in scikit-learn's words
        raise ValueError(f"{owner}: Unknown label type for y ({y.dtype}); give 0/1 integers (1 = event)")
    labels = np.unique(y)
    if kind != "binary" or not np.isin(labels, (0, 1)).all():
        shown = ", ".join(str(v) for v in labels[:6]) + (", ..." if labels.size > 6 else "")
        raise ValueError(f"{owner} needs a 0/1 target y (1 = event); got {kind} labels {shown}")
    return y == 1


def _lookup(x: np.ndarray, categories: np.ndarray, values: np.ndarray, unknown: float) -> np.ndarray:
    """``values`` of each entry of ``x`` by exact match in sorted ``categories``; NaN stays NaN."""
    out = np.full(x.shape, unknown, dtype=np.float64)
    missing = np.isnan(x)
    out[missing] = np.nan
    if categories.size:
        idx = np.minimum(np.searchsorted(categories, x), categories.size - 1)
        hit = ~missing & (categories[idx] == x)
        out[hit] = values[idx[hit]]
    return out


class _ClassEncoder(OneToOneFeatureMixin, TransformerMixin, BaseEstimator, metaclass=ABCMeta):
    """Shared fit/transform of the supervised class encoders (one output column per input column)."""

    _parameter_constraints: ClassVar[dict] = {"unknown_value": [Real]}

    @abstractmethod
    def _encode_column(
        self, j: int, classes: np.ndarray, n_class: np.ndarray, e_class: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Categories, their encoding and the subclass's per-class tables for column ``j`` (subclasses).

        ``classes`` are the sorted classes of the training rows, ``n_class`` and ``e_class`` their
        rows and events. The tables' keys are fitted attribute names (``"frequency_ratio_"``).
        """

    def _check_events(self, n_events: int, n_samples: int) -> None:
        """Refuse targets the encoding is undefined for (subclasses)."""

    def _unknown_output(self) -> float:
        return float(self.unknown_value)

    @validated_fit
    def fit(self, X, y):  # noqa: N803
        """Learn each column's class table from the training rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Class codes of the categorical factors (numeric); NaN = missing.
            Rows with NaN in a column are left out of that column's counts.
        y : array-like of shape (n_samples,)
            1 = event (e.g. landslide), 0 = no event.

        Returns
        -------
        self : object
            The fitted encoder.

        Raises
        ------
        ValueError
            ``y`` missing or not 0/1; no event (frequency ratio) or one class
            only (weights of evidence) among a column's rows with a class;
            ``area_shares`` without one mapping per column or without a
            training class.
        """
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None "
                "(give 1 = event, 0 = no event)"
            )
        X, y = _validate(self, X, y, reset=True)  # noqa: N806
        events = _event_mask(column_or_1d(y), type(self).__name__)
        fitted: dict[str, list[np.ndarray]] = {}
        for j in range(X.shape[1]):
            x = X[:, j]
            ok = ~np.isnan(x)
            self._check_events(int(events[ok].sum()), int(ok.sum()))
            classes, inverse = np.unique(x[ok], return_inverse=True)
            n_class = np.bincount(inverse, minlength=classes.size)
            e_class = np.bincount(inverse, weights=events[ok], minlength=classes.size).astype(np.int64)
            categories, encoding, tables = self._encode_column(j, classes, n_class, e_class)
            # Counts aligned with the (possibly longer) category list of the area-share variant.
            pos = np.searchsorted(categories, classes)
            counts = np.zeros(categories.size, dtype=np.int64)
            counts[pos] = n_class
            ev = np.zeros(categories.size, dtype=np.int64)
            ev[pos] = e_class
            column = {"categories_": categories, "sample_counts_": counts, "event_counts_": ev, **tables}
            column["encodings_"] = encoding
            for name, table in column.items():
                fitted.setdefault(name, []).append(table)
        # Set the fitted state only once every column succeeded.
        for name, tables in fitted.items():
            setattr(self, name, tables)
        return self

    def transform(self, X):  # noqa: N803
        """Replace each class code by its learnt value.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Class codes; NaN = missing.

        Returns
        -------
        X_out : ndarray of shape (n_samples, n_features)
            The encoding of each class; ``unknown_value`` for classes not seen
            in ``fit``; NaN where the input is NaN.
        """
        check_is_fitted(self)
        X = _validate(self, X, reset=False)  # noqa: N806
        out = np.empty(X.shape, dtype=np.float64)
        for j in range(X.shape[1]):
            out[:, j] = _lookup(X[:, j], self.categories_[j], self.encodings_[j], self._unknown_output())
        return out

    def __sklearn_is_fitted__(self) -> bool:
        # n_features_in_ is set before the tables are computed; only a complete fit counts.
        return hasattr(self, "encodings_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.target_tags.required = True
        return tags


class FrequencyRatioEncoder(_ClassEncoder):
    """Encode each class of a categorical factor by its frequency ratio (FR).

    Paper 001, eq. 17, defines the frequency ratio of class i as
    ``I = (Li / Lt) / (Ai / A)``: "Li is the area of landslides in ith type,
    Lt is the total area of landslides, Ai is the area of ith type, and A is
    the total area of the study area". FR > 1 means the class holds more
    events than its size predicts. susmap counts events instead of event
    areas (one sample = one event cell, so ``Li / Lt`` is the class's share of
    the event cells), and offers two denominators:

    - ``area_shares=None`` (**sample variant**):
      ``FR = (events in class / all events) / (samples in class / all samples)``,
      all counted on the training rows passed to ``fit``. With a 1:1
      presence/absence design this is the class's event rate over the
      overall event rate.
    - ``area_shares`` given (**area variant, paper 001 eq. 17**):
      ``FR = (events in class / all events) / (Ai / A)``, with ``Ai / A``
      the class's share of the study area, taken from the raster (label-free,
      e.g. :func:`susmap.analysis.class_area_counts`), so it leaks nothing
      from test folds.

    A class with no training event has FR 0.

    Parameters
    ----------
    area_shares : list of mapping, default=None
        One mapping per input column, ``{class code: area}`` (a dict or a
        pandas Series such as :func:`susmap.analysis.class_area_counts`
        returns), in column order. Areas may be shares, cell counts or km²: each mapping is
        divided by its sum. Every class met in the training rows must have
        a positive area. Classes listed here but absent from the training
        rows get FR 0 (they have area and no event).
    unknown_value : float, default=1.0
        Output for a class seen neither in ``fit`` nor in ``area_shares``.
        1.0 is neutral (as many events as the class's size predicts): an
        unseen class carries no evidence either way, while 0 would claim it
        never has events. With ``log=True`` the same transform is applied,
        so the default becomes ``ln(1 + epsilon)`` ≈ 0.
    log : bool, default=False
        Output ``ln(FR + epsilon)`` instead of FR (FR is a ratio: its log is
        symmetric around 0 for linear models).
    epsilon : float, default=0.01
        Added before the log so that FR 0 gives ``ln(0.01)`` ≈ −4.6, not −inf.

    Attributes
    ----------
    categories_ : list of ndarray
        Sorted class codes of each column (training classes, plus the
        ``area_shares`` classes with positive area).
    sample_counts_ : list of ndarray of int
        Training rows per class.
    event_counts_ : list of ndarray of int
        Training events (y = 1) per class.
    class_shares_ : list of ndarray
        Denominator of the FR: share of training rows (sample variant) or
        of the study area (area variant) per class.
    frequency_ratio_ : list of ndarray
        FR per class (before any log).
    encodings_ : list of ndarray
        What :meth:`transform` outputs per class.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` in ``fit`` had string column names.

    See Also
    --------
    WeightsOfEvidenceEncoder : log-odds weights per class.
    susmap.analysis.frequency_ratio_table : the same ratio over a whole raster.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0], [1.0], [1.0], [2.0], [2.0], [2.0]])
    >>> y = np.array([1, 1, 0, 1, 0, 0])
    >>> FrequencyRatioEncoder().fit(X, y).frequency_ratio_[0].round(3).tolist()
    [1.333, 0.667]
    >>> enc = FrequencyRatioEncoder(area_shares=[{1.0: 0.25, 2.0: 0.75}]).fit(X, y)
    >>> enc.transform([[1.0], [2.0], [3.0], [np.nan]]).ravel().round(3).tolist()
    [2.667, 0.444, 1.0, nan]
    """

    _parameter_constraints: ClassVar[dict] = {
        **_ClassEncoder._parameter_constraints,
        "area_shares": [list, tuple, None],
        "log": ["boolean"],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        area_shares: Sequence[Mapping[float, float]] | None = None,
        *,
        unknown_value: float = 1.0,
        log: bool = False,
        epsilon: float = 0.01,
    ) -> None:
        self.area_shares = area_shares
        self.unknown_value = unknown_value
        self.log = log
        self.epsilon = epsilon

    def _check_events(self, n_events: int, n_samples: int) -> None:
        if n_events == 0:
            raise ValueError(
                "FrequencyRatioEncoder: y has no event (label 1) among the rows with a class; "
                "the frequency ratio needs at least one event"
            )

    def _area_table(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        shares = self.area_shares
        if len(shares) != self.n_features_in_:
            raise ValueError(
                f"FrequencyRatioEncoder: area_shares has {len(shares)} mapping(s) but X has "
                f"{self.n_features_in_} column(s); give one {{class: area}} mapping per column"
            )
        if not callable(getattr(shares[j], "items", None)):
            raise TypeError(
                f"FrequencyRatioEncoder: area_shares[{j}] must be a mapping {{class: area}} (or a pandas Series), "
                f"got {type(shares[j]).__name__}"
            )
        pairs = list(shares[j].items())
        keys = np.array([float(k) for k, _ in pairs], dtype=np.float64)
        area = np.array([float(v) for _, v in pairs], dtype=np.float64)
        if not np.isfinite(area).all() or (area < 0).any() or area.sum() <= 0:
            raise ValueError(f"FrequencyRatioEncoder: area_shares[{j}] must hold finite areas >= 0 with a positive sum")
        order = np.argsort(keys)
        keys, area = keys[order], area[order]
        if np.unique(keys).size != keys.size:
            raise ValueError(f"FrequencyRatioEncoder: area_shares[{j}] lists a class twice")
        keep = area > 0
        return keys[keep], area[keep] / area.sum()

    def _encode_column(self, j, classes, n_class, e_class):
        events_share = e_class / e_class.sum()
        if self.area_shares is None:
            categories = classes
            share = n_class / n_class.sum()
            fr = events_share / share
        else:
            categories, share = self._area_table(j)
            pos = np.minimum(np.searchsorted(categories, classes), max(categories.size - 1, 0))
            found = categories[pos] == classes if categories.size else np.zeros(classes.size, dtype=bool)
            if not found.all():
                missing = ", ".join(f"{v:g}" for v in classes[~found][:5])
                raise ValueError(
                    f"FrequencyRatioEncoder: class(es) {missing} of column {j} occur in the training rows "
                    f"but have no area in area_shares[{j}]; compute the shares over the same raster "
                    "(susmap.analysis.class_area_counts)"
                )
            fr = np.zeros(categories.size, dtype=np.float64)
            fr[pos] = events_share / share[pos]
        encoding = np.log(fr + self.epsilon) if self.log else fr
        return categories, encoding, {"class_shares_": share, "frequency_ratio_": fr}

    def _unknown_output(self) -> float:
        return float(np.log(self.unknown_value + self.epsilon)) if self.log else float(self.unknown_value)


class WeightsOfEvidenceEncoder(_ClassEncoder):
    """Encode each class of a categorical factor by its weights of evidence.

    For a class B of a factor and the events D (Bonham-Carter 1994, ch. 9):

    - ``W+ = ln(P(B | D) / P(B | not D))``: evidence from being in the class;
    - ``W− = ln(P(not B | D) / P(not B | not D))``: evidence from being outside it;
    - contrast ``C = W+ − W−``: the log odds ratio of events in versus out of
      the class; C > 0 means the class is positively associated with events.

    Probabilities are counted on the training rows passed to ``fit``:
    ``D`` = rows with y = 1, ``not D`` = rows with y = 0 (the absence
    samples stand in for Bonham-Carter's event-free unit cells). With ``a``
    events in the class, ``b`` non-events in the class, ``c`` events outside
    and ``d`` non-events outside, each count first gets ``correction`` added
    (the Haldane-Anscombe correction; 0.5 by default), so a class without
    events or without non-events gets a finite weight::

        W+ = ln[(a / (a + c)) / (b / (b + d))]
        W− = ln[(c / (a + c)) / (d / (b + d))]
        C  = W+ − W− = ln(a d / (b c))

    The standard deviation of C, ``sqrt(1/a + 1/b + 1/c + 1/d)``, is kept in
    ``contrast_std_`` (C / s(C) is the studentized contrast).

    Parameters
    ----------
    weight : {"contrast", "w_plus", "w_minus"}, default="contrast"
        What :meth:`transform` outputs per class.
    correction : float, default=0.5
        Added to each of the four counts of every class. 0 gives the
        uncorrected weights, which are ±inf for a class without events or
        without non-events.
    unknown_value : float, default=0.0
        Output for a class not seen in ``fit``; 0 is neutral (no evidence).

    Attributes
    ----------
    categories_ : list of ndarray
        Sorted class codes of each column seen in the training rows.
    sample_counts_, event_counts_ : list of ndarray of int
        Training rows and training events (y = 1) per class.
    w_plus_, w_minus_, contrast_, contrast_std_ : list of ndarray
        W+, W−, C and s(C) per class.
    encodings_ : list of ndarray
        What :meth:`transform` outputs per class.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` in ``fit`` had string column names.

    See Also
    --------
    FrequencyRatioEncoder : ratio of event share to area (or sample) share.

    References
    ----------
    Bonham-Carter, G. F. (1994). Geographic Information Systems for
    Geoscientists: Modelling with GIS. Pergamon, Oxford, pp. 302-334.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0]] * 4 + [[2.0]] * 4)
    >>> y = np.array([1, 1, 1, 0, 1, 0, 0, 0])
    >>> enc = WeightsOfEvidenceEncoder(correction=0).fit(X, y)
    >>> enc.contrast_[0].round(4).tolist()  # ln(3*3 / (1*1)) and its negative
    [2.1972, -2.1972]
    """

    _parameter_constraints: ClassVar[dict] = {
        **_ClassEncoder._parameter_constraints,
        "weight": [StrOptions({"contrast", "w_plus", "w_minus"})],
        "correction": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, weight: str = "contrast", *, correction: float = 0.5, unknown_value: float = 0.0) -> None:
        self.weight = weight
        self.correction = correction
        self.unknown_value = unknown_value

    def _check_events(self, n_events: int, n_samples: int) -> None:
        if n_events == 0 or n_events == n_samples:
            raise ValueError(
                "WeightsOfEvidenceEncoder: y holds one class only among the rows with a class; "
                "weights of evidence need events (1) and non-events (0)"
            )

    def _encode_column(self, j, classes, n_class, e_class):
        k = float(self.correction)
        n_events = e_class.sum()
        n_non = n_class.sum() - n_events
        a = e_class + k
        b = (n_class - e_class) + k
        c = (n_events - e_class) + k
        d = (n_non - (n_class - e_class)) + k
        with np.errstate(divide="ignore", invalid="ignore"):
            w_plus = np.log((a / (a + c)) / (b / (b + d)))
            w_minus = np.log((c / (a + c)) / (d / (b + d)))
            std = np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
        contrast = w_plus - w_minus
        chosen = {"contrast": contrast, "w_plus": w_plus, "w_minus": w_minus}[self.weight]
        tables = {"w_plus_": w_plus, "w_minus_": w_minus, "contrast_": contrast, "contrast_std_": std}
        return classes, chosen, tables


def make_categorical_encoder(method: str = "onehot", **kwargs: Any) -> BaseEstimator:
    """A categorical-factor encoder by name, ready for a ColumnTransformer.

    Parameters
    ----------
    method : {"onehot", "frequency_ratio", "woe"}, default="onehot"
        ``"onehot"``: :class:`~sklearn.preprocessing.OneHotEncoder` with
        ``handle_unknown="ignore"`` (unseen classes become all-zero rows),
        dense float output. ``"frequency_ratio"``: :class:`FrequencyRatioEncoder`.
        ``"woe"``: :class:`WeightsOfEvidenceEncoder`.
    **kwargs
        Passed to the encoder (override the one-hot defaults above).

    Returns
    -------
    encoder : estimator
        Unfitted.

    Raises
    ------
    StudyConfigError
        Unknown ``method`` (also a ``ValueError``).

    Examples
    --------
    >>> make_categorical_encoder("woe", weight="w_plus")
    WeightsOfEvidenceEncoder(weight='w_plus')
    """
    if method == "onehot":
        params = {"handle_unknown": "ignore", "sparse_output": False, "dtype": float, **kwargs}
        return OneHotEncoder(**params)
    if method == "frequency_ratio":
        return FrequencyRatioEncoder(**kwargs)
    if method == "woe":
        return WeightsOfEvidenceEncoder(**kwargs)
    raise StudyConfigError(f"categorical encoding: unknown method {method!r}; known: {', '.join(ENCODING_METHODS)}")


def bin_continuous(
    values: Any, method: str = "quantile", n_bins: int = 5, edges: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Cut continuous values into classes 1..k for class tables.

    A value v is in class i when ``edges[i-1] < v <= edges[i]``, as for the
    susceptibility classes (:mod:`susmap.mapping.breaks`); the two end
    classes are open, so values below ``edges[0]`` fall in class 1 and
    values above ``edges[-1]`` in class k (edges computed on a sample need
    not hold the raster's true minimum and maximum). NaN gets class 0.

    Parameters
    ----------
    values : array-like
        Values of any shape; NaN = missing.
    method : {"quantile", "edges"}, default="quantile"
        ``"quantile"``: edges at the 0, 1/n_bins, ..., 1 quantiles of the
        finite ``values`` (classes of about equal count); coinciding edges
        (ties) are merged, so fewer than ``n_bins`` classes may result.
        ``"edges"``: use ``edges`` as given.
    n_bins : int, default=5
        Number of quantile classes.
    edges : array-like of shape (k + 1,), default=None
        Increasing class edges, for ``method="edges"``.

    Returns
    -------
    classes : ndarray of int32, same shape as ``values``
        Class 1..k, 0 for NaN.
    edges : ndarray of float64 of shape (k + 1,)

    Raises
    ------
    ValueError
        Unknown method, ``n_bins < 1``, no finite value to take quantiles
        of, missing or non-increasing ``edges``.

    Examples
    --------
    >>> cls, e = bin_continuous([0.0, 1.0, 2.0, 3.0, float("nan")], "edges", edges=[0, 1.5, 3])
    >>> cls.tolist()
    [1, 1, 2, 2, 0]
    """
    values = np.asarray(values, dtype=np.float64)
    if method == "quantile":
        if int(n_bins) != n_bins or n_bins < 1:
            raise ValueError(f"bin_continuous: n_bins must be a positive integer, got {n_bins!r}")
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            raise ValueError("bin_continuous: no finite value to compute quantile edges from")
        edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, int(n_bins) + 1)))
        if edges.size == 1:  # a constant: one class
            edges = np.repeat(edges, 2)
    elif method == "edges":
        if edges is None:
            raise ValueError("bin_continuous: method='edges' needs edges=[e0, e1, ..., ek]")
        edges = np.asarray(edges, dtype=np.float64).ravel()
        if edges.size < 2 or not np.isfinite(edges).all() or (np.diff(edges) <= 0).any():
            raise ValueError(f"bin_continuous: edges must be at least two finite, increasing values, got {edges}")
    else:
        raise ValueError(f"bin_continuous: unknown method {method!r}; use 'quantile' or 'edges'")
    classes = np.searchsorted(edges[1:-1], values, side="left").astype(np.int32) + 1
    classes[np.isnan(values)] = 0
    return classes, edges
