"""Named parameter sets with their source and their deviations from it.

A *preset* is a paper's settings for a model, an optimizer or a method
(``{name: dlnn, params: {preset: paper003}}``). Every preset says where its
numbers come from (paper, section, table) and lists each place where it
departs from the text, or reads an ambiguous text one way, with the reason.
``susmap models`` prints both, and the README's model table links to them,
so no preset differs from its paper silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Deviation", "Preset", "deviations", "format_preset"]


@dataclass(frozen=True)
class Deviation:
    """One place where a preset departs from (or chooses a reading of) its source.

    Attributes
    ----------
    what : str
        What the preset does differently, e.g. ``"population 10 read as 10 complexes"``.
    why : str
        The reason: the text is ambiguous, silent, wrong, or the published
        setting cannot run here.
    """

    what: str
    why: str


@dataclass(frozen=True)
class Preset:
    """A named parameter set and where it comes from.

    Attributes
    ----------
    params : mapping
        The parameters the preset sets (keyword arguments of the estimator,
        optimizer or settings class it belongs to).
    source : str
        Paper and place, e.g. ``"paper 003 §2.5.3, Table 6"``.
    deviations : tuple of Deviation
        Every departure from the source, each with its reason; empty when the
        preset follows the text to the letter.
    """

    params: Mapping[str, Any]
    source: str
    deviations: tuple[Deviation, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", dict(self.params))
        object.__setattr__(self, "deviations", tuple(self.deviations))
        if not self.source:
            raise ValueError("a preset must name its source")


def format_preset(name: str, preset: Preset, *, indent: str = "") -> list[str]:
    """Plain-text lines describing ``preset``: name, source, then one line per deviation."""
    lines = [f"{indent}preset {name}: {preset.source}"]
    if not preset.deviations:
        lines.append(f"{indent}  follows the source; no deviations")
    for dev in preset.deviations:
        lines.append(f"{indent}  deviation: {dev.what} (why: {dev.why})")
    return lines


def deviations(*pairs: tuple[str, str]) -> tuple[Deviation, ...]:
    """Shorthand: ``deviations(("what", "why"), ...)`` → a tuple of :class:`Deviation`."""
    return tuple(Deviation(*pair) for pair in pairs)
