"""Full-batch L-BFGS on the engine's cost and gradient."""

import numpy as np
import pytest

from scratchmlp._initializers import initialize
from scratchmlp._lbfgs import LbfgsResult, fit_lbfgs
from scratchmlp._network import Network, cost_and_gradient, forward


def separable_problem(dtype=np.float64, m=40, seed=0):
    """Two well-separated blobs in 2-D: A0 (2, m), Y (1, m) in {0, 1}."""
    rng = np.random.RandomState(seed)
    y = np.arange(m) % 2
    A0 = rng.randn(2, m) * 0.5 + np.where(y, 2.0, -2.0)
    return A0.astype(dtype), y[np.newaxis, :].astype(dtype)


def make_net(dtype=np.float64, activation="tanh", seed=0):
    net = Network([2, 3, 1], activation, "binary_log_loss", dtype=dtype)
    initialize(net, np.random.RandomState(seed))
    return net


def fit_with_curve(net, A0, Y, s, alpha, max_iter, max_fun=15000, tol=1e-6):
    """fit_lbfgs, collecting the loss of each iteration and checking that the
    network holds the iterate when on_iteration is called."""
    curve = []

    def on_iteration(loss):
        J, _ = cost_and_gradient(net, A0, Y, s, alpha)
        assert J == pytest.approx(loss, rel=1e-6 if net.dtype == np.float32 else 1e-12)
        curve.append(loss)
        return False

    result = fit_lbfgs(net, A0, Y, s, alpha, max_iter, max_fun, tol, on_iteration=on_iteration)
    return result, curve


@pytest.mark.parametrize("activation", ["tanh", "relu", "logistic"])
@pytest.mark.parametrize("weighted", [False, True])
def test_lbfgs_reduces_cost(activation, weighted):
    A0, Y = separable_problem()
    s = np.random.RandomState(1).uniform(0.5, 2.0, A0.shape[1]) if weighted else None
    net = make_net(activation=activation)
    J0, _ = cost_and_gradient(net, A0, Y, s, 1e-4)
    result, curve = fit_with_curve(net, A0, Y, s, 1e-4, max_iter=100)
    assert isinstance(result, LbfgsResult)
    J1, grad = cost_and_gradient(net, A0, Y, s, 1e-4)
    assert J1 < 0.1 * J0
    assert J1 < 0.05
    # The reported loss is the cost at the returned parameters.
    assert result.loss == pytest.approx(J1, rel=1e-10, abs=1e-14)
    assert 1 <= result.n_iter <= 100
    assert len(curve) == result.n_iter
    assert curve[-1] == pytest.approx(result.loss, rel=1e-10, abs=1e-14)
    assert all(np.isfinite(curve))
    assert curve[0] < J0
    # The separable problem is classified perfectly.
    np.testing.assert_array_equal(forward(net, A0).A[net.L] > 0.5, Y > 0.5)


def test_lbfgs_converges_on_easy_problem():
    A0, Y = separable_problem()
    net = make_net()
    result = fit_lbfgs(net, A0, Y, None, 1.0, max_iter=500, max_fun=15000, tol=1e-5)
    assert result.converged is True
    assert result.n_iter < 500
    _, grad = cost_and_gradient(net, A0, Y, None, 1.0)
    assert np.abs(grad.flat).max() <= 1e-5 * 1.01  # scipy's gtol: projected gradient


@pytest.mark.parametrize("max_iter", [1, 2, 3])
def test_lbfgs_not_converged_with_tiny_max_iter(max_iter):
    A0, Y = separable_problem()
    net = make_net()
    result, curve = fit_with_curve(net, A0, Y, None, 1e-4, max_iter=max_iter, tol=1e-10)
    assert result.converged is False
    assert result.n_iter <= max_iter
    assert len(curve) == result.n_iter
    assert isinstance(result.message, str) and result.message


def test_lbfgs_not_converged_with_tiny_max_fun():
    A0, Y = separable_problem()
    net = make_net()
    result = fit_lbfgs(net, A0, Y, None, 1e-4, max_iter=200, max_fun=3, tol=1e-10)
    assert result.converged is False
    assert result.n_iter <= 200


def test_lbfgs_on_iteration_can_stop():
    A0, Y = separable_problem()
    net = make_net()
    losses = []

    def on_iteration(loss):
        losses.append(loss)
        return len(losses) == 3

    result = fit_lbfgs(net, A0, Y, None, 1e-4, 100, 15000, 1e-10, on_iteration=on_iteration)
    assert len(losses) == 3
    assert result.n_iter == 3
    assert result.converged is False
    # net holds the iterate whose loss was reported last.
    J, _ = cost_and_gradient(net, A0, Y, None, 1e-4)
    assert J == pytest.approx(losses[-1], rel=1e-12)
    assert result.loss == pytest.approx(losses[-1], rel=1e-12)


def test_lbfgs_keeps_float32():
    A0, Y = separable_problem(np.float32)
    net = make_net(np.float32)
    theta_object = net.theta
    J0, _ = cost_and_gradient(net, A0, Y, None, 1e-4)
    result, _ = fit_with_curve(net, A0, Y, None, 1e-4, max_iter=50, tol=1e-5)
    assert net.theta is theta_object  # updated in place
    assert net.theta.dtype == np.float32
    for l in range(1, net.L + 1):
        assert net.W[l].dtype == np.float32 and net.b[l].dtype == np.float32
        assert np.shares_memory(net.W[l], net.theta)
    J1, grad = cost_and_gradient(net, A0, Y, None, 1e-4)
    assert grad.flat.dtype == np.float32
    assert J1 < 0.1 * J0
    assert result.loss == pytest.approx(J1, rel=1e-6)


def test_lbfgs_is_deterministic():
    A0, Y = separable_problem()
    results = []
    for _ in range(2):
        net = make_net()
        fit_lbfgs(net, A0, Y, None, 1e-3, max_iter=30, max_fun=15000, tol=1e-6)
        results.append(net.theta.copy())
    np.testing.assert_array_equal(results[0], results[1])
