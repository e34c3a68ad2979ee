"""
A 1-D regression fit
====================

:class:`~scratchmlp.ScratchMLPRegressor` fitted to noisy samples of
``sin(2x) + x / 2``. The output layer is the identity and the loss half the
squared error, so ``dZ[L] = A[L] - Y`` as for the classifiers. Two hidden
activations are compared: the piecewise-linear ``relu`` fit is a polyline,
the ``tanh`` fit is smooth. Outside the training interval ``[-3, 3]`` both
only extrapolate.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from scratchmlp import ScratchMLPRegressor

rng = np.random.RandomState(0)
x = np.sort(rng.uniform(-3, 3, 120))
y = np.sin(2 * x) + x / 2 + rng.normal(scale=0.15, size=x.size)
X = x[:, np.newaxis]  # (m, 1): the estimators take scikit-learn's layout
x_plot = np.linspace(-3.5, 3.5, 400)[:, np.newaxis]

fig, ax = plt.subplots(figsize=(7, 4.5))
ax.scatter(x, y, s=10, color="0.4", label="training samples")
ax.plot(x_plot, np.sin(2 * x_plot) + x_plot / 2, "k:", label="truth")
for activation in ("relu", "tanh"):
    reg = ScratchMLPRegressor(
        hidden_layer_sizes=(32, 32),
        activation=activation,
        solver="lbfgs",
        alpha=1e-3,
        max_iter=300,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    score = reg.score(X, y)
    print(f"{activation:5s} R^2 on the training set {score:.3f}  ({reg.n_iter_} iterations)")
    ax.plot(x_plot, reg.predict(x_plot), label=f"activation='{activation}'")

title = "ScratchMLPRegressor(hidden_layer_sizes=(32, 32), solver='lbfgs')"
ax.set(xlabel="x", ylabel="y", title=title)
ax.legend()
fig.tight_layout()
plt.show()
