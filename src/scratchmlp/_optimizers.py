"""Stochastic optimizers: in-place updates of the flat parameter vector.

Each optimizer works on ``theta`` and ``grad``, two flat vectors of the same
layout (see :mod:`scratchmlp._network`), so that a step is a handful of
vector operations whatever the number of layers. Plain SGD is the special case
``momentum = 0`` of :class:`SGD`; Adam has its own class.

Every optimizer has the same small protocol:

* ``step(theta, grad)`` updates ``theta`` in place;
* ``end_epoch(t)`` is told the number of samples seen so far (for schedules);
* ``on_plateau(message, verbose) -> bool`` is called when the stopping rule
  fires; True means stop, False that the optimizer adapted (e.g. a smaller
  learning rate) and training goes on.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.linalg.blas import get_blas_funcs

__all__ = ["SGD", "Adam", "make_optimizer"]

#: The ``learning_rate`` schedules of :class:`SGD`.
SCHEDULES = ("constant", "invscaling", "adaptive")


class SGD:
    """Stochastic gradient descent with optional (Nesterov) momentum.

    With velocity :math:`v` (zero at the start), learning rate :math:`\\eta`
    and momentum :math:`\\mu`:

    .. math::

        v &\\leftarrow \\mu v - \\eta \\, \\nabla J \\\\
        \\theta &\\leftarrow \\theta + v
            \\quad \\text{(classical momentum)} \\\\
        \\theta &\\leftarrow \\theta + \\mu v - \\eta \\, \\nabla J
            \\quad \\text{(Nesterov)}

    Parameters
    ----------
    n_params : int
    dtype : numpy dtype
    learning_rate_init : float
    schedule : {"constant", "invscaling", "adaptive"}
        ``invscaling``: :math:`\\eta_t = \\eta_0 / (t + 1)^{p}` after each
        epoch, ``t`` the number of samples seen. ``adaptive``: divide
        :math:`\\eta` by 5 when the stopping rule fires, and stop once it is
        below 1e-6.
    momentum : float
    nesterov : bool
    power_t : float
    """

    #: The estimator parameters that configure it, in constructor order.
    PARAMS = (
        "learning_rate_init",
        "learning_rate",
        "momentum",
        "nesterovs_momentum",
        "power_t",
    )

    def __init__(
        self,
        n_params: int,
        dtype,
        learning_rate_init: float = 0.1,
        schedule: str = "constant",
        momentum: float = 0.9,
        nesterov: bool = True,
        power_t: float = 0.5,
    ) -> None:
        self.learning_rate_init = float(learning_rate_init)
        self.learning_rate = float(learning_rate_init)
        self.schedule = schedule
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.power_t = float(power_t)
        self.velocity = np.zeros(n_params, dtype=dtype)

    def step(self, theta: NDArray, grad: NDArray) -> None:
        """Update ``theta`` in place from ``grad`` (both of shape (n_params,))."""
        lr, mu, v = self.learning_rate, self.momentum, self.velocity
        axpy = get_blas_funcs("axpy", (theta,))  # y += a x, in place, one pass
        v *= mu
        axpy(grad, v, a=-lr)  # v = mu v - lr grad
        if self.nesterov:
            axpy(v, theta, a=mu)
            axpy(grad, theta, a=-lr)  # theta += mu v - lr grad
        else:
            theta += v

    def end_epoch(self, t: int) -> None:
        """Apply the ``invscaling`` schedule after ``t`` samples."""
        if self.schedule == "invscaling":
            self.learning_rate = self.learning_rate_init / (t + 1) ** self.power_t

    def on_plateau(self, message: str, verbose: bool) -> bool:
        """Stop, or (``adaptive``) divide the learning rate by 5 and go on."""
        if self.schedule != "adaptive":
            if verbose:
                print(message + " Stopping.")
            return True
        if self.learning_rate <= 1e-6:
            if verbose:
                print(message + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(message + " Setting learning rate to %f" % self.learning_rate)
        return False


class Adam:
    """Adam (Kingma and Ba, 2014).

    .. math::

        m &\\leftarrow \\beta_1 m + (1 - \\beta_1) \\nabla J, \\qquad
        v \\leftarrow \\beta_2 v + (1 - \\beta_2) (\\nabla J)^2 \\\\
        \\eta_t &= \\eta_0 \\sqrt{1 - \\beta_2^t} / (1 - \\beta_1^t) \\\\
        \\theta &\\leftarrow \\theta - \\eta_t \\, m / (\\sqrt{v} + \\epsilon)

    Parameters
    ----------
    n_params : int
    dtype : numpy dtype
    learning_rate_init : float
    beta_1, beta_2 : float
    epsilon : float
    """

    #: The estimator parameters that configure it, in constructor order.
    PARAMS = ("learning_rate_init", "beta_1", "beta_2", "epsilon")

    def __init__(
        self,
        n_params: int,
        dtype,
        learning_rate_init: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
    ) -> None:
        self.learning_rate_init = float(learning_rate_init)
        self.learning_rate = float(learning_rate_init)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.t = 0
        self.m = np.zeros(n_params, dtype=dtype)
        self.v = np.zeros(n_params, dtype=dtype)

    def step(self, theta: NDArray, grad: NDArray) -> None:
        """Update ``theta`` in place from ``grad`` (both of shape (n_params,))."""
        self.t += 1
        b1, b2, m, v = self.beta_1, self.beta_2, self.m, self.v
        self.learning_rate = (
            self.learning_rate_init * np.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        )
        # Nine passes over the parameters, no allocation: the scratch vector
        # holds grad^2, then the step direction m / (sqrt(v) + eps).
        axpy = get_blas_funcs("axpy", (theta,))
        scratch = self._scratch(theta)
        m *= b1
        axpy(grad, m, a=1 - b1)
        np.square(grad, out=scratch)
        v *= b2
        axpy(scratch, v, a=1 - b2)
        np.sqrt(v, out=scratch)
        scratch += self.epsilon
        np.divide(m, scratch, out=scratch)
        axpy(scratch, theta, a=-self.learning_rate)

    def _scratch(self, theta: NDArray) -> NDArray:
        # Not pickled state: recreated lazily after a copy or an unpickle.
        scratch = self.__dict__.get("_scratch_buffer")
        if scratch is None or scratch.shape != theta.shape or scratch.dtype != theta.dtype:
            scratch = self._scratch_buffer = np.empty_like(theta)
        return scratch

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_scratch_buffer", None)
        return state

    def end_epoch(self, t: int) -> None:
        """Adam has no epoch schedule."""

    def on_plateau(self, message: str, verbose: bool) -> bool:
        """Always stop."""
        if verbose:
            print(message + " Stopping.")
        return True


#: The stochastic solvers by the name the estimators accept.
OPTIMIZERS = {"sgd": SGD, "adam": Adam}


def make_optimizer(solver: str, n_params: int, dtype, params: dict):
    """The optimizer for ``solver``, built from the estimator's parameters.

    Parameters
    ----------
    solver : str
        A key of :data:`OPTIMIZERS`.
    n_params : int
    dtype : numpy dtype
    params : dict
        The estimator's ``get_params()``; each optimizer takes the
        parameters its ``PARAMS`` names, in order.
    """
    cls = OPTIMIZERS[solver]
    return cls(n_params, dtype, *(params[name] for name in cls.PARAMS))
