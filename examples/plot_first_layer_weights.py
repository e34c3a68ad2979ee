"""
First-layer weights of a digits model
=====================================

Each hidden unit ``k`` of the first layer computes
``Z[1][k] = W[1][k, :] A[0] + b[1][k]``: a weighted sum of the 64 pixels.
Row ``k`` of ``W[1]`` (shape ``(n[1], n[0]) = (32, 64)``) is therefore an
8x8 image, the pattern of pixels that excites the unit (red) or inhibits it
(blue). The estimator exposes ``W[l]`` as ``weights_[l]`` in the engine's
layout; scikit-learn's ``coefs_[0]`` is the same array transposed (a view of
it).

A strong L2 penalty (``alpha=5``) keeps the weights of uninformative pixels
near zero, so that the patterns stand out.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from scratchmlp import ScratchMLPClassifier

X, y = load_digits(return_X_y=True)
X = X / 16.0

clf = ScratchMLPClassifier(
    hidden_layer_sizes=(32,), alpha=5.0, solver="lbfgs", max_iter=100, random_state=0
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    clf.fit(X, y)
print(f"training accuracy {clf.score(X, y):.3f}")

W1 = clf.weights_[1]  # (n[1], n[0]) = (32, 64)
print("W[1]:", W1.shape, " coefs_[0]:", clf.coefs_[0].shape)
print(
    "coefs_[0] is a view of W[1].T:",
    np.shares_memory(clf.coefs_[0], W1) and np.array_equal(clf.coefs_[0], W1.T),
)

fig, axes = plt.subplots(4, 8, figsize=(9, 5))
for k, ax in enumerate(axes.ravel()):
    vmax = np.abs(W1[k]).max()  # each unit on its own symmetric scale
    ax.imshow(W1[k].reshape(8, 8), cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    ax.set_axis_off()
fig.suptitle("The 32 rows of W[1] (weights_[1]), each as an 8x8 image")
fig.tight_layout()
plt.show()
