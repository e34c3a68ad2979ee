"""Stochastic optimizers: in-place updates of the flat parameter vector.

Each optimizer works on ``theta`` and ``grad``, two flat vectors of the same
layout (see :mod:`scratchmlp._network`), so that a step is a handful of
vector operations whatever the number of layers. Plain SGD is the special case
``momentum = 0`` of :class:`SGD`, and AdamW is :class:`Adam` with a decoupled
weight decay.

Every optimizer has the same small protocol, from :class:`Optimizer`:

* ``step(theta, grad)`` updates ``theta`` in place (after clipping ``grad``
  to ``max_grad_norm`` when one is set);
* ``end_epoch(t)`` applies the learning-rate schedule after an epoch (``t`` is
  the number of samples seen so far);
* ``on_plateau(message, verbose) -> bool`` is called when the stopping rule
  fires; True means stop, False that the optimizer adapted (a smaller
  learning rate) and training goes on.

Schedules (the estimators' ``learning_rate``): ``constant``; ``invscaling``
and ``adaptive``, which, as in scikit-learn, only :class:`SGD` follows; and
``cosine``, which every optimizer follows:
:math:`\\eta_k = \\eta_0 (1 + \\cos(\\pi k / K)) / 2` after epoch ``k`` of
``K = max_iter``.

Each rule is written twice, side by side: ``_update`` for numpy (BLAS axpy
and ``out=`` buffers, no allocation) and ``_update_xp`` for an array API
namespace ``xp`` (torch, CuPy, array-api-strict: in-place operators on
``theta`` and the moments, the same equations). The optimizer's ``ops``
(:mod:`scratchmlp._arrays`) says which runs.
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod

import numpy as np
from numpy.typing import NDArray

from ._arrays import NUMPY, ArrayOps
from ._network import blas_axpy

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "OPTIMIZERS", "make_optimizer"]


class Optimizer(ABC):
    """What every optimizer shares: the learning rate, its schedule, clipping.

    Parameters
    ----------
    theta : ndarray of shape (n_params,)
        The parameters it will update (for the shape, dtype and, for
        AdamW, which entries are weights).
    learning_rate_init : float
    schedule : {"constant", "invscaling", "adaptive", "cosine"}
    power_t : float
        Exponent of ``invscaling``.
    max_iter : int
        ``K`` of the cosine schedule.
    max_grad_norm : float or None
        Rescale ``grad`` to this Euclidean norm when it is larger.
    """

    #: Schedules this optimizer follows besides "constant" and "cosine".
    SCHEDULES: tuple = ()
    #: Estimator parameter -> constructor argument, for its own parameters.
    PARAMS: dict = {}
    #: Whether ``alpha`` is a decoupled weight decay instead of an L2 term.
    decoupled_weight_decay = False
    #: The namespace of ``theta`` (an instance attribute only for another one,
    #: so that a numpy optimizer pickles as before).
    ops: ArrayOps = NUMPY

    def __init__(
        self,
        theta: NDArray,
        learning_rate_init: float = 0.001,
        schedule: str = "constant",
        power_t: float = 0.5,
        max_iter: int = 200,
        max_grad_norm: float | None = None,
        ops: ArrayOps = NUMPY,
    ) -> None:
        if not ops.is_numpy:
            self.ops = ops
        self.learning_rate_init = float(learning_rate_init)
        self.learning_rate = float(learning_rate_init)
        self.schedule = schedule
        self.power_t = float(power_t)
        self.max_iter = int(max_iter)
        self.max_grad_norm = max_grad_norm
        self.epochs = 0

    def step(self, theta: NDArray, grad: NDArray) -> None:
        """Update ``theta`` in place from ``grad`` (both of shape (n_params,)).

        ``grad`` is the caller's work buffer: it may be clipped and
        overwritten.
        """
        if self.max_grad_norm is not None:
            norm = self.ops.norm(grad)
            if norm > self.max_grad_norm:
                grad *= self.max_grad_norm / norm
        if self.ops.is_numpy:
            self._update(theta, grad)
        else:
            self._update_xp(self.ops.xp, theta, grad)

    @abstractmethod
    def _update(self, theta: NDArray, grad: NDArray) -> None:
        """Each optimizer's own rule."""

    @abstractmethod
    def _update_xp(self, xp, theta, grad) -> None:
        """The same rule in the array API namespace ``xp``."""

    def end_epoch(self, t: int) -> None:
        """Apply the schedule after an epoch; ``t`` samples were seen so far."""
        self.epochs += 1
        if self.schedule == "cosine":
            k = min(self.epochs, self.max_iter)
            self.learning_rate = (
                self.learning_rate_init * (1 + math.cos(math.pi * k / self.max_iter)) / 2
            )
        elif self.schedule == "invscaling" and "invscaling" in self.SCHEDULES:
            self.learning_rate = self.learning_rate_init / (t + 1) ** self.power_t

    def on_plateau(self, message: str, verbose: bool) -> bool:
        """Stop, or (``adaptive``, SGD only) divide the learning rate by 5 and go on."""
        if self.schedule != "adaptive" or "adaptive" not in self.SCHEDULES:
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

    def snapshot(self, into: dict | None = None) -> dict:
        """A copy of the optimizer's state (moments, step count, learning rate).

        With ``into``, an earlier snapshot, its arrays are overwritten in
        place instead of allocating new ones: training takes one snapshot
        per epoch.
        """
        state = self.__getstate__()
        if into is None:
            return copy.deepcopy(state)
        for name, value in state.items():
            kept = into.get(name)
            if (
                isinstance(value, np.ndarray)
                and isinstance(kept, np.ndarray)
                and kept.shape == value.shape
                and kept.dtype == value.dtype
            ):
                np.copyto(kept, value)
            else:
                into[name] = copy.deepcopy(value)
        return into

    def restore(self, snapshot: dict) -> None:
        """Go back to a :meth:`snapshot`."""
        self.__dict__.clear()
        self.__dict__.update(copy.deepcopy(snapshot))

    def _scratch(self, theta: NDArray) -> NDArray:
        # A work vector; not pickled, recreated lazily after a copy or a load.
        scratch = self.__dict__.get("_scratch_buffer")
        if scratch is None or scratch.shape != theta.shape or scratch.dtype != theta.dtype:
            scratch = self._scratch_buffer = np.empty_like(theta)
        return scratch

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_scratch_buffer", None)
        return state


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    With velocity :math:`v` (zero at the start), learning rate :math:`\\eta`
    and momentum :math:`\\mu`:

    .. math::

        v &\\leftarrow \\mu v - \\eta \\, \\nabla J \\\\
        \\theta &\\leftarrow \\theta + v
            \\quad \\text{(classical momentum; plain SGD when } \\mu = 0) \\\\
        \\theta &\\leftarrow \\theta + \\mu v - \\eta \\, \\nabla J
            \\quad \\text{(Nesterov)}

    Parameters
    ----------
    theta : ndarray of shape (n_params,)
    momentum : float, default=0.9
    nesterov : bool, default=True
    **schedule
        :class:`Optimizer`'s parameters. ``invscaling``:
        :math:`\\eta = \\eta_0 / (t + 1)^{p}` after each epoch; ``adaptive``:
        divide :math:`\\eta` by 5 when the stopping rule fires, stop below 1e-6.
    """

    SCHEDULES = ("invscaling", "adaptive")
    PARAMS = {"momentum": "momentum", "nesterovs_momentum": "nesterov"}

    def __init__(self, theta, momentum=0.9, nesterov=True, **schedule) -> None:
        super().__init__(theta, **schedule)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.velocity = self.ops.xp.zeros_like(theta)

    def _update(self, theta, grad):
        lr, mu, v = self.learning_rate, self.momentum, self.velocity
        axpy = blas_axpy(theta.dtype)
        v *= mu
        axpy(grad, v, a=-lr)  # v = mu v - lr grad
        if self.nesterov:
            axpy(v, theta, a=mu)
            axpy(grad, theta, a=-lr)  # theta += mu v - lr grad
        else:
            theta += v

    def _update_xp(self, xp, theta, grad):
        lr, mu, v = self.learning_rate, self.momentum, self.velocity
        v *= mu
        v -= lr * grad
        if self.nesterov:
            theta += mu * v - lr * grad
        else:
            theta += v


class RMSprop(Optimizer):
    """RMSprop (Tieleman and Hinton, 2012): steps scaled by a running RMS of the gradient.

    .. math::

        v \\leftarrow \\rho v + (1 - \\rho) (\\nabla J)^2, \\qquad
        \\theta \\leftarrow \\theta - \\eta \\, \\nabla J / (\\sqrt{v} + \\epsilon)

    Parameters
    ----------
    theta : ndarray of shape (n_params,)
    rho : float, default=0.999
        The estimators' ``beta_2``.
    epsilon : float, default=1e-8
    **schedule
        :class:`Optimizer`'s parameters.
    """

    PARAMS = {"beta_2": "rho", "epsilon": "epsilon"}

    def __init__(self, theta, rho=0.999, epsilon=1e-8, **schedule) -> None:
        super().__init__(theta, **schedule)
        self.rho = float(rho)
        self.epsilon = float(epsilon)
        self.v = self.ops.xp.zeros_like(theta)

    def _update(self, theta, grad):
        axpy, scratch, v = blas_axpy(theta.dtype), self._scratch(theta), self.v
        np.square(grad, out=scratch)
        v *= self.rho
        axpy(scratch, v, a=1 - self.rho)
        np.sqrt(v, out=scratch)
        scratch += self.epsilon
        np.divide(grad, scratch, out=scratch)
        axpy(scratch, theta, a=-self.learning_rate)

    def _update_xp(self, xp, theta, grad):
        v = self.v
        v *= self.rho
        v += (1 - self.rho) * (grad * grad)
        theta -= self.learning_rate * (grad / (xp.sqrt(v) + self.epsilon))


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2014).

    .. math::

        m &\\leftarrow \\beta_1 m + (1 - \\beta_1) \\nabla J, \\qquad
        v \\leftarrow \\beta_2 v + (1 - \\beta_2) (\\nabla J)^2 \\\\
        \\eta_t &= \\eta \\sqrt{1 - \\beta_2^t} / (1 - \\beta_1^t) \\\\
        \\theta &\\leftarrow \\theta - \\eta_t \\, m / (\\sqrt{v} + \\epsilon)

    Parameters
    ----------
    theta : ndarray of shape (n_params,)
    beta_1, beta_2 : float, default=0.9, 0.999
    epsilon : float, default=1e-8
    **schedule
        :class:`Optimizer`'s parameters.

    Attributes
    ----------
    step_size : float
        The bias-corrected :math:`\\eta_t` of the last step.
    """

    PARAMS = {"beta_1": "beta_1", "beta_2": "beta_2", "epsilon": "epsilon"}

    def __init__(self, theta, beta_1=0.9, beta_2=0.999, epsilon=1e-8, **schedule) -> None:
        super().__init__(theta, **schedule)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.t = 0
        self.step_size = self.learning_rate
        self.m = self.ops.xp.zeros_like(theta)
        self.v = self.ops.xp.zeros_like(theta)

    def _update(self, theta, grad):
        self.t += 1
        b1, b2, m, v = self.beta_1, self.beta_2, self.m, self.v
        self.step_size = self.learning_rate * math.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        # Nine passes over the parameters and no allocation: once m has it,
        # grad is free to hold grad^2, then the direction m / (sqrt(v) + eps).
        axpy = blas_axpy(theta.dtype)
        m *= b1
        axpy(grad, m, a=1 - b1)
        np.square(grad, out=grad)
        v *= b2
        axpy(grad, v, a=1 - b2)
        np.sqrt(v, out=grad)
        grad += self.epsilon
        np.divide(m, grad, out=grad)
        axpy(grad, theta, a=-self.step_size)

    def _update_xp(self, xp, theta, grad):
        self.t += 1
        b1, b2, m, v = self.beta_1, self.beta_2, self.m, self.v
        self.step_size = self.learning_rate * math.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        m *= b1
        m += (1 - b1) * grad
        v *= b2
        v += (1 - b2) * (grad * grad)
        theta -= self.step_size * (m / (xp.sqrt(v) + self.epsilon))


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter, 2019).

    The Adam step of the data cost's gradient, then

    .. math:: W[l] \\leftarrow (1 - \\eta \\lambda) W[l]

    on the weights (not the biases), with :math:`\\lambda` the estimators'
    ``alpha``, which for this solver is not added to the cost as an L2 term.

    Parameters
    ----------
    theta : ndarray of shape (n_params,)
    weight_decay : float
        :math:`\\lambda`, the estimators' ``alpha``.
    weight_slices : list of slice
        Where the weights ``W[l]`` lie in ``theta``.
    beta_1, beta_2, epsilon, **schedule
        As :class:`Adam`.
    """

    decoupled_weight_decay = True

    def __init__(self, theta, weight_decay=0.0, weight_slices=(), **adam) -> None:
        super().__init__(theta, **adam)
        self.weight_decay = float(weight_decay)
        self.weight_slices = list(weight_slices)

    def _update(self, theta, grad):
        super()._update(theta, grad)
        self._decay(theta)

    def _update_xp(self, xp, theta, grad):
        super()._update_xp(xp, theta, grad)
        self._decay(theta)

    def _decay(self, theta):
        shrink = 1 - self.learning_rate * self.weight_decay
        for weights in self.weight_slices:
            theta[weights] *= shrink


#: The stochastic solvers by the name the estimators accept.
OPTIMIZERS = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop, "adamw": AdamW}


def make_optimizer(
    solver: str, theta: NDArray, params: dict, weight_slices=(), ops: ArrayOps = NUMPY
) -> Optimizer:
    """The optimizer for ``solver``, built from the estimator's parameters.

    Parameters
    ----------
    solver : str
        A key of :data:`OPTIMIZERS`.
    theta : ndarray of shape (n_params,)
    params : dict
        The estimator's ``get_params()``.
    weight_slices : list of slice
        Where the weights lie in ``theta`` (for AdamW's decay).
    ops : ArrayOps, default=NUMPY
        ``theta``'s namespace (the network's ``ops``).
    """
    cls = OPTIMIZERS[solver]
    own = {argument: params[name] for name, argument in cls.PARAMS.items()}
    if cls.decoupled_weight_decay:
        own.update(weight_decay=params["alpha"], weight_slices=weight_slices)
    return cls(
        theta,
        **own,
        learning_rate_init=params["learning_rate_init"],
        schedule=params["learning_rate"],
        power_t=params["power_t"],
        max_iter=params["max_iter"],
        max_grad_norm=params.get("max_grad_norm"),
        ops=ops,
    )
