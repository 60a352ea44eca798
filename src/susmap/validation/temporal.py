"""Temporal validation: train on the events before a date (or year, or any value), test on the later ones.

A map made from past events is used on future ones: the honest test of it is
on events that happened after those it learned from. :class:`TemporalSplit`
puts every sample with a time (``inventory.time_field``, column
``event_time`` of the sample table) before ``split_at`` in the training part
and every one at or after it in the test part. Samples without a time (the
absences drawn for a presence-only inventory, non-events without a date) go
to the test part in the share the dated samples do, drawn at random per class
(stratified), with a seed per repeat; every other one trains. An event (label
1) without a time is refused: where it belongs cannot be guessed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from numbers import Real

import numpy as np
import pandas as pd

from susmap.errors import SamplingError, StudyConfigError
from susmap.validation.fold_checks import Splitter, check_int_param, repeat_seeds

__all__ = ["TemporalSplit", "comparable_times"]


def comparable_times(times, split_at) -> tuple[np.ndarray, np.ndarray, object]:
    """``times`` and ``split_at`` on one scale: float64 (numbers) or datetime64[ns] (dates).

    Returns (times, known mask, split_at). Dates meet a date, a date-time, an
    ISO text (``2006-01-01``) or a year (``2006`` = 1 January 2006); numbers
    meet a number (or a text holding one).

    Raises
    ------
    StudyConfigError
        ``split_at`` cannot be compared with the times (a date against years, text that is neither).
    """
    key = "validation scheme 'temporal': split_at"
    if split_at is None or isinstance(split_at, bool):
        raise StudyConfigError(f"{key} must be a date (2006-01-01) or a number (a year, 2006), got {split_at!r}")
    values = np.asarray(times)
    if values.dtype.kind == "M":
        t = values.astype("datetime64[ns]")
        known = ~np.isnat(t)
        if isinstance(split_at, Real) and float(split_at).is_integer() and 1 <= split_at <= 9999:
            at = np.datetime64(f"{int(split_at):04d}-01-01", "ns")
        elif isinstance(split_at, (dt.date, str)):
            try:
                stamp = pd.Timestamp(split_at)
            except (ValueError, TypeError):
                stamp = pd.NaT
            if pd.isna(stamp):
                raise StudyConfigError(f"{key} {split_at!r} is not a date; give e.g. 2006-01-01") from None
            if stamp.tzinfo is not None:
                stamp = stamp.tz_convert("UTC").tz_localize(None)
            at = np.datetime64(stamp.to_datetime64(), "ns")
        else:
            raise StudyConfigError(
                f"{key} {split_at!r}: the time field holds dates; give a date (2006-01-01) or a year"
            )
        return t, known, at
    try:
        t = values.astype(np.float64)
    except (TypeError, ValueError):
        raise StudyConfigError(f"{key}: the event times are neither numbers nor dates") from None
    known = np.isfinite(t)
    if isinstance(split_at, Real):
        at = float(split_at)
    elif isinstance(split_at, str):
        try:
            at = float(split_at)
        except ValueError:
            raise StudyConfigError(
                f"{key} {split_at!r}: the time field holds numbers (years?); give a number such as 2006"
            ) from None
    else:
        raise StudyConfigError(f"{key} {split_at!r}: the time field holds numbers (years?); give a number such as 2006")
    if not np.isfinite(at):
        raise StudyConfigError(f"{key} must be a finite number, got {split_at!r}")
    return t, known, at


class TemporalSplit(Splitter):
    """Train on samples dated before ``split_at``, test on those at or after it; one split per repeat.

    Parameters
    ----------
    times : array-like of shape (n_samples,)
        Each sample's time: numbers (years, or any ordered value) or
        datetime64; NaN / NaT where a sample has none (drawn absences).
    split_at : number, date or str
        The first time of the test part.
    n_repeats : int, default=1
        Repeats differ only in how the samples without a time are shared out.
    random_state : int, default=0

    Notes
    -----
    The undated samples of each class are tested in the share ``p`` of the
    dated samples at or after ``split_at`` (``round(p * count)``), so the
    test part's class balance follows the training part's. Raises a
    :class:`~susmap.errors.SamplingError` when an event has no time, or when
    the training or the test part would lack a class.
    """

    _scheme = "temporal"

    def __init__(self, times, split_at, *, n_repeats: int = 1, random_state: int = 0) -> None:
        self.times = times
        self.split_at = split_at
        self.n_repeats = n_repeats
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None) -> int:  # noqa: N803 (sklearn signature)
        return self.n_repeats

    def test_masks(self, y=None) -> np.ndarray:
        """Test mask of every sample, one row per repeat: shape (n_repeats, n_samples)."""
        scheme = self._scheme
        reps = check_int_param(scheme, "n_repeats", self.n_repeats, 1)
        if self.times is None:
            raise StudyConfigError(
                f"validation scheme {scheme!r} needs the events' times: set inventory.time_field "
                "to the attribute holding each event's date or year"
            )
        t, known, at = comparable_times(self.times, self.split_at)
        n = t.shape[0]
        y = np.zeros(n, dtype=int) if y is None else np.asarray(y)
        if y.shape[0] != n:
            raise ValueError(f"y has {y.shape[0]} rows but times has {n}")
        undated_events = int((~known & (y == 1)).sum())
        if undated_events:
            raise SamplingError(
                f"validation scheme {scheme!r}: {undated_events} events have no time in inventory.time_field; "
                "give them one, or leave them out with inventory.where"
            )
        later = known & (t >= at)
        earlier = known & (t < at)
        if not earlier.any() or not later.any():
            first, last = t[known].min(), t[known].max()
            side = "before" if not earlier.any() else "at or after"
            raise SamplingError(
                f"validation scheme {scheme!r}: no dated sample {side} split_at {_show(self.split_at)} "
                f"(times run from {_show(first)} to {_show(last)})"
            )
        share = later.sum() / known.sum()
        out = np.empty((reps, n), dtype=bool)
        for r, seed in enumerate(repeat_seeds(self.random_state, reps)):
            rng = np.random.default_rng(seed)
            test = later.copy()
            for cls in np.unique(y[~known]):
                idx = np.flatnonzero(~known & (y == cls))
                n_test = int(np.floor(share * idx.size + 0.5))
                test[rng.permutation(idx)[:n_test]] = True
            for part, mask in (("training", ~test), ("test", test)):
                classes = np.unique(y[mask])
                if np.unique(y).size > 1 and classes.size < np.unique(y).size:
                    raise SamplingError(
                        f"validation scheme {scheme!r}: split_at {_show(self.split_at)} leaves the {part} part with "
                        f"class {classes[0]} only ({int(mask.sum())} samples); move split_at"
                    )
            out[r] = test
        return out

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:  # noqa: N803
        n = len(X)
        if self.times is not None and len(self.times) != n:
            raise ValueError(f"X has {n} rows but times has {len(self.times)}")
        idx = np.arange(n)
        for test in self.test_masks(y):
            yield idx[~test], idx[test]


def _show(value) -> str:
    """A time or ``split_at`` as a person writes it: 2006-01-01, 2006 (not 2006.0)."""
    if isinstance(value, np.datetime64):
        return str(np.datetime_as_string(value, unit="D"))
    if isinstance(value, Real) and not isinstance(value, bool):
        return f"{value:g}"
    return str(value)
