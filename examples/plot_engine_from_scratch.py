"""
A 4-layer network by hand, with the engine
==========================================

This example trains a network with no estimator at all: only the public
functions of :mod:`scratchmlp.engine`, in the notation of the derivation
(see :doc:`/from_article_to_code`). It builds the network, runs forward
propagation, the cost and backward propagation one layer at a time, checks
the gradient against central differences, takes one step of gradient
descent, and then trains for a few hundred epochs.

The network has ``L = 4`` layers with weights and the layer sizes
``n = [2, 8, 8, 4, 3]``: two inputs, three hidden layers and a softmax over
three classes.
"""

# %%
# The data, one column per sample
# -------------------------------
# Three overlapping blobs in the plane. The engine keeps one column per
# sample, so the input is ``A[0] = X.T`` of shape ``(n[0], m)`` and the
# targets are one-hot columns ``Y`` of shape ``(n[L], m)``.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_blobs

from scratchmlp.engine import (
    SGD,
    Adam,
    Network,
    backward,
    cost,
    cost_and_gradient,
    dense_backward,
    dense_forward,
    forward,
    initialize,
)

X, y = make_blobs(n_samples=300, centers=3, cluster_std=1.6, random_state=3)
X = (X - X.mean(axis=0)) / X.std(axis=0)  # standardised features

A0 = X.T  # (n[0], m) = (2, 300)
Y = np.eye(3)[y].T  # (n[L], m) = (3, 300), one-hot columns
m = A0.shape[1]
print("A[0]:", A0.shape, " Y:", Y.shape)

# %%
# The parameters
# --------------
# :class:`~scratchmlp.engine.Network` holds every parameter in one flat
# vector ``theta``; ``W[l]`` of shape ``(n[l], n[l-1])`` and ``b[l]`` of shape
# ``(n[l], 1)`` are views into it, indexed by the layer number (``W[0]`` is
# None: layer 0 is the input). :func:`~scratchmlp.engine.initialize` draws
# them as scikit-learn does (Glorot-uniform).

n = [2, 8, 8, 4, 3]
net = Network(n, activation="tanh", loss="log_loss")  # softmax + cross-entropy
rng = np.random.RandomState(0)
initialize(net, rng)
theta0 = net.theta.copy()  # kept to restart from the same point below

for l in range(1, net.L + 1):
    g = net.activation_names[l]
    print(f"l={l}:  W[{l}] {net.W[l].shape}  b[{l}] {net.b[l].shape}  g[{l}] = {g}")
print("parameters:", net.theta.size)

# %%
# Forward propagation, one layer at a time
# ----------------------------------------
# ``Z[l] = W[l] A[l-1] + b[l]`` (:func:`~scratchmlp.engine.dense_forward`),
# then ``A[l] = g[l](Z[l])``. The output layer's ``g[L]`` is the softmax,
# which comes with the loss.

Z = [None] * (net.L + 1)
A = [A0] + [None] * net.L
for l in range(1, net.L + 1):
    Z[l] = dense_forward(net.W[l], net.b[l], A[l - 1], out=np.empty((n[l], m)))
    A[l] = net.g[l].forward(Z[l], np.empty_like(Z[l]))

print("columns of A[L] sum to 1:", np.allclose(A[net.L].sum(axis=0), 1))

# forward() does the same loop and keeps Z[l], A[l] in a Cache.
cache = forward(net, A0)
print("same as forward():", all(np.allclose(A[l], cache.A[l]) for l in range(1, net.L + 1)))

# %%
# The cost
# --------
# The mean cross-entropy ``J = -(1/m) sum_i sum_k Y[k, i] log A[L][k, i]``,
# which :func:`~scratchmlp.engine.cost` computes from the logits ``Z[L]``
# (log-softmax), so that it stays finite. With ``alpha`` it adds the L2
# penalty ``alpha / (2 m) sum_l ||W[l]||^2``.

J_by_hand = -np.sum(Y * np.log(A[net.L])) / m
J = cost(net, cache, Y)
print(f"J = {J:.6f}   (by hand: {J_by_hand:.6f})")

# %%
# Backward propagation, one layer at a time
# -----------------------------------------
# Softmax with cross-entropy gives ``dZ[L] = (A[L] - Y) / m``. Then, for
# ``l = L, ..., 1``: ``dW[l] = dZ[l] A[l-1]^T``, ``db[l] = sum_i dZ[l]``,
# ``dA[l-1] = W[l]^T dZ[l]`` (:func:`~scratchmlp.engine.dense_backward`) and
# ``dZ[l-1] = dA[l-1] * g'(Z[l-1])`` (the activation's ``backward``).

dW = [None] * (net.L + 1)
db = [None] * (net.L + 1)
dZ = (A[net.L] - Y) / m
for l in range(net.L, 0, -1):
    dW[l] = np.empty_like(net.W[l])
    db[l] = np.empty_like(net.b[l])
    dA_prev = np.empty_like(A[l - 1]) if l > 1 else None
    dense_backward(dZ, A[l - 1], net.W[l], 0.0, dW[l], db[l], dA_prev)
    if l > 1:
        dZ = net.g[l - 1].backward(Z[l - 1], A[l - 1], dA_prev)  # in place

# backward() does the same and writes every dW[l], db[l] into one flat vector.
grad = backward(net, cache, Y)
print("same as backward():", all(np.allclose(dW[l], grad.dW[l]) for l in range(1, net.L + 1)))

# %%
# Checking the gradient numerically
# ---------------------------------
# Each entry ``i`` of the gradient is compared with the central difference
# ``(J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps)``, two forward passes
# per parameter, and the two vectors by their norm-based relative error
# ``||g - g_hat|| / (||g|| + ||g_hat||)``. With ``eps = 1e-5`` in float64, a
# correct gradient gives about ``1e-10``; a wrong one (a missing factor, a
# transposed matrix) an error of order 0.1 to 1. scratchmlp.check_gradients
# sharpens this further (Richardson extrapolation, layer by layer).


def J_at(theta):
    """The cost with ``theta`` put in the network (a copy, restored after)."""
    saved = net.theta.copy()
    net.theta[:] = theta
    value = cost(net, forward(net, A0), Y, alpha=1e-3)
    net.theta[:] = saved
    return value


_, grad = cost_and_gradient(net, A0, Y, alpha=1e-3)  # with an L2 term this time
analytic = grad.flat.copy()
eps = 1e-5
numeric = np.empty_like(analytic)
for i in range(net.theta.size):
    e_i = np.zeros_like(net.theta)
    e_i[i] = eps
    numeric[i] = (J_at(net.theta + e_i) - J_at(net.theta - e_i)) / (2 * eps)

# Norms, not entry by entry: the rounding noise of the tiniest entries'
# differences cannot dominate.
rel_error = np.linalg.norm(analytic - numeric) / (
    np.linalg.norm(analytic) + np.linalg.norm(numeric)
)
print(f"relative error of the gradient: {rel_error:.2e}")
print(f"max absolute error:             {np.abs(analytic - numeric).max():.2e}")

# %%
# One step of gradient descent
# ----------------------------
# ``theta <- theta - learning_rate * dJ/dtheta``. Because ``W[l]`` and ``b[l]``
# are views into ``theta``, one vector operation updates every layer.

learning_rate = 0.5
J_before = cost(net, forward(net, A0), Y)
grad = backward(net, forward(net, A0), Y)
net.theta -= learning_rate * grad.flat
J_after = cost(net, forward(net, A0), Y)
print(f"J before the step: {J_before:.4f}, after: {J_after:.4f}")

# %%
# The epoch loop
# --------------
# Full-batch gradient descent repeats forward, backward and update. The
# engine's optimizers update ``theta`` in place from the same flat gradient:
# :class:`~scratchmlp.engine.SGD` with ``momentum=0`` *is* plain gradient
# descent, and it also does (Nesterov) momentum; :class:`~scratchmlp.engine.Adam`
# scales each step by running moments of the gradient.


def train(make_optimizer, epochs=300):
    """Full-batch training from the same initial parameters; the cost per epoch."""
    net.set_theta(theta0)
    optimizer = make_optimizer(net.theta)
    curve = []
    for _ in range(epochs):
        J, grad = cost_and_gradient(net, A0, Y)
        optimizer.step(net.theta, grad.flat)
        curve.append(J)
    return curve


curves = {
    "gradient descent (SGD, momentum=0)": train(
        lambda theta: SGD(theta, momentum=0.0, learning_rate_init=learning_rate)
    ),
    "momentum 0.9 (Nesterov)": train(
        lambda theta: SGD(theta, momentum=0.9, learning_rate_init=0.1)
    ),
    "Adam": train(lambda theta: Adam(theta, learning_rate_init=0.02)),
}
accuracy = (forward(net, A0).A[net.L].argmax(axis=0) == y).mean()
print(f"training accuracy after Adam: {accuracy:.3f}")

# %%
# The loss curves, and what the network learned
# ---------------------------------------------

fig, (ax_loss, ax_map) = plt.subplots(1, 2, figsize=(11, 4.2))
for label, curve in curves.items():
    ax_loss.plot(curve, label=label)
ax_loss.set(xlabel="epoch", ylabel="cost J", yscale="log", title="Training cost")
ax_loss.legend()

# Predicted class over a grid: one column per grid point.
x0, x1 = np.meshgrid(np.linspace(-2.5, 2.5, 200), np.linspace(-2.5, 2.5, 200))
grid = np.vstack([x0.ravel(), x1.ravel()])  # (n[0], 40000)
labels = forward(net, grid).A[net.L].argmax(axis=0).reshape(x0.shape)
ax_map.contourf(x0, x1, labels, alpha=0.3, cmap="viridis", levels=[-0.5, 0.5, 1.5, 2.5])
ax_map.scatter(X[:, 0], X[:, 1], c=y, s=12, cmap="viridis", edgecolor="k", linewidth=0.3)
ax_map.set(title="Decision regions after Adam", xlabel="x1", ylabel="x2")
fig.tight_layout()
plt.show()
