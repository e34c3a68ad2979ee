"""The engine's public functions, for learners and for building on.

A network can be built, run forward and backward, and updated by hand, with
no estimator::

    >>> import numpy as np
    >>> from scratchmlp.engine import Network, initialize, forward, backward, cost
    >>> rng = np.random.RandomState(0)
    >>> net = Network([2, 3, 1], activation="tanh", loss="binary_log_loss")
    >>> initialize(net, rng)
    >>> A0 = rng.randn(2, 5)                      # (n[0], m): one column per sample
    >>> Y = A0.sum(axis=0, keepdims=True) > 0     # (n[L], m)
    >>> cache = forward(net, A0)                  # cache.Z[l], cache.A[l]
    >>> grad = backward(net, cache, Y)            # grad.dW[l], grad.db[l], grad.flat
    >>> print(f"cost before the step: {cost(net, cache, Y):.4f}")
    cost before the step: 0.5561
    >>> net.theta -= 0.1 * grad.flat              # one step of gradient descent
    >>> print(f"cost after the step:  {cost(net, forward(net, A0), Y):.4f}")
    cost after the step:  0.5518

The README shows the same lines (``tests/test_readme.py`` keeps them equal).
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
