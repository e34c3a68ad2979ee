"""The array operations of training, in one object: the seam for a second array namespace.

The training driver (:mod:`scratchmlp._training`) never calls numpy on the
parameters directly: it asks the network's :attr:`~scratchmlp._network.Network.ops`,
an :class:`ArrayOps`, to test them for finiteness, copy them, restore them
and draw the sample order. :data:`NUMPY` is the one implementation today.

How a second namespace (array API: torch, CuPy, array-api-strict) plugs in:

* write a second :class:`ArrayOps` over that namespace and return it from
  :func:`array_ops` for its arrays (``theta`` created in that namespace);
* give the engine's kernels the same treatment: :func:`~scratchmlp._network.dense_forward`,
  :func:`~scratchmlp._network.dense_backward`, the activations and losses
  (``g.forward``, ``g.backward``, ``sample_losses``) and the optimizers'
  ``_update`` are the numpy kernels; the namespace's versions are looked up
  the same way, from the network, so that ``forward``, ``backward``,
  ``cost_and_gradient`` and the driver above them stay as they are. The
  numpy-only fast paths (BLAS axpy, ``out=`` buffers, sparse input) remain
  in the numpy kernels.

The random draws (initial weights, shuffles, dropout masks) stay with the one
numpy ``RandomState`` of the fit, so that ``random_state`` means the same
thing in every namespace; an implementation moves what it draws to its device.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["ArrayOps", "NUMPY", "array_ops"]


class ArrayOps:
    """The operations on parameter-sized arrays that training needs, for numpy arrays."""

    @staticmethod
    def all_finite(a: NDArray) -> bool:
        """Whether every entry of ``a`` is finite."""
        return bool(np.isfinite(a).all())

    @staticmethod
    def copy(a: NDArray) -> NDArray:
        """A new array with the values of ``a``."""
        return a.copy()

    @staticmethod
    def empty_like(a: NDArray) -> NDArray:
        """A new uninitialised array of the shape and dtype of ``a``."""
        return np.empty_like(a)

    @staticmethod
    def copy_into(out: NDArray, a: NDArray) -> NDArray:
        """``out[...] = a``, in place (``out`` may be the network's parameters)."""
        np.copyto(out, a)
        return out

    @staticmethod
    def arange(m: int) -> NDArray:
        """The sample order ``0, ..., m - 1``."""
        return np.arange(m)

    @staticmethod
    def shuffle(order: NDArray, rng: np.random.RandomState) -> NDArray:
        """``order`` permuted in place by a shuffle drawn from ``rng``, and returned.

        Why this matches scikit-learn's sample order: :func:`scratchmlp._training.shuffled`.
        """
        rng.shuffle(order)
        return order


#: The numpy implementation.
NUMPY = ArrayOps()


def array_ops(theta) -> ArrayOps:
    """The :class:`ArrayOps` for parameters ``theta``: numpy's, the only one today."""
    return NUMPY
