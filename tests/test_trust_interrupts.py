"""Trust (5): interruption.

A KeyboardInterrupt leaves a consistent, usable model (the last recorded
epoch) and is never swallowed by scikit-learn's model selection.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.utils.validation import check_is_fitted
from testdata import TRUST
from trust_helpers import (
    SOLVERS,
    STOCHASTIC,
    X_INT,
    Y_INT,
    InterruptAt,
    _assert_weights_bitwise,
    _interrupt_estimator,
    _outputs,
    _quiet_fit,
    _weights,
)

X_STD, Y_BIN, Y_3, Y_REG = TRUST.X, TRUST.y_binary, TRUST.y_3, TRUST.y_reg

# ===========================================================================
# 5. Interruption (KeyboardInterrupt).
# ===========================================================================


def _assert_usable(est, X):
    check_is_fitted(est)
    assert all(np.isfinite(w).all() for w in _weights(est))
    for out in _outputs(est, X):
        assert np.isfinite(np.asarray(out, dtype=float)).all()


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize("solver", SOLVERS)
def test_keyboard_interrupt_in_callback_leaves_a_consistent_model(kind, solver):
    y = Y_INT[kind]
    est = _interrupt_estimator(kind, solver, callbacks=[InterruptAt(3)])
    with pytest.raises(KeyboardInterrupt):
        est.fit(X_INT, y)
    _assert_usable(est, X_INT)
    assert est.n_iter_ == 3
    assert len(est.loss_curve_) == len(est.history_) == 3
    assert est.loss_ == est.loss_curve_[-1]
    assert [r["epoch"] for r in est.history_] == [1, 2, 3]
    if solver != "lbfgs":
        assert est.t_ == 3 * len(X_INT)
    # The model is exactly the one of an uninterrupted run of 3 epochs.
    clean = _quiet_fit(_interrupt_estimator(kind, solver, max_iter=3), X_INT, y)
    _assert_weights_bitwise(est, clean, "interrupted vs 3 epochs")
    assert est.loss_curve_ == clean.loss_curve_

    # warm_start: the counts of the new call add up with the earlier ones.
    est.set_params(warm_start=True, callbacks=[InterruptAt(3 + 2)])
    with pytest.raises(KeyboardInterrupt):
        est.fit(X_INT, y)
    _assert_usable(est, X_INT)
    assert est.n_iter_ == 2
    assert len(est.loss_curve_) == len(est.history_) == 5
    if solver != "lbfgs":
        assert est.t_ == 5 * len(X_INT)


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize("solver", STOCHASTIC)
def test_keyboard_interrupt_in_partial_fit_callback(kind, solver):
    y = Y_INT[kind]
    kw = {"classes": np.unique(y)} if kind == "classifier" else {}
    est = _interrupt_estimator(kind, solver, callbacks=[InterruptAt(3)])
    reference = _interrupt_estimator(kind, solver)
    for model in (est, reference):
        model.partial_fit(X_INT, y, **kw)
        model.partial_fit(X_INT, y)
    with pytest.raises(KeyboardInterrupt):
        est.partial_fit(X_INT, y)
    reference.partial_fit(X_INT, y)
    _assert_usable(est, X_INT)
    # The interrupted call's epoch was complete: it is recorded, exactly once.
    assert est.n_iter_ == 1
    assert len(est.loss_curve_) == len(est.history_) == 3
    assert est.t_ == 3 * len(X_INT)
    _assert_weights_bitwise(est, reference)
    # ...and training goes on exactly as without the interrupt (optimizer state included).
    est.set_params(callbacks=None)
    est.partial_fit(X_INT, y)
    reference.partial_fit(X_INT, y)
    _assert_weights_bitwise(est, reference, "after continuing")
    assert est.loss_curve_ == reference.loss_curve_


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_keyboard_interrupt_in_first_partial_fit_call(solver):
    """Interrupted after the one epoch of the first call: the classifier keeps
    that epoch *and* its classes, so that it can predict and continue."""
    est = _interrupt_estimator("classifier", solver, callbacks=[InterruptAt(1)])
    with pytest.raises(KeyboardInterrupt):
        est.partial_fit(X_INT, Y_3, classes=[0, 1, 2])
    if "_model" in vars(est):  # it kept the epoch: then it must be a whole model
        np.testing.assert_array_equal(est.classes_, [0, 1, 2])
        _assert_usable(est, X_INT)
        assert len(est.loss_curve_) == 1 and est.t_ == len(X_INT)
        est.set_params(callbacks=None)
        est.partial_fit(X_INT, Y_3)  # no classes needed any more
        assert len(est.loss_curve_) == 2
    else:  # or it rolled back completely
        with pytest.raises(NotFittedError):
            check_is_fitted(est)
        assert "classes_" not in vars(est)


class _InterruptingScorer:
    """A validation scorer interrupted on its ``at``-th call (Ctrl-C while scoring)."""

    def __init__(self, at):
        self.at = at
        self.calls = 0

    def __call__(self, estimator, X, y, sample_weight=None):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return 0.0


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_keyboard_interrupt_while_scoring_the_validation_set(solver):
    """Ctrl-C during epoch 3's validation scoring: that epoch is not recorded, so
    the model must be the one after epoch 2 (weights, t_ and optimizer alike)."""
    est = _interrupt_estimator("classifier", solver, scoring=_InterruptingScorer(3))
    with pytest.raises(KeyboardInterrupt):
        est.fit(X_INT, Y_3, X_val=X_INT, y_val=Y_3)
    _assert_usable(est, X_INT)
    assert est.n_iter_ == len(est.loss_curve_) == len(est.validation_scores_) == 2
    if solver != "lbfgs":
        assert est.t_ == 2 * len(X_INT)
    clean = _quiet_fit(_interrupt_estimator("classifier", solver, max_iter=2), X_INT, Y_3)
    _assert_weights_bitwise(est, clean, "interrupted while scoring epoch 3 vs 2 epochs")


@pytest.mark.parametrize("solver", STOCHASTIC)
def test_keyboard_interrupt_inside_an_epoch(solver, monkeypatch):
    """Ctrl-C between two mini-batches of partial_fit's epoch: the weights go back
    to the start of the epoch, and so must the optimizer's state, or resuming
    differs from never having started that epoch."""
    # The driver reaches the numpy engine's cost_and_gradient through net.engine.
    import scratchmlp._network as training

    est = _interrupt_estimator("classifier", solver)
    est.partial_fit(X_INT, Y_3, classes=[0, 1, 2])
    est.partial_fit(X_INT, Y_3)
    reference = pickle.loads(pickle.dumps(est))
    original, calls = training.cost_and_gradient, [0]

    def interrupted(*args, **kwargs):
        calls[0] += 1
        if calls[0] == 2:  # after the first mini-batch step of the epoch
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(training, "cost_and_gradient", interrupted)
    with pytest.raises(KeyboardInterrupt):
        est.partial_fit(X_INT, Y_3)
    monkeypatch.setattr(training, "cost_and_gradient", original)
    _assert_usable(est, X_INT)
    assert len(est.loss_curve_) == 2 and est.t_ == 2 * len(X_INT)
    _assert_weights_bitwise(est, reference, "weights after the interrupted epoch")
    est.partial_fit(X_INT, Y_3)
    reference.partial_fit(X_INT, Y_3)
    _assert_weights_bitwise(est, reference, "after resuming")


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_keyboard_interrupt_propagates_out_of_model_selection(solver):
    est = _interrupt_estimator("classifier", solver, callbacks=[InterruptAt(3)])
    with pytest.raises(KeyboardInterrupt):
        cross_val_score(est, X_INT, Y_3, cv=KFold(3))
    search = GridSearchCV(est, {"alpha": [1e-4, 1e-2]}, cv=KFold(3), n_jobs=1)
    with pytest.raises(KeyboardInterrupt):
        search.fit(X_INT, Y_3)
    # error_score="raise" or not, it is never turned into a NaN score.
    search = GridSearchCV(est, {"alpha": [1e-4]}, cv=KFold(3), n_jobs=1, error_score=np.nan)
    with pytest.raises(KeyboardInterrupt):
        search.fit(X_INT, Y_3)
