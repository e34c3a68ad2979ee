"""Helpers shared by the test_beyond_*.py modules: parameters, model comparisons,
independent numpy activations.
"""

import warnings

import numpy as np
import pytest
from scipy.special import erf, expit
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from testdata import SMALL

X, Y_BIN, Y_3, Y_ML = SMALL.X, SMALL.y_binary, SMALL.y_3, SMALL.y_multilabel
Y_REG = SMALL.y_reg
Y_COUNTS, X_VAL, Y_VAL_3, Y_VAL_REG = SMALL.y_counts, SMALL.X_val, SMALL.y_val_3, SMALL.y_val_reg


quiet = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _digits(n=200):
    X, y = load_digits(return_X_y=True)
    return X[:n] / 16.0, y[:n]


def _params(**kw):
    base = dict(hidden_layer_sizes=(5,), random_state=0, max_iter=30)
    base.update(kw)
    return base


def _assert_same_model(a, b, **tol):
    assert len(a.coefs_) == len(b.coefs_)
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        if tol:
            np.testing.assert_allclose(p, q, **tol)
        else:
            np.testing.assert_array_equal(p, q)


def _differ(a, b) -> bool:
    return any(not np.array_equal(p, q) for p, q in zip(a.coefs_, b.coefs_))


def _initial(Estimator, X, y, **kw):
    """The initial weights: one sgd epoch with a step of 1e-300 changes nothing."""
    params = _params(solver="sgd", momentum=0.0, learning_rate_init=1e-300, max_iter=1)
    params.update(kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return Estimator(**params).fit(X, y)


NUMPY_ACTIVATIONS = {
    "identity": lambda z: z,
    "logistic": expit,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
    "gelu": lambda z: 0.5 * z * (1 + erf(z / np.sqrt(2))),
    "softplus": lambda z: np.logaddexp(0, z),
    "silu": lambda z: z * expit(z),
}


def _manual_hidden(est, X):
    """A[l].T for every hidden layer l, from coefs_ / intercepts_ and the activations."""
    names = est._net.activation_names
    A, out = X, [None]
    for l in range(1, est.n_layers_ - 1):
        A = NUMPY_ACTIVATIONS[names[l]](A @ est.coefs_[l - 1] + est.intercepts_[l - 1])
        out.append(A)
    return out
