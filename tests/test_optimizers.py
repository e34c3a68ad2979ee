"""Stochastic optimizers: one step against hand-computed updates, schedules, make_optimizer."""

import math

import numpy as np
import pytest

from scratchmlp import ScratchMLPClassifier, ScratchMLPRegressor
from scratchmlp._optimizers import OPTIMIZERS, SGD, Adam, AdamW, RMSprop, make_optimizer


def small_vectors(seed=0, n=5):
    rng = np.random.RandomState(seed)
    return rng.randn(n), rng.randn(n), rng.randn(n)  # theta, grad 1, grad 2


# SGD ------------------------------------------------------------------------
def test_plain_sgd_step():
    theta0, g1, g2 = small_vectors()
    lr = 0.05
    theta = theta0.copy()
    opt = SGD(theta, momentum=0.0, nesterov=False, learning_rate_init=lr)
    opt.step(theta, g1.copy())
    # theta <- theta - lr g
    np.testing.assert_allclose(theta, theta0 - lr * g1, rtol=1e-15)
    opt.step(theta, g2.copy())
    np.testing.assert_allclose(theta, theta0 - lr * g1 - lr * g2, rtol=1e-14)


@pytest.mark.parametrize("nesterov", [False, True])
def test_plain_sgd_ignores_nesterov_flag_when_momentum_is_zero(nesterov):
    theta0, g1, _ = small_vectors(1)
    theta = theta0.copy()
    opt = SGD(theta, momentum=0.0, nesterov=nesterov, learning_rate_init=0.1)
    opt.step(theta, g1.copy())
    np.testing.assert_allclose(theta, theta0 - 0.1 * g1, rtol=1e-15)


def test_classical_momentum_two_steps():
    theta0, g1, g2 = small_vectors(2)
    lr, mu = 0.1, 0.9
    theta = theta0.copy()
    opt = SGD(theta, momentum=mu, nesterov=False, learning_rate_init=lr)
    # v1 = mu * 0 - lr g1 ; theta1 = theta0 + v1
    opt.step(theta, g1.copy())
    v1 = -lr * g1
    theta1 = theta0 + v1
    np.testing.assert_allclose(theta, theta1, rtol=1e-15)
    np.testing.assert_allclose(opt.velocity, v1, rtol=1e-15)
    # v2 = mu v1 - lr g2 ; theta2 = theta1 + v2
    opt.step(theta, g2.copy())
    v2 = mu * v1 - lr * g2
    np.testing.assert_allclose(theta, theta1 + v2, rtol=1e-14)
    np.testing.assert_allclose(opt.velocity, v2, rtol=1e-14)


def test_nesterov_momentum_two_steps():
    theta0, g1, g2 = small_vectors(3)
    lr, mu = 0.1, 0.9
    theta = theta0.copy()
    opt = SGD(theta, momentum=mu, nesterov=True, learning_rate_init=lr)
    # v1 = -lr g1 ; theta1 = theta0 + mu v1 - lr g1   (scikit-learn's form)
    opt.step(theta, g1.copy())
    v1 = -lr * g1
    theta1 = theta0 + mu * v1 - lr * g1
    np.testing.assert_allclose(theta, theta1, rtol=1e-14)
    # v2 = mu v1 - lr g2 ; theta2 = theta1 + mu v2 - lr g2
    opt.step(theta, g2.copy())
    v2 = mu * v1 - lr * g2
    np.testing.assert_allclose(opt.velocity, v2, rtol=1e-14)
    np.testing.assert_allclose(theta, theta1 + mu * v2 - lr * g2, rtol=1e-14)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_matches_scikit_learn(nesterov):
    from sklearn.neural_network._stochastic_optimizers import SGDOptimizer

    theta0, g1, g2 = small_vectors(4)
    theta = theta0.copy()
    ours = SGD(theta, momentum=0.7, nesterov=nesterov, learning_rate_init=0.2)
    ref_param = theta0.copy()
    ref = SGDOptimizer([ref_param], 0.2, "constant", 0.7, nesterov)
    for g in (g1, g2, g1):
        ours.step(theta, g.copy())
        ref.update_params([ref_param], [g])
    np.testing.assert_allclose(theta, ref_param, rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", sorted(OPTIMIZERS))
def test_optimizers_keep_dtype_and_update_in_place(solver, dtype):
    theta0, g1, _ = small_vectors(5)
    theta = theta0.astype(dtype)
    theta_object = theta
    opt = OPTIMIZERS[solver](theta, learning_rate_init=0.1)
    opt.step(theta, g1.astype(dtype))
    assert theta is theta_object and theta.dtype == dtype
    assert not np.array_equal(theta, theta0.astype(dtype))
    for state in ("velocity", "m", "v"):
        if hasattr(opt, state):
            assert getattr(opt, state).dtype == dtype


# Adam -----------------------------------------------------------------------
def test_adam_two_steps():
    theta0, g1, g2 = small_vectors(6)
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    theta = theta0.copy()
    opt = Adam(theta, beta_1=b1, beta_2=b2, epsilon=eps, learning_rate_init=lr)
    m, v, expected = np.zeros(5), np.zeros(5), theta0.copy()
    for t, g in enumerate((g1, g2), start=1):
        opt.step(theta, g.copy())
        # m = b1 m + (1 - b1) g ; v = b2 v + (1 - b2) g^2
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        # lr_t = lr sqrt(1 - b2^t) / (1 - b1^t) ; theta -= lr_t m / (sqrt(v) + eps)
        lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        expected = expected - lr_t * m / (np.sqrt(v) + eps)
        assert opt.t == t
        assert opt.step_size == pytest.approx(lr_t, rel=1e-15)
        assert opt.learning_rate == lr  # the schedule's rate, not bias-corrected
        np.testing.assert_allclose(opt.m, m, rtol=1e-14)
        np.testing.assert_allclose(opt.v, v, rtol=1e-14)
        np.testing.assert_allclose(theta, expected, rtol=1e-13)


def test_adam_first_step_is_lr_times_sign():
    # At t = 1: m = (1 - b1) g, v = (1 - b2) g^2, lr_1 = lr sqrt(1 - b2) / (1 - b1),
    # so lr_1 m / sqrt(v) = lr g / |g| (up to epsilon).
    theta0, g1, _ = small_vectors(7)
    theta = theta0.copy()
    opt = Adam(theta, 0.9, 0.999, 1e-12, learning_rate_init=0.01)
    opt.step(theta, g1.copy())
    np.testing.assert_allclose(theta, theta0 - 0.01 * np.sign(g1), rtol=1e-9)


def test_adam_matches_scikit_learn():
    from sklearn.neural_network._stochastic_optimizers import AdamOptimizer

    theta0, g1, g2 = small_vectors(8)
    theta = theta0.copy()
    ours = Adam(theta, 0.8, 0.99, 1e-7, learning_rate_init=0.003)
    ref_param = theta0.copy()
    ref = AdamOptimizer([ref_param], 0.003, 0.8, 0.99, 1e-7)
    for g in (g1, g2, g1, g2):
        ours.step(theta, g.copy())
        ref.update_params([ref_param], [g])
    np.testing.assert_allclose(theta, ref_param, rtol=1e-13)


# RMSprop and AdamW ----------------------------------------------------------
def test_rmsprop_two_steps():
    theta0, g1, g2 = small_vectors(9)
    lr, rho, eps = 0.01, 0.9, 1e-8
    theta = theta0.copy()
    opt = RMSprop(theta, rho=rho, epsilon=eps, learning_rate_init=lr)
    v, expected = np.zeros(5), theta0.copy()
    for g in (g1, g2):
        opt.step(theta, g.copy())
        # v = rho v + (1 - rho) g^2 ; theta -= lr g / (sqrt(v) + eps)
        v = rho * v + (1 - rho) * g**2
        expected = expected - lr * g / (np.sqrt(v) + eps)
        np.testing.assert_allclose(opt.v, v, rtol=1e-14)
        np.testing.assert_allclose(theta, expected, rtol=1e-13)


def test_adamw_decays_weights_not_biases():
    theta0, g1, g2 = small_vectors(10, n=8)
    lr, decay = 0.01, 0.5
    weights = [slice(0, 3), slice(5, 7)]  # entries 3, 4 and 7 are biases
    theta = theta0.copy()
    opt = AdamW(theta, weight_decay=decay, weight_slices=weights, learning_rate_init=lr)
    ref_theta = theta0.copy()
    ref = Adam(ref_theta, learning_rate_init=lr)
    is_weight = np.zeros(8, dtype=bool)
    for w in weights:
        is_weight[w] = True
    for g in (g1, g2):
        opt.step(theta, g.copy())
        ref.step(ref_theta, g.copy())
        # The Adam step, then W <- (1 - lr decay) W on the weights only.
        ref_theta[is_weight] *= 1 - lr * decay
        np.testing.assert_allclose(theta, ref_theta, rtol=1e-14)
    assert opt.decoupled_weight_decay and not Adam.decoupled_weight_decay


# Gradient clipping ----------------------------------------------------------
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_max_grad_norm_clips_the_step(max_norm):
    theta0, g1, _ = small_vectors(11)
    theta = theta0.copy()
    opt = SGD(theta, momentum=0.0, learning_rate_init=0.1, max_grad_norm=max_norm)
    opt.step(theta, g1.copy())
    norm = np.linalg.norm(g1)
    clipped = g1 * min(1.0, max_norm / norm)
    np.testing.assert_allclose(theta, theta0 - 0.1 * clipped, rtol=1e-14)


# Schedules ------------------------------------------------------------------
def test_invscaling_schedule():
    opt = SGD(np.zeros(3), learning_rate_init=0.5, schedule="invscaling", power_t=0.25)
    for t in (10, 200, 12345):
        opt.end_epoch(t)
        # eta_t = eta_0 / (t + 1)^p, t the samples seen
        assert opt.learning_rate == pytest.approx(0.5 / (t + 1) ** 0.25, rel=1e-15)
    assert opt.learning_rate_init == 0.5


@pytest.mark.parametrize("schedule", ["constant", "adaptive"])
def test_other_schedules_ignore_end_epoch(schedule):
    opt = SGD(np.zeros(3), learning_rate_init=0.5, schedule=schedule)
    opt.end_epoch(1000)
    assert opt.learning_rate == 0.5


@pytest.mark.parametrize("solver", ["adam", "rmsprop", "adamw"])
@pytest.mark.parametrize("schedule", ["invscaling", "adaptive"])
def test_only_sgd_follows_invscaling_and_adaptive(solver, schedule):
    # As in scikit-learn, Adam ignores learning_rate="invscaling"/"adaptive".
    opt = OPTIMIZERS[solver](np.zeros(3), learning_rate_init=0.5, schedule=schedule)
    opt.end_epoch(1000)
    assert opt.learning_rate == 0.5
    assert opt.on_plateau("msg", verbose=False) is True
    assert opt.learning_rate == 0.5


def test_invscaling_is_used_by_the_next_step():
    theta = np.zeros(2)
    opt = SGD(theta, momentum=0.0, learning_rate_init=1.0, schedule="invscaling", power_t=0.5)
    opt.end_epoch(3)  # eta = 1 / sqrt(4) = 0.5
    opt.step(theta, np.array([1.0, -2.0]))
    np.testing.assert_allclose(theta, [-0.5, 1.0], rtol=1e-15)


@pytest.mark.parametrize("solver", sorted(OPTIMIZERS))
def test_cosine_schedule(solver):
    K = 8
    opt = OPTIMIZERS[solver](np.zeros(3), learning_rate_init=0.4, schedule="cosine", max_iter=K)
    rates = []
    for k in range(1, K + 3):
        opt.end_epoch(k * 100)
        rates.append(opt.learning_rate)
    # eta_k = eta_0 (1 + cos(pi k / K)) / 2, k capped at K.
    expected = [0.4 * (1 + math.cos(math.pi * min(k, K) / K)) / 2 for k in range(1, K + 3)]
    np.testing.assert_allclose(rates, expected, rtol=1e-14, atol=1e-17)
    assert rates[K - 1] == pytest.approx(0.0, abs=1e-15)


def test_adaptive_on_plateau_divides_by_five_then_stops():
    opt = SGD(np.zeros(3), learning_rate_init=1e-3, schedule="adaptive")
    rates = [opt.learning_rate]
    while not opt.on_plateau("Training loss did not improve.", verbose=False):
        rates.append(opt.learning_rate)
        assert len(rates) < 50
    # 1e-3 -> 2e-4 -> 4e-5 -> 8e-6 -> 1.6e-6 -> 3.2e-7, then stop (<= 1e-6).
    np.testing.assert_allclose(rates, [1e-3, 2e-4, 4e-5, 8e-6, 1.6e-6, 3.2e-7], rtol=1e-12)
    assert opt.learning_rate == rates[-1]  # stopping leaves the rate alone


def test_adaptive_stops_at_threshold():
    # scikit-learn stops once the rate is <= 1e-6.
    opt = SGD(np.zeros(3), learning_rate_init=1e-6, schedule="adaptive")
    assert opt.on_plateau("msg", verbose=False) is True
    assert opt.learning_rate == 1e-6
    opt = SGD(np.zeros(3), learning_rate_init=1.01e-6, schedule="adaptive")
    assert opt.on_plateau("msg", verbose=False) is False
    assert opt.learning_rate == pytest.approx(1.01e-6 / 5)


@pytest.mark.parametrize("schedule", ["constant", "invscaling", "cosine"])
def test_non_adaptive_on_plateau_stops(schedule):
    opt = SGD(np.zeros(3), learning_rate_init=0.1, schedule=schedule)
    assert opt.on_plateau("msg", verbose=False) is True
    assert opt.learning_rate == 0.1


def test_on_plateau_verbose_message(capsys):
    SGD(np.zeros(3), learning_rate_init=0.1, schedule="adaptive").on_plateau("Plateau.", True)
    assert "Plateau. Setting learning rate to 0.020000" in capsys.readouterr().out
    Adam(np.zeros(3)).on_plateau("Plateau.", verbose=True)
    assert "Plateau. Stopping." in capsys.readouterr().out


# make_optimizer -------------------------------------------------------------
def test_optimizer_registry():
    assert {"sgd", "adam"} <= set(OPTIMIZERS)
    assert OPTIMIZERS["sgd"] is SGD and OPTIMIZERS["adam"] is Adam


@pytest.mark.parametrize("Estimator", [ScratchMLPClassifier, ScratchMLPRegressor])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_make_sgd_from_params(Estimator, dtype):
    params = Estimator(
        solver="sgd",
        learning_rate_init=0.0123,
        learning_rate="invscaling",
        momentum=0.55,
        nesterovs_momentum=False,
        power_t=0.3,
    ).get_params()
    theta = np.zeros(17, dtype=dtype)
    opt = make_optimizer("sgd", theta, params)
    assert isinstance(opt, SGD)
    assert opt.learning_rate_init == opt.learning_rate == 0.0123
    assert opt.schedule == "invscaling"
    assert opt.momentum == 0.55
    assert opt.nesterov is False
    assert opt.power_t == 0.3
    assert opt.velocity.shape == (17,) and opt.velocity.dtype == dtype
    assert not opt.velocity.any()


@pytest.mark.parametrize("Estimator", [ScratchMLPClassifier, ScratchMLPRegressor])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_make_adam_from_params(Estimator, dtype):
    params = Estimator(
        solver="adam", learning_rate_init=0.004, beta_1=0.8, beta_2=0.95, epsilon=1e-6
    ).get_params()
    opt = make_optimizer("adam", np.zeros(11, dtype=dtype), params)
    assert isinstance(opt, Adam)
    assert opt.learning_rate_init == opt.learning_rate == 0.004
    assert (opt.beta_1, opt.beta_2, opt.epsilon) == (0.8, 0.95, 1e-6)
    assert opt.t == 0
    assert opt.m.shape == opt.v.shape == (11,)
    assert opt.m.dtype == opt.v.dtype == dtype


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_make_optimizer_with_default_params(solver):
    params = ScratchMLPClassifier().get_params()
    opt = make_optimizer(solver, np.zeros(4), params)
    assert opt.learning_rate_init == 0.001
    assert opt.schedule == "constant"
    if solver == "sgd":
        assert (opt.momentum, opt.nesterov, opt.power_t) == (0.9, True, 0.5)
    else:
        assert (opt.beta_1, opt.beta_2, opt.epsilon) == (0.9, 0.999, 1e-8)


def test_make_optimizer_for_every_solver():
    # Every registered solver can be built from the estimator's parameters.
    params = ScratchMLPClassifier(alpha=0.25).get_params()
    for solver, cls in OPTIMIZERS.items():
        opt = make_optimizer(solver, np.zeros(6), params, [slice(0, 4)])
        assert type(opt) is cls
        if cls.decoupled_weight_decay:
            assert opt.weight_decay == 0.25
            assert opt.weight_slices == [slice(0, 4)]
