"""The engine in any array API namespace: the article's equations, one per line.

The same forward and backward propagation as :mod:`scratchmlp._network`, for
arrays of a namespace ``xp`` of the array API standard (torch on CPU or CUDA,
CuPy, array-api-strict), on the device of the network's parameters. The
shape legend, the cost ``J`` and its gradient are those of
:mod:`scratchmlp._network`; only the way the arrays are held differs:

* every step returns a new array (the standard has no ``out=``), so ``Z[l]``
  and ``A[l]`` are always two arrays; a device's allocator (torch's caching
  allocator, CuPy's memory pool) reuses their memory from batch to batch;
* the gradient is one flat vector, ``dW[l]`` and ``db[l]`` concatenated in
  :attr:`Network.theta <scratchmlp._network.Network.theta>`'s layout;
* no sparse input (the estimators refuse it with a clear error before this).

A network reaches these functions through its ``engine``
(:attr:`Network.engine <scratchmlp._network.Network.engine>`), chosen by its
:class:`~scratchmlp._arrays.ArrayAPIOps`; the training driver and the
inference code call ``net.engine.forward(...)``,
``net.engine.cost_and_gradient(...)`` and never test the namespace. The
signatures match :mod:`scratchmlp._network`'s, buffers included (a
:class:`Workspace` here holds no buffers, only the batch size).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._network import Cache, Layers, Network

__all__ = [
    "Workspace",
    "Gradient",
    "network_dropout_masks",
    "forward",
    "forward_bounded",
    "backward",
    "cost",
    "cost_and_gradient",
    "layer_magnitudes",
    "inference_buffers",
]

Array = object  # an array of the network's namespace


class Workspace:
    """The array API engine reuses no buffers: this records the largest batch only.

    Parameters
    ----------
    max_m : int
        The largest batch.
    """

    def __init__(self, max_m: int) -> None:
        self.max_m = int(max_m)

    @classmethod
    def for_network(cls, net: Network, max_m: int) -> Workspace:
        return cls(max_m)

    def cache(self, m: int) -> None:
        return None

    def input_buffer(self, m: int) -> None:
        return None


class Gradient:
    """The gradient of the cost as one flat vector, with ``dW[l]``, ``db[l]`` kept beside it.

    Attributes
    ----------
    flat : array of shape (n_parameters,)
        :attr:`Network.theta <scratchmlp._network.Network.theta>`'s layout.
    dW, db : list
        ``dW[l]`` of shape (n[l], n[l-1]), ``db[l]`` of shape (n[l], 1).
    """

    def __init__(self, xp, dW: Layers, db: Layers) -> None:
        self.dW, self.db = dW, db
        parts = []
        for l in range(1, len(dW)):
            parts += [xp.reshape(dW[l], (-1,)), xp.reshape(db[l], (-1,))]
        self.flat = xp.concat(parts)

    @classmethod
    def zeros(cls, net: Network) -> Gradient:
        """The all-zero gradient (no sample carries weight)."""
        xp = net.ops.xp
        zeros = [None] + [xp.zeros_like(W) for W in net.W[1:]]
        return cls(xp, zeros, [None] + [xp.zeros_like(b) for b in net.b[1:]])


def network_dropout_masks(
    net: Network, rng: np.random.RandomState, m: int, rates: Sequence
) -> Layers:
    """Inverted-dropout masks ``D[l]`` of shape (n[l], m), drawn on the host and moved.

    The draws are those of :func:`scratchmlp._network.dropout_masks` (one
    ``random_sample`` of shape (n[l], m) per layer with dropout, from the
    fit's ``rng``), so a ``random_state`` drops the same units in every
    namespace; each mask then goes to the network's device.
    """
    L, n, ops = net.L, net.layer_sizes, net.ops
    D: Layers = [None] * (L + 1)
    for l in range(1, L):
        p = rates[l]
        if p > 0:
            keep = rng.random_sample((n[l], m)) >= p
            D[l] = ops.xp.astype(ops.from_host(keep), net.dtype) / (1 - p)
    return D


def forward(net: Network, A0, cache: Cache | None = None, D: Layers | None = None) -> Cache:
    """Forward propagation: ``Z[l] = W[l] A[l-1] + b[l]``, ``A[l] = g[l](Z[l])``.

    Parameters
    ----------
    net : Network
    A0 : array of shape (n[0], m)
        The input, one column per sample, of the network's namespace, device and dtype.
    cache : ignored
        For the signature of :func:`scratchmlp._network.forward`.
    D : list, optional
        Dropout masks from :func:`dropout_masks`.

    Returns
    -------
    cache : Cache
        ``Z[l]``, ``A[l]`` of shape (n[l], m), ``A[0] is A0``.
    """
    xp, L = net.ops.xp, net.L
    cache = Cache([None] * (L + 1), [A0] + [None] * L, D)
    Z, A = cache.Z, cache.A
    for l in range(1, L + 1):
        Z[l] = net.W[l] @ cache.layer_input(l) + net.b[l]
        A[l] = net.g[l].xp_forward(xp, Z[l])
        if cache.D[l] is not None:
            cache.A_dropped[l] = A[l] * cache.D[l]
    return cache


def forward_bounded(net: Network, A0, cache: Cache | None = None) -> Cache:
    """:func:`forward` with each layer's input clipped so that no ``Z[l]`` overflows.

    The bound of :func:`scratchmlp._network.forward_bounded`:
    :math:`c_l = \\text{max float} / (4 \\max_i \\sum_j |W[l]_{ij}|)`.
    """
    xp, L = net.ops.xp, net.L
    top = float(xp.finfo(net.dtype).max) / 4
    cache = Cache([None] * (L + 1), [A0] + [None] * L)
    Z, A = cache.Z, cache.A
    for l in range(1, L + 1):
        row_sums = float(xp.max(xp.sum(xp.abs(net.W[l]), axis=1)))
        bound = top / max(row_sums, 1.0)
        Z[l] = net.W[l] @ xp.clip(A[l - 1], -bound, bound) + net.b[l]
        A[l] = net.g[l].xp_forward(xp, Z[l])
    return cache


def _weight_total(xp, sample_weight, m: int) -> float:
    """:math:`S = \\sum_i s_i`, or ``m`` without weights."""
    return float(m) if sample_weight is None else float(xp.sum(sample_weight))


def backward(
    net: Network,
    cache: Cache,
    Y,
    sample_weight=None,
    alpha: float = 0.0,
    grad=None,
    deltas=None,
) -> Gradient:
    """Backward propagation: ``dW[l]``, ``db[l]`` for ``l = L, ..., 1``.

    .. math::

        dZ[L] = \\tfrac{1}{S} (A[L] - Y) \\operatorname{diag}(s), \\quad
        dW[l] = dZ[l] A[l-1]^T + \\tfrac{\\lambda}{S} W[l], \\quad
        db[l] = \\textstyle\\sum_i dZ[l]_{:, i}, \\quad
        dZ[l-1] = W[l]^T dZ[l] \\odot g'[l-1](Z[l-1])

    Parameters
    ----------
    net : Network
    cache : Cache
        From :func:`forward` on the same batch.
    Y : array of shape (n[L], m)
    sample_weight : array of shape (m,), optional
    alpha : float, default=0.0
    grad, deltas : ignored
        For the signature of :func:`scratchmlp._network.backward`.

    Returns
    -------
    grad : Gradient
    """
    xp, Z, A, W, L = net.ops.xp, cache.Z, cache.A, net.W, net.L
    S = _weight_total(xp, sample_weight, A[L].shape[1])
    if S == 0:
        return Gradient.zeros(net)
    dZ = (A[L] - Y) / S if sample_weight is None else (A[L] - Y) * (sample_weight / S)
    if net.loss.mean_over_outputs and dZ.shape[0] > 1:
        dZ = dZ / dZ.shape[0]
    dW: Layers = [None] * (L + 1)
    db: Layers = [None] * (L + 1)
    for l in range(L, 0, -1):
        dW[l] = dZ @ cache.layer_input(l).T + (alpha / S) * W[l]
        db[l] = xp.sum(dZ, axis=1, keepdims=True)
        if l > 1:
            dA_prev = W[l].T @ dZ
            if cache.D[l - 1] is not None:
                dA_prev = dA_prev * cache.D[l - 1]  # through the dropout
            dZ = net.g[l - 1].xp_backward(xp, Z[l - 1], A[l - 1], dA_prev)
    return Gradient(xp, dW, db)


def sample_losses(net: Network, cache: Cache, Y) -> Array:
    """Each sample's loss, of shape (m,), from the logits ``Z[L]`` and the output ``A[L]``."""
    L = net.L
    return net.loss.xp_sample_losses(net.ops.xp, Y, cache.Z[L], cache.A[L])


def cost(net: Network, cache: Cache, Y, sample_weight=None, alpha: float = 0.0) -> float:
    """The cost ``J``: weighted mean loss plus the L2 penalty, as a Python float."""
    xp = net.ops.xp
    S = _weight_total(xp, sample_weight, cache.A[net.L].shape[1])
    if S == 0:
        return 0.0
    losses = sample_losses(net, cache, Y)
    data = xp.sum(losses) if sample_weight is None else xp.sum(losses * sample_weight)
    return (float(data) + 0.5 * alpha * squared_weights(net)) / S


def squared_weights(net: Network) -> float:
    """:math:`\\sum_l \\lVert W[l] \\rVert_F^2`, as a Python float."""
    xp = net.ops.xp
    return sum(float(xp.sum(net.W[l] * net.W[l])) for l in range(1, net.L + 1))


def cost_and_gradient(
    net: Network,
    A0,
    Y,
    sample_weight=None,
    alpha: float = 0.0,
    workspace: Workspace | None = None,
    D: Layers | None = None,
) -> tuple[float, Gradient]:
    """``J`` and its gradient at the network's current parameters (see :func:`backward`)."""
    cache = forward(net, A0, D=D)
    J = cost(net, cache, Y, sample_weight, alpha)
    return J, backward(net, cache, Y, sample_weight, alpha)


def layer_magnitudes(net: Network, l: int) -> tuple[float, float]:
    """``(max_i ||W[l]_{i,:}||^2, max |b[l]|)`` for :func:`scratchmlp._network.logit_bound`."""
    xp = net.ops.xp
    rows = xp.sum(net.W[l] * net.W[l], axis=1)  # squared row norms
    return float(xp.max(rows)), float(xp.max(xp.abs(net.b[l])))


def inference_buffers(net: Network, m: int) -> None:
    """Prediction reuses no buffers here (see :func:`scratchmlp._network.inference_buffers`)."""
    return None
