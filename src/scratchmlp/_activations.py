"""Hidden-layer activations: each ``g`` and its derivative side by side.

Every activation is an :class:`Activation`, a name with two small functions:

* ``forward(Z, out)`` writes :math:`A = g(Z)` into ``out`` and returns it;
* ``backward(Z, A, dA)`` turns :math:`dA` into :math:`dZ = dA \\odot g'(Z)`
  *in place* and returns it. ``A = g(Z)`` is passed too, because for several
  activations the derivative is cheapest in terms of the output
  (:math:`\\sigma' = \\sigma (1 - \\sigma)`, :math:`\\tanh' = 1 - \\tanh^2`).

When the derivative is a function of the output alone (``identity``,
``logistic``, ``tanh``, ``relu``, ``leaky_relu``, ``elu``: the flag
``derivative_from_output``), ``backward`` reads only ``A``, and a layer's
``Z`` need not be kept after the forward pass: training and prediction then
compute ``A[l]`` over ``Z[l]``'s buffer, as scikit-learn does, which halves
the memory of the hidden activations.

Besides scikit-learn's four and ``leaky_relu``, ``elu``, ``gelu`` (the exact
erf form), ``softplus`` and ``silu`` (swish) are available.

Beside each numpy pair stands its array API form (``xp_forward(xp, Z)``,
``xp_backward(xp, Z, A, dA)``): the same equation for any namespace ``xp``
(torch, CuPy, array-api-strict), returning new arrays instead of writing
into buffers. :mod:`scratchmlp._network_xp` runs them.

``Z`` is always the pre-activation and ``A`` the post-activation; both have
shape ``(n[l], m)``. The registry :data:`ACTIVATIONS` maps the names that the
estimators accept to these objects; the output layer's functions (softmax,
logistic, identity, exp) belong to the losses, see :mod:`scratchmlp._losses`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import erf, expit

__all__ = ["Activation", "ACTIVATIONS", "LEAKY_RELU_SLOPE"]

#: Slope of ``leaky_relu`` for negative inputs.
LEAKY_RELU_SLOPE = 0.01


def _numpy_has_simd_float64_tanh() -> bool:
    # numpy vectorises float64 tanh only for AVX-512 (x86-64-v4) CPUs; the
    # choice depends on the machine alone, so results stay reproducible.
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # pragma: no cover - other numpy layouts
        return False
    return bool(__cpu_features__.get("X86_V4") or __cpu_features__.get("AVX512_SKX"))


_SIMD_FLOAT64_TANH = _numpy_has_simd_float64_tanh()


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
    derivative_from_output : bool, default=False
        Whether ``backward`` reads only ``A = g(Z)``, so that ``Z`` may
        share ``A``'s buffer (and hold ``A``) by the time it runs.
    kinks : tuple of float, default=()
        The ``z`` at which ``g`` is not twice continuously differentiable
        (0 for the relu family, whose derivative jumps there, and for elu,
        whose second derivative does). A finite difference whose step
        crosses one is inaccurate: :func:`~scratchmlp.check_gradients`
        avoids them.
    xp_forward : callable ``(xp, Z) -> A`` or None
        ``g(Z)`` in the array API namespace ``xp``, as a new array.
    xp_backward : callable ``(xp, Z, A, dA) -> dZ`` or None
        ``dA * g'(Z)`` in ``xp``, as a new array. None (both) where the
        standard lacks a function ``g`` needs (``erf`` for gelu).
    """

    name: str
    forward: Callable[[NDArray, NDArray], NDArray]
    backward: Callable[[NDArray, NDArray, NDArray], NDArray]
    derivative_from_output: bool = False
    kinks: tuple = ()
    xp_forward: Callable | None = None
    xp_backward: Callable | None = None

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


def _identity_xp(xp, Z):
    return Z


def _identity_backward_xp(xp, Z, A, dA):
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


def sigmoid_xp(xp, Z):
    """The logistic in namespace ``xp``, from ``e^{-|z|}`` so that nothing overflows.

    :math:`\\sigma(z) = 1 / (1 + e^{-z})` for :math:`z \\ge 0` and
    :math:`e^{z} / (1 + e^{z})` for :math:`z < 0`; both from :math:`e^{-|z|} \\le 1`.
    """
    e = xp.exp(-xp.abs(Z))
    return xp.where(Z >= 0, 1 / (1 + e), e / (1 + e))


def _logistic_backward_xp(xp, Z, A, dA):
    return dA * A * (1 - A)


# tanh ----------------------------------------------------------------------
# g(z) = tanh(z),  g'(z) = 1 - tanh(z)^2
def _tanh(Z, out):
    if Z.dtype == np.float64 and not _SIMD_FLOAT64_TANH:
        return _tanh_from_expit(Z, out)
    return np.tanh(Z, out=out)


def _tanh_from_expit(Z, out):
    # tanh z = 2 sigmoid(2z) - 1. Without AVX-512, numpy's float64 tanh is a
    # scalar loop, 1.7x slower than these six passes. |z| is capped at 20,
    # where tanh is 1 to double precision, so that 2z cannot overflow. The
    # price is an absolute (not relative) error of at most 2^-51 (2 units in
    # the last place of 1), near 0 as well:
    # nothing next to the other terms of the next layer's sums.
    np.maximum(Z, -20.0, out=out)
    np.minimum(out, 20.0, out=out)
    out *= 2
    expit(out, out=out)
    out *= 2
    out -= 1
    return out


def _tanh_backward(Z, A, dA):
    dA *= 1 - A * A
    return dA


def _tanh_xp(xp, Z):
    return xp.tanh(Z)


def _tanh_backward_xp(xp, Z, A, dA):
    return dA * (1 - A * A)


# relu ----------------------------------------------------------------------
# g(z) = max(z, 0),  g'(z) = 1 if z > 0 else 0
def _relu(Z, out):
    return np.maximum(Z, 0, out=out)


def _relu_backward(Z, A, dA):
    # z > 0 exactly when a = max(z, 0) > 0, so the output alone gives g'.
    # Multiplying by the boolean mask is ~20x faster than dA[A <= 0] = 0,
    # a masked scatter.
    dA *= A > 0
    return dA


def _relu_xp(xp, Z):
    return xp.clip(Z, min=0.0)  # max(z, 0); a NaN stays NaN


def _relu_backward_xp(xp, Z, A, dA):
    return dA * xp.astype(A > 0, dA.dtype)  # 3x faster than where() on torch's CPU


# leaky_relu ----------------------------------------------------------------
# g(z) = z if z > 0 else a z,  g'(z) = 1 if z > 0 else a,  with a = 0.01
def _leaky_relu(Z, out):
    # max(z, a z) equals z for z > 0 and a z otherwise, because 0 < a < 1.
    return np.maximum(Z, LEAKY_RELU_SLOPE * Z, out=out)


def _leaky_relu_backward(Z, A, dA):
    # a > 0 exactly when z > 0 (a has the sign of z).
    one, slope = A.dtype.type(1), A.dtype.type(LEAKY_RELU_SLOPE)
    dA *= np.where(A > 0, one, slope)
    return dA


def _leaky_relu_xp(xp, Z):
    return xp.where(Z > 0, Z, LEAKY_RELU_SLOPE * Z)


def _leaky_relu_backward_xp(xp, Z, A, dA):
    return xp.where(A > 0, dA, LEAKY_RELU_SLOPE * dA)


# elu -----------------------------------------------------------------------
# g(z) = z if z > 0 else e^z - 1,  g'(z) = 1 if z > 0 else e^z = g(z) + 1
def _elu(Z, out):
    # expm1 of min(z, 0): exact near 0 and never overflows for large z.
    negative = np.expm1(np.minimum(Z, 0))
    np.copyto(out, np.where(Z > 0, Z, negative))
    return out


def _elu_backward(Z, A, dA):
    # a > 0 exactly when z > 0 (a has the sign of z).
    dA *= np.where(A > 0, A.dtype.type(1), A + 1)
    return dA


def _elu_xp(xp, Z):
    return xp.where(Z > 0, Z, xp.expm1(xp.clip(Z, max=0.0)))


def _elu_backward_xp(xp, Z, A, dA):
    return xp.where(A > 0, dA, dA * (A + 1))


# gelu ----------------------------------------------------------------------
# g(z) = z Phi(z),  g'(z) = Phi(z) + z phi(z),  Phi the standard normal CDF
# Phi(z) = (1 + erf(z / sqrt 2)) / 2,  phi(z) = exp(-z^2 / 2) / sqrt(2 pi)
_INV_SQRT2 = 1 / math.sqrt(2)  # Python floats keep float32 arrays float32
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def _gelu(Z, out):
    Phi = 0.5 * (1 + erf(Z * _INV_SQRT2))
    return np.multiply(Z, Phi, out=out)


def _gelu_backward(Z, A, dA):
    Phi = 0.5 * (1 + erf(Z * _INV_SQRT2))
    # exp(-z^2/2) underflows quietly to 0 at large |z|; z^2 itself is capped
    # so that it cannot overflow.
    Zc = np.clip(Z, -1e3, 1e3)
    phi = np.exp(-0.5 * Zc * Zc) * _INV_SQRT_2PI
    dA *= Phi + Zc * phi
    return dA


# softplus ------------------------------------------------------------------
# g(z) = log(1 + e^z) = max(z, 0) + log1p(e^{-|z|}),  g'(z) = sigmoid(z)
def _softplus(Z, out):
    tail = np.log1p(np.exp(-np.abs(Z)))
    np.maximum(Z, 0, out=out)
    out += tail
    return out


def _softplus_backward(Z, A, dA):
    dA *= expit(Z)
    return dA


def softplus_xp(xp, Z):
    """:math:`\\log(1 + e^z) = \\max(z, 0) + \\log(1 + e^{-|z|})` in namespace ``xp``."""
    return xp.clip(Z, min=0.0) + xp.log1p(xp.exp(-xp.abs(Z)))


def _softplus_backward_xp(xp, Z, A, dA):
    return dA * sigmoid_xp(xp, Z)


# silu (swish) --------------------------------------------------------------
# g(z) = z sigmoid(z),  g'(z) = sigmoid(z) (1 + z (1 - sigmoid(z)))
def _silu(Z, out):
    s = expit(Z)
    return np.multiply(Z, s, out=out)


def _silu_backward(Z, A, dA):
    s = expit(Z)
    dA *= s * (1 + Z * (1 - s))
    return dA


def _silu_xp(xp, Z):
    return Z * sigmoid_xp(xp, Z)


def _silu_backward_xp(xp, Z, A, dA):
    s = sigmoid_xp(xp, Z)
    return dA * s * (1 + Z * (1 - s))


#: The hidden activations, by the name the estimators accept.
ACTIVATIONS: dict[str, Activation] = {
    act.name: act
    for act in (
        Activation(
            "identity",
            _identity,
            _identity_backward,
            derivative_from_output=True,
            xp_forward=_identity_xp,
            xp_backward=_identity_backward_xp,
        ),
        Activation(
            "logistic",
            _logistic,
            _logistic_backward,
            derivative_from_output=True,
            xp_forward=sigmoid_xp,
            xp_backward=_logistic_backward_xp,
        ),
        Activation(
            "tanh",
            _tanh,
            _tanh_backward,
            derivative_from_output=True,
            xp_forward=_tanh_xp,
            xp_backward=_tanh_backward_xp,
        ),
        Activation(
            "relu",
            _relu,
            _relu_backward,
            derivative_from_output=True,
            kinks=(0.0,),
            xp_forward=_relu_xp,
            xp_backward=_relu_backward_xp,
        ),
        Activation(
            "leaky_relu",
            _leaky_relu,
            _leaky_relu_backward,
            derivative_from_output=True,
            kinks=(0.0,),
            xp_forward=_leaky_relu_xp,
            xp_backward=_leaky_relu_backward_xp,
        ),
        Activation(
            "elu",
            _elu,
            _elu_backward,
            derivative_from_output=True,
            kinks=(0.0,),
            xp_forward=_elu_xp,
            xp_backward=_elu_backward_xp,
        ),
        Activation("gelu", _gelu, _gelu_backward),
        Activation(
            "softplus",
            _softplus,
            _softplus_backward,
            xp_forward=softplus_xp,
            xp_backward=_softplus_backward_xp,
        ),
        Activation(
            "silu", _silu, _silu_backward, xp_forward=_silu_xp, xp_backward=_silu_backward_xp
        ),
    )
}
