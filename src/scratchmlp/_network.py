"""The engine: forward propagation, backward propagation, cost and gradient.

Shape legend (the notation of the classic derivation, kept everywhere):

==========================  ==================  ================  ==========================
math                        code                shape             note
==========================  ==================  ================  ==========================
m, L, n[l]                  ``m, L, n[l]``      int               ``n = layer_sizes``,
                                                                  ``L = len(n) - 1``
A[0] = X                    ``A[0]``            (n[0], m)         one column per sample
W[l], b[l]                  ``W[l], b[l]``      (n[l], n[l-1]),   ``W[0] = b[0] = None``
                                                (n[l], 1)
Z[l] = W[l] A[l-1] + b[l]   ``Z[l]``            (n[l], m)         pre-activation (see below)
A[l] = g[l](Z[l])           ``A[l]``            (n[l], m)         post-activation
dZ[l], dA[l-1], dW[l], db   ``dZ[l]`` ...       like the primal   ``d`` = derivative of J
s (sample weights)          ``sample_weight``   (m,)              ``S = sum(s)``
Y                           ``Y``               (n[L], m)         one-hot / indicator / real
lambda                      ``alpha``           float             L2 strength
==========================  ==================  ================  ==========================

The list index is the layer number ``l`` in every list here: ``Z[0]`` is
unused, ``A[0]`` is the input, ``W[1]`` maps the input to the first hidden
layer, ``W[L]`` the last hidden layer to the output.

``Z[l]`` holds the pre-activation while layer ``l`` is computed. Where a
hidden layer's derivative needs only its output (relu, tanh, logistic, ...),
training (:meth:`Workspace.for_network`) and prediction
(:meth:`Cache.for_inference`) give ``Z[l]`` and ``A[l]`` one buffer: ``g[l]``
then overwrites ``Z[l]`` with ``A[l]``, and after the forward pass both names
hold the post-activation. The output's ``Z[L]`` (the logits) is always kept.

The cost of a weighted sample is scikit-learn's

.. math::

    J = \\frac{1}{S} \\sum_{i=1}^m s_i \\, \\ell(y_i, z_i)
        + \\frac{\\lambda}{2 S} \\sum_{l=1}^L \\lVert W[l] \\rVert_F^2,
    \\qquad S = \\sum_i s_i,

(``s_i = 1`` and ``S = m`` without weights), whose gradient is, for
``l = L, ..., 1``:

.. math::

    dZ[L] &= \\frac{1}{S} (A[L] - Y) \\operatorname{diag}(s) \\\\
    dW[l] &= dZ[l] \\, A[l-1]^T + \\frac{\\lambda}{S} W[l] \\\\
    db[l] &= \\textstyle\\sum_{i} dZ[l]_{:, i} \\\\
    dA[l-1] &= W[l]^T dZ[l] \\\\
    dZ[l-1] &= dA[l-1] \\odot g'[l-1](Z[l-1])

``dZ[l]`` is the derivative of the cost ``J`` itself, so the weights and the
``1/S`` enter once, at the output, and every layer below is the plain chain
rule.

All parameters live in one flat vector ``theta``; ``W[l]`` and ``b[l]`` are
views into it, and gradients share the same layout. L-BFGS then needs no
packing, and an optimizer step is a few vector operations.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.linalg.blas import get_blas_funcs

from ._activations import ACTIVATIONS
from ._arrays import ArrayOps, array_ops
from ._losses import LOSSES, OutputLoss

__all__ = [
    "Network",
    "Cache",
    "Gradient",
    "Workspace",
    "dropout_masks",
    "network_dropout_masks",
    "inference_buffers",
    "layer_magnitudes",
    "squared_weights",
    "parameter_views",
    "dense_forward",
    "dense_backward",
    "forward",
    "forward_bounded",
    "backward",
    "cost",
    "cost_and_gradient",
    "sample_losses",
    "logit_bound",
    "overflow_free",
]

Layers = list  # a list indexed by the layer number l = 0..L


def n_parameters(layer_sizes: Sequence[int]) -> int:
    """Number of weights and biases of a network with ``layer_sizes``."""
    n = layer_sizes
    return sum(n[l] * n[l - 1] + n[l] for l in range(1, len(n)))


def parameter_views(theta: NDArray, layer_sizes: Sequence[int], xp=np) -> tuple[Layers, Layers]:
    """Views ``W[l]``, ``b[l]`` into a flat parameter vector.

    The layout is ``[W[1], b[1], W[2], b[2], ..., W[L], b[L]]``, each ``W[l]``
    in C order.

    Parameters
    ----------
    theta : ndarray of shape (n_parameters,)
    layer_sizes : sequence of int
        ``n[0], ..., n[L]``.
    xp : namespace, default=numpy
        The namespace of ``theta`` (its ``reshape`` of a slice is a view).

    Returns
    -------
    W : list of length L + 1
        ``W[0] = None``, ``W[l]`` an ndarray view of shape (n[l], n[l-1]).
    b : list of length L + 1
        ``b[0] = None``, ``b[l]`` an ndarray view of shape (n[l], 1).
    """
    n = layer_sizes
    W: Layers = [None]
    b: Layers = [None]
    start = 0
    for l in range(1, len(n)):
        stop = start + n[l] * n[l - 1]
        W.append(xp.reshape(theta[start:stop], (n[l], n[l - 1])))
        start, stop = stop, stop + n[l]
        b.append(xp.reshape(theta[start:stop], (n[l], 1)))
        start = stop
    return W, b


class Network:
    """The parameters and functions of an L-layer perceptron.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``n[0], ..., n[L]``: inputs, hidden layers, outputs.
    activation : str or sequence of str
        The hidden activation ``g[l]`` for ``l = 1..L-1``: one name for all
        hidden layers, or one name per hidden layer.
    loss : str
        A key of :data:`scratchmlp.engine.LOSSES`; fixes ``g[L]``.
    dtype : numpy dtype, default=float64
        (A dtype of ``ops.xp`` for another namespace.)
    theta : ndarray of shape (n_parameters,), optional
        Initial parameters (used as is, not copied); zeros when omitted.
    ops : ArrayOps, optional
        The namespace and device of the parameters and its engine
        (:mod:`scratchmlp._arrays`); numpy when omitted.

    Attributes
    ----------
    L : int
        Number of layers with weights.
    W, b : list of ndarray
        ``W[l]`` of shape (n[l], n[l-1]) and ``b[l]`` of shape (n[l], 1),
        views into ``theta``; index 0 is None.
    g : list
        ``g[l]`` is layer ``l``'s activation (``g[0]`` is None); ``g[L]``
        is the output activation, whose gradient comes from the loss.
    loss : OutputLoss
    ops : ArrayOps
        The array operations training applies to ``theta`` (the seam for a
        second array namespace, see :mod:`scratchmlp._arrays`).
    engine : module
        ``ops.engine``: the forward, backward and cost functions for
        ``theta``'s namespace (this module for numpy).
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activation: str | Sequence[str],
        loss: str,
        dtype=np.float64,
        theta: NDArray | None = None,
        ops: ArrayOps | None = None,
    ) -> None:
        self.layer_sizes = [int(k) for k in layer_sizes]
        self.L = len(self.layer_sizes) - 1
        hidden = [activation] * (self.L - 1) if isinstance(activation, str) else list(activation)
        if len(hidden) != self.L - 1:
            raise ValueError(f"Expected {self.L - 1} hidden activations, got {len(hidden)}.")
        self.loss: OutputLoss = LOSSES[loss]
        self.activation_names: Layers = [None, *hidden, self.loss.out_activation]
        self.g: Layers = [None, *(ACTIVATIONS[name] for name in hidden), self.loss]
        self.ops: ArrayOps = ops if ops is not None else array_ops(theta)
        if theta is None:
            theta = self.ops.zeros(n_parameters(self.layer_sizes), dtype)
        self.theta = theta
        self.W, self.b = parameter_views(theta, self.layer_sizes, self.ops.xp)

    @property
    def engine(self):
        """The engine module of the parameters' namespace (see :attr:`ops`)."""
        return self.ops.engine

    @property
    def dtype(self) -> np.dtype:
        """The floating dtype of the parameters and of every computation."""
        return self.theta.dtype

    def copy(self) -> Network:
        """A network with the same structure and a copy of the parameters."""
        return Network(
            self.layer_sizes,
            self.activation_names[1 : self.L],
            self.loss.name,
            theta=self.ops.copy(self.theta),
            ops=self.ops,
        )

    def weight_slices(self) -> list[slice]:
        """Where each ``W[l]`` lies in ``theta``, for ``l = 1..L``."""
        n, slices, start = self.layer_sizes, [], 0
        for l in range(1, self.L + 1):
            slices.append(slice(start, start + n[l] * n[l - 1]))
            start += n[l] * n[l - 1] + n[l]
        return slices

    def set_theta(self, theta: NDArray) -> None:
        """Copy a flat parameter vector in (casting to this network's dtype).

        ``theta`` is of the network's namespace, or a numpy array from the host.
        """
        self.ops.set_theta(self.theta, theta)

    # Pickle only the flat vector: the views are rebuilt on load, so they stay
    # views (pickling the lists would store detached copies).
    def __getstate__(self) -> dict:
        state = {
            "layer_sizes": self.layer_sizes,
            "activation": self.activation_names[1 : self.L],
            "loss": self.loss.name,
            "theta": self.theta,
        }
        if not self.ops.is_numpy:
            state["ops"] = self.ops
        return state

    def __setstate__(self, state: dict) -> None:
        self.__init__(
            state["layer_sizes"],
            state["activation"],
            state["loss"],
            theta=state["theta"],
            ops=state.get("ops"),
        )


class Cache:
    """What the forward pass keeps for the backward pass.

    Attributes
    ----------
    Z : list of ndarray
        ``Z[l]`` of shape (n[l], m), ``Z[0] = None``. A hidden ``Z[l]`` may be
        the same array as ``A[l]`` (:meth:`Workspace.for_network`,
        :meth:`for_inference`): ``A[l]`` is then computed over it, and the
        pre-activation is not kept after the forward pass.
    A : list
        ``A[0]`` the input (n[0], m), dense or sparse; ``A[l]`` of shape (n[l], m).
    D : list of ndarray or None
        Inverted-dropout masks: ``D[l]`` of shape (n[l], m) holds 0 for a
        dropped unit and ``1 / (1 - p[l])`` for a kept one, or is None when
        layer ``l`` has no dropout. The next layer then sees
        ``A[l] * D[l]``, kept in ``A_dropped[l]``.
    """

    def __init__(self, Z: Layers, A: Layers, D: Layers | None = None) -> None:
        self.Z = Z
        self.A = A
        self.D = D if D is not None else [None] * len(A)
        self.A_dropped: Layers = [None] * len(A)

    def layer_input(self, l: int):
        """What layer ``l`` multiplies: ``A[l-1]``, or ``A[l-1] * D[l-1]`` under dropout."""
        return self.A[l - 1] if self.D[l - 1] is None else self.A_dropped[l - 1]

    @classmethod
    def empty(cls, layer_sizes: Sequence[int], m: int, dtype) -> Cache:
        """Newly allocated buffers for a batch of ``m`` samples."""
        n = layer_sizes
        Z = [None] + [np.empty((n[l], m), dtype=dtype) for l in range(1, len(n))]
        A = [None] + [np.empty((n[l], m), dtype=dtype) for l in range(1, len(n))]
        return cls(Z, A)

    @classmethod
    def for_inference(cls, layer_sizes: Sequence[int], m: int, dtype) -> Cache:
        """Buffers for prediction: half the memory, no backward pass possible.

        Each hidden ``A[l]`` is computed in place over ``Z[l]`` (the two names
        share one buffer, so a hidden ``Z[l]`` is not kept); the output layer
        keeps both ``Z[L]`` (the logits) and ``A[L]``.
        """
        n, L = layer_sizes, len(layer_sizes) - 1
        A = [None] + [np.empty((n[l], m), dtype=dtype) for l in range(1, L + 1)]
        Z = [None, *A[1:L], np.empty((n[L], m), dtype=dtype)]
        return cls(Z, A)


def dropout_masks(
    rng: np.random.RandomState, layer_sizes: Sequence[int], m: int, rates: Sequence, dtype
) -> Layers:
    """Draw inverted-dropout masks ``D[l]`` for the hidden layers.

    Parameters
    ----------
    rng : numpy.random.RandomState
    layer_sizes : sequence of int
    m : int
        Samples in the batch.
    rates : sequence of float
        ``rates[l]`` is the drop probability :math:`p[l]` of hidden layer
        ``l`` (index 0 and L ignored).
    dtype : numpy dtype

    Returns
    -------
    D : list
        ``D[l]`` of shape (n[l], m), with entries 0 (probability :math:`p[l]`)
        or :math:`1 / (1 - p[l])`, so that ``E[A[l] * D[l]] = A[l]``; None
        where :math:`p[l] = 0`.
    """
    L = len(layer_sizes) - 1
    D: Layers = [None] * (L + 1)
    for l in range(1, L):
        p = rates[l]
        if p > 0:
            keep = rng.random_sample((layer_sizes[l], m)) >= p
            D[l] = keep.astype(dtype) / np.dtype(dtype).type(1 - p)
    return D


def inference_buffers(net: Network, m: int) -> Cache:
    """Buffers for predicting ``m`` rows, reused chunk to chunk (:meth:`Cache.for_inference`)."""
    return Cache.for_inference(net.layer_sizes, m, net.dtype)


def network_dropout_masks(
    net: Network, rng: np.random.RandomState, m: int, rates: Sequence
) -> Layers:
    """:func:`dropout_masks` for ``net``'s layers and dtype (the engines' common signature)."""
    return dropout_masks(rng, net.layer_sizes, m, rates, net.dtype)


class Gradient:
    """The gradient of the cost: one flat vector with ``dW[l]``, ``db[l]`` views.

    Attributes
    ----------
    flat : ndarray of shape (n_parameters,)
        Same layout as :attr:`Network.theta`.
    dW, db : list of ndarray
        ``dW[l]`` of shape (n[l], n[l-1]), ``db[l]`` of shape (n[l], 1).
    """

    def __init__(self, layer_sizes: Sequence[int], dtype) -> None:
        self.flat = np.zeros(n_parameters(layer_sizes), dtype=dtype)
        self.dW, self.db = parameter_views(self.flat, layer_sizes)


class Workspace:
    """Buffers reused across the batches of a fit: one object, not argument lists.

    It holds, for batches of up to ``max_m`` samples, the forward cache, the
    backward deltas ``dZ[l]`` and the gradient, so that a training step
    allocates nothing of the size of a layer.

    Parameters
    ----------
    layer_sizes : sequence of int
    max_m : int
        The largest batch.
    dtype : numpy dtype
    shared : sequence of bool, optional
        ``shared[l]`` (``l = 1..L-1``) True makes ``Z[l]`` the same buffer as
        ``A[l]``, for an activation whose derivative needs only ``A[l]``:
        the forward pass then computes ``A[l]`` over ``Z[l]``. See
        :meth:`for_network`. Nothing is shared by default.
    """

    def __init__(
        self, layer_sizes: Sequence[int], max_m: int, dtype, shared: Sequence[bool] | None = None
    ) -> None:
        self.layer_sizes = list(layer_sizes)
        self.max_m = int(max_m)
        self.dtype = np.dtype(dtype)
        n, L = self.layer_sizes, len(self.layer_sizes) - 1
        shared = [False] * (L + 1) if shared is None else list(shared)
        # Flat storage, viewed as (n[l], m) for any m <= max_m: the first
        # n[l] * m entries of a flat buffer are a C-contiguous (n[l], m) array.
        self._A = [None] + [np.empty(n[l] * max_m, dtype) for l in range(1, L + 1)]
        self._Z = [None] + [
            self._A[l] if shared[l] and l < L else np.empty(n[l] * max_m, dtype)
            for l in range(1, L + 1)
        ]
        self._dZ = [None] + [np.empty(n[l] * max_m, dtype) for l in range(1, len(n))]
        # Gathered input batch, stored sample by sample so that the gather
        # copies whole samples; A[0] is its transpose. Allocated on first use:
        # full-batch L-BFGS never gathers.
        self._A0 = None
        self._views_by_m: dict = {}
        self.grad = Gradient(n, dtype)

    @classmethod
    def for_network(cls, net: Network, max_m: int) -> Workspace:
        """The buffers for training ``net`` on batches of up to ``max_m`` samples.

        A hidden layer whose activation's derivative is a function of its
        output (relu, tanh, logistic, ...) keeps one buffer for ``Z[l]`` and
        ``A[l]``, as scikit-learn does: half the memory of the activations.
        """
        shared = [getattr(g, "derivative_from_output", False) for g in net.g]
        return cls(net.layer_sizes, max_m, net.dtype, shared)

    @staticmethod
    def _view(flat: NDArray, rows: int, m: int) -> NDArray:
        return flat[: rows * m].reshape(rows, m)

    def cache(self, m: int) -> Cache:
        """The forward buffers ``Z[l]``, ``A[l]`` shaped for ``m`` samples."""
        Z, A, _ = self._views(m)
        return Cache(Z, A)

    def deltas(self, m: int) -> Layers:
        """The backward buffers ``dZ[l]`` shaped for ``m`` samples."""
        return self._views(m)[2]

    def _views(self, m: int) -> tuple:
        # An epoch uses two batch sizes at most (full and last): keep their
        # views rather than re-slicing every buffer for every batch.
        views = self._views_by_m
        if m not in views:
            n = self.layer_sizes
            A = [None] + [self._view(self._A[l], n[l], m) for l in range(1, len(n))]
            # A shared buffer gets the same view object for Z[l] and A[l].
            Z = [None] + [
                A[l] if self._Z[l] is self._A[l] else self._view(self._Z[l], n[l], m)
                for l in range(1, len(n))
            ]
            dZ = [None] + [self._view(self._dZ[l], n[l], m) for l in range(1, len(n))]
            views[m] = (Z, A, dZ)
        return views[m]

    def input_buffer(self, m: int) -> NDArray:
        """A buffer of shape (n[0], m) for a gathered batch ``A[0]``."""
        if self._A0 is None:
            self._A0 = np.empty(self.layer_sizes[0] * self.max_m, self.dtype)
        return self._view(self._A0, m, self.layer_sizes[0]).T


# --------------------------------------------------------------------------
# One dense layer, forward and backward.
# --------------------------------------------------------------------------
def _is_sparse(A) -> bool:
    # The common case, an ndarray, without a Python-level function call.
    return type(A) is not np.ndarray and sp.issparse(A)


@functools.cache
def blas_axpy(dtype: np.dtype):
    """scipy's BLAS ``axpy`` (``y += a x`` in place) for ``dtype``, looked up once."""
    return get_blas_funcs("axpy", dtype=dtype)


def dense_forward(W: NDArray, b: NDArray, A_prev, out: NDArray) -> NDArray:
    """``Z[l] = W[l] A[l-1] + b[l]``.

    Parameters
    ----------
    W : ndarray of shape (n[l], n[l-1])
    b : ndarray of shape (n[l], 1)
    A_prev : ndarray or sparse matrix of shape (n[l-1], m)
    out : ndarray of shape (n[l], m)

    Returns
    -------
    Z : ndarray of shape (n[l], m)
        ``out``.
    """
    if _is_sparse(A_prev):
        # sparse @ dense is scipy's fast path: (A^T W^T)^T = W A.
        out[...] = (A_prev.T @ W.T).T
    else:
        np.matmul(W, A_prev, out=out)
    out += b
    return out


def dense_backward(
    dZ: NDArray,
    A_prev,
    W: NDArray,
    l2: float,
    dW: NDArray,
    db: NDArray,
    dA_prev: NDArray | None = None,
) -> NDArray | None:
    """Gradients of layer ``l`` from ``dZ[l]``; the matched pair of :func:`dense_forward`.

    .. math::

        dW[l] = dZ[l] A[l-1]^T + \\tfrac{\\lambda}{S} W[l], \\quad
        db[l] = \\textstyle\\sum_i dZ[l]_{:,i}, \\quad
        dA[l-1] = W[l]^T dZ[l]

    Parameters
    ----------
    dZ : ndarray of shape (n[l], m)
        The derivative of the cost with respect to ``Z[l]``.
    A_prev : ndarray or sparse matrix of shape (n[l-1], m)
    W : ndarray of shape (n[l], n[l-1])
    l2 : float
        The L2 factor :math:`\\lambda / S`.
    dW : ndarray of shape (n[l], n[l-1])
        Written in place.
    db : ndarray of shape (n[l], 1)
        Written in place.
    dA_prev : ndarray of shape (n[l-1], m), optional
        Where to write ``dA[l-1]``; not computed when None (layer 1 needs none).

    Returns
    -------
    dA_prev : ndarray of shape (n[l-1], m) or None
    """
    if _is_sparse(A_prev):
        dW[...] = (A_prev @ dZ.T).T
    else:
        np.matmul(dZ, A_prev.T, out=dW)
    if l2:
        _add_scaled(l2, W, dW)
    dZ.sum(axis=1, keepdims=True, out=db)
    if dA_prev is not None:
        np.matmul(W.T, dZ, out=dA_prev)
    return dA_prev


def _add_scaled(a: float, x: NDArray, y: NDArray) -> None:
    """``y += a * x`` in one pass, without a temporary (BLAS axpy on contiguous arrays)."""
    if x.flags.c_contiguous and y.flags.c_contiguous and x.dtype == y.dtype:
        # ravel() of a contiguous array is a view: BLAS updates y in place.
        blas_axpy(x.dtype)(x.ravel(), y.ravel(), a=a)
    else:
        y += a * x


# --------------------------------------------------------------------------
# The whole network.
# --------------------------------------------------------------------------
def forward(net: Network, A0, cache: Cache | None = None, D: Layers | None = None) -> Cache:
    """Forward propagation: ``Z[l] = W[l] A[l-1] + b[l]``, ``A[l] = g[l](Z[l])``.

    Parameters
    ----------
    net : Network
    A0 : ndarray or sparse matrix of shape (n[0], m)
        The input, one column per sample, of the network's dtype.
    cache : Cache, optional
        Buffers to write into (e.g. from :meth:`Workspace.cache`); new ones
        are allocated when omitted.
    D : list, optional
        Dropout masks from :func:`dropout_masks` (training only).

    Returns
    -------
    cache : Cache
        ``cache.A[0] is A0``; ``Z[l]``, ``A[l]`` for ``l = 1..L``.
    """
    if cache is None:
        cache = Cache.empty(net.layer_sizes, A0.shape[1], net.dtype)
    Z, A = cache.Z, cache.A
    cache.D = D if D is not None else [None] * (net.L + 1)
    A[0] = A0
    for l in range(1, net.L + 1):
        dense_forward(net.W[l], net.b[l], cache.layer_input(l), out=Z[l])
        net.g[l].forward(Z[l], A[l])
        if cache.D[l] is not None:
            cache.A_dropped[l] = A[l] * cache.D[l]
    return cache


def forward_bounded(net: Network, A0, cache: Cache | None = None) -> Cache:
    """Forward propagation that saturates instead of overflowing, for prediction.

    Each layer's input is clipped to :math:`\\pm c_l` with
    :math:`c_l = \\text{max float} / (4 \\max_i \\sum_j |W[l]_{ij}|)`, which bounds
    every :math:`|Z[l]|` by a quarter of the largest float: no ``inf``, no
    ``inf - inf``. Realistic inputs are far below the bound and unchanged;
    only inputs at the edge of the floating-point range are affected.

    Parameters
    ----------
    net : Network
    A0 : ndarray or sparse matrix of shape (n[0], m)
    cache : Cache, optional

    Returns
    -------
    cache : Cache
    """
    if cache is None:
        cache = Cache.empty(net.layer_sizes, A0.shape[1], net.dtype)
    if sp.issparse(A0):
        A0 = A0.toarray()  # only for inputs at the edge of the float range
    top = np.finfo(net.dtype).max / 4
    Z, A = cache.Z, cache.A
    cache.D = [None] * (net.L + 1)
    A[0] = A0
    for l in range(1, net.L + 1):
        row_sums = np.abs(net.W[l]).sum(axis=1).max()
        bound = top / max(row_sums, 1.0)
        A_prev = np.clip(A[l - 1], -bound, bound)
        dense_forward(net.W[l], net.b[l], A_prev, out=Z[l])
        net.g[l].forward(Z[l], A[l])
    return cache


def _weight_total(sample_weight: NDArray | None, m: int) -> float:
    return float(m) if sample_weight is None else float(sample_weight.sum())


def backward(
    net: Network,
    cache: Cache,
    Y: NDArray,
    sample_weight: NDArray | None = None,
    alpha: float = 0.0,
    grad: Gradient | None = None,
    deltas: Layers | None = None,
) -> Gradient:
    """Backward propagation: ``dW[l]``, ``db[l]`` for ``l = L, ..., 1``.

    Parameters
    ----------
    net : Network
    cache : Cache
        From :func:`forward` on the same batch; not modified.
    Y : ndarray of shape (n[L], m)
        Targets.
    sample_weight : ndarray of shape (m,), optional
    alpha : float, default=0.0
        L2 strength.
    grad : Gradient, optional
        Written in place; allocated when omitted.
    deltas : list of ndarray, optional
        Buffers ``dZ[l]`` of shape (n[l], m) (e.g. :meth:`Workspace.deltas`).

    Returns
    -------
    grad : Gradient
        The gradient of :func:`cost`. All zeros when the weights sum to 0.
    """
    Z, A, W, L = cache.Z, cache.A, net.W, net.L
    m = A[L].shape[1]
    if grad is None:
        grad = Gradient(net.layer_sizes, net.dtype)
    S = _weight_total(sample_weight, m)
    if S == 0:
        # No sample carries weight: J is constant in the data, take no step.
        grad.flat[:] = 0
        return grad
    if deltas is None:
        deltas = [None] + [np.empty_like(A[l]) for l in range(1, L + 1)]
    dZ = deltas
    net.loss.output_delta(Y, A[L], out=dZ[L])  # A[L] - Y, each sample's dl/dz
    # J = sum_i s_i l_i / S, so dJ/dZ[L] scales column i by s_i / S.
    if sample_weight is None:
        dZ[L] /= S
    else:
        dZ[L] *= sample_weight / S
    for l in range(L, 0, -1):
        dA_prev = dZ[l - 1] if l > 1 else None
        dense_backward(
            dZ[l], cache.layer_input(l), W[l], alpha / S, grad.dW[l], grad.db[l], dA_prev
        )
        if l > 1:
            if cache.D[l - 1] is not None:
                dA_prev *= cache.D[l - 1]  # through the dropout: d(A D)/dA = D
            net.g[l - 1].backward(Z[l - 1], A[l - 1], dA_prev)  # dA[l-1] -> dZ[l-1]
    return grad


def cost(
    net: Network,
    cache: Cache,
    Y: NDArray,
    sample_weight: NDArray | None = None,
    alpha: float = 0.0,
) -> float:
    """The cost ``J``: weighted mean loss plus the L2 penalty (see the module docstring).

    Parameters
    ----------
    net : Network
    cache : Cache
        From :func:`forward`.
    Y : ndarray of shape (n[L], m)
    sample_weight : ndarray of shape (m,), optional
    alpha : float, default=0.0

    Returns
    -------
    J : float
        0.0 when the weights sum to 0.
    """
    L = net.L
    m = cache.A[L].shape[1]
    S = _weight_total(sample_weight, m)
    if S == 0:
        return 0.0
    losses = net.loss.sample_losses(Y, cache.Z[L], cache.A[L])  # (m,)
    data = losses.sum() if sample_weight is None else losses @ sample_weight
    return float((data + 0.5 * alpha * squared_weights(net)) / S)


def sample_losses(net: Network, cache: Cache, Y: NDArray) -> NDArray:
    """Each sample's loss, of shape (m,), from the logits ``Z[L]`` and the output ``A[L]``."""
    return net.loss.sample_losses(Y, cache.Z[net.L], cache.A[net.L])


def squared_weights(net: Network) -> float:
    """:math:`\\sum_l \\lVert W[l] \\rVert_F^2`, the sum the L2 penalty scales."""
    return sum(np.dot(net.W[l].ravel(), net.W[l].ravel()) for l in range(1, net.L + 1))


def logit_bound(net: Network, x_max: float) -> float:
    """An upper bound of every ``|Z[L]|`` entry over inputs with ``|x| <= x_max``.

    Propagated layer by layer: with :math:`c[0] = x_{max}` bounding :math:`|A[0]|`,

    .. math::

        \\max |Z[l]| \\le a[l] = \\sqrt{n[l-1]} \\, \\max_i \\lVert W[l]_{i,:} \\rVert_2
        \\, c[l-1] + \\max |b[l]|, \\qquad c[l] = a[l] + 1

    (Cauchy-Schwarz on each row; :math:`|g(z)| \\le |z| + 1` for every hidden
    activation). One pass over the weights, whose reductions come from the
    network's engine (:func:`layer_magnitudes`), so that this serves every
    array namespace.

    Parameters
    ----------
    net : Network
    x_max : float

    Returns
    -------
    a : float
        ``inf`` when some ``|Z[l]|`` could pass a quarter of the largest float
        of the network's dtype (or the parameters are not finite).
    """
    top = float(net.ops.xp.finfo(net.dtype).max) / 4
    n, a = net.layer_sizes, float(x_max)
    with np.errstate(over="ignore", invalid="ignore"):
        for l in range(1, net.L + 1):
            row_max, b_max = net.engine.layer_magnitudes(net, l)
            hidden = 1.0 if l > 1 else 0.0  # |A[l-1]| <= |Z[l-1]| + 1 for l > 1
            a = math.sqrt(n[l - 1] * row_max) * (a + hidden)
            a += b_max
            if not a < top:  # also True for nan
                return math.inf
    return a


def layer_magnitudes(net: Network, l: int) -> tuple[float, float]:
    """``(max_i ||W[l]_{i,:}||^2, max |b[l]|)``, the reductions :func:`logit_bound` needs."""
    rows = np.einsum("ij,ij->i", net.W[l], net.W[l])  # squared row norms
    return float(rows.max()), float(np.abs(net.b[l]).max())


def overflow_free(
    net: Network, x_max: float, y_max: float, total_weight: float, alpha: float = 0.0
) -> bool:
    """Whether no sample with ``|x| <= x_max``, ``|y| <= y_max`` can make :func:`cost` overflow.

    A sufficient condition: the output loss's bound at :func:`logit_bound`,
    times the total weight, plus the L2 penalty, stays below a quarter of
    the largest float. Training uses it to know whether the parameters at
    the start of an epoch are safe to fall back to, without a pass over the
    data.

    Parameters
    ----------
    net : Network
    x_max, y_max : float
        The largest ``|entry|`` of the inputs and of the targets.
    total_weight : float
        The sum of the sample weights (the number of samples without weights).
    alpha : float, default=0.0

    Returns
    -------
    safe : bool
    """
    a = logit_bound(net, x_max)
    if not math.isfinite(a) or net.loss.loss_bound is None:
        return False
    with np.errstate(over="ignore", invalid="ignore"):
        squares = float(net.engine.squared_weights(net))
    data = total_weight * net.loss.loss_bound(a, float(y_max), net.layer_sizes[-1])
    return data + 0.5 * alpha * squares < float(net.ops.xp.finfo(net.dtype).max) / 4


def cost_and_gradient(
    net: Network,
    A0,
    Y: NDArray,
    sample_weight: NDArray | None = None,
    alpha: float = 0.0,
    workspace: Workspace | None = None,
    D: Layers | None = None,
) -> tuple[float, Gradient]:
    """``J`` and its gradient at the network's current parameters.

    This is the one function that L-BFGS minimises and that the gradient
    checks compare against finite differences.

    Parameters
    ----------
    net : Network
    A0 : ndarray or sparse matrix of shape (n[0], m)
    Y : ndarray of shape (n[L], m)
    sample_weight : ndarray of shape (m,), optional
    alpha : float, default=0.0
    workspace : Workspace, optional
        Buffers for ``m`` samples, reused across calls.
    D : list, optional
        Dropout masks from :func:`dropout_masks`.

    Returns
    -------
    J : float
    grad : Gradient
        The workspace's gradient when a workspace is given (overwritten by
        the next call).
    """
    m = A0.shape[1]
    if workspace is not None:
        cache = forward(net, A0, workspace.cache(m), D)
        grad, deltas = workspace.grad, workspace.deltas(m)
    else:
        cache, grad, deltas = forward(net, A0, D=D), None, None
    J = cost(net, cache, Y, sample_weight, alpha)
    return J, backward(net, cache, Y, sample_weight, alpha, grad, deltas)
