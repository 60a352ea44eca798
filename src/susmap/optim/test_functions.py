"""Standard test functions for validating the optimizers, vectorised over a population.

Each function is a :class:`TestFunction`: call it on a population ``(pop, dim) -> (pop,)``; it also carries its
usual search domain and its known optimum, and a compiled kernel so that optimizers run fully compiled on it.

Definitions (d = dimension), as in Yao, Liu & Lin (1999), "Evolutionary programming made faster", IEEE Trans.
Evol. Comput. 3(2), functions f1, f5, f9 and f10:

* sphere: sum x_i^2, domain [-100, 100]^d, minimum 0 at 0;
* Rosenbrock: sum_{i<d} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2, domain [-30, 30]^d, minimum 0 at (1, ..., 1);
* Rastrigin: 10 d + sum x_i^2 - 10 cos(2 pi x_i), domain [-5.12, 5.12]^d, minimum 0 at 0;
* Ackley: -20 exp(-0.2 sqrt(sum x_i^2 / d)) - exp(sum cos(2 pi x_i) / d) + 20 + e, domain [-32, 32]^d,
  minimum 0 at 0.
"""

from __future__ import annotations

import numpy as np

from susmap.optim.compiled import CompiledObjective
from susmap.optim.kernels import FN_ACKLEY, FN_RASTRIGIN, FN_ROSENBROCK, FN_SPHERE

__all__ = ["TEST_FUNCTIONS", "TestFunction", "ackley", "rastrigin", "rosenbrock", "sphere"]


class TestFunction(CompiledObjective):
    """A test function with its domain and optimum.

    Parameters
    ----------
    name : str
        Function name.
    code : int
        Kernel code.
    half_width : float
        The domain is ``[-half_width, half_width]`` in every dimension.
    x_opt_value : float
        Every coordinate of the minimiser has this value.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, name: str, code: int, half_width: float, x_opt_value: float) -> None:
        super().__init__(code, None)
        self.name = name
        self.half_width = float(half_width)
        self.x_opt_value = float(x_opt_value)
        self.f_opt = 0.0

    def bounds(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """Usual search domain as ``(lb, ub)`` vectors of length ``dim``."""
        return np.full(dim, -self.half_width), np.full(dim, self.half_width)

    def x_opt(self, dim: int) -> np.ndarray:
        """The minimiser in ``dim`` dimensions."""
        return np.full(dim, self.x_opt_value)

    def __repr__(self) -> str:
        return f"TestFunction({self.name!r})"


sphere = TestFunction("sphere", FN_SPHERE, 100.0, 0.0)
rosenbrock = TestFunction("rosenbrock", FN_ROSENBROCK, 30.0, 1.0)
rastrigin = TestFunction("rastrigin", FN_RASTRIGIN, 5.12, 0.0)
ackley = TestFunction("ackley", FN_ACKLEY, 32.0, 0.0)

#: The test functions by name.
TEST_FUNCTIONS: dict[str, TestFunction] = {f.name: f for f in (sphere, rosenbrock, rastrigin, ackley)}
