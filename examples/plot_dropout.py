"""
Dropout on a small noisy data set
=================================

A network of two hidden layers of 64 units trained on 40 noisy samples
learns the noise: its training loss falls towards zero while its
validation loss, after a first dip, climbs. ``dropout=0.5`` zeroes each
hidden unit with probability 0.5 in every mini-batch and scales the others
by 2 (inverted dropout), during training only; ``predict`` uses the whole
network and is deterministic.

The curves come from ``history_`` (one dict per epoch) and the validation
set passed as ``fit(X, y, X_val=..., y_val=...)``. The training loss with
dropout is measured on the thinned networks, so it stays higher and noisy;
the validation loss is that of the full network.
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

from scratchmlp import ScratchMLPRegressor

rng = np.random.RandomState(0)


NOISE = 0.5


def noisy(n):
    """y = sin(x1) + x2 / 2 plus Gaussian noise; 5 features, 3 of them useless."""
    X = rng.uniform(-2, 2, size=(n, 5))
    return X, np.sin(X[:, 0]) + 0.5 * X[:, 1] + NOISE * rng.randn(n)


X_train, y_train = noisy(40)
X_val, y_val = noisy(300)

# n_iter_no_change=max_iter: train for all 250 epochs, to see the whole curves
# (hence the ConvergenceWarning silenced below: it is expected).
params = dict(
    hidden_layer_sizes=(64, 64),
    learning_rate_init=0.01,
    max_iter=250,
    n_iter_no_change=250,
    random_state=0,
)
models = {
    "no dropout": ScratchMLPRegressor(**params),
    "dropout=0.5": ScratchMLPRegressor(**params, dropout=0.5),
}

fig, ax = plt.subplots(figsize=(7, 4.5))
for color, (name, model) in zip(["C0", "C1"], models.items()):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Stochastic Optimizer: Maximum iterations")
        model.fit(X_train, y_train, X_val=X_val, y_val=y_val)
    epochs = [record["epoch"] for record in model.history_]
    ax.plot(
        epochs,
        [r["loss"] for r in model.history_],
        color=color,
        alpha=0.6,
        label=f"{name}: training loss",
    )
    ax.plot(
        epochs,
        [r["val_loss"] for r in model.history_],
        color=color,
        linestyle="--",
        label=f"{name}: validation loss",
    )
    print(
        f"{name:12s} train R2 {model.score(X_train, y_train):.3f}   "
        f"validation R2 {model.score(X_val, y_val):.3f}   "
        f"best validation loss {min(model.validation_loss_curve_):.3f} "
        f"(epoch {int(np.argmin(model.validation_loss_curve_)) + 1}), "
        f"last {model.validation_loss_curve_[-1]:.3f}"
    )

ax.axhline(0.5 * NOISE**2, color="gray", linestyle=":", label="the noise's half squared error")
ax.set(
    xlabel="epoch",
    ylabel="half squared error",
    yscale="log",
    title="hidden_layer_sizes=(64, 64), 40 training samples",
)
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
