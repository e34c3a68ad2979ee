"""Output layers and their losses, paired by canonical link.

Each :class:`OutputLoss` couples an output activation :math:`A[L] = g_L(Z[L])`
with the loss it is the canonical link of. For every such pair the derivative
of the per-sample loss with respect to the logits is simply

.. math::

    dZ[L] = A[L] - Y.

Derivation for softmax with categorical cross-entropy: with
:math:`\\ell = -\\sum_k y_k \\log a_k` and :math:`a_k = e^{z_k} / \\sum_j e^{z_j}`,
:math:`\\partial a_j / \\partial z_k = a_j (\\delta_{jk} - a_k)`, so
:math:`\\partial \\ell / \\partial z_k = -\\sum_j y_j (\\delta_{jk} - a_k)
= a_k \\sum_j y_j - y_k = a_k - y_k` because the one-hot :math:`y` sums to one.
The same cancellation happens for the sigmoid with binary cross-entropy
(:math:`\\sigma' = \\sigma (1 - \\sigma)` cancels the denominators of
:math:`-y / a + (1 - y) / (1 - a)`), for the identity with half the squared
error, and for the exponential with the Poisson deviance
(:math:`\\partial (e^z - y z) / \\partial z = e^z - y`). That is why the
output activations need no derivative of their own.

The per-sample losses are computed from the logits ``Z[L]`` (log-sum-exp,
softplus), never as ``log(A[L])``, so they are finite at any input and no
probability needs clipping. The probabilities a classifier reports are
clipped into (0, 1), with logs that sort alike, by :func:`log_probabilities`.

Each pair has an array API form too (``xp_forward``, ``xp_sample_losses``:
the same equations in any namespace ``xp``, returning new arrays), which
:mod:`scratchmlp._network_xp` runs.

Shapes: ``Z``, ``A``, ``Y`` are ``(n[L], m)``; per-sample losses are ``(m,)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import xlogy

# One home for g and its helpers: the identity, logistic and softplus of the
# hidden layers serve the outputs too.
from ._activations import _identity, _identity_xp, _logistic, _softplus, sigmoid_xp, softplus_xp

__all__ = ["OutputLoss", "LOSSES", "log_softmax", "softmax"]


def softmax(Z: NDArray, out: NDArray) -> NDArray:
    """Column-wise softmax :math:`a_k = e^{z_k - \\max z} / \\sum_j e^{z_j - \\max z}`.

    Parameters
    ----------
    Z : ndarray of shape (n[L], m)
        Logits, one column per sample.
    out : ndarray of shape (n[L], m)
        Where to write the probabilities; may be ``Z`` itself.

    Returns
    -------
    out : ndarray of shape (n[L], m)
    """
    # Subtracting the column max leaves softmax unchanged and makes every
    # exponent <= 0, so exp never overflows.
    np.subtract(Z, Z.max(axis=0), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=0)
    return out


def log_softmax(Z: NDArray) -> NDArray:
    """Column-wise :math:`\\log \\mathrm{softmax}(Z) = Z - \\max Z - \\log\\sum e^{Z - \\max Z}`.

    Parameters
    ----------
    Z : ndarray of shape (n[L], m)

    Returns
    -------
    log_A : ndarray of shape (n[L], m)
        Finite wherever ``Z`` is finite.
    """
    shifted = Z - Z.max(axis=0)
    shifted -= np.log(np.exp(shifted).sum(axis=0))
    return shifted


def log_probabilities(P: NDArray, axis: int = 0) -> NDArray:
    """Clip probabilities into the open interval (0, 1) and take their logs, ties kept alike.

    Three steps, each sample (a column for ``axis=0``, a row for ``axis=1``)
    on its own:

    1. clip, in place: :math:`p \\leftarrow \\min(\\max(p, t), 1 - \\epsilon^-)`,
       with :math:`t` the smallest normal number of the dtype
       (``np.finfo(dtype).tiny``) and :math:`1 - \\epsilon^-` the largest
       float below 1;
    2. take :math:`\\ell = \\log p` (numpy's ``log``, in the dtype of ``P``);
    3. merge: sort the sample's entries by :math:`p`; an entry starts a new
       group when its :math:`\\ell` is greater than the :math:`\\ell` of every
       entry before it, and every entry takes the :math:`p` and the
       :math:`\\ell` of its group's first entry.

    Step 3 is needed because ``log`` rounds distinct floats to one value
    where :math:`|\\log p| > 1` (and float32's ``log`` is not even monotone
    everywhere, by one unit in the last place). It changes a probability by
    at most about :math:`\\epsilon |\\ell|` relatively, only where such ties
    occur, and leaves these exact properties:

    - ``np.log(P) == L`` element by element, and ``L`` is finite:
      :math:`\\log t \\le \\ell < 0`;
    - within a sample, ``P[i] < P[j]`` exactly when ``L[i] < L[j]``, and
      ``P[i] == P[j]`` exactly when ``L[i] == L[j]``, so both sort alike,
      ties included.

    Parameters
    ----------
    P : ndarray of shape (n[L], m) for ``axis=0``, (m, n[L]) for ``axis=1``
        Probabilities in [0, 1], a float dtype; clipped and merged in place.
    axis : {0, 1}, default=0
        The axis along which one sample's probabilities lie.

    Returns
    -------
    L : ndarray of the shape and dtype of ``P``
        :math:`\\log P` after the clipping and merging.
    """
    clip_probabilities(P, axis)
    return np.log(P)


def clip_probabilities(P: NDArray, axis: int = 0) -> None:
    """Steps 1 and 3 of :func:`log_probabilities`, in place, without the logs.

    Parameters
    ----------
    P : ndarray of shape (n[L], m) for ``axis=0``, (m, n[L]) for ``axis=1``
        Probabilities in [0, 1]; left as :func:`log_probabilities` leaves them.
    axis : {0, 1}, default=0
    """
    info = np.finfo(P.dtype)
    np.maximum(P, info.tiny, out=P)
    np.minimum(P, P.dtype.type(1) - P.dtype.type(info.epsneg), out=P)
    if P.shape[axis] > 1:
        _merge_log_ties(np.moveaxis(P, axis, -1))


def clip_probabilities_xp(xp, P, to_host: Callable, from_host: Callable):
    """:func:`clip_probabilities` for probabilities ``P`` of shape (m, n[L]) in namespace ``xp``.

    Steps 1 and 3 as a new array: the clip in ``xp``, and the search for a
    sample whose logs tie or step back, also in ``xp``. Only if one exists
    (rarely: saturated models) does ``P`` go to the host for the merge and
    come back.
    """
    info = xp.finfo(P.dtype)
    # The largest float below 1 is 1 - eps / 2 (numpy's 1 - epsneg).
    P = xp.clip(P, float(info.smallest_normal), 1 - float(info.eps) / 2)
    if P.shape[1] == 1:
        return P
    P_sorted = xp.sort(P, axis=1)
    L_sorted = xp.log(P_sorted)
    step = (L_sorted[:, 1:] <= L_sorted[:, :-1]) & (P_sorted[:, 1:] != P_sorted[:, :-1])
    if not bool(xp.any(step)):
        return P
    host = np.array(to_host(P), copy=True)
    _merge_log_ties(host)
    return from_host(host)


def _merge_log_ties(P: NDArray) -> None:
    """Step 3 of :func:`log_probabilities` for the rows of ``P`` (m, k), in place."""
    k = P.shape[-1]
    # Find the rows that need it first, cheaply: those with a step, in sorted
    # order, that raises p but not log p. Usually there are none, and the
    # rows are sorted without their indices, as one flat array.
    P_sorted = np.sort(P, axis=-1).ravel()
    L_sorted = np.log(P_sorted)
    step = 1 + np.flatnonzero((L_sorted[1:] <= L_sorted[:-1]) & (P_sorted[1:] != P_sorted[:-1]))
    rows = np.unique(step[step % k != 0] // k)  # a step from one row to the next is no step
    if rows.size == 0:
        return
    order = np.argsort(P[rows], axis=-1)
    P_sorted = np.take_along_axis(P[rows], order, axis=-1)
    L_sorted = np.log(P_sorted)
    # An entry begins a run when its log exceeds every log before it; the
    # others take the probability of the entry that began their run.
    begins = np.empty(L_sorted.shape, dtype=bool)
    begins[:, 0] = True
    np.greater(L_sorted[:, 1:], np.maximum.accumulate(L_sorted, axis=-1)[:, :-1], out=begins[:, 1:])
    first = np.where(begins, np.arange(k), 0)
    np.maximum.accumulate(first, axis=-1, out=first)
    merged = np.empty_like(P_sorted)
    np.put_along_axis(merged, order, np.take_along_axis(P_sorted, first, axis=-1), axis=-1)
    P[rows] = merged


def _exp(Z, out):
    # exp(z) overflows beyond log(max float); saturate there instead of
    # returning inf, so that a wild prediction is large but finite.
    # The float just below log(max): in float32, log(max) itself rounds up.
    top = np.nextafter(np.log(np.finfo(Z.dtype).max), Z.dtype.type(0))
    np.minimum(Z, top, out=out)
    return np.exp(out, out=out)


# Per-sample losses, l(y, z) summed over the outputs, from the logits. --------
def _categorical_cross_entropy(Y, Z, A):
    # l = -sum_k y_k log softmax(z)_k
    return -(Y * log_softmax(Z)).sum(axis=0)


def _binary_cross_entropy(Y, Z, A):
    # l = -[y log s(z) + (1 - y) log(1 - s(z))] = softplus(z) - y z
    return (_softplus(Z, np.empty_like(Z)) - Y * Z).sum(axis=0)


def _half_squared_error(Y, Z, A):
    # l = (1/2) mean_k (a_k - y_k)^2 : scikit-learn's normalisation, averaged
    # over the outputs (the gradient below divides by n_outputs to match).
    return 0.5 * np.square(A - Y).mean(axis=0)


def _poisson_deviance(Y, Z, A):
    # l = sum_k y log(y / a) - y + a, with log a = z (scikit-learn's form,
    # including the constant y log y - y that makes a perfect fit cost 0).
    return (xlogy(Y, Y) - Y * Z - Y + A).sum(axis=0)


# The same pairs in an array API namespace xp: new arrays, no buffers. -------
def softmax_xp(xp, Z):
    """:func:`softmax` in namespace ``xp``: the column max subtracted, so exp cannot overflow."""
    E = xp.exp(Z - xp.max(Z, axis=0, keepdims=True))
    return E / xp.sum(E, axis=0, keepdims=True)


def log_softmax_xp(xp, Z):
    """:func:`log_softmax` in namespace ``xp``."""
    shifted = Z - xp.max(Z, axis=0, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=0, keepdims=True))


def _exp_xp(xp, Z):
    # Saturate just below log(max float), like _exp (a margin that survives
    # the rounding of the bound to float32).
    top = math.log(float(xp.finfo(Z.dtype).max)) * (1 - 1e-6)
    return xp.exp(xp.clip(Z, max=top))


def _categorical_cross_entropy_xp(xp, Y, Z, A):
    return -xp.sum(Y * log_softmax_xp(xp, Z), axis=0)


def _binary_cross_entropy_xp(xp, Y, Z, A):
    return xp.sum(softplus_xp(xp, Z) - Y * Z, axis=0)


def _half_squared_error_xp(xp, Y, Z, A):
    return 0.5 * xp.mean((A - Y) ** 2, axis=0)


def _poisson_deviance_xp(xp, Y, Z, A):
    # y log y with 0 log 0 = 0, without evaluating log 0.
    y_log_y = Y * xp.log(xp.where(Y > 0, Y, 1.0))
    return xp.sum(y_log_y - Y * Z - Y + A, axis=0)


# Upper bounds of one sample's loss when every |z_k| <= a and |y_k| <= y (k
# outputs), in Python floats (inf rather than an error on overflow): what
# training needs to know whether any sample could make the cost overflow.
def _exp_bound(a: float) -> float:
    return math.exp(a) if a < 709.0 else math.inf


def _categorical_bound(a, y, k):
    # -log softmax(z)_k = logsumexp(z) - z_k <= 2a + log k
    return k * y * (2 * a + math.log(k))


def _binary_bound(a, y, k):
    # softplus(z) <= a + log 2, |y z| <= y a
    return k * (a + 1 + y * a)


def _squared_bound(a, y, k):
    return 0.5 * (a + y) * (a + y)


def _poisson_bound(a, y, k):
    # |y log y| <= y (y + 1), |y z| <= y a, exp(z) <= exp(a)
    return k * (y * (y + 1) + y * a + y + _exp_bound(a))


@dataclass(frozen=True)
class OutputLoss:
    """An output activation paired with the loss it is the canonical link of.

    Parameters
    ----------
    name : str
        The loss name, e.g. ``"log_loss"``.
    out_activation : str
        The output activation's name, as scikit-learn's ``out_activation_``.
    forward : callable ``(Z, out) -> out``
        :math:`A[L] = g_L(Z[L])`.
    sample_losses : callable ``(Y, Z, A) -> ndarray of shape (m,)``
        The loss of each sample, summed over the outputs.
    mean_over_outputs : bool
        True when the loss averages (rather than sums) over the outputs, in
        which case :math:`dZ[L] = (A[L] - Y) / n[L]`.
    loss_bound : callable ``(a, y_max, n_outputs) -> float`` or None
        An upper bound of one sample's loss when every ``|Z[L]|`` entry is
        at most ``a`` and every ``|Y|`` entry at most ``y_max`` (``inf`` when
        it overflows a float64).
    xp_forward : callable ``(xp, Z) -> A``
        ``forward`` in an array API namespace ``xp``.
    xp_sample_losses : callable ``(xp, Y, Z, A) -> array of shape (m,)``
        ``sample_losses`` in ``xp``.
    """

    name: str
    out_activation: str
    forward: Callable[[NDArray, NDArray], NDArray]
    sample_losses: Callable[[NDArray, NDArray, NDArray], NDArray]
    mean_over_outputs: bool = False
    loss_bound: Callable[[float, float, int], float] | None = None
    xp_forward: Callable | None = None
    xp_sample_losses: Callable | None = None

    def output_delta(self, Y: NDArray, A: NDArray, out: NDArray) -> NDArray:
        """Write :math:`dZ[L] = A[L] - Y` (the canonical-link gradient) into ``out``.

        Parameters
        ----------
        Y : ndarray of shape (n[L], m)
            Targets: one-hot or indicator columns, or real values.
        A : ndarray of shape (n[L], m)
            The network's output.
        out : ndarray of shape (n[L], m)

        Returns
        -------
        dZ : ndarray of shape (n[L], m)
            The derivative of each sample's loss with respect to ``Z[L]``.
        """
        np.subtract(A, Y, out=out)
        if self.mean_over_outputs and out.shape[0] > 1:
            out /= out.shape[0]
        return out


#: Output/loss pairs by the key the estimators use.
LOSSES: dict[str, OutputLoss] = {
    loss.name: loss
    for loss in (
        OutputLoss(
            "log_loss",
            "softmax",
            softmax,
            _categorical_cross_entropy,
            loss_bound=_categorical_bound,
            xp_forward=softmax_xp,
            xp_sample_losses=_categorical_cross_entropy_xp,
        ),
        OutputLoss(
            "binary_log_loss",
            "logistic",
            _logistic,
            _binary_cross_entropy,
            loss_bound=_binary_bound,
            xp_forward=sigmoid_xp,
            xp_sample_losses=_binary_cross_entropy_xp,
        ),
        OutputLoss(
            "squared_error",
            "identity",
            _identity,
            _half_squared_error,
            mean_over_outputs=True,
            loss_bound=_squared_bound,
            xp_forward=_identity_xp,
            xp_sample_losses=_half_squared_error_xp,
        ),
        OutputLoss(
            "poisson",
            "exp",
            _exp,
            _poisson_deviance,
            loss_bound=_poisson_bound,
            xp_forward=_exp_xp,
            xp_sample_losses=_poisson_deviance_xp,
        ),
    )
}
