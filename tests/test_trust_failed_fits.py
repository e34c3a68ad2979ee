"""Trust (6): a fit that fails on bad input leaves the fitted model exactly as it was.

Cases beyond ``tests/test_bad_input.py``.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from testdata import TRUST
from trust_helpers import (
    Y_INT,
    InterruptAt,
    _assert_bitwise,
    _assert_weights_bitwise,
    _interrupt_estimator,
    _outputs,
    _quiet_fit,
    _weights,
)

X_STD, Y_BIN, Y_3, Y_REG = TRUST.X, TRUST.y_binary, TRUST.y_3, TRUST.y_reg


# ===========================================================================
# 6. A failed fit leaves the fitted model exactly as it was.
#    (Cases beyond tests/test_bad_input.py: warm_start and partial_fit paths,
#    validation sets, targets of another shape or loss, and failures in the
#    middle of training; checked down to the optimizer state.)
# ===========================================================================
def _full_snapshot(est, X):
    return {
        "keys": list(vars(est)),
        "params": est.get_params(deep=False),
        "weights": _weights(est),
        "loss_curve": list(est.loss_curve_),
        "history": copy.deepcopy(est.history_),
        "t": est.t_,
        "n_iter": est.n_iter_,
        "outputs": [o.copy() for o in _outputs(est, X)],
        # Every private value (network, training state, optimizer moments), bitwise.
        "state": pickle.dumps(dict(vars(est))),
    }


def _assert_same_as(est, snap, X):
    assert list(vars(est)) == snap["keys"]
    assert est.get_params(deep=False) == snap["params"]
    for a, b in zip(_weights(est), snap["weights"]):
        _assert_bitwise(a, b, "weights")
    assert est.loss_curve_ == snap["loss_curve"]
    assert est.history_ == snap["history"]
    assert est.t_ == snap["t"] and est.n_iter_ == snap["n_iter"]
    for a, b in zip(_outputs(est, X), snap["outputs"]):
        _assert_bitwise(a, b, "outputs")
    assert pickle.dumps(dict(vars(est))) == snap["state"]


def _fails_cleanly(est, call, exc, match, X=X_STD):
    snap = _full_snapshot(est, X)
    with pytest.raises(exc, match=match):
        call(est)
    _assert_same_as(est, snap, X)


def _x_with_nan():
    X = X_STD.copy()
    X[3, 1] = np.nan
    return X


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_failed_warm_start_fit_leaves_model_unchanged(kind, solver):
    y = Y_INT[kind]
    est = _quiet_fit(_interrupt_estimator(kind, solver, warm_start=True, max_iter=4), X_STD, y)
    # NaN in X, and a validation set with NaN, the wrong width or no y_val.
    _fails_cleanly(est, lambda e: e.fit(_x_with_nan(), y), ValueError, "NaN")
    _fails_cleanly(est, lambda e: e.fit(X_STD, y, X_val=_x_with_nan(), y_val=y), ValueError, "NaN")
    _fails_cleanly(
        est, lambda e: e.fit(X_STD, y, X_val=X_STD[:, :3], y_val=y), ValueError, "3 features"
    )
    _fails_cleanly(est, lambda e: e.fit(X_STD, y, X_val=X_STD), ValueError, "together")
    # Per-layer parameters of the wrong length.
    for param, value in [("activation", ["relu", "tanh"]), ("dropout", [0.1, 0.1])]:
        old = getattr(est, param)
        est.set_params(**{param: value})
        _fails_cleanly(est, lambda e: e.fit(X_STD, y), ValueError, "hidden")
        est.set_params(**{param: old})
    # A callback failing in the middle of training (not a KeyboardInterrupt):
    # the whole call is rolled back.
    est.set_params(callbacks=[InterruptAt(len(est.loss_curve_) + 2, exception=RuntimeError)])
    _fails_cleanly(est, lambda e: _quiet_fit(e, X_STD, y), RuntimeError, "interrupted")


def test_failed_warm_start_regressor_with_other_targets():
    est = _quiet_fit(_interrupt_estimator("regressor", "adam", warm_start=True), X_STD, Y_REG)
    two_outputs = np.c_[Y_REG, -Y_REG]
    _fails_cleanly(est, lambda e: _quiet_fit(e, X_STD, two_outputs), ValueError, "layer sizes")
    est.set_params(loss="poisson")
    _fails_cleanly(est, lambda e: _quiet_fit(e, X_STD, np.abs(Y_REG)), ValueError, "previous fit")


def test_failed_validation_labels_leave_classifier_unchanged():
    est = _quiet_fit(_interrupt_estimator("classifier", "adam", warm_start=True), X_STD, Y_3)
    y_val = Y_3.copy()
    y_val[0] = 9
    _fails_cleanly(
        est, lambda e: e.fit(X_STD, Y_3, X_val=X_STD, y_val=y_val), ValueError, "classes"
    )


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize("solver", ["adam", "rmsprop", "adamw"])
def test_failed_partial_fit_keeps_optimizer_state(kind, solver):
    """After partial_fit raises, training continues exactly as if the failed call
    had never been made (the optimizer's moments and step count included)."""
    y = Y_INT[kind]
    kw = {"classes": np.unique(y)} if kind == "classifier" else {}
    est = _interrupt_estimator(kind, solver)
    reference = _interrupt_estimator(kind, solver)
    for model in (est, reference):
        model.partial_fit(X_STD, y, **kw)
    y_nan = y.astype(float)
    y_nan[2] = np.nan
    bad_weights = np.ones(len(y))
    bad_weights[5] = -1
    failures = [
        (lambda e: e.partial_fit(_x_with_nan(), y), "NaN"),
        (lambda e: e.partial_fit(X_STD, y_nan), "NaN"),
        (lambda e: e.partial_fit(X_STD, y, sample_weight=bad_weights), "Negative"),
        (lambda e: e.partial_fit(X_STD, y, sample_weight=np.ones(len(y) - 1)), "sample_weight"),
        (lambda e: e.partial_fit(X_STD[:, :3], y), "3 features"),
    ]
    if kind == "classifier":
        y_new = y.copy()
        y_new[0] = 5
        failures.append((lambda e: e.partial_fit(X_STD, y_new), "classes"))
    else:
        failures.append((lambda e: e.partial_fit(X_STD, np.c_[y, y]), "layer sizes"))
    for call, match in failures:
        _fails_cleanly(est, call, ValueError, match)
    # A callback error in the middle of a partial_fit call: rolled back too.
    est.set_params(callbacks=[InterruptAt(2, exception=RuntimeError)])
    _fails_cleanly(est, lambda e: e.partial_fit(X_STD, y), RuntimeError, "interrupted")
    est.set_params(callbacks=None)
    for model in (est, reference):
        model.partial_fit(X_STD, y)
        model.partial_fit(X_STD, y)
    _assert_weights_bitwise(est, reference)
    assert est.loss_curve_ == reference.loss_curve_ and est.t_ == reference.t_


def test_failed_multilabel_partial_fit_with_other_width():
    Y_ML = np.c_[X_STD[:, 0] > 0, X_STD[:, 1] > 0, X_STD[:, 2] > 0].astype(int)
    est = _interrupt_estimator("classifier", "adam")
    est.partial_fit(X_STD, Y_ML)
    _fails_cleanly(est, lambda e: e.partial_fit(X_STD, Y_ML[:, :2]), ValueError, "mismatch")


def test_failed_refit_keeps_the_previous_model():
    """warm_start=False: a refit that fails half-way leaves the previous model,
    not a half-trained new one."""
    est = _quiet_fit(_interrupt_estimator("classifier", "adam", max_iter=4), X_STD, Y_3)
    est.set_params(callbacks=[InterruptAt(2, exception=RuntimeError)])
    _fails_cleanly(est, lambda e: _quiet_fit(e, X_STD, Y_BIN), RuntimeError, "interrupted")
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])


def test_loss_ending_far_above_its_best_warns_instead_of_converging():
    # Features at 1e3 scale and heavy momentum: the loss jumps far above its
    # best and the no-improvement rule fires. That is not convergence.
    # (n_iter_no_change=8 stops it at 1.2 times its start; the next epochs,
    # at 14 and 147 times, count as diverged: tests/test_divergence.py.)
    from scratchmlp import ScratchMLPRegressor

    rng = np.random.RandomState(0)
    X = rng.randn(200, 5) * 1e3
    y = X @ rng.randn(5)
    reg = ScratchMLPRegressor(
        hidden_layer_sizes=(10,),
        solver="sgd",
        learning_rate_init=1e-7,
        momentum=0.99,
        max_iter=300,
        random_state=0,
        n_iter_no_change=8,
    )
    with pytest.warns(ConvergenceWarning, match="far above the best loss"):
        reg.fit(X, y)
    assert reg.n_iter_ < 300  # the stopping rule fired...
    assert reg.loss_ > 2 * reg.best_loss_  # ...on a loss far above the best
    assert np.isfinite(reg.predict(X)).all()
