"""The engine's public functions, for learners and for building on.

A network can be built, run forward and backward, and updated by hand, with
no estimator::

    >>> import numpy as np
    >>> from scratchmlp.engine import Network, initialize, forward, backward, cost
    >>> rng = np.random.RandomState(0)
    >>> net = Network([2, 3, 1], activation="tanh", loss="binary_log_loss")
    >>> initialize(net, rng)
    >>> A0 = rng.randn(2, 5)                     # (n[0], m): one column per sample
    >>> Y = (A0.sum(axis=0, keepdims=True) > 0)  # (n[L], m)
    >>> cache = forward(net, A0)
    >>> [cache.A[l].shape for l in range(1, net.L + 1)]
    [(3, 5), (1, 5)]
    >>> grad = backward(net, cache, Y)
    >>> grad.dW[1].shape, grad.db[1].shape
    ((3, 2), (3, 1))
    >>> J = cost(net, cache, Y)
    >>> net.theta -= 0.1 * grad.flat             # one step of gradient descent
    >>> cost(net, forward(net, A0), Y) < J
    True
"""

from ._activations import ACTIVATIONS, Activation
from ._initializers import INITIALIZERS, initialize
from ._losses import LOSSES, OutputLoss, log_softmax, softmax
from ._network import (
    Cache,
    Gradient,
    Network,
    Workspace,
    backward,
    cost,
    cost_and_gradient,
    dense_backward,
    dense_forward,
    forward,
    parameter_views,
)
from ._optimizers import OPTIMIZERS, SGD, Adam

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "Adam",
    "Cache",
    "Gradient",
    "INITIALIZERS",
    "LOSSES",
    "Network",
    "OPTIMIZERS",
    "OutputLoss",
    "SGD",
    "Workspace",
    "backward",
    "cost",
    "cost_and_gradient",
    "dense_backward",
    "dense_forward",
    "forward",
    "initialize",
    "log_softmax",
    "parameter_views",
    "softmax",
]
