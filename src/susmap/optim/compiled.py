"""Objectives with a numba kernel that the optimizers can evaluate inside their compiled loops."""

from __future__ import annotations

import numpy as np

from susmap.optim.kernels import KernelSpec, evaluate_batch

__all__ = ["CompiledObjective"]


class CompiledObjective:
    """Batch objective backed by a compiled kernel.

    Calling the object evaluates a population, ``(k, dim) -> (k,)``, exactly as an arbitrary Python objective would;
    in addition the optimizers find in :attr:`numba_spec` what they need to run the kernel inside their own compiled
    loop, which removes the Python overhead per evaluation of sequential algorithms (SOS, EFO, SCE-UA).

    Parameters
    ----------
    kind : int
        Kernel code (see :mod:`susmap.optim.kernels`).
    dim : int or None
        Required length of a candidate vector, or None for any length.
    iparams : numpy.ndarray, optional
        Integer parameters of the kernel.
    a : numpy.ndarray, optional
        2-D float64 data of the kernel (the transposed inputs for the MLP).
    b : numpy.ndarray, optional
        1-D float64 data of the kernel (the targets for the MLP).
    a32 : numpy.ndarray, optional
        2-D float32 data of the kernel (the transposed inputs in single precision for the MLP).
    """

    def __init__(
        self,
        kind: int,
        dim: int | None,
        iparams: np.ndarray | None = None,
        a: np.ndarray | None = None,
        b: np.ndarray | None = None,
        a32: np.ndarray | None = None,
    ) -> None:
        ip = np.zeros(0, np.int64) if iparams is None else np.ascontiguousarray(iparams, dtype=np.int64)
        aa = np.zeros((0, 0)) if a is None else np.ascontiguousarray(a, dtype=np.float64)
        bb = np.zeros(0) if b is None else np.ascontiguousarray(b, dtype=np.float64)
        a3 = np.zeros((0, 0), np.float32) if a32 is None else np.ascontiguousarray(a32, dtype=np.float32)
        self._spec = KernelSpec(int(kind), ip, aa, bb, a3)
        self._dim = None if dim is None else int(dim)

    @property
    def numba_spec(self) -> KernelSpec:
        """The kernel's data ``(kind, iparams, inputs, targets, inputs32)``, passed unchanged into compiled loops."""
        return self._spec

    @property
    def dim(self) -> int | None:
        """Required candidate length (None when any length is accepted)."""
        return self._dim

    def check_dim(self, dim: int) -> None:
        """Raise ValueError when candidates of length ``dim`` do not fit this objective."""
        if self._dim is not None and dim != self._dim:
            raise ValueError(f"this objective takes vectors of length {self._dim}, the bounds have {dim}")

    def __call__(self, candidates: np.ndarray) -> np.ndarray:
        """Objective values of a population.

        Parameters
        ----------
        candidates : array_like, shape (k, dim) or (dim,)
            Candidate vectors, one per row.

        Returns
        -------
        numpy.ndarray
            Shape (k,) float64 (shape () for a single 1-D candidate).
        """
        x = np.asarray(candidates, dtype=np.float64)
        single = x.ndim == 1
        x2 = np.ascontiguousarray(np.atleast_2d(x))
        if x2.ndim != 2:
            raise ValueError("candidates must be a (k, dim) array")
        self.check_dim(x2.shape[1])
        out = np.empty(x2.shape[0])
        evaluate_batch(self._spec, x2, out)
        return out[0] if single else out
