"""Where scikit-learn 1.9.1's MLP has a verified bug, scratchmlp is right.

Each test may first show scikit-learn's behaviour (only asserted on the 1.9
series it was verified on), and then asserts ours.
"""

import contextlib
import warnings
from itertools import pairwise

import numpy as np
import pytest
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

from scratchmlp import ScratchMLPClassifier, ScratchMLPRegressor
from scratchmlp.engine import Network, cost, cost_and_gradient, forward, initialize

# scikit-learn's behaviour below was verified on 1.9.1; document it only there.
SKLEARN_1_9 = sklearn.__version__.startswith("1.9.")


@contextlib.contextmanager
def _maybe_convergence():
    """Swallow a ConvergenceWarning if one is raised, without requiring it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _data(m=40, n_features=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(m, n_features)
    return rng, X


# ---------------------------------------------------------------------------
# (a) multi-output squared error: the gradient is that of the reported loss.
# ---------------------------------------------------------------------------
def _central_differences(net, A0, Y, alpha, eps=1e-6):
    theta0 = net.theta.copy()
    fd = np.empty_like(theta0)
    for k in range(theta0.size):
        net.theta[:] = theta0
        net.theta[k] += eps
        J_plus = cost(net, forward(net, A0), Y, alpha=alpha)
        net.theta[:] = theta0
        net.theta[k] -= eps
        J_minus = cost(net, forward(net, A0), Y, alpha=alpha)
        fd[k] = (J_plus - J_minus) / (2 * eps)
    net.theta[:] = theta0
    return fd


def _sklearn_loss_and_gradient(net, X, Y, alpha):
    """sklearn's ``_backprop`` at the weights of ``net`` (flat: coefs then intercepts)."""
    est = MLPRegressor(
        hidden_layer_sizes=tuple(net.layer_sizes[1:-1]),
        activation=net.activation_names[1],
        alpha=alpha,
        solver="sgd",
        max_iter=1,
        random_state=0,
    )
    with pytest.warns(ConvergenceWarning):
        est.fit(X, Y)  # only to set n_layers_, out_activation_, ...
    est.coefs_ = [net.W[l].T.copy() for l in range(1, net.L + 1)]
    est.intercepts_ = [net.b[l][:, 0].copy() for l in range(1, net.L + 1)]
    layer_units = net.layer_sizes
    activations = [X] + [None] * (len(layer_units) - 1)
    deltas = [None] * (len(activations) - 1)
    coef_grads = [np.empty((a, b)) for a, b in pairwise(layer_units)]
    intercept_grads = [np.empty(b) for b in layer_units[1:]]
    loss, coef_grads, intercept_grads = est._backprop(
        X, Y, None, activations, deltas, coef_grads, intercept_grads
    )
    return loss, coef_grads, intercept_grads


@pytest.mark.parametrize("n_outputs", [2, 3])
def test_multioutput_squared_error_gradient_matches_reported_loss(n_outputs):
    rng, X = _data(m=25, n_features=3)
    Y = rng.randn(25, n_outputs)
    net = Network([3, 4, n_outputs], "tanh", "squared_error")
    initialize(net, rng)
    A0, YT = X.T, Y.T

    for alpha in (0.0, 0.1):
        J, grad = cost_and_gradient(net, A0, YT, alpha=alpha)
        fd = _central_differences(net, A0, YT, alpha)
        # Ours: the gradient is the derivative of the cost it reports.
        np.testing.assert_allclose(grad.flat, fd, rtol=1e-6, atol=1e-9)

        # The cost is scikit-learn's loss_ convention (mean over the outputs).
        sk_loss, sk_coef_grads, sk_intercept_grads = _sklearn_loss_and_gradient(net, X, Y, alpha)
        assert J == pytest.approx(sk_loss, rel=1e-12)

    # scikit-learn (alpha=0): the same loss, but a gradient n_outputs times too large.
    J, grad = cost_and_gradient(net, A0, YT, alpha=0.0)
    sk_loss, sk_coef_grads, sk_intercept_grads = _sklearn_loss_and_gradient(net, X, Y, 0.0)
    assert J == pytest.approx(sk_loss, rel=1e-12)
    if SKLEARN_1_9:
        for l in range(1, net.L + 1):
            np.testing.assert_allclose(sk_coef_grads[l - 1], n_outputs * grad.dW[l].T, rtol=1e-10)
            np.testing.assert_allclose(
                sk_intercept_grads[l - 1], n_outputs * grad.db[l][:, 0], rtol=1e-10
            )


def test_multioutput_estimator_loss_is_engine_cost():
    """The estimator's loss_ is the engine's cost at its fitted weights."""
    rng, X = _data(m=30)
    Y = np.column_stack([X[:, 0] - X[:, 1], X[:, 2] ** 2])
    params = dict(hidden_layer_sizes=(6,), activation="tanh", alpha=1e-3, random_state=0)
    est = ScratchMLPRegressor(solver="lbfgs", max_iter=50, **params)
    with _maybe_convergence():
        est.fit(X, Y)
    J, _ = cost_and_gradient(est._net, X.T, Y.T, alpha=est.alpha)
    assert est.loss_ == pytest.approx(J, rel=1e-10)
    assert est.loss_curve_[-1] == pytest.approx(est.loss_, rel=1e-12)
    # sgd with a plain step: one full-batch epoch moves theta by exactly
    # -learning_rate_init * (gradient of the reported loss).
    sgd = ScratchMLPRegressor(
        solver="sgd",
        momentum=0.0,
        learning_rate_init=0.05,
        batch_size=30,
        shuffle=False,
        max_iter=1,
        **params,
    )
    with pytest.warns(ConvergenceWarning):
        sgd.fit(X, Y)
    start = Network([3, 6, 2], "tanh", "squared_error")
    initialize(start, np.random.RandomState(0))
    J0, grad0 = cost_and_gradient(start, X.T, Y.T, alpha=sgd.alpha)
    expected = start.theta - 0.05 * grad0.flat
    np.testing.assert_allclose(sgd._net.theta, expected, rtol=1e-12, atol=1e-14)
    assert sgd.loss_ == pytest.approx(J0, rel=1e-12)


# ---------------------------------------------------------------------------
# (b) no partial_fit with lbfgs, for the regressor too.
# ---------------------------------------------------------------------------
def test_regressor_lbfgs_has_no_partial_fit():
    if SKLEARN_1_9:
        # scikit-learn's available_if checks the bound method object (truthy),
        # not its result, so the regressor claims partial_fit with lbfgs.
        assert hasattr(MLPRegressor(solver="lbfgs"), "partial_fit")
        assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    assert not hasattr(ScratchMLPRegressor(solver="lbfgs"), "partial_fit")
    assert not hasattr(ScratchMLPClassifier(solver="lbfgs"), "partial_fit")
    with pytest.raises(AttributeError, match="partial_fit"):
        _ = ScratchMLPRegressor(solver="lbfgs").partial_fit
    assert hasattr(ScratchMLPRegressor(solver="sgd"), "partial_fit")
    assert hasattr(ScratchMLPRegressor(solver="adam"), "partial_fit")


# ---------------------------------------------------------------------------
# (c) a mini-batch whose sample weights sum to zero.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("Estimator", [ScratchMLPRegressor, ScratchMLPClassifier])
def test_zero_weight_minibatch(Estimator, solver):
    rng, X = _data(m=40)
    y = X[:, 0] + 0.1 * rng.randn(40)
    if Estimator is ScratchMLPClassifier:
        y = (y > 0).astype(int)
    sw = np.tile([0.0, 0.0, 1.0, 1.0], 10)
    params = dict(
        hidden_layer_sizes=(4,),
        solver=solver,
        batch_size=2,
        shuffle=False,
        max_iter=3,
        n_iter_no_change=np.inf,
        random_state=0,
    )
    if SKLEARN_1_9 and Estimator is ScratchMLPRegressor:
        sk = MLPRegressor(**params)
        with pytest.raises(ZeroDivisionError):
            sk.fit(X, y, sample_weight=sw)

    ours = Estimator(**params)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        ours.fit(X, y, sample_weight=sw)
    for W in ours.coefs_ + ours.intercepts_:
        assert np.isfinite(W).all()
    assert np.isfinite(ours.loss_curve_).all()
    assert np.isfinite(ours.predict(X)).all()

    # A zero-weight batch takes no step: the weights are those of a fit on
    # the weighted samples alone (same batches, same order, same steps).
    kept = sw > 0
    dropped = Estimator(**params)
    with pytest.warns(ConvergenceWarning):
        dropped.fit(X[kept], y[kept])
    for a, b in zip(ours.coefs_ + ours.intercepts_, dropped.coefs_ + dropped.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------------
# (d) a classifier fitted on one class.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_single_class_classifier(solver):
    _, X = _data(m=30)
    y = np.array(["only"] * 30)
    if SKLEARN_1_9:
        sk = MLPClassifier(hidden_layer_sizes=(4,), solver=solver, max_iter=5, random_state=0)
        with pytest.warns(ConvergenceWarning):
            sk.fit(X, y)
        assert len(sk.classes_) == 1
        assert sk.predict_proba(X).shape[1] == 2  # columns don't match classes_

    ours = ScratchMLPClassifier(hidden_layer_sizes=(4,), solver=solver, max_iter=5, random_state=0)
    with pytest.warns(ConvergenceWarning) if solver == "adam" else _maybe_convergence():
        ours.fit(X, y)
    assert list(ours.classes_) == ["only"]
    proba = ours.predict_proba(X)
    assert proba.shape == (30, len(ours.classes_)) == (30, 1)
    np.testing.assert_array_equal(proba, 1.0)
    np.testing.assert_array_equal(ours.predict_log_proba(X), 0.0)
    np.testing.assert_array_equal(ours.predict(X), y)
    assert ours.score(X, y) == 1.0


# ---------------------------------------------------------------------------
# (e) predict_log_proba where the probabilities underflow.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_predict_log_proba_finite_under_underflow(kind):
    _, X = _data(m=40)
    if kind == "binary":
        y = (X[:, 0] + X[:, 1] > 0).astype(int)
    else:
        y = np.digitize(X[:, 0], [-0.5, 0.5])
    params = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=200, random_state=0)
    X_big = X * 1e3

    if SKLEARN_1_9:
        sk = MLPClassifier(**params)
        with _maybe_convergence():
            sk.fit(X, y)
        with np.errstate(divide="ignore", over="ignore", under="ignore"):
            sk_log = sk.predict_log_proba(X_big)
        assert np.isneginf(sk_log).any()  # log(0)

    ours = ScratchMLPClassifier(**params)
    with _maybe_convergence():
        ours.fit(X, y)
    log_proba = ours.predict_log_proba(X_big)
    proba = ours.predict_proba(X_big)
    assert log_proba.shape == proba.shape == (40, len(ours.classes_))
    assert np.isfinite(log_proba).all()
    assert (log_proba < 0).all()
    # Some probabilities really do underflow here: they are reported as the
    # smallest normal number, whose log is finite.
    tiny = np.finfo(proba.dtype).tiny
    assert (proba == tiny).any()
    assert log_proba.min() == np.log(tiny)
    # predict_log_proba is the log of predict_proba, everywhere.
    np.testing.assert_array_equal(log_proba, np.log(proba))
    # Probabilities still sum to one and predict follows the largest one.
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(ours.predict(X_big), ours.classes_[log_proba.argmax(axis=1)])
    # And on unscaled data too.
    np.testing.assert_array_equal(ours.predict_log_proba(X), np.log(ours.predict_proba(X)))


# ---------------------------------------------------------------------------
# (f) loss='poisson' rejects negative y.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_poisson_rejects_negative_targets(solver):
    rng, X = _data(m=30)
    y = X[:, 0]  # has negative values
    assert (y < 0).any()
    if SKLEARN_1_9:
        sk = MLPRegressor(
            loss="poisson", hidden_layer_sizes=(4,), solver=solver, max_iter=3, random_state=0
        )
        with _maybe_convergence(), warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            sk.fit(X, y)  # accepted silently, with a meaningless loss
        assert not np.isfinite(sk.loss_)

    ours = ScratchMLPRegressor(
        loss="poisson", hidden_layer_sizes=(4,), solver=solver, max_iter=3, random_state=0
    )
    with pytest.raises(ValueError, match=r"poisson.*non-negative"):
        ours.fit(X, y)
    # Non-negative targets are fine.
    with _maybe_convergence():
        ours.fit(X, np.abs(y))
    assert ours.out_activation_ == "exp"
    assert (ours.predict(X) > 0).all()
