"""
Solvers compared on the digits
==============================

The training cost ``loss_curve_`` of the same network trained by each
solver: full-batch ``lbfgs`` (one point per iteration), and the mini-batch
solvers ``sgd`` (with Nesterov momentum), ``adam`` and ``rmsprop`` (one point
per epoch). The last two are scratchmlp's additions to scikit-learn's three;
``adamw`` is Adam with a decoupled weight decay.

All fits start from the same initial weights (``random_state=0``).
"""

import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from scratchmlp import ScratchMLPClassifier

X, y = load_digits(return_X_y=True)
X = X / 16.0  # pixels in [0, 1]
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

solvers = {
    "lbfgs": dict(solver="lbfgs"),
    "sgd": dict(solver="sgd", learning_rate_init=0.1, momentum=0.9),
    "adam": dict(solver="adam", learning_rate_init=0.005),
    "rmsprop": dict(solver="rmsprop", learning_rate_init=0.002),
}

fig, ax = plt.subplots(figsize=(7, 4.5))
for name, params in solvers.items():
    clf = ScratchMLPClassifier(
        hidden_layer_sizes=(64,), max_iter=50, tol=0, random_state=0, **params
    )
    with warnings.catch_warnings():
        # 50 epochs (or iterations) is a short budget on purpose.
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    print(
        f"{name:8s} {clf.n_iter_:3d} epochs/iterations  final cost {clf.loss_:.4f}  "
        f"test accuracy {clf.score(X_test, y_test):.3f}"
    )
    ax.plot(range(1, len(clf.loss_curve_) + 1), clf.loss_curve_, label=name)

ax.set(
    xlabel="epoch (lbfgs: iteration)",
    ylabel="training cost (loss_curve_)",
    yscale="log",
    title="ScratchMLPClassifier(hidden_layer_sizes=(64,)) on the digits",
)
ax.legend()
fig.tight_layout()
plt.show()
