"""
One activation per hidden layer
===============================

``activation`` takes one name, as in scikit-learn, or a list with one name
per hidden layer (one entry per entry of ``hidden_layer_sizes``). Here a
network with two hidden layers of 16 units, trained with L-BFGS
(``alpha=0.3``) on the two moons, for six lists. The background is the
predicted probability of the second class; the title gives the test
accuracy.

A layer with ``identity`` adds no non-linearity: in ``["relu", "identity"]``
the identity layer and the output layer compose to one linear map, so the
model is a one-hidden-layer relu network, and ``["identity", "tanh"]`` is a
tanh network on a linear projection of the input. Made of relu and
identity layers only, the network is piecewise linear and its boundary a
polygon; one smooth layer (tanh, gelu, softplus, silu, elu) is enough to
curve it.
"""

import os
import sys
import warnings

import matplotlib

# Draw off-screen when run as a script (tests, CI, the gallery build); run it
# with ``python -i`` or set MPLBACKEND to get a window.
if not (sys.flags.interactive or hasattr(sys, "ps1") or os.environ.get("MPLBACKEND")):
    matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from scratchmlp import ScratchMLPClassifier

X, y = make_moons(n_samples=300, noise=0.25, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, random_state=0)

ACTIVATION_LISTS = [
    ["relu", "relu"],
    ["tanh", "relu"],
    ["relu", "identity"],
    ["identity", "tanh"],
    ["gelu", "softplus"],
    ["silu", "elu"],
]

xx, yy = np.meshgrid(np.linspace(-2, 3, 150), np.linspace(-1.5, 2, 150))
grid = np.column_stack([xx.ravel(), yy.ravel()])

fig, axes = plt.subplots(2, 3, figsize=(11, 7), sharex=True, sharey=True)
for ax, activation in zip(axes.ravel(), ACTIVATION_LISTS):
    clf = ScratchMLPClassifier(
        hidden_layer_sizes=(16, 16),
        activation=activation,
        solver="lbfgs",
        alpha=0.3,
        max_iter=500,
        random_state=0,
    )
    with warnings.catch_warnings():
        # L-BFGS may stop at max_iter before its tolerance: fine for a picture.
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    proba = clf.predict_proba(grid)[:, 1].reshape(xx.shape)
    ax.contourf(xx, yy, proba, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.8)
    ax.contour(xx, yy, proba, levels=[0.5], colors="k", linewidths=1)
    ax.scatter(X_train[:, 0], X_train[:, 1], c=y_train, cmap="RdBu_r", edgecolors="k", s=15)
    accuracy = clf.score(X_test, y_test)
    ax.set_title(f"activation={activation}\ntest accuracy {accuracy:.3f}", fontsize=10)
    print(f"{str(activation):24s} test accuracy {accuracy:.3f}")

fig.suptitle("hidden_layer_sizes=(16, 16), one activation per hidden layer")
fig.tight_layout()
plt.show()
