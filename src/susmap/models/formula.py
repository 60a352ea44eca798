"""A trained network written out as an explicit formula (paper 002, eqs. 6-7 and Table 2).

Paper 002 hands its EFO-MLP on as an equation: the hidden neurons

    N_i = Tansig(W_1,i × Elevation + W_2,i × D. to Faults + ... + b_i),   i = 1..5     (eq. 6)

and the output

    V_LS = Purelin(v_1 × N_1 + ... + v_5 × N_5 + b)                                   (eq. 7)

with Tansig(x) = 2 / (1 + e^(-2x)) - 1 (= tanh x) and Purelin(x) = x, plus
the weights as a table (Table 2). :func:`network_formula` writes a fitted
:class:`~susmap.models.swarm.SwarmMLPClassifier` (any depth, tanh / ReLU /
leaky ReLU / logistic hidden layers, linear or sigmoid output) the same way, including
the input scaling the network was trained with, as

* plain text and LaTeX, with ``digits`` significant digits (6 as in the paper);
* a standalone Python module (only ``math``, no susmap import) with every
  constant at full double precision, whose function reproduces the model's
  output to rounding (tested to 1e-9);
* a weights table (CSV): layer, neuron, input, weight, and the scaling of
  each input.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["NetworkFormula", "network_formula", "write_formula"]

_FUNCS = {
    "tanh": ("Tansig", r"\mathrm{Tansig}", "math.tanh", "Tansig(x) = 2 / (1 + exp(-2x)) - 1"),
    "relu": ("Relu", r"\mathrm{ReLU}", "_relu", "Relu(x) = max(0, x)"),
    "leaky_relu": ("LeakyRelu", r"\mathrm{LeakyReLU}", "_leaky_relu", "LeakyRelu(x) = max(0.01 x, x)"),
    "logistic": ("Logsig", r"\mathrm{Logsig}", "_logsig", "Logsig(x) = 1 / (1 + exp(-x))"),
    "linear": ("Purelin", r"\mathrm{Purelin}", "", "Purelin(x) = x"),
    "sigmoid": ("Logsig", r"\mathrm{Logsig}", "_logsig", "Logsig(x) = 1 / (1 + exp(-x))"),
}


@dataclass(frozen=True)
class NetworkFormula:
    """A network as text, LaTeX, a standalone Python module and a weights table."""

    text: str
    latex: str
    python: str
    weights: pd.DataFrame


def _identifiers(names: Sequence[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        ident = re.sub(r"\W+", "_", str(name)).strip("_") or "x"
        if ident[0].isdigit() or keyword.iskeyword(ident):
            ident = f"f_{ident}"
        base, k = ident, 2
        while ident in out:
            ident, k = f"{base}_{k}", k + 1
        out.append(ident)
    return out


def _num(v: float, digits: int) -> str:
    return f"{v:.{digits}g}"


def _sum_terms(weights: np.ndarray, terms: Sequence[str], bias: float, digits: int, times: str) -> str:
    parts = []
    for w, t in zip(weights, terms, strict=True):
        sign = "-" if w < 0 else "+"
        parts.append(f"{sign} {_num(abs(w), digits)}{times}{t}")
    sign = "-" if bias < 0 else "+"
    parts.append(f"{sign} {_num(abs(bias), digits)}")
    text = " ".join(parts)
    return text[2:] if text.startswith("+ ") else "-" + text[2:]


def network_formula(model, feature_names: Sequence[str], *, target: str = "V_LS", digits: int = 6) -> NetworkFormula:
    """The fitted ``model`` (a :class:`~susmap.models.swarm.SwarmMLPClassifier`) as formulas and a weights table.

    Parameters
    ----------
    model : SwarmMLPClassifier
        Fitted.
    feature_names : sequence of str
        Names of the model's inputs, in column order.
    target : str
        Name of the output (paper 002: V_LS, the landslide susceptibility value).
    digits : int
        Significant digits in the text and LaTeX forms (the Python module keeps 17).
    """
    if not hasattr(model, "coefs_"):
        raise ValueError("the model is not fitted (or is not a weight-vector network)")
    names = [str(n) for n in feature_names]
    if len(names) != model.n_features_in_:
        raise ValueError(f"{len(names)} feature names for a network of {model.n_features_in_} inputs")
    idents = _identifiers(names)
    lo, hi = np.asarray(model.data_min_, float), np.asarray(model.data_max_, float)
    act, out_kind = model.activation, model.output
    n_layers = len(model.coefs_)
    hidden_name = ["N"] if n_layers == 2 else [f"N{layer}" for layer in range(1, n_layers)]

    # ---- text and LaTeX
    scale_txt, scale_tex = [], []
    for j, name in enumerate(names):
        span = hi[j] - lo[j]
        if span > 0:
            shift = f"{'+' if lo[j] < 0 else '-'} {_num(abs(lo[j]), digits)}"
            scale_txt.append(f"{name}' = 2 × ({name} {shift}) / {_num(span, digits)} - 1")
            scale_tex.append(
                rf"\mathrm{{{_tex(name)}}}' &= 2\,\frac{{\mathrm{{{_tex(name)}}} {shift}}}{{{_num(span, digits)}}} - 1"
            )
        else:
            scale_txt.append(f"{name}' = 0 (constant in training)")
            scale_tex.append(rf"\mathrm{{{_tex(name)}}}' &= 0")
    inputs_txt = [f"{n}'" for n in names]
    inputs_tex = [rf"\mathrm{{{_tex(n)}}}'" for n in names]
    lines_txt = ["Input scaling (to [-1, 1], training range):", *[f"  {s}" for s in scale_txt], ""]
    lines_tex = [r"\begin{aligned}", *[s + r" \\" for s in scale_tex]]
    prev_txt, prev_tex = inputs_txt, inputs_tex
    fname, ftex, _, fdef = _FUNCS[act]
    for layer, (W, b) in enumerate(model.coefs_[:-1]):  # noqa: N806
        label = hidden_name[layer]
        cur_txt, cur_tex = [], []
        for i in range(W.shape[1]):
            body = _sum_terms(W[:, i], prev_txt, b[i], digits, " × ")
            body_tex = _sum_terms(W[:, i], prev_tex, b[i], digits, r" \times ")
            lines_txt.append(f"{label}_{i + 1} = {fname}({body})")
            lines_tex.append(rf"{label}_{{{i + 1}}} &= {ftex}\left({body_tex}\right) \\")
            cur_txt.append(f"{label}_{i + 1}")
            cur_tex.append(f"{label}_{{{i + 1}}}")
        prev_txt, prev_tex = cur_txt, cur_tex
        lines_txt.append("")
    W, b = model.coefs_[-1]  # noqa: N806
    oname, otex, _, odef = _FUNCS[out_kind]
    out_txt = _sum_terms(W[:, 0], prev_txt, b[0], digits, " × ")
    out_tex = _sum_terms(W[:, 0], prev_tex, b[0], digits, r" \times ")
    lines_txt.append(f"{target} = {oname}({out_txt})")
    lines_tex.append(rf"\mathrm{{{_tex(target)}}} &= {otex}\left({out_tex}\right)")
    lines_txt += ["", f"where {fdef} and {odef}."]
    lines_tex.append(r"\end{aligned}")
    if out_kind == "linear":
        lines_txt.append(f"P(event) = min(max({target}, 0), 1).")

    return NetworkFormula(
        text="\n".join(lines_txt) + "\n",
        latex="\n".join(lines_tex) + "\n",
        python=_python_module(model, names, idents, target),
        weights=_weights_table(model, names, hidden_name),
    )


def _tex(name: str) -> str:
    return re.sub(r"([_%&#$])", r"\\\1", name)


def _python_module(model, names: list[str], idents: list[str], target: str) -> str:
    lo, hi = np.asarray(model.data_min_, float), np.asarray(model.data_max_, float)
    full = 17
    act_call = _FUNCS[model.activation][2]
    lines = [
        f'"""{target} of a trained {"-".join(str(s) for s in model.layer_sizes_)} network, exported by susmap.',
        "",
        "Standalone: needs only Python's math module. Arguments are the raw factor values of one cell,",
        f"in the units the model was trained on: {', '.join(names)}.",
        '"""',
        "",
        "import math",
        "",
        f"INPUTS = {tuple(names)!r}",
        "",
        "",
        "def _relu(x):",
        "    return x if x > 0.0 else 0.0",
        "",
        "",
        *(
            ["def _leaky_relu(x):", "    return x if x > 0.0 else 0.01 * x", "", ""]
            if model.activation == "leaky_relu"
            else []
        ),
        "def _logsig(x):",
        "    return 1.0 / (1.0 + math.exp(-x))",
        "",
        "",
        f"def {target.lower() if target.isidentifier() else 'value'}({', '.join(idents)}):",
        f'    """The network output ({target}) for one cell."""',
    ]
    prev = []
    for j, ident in enumerate(idents):
        span = hi[j] - lo[j]
        if span > 0:
            lines.append(f"    s{j} = 2.0 * ({ident} - {lo[j]:.{full}g}) / {span:.{full}g} - 1.0")
        else:
            lines.append(f"    s{j} = 0.0")
        prev.append(f"s{j}")
    for layer, (W, b) in enumerate(model.coefs_[:-1]):  # noqa: N806
        cur = []
        for i in range(W.shape[1]):
            terms = " + ".join(f"({W[j, i]:.{full}g}) * {p}" for j, p in enumerate(prev))
            lines.append(f"    h{layer}_{i} = {act_call}({terms} + ({b[i]:.{full}g}))")
            cur.append(f"h{layer}_{i}")
        prev = cur
    W, b = model.coefs_[-1]  # noqa: N806
    terms = " + ".join(f"({W[j, 0]:.{full}g}) * {p}" for j, p in enumerate(prev))
    lines.append(f"    out = {terms} + ({b[0]:.{full}g})")
    lines.append("    return _logsig(out)" if model.output == "sigmoid" else "    return out")
    return "\n".join(lines) + "\n"


def _weights_table(model, names: list[str], hidden_name: list[str]) -> pd.DataFrame:
    rows = []
    for j, name in enumerate(names):
        rows.append({"layer": "scaling", "neuron": "", "input": name, "parameter": "min", "value": model.data_min_[j]})
        rows.append({"layer": "scaling", "neuron": "", "input": name, "parameter": "max", "value": model.data_max_[j]})
    prev = names
    for layer, (W, b) in enumerate(model.coefs_):  # noqa: N806
        last = layer == len(model.coefs_) - 1
        label = "output" if last else f"hidden {layer + 1}"
        for i in range(W.shape[1]):
            neuron = "V" if last else f"{hidden_name[layer]}_{i + 1}"
            for j, inp in enumerate(prev):
                rows.append({"layer": label, "neuron": neuron, "input": inp, "parameter": "weight", "value": W[j, i]})
            rows.append({"layer": label, "neuron": neuron, "input": "", "parameter": "bias", "value": b[i]})
        prev = [f"{hidden_name[layer]}_{i + 1}" for i in range(W.shape[1])] if not last else prev
    return pd.DataFrame(rows, columns=["layer", "neuron", "input", "parameter", "value"])


def write_formula(model, feature_names: Sequence[str], folder: Path, label: str, **kwargs) -> list[Path]:
    """Write ``<label>_formula.txt``, ``.tex``, ``.py`` and ``<label>_weights.csv`` into ``folder``."""
    formula = network_formula(model, feature_names, **kwargs)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{label}_formula.{ext}" for ext in ("txt", "tex", "py")] + [folder / f"{label}_weights.csv"]
    paths[0].write_text(formula.text, encoding="utf-8")
    paths[1].write_text(formula.latex, encoding="utf-8")
    paths[2].write_text(formula.python, encoding="utf-8")
    formula.weights.to_csv(paths[3], index=False, float_format="%.17g")
    return paths
