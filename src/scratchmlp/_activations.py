"""Hidden-layer activations: each ``g`` and its derivative side by side.

Every activation is an :class:`Activation`, a name with two small functions:

* ``forward(Z, out)`` writes :math:`A = g(Z)` into ``out`` and returns it;
* ``backward(Z, A, dA)`` turns :math:`dA` into :math:`dZ = dA \\odot g'(Z)`
  *in place* and returns it. ``A = g(Z)`` is passed too, because for several
  activations the derivative is cheapest in terms of the output
  (:math:`\\sigma' = \\sigma (1 - \\sigma)`, :math:`\\tanh' = 1 - \\tanh^2`).

``Z`` is always the pre-activation and ``A`` the post-activation; both have
shape ``(n[l], m)``. The registry :data:`ACTIVATIONS` maps the names that the
estimators accept to these objects; the output layer's functions (softmax,
logistic, identity, exp) belong to the losses, see :mod:`scratchmlp._losses`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

__all__ = ["Activation", "ACTIVATIONS", "LEAKY_RELU_SLOPE"]

#: Slope of ``leaky_relu`` for negative inputs.
LEAKY_RELU_SLOPE = 0.01


@dataclass(frozen=True)
class Activation:
    """An activation function ``g`` together with its derivative.

    Parameters
    ----------
    name : str
        The name the estimators accept, e.g. ``"relu"``.
    forward : callable ``(Z, out) -> out``
        Writes ``g(Z)`` into ``out`` (which may be ``Z`` itself).
    backward : callable ``(Z, A, dA) -> dA``
        Multiplies ``dA`` in place by ``g'(Z)``, turning it into ``dZ``.
    """

    name: str
    forward: Callable[[NDArray, NDArray], NDArray]
    backward: Callable[[NDArray, NDArray, NDArray], NDArray]

    def __call__(self, Z: NDArray) -> NDArray:
        """Return ``g(Z)`` as a new array (a convenience for learners)."""
        return self.forward(Z, np.empty_like(Z))

    def derivative(self, Z: NDArray) -> NDArray:
        """Return ``g'(Z)`` as a new array (a convenience for learners)."""
        return self.backward(Z, self(Z), np.ones_like(Z))


# identity ------------------------------------------------------------------
# g(z) = z,  g'(z) = 1
def _identity(Z, out):
    if out is not Z:
        np.copyto(out, Z)
    return out


def _identity_backward(Z, A, dA):
    return dA


# logistic ------------------------------------------------------------------
# g(z) = 1 / (1 + exp(-z)),  g'(z) = g(z) (1 - g(z))
# expit never overflows: it saturates to 0 or 1 at any |z|.
def _logistic(Z, out):
    return expit(Z, out=out)


def _logistic_backward(Z, A, dA):
    dA *= A
    dA *= 1 - A
    return dA


# tanh ----------------------------------------------------------------------
# g(z) = tanh(z),  g'(z) = 1 - tanh(z)^2
def _tanh(Z, out):
    return np.tanh(Z, out=out)


def _tanh_backward(Z, A, dA):
    dA *= 1 - A * A
    return dA


# relu ----------------------------------------------------------------------
# g(z) = max(z, 0),  g'(z) = 1 if z > 0 else 0
def _relu(Z, out):
    return np.maximum(Z, 0, out=out)


def _relu_backward(Z, A, dA):
    dA[Z <= 0] = 0
    return dA


# leaky_relu ----------------------------------------------------------------
# g(z) = z if z > 0 else a z,  g'(z) = 1 if z > 0 else a,  with a = 0.01
def _leaky_relu(Z, out):
    # max(z, a z) equals z for z > 0 and a z otherwise, because 0 < a < 1.
    return np.maximum(Z, LEAKY_RELU_SLOPE * Z, out=out)


def _leaky_relu_backward(Z, A, dA):
    dA[Z <= 0] *= LEAKY_RELU_SLOPE
    return dA


#: The hidden activations, by the name the estimators accept.
ACTIVATIONS: dict[str, Activation] = {
    act.name: act
    for act in (
        Activation("identity", _identity, _identity_backward),
        Activation("logistic", _logistic, _logistic_backward),
        Activation("tanh", _tanh, _tanh_backward),
        Activation("relu", _relu, _relu_backward),
        Activation("leaky_relu", _leaky_relu, _leaky_relu_backward),
    )
}
