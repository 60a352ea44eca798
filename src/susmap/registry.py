"""A small name → spec registry, shared by the model, factor and runner registries."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from susmap.errors import StudyConfigError

__all__ = ["Registry", "check_params"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Specs by name; family modules are imported on first use so they register themselves.

    Parameters
    ----------
    what : str
        What the specs are, for messages ("model", "factor").
    key : str
        The study section that names them, for messages ("models", "factors").
    modules : iterable of str
        Modules whose import registers the built-in specs; a module that does
        not exist (a family not written yet) is skipped.
    """

    def __init__(self, what: str, key: str, modules: Iterable[str]) -> None:
        self.what = what
        self.key = key
        self.modules = tuple(modules)
        self._specs: dict[str, T] = {}

    def register(self, spec: T) -> T:
        name = spec.name  # type: ignore[attr-defined]
        if name in self._specs:
            raise ValueError(f"{self.what} {name!r} is already registered")
        self._specs[name] = spec
        return spec

    def available(self) -> dict[str, T]:
        for module in self.modules:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as err:
                if err.name != module:
                    raise
        return dict(sorted(self._specs.items()))

    def get(self, name: str) -> T:
        specs = self.available()
        if name not in specs:
            raise StudyConfigError(f"{self.key}: unknown {self.what} {name!r}; known: {', '.join(specs)}")
        return specs[name]


def check_params(func: Callable[..., Any], params: Mapping[str, Any], *, where: str, skip: Iterable[str]) -> None:
    """Refuse parameters ``func`` does not take, listing those it does."""
    accepted = [p for p in inspect.signature(func).parameters if p not in set(skip)]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise StudyConfigError(
            f"{where} does not take {', '.join(unknown)} (parameters: {', '.join(sorted(accepted)) or 'none'})"
        )
