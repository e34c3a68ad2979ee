"""Helpers shared by the trust test modules (test_trust_*.py): solvers, quiet fits,
bitwise comparisons, outputs, and the interrupting callback.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from testdata import TRUST

from scratchmlp import ScratchMLPClassifier, ScratchMLPRegressor
from scratchmlp._activations import ACTIVATIONS

X_STD, Y_BIN, Y_3, Y_REG = TRUST.X, TRUST.y_binary, TRUST.y_3, TRUST.y_reg


ACTIVATION_NAMES = sorted(ACTIVATIONS)


SOLVERS = ["lbfgs", "sgd", "adam", "rmsprop", "adamw"]


STOCHASTIC = ["sgd", "adam", "rmsprop", "adamw"]


def _quiet_fit(est, *args, **kw):
    """Fit (or partial_fit with ``method=``) with ConvergenceWarning silenced.

    Every other warning keeps its configured behaviour: a RuntimeWarning
    still fails the test.
    """
    method = kw.pop("method", "fit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return getattr(est, method)(*args, **kw)


def _weights(est):
    return [a.copy() for a in est.coefs_ + est.intercepts_]


def _assert_bitwise(a, b, what=""):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, what
    # Bitwise: compare the raw bytes, so that -0.0 vs 0.0 or NaN payloads count.
    assert a.tobytes() == b.tobytes(), what


def _assert_weights_bitwise(est, other, what=""):
    wa, wb = _weights(est), _weights(other)
    assert len(wa) == len(wb)
    for i, (a, b) in enumerate(zip(wa, wb)):
        _assert_bitwise(a, b, f"{what} parameter {i}")


def _outputs(est, X):
    out = [est.predict(X)]
    if hasattr(est, "predict_proba"):
        out += [est.predict_proba(X), est.predict_log_proba(X)]
    return out


class InterruptAt:
    """A callback raising KeyboardInterrupt after epoch (or L-BFGS iteration) ``at``.

    Stateless (it reads ``record["epoch"]``, which counts over all calls), so
    that clone and deepcopy in model selection keep its behaviour.
    """

    def __init__(self, at, exception=KeyboardInterrupt):
        self.at = at
        self.exception = exception

    def on_epoch_end(self, estimator, record):
        if record["epoch"] == self.at:
            raise self.exception(f"interrupted after epoch {self.at}")
        return False


Y_INT = {"classifier": Y_3, "regressor": Y_REG}


X_INT = X_STD


def _interrupt_estimator(kind, solver, **kw):
    Estimator = ScratchMLPClassifier if kind == "classifier" else ScratchMLPRegressor
    params = dict(
        hidden_layer_sizes=(5,),
        solver=solver,
        max_iter=10,
        random_state=0,
        batch_size=16,
        n_iter_no_change=np.inf,
    )
    params.update(kw)
    return Estimator(**params)
