"""
Early stopping: validation score and training cost
==================================================

With ``early_stopping=True`` the estimator holds out ``validation_fraction``
of the training data, scores it after each epoch (``validation_scores_``,
the accuracy for a classifier) and stops when the score has not improved by
``tol`` for ``n_iter_no_change`` epochs; it then restores the weights of the
best epoch. This is scikit-learn's behaviour, with the same attributes.

scratchmlp also records the validation *loss* (``validation_loss_curve_``)
and one dict per epoch in ``history_``. A validation set of your own can be
passed to ``fit(X, y, X_val=..., y_val=...)`` instead of the internal split.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from scratchmlp import ScratchMLPClassifier

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

clf = ScratchMLPClassifier(
    hidden_layer_sizes=(64,),
    learning_rate_init=0.01,
    max_iter=200,
    early_stopping=True,
    validation_fraction=0.2,
    n_iter_no_change=10,
    random_state=0,
).fit(X_train, y_train)

best = int(np.argmax(clf.validation_scores_)) + 1
print(
    f"stopped after {clf.n_iter_} epochs; best epoch {best}, "
    f"validation accuracy {clf.best_validation_score_:.3f}"
)
print(f"test accuracy with the restored weights: {clf.score(X_test, y_test):.3f}")
print("last history_ entry:", {k: round(v, 4) for k, v in clf.history_[-1].items()})

epochs = np.arange(1, clf.n_iter_ + 1)
fig, ax_loss = plt.subplots(figsize=(7, 4.5))
ax_loss.plot(epochs, clf.loss_curve_, label="training cost (loss_curve_)")
ax_loss.plot(epochs, clf.validation_loss_curve_, label="validation loss (validation_loss_curve_)")
ax_loss.set(xlabel="epoch", ylabel="cost", yscale="log")
ax_score = ax_loss.twinx()
ax_score.plot(
    epochs, clf.validation_scores_, color="C2", label="validation accuracy (validation_scores_)"
)
ax_score.set_ylabel("accuracy")
ax_score.axvline(best, color="k", linestyle=":", label=f"best epoch ({best}), restored")
lines = ax_loss.get_legend_handles_labels()
more = ax_score.get_legend_handles_labels()
ax_loss.legend(lines[0] + more[0], lines[1] + more[1], loc="center right", fontsize=8)
ax_loss.set_title("early_stopping=True, n_iter_no_change=10")
fig.tight_layout()
plt.show()
