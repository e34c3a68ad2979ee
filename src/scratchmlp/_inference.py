"""Inference over many rows: the forward pass chunk by chunk, with a fallback for overflow.

Prediction works on the estimator's row layout ``X`` of shape (m, n[0]) and
runs :func:`~scratchmlp._network.forward` on chunks of rows transposed to
``A[0]`` of shape (n[0], chunk), reusing one set of buffers, so that memory
is O(chunk) for any ``m``. The caller chooses the chunk (the estimators
derive it from scikit-learn's ``working_memory``, capped at
:data:`MAX_CHUNK`). A chunk whose logits overflow (finite but huge input) is
computed again by :func:`~scratchmlp._network.forward_bounded`, which
saturates instead.

The same code serves every namespace: the network's ``engine`` and ``ops``
(:mod:`scratchmlp._arrays`) run the pass and hold the outputs, on the
device of the parameters.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

from ._network import Cache, Network

__all__ = ["MAX_CHUNK", "row_bytes", "forward_chunks", "output", "mean_loss", "hidden"]

#: Rows per prediction chunk, at most: large enough for full-speed matrix
#: products, small enough that the activations stay in cache-sized buffers
#: reused from chunk to chunk.
MAX_CHUNK = 16384


def row_bytes(net: Network) -> int:
    """Bytes of activations one row needs in the forward pass (to size chunks)."""
    return sum(net.layer_sizes) * net.ops.itemsize(net.dtype)


def forward_chunks(net: Network, X, chunk: int) -> Iterator[tuple[slice, Cache]]:
    """Yield ``(rows, cache)``: the forward pass over chunks of ``chunk`` rows of ``X``.

    Parameters
    ----------
    net : Network
    X : ndarray or sparse matrix of shape (m, n[0])
    chunk : int
        Rows per chunk (at least 1).

    Yields
    ------
    rows : slice
    cache : Cache
        ``Z[L]`` (the logits) and ``A[l]`` of shape (n[l], rows); a hidden
        ``Z[l]`` shares ``A[l]``'s buffer. The buffers are reused: consume
        each chunk before the next.
    """
    m = X.shape[0]
    chunk = max(min(chunk, m), 1)
    engine, ops = net.engine, net.ops
    full = engine.inference_buffers(net, chunk)
    for start in range(0, m, chunk):
        rows = slice(start, min(start + chunk, m))
        A0 = X[rows, :].T
        if A0.dtype != net.dtype:
            with np.errstate(over="ignore"):  # beyond float32: inf, bounded below
                A0 = ops.astype(A0, net.dtype)
        size = A0.shape[1]
        buffers = full if size == chunk else engine.inference_buffers(net, size)
        with np.errstate(over="ignore", invalid="ignore"):
            cache = engine.forward(net, A0, buffers)
            if not ops.all_finite(cache.Z[net.L]):
                # Finite but huge input (or a float64 input beyond float32's
                # range) overflowed: redo the chunk with each layer's input
                # bounded, which saturates the outputs.
                cache = engine.forward_bounded(net, A0, buffers)
        yield rows, cache


def output(net: Network, X, chunk: int, logits: bool = False) -> NDArray:
    """``A[L].T`` (or the logits ``Z[L].T``) for the rows of ``X``, of shape (m, n[L]).

    In the network's dtype.
    """
    out = net.ops.empty((X.shape[0], net.layer_sizes[-1]), net.dtype)
    for rows, cache in forward_chunks(net, X, chunk):
        out[rows, :] = (cache.Z if logits else cache.A)[net.L].T
    return out


def hidden(net: Network, X, layers: list[int], chunk: int) -> dict:
    """The hidden activations ``{l: A[l].T}`` of shape (m, n[l]) for each layer in ``layers``."""
    out = {l: net.ops.empty((X.shape[0], net.layer_sizes[l]), net.dtype) for l in layers}
    for rows, cache in forward_chunks(net, X, chunk):
        for l in layers:
            out[l][rows, :] = cache.A[l].T
    return out


def mean_loss(net: Network, X, Y: NDArray, sample_weight, chunk: int) -> tuple[float, NDArray]:
    """The mean data loss on ``(X, Y)`` and the output ``A[L].T``, chunk by chunk.

    Parameters
    ----------
    net : Network
    X : ndarray or sparse matrix of shape (m, n[0])
    Y : ndarray of shape (n[L], m)
    sample_weight : ndarray of shape (m,) or None
    chunk : int

    Returns
    -------
    loss : float
        :math:`\\sum_i s_i \\ell_i / \\sum_i s_i`, without the L2 term.
    output : ndarray of shape (m, n[L])
    """
    m, ops = X.shape[0], net.ops
    out = ops.empty((m, net.layer_sizes[-1]), net.dtype)
    total = 0.0
    for rows, cache in forward_chunks(net, X, chunk):
        out[rows, :] = cache.A[net.L].T
        losses = net.engine.sample_losses(net, cache, Y[:, rows])
        s = None if sample_weight is None else sample_weight[rows]
        total += ops.weighted_sum(losses, s)
    S = m if sample_weight is None else ops.weighted_sum(sample_weight, None)
    return float(total / S), out
