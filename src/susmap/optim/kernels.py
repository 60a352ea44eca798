"""Numba kernels behind the compiled objectives: a vectorisable tanh, the flat-vector MLP and the test functions.

All kernels evaluate one candidate vector at a time and are looped over a batch by the callers, so a batch
evaluation is, bit for bit, the same as evaluating its candidates one by one.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

# Only floating-point contraction (fused multiply-add) is allowed: no reassociation, so results do not depend on
# how a loop was vectorised.
FASTMATH = {"contract"}

# Activation, output and loss codes shared with mlp_objective.py.
ACT_TANH, ACT_RELU, ACT_LOGISTIC, ACT_LEAKY_RELU = 0, 1, 2, 3
# Slope below zero of the leaky ReLU (paper 003 Table 6, "reluLeak 0.01"; PyTorch's default).
LEAKY_RELU_SLOPE = 0.01
OUT_LINEAR, OUT_SIGMOID = 0, 1
LOSS_MSE, LOSS_XENT = 0, 1
PREC_F64, PREC_F32 = 0, 1
# Layout of the integer parameter vector of an MLP objective: [activation, output, loss, precision, n_layers, sizes...].
IP_ACT, IP_OUT, IP_LOSS, IP_PREC, IP_NLAYERS, IP_SIZES = 0, 1, 2, 3, 4, 5

# Objective kinds: the four test functions and the MLP loss.
FN_SPHERE, FN_ROSENBROCK, FN_RASTRIGIN, FN_ACKLEY = 1, 2, 3, 4
KIND_MLP = 10


@intrinsic
def _f64_bits(typingctx, x):
    """Reinterpret the bits of a float64 as an int64 (no conversion)."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _bits_f64(typingctx, x):
    """Reinterpret the bits of an int64 as a float64 (no conversion)."""
    if x != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


_TWO_LOG2E = 2.0 / math.log(2.0)
_LN2 = math.log(2.0)
_MAGIC = 6755399441055744.0  # 1.5 * 2**52: adding it rounds a double in [0, 2**51) to an integer in the low bits
_MAGIC_BITS = 0x4338000000000000
# Pade (6, 6) approximant of exp(r) = P(r) / P(-r), P(r) = E(r^2) + r O(r^2); c_j = (12-j)! 6! / (12! j! (6-j)!).
_C1, _C2, _C3, _C4, _C5, _C6 = 1.0 / 2.0, 5.0 / 44.0, 1.0 / 66.0, 1.0 / 792.0, 1.0 / 15840.0, 1.0 / 665280.0


@njit(inline="always", error_model="numpy", fastmath=FASTMATH, cache=True)
def fast_tanh(x: float) -> float:
    """Hyperbolic tangent with vectorisable arithmetic (MATLAB ``tansig``), accurate to a few units in the last place.

    tanh(a) = (e^{2a} - 1) / (e^{2a} + 1) with e^{2a} = 2^k exp(r), k = round(2a / ln 2), |r| <= ln(2) / 2, and
    exp(r) = P(r) / P(-r) by the (6, 6) Pade approximant (relative error < 1e-18 on that interval); 2^k is built from
    its exponent bits. Writing the numerator as (2^k - 1) P(r) + (P(r) - P(-r)) keeps the relative accuracy near 0.
    |x| is clamped at 20, where tanh rounds to 1 in double precision. NaN propagates.
    """
    a = x if x >= 0.0 else -x
    a = 20.0 if a > 20.0 else a
    t = a * _TWO_LOG2E
    yk = t + _MAGIC
    kf = yk - _MAGIC
    ki = _f64_bits(yk) - _MAGIC_BITS
    r = (t - kf) * _LN2
    r2 = r * r
    e = 1.0 + r2 * (_C2 + r2 * (_C4 + r2 * _C6))
    ro = r * (_C1 + r2 * (_C3 + r2 * _C5))
    p = e + ro
    scale = _bits_f64((ki + 1023) << 52)
    num = (scale - 1.0) * p + 2.0 * ro
    den = scale * p + (e - ro)
    th = num / den
    return th if x >= 0.0 else -th


@intrinsic
def _f32_bits(typingctx, x):
    """Reinterpret the bits of a float32 as an int32 (no conversion)."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(types.float32), codegen


@intrinsic
def _bits_f32(typingctx, x):
    """Reinterpret the bits of an int32 as a float32 (no conversion)."""
    if x != types.int32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


_F32 = np.float32
_TWO_LOG2E_32 = _F32(_TWO_LOG2E)
_LN2_32 = _F32(_LN2)
_MAGIC_32 = _F32(12582912.0)  # 1.5 * 2**23
_MAGIC_BITS_32 = np.int32(0x4B400000)
_ONE_32, _TWO_32, _TEN_32, _ZERO_32, _HALF_32 = _F32(1.0), _F32(2.0), _F32(10.0), _F32(0.0), _F32(0.5)
_LEAKY_32 = _F32(LEAKY_RELU_SLOPE)
# Pade (3, 3) approximant of exp(r): P(r) = 1 + r / 2 + r^2 / 10 + r^3 / 120
_D2_32, _D3_32 = _F32(1.0 / 10.0), _F32(1.0 / 120.0)


@njit(inline="always", error_model="numpy", fastmath=FASTMATH, cache=True)
def fast_tanh32(x: np.float32) -> np.float32:
    """Single-precision :func:`fast_tanh`: the same construction with the (3, 3) Pade approximant of exp(r)
    (relative error < 1e-8 for |r| <= ln(2) / 2), |x| clamped at 10 (tanh rounds to 1 in single precision)."""
    a = x if x >= _ZERO_32 else -x
    a = _TEN_32 if a > _TEN_32 else a
    t = a * _TWO_LOG2E_32
    yk = t + _MAGIC_32
    kf = yk - _MAGIC_32
    ki = np.int32(_f32_bits(yk) - _MAGIC_BITS_32)
    r = (t - kf) * _LN2_32
    r2 = r * r
    e = _ONE_32 + r2 * _D2_32
    ro = r * (_HALF_32 + r2 * _D3_32)
    p = e + ro
    scale = _bits_f32(np.int32((ki + 127) << 23))
    num = (scale - _ONE_32) * p + _TWO_32 * ro
    den = scale * p + (e - ro)
    th = num / den
    return th if x >= _ZERO_32 else -th


@njit(error_model="numpy", fastmath=FASTMATH, cache=True)
def _activate64(z: np.ndarray, act: int) -> None:
    """Apply a hidden activation in place: tanh, relu, leaky relu, or logistic = (1 + tanh(z / 2)) / 2."""
    n = z.shape[0]
    if act == ACT_RELU:
        for s in range(n):
            z[s] = z[s] if z[s] > 0.0 else 0.0
        return
    if act == ACT_LEAKY_RELU:
        for s in range(n):
            z[s] = z[s] if z[s] > 0.0 else LEAKY_RELU_SLOPE * z[s]
        return
    half = 1.0 if act == ACT_TANH else 0.5
    for s in range(n):
        z[s] = fast_tanh(half * z[s])
    if act == ACT_LOGISTIC:
        for s in range(n):
            z[s] = 0.5 + 0.5 * z[s]


@njit(error_model="numpy", fastmath=FASTMATH, cache=True)
def _activate32(z: np.ndarray, act: int) -> None:
    """Single-precision :func:`_activate64`."""
    n = z.shape[0]
    if act == ACT_RELU:
        for s in range(n):
            z[s] = z[s] if z[s] > _ZERO_32 else _ZERO_32
        return
    if act == ACT_LEAKY_RELU:
        for s in range(n):
            z[s] = z[s] if z[s] > _ZERO_32 else _LEAKY_32 * z[s]
        return
    half = _ONE_32 if act == ACT_TANH else _HALF_32
    for s in range(n):
        z[s] = fast_tanh32(half * z[s])
    if act == ACT_LOGISTIC:
        for s in range(n):
            z[s] = _HALF_32 + _HALF_32 * z[s]


def _activate(z: np.ndarray, act: int) -> None:
    """Apply a hidden activation in place, in the precision of ``z``.

    From Python this dispatches on the dtype at run time; inside compiled code
    the overload below dispatches at compile time.
    """
    if z.dtype == np.float32:
        _activate32(z, act)
    else:
        _activate64(z, act)


@overload(_activate, jit_options={"error_model": "numpy", "fastmath": FASTMATH})
def _activate_overload(z, act):
    if z.dtype == types.float32:
        return lambda z, act: _activate32(z, act)
    return lambda z, act: _activate64(z, act)


@njit(error_model="numpy", fastmath=FASTMATH, cache=True)
def _dense(w: np.ndarray, off: int, prev: np.ndarray, nin: int, nout: int, dest: np.ndarray) -> int:
    """Pre-activations of one dense layer: dest[u, :] = b[u] + sum_i W[i, u] prev[i, :].

    W is row-major (nin, nout) at ``off`` in ``w``, followed by the biases; works in the precision of the arrays.
    Returns the offset just past the layer's biases.
    """
    n = prev.shape[1]
    boff = off + nin * nout
    for u in range(nout):
        z = dest[u]
        bias = w[boff + u]
        for s in range(n):
            z[s] = bias
        i = 0
        while i + 3 < nin:
            w0 = w[off + i * nout + u]
            w1 = w[off + (i + 1) * nout + u]
            w2 = w[off + (i + 2) * nout + u]
            w3 = w[off + (i + 3) * nout + u]
            x0 = prev[i]
            x1 = prev[i + 1]
            x2 = prev[i + 2]
            x3 = prev[i + 3]
            for s in range(n):
                z[s] += (w0 * x0[s] + w1 * x1[s]) + (w2 * x2[s] + w3 * x3[s])
            i += 4
        while i < nin:
            w0 = w[off + i * nout + u]
            x0 = prev[i]
            for s in range(n):
                z[s] += w0 * x0[s]
            i += 1
    return boff + nout


@njit(error_model="numpy", fastmath=FASTMATH, cache=True)
def mlp_output_one(w: np.ndarray, xt: np.ndarray, ip: np.ndarray, work: np.ndarray, out: np.ndarray) -> None:
    """Output-layer pre-activation of a flat-vector MLP for one weight vector.

    Parameters
    ----------
    w : (n_weights,) float64
        Layers in order, each as its weight matrix (n_in, n_out) row-major followed by its n_out biases.
    xt : (n_features, n_samples) float64 or float32
        Inputs, transposed and C-contiguous; the network is evaluated in this precision.
    ip : int64 array
        ``[activation, output, loss, precision, n_layers, n_features, h1, ..., 1]``.
    work : array of the dtype of ``xt``
        Scratch of at least :func:`mlp_work_size` values.
    out : (n_samples,) array of the dtype of ``xt``
        Receives the linear output (before any sigmoid).
    """
    n = xt.shape[1]
    n_layers = ip[IP_NLAYERS]
    act = ip[IP_ACT]
    maxw = 1
    for layer in range(1, n_layers):
        maxw = max(maxw, ip[IP_SIZES + layer])
    nw = w.shape[0]
    wk = work[:nw]
    for j in range(nw):
        wk[j] = w[j]
    buf_a = work[nw : nw + maxw * n].reshape((maxw, n))
    buf_b = work[nw + maxw * n : nw + 2 * maxw * n].reshape((maxw, n))
    off = 0
    prev = xt
    for layer in range(n_layers - 1):
        nin = ip[IP_SIZES + layer]
        nout = ip[IP_SIZES + layer + 1]
        dest = buf_a if layer % 2 == 0 else buf_b
        off = _dense(wk, off, prev, nin, nout, dest)
        for u in range(nout):
            _activate(dest[u], act)
        prev = dest
    # output layer (one unit): out = b + sum_i W[i] prev[i, :]
    nin = ip[IP_SIZES + n_layers - 1]
    bias = wk[off + nin]
    for s in range(n):
        out[s] = bias
    for i in range(nin):
        wi = wk[off + i]
        row = prev[i]
        for s in range(n):
            out[s] += wi * row[s]


@njit(error_model="numpy", fastmath=FASTMATH, cache=True)
def _finish_predictions(out: np.ndarray, output: int) -> None:
    if output == OUT_SIGMOID:
        _activate(out, ACT_LOGISTIC)


@njit(error_model="numpy", fastmath=FASTMATH, cache=True)
def mlp_loss_one(
    w: np.ndarray, xt: np.ndarray, y: np.ndarray, ip: np.ndarray, work: np.ndarray, z: np.ndarray
) -> float:
    """Training loss of one flat weight vector: mean squared error, or mean binary cross-entropy from the logits.

    The network runs in the precision of ``xt``; the loss is accumulated in double precision.
    """
    mlp_output_one(w, xt, ip, work, z)
    n = z.shape[0]
    total = 0.0
    if ip[IP_LOSS] == LOSS_XENT:
        # -[y log p + (1 - y) log(1 - p)] with p = sigmoid(z), written stably as softplus(z) - y z.
        for s in range(n):
            zs = np.float64(z[s])
            az = zs if zs >= 0.0 else -zs
            total += (zs if zs > 0.0 else 0.0) - y[s] * zs + math.log1p(math.exp(-az))
        return total / n
    _finish_predictions(z, ip[IP_OUT])
    for s in range(n):
        e = np.float64(z[s]) - y[s]
        total += e * e
    return total / n


@njit(error_model="numpy", fastmath=FASTMATH, cache=True)
def mlp_work_size(ip: np.ndarray, n: int) -> int:
    """Scratch size (values) of :func:`mlp_output_one` on ``n`` samples: weights and two layer buffers."""
    maxw = 1
    for layer in range(1, ip[IP_NLAYERS]):
        maxw = max(maxw, ip[IP_SIZES + layer])
    nw = 0
    for layer in range(ip[IP_NLAYERS]):
        nw += ip[IP_SIZES + layer] * ip[IP_SIZES + layer + 1] + ip[IP_SIZES + layer + 1]
    return nw + 2 * maxw * n


@njit(error_model="numpy", fastmath=FASTMATH, cache=True)
def _predict_rows(wb: np.ndarray, xt: np.ndarray, ip: np.ndarray, work: np.ndarray, z: np.ndarray, out: np.ndarray):
    for p in range(wb.shape[0]):
        mlp_output_one(wb[p], xt, ip, work, z)
        _finish_predictions(z, ip[IP_OUT])
        row = out[p]
        for s in range(z.shape[0]):
            row[s] = z[s]


@njit(error_model="numpy", fastmath=FASTMATH, cache=True)
def mlp_predict_batch(wb: np.ndarray, xt: np.ndarray, xt32: np.ndarray, ip: np.ndarray, out: np.ndarray) -> None:
    """Network outputs (after the output transform) of every weight vector: wb (pop, n_weights) -> out (pop, n).

    ``xt32`` (the inputs in single precision) is used when ``ip`` asks for single precision.
    """
    n = xt.shape[1]
    size = mlp_work_size(ip, n)
    if ip[IP_PREC] == PREC_F32:
        _predict_rows(wb, xt32, ip, np.empty(size, np.float32), np.empty(n, np.float32), out)
    else:
        _predict_rows(wb, xt, ip, np.empty(size), np.empty(n), out)


@njit(error_model="numpy", fastmath=FASTMATH, cache=True)
def test_function_one(code: int, x: np.ndarray) -> float:
    """Sphere, Rosenbrock, Rastrigin or Ackley at one point ``x``."""
    d = x.shape[0]
    if code == FN_SPHERE:
        s = 0.0
        for j in range(d):
            s += x[j] * x[j]
        return s
    if code == FN_ROSENBROCK:
        s = 0.0
        for j in range(d - 1):
            a = x[j + 1] - x[j] * x[j]
            b = 1.0 - x[j]
            s += 100.0 * a * a + b * b
        return s
    if code == FN_RASTRIGIN:
        s = 10.0 * d
        for j in range(d):
            s += x[j] * x[j] - 10.0 * math.cos(2.0 * math.pi * x[j])
        return s
    s2 = 0.0
    sc = 0.0
    for j in range(d):
        s2 += x[j] * x[j]
        sc += math.cos(2.0 * math.pi * x[j])
    return -20.0 * math.exp(-0.2 * math.sqrt(s2 / d)) - math.exp(sc / d) + 20.0 + math.e


class KernelSpec(NamedTuple):
    """The data of a compiled objective, as :func:`evaluate_batch` and the optimizers' compiled loops take it."""

    kind: int  # FN_* for a test function, KIND_MLP for the MLP loss
    iparams: np.ndarray  # int64: the MLP's codes and layer sizes (IP_* layout); empty for a test function
    inputs: np.ndarray  # float64 (n_features, n_samples): the MLP's transposed inputs
    targets: np.ndarray  # float64 (n_samples,): the MLP's targets
    inputs32: np.ndarray  # float32 (n_features, n_samples): the transposed inputs when iparams asks for float32


@njit(error_model="numpy", fastmath=FASTMATH, cache=True)
def evaluate_batch(spec: KernelSpec, cand: np.ndarray, out: np.ndarray) -> None:
    """Evaluate a compiled objective on the rows of ``cand`` (k, dim) into ``out`` (k,)."""
    kind, ip, a, b, a32 = spec.kind, spec.iparams, spec.inputs, spec.targets, spec.inputs32
    k = cand.shape[0]
    if kind == KIND_MLP:
        n = a.shape[1]
        size = mlp_work_size(ip, n)
        if ip[IP_PREC] == PREC_F32:
            work32 = np.empty(size, np.float32)
            z32 = np.empty(n, np.float32)
            for i in range(k):
                out[i] = mlp_loss_one(cand[i], a32, b, ip, work32, z32)
        else:
            work = np.empty(size)
            z = np.empty(n)
            for i in range(k):
                out[i] = mlp_loss_one(cand[i], a, b, ip, work, z)
        return
    for i in range(k):
        out[i] = test_function_one(kind, cand[i])
