"""
Cosine learning-rate schedule
=============================

``learning_rate="cosine"`` lowers the step size after every epoch ``k``
along half a cosine, from ``learning_rate_init`` at the start to zero at
``max_iter``:

.. math:: \\eta_k = \\eta_0 \\, (1 + \\cos(\\pi k / K)) / 2, \\qquad K = \\text{max\\_iter}.

Unlike scikit-learn's ``invscaling`` and ``adaptive`` schedules, which only
``solver="sgd"`` follows, every stochastic solver follows it (sgd, adam,
rmsprop, adamw). Here Adam on the digits with a step size too large to
keep: at the constant rate the losses stall and jump, while the cosine
schedule takes the same large steps at first and ever smaller ones later,
and ends with lower training and validation losses. The learning rate of
each epoch is in ``history_``.
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
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from scratchmlp import ScratchMLPClassifier

X, y = load_digits(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(X / 16.0, y, test_size=0.3, random_state=0)

# n_iter_no_change=max_iter: run all the epochs, so that the cosine reaches
# its end (the ConvergenceWarning this implies is silenced below).
K = 50
params = dict(
    hidden_layer_sizes=(64,),
    solver="adam",
    learning_rate_init=0.05,
    batch_size=32,
    max_iter=K,
    n_iter_no_change=K,
    random_state=0,
)

fig, (ax_loss, ax_lr) = plt.subplots(1, 2, figsize=(10, 4))
for color, schedule in zip(["C0", "C1"], ["constant", "cosine"]):
    clf = ScratchMLPClassifier(**params, learning_rate=schedule)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Stochastic Optimizer: Maximum iterations")
        clf.fit(X_train, y_train, X_val=X_val, y_val=y_val)
    epochs = [record["epoch"] for record in clf.history_]
    ax_loss.plot(epochs, clf.loss_curve_, color=color, label=f"{schedule}: training loss")
    ax_loss.plot(
        epochs,
        clf.validation_loss_curve_,
        color=color,
        linestyle="--",
        label=f"{schedule}: validation loss",
    )
    ax_lr.plot(
        epochs, [record["learning_rate"] for record in clf.history_], color=color, label=schedule
    )
    print(
        f"{schedule:8s} final training loss {clf.loss_:.4f}, validation loss "
        f"{clf.validation_loss_curve_[-1]:.4f}, validation accuracy "
        f"{clf.validation_scores_[-1]:.3f}"
    )

ax_loss.set(xlabel="epoch", ylabel="log loss", yscale="log", title="loss curves")
ax_loss.legend(fontsize=8)
ax_lr.set(xlabel="epoch", ylabel="learning rate of the epoch", title='history_["learning_rate"]')
ax_lr.legend()
fig.tight_layout()
plt.show()
