"""The array operations of training, in one object: the seam for a second array namespace.

The training driver (:mod:`scratchmlp._training`) never calls numpy on the
parameters directly: it asks the network's :attr:`~scratchmlp._network.Network.ops`,
an :class:`ArrayOps`, to test them for finiteness, copy them, restore them
and draw the sample order. :data:`NUMPY` is the one implementation today.

Two implementations:

* :data:`NUMPY`, an :class:`ArrayOps`: numpy arrays, run by the engine of
  :mod:`scratchmlp._network` (BLAS axpy, ``out=`` buffers, sparse input);
* :class:`ArrayAPIOps`: any namespace of the array API standard (torch on CPU
  or CUDA, CuPy, array-api-strict) on one device, run by
  :mod:`scratchmlp._network_xp`, the same equations without buffers.

Each names its engine (:attr:`ArrayOps.engine`): the driver calls
``net.engine.cost_and_gradient(...)`` and never asks which namespace it has.

The random draws (initial weights, shuffles, dropout masks) stay with the one
numpy ``RandomState`` of the fit, on the host, so that ``random_state`` means
the same thing in every namespace: :class:`ArrayAPIOps` moves what is drawn to
its device (:meth:`ArrayAPIOps.from_host`). The sample order stays a host
array; each batch's indices go to the device.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

__all__ = ["ArrayOps", "ArrayAPIOps", "NUMPY", "array_ops"]


class ArrayOps:
    """The operations on parameter-sized arrays that training needs, for numpy arrays."""

    #: The namespace, for code that needs a function of it.
    xp = np
    #: Whether this is numpy, whose engine takes sparse input and reuses buffers.
    is_numpy = True

    def __deepcopy__(self, memo) -> ArrayOps:
        return self  # no state of its own: the optimizers' snapshots share it

    @property
    def engine(self):
        """The module whose ``forward``, ``backward``, ``cost_and_gradient`` run these arrays."""
        # Imported here because the engine imports this module.
        from . import _network

        return _network

    @staticmethod
    def from_host(a: NDArray, dtype=None) -> NDArray:
        """A numpy array drawn or built on the host, as an array of this namespace.

        For numpy, ``a`` itself (``dtype`` is left to the assignment that uses it).
        """
        return a

    @staticmethod
    def to_host(a) -> NDArray:
        """An array of this namespace as a numpy array (no copy for numpy)."""
        return a

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
    def zeros(n: int, dtype) -> NDArray:
        """A new vector of ``n`` zeros of ``dtype``."""
        return np.zeros(n, dtype=dtype)

    @staticmethod
    def asarray(a) -> NDArray:
        """``a`` (an array of any kind, or nested lists) as an array of this namespace."""
        return np.asarray(a)

    @staticmethod
    def norm(a: NDArray) -> float:
        """The Euclidean norm of the vector ``a``."""
        return float(np.linalg.norm(a))

    @staticmethod
    def set_theta(theta: NDArray, values: NDArray) -> None:
        """``theta[...] = values``, cast to ``theta``'s dtype."""
        np.copyto(theta, values, casting="same_kind")

    @staticmethod
    def astype(a: NDArray, dtype) -> NDArray:
        """``a`` cast to ``dtype`` (a new array)."""
        return a.astype(dtype)

    @staticmethod
    def empty(shape: tuple, dtype) -> NDArray:
        """A new uninitialised array."""
        return np.empty(shape, dtype=dtype)

    @staticmethod
    def itemsize(dtype) -> int:
        """Bytes per entry of ``dtype``."""
        return np.dtype(dtype).itemsize

    @staticmethod
    def weighted_sum(values: NDArray, weights: NDArray | None):
        """``sum(values)``, or ``values @ weights`` (numpy scalars: a float32 sum stays float32)."""
        return values.sum() if weights is None else values @ weights

    @staticmethod
    def any(a: NDArray) -> bool:
        """Whether some entry of ``a`` is nonzero."""
        return bool(a.any())

    @staticmethod
    def take_samples(A0, Y: NDArray, s: NDArray | None, idx: NDArray) -> tuple:
        """``(A0[:, idx], Y[:, idx], s[idx])``; ``A0`` and ``s`` may be None."""
        return (
            None if A0 is None else A0[:, idx],
            Y[:, idx],
            None if s is None else s[idx],
        )

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


class ArrayAPIOps(ArrayOps):
    """:class:`ArrayOps` for an array API namespace ``xp`` on one ``device``.

    Parameters
    ----------
    xp : namespace
        An array API namespace (e.g. scikit-learn's wrapper of torch, or
        ``array_api_strict``).
    device : device
        Where the parameters and every computation live.
    to_host : callable ``(array) -> ndarray``
        Copies an array of ``xp`` to a numpy array on the host (the estimator
        passes scikit-learn's conversion).
    """

    is_numpy = False

    def __init__(self, xp, device, to_host: Callable) -> None:
        self.xp = xp
        self.device = device
        self._to_host = to_host

    @property
    def engine(self):
        """:mod:`scratchmlp._network_xp`, the array API engine."""
        from . import _network_xp

        return _network_xp

    def from_host(self, a: NDArray, dtype=None):
        """``a`` (numpy) as an array of ``xp`` and ``dtype`` on the device."""
        return self.xp.asarray(a, dtype=dtype, device=self.device)

    def to_host(self, a) -> NDArray:
        """``a`` as a numpy array on the host."""
        return self._to_host(a)

    def all_finite(self, a) -> bool:
        return bool(self.xp.all(self.xp.isfinite(a)))

    def copy(self, a):
        return self.xp.asarray(a, copy=True)

    def empty_like(self, a):
        return self.xp.empty_like(a)

    @staticmethod
    def copy_into(out, a):
        out[...] = a
        return out

    def any(self, a) -> bool:
        return bool(self.xp.any(a))

    def asarray(self, a):
        return self.xp.asarray(a, device=self.device)

    def norm(self, a) -> float:
        return float(self.xp.linalg.vector_norm(a))

    def astype(self, a, dtype):
        return self.xp.astype(a, dtype)

    def empty(self, shape: tuple, dtype):
        return self.xp.empty(shape, dtype=dtype, device=self.device)

    def itemsize(self, dtype) -> int:
        return self.xp.finfo(dtype).bits // 8

    def weighted_sum(self, values, weights) -> float:
        xp = self.xp
        return float(xp.sum(values) if weights is None else xp.sum(values * weights))

    def take_samples(self, A0, Y, s, idx) -> tuple:
        """The columns (samples) ``idx`` (a host slice or index array) of ``A0`` and ``Y``."""
        if isinstance(idx, slice):
            return super().take_samples(A0, Y, s, idx)
        take, idx = self.xp.take, self.from_host(idx)
        # A0 is X.T: gather whole samples, the rows of X, then transpose (a
        # view). Gathering the columns of the transposed view instead copies
        # element by element: 13x slower per batch on torch (W1, 20,000 rows).
        return (
            None if A0 is None else take(A0.T, idx, axis=0).T,
            take(Y, idx, axis=1),
            None if s is None else take(s, idx, axis=0),
        )

    def zeros(self, n: int, dtype):
        """A new vector of ``n`` zeros of ``dtype`` on the device."""
        return self.xp.zeros(n, dtype=dtype, device=self.device)

    def set_theta(self, theta, values) -> None:
        """``theta[...] = values``, cast to ``theta``'s dtype; ``values`` may be numpy."""
        if isinstance(values, np.ndarray):
            values = self.from_host(values)
        theta[...] = self.xp.astype(values, theta.dtype)

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, ArrayAPIOps)
            and self.xp.__name__ == other.xp.__name__
            and self.device == other.device
        )

    def __hash__(self) -> int:
        return hash((self.xp.__name__, str(self.device)))

    def __repr__(self) -> str:
        return f"ArrayAPIOps({self.xp.__name__}, device={self.device!r})"

    # A namespace is a module, which pickle cannot store: keep its name.
    def __reduce__(self):
        return (_restore_ops, (self.xp.__name__, self.device, self._to_host))


def _restore_ops(name: str, device, to_host: Callable) -> ArrayAPIOps:
    return ArrayAPIOps(importlib.import_module(name), device, to_host)


def array_ops(theta) -> ArrayOps:
    """The :class:`ArrayOps` for numpy arrays (others come with their network's ``ops``)."""
    return NUMPY
