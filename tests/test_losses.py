"""Output layers and losses: softmax, per-sample losses, canonical-link deltas."""

import warnings

import numpy as np
import pytest
from scipy.special import xlogy
from sklearn.neural_network._base import LOSS_FUNCTIONS as SK_LOSSES

from scratchmlp._losses import LOSSES, log_softmax, softmax

DTYPES = [np.float32, np.float64]

# (loss key, output activation, number of outputs)
CASES = [
    ("log_loss", "softmax", 3),
    ("binary_log_loss", "logistic", 1),
    ("binary_log_loss", "logistic", 3),
    ("squared_error", "identity", 1),
    ("squared_error", "identity", 2),
    ("poisson", "exp", 1),
    ("poisson", "exp", 2),
]
CASE_IDS = [f"{loss}-{k}" for loss, _, k in CASES]


def make_targets(loss, k, m, rng):
    """Y of shape (k, m) in the loss's domain."""
    if loss == "log_loss":
        Y = np.zeros((k, m))
        Y[rng.randint(k, size=m), np.arange(m)] = 1.0
        return Y
    if loss == "binary_log_loss":
        return (rng.rand(k, m) < 0.5).astype(float)
    if loss == "squared_error":
        return 2.0 * rng.randn(k, m)
    if loss == "poisson":
        Y = rng.poisson(2.0, size=(k, m)).astype(float)
        Y[0, 0] = 0.0  # a zero count exercises xlogy(0, 0) = 0
        return Y
    raise AssertionError(loss)


def reference_sample_losses(loss, Y, Z):
    """Direct formulas, shape (m,), from the logits Z (moderate values only)."""
    if loss == "log_loss":
        P = np.exp(Z) / np.exp(Z).sum(axis=0)
        return -(Y * np.log(P)).sum(axis=0)
    if loss == "binary_log_loss":
        P = 1.0 / (1.0 + np.exp(-Z))
        return -(Y * np.log(P) + (1 - Y) * np.log(1 - P)).sum(axis=0)
    if loss == "squared_error":
        return 0.5 * ((Z - Y) ** 2).mean(axis=0)
    if loss == "poisson":
        A = np.exp(Z)
        return (xlogy(Y, Y / A) - Y + A).sum(axis=0)
    raise AssertionError(loss)


# softmax / log_softmax ------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_columns_sum_to_one(dtype):
    rng = np.random.RandomState(0)
    Z = (3 * rng.randn(4, 11)).astype(dtype)
    A = softmax(Z, np.empty_like(Z))
    assert A.dtype == dtype
    assert (A > 0).all()
    np.testing.assert_allclose(A.sum(axis=0), 1.0, rtol=1e-6 if dtype == np.float32 else 1e-14)
    ref = np.exp(Z.astype(float)) / np.exp(Z.astype(float)).sum(axis=0)
    np.testing.assert_allclose(A, ref, rtol=1e-5 if dtype == np.float32 else 1e-13)


def test_softmax_in_place():
    Z = np.random.RandomState(1).randn(3, 5)
    expected = softmax(Z, np.empty_like(Z))
    Zc = Z.copy()
    assert softmax(Zc, Zc) is Zc
    np.testing.assert_allclose(Zc, expected, rtol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_and_log_softmax_stable_at_huge_logits(dtype):
    Z = np.array(
        [[1e4, -1e4, 1e4, 0.0], [-1e4, 1e4, 1e4 - 1.0, 0.0], [0.0, 0.0, -1e4, 1e4]],
        dtype=dtype,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A = softmax(Z, np.empty_like(Z))
        logA = log_softmax(Z)
    assert np.isfinite(A).all() and np.isfinite(logA).all()
    assert A.dtype == dtype and logA.dtype == dtype
    np.testing.assert_allclose(A.sum(axis=0), 1.0, rtol=1e-6)
    np.testing.assert_allclose(A[:, 0], [1.0, 0.0, 0.0], atol=1e-7)
    e = np.exp(-1.0)
    np.testing.assert_allclose(A[:, 2], [1 / (1 + e), e / (1 + e), 0.0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(logA[:, 0], [0.0, -2e4, -1e4], rtol=1e-6)
    assert logA.max() <= 0


def test_log_softmax_matches_log_of_softmax():
    Z = 2 * np.random.RandomState(2).randn(5, 8)
    np.testing.assert_allclose(log_softmax(Z), np.log(softmax(Z, np.empty_like(Z))), rtol=1e-12)


# Registry -------------------------------------------------------------------
def test_registry():
    assert set(LOSSES) == {"log_loss", "binary_log_loss", "squared_error", "poisson"}
    for loss, out_activation, _ in CASES:
        assert LOSSES[loss].name == loss
        assert LOSSES[loss].out_activation == out_activation


@pytest.mark.parametrize("loss, out_activation, k", CASES, ids=CASE_IDS)
def test_output_forward(loss, out_activation, k):
    Z = np.random.RandomState(3).randn(k, 7)
    A = LOSSES[loss].forward(Z, np.empty_like(Z))
    expected = {
        "softmax": lambda: np.exp(Z) / np.exp(Z).sum(axis=0),
        "logistic": lambda: 1 / (1 + np.exp(-Z)),
        "identity": lambda: Z,
        "exp": lambda: np.exp(Z),
    }[out_activation]()
    np.testing.assert_allclose(A, expected, rtol=1e-13)


# Per-sample losses ----------------------------------------------------------
@pytest.mark.parametrize("loss, out_activation, k", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_sample_losses_match_direct_formula(loss, out_activation, k, seed):
    rng = np.random.RandomState(seed)
    m = 9
    Z = 1.5 * rng.randn(k, m)
    Y = make_targets(loss, k, m, rng)
    out = LOSSES[loss]
    A = out.forward(Z, np.empty_like(Z))
    losses = out.sample_losses(Y, Z, A)
    assert losses.shape == (m,)
    np.testing.assert_allclose(losses, reference_sample_losses(loss, Y, Z), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("loss, out_activation, k", CASES, ids=CASE_IDS)
def test_sample_losses_match_scikit_learn(loss, out_activation, k):
    # scikit-learn's LOSS_FUNCTIONS take (m, k) arrays and average over the
    # samples; one sample at a time gives the per-sample loss. Moderate
    # logits keep its probability clipping inactive.
    rng = np.random.RandomState(10)
    m = 8
    Z = rng.randn(k, m)
    Y = make_targets(loss, k, m, rng)
    out = LOSSES[loss]
    A = out.forward(Z, np.empty_like(Z))
    losses = out.sample_losses(Y, Z, A)
    expected = [SK_LOSSES[loss](Y.T[i : i + 1], A.T[i : i + 1]) for i in range(m)]
    np.testing.assert_allclose(losses, expected, rtol=1e-10, atol=1e-13)
    # And the sample-weighted mean equals scikit-learn's weighted loss.
    s = rng.uniform(0.1, 2.0, m)
    np.testing.assert_allclose(
        losses @ s / s.sum(), SK_LOSSES[loss](Y.T, A.T, sample_weight=s), rtol=1e-10
    )


REGRESSION_CASES = [c for c in CASES if c[0] in ("squared_error", "poisson")]


@pytest.mark.parametrize(
    "loss, out_activation, k", REGRESSION_CASES, ids=[f"{c[0]}-{c[2]}" for c in REGRESSION_CASES]
)
def test_perfect_prediction_costs_zero_for_regression(loss, out_activation, k):
    rng = np.random.RandomState(4)
    Y = make_targets(loss, k, 6, rng)
    Y[Y == 0] = 1.0 if loss == "poisson" else 0.0
    Z = np.log(Y) if loss == "poisson" else Y.copy()
    out = LOSSES[loss]
    A = out.forward(Z, np.empty_like(Z))
    np.testing.assert_allclose(out.sample_losses(Y, Z, A), 0.0, atol=1e-12)


@pytest.mark.parametrize("loss", ["log_loss", "binary_log_loss"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_log_losses_finite_at_huge_logits(loss, dtype):
    # The losses are computed from the logits, so a confident wrong answer
    # costs a large finite amount, not inf.
    Z = np.array([[1e4, -1e4], [-1e4, 1e4]], dtype=dtype)
    Y = np.array([[0.0, 1.0], [1.0, 0.0]], dtype=dtype)  # both samples wrong
    out = LOSSES[loss]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A = out.forward(Z, np.empty_like(Z))
        losses = out.sample_losses(Y, Z, A)
    assert np.isfinite(losses).all()
    # log_loss: -log softmax = 2e4; binary: softplus(1e4) + softplus(-1e4) + 1e4 = 2e4.
    np.testing.assert_allclose(losses, 2e4, rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_exp_output_saturates_without_overflow(dtype):
    # The poisson output documents that exp saturates at the largest finite
    # float instead of overflowing, in the network's dtype.
    Z = np.array([[-1e4, 0.0, 50.0, 1e3, 1e4]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A = LOSSES["poisson"].forward(Z, np.empty_like(Z))
    assert A.dtype == dtype
    assert np.isfinite(A).all()
    assert A[0, -1] <= np.finfo(dtype).max
    np.testing.assert_allclose(A[0, :3], np.exp(Z[0, :3].astype(float)), rtol=1e-6)


# Canonical-link deltas ------------------------------------------------------
@pytest.mark.parametrize("loss, out_activation, k", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_output_delta_is_derivative_of_sample_loss(loss, out_activation, k, seed):
    rng = np.random.RandomState(seed)
    m = 5
    Z = rng.randn(k, m)
    Y = make_targets(loss, k, m, rng)
    out = LOSSES[loss]

    def sample_losses(Zp):
        return out.sample_losses(Y, Zp, out.forward(Zp, np.empty_like(Zp)))

    A = out.forward(Z, np.empty_like(Z))
    buf = np.empty_like(Z)
    delta = out.output_delta(Y, A, out=buf)
    assert delta is buf
    # Sample i's loss depends only on column i, so d loss_i / d Z[j, i] is
    # a finite difference of the whole vector of sample losses.
    h = 1e-6
    numeric = np.empty_like(Z)
    for j in range(k):
        E = np.zeros_like(Z)
        E[j] = h
        numeric[j] = (sample_losses(Z + E) - sample_losses(Z - E)) / (2 * h)
    np.testing.assert_allclose(delta, numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("loss, out_activation, k", CASES, ids=CASE_IDS)
def test_output_delta_formula(loss, out_activation, k):
    rng = np.random.RandomState(5)
    Z = rng.randn(k, 4)
    Y = make_targets(loss, k, 4, rng)
    out = LOSSES[loss]
    A = out.forward(Z, np.empty_like(Z))
    delta = out.output_delta(Y, A, out=np.empty_like(Z))
    divisor = k if loss == "squared_error" else 1
    np.testing.assert_allclose(delta, (A - Y) / divisor, rtol=1e-15)
    assert out.mean_over_outputs == (loss == "squared_error")
