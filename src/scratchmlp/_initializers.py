"""Initial values of ``W[l]`` and ``b[l]``, drawn from an explicit generator.

An initializer is a function ``(rng, fan_in, fan_out, activation) -> (W, b)``
returning ``W`` of shape ``(n[l], n[l-1]) = (fan_out, fan_in)`` and ``b`` of
shape ``(n[l], 1)``. :data:`INITIALIZERS` maps names to them; ``"auto"`` is
scikit-learn's scheme, which a drop-in replacement must keep.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

__all__ = ["INITIALIZERS", "glorot_uniform_auto", "initialize"]


def glorot_uniform_auto(
    rng: np.random.RandomState, fan_in: int, fan_out: int, activation: str
) -> tuple[NDArray, NDArray]:
    """Glorot-uniform weights and biases, as scikit-learn's MLP draws them.

    Both ``W[l]`` and ``b[l]`` are uniform on :math:`[-r, r]` with

    .. math:: r = \\sqrt{f / (n[l-1] + n[l])},

    :math:`f = 2` for a logistic layer and :math:`f = 6` otherwise (Glorot and
    Bengio, 2010). The draws happen in scikit-learn's order (the
    ``(fan_in, fan_out)`` matrix, then the biases), so that the same
    ``random_state`` starts both libraries from the same weights.

    Parameters
    ----------
    rng : numpy.random.RandomState
    fan_in, fan_out : int
        ``n[l-1]`` and ``n[l]``.
    activation : str
        The activation of layer ``l``.

    Returns
    -------
    W : ndarray of shape (n[l], n[l-1])
    b : ndarray of shape (n[l], 1)
    """
    factor = 2.0 if activation == "logistic" else 6.0
    bound = np.sqrt(factor / (fan_in + fan_out))
    W_T = rng.uniform(-bound, bound, (fan_in, fan_out))
    b = rng.uniform(-bound, bound, fan_out)
    return W_T.T, b[:, np.newaxis]


def _scaled(draw: str, gain: float, fan: str):
    """A scheme with weights of variance ``gain / fan`` and zero biases.

    ``draw`` is ``"uniform"`` (on :math:`[-\\sqrt{3 \\sigma^2}, \\sqrt{3 \\sigma^2}]`)
    or ``"normal"``; ``fan`` is ``"avg"`` (Glorot: :math:`(n[l-1] + n[l]) / 2`)
    or ``"in"`` (He: :math:`n[l-1]`).
    """

    def init(rng, fan_in, fan_out, activation):
        n = (fan_in + fan_out) / 2 if fan == "avg" else fan_in
        std = np.sqrt(gain / n)
        if draw == "uniform":
            bound = np.sqrt(3.0) * std
            W_T = rng.uniform(-bound, bound, (fan_in, fan_out))
        else:
            W_T = rng.normal(0.0, std, (fan_in, fan_out))
        return W_T.T, np.zeros((fan_out, 1))

    init.__doc__ = f"{draw.capitalize()} weights of variance {gain:g} / fan_{fan}, zero biases."
    return init


InitFunction = Callable[[np.random.RandomState, int, int, str], tuple[NDArray, NDArray]]

#: Initialisation schemes by name. ``"auto"`` is scikit-learn's; Glorot
#: (Xavier) schemes keep the variance 1 / fan_avg, He's 2 / fan_in (for relu).
INITIALIZERS: dict[str, InitFunction] = {
    "auto": glorot_uniform_auto,
    "glorot_uniform": _scaled("uniform", 1.0, "avg"),
    "glorot_normal": _scaled("normal", 1.0, "avg"),
    "he_uniform": _scaled("uniform", 2.0, "in"),
    "he_normal": _scaled("normal", 2.0, "in"),
}


def initialize(
    network, rng: np.random.RandomState, scheme: str = "auto", output_like: str = "relu"
) -> None:
    """Draw every ``W[l]``, ``b[l]`` of ``network`` in place, for ``l = 1..L``.

    Parameters
    ----------
    network : Network
        The network whose parameters are overwritten.
    rng : numpy.random.RandomState
        The one generator of the fit.
    scheme : str, default="auto"
        A key of :data:`INITIALIZERS`.
    output_like : str, default="relu"
        The activation the output layer is scaled for when there is no
        hidden layer (otherwise, the last hidden layer's).
    """
    init = INITIALIZERS[scheme]
    n, names = network.layer_sizes, network.activation_names
    # The output layer is drawn as if it had the activation of the layer
    # below it: scikit-learn scales every layer by the hidden activation.
    below = names[network.L - 1] if network.L > 1 else output_like
    for l in range(1, network.L + 1):
        W, b = init(rng, n[l - 1], n[l], names[l] if l < network.L else below)
        # Drawn on the host, for every namespace: the same random_state, the same weights.
        network.W[l][...] = network.ops.from_host(W, network.dtype)
        network.b[l][...] = network.ops.from_host(b, network.dtype)
