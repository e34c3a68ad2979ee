"""Epoch callbacks for ``ScratchMLPClassifier(callbacks=[...])``.

A callback is any object with a method ``on_epoch_end(estimator, record) ->
bool``, and optionally ``on_train_begin(estimator)`` and
``on_train_end(estimator)``, called around each fit or partial_fit with the
estimator. ``on_epoch_end`` is called after every epoch (every iteration
for ``lbfgs``) with a view of the estimator in training: a stand-in with the
same parameters whose ``coefs_``, ``loss_curve_`` and ``history_`` are
those of the model in training (assigning its ``coefs_`` changes that
model), and ``record``, the epoch's ``history_`` entry (``epoch``,
``loss``, ``val_loss``, ``val_score``, ``learning_rate``, ``seconds``).
Returning True stops training after that epoch. The estimator itself
changes only when the fit ends.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EarlyStopping", "ProgressBar"]


class EarlyStopping:
    """Stop when a monitored quantity stops improving, and restore its best weights.

    Parameters
    ----------
    monitor : {'val_loss', 'val_score', 'loss'}, default='val_loss'
        The ``history_`` field to watch; losses should fall, scores rise.
        ``val_*`` need validation data (``early_stopping=True`` or
        ``fit(..., X_val=..., y_val=...)``).
    patience : int, default=10
        Epochs without improvement before stopping.
    min_delta : float, default=0.0
        The smallest change that counts as an improvement.
    restore_best : bool, default=True
        When stopping, put back the weights of the best epoch.

    Attributes
    ----------
    best_ : float
        The best monitored value seen.
    best_epoch_ : int
        The epoch it was seen in.
    stopped_epoch_ : int or None
        The epoch training stopped after, if it did.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from scratchmlp import ScratchMLPClassifier
    >>> from scratchmlp.callbacks import EarlyStopping
    >>> X, y = load_digits(return_X_y=True)
    >>> stop = EarlyStopping(monitor="val_loss", patience=3)
    >>> clf = ScratchMLPClassifier(
    ...     (30,), learning_rate_init=0.01, max_iter=200, random_state=0, callbacks=[stop]
    ... )
    >>> clf = clf.fit(X[:1000] / 16, y[:1000], X_val=X[1000:] / 16, y_val=y[1000:])
    >>> stop.stopped_epoch_ == len(clf.loss_curve_) < 200
    True
    """

    _MONITORS = {"val_loss": -1, "loss": -1, "val_score": 1}  # +1: higher is better

    def __init__(self, monitor="val_loss", patience=10, min_delta=0.0, restore_best=True):
        if monitor not in self._MONITORS:
            raise ValueError(f"monitor must be one of {sorted(self._MONITORS)}, got {monitor!r}.")
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best = restore_best
        self.on_train_begin(None)

    def on_train_begin(self, estimator) -> None:
        """Forget the previous fit: each fit starts its own patience."""
        self.best_ = None
        self.best_epoch_ = None
        self.stopped_epoch_ = None
        self._wait = 0
        self._best_weights = None

    def on_epoch_end(self, estimator, record) -> bool:
        """Track the monitored value; True once it has not improved for ``patience`` epochs."""
        value = record[self.monitor]
        if value is None:
            raise ValueError(
                f"EarlyStopping(monitor={self.monitor!r}) needs validation data: pass "
                "X_val and y_val to fit, or set early_stopping=True."
            )
        sign = self._MONITORS[self.monitor]
        if self.best_ is None or sign * (value - self.best_) > self.min_delta:
            self.best_, self.best_epoch_, self._wait = value, record["epoch"], 0
            if self.restore_best:
                ops = estimator._net.ops  # numpy, or the namespace of an array API fit
                self._best_weights = (
                    [ops.copy(c) for c in estimator.coefs_],
                    [ops.copy(b) for b in estimator.intercepts_],
                )
            return False
        self._wait += 1
        if self._wait < self.patience:
            return False
        self.stopped_epoch_ = record["epoch"]
        if self.restore_best and self._best_weights is not None:
            estimator.coefs_, estimator.intercepts_ = self._best_weights
        return True


class ProgressBar:
    """A tqdm progress bar over the epochs, showing the loss (needs ``tqdm``).

    Parameters
    ----------
    **tqdm_kwargs
        Passed to ``tqdm.tqdm`` (e.g. ``leave=False``, ``file=sys.stdout``).

    Raises
    ------
    ImportError
        When tqdm is not installed (``pip install scratchmlp[progress]``).
    """

    def __init__(self, **tqdm_kwargs):
        try:
            from tqdm.auto import tqdm
        except ImportError as error:
            raise ImportError(
                "ProgressBar needs the optional package tqdm: "
                "pip install 'scratchmlp[progress]' (or pip install tqdm)."
            ) from error
        self._tqdm = tqdm
        self.tqdm_kwargs = tqdm_kwargs
        self.bar = None

    def on_train_begin(self, estimator) -> None:
        """Open a bar of ``max_iter`` epochs."""
        self.bar = self._tqdm(total=estimator.max_iter, unit="epoch", **self.tqdm_kwargs)

    def on_train_end(self, estimator) -> None:
        """Close the bar (it stays readable as ``bar``, e.g. ``bar.n`` epochs)."""
        if self.bar is not None:
            self.bar.close()

    def __getstate__(self):
        # A live bar holds a stream: neither pickled nor cloned.
        state = dict(self.__dict__)
        state.update(bar=None, _tqdm=None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self._tqdm is None:
            from tqdm.auto import tqdm

            self._tqdm = tqdm

    def on_epoch_end(self, estimator, record) -> bool:
        """Advance the bar by one epoch; never stops training."""
        if self.bar is None:
            self.on_train_begin(estimator)
        postfix = {"loss": f"{record['loss']:.4g}"}
        if record["val_score"] is not None and np.isfinite(record["val_score"]):
            postfix["val_score"] = f"{record['val_score']:.4g}"
        self.bar.set_postfix(postfix)
        self.bar.update(1)
        return False
