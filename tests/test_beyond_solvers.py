"""Beyond scikit-learn (5): rmsprop, adamw, the cosine schedule, gradient clipping."""

import warnings

import numpy as np
import pytest
from beyond_helpers import (
    _assert_same_model,
    _digits,
    _params,
    quiet,
)
from sklearn.exceptions import ConvergenceWarning
from testdata import SMALL

from scratchmlp import ScratchMLPClassifier, ScratchMLPRegressor
from scratchmlp.engine import cost_and_gradient

X, Y_BIN, Y_3, Y_ML = SMALL.X, SMALL.y_binary, SMALL.y_3, SMALL.y_multilabel
Y_REG = SMALL.y_reg
Y_COUNTS, X_VAL, Y_VAL_3, Y_VAL_REG = SMALL.y_counts, SMALL.X_val, SMALL.y_val_3, SMALL.y_val_reg


# ===========================================================================
# 5. rmsprop, adamw, the cosine schedule, gradient clipping
# ===========================================================================
@quiet
@pytest.mark.parametrize(
    "solver, lr", [("sgd", 0.1), ("adam", 0.01), ("rmsprop", 0.001), ("adamw", 0.01)]
)
def test_each_solver_learns_digits(solver, lr):
    Xd, yd = _digits()
    est = ScratchMLPClassifier(
        (32,), solver=solver, learning_rate_init=lr, max_iter=30, random_state=0
    ).fit(Xd, yd)
    assert est.loss_curve_[0] > 0.5
    assert est.loss_ < 0.25
    assert est.score(Xd, yd) >= 0.95


def _one_full_batch_step(solver, **kw):
    params = dict(
        hidden_layer_sizes=(5,),
        activation="tanh",
        solver=solver,
        batch_size=len(X),
        shuffle=False,
        max_iter=1,
        random_state=0,
        learning_rate_init=0.01,
    )
    params.update(kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return ScratchMLPRegressor(**params).fit(X, Y_REG)


def _gradient(est, theta, X, y, alpha=None):
    net = est._net.copy()
    net.set_theta(theta)
    Y = np.asarray(y, dtype=float).reshape(len(X), -1).T
    _, grad = cost_and_gradient(net, X.T, Y, None, est.alpha if alpha is None else alpha)
    return grad.flat.copy()


def test_adamw_decays_the_weights_decoupled_from_the_gradient():
    lr, alpha = 0.01, 3.0
    adam = _one_full_batch_step("adam", alpha=0.0)
    adamw = _one_full_batch_step("adamw", alpha=alpha)
    # One step: Adam's step of the data cost alone, then W <- (1 - lr alpha) W.
    for w, w_adam in zip(adamw.coefs_, adam.coefs_):
        np.testing.assert_allclose(w, (1 - lr * alpha) * w_adam, rtol=1e-12)
    for b, b_adam in zip(adamw.intercepts_, adam.intercepts_):
        np.testing.assert_array_equal(b, b_adam)  # biases are not decayed


@quiet
def test_adamw_shrinks_the_weights():
    Xd, yd = _digits()
    params = dict(
        hidden_layer_sizes=(32,),
        learning_rate_init=0.01,
        batch_size=50,
        max_iter=20,
        random_state=0,
    )
    adam = ScratchMLPClassifier(solver="adam", alpha=0.0, **params).fit(Xd, yd)
    adamw0 = ScratchMLPClassifier(solver="adamw", alpha=0.0, **params).fit(Xd, yd)
    _assert_same_model(adamw0, adam)  # no decay: AdamW is Adam
    adamw = ScratchMLPClassifier(solver="adamw", alpha=3.0, **params).fit(Xd, yd)

    def norm(est):
        return np.sqrt(sum((w**2).sum() for w in est.coefs_))

    assert norm(adamw) < 0.6 * norm(adam)
    assert adamw.score(Xd, yd) > 0.9  # still a good model


def test_rmsprop_first_step():
    # v = (1 - rho) g^2 with rho = beta_2 and no bias correction, so the
    # first step is lr g / (sqrt((1 - rho) g^2) + eps), about lr / sqrt(1 - rho).
    lr = 0.01
    start = _one_full_batch_step("sgd", learning_rate_init=1e-300, momentum=0.0)
    theta0 = start._net.theta.copy()
    g = _gradient(start, theta0, X, Y_REG)
    for beta_2 in (0.9, 0.999):
        est = _one_full_batch_step("rmsprop", beta_2=beta_2, learning_rate_init=lr)
        step = est._net.theta - theta0
        expected = -lr * g / (np.sqrt(1 - beta_2) * np.abs(g) + 1e-8)
        np.testing.assert_allclose(step, expected, rtol=1e-9, atol=1e-16)
        big = np.abs(g) > 1e-3 * np.abs(g).max()
        np.testing.assert_allclose(np.abs(step[big]), lr / np.sqrt(1 - beta_2), rtol=1e-3)


@quiet
@pytest.mark.parametrize("solver", ["sgd", "adam", "rmsprop", "adamw"])
def test_cosine_learning_rate_in_history(solver):
    lr0, K = 0.02, 12
    est = ScratchMLPClassifier(
        **_params(
            solver=solver,
            learning_rate="cosine",
            learning_rate_init=lr0,
            max_iter=K,
            n_iter_no_change=np.inf,
        )
    ).fit(X, Y_3)
    assert est.n_iter_ == K
    rates = [record["learning_rate"] for record in est.history_]
    k = np.arange(K)  # the rate of epoch k + 1, set after epoch k
    np.testing.assert_allclose(rates, lr0 * (1 + np.cos(np.pi * k / K)) / 2, rtol=1e-12)
    assert rates[0] == lr0 and 0 < rates[-1] < 0.02 * lr0
    constant = ScratchMLPClassifier(
        **_params(solver=solver, learning_rate_init=lr0, max_iter=K, n_iter_no_change=np.inf)
    ).fit(X, Y_3)
    assert [record["learning_rate"] for record in constant.history_] == [lr0] * K


def test_cosine_rate_is_the_step_taken():
    # Plain full-batch sgd: theta_k - theta_{k-1} = -lr_k grad J(theta_{k-1}).
    thetas = []

    class Record:
        def on_epoch_end(self, est, record):
            thetas.append(est._net.theta.copy())

    lr0, K = 0.05, 6
    est = _one_full_batch_step(
        "sgd",
        momentum=0.0,
        learning_rate="cosine",
        learning_rate_init=lr0,
        max_iter=K,
        callbacks=[Record()],
        n_iter_no_change=np.inf,
    )
    for k in range(1, K):
        step = thetas[k] - thetas[k - 1]
        lr = est.history_[k]["learning_rate"]
        assert lr == pytest.approx(lr0 * (1 + np.cos(np.pi * k / K)) / 2)
        np.testing.assert_allclose(
            step, -lr * _gradient(est, thetas[k - 1], X, Y_REG), rtol=1e-8, atol=1e-14
        )


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_max_grad_norm_clips_the_first_epoch(solver):
    start = _one_full_batch_step("sgd", learning_rate_init=1e-300, momentum=0.0)
    theta0 = start._net.theta.copy()
    g_norm = np.linalg.norm(_gradient(start, theta0, X, Y_REG))
    lr, clip = 0.01, 1e-3 * g_norm
    free = _one_full_batch_step(solver, momentum=0.0, learning_rate_init=lr)
    clipped = _one_full_batch_step(solver, momentum=0.0, learning_rate_init=lr, max_grad_norm=clip)
    moved_free = np.linalg.norm(free._net.theta - theta0)
    moved_clipped = np.linalg.norm(clipped._net.theta - theta0)
    if solver == "sgd":
        # One plain sgd step of the clipped gradient: exactly lr * max_grad_norm.
        assert moved_free == pytest.approx(lr * g_norm, rel=1e-10)
        assert moved_clipped == pytest.approx(lr * clip, rel=1e-10)
    else:
        # Adam's first step is lr * sign(g) whatever the scale of g: clipping
        # shows only where eps is no longer negligible.
        assert moved_clipped <= moved_free
    # A bound above the gradient's norm changes nothing.
    loose = _one_full_batch_step(
        solver, momentum=0.0, learning_rate_init=lr, max_grad_norm=2 * g_norm
    )
    np.testing.assert_array_equal(loose._net.theta, free._net.theta)


@quiet
def test_max_grad_norm_bounds_every_sgd_step():
    thetas = []

    class Record:
        def on_epoch_end(self, est, record):
            thetas.append(est._net.theta.copy())

    lr, clip = 0.1, 0.05
    _one_full_batch_step(
        "sgd",
        momentum=0.0,
        learning_rate_init=lr,
        max_iter=10,
        max_grad_norm=clip,
        callbacks=[Record()],
    )
    steps = [np.linalg.norm(b - a) for a, b in zip(thetas, thetas[1:])]
    assert max(steps) <= lr * clip * (1 + 1e-12)
