"""
Decision boundaries of each activation
======================================

The same two-hidden-layer network trained on the two moons with each hidden
activation that scratchmlp accepts: scikit-learn's ``identity``,
``logistic``, ``tanh`` and ``relu``, and the additions ``leaky_relu``,
``elu``, ``gelu``, ``softplus`` and ``silu``. The background is the
predicted probability of the second class; the title gives the test
accuracy.

``identity`` makes the whole network linear, so its boundary is a straight
line. The piecewise-linear ``relu`` and ``leaky_relu`` give polygonal
boundaries, the smooth activations smooth ones.

``activation`` also takes one name per hidden layer, e.g.
``activation=["tanh", "relu"]``.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from scratchmlp import ScratchMLPClassifier
from scratchmlp.engine import ACTIVATIONS

X, y = make_moons(n_samples=300, noise=0.25, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)

x0, x1 = np.meshgrid(np.linspace(-1.7, 2.7, 120), np.linspace(-1.3, 1.8, 120))
grid = np.c_[x0.ravel(), x1.ravel()]

names = list(ACTIVATIONS)  # the registry: every name the estimators accept
fig, axes = plt.subplots(3, 3, figsize=(10, 9), sharex=True, sharey=True)
for ax, name in zip(axes.ravel(), names):
    clf = ScratchMLPClassifier(
        hidden_layer_sizes=(16, 16),
        activation=name,
        solver="lbfgs",
        max_iter=150,
        alpha=0.1,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    proba = clf.predict_proba(grid)[:, 1].reshape(x0.shape)
    ax.contourf(x0, x1, proba, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.7)
    ax.contour(x0, x1, proba, levels=[0.5], colors="k", linewidths=1)
    ax.scatter(
        X_train[:, 0], X_train[:, 1], c=y_train, cmap="RdBu_r", s=10, edgecolor="k", linewidth=0.3
    )
    ax.set_title(f"{name}: {clf.score(X_test, y_test):.2f}")
    print(f"{name:10s} test accuracy {clf.score(X_test, y_test):.3f}")

fig.suptitle("hidden_layer_sizes=(16, 16), solver='lbfgs', alpha=0.1")
fig.tight_layout()
plt.show()
