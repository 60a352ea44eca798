"""Save and load fitted deep models without pickling arbitrary objects.

A model is written as two files side by side:

* ``<name>.pt`` – a flat ``{name: tensor}`` state dict (network weights and
  fitted tensors such as input scalers), read back with
  ``torch.load(..., weights_only=True)``, which refuses anything but tensors
  and plain containers;
* ``<name>.json`` – the format tag, the estimator's class (one of an
  allow-list of susmap classes, never an arbitrary import path), its
  parameters and its fitted non-tensor state (classes, history).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from susmap.errors import InputFileError
from susmap.models.torch_base import import_torch

__all__ = ["FORMAT", "load_model", "save_model"]

FORMAT = "susmap-torch-model/1"

#: The classes a saved model may name (module, class).
_CLASSES = {
    "DLNNClassifier": "susmap.models.dlnn",
    "StackedSparseAutoencoderClassifier": "susmap.models.sae",
    "PatchCNNClassifier": "susmap.models.patch_cnn",
}

#: Parameters that are handles to data, not settings: not saved, reset on load.
_NOT_SAVED = ("window_source",)


def _paths(path: str | Path) -> tuple[Path, Path]:
    path = Path(path)
    base = path.with_suffix("") if path.suffix in (".pt", ".json") else path
    return base.with_suffix(".pt"), base.with_suffix(".json")


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return value.item()
    return value


def save_model(model, path: str | Path) -> tuple[Path, Path]:
    """Write a fitted deep ``model`` to ``path``.pt and ``path``.json; returns both paths."""
    torch = import_torch()
    name = type(model).__name__
    if name not in _CLASSES or not hasattr(model, "_state"):
        raise TypeError(f"save_model writes susmap's deep models ({', '.join(_CLASSES)}), not {name}")
    config, tensors = model._state()
    params = {k: _jsonable(v) for k, v in model.get_params(deep=False).items() if k not in _NOT_SAVED}
    pt, js = _paths(path)
    pt.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, pt)
    js.write_text(
        json.dumps({"format": FORMAT, "class": name, "params": params, "fitted": _jsonable(config)}, indent=1),
        encoding="utf-8",
    )
    return pt, js


def load_model(path: str | Path, *, device: str | None = None):
    """Read a model written by :func:`save_model` (``device`` overrides the saved one, e.g. ``"cpu"``)."""
    torch = import_torch()
    pt, js = _paths(path)
    for p in (pt, js):
        if not p.is_file():
            raise InputFileError(f"{p}: saved model file not found")
    try:
        meta = json.loads(js.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputFileError(f"{js}: not a susmap model config ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputFileError(f"{js}: not a susmap model config (format must be {FORMAT!r})")
    name = meta.get("class")
    if name not in _CLASSES:
        raise InputFileError(f"{js}: unknown model class {name!r} (known: {', '.join(_CLASSES)})")
    cls = getattr(importlib.import_module(_CLASSES[name]), name)
    params = dict(meta["params"])
    if device is not None:
        params["device"] = device
    model = cls(**params)
    try:
        tensors = torch.load(pt, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or unsafe files
        raise InputFileError(f"{pt}: cannot read the saved weights ({err})") from None
    model._restore(meta["fitted"], tensors)
    return model
