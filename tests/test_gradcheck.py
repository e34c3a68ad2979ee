"""check_gradients: sharp on correct gradients, loud on wrong ones.

Correct gradients must give less than 1e-7 with smooth activations and less
than 1e-6 with kinked ones (relu, leaky_relu, elu), on fresh and trained
networks, every output and loss, float64 and float32; a wrong derivative (a
mutation injected below) at least 1e-2.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

import scratchmlp._network as network_module
from scratchmlp import ScratchMLPClassifier, ScratchMLPRegressor, check_gradients
from scratchmlp._activations import ACTIVATIONS, Activation
from scratchmlp._gradcheck import _numeric_gradient, _Probe
from scratchmlp._losses import OutputLoss
from scratchmlp._network import Network, cost_and_gradient

X_FULL, Y_DIGITS = load_digits(return_X_y=True)
X_FULL = X_FULL / 16
X = X_FULL[:, ::4]  # 16 features: small networks, quick checks
RNG = np.random.RandomState(0)
TARGETS = {
    "log_loss": (ScratchMLPClassifier, {}, Y_DIGITS),
    "binary_log_loss": (ScratchMLPClassifier, {}, (Y_DIGITS > 4).astype(int)),
    "multilabel": (
        ScratchMLPClassifier,
        {},
        np.column_stack([Y_DIGITS % 2, Y_DIGITS > 4, Y_DIGITS % 3 == 0]),
    ),
    "squared_error": (
        ScratchMLPRegressor,
        {},
        np.column_stack([X @ RNG.randn(16), X @ RNG.randn(16)]),
    ),
    "poisson": (ScratchMLPRegressor, {"loss": "poisson"}, RNG.poisson(np.exp(X[:, :3].sum(1) / 3))),
}
SMOOTH_BOUND, KINKED_BOUND, WRONG_BOUND = 1e-7, 1e-6, 1e-2


def _fitted(activation, target, epochs, dtype=np.float64):
    """Two hidden layers, so that every derivative is chained through another layer."""
    Estimator, params, y = TARGETS[target]
    est = Estimator(
        hidden_layer_sizes=(6, 5),
        activation=activation,
        solver="adam",
        max_iter=epochs,
        learning_rate_init=0.01,
        alpha=1e-3,
        random_state=0,
        **params,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X[:300].astype(dtype), y[:300])
    return est, y


def _bound(activation):
    return KINKED_BOUND if ACTIVATIONS[activation].kinks else SMOOTH_BOUND


@pytest.mark.usefixtures("one_blas_thread")
@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_correct_gradients_pass_with_a_wide_margin(activation, target):
    # Fresh (one epoch) in float64, trained (30 epochs) in float32.
    for epochs, dtype in [(1, np.float64), (30, np.float32)]:
        est, y = _fitted(activation, target, epochs, dtype)
        assert est.coefs_[0].dtype == dtype
        error = check_gradients(est, X[:50], y[:50])
        assert error < _bound(activation), (epochs, dtype, error)
        # Measured over this grid: at most 5e-10 for smooth activations, 2e-9
        # for kinked ones (whose kink-crossing entries use a step of 1e-6).
        if not ACTIVATIONS[activation].kinks:
            assert error < 1e-8


def test_issue_case_and_the_weights_are_untouched():
    # tanh, (6,), 3 epochs on the digits / 16, checked on 50 samples: 1.7e-6
    # with the entrywise measure of old, 9e-12 now.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ScratchMLPClassifier((6,), activation="tanh", max_iter=3, random_state=0)
        clf.fit(X_FULL, Y_DIGITS)
    before = [a.copy() for a in clf.coefs_ + clf.intercepts_]
    assert check_gradients(clf, X_FULL[:50], Y_DIGITS[:50]) < 1e-10
    for a, b in zip(clf.coefs_ + clf.intercepts_, before):
        np.testing.assert_array_equal(a, b)


def test_sample_weights_and_sparse_input():
    est, y = _fitted("gelu", "log_loss", 5)
    s = np.linspace(0.2, 3.0, 40)
    assert check_gradients(est, X[:40], y[:40], sample_weight=s) < SMOOTH_BOUND
    assert check_gradients(est, sp.csr_matrix(X[:40]), y[:40]) < SMOOTH_BOUND


# ---------------------------------------------------------------------------
# Mutations: a wrong derivative must show.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_a_derivative_off_by_ten_percent_is_caught(activation, monkeypatch):
    est, y = _fitted(activation, "log_loss", 5)
    assert check_gradients(est, X[:40], y[:40]) < _bound(activation)
    g = ACTIVATIONS[activation]

    def wrong_backward(Z, A, dA):
        g.backward(Z, A, dA)
        dA *= 1.1
        return dA

    monkeypatch.setitem(
        ACTIVATIONS,
        activation,
        Activation(activation, g.forward, wrong_backward, g.derivative_from_output, g.kinks),
    )
    assert check_gradients(est, X[:40], y[:40]) >= WRONG_BOUND


def test_the_classic_tanh_mistake_is_caught(monkeypatch):
    est, y = _fitted("tanh", "squared_error", 5)
    tanh = ACTIVATIONS["tanh"]

    def wrong_backward(Z, A, dA):  # 1 - tanh instead of 1 - tanh^2
        dA *= 1 - A
        return dA

    monkeypatch.setitem(ACTIVATIONS, "tanh", Activation("tanh", tanh.forward, wrong_backward))
    assert check_gradients(est, X[:40], y[:40]) >= WRONG_BOUND


@pytest.mark.parametrize("target", list(TARGETS))
def test_a_wrong_loss_gradient_is_caught(target, monkeypatch):
    est, y = _fitted("relu", target, 5)
    right = OutputLoss.output_delta

    def wrong_delta(self, Y, A, out):
        right(self, Y, A, out)
        out *= 1.1
        return out

    monkeypatch.setattr(OutputLoss, "output_delta", wrong_delta)
    assert check_gradients(est, X[:40], y[:40]) >= WRONG_BOUND


def test_a_wrong_bias_gradient_is_caught(monkeypatch):
    # Biases are a small part of a layer's gradient: a 10 % error in them
    # still shows, because layers are measured one by one.
    est, y = _fitted("tanh", "log_loss", 5)
    right = network_module.dense_backward

    def wrong_db(dZ, A_prev, W, l2, dW, db, dA_prev=None):
        out = right(dZ, A_prev, W, l2, dW, db, dA_prev)
        db *= 1.1
        return out

    monkeypatch.setattr(network_module, "dense_backward", wrong_db)
    assert check_gradients(est, X[:40], y[:40]) >= WRONG_BOUND


# ---------------------------------------------------------------------------
# Kinks.
# ---------------------------------------------------------------------------
def _kink_net(activation):
    # One hidden unit with Z = w x + b exactly 0 on the first sample.
    net = Network([1, 1, 1], activation, "squared_error", theta=np.array([1.0, 0.0, 2.0, 0.5]))
    A0, Y = np.array([[0.0, 1.0, -0.5]]), np.array([[0.3, 2.0, 0.1]])
    return net, A0, Y


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "elu"])
def test_a_step_across_a_kink_is_not_trusted(activation):
    net, A0, Y = _kink_net(activation)
    _, grad = cost_and_gradient(net, A0, Y)
    numeric, checked = _numeric_gradient(_Probe(net, A0, Y, None, 0.0), 1e-3)
    # b[1] moves Z across 0 on the first sample at any step: left out. W[1]
    # cannot (x = 0 there), and neither can the output layer.
    np.testing.assert_array_equal(checked, [True, False, True, True])
    np.testing.assert_allclose(numeric[checked], grad.flat[checked], rtol=1e-9)


def test_a_parameter_near_a_kink_falls_back_to_a_small_step():
    # Z = 3e-4 on the first sample: the Richardson steps (up to 1e-3) cross
    # the kink, the central difference of step 1e-6 does not.
    net, A0, Y = _kink_net("relu")
    net.theta[1] = 3e-4
    _, grad = cost_and_gradient(net, A0, Y)
    numeric, checked = _numeric_gradient(_Probe(net, A0, Y, None, 0.0), 1e-3)
    assert checked.all()
    np.testing.assert_allclose(numeric, grad.flat, rtol=1e-8)
