"""
The training history as a DataFrame
====================================

``history_`` holds one dict per epoch (per iteration for ``lbfgs``) with
the keys ``epoch``, ``loss``, ``val_loss``, ``val_score``,
``learning_rate`` and ``seconds``, so that ``pandas.DataFrame(est.history_)``
is a table of the whole fit, ready to plot, save or compare.

The validation columns are filled when there is validation data: the
internal split of ``early_stopping=True``, or a set of your own passed to
``fit(X, y, X_val=..., y_val=...)`` as here. ``val_score`` is the accuracy
(R² for a regressor) unless ``scoring`` names another scorer; here
``scoring="balanced_accuracy"``. ``early_stopping=True`` with ``X_val``
stops on that score, without holding out any training data, and restores
the best epoch's weights.
"""

import os
import sys

import matplotlib

# Draw off-screen when run as a script (tests, CI, the gallery build); run it
# with ``python -i`` or set MPLBACKEND to get a window.
if not (sys.flags.interactive or hasattr(sys, "ps1") or os.environ.get("MPLBACKEND")):
    matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from scratchmlp import ScratchMLPClassifier

X, y = load_digits(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(X / 16.0, y, test_size=0.3, random_state=0)

clf = ScratchMLPClassifier(
    hidden_layer_sizes=(64,),
    learning_rate_init=0.01,
    max_iter=200,
    early_stopping=True,
    n_iter_no_change=8,
    scoring="balanced_accuracy",
    random_state=0,
).fit(X_train, y_train, X_val=X_val, y_val=y_val)

history = pd.DataFrame(clf.history_).set_index("epoch")
print(history.round(4).tail())
best = history["val_score"].idxmax()
print(
    f"\n{clf.n_iter_} epochs, {history['seconds'].sum():.2f} s; best epoch {best} "
    f"(balanced accuracy {clf.best_validation_score_:.4f}), whose weights were restored"
)

fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(10, 4))
history[["loss", "val_loss"]].plot(ax=ax_loss, logy=True)
ax_loss.set(ylabel="log loss", title='history[["loss", "val_loss"]]')
history["val_score"].plot(ax=ax_score, color="C2")
ax_score.set(ylabel="balanced accuracy", title='history["val_score"]')
for ax in (ax_loss, ax_score):
    ax.axvline(best, color="k", linestyle=":", label=f"best epoch ({best})")
    ax.legend()
fig.tight_layout()
plt.show()
