"""Beyond scikit-learn (8): callbacks (stopping, what they see, EarlyStopping, ProgressBar)."""

import builtins
import io
import sys
import warnings

import numpy as np
import pytest
from beyond_helpers import (
    _params,
    quiet,
)
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from testdata import SMALL

from scratchmlp import ScratchMLPClassifier
from scratchmlp.callbacks import EarlyStopping, ProgressBar

X, Y_BIN, Y_3, Y_ML = SMALL.X, SMALL.y_binary, SMALL.y_3, SMALL.y_multilabel
Y_REG = SMALL.y_reg
Y_COUNTS, X_VAL, Y_VAL_3, Y_VAL_REG = SMALL.y_counts, SMALL.X_val, SMALL.y_val_3, SMALL.y_val_reg


# ===========================================================================
# 8. Callbacks
# ===========================================================================
class StopAt:
    def __init__(self, epoch):
        self.epoch, self.calls = epoch, []

    def on_epoch_end(self, est, record):
        self.calls.append(record["epoch"])
        return record["epoch"] >= self.epoch


class Snapshots:
    """Record the in-progress weights and what the estimator exposes each epoch."""

    def __init__(self):
        self.coefs, self.history_lengths, self.records = {}, [], []

    def on_epoch_end(self, est, record):
        self.coefs[record["epoch"]] = [c.copy() for c in est.coefs_ + est.intercepts_]
        self.history_lengths.append(len(est.history_))
        self.records.append(record)
        return False


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_callback_stops_training_without_warning(solver):
    stop = StopAt(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning, nothing else
        est = ScratchMLPClassifier(**_params(solver=solver, max_iter=50, callbacks=[stop]))
        est.fit(X, Y_3)
    assert stop.calls == [1, 2, 3]
    assert est.n_iter_ == 3 == len(est.loss_curve_) == len(est.history_)
    if solver != "lbfgs":
        assert est.t_ == 3 * len(X)


@quiet
def test_every_callback_is_called_before_stopping():
    stop, count = StopAt(2), StopAt(10**9)
    est = ScratchMLPClassifier(**_params(callbacks=[stop, count])).fit(X, Y_3)
    assert stop.calls == count.calls == [1, 2]
    assert est.n_iter_ == 2


@quiet
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_callbacks_see_the_model_in_training(solver):
    snap = Snapshots()
    est = ScratchMLPClassifier(**_params(solver=solver, max_iter=6, callbacks=[snap]))
    est.fit(X, Y_3)
    epochs = sorted(snap.coefs)
    assert epochs == list(range(1, est.n_iter_ + 1))
    for a, b in zip(epochs, epochs[1:]):
        assert any(not np.array_equal(p, q) for p, q in zip(snap.coefs[a], snap.coefs[b]))
    for p, q in zip(snap.coefs[epochs[-1]], est.coefs_ + est.intercepts_):
        np.testing.assert_array_equal(p, q)  # the last one is the fitted model
    assert snap.history_lengths == epochs  # history_ is up to date in the callback
    assert snap.records == est.history_


def _early_stopping_fit(solver, **kw):
    snap, stop = Snapshots(), EarlyStopping(monitor="val_loss", patience=3, **kw)
    params = _params(
        solver=solver,
        hidden_layer_sizes=(30,),
        max_iter=300,
        learning_rate_init=0.05,
        callbacks=[snap, stop],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = ScratchMLPClassifier(**params).fit(X, Y_3, X_val=X_VAL, y_val=Y_VAL_3)
    return est, snap, stop


@pytest.mark.parametrize("solver", ["adam"])
def test_early_stopping_callback_restores_the_best_weights(solver):
    est, snap, stop = _early_stopping_fit(solver)
    assert stop.stopped_epoch_ == est.n_iter_ < 300
    assert stop.stopped_epoch_ == stop.best_epoch_ + 3
    losses = est.validation_loss_curve_
    assert stop.best_ == min(losses) == losses[stop.best_epoch_ - 1]
    for p, q in zip(est.coefs_ + est.intercepts_, snap.coefs[stop.best_epoch_]):
        np.testing.assert_array_equal(p, q)
    val_loss = log_loss(Y_VAL_3, est.predict_proba(X_VAL), labels=[0, 1, 2])
    assert val_loss == pytest.approx(stop.best_, rel=1e-10)
    # restore_best=False keeps the last epoch's weights.
    est, snap, stop = _early_stopping_fit(solver, restore_best=False)
    for p, q in zip(est.coefs_ + est.intercepts_, snap.coefs[stop.stopped_epoch_]):
        np.testing.assert_array_equal(p, q)


def test_early_stopping_callback_restores_the_best_weights_lbfgs():
    est, snap, stop = _early_stopping_fit("lbfgs")
    assert stop.stopped_epoch_ == est.n_iter_
    for p, q in zip(est.coefs_ + est.intercepts_, snap.coefs[stop.best_epoch_]):
        np.testing.assert_array_equal(p, q)


def test_early_stopping_callback_can_be_reused():
    stop = EarlyStopping(patience=3)
    est = ScratchMLPClassifier(
        **_params(hidden_layer_sizes=(30,), max_iter=300, learning_rate_init=0.05, callbacks=[stop])
    )
    est.fit(X, Y_3, X_val=X_VAL, y_val=Y_VAL_3)
    first = (est.n_iter_, stop.best_epoch_, [c.copy() for c in est.coefs_])
    est.fit(X, Y_3, X_val=X_VAL, y_val=Y_VAL_3)  # same random_state: the same fit
    assert (est.n_iter_, stop.best_epoch_) == first[:2]
    for p, q in zip(est.coefs_, first[2]):
        np.testing.assert_array_equal(p, q)


def test_early_stopping_callback_needs_validation_data():
    est = ScratchMLPClassifier(**_params(callbacks=[EarlyStopping()]))
    with pytest.raises(ValueError, match="validation"):
        est.fit(X, Y_3)
    with pytest.raises(ValueError, match="monitor"):
        EarlyStopping(monitor="accuracy")


@quiet
def test_early_stopping_callback_on_training_loss():
    stop = EarlyStopping(monitor="loss", patience=2, min_delta=1e-2)
    est = ScratchMLPClassifier(
        **_params(max_iter=500, learning_rate_init=0.05, callbacks=[stop])
    ).fit(X, Y_3)
    assert stop.stopped_epoch_ == est.n_iter_ < 500
    assert stop.best_ == pytest.approx(est.loss_curve_[stop.best_epoch_ - 1])


def test_progress_bar_without_tqdm_raises_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with pytest.raises(ImportError, match="tqdm"):
        ProgressBar()

    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.split(".")[0] == "tqdm":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "tqdm")
    monkeypatch.delitem(sys.modules, "tqdm.auto")
    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    with pytest.raises(ImportError, match="pip install"):
        ProgressBar()


@quiet
def test_fitted_estimator_with_progress_bar_clones_and_pickles():
    pytest.importorskip("tqdm")
    import pickle

    est = ScratchMLPClassifier(**_params(max_iter=3, callbacks=[ProgressBar(file=io.StringIO())]))
    est.fit(X, Y_3)
    clone(est)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict(X), est.predict(X))


@quiet
def test_progress_bar_with_tqdm():
    pytest.importorskip("tqdm")
    out = io.StringIO()
    bar = ProgressBar(file=out, mininterval=0)
    est = ScratchMLPClassifier(**_params(max_iter=7, callbacks=[bar])).fit(
        X, Y_3, X_val=X_VAL, y_val=Y_VAL_3
    )
    assert bar.bar.n == est.n_iter_ == 7
    assert bar.bar.total == 7
    assert "loss" in out.getvalue()
