"""The engine: gradient check against finite differences, shapes, buffers, dtypes."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from scratchmlp._activations import ACTIVATIONS
from scratchmlp._initializers import initialize
from scratchmlp._network import (
    Gradient,
    Network,
    Workspace,
    backward,
    cost,
    cost_and_gradient,
    dropout_masks,
    forward,
    logit_bound,
    n_parameters,
    overflow_free,
)

HIDDEN = sorted(ACTIVATIONS)
# (name, loss key, number of outputs)
OUTPUTS = [
    ("binary", "binary_log_loss", 1),
    ("multiclass", "log_loss", 3),
    ("multilabel", "binary_log_loss", 3),
    ("regression1", "squared_error", 1),
    ("regression2", "squared_error", 2),
    ("poisson", "poisson", 1),
]
OUTPUT_IDS = [o[0] for o in OUTPUTS]
M = 7  # samples


def make_problem(kind, n_out, m, n_in, rng, dtype=np.float64):
    """A0 of shape (n_in, m) and targets Y of shape (n_out, m) for an output type."""
    A0 = rng.randn(n_in, m)
    if kind == "multiclass":
        Y = np.zeros((n_out, m))
        Y[rng.randint(n_out, size=m), np.arange(m)] = 1.0
    elif kind in ("binary", "multilabel"):
        Y = (rng.rand(n_out, m) < 0.5).astype(float)
    elif kind.startswith("regression"):
        Y = rng.randn(n_out, m)
    elif kind == "poisson":
        Y = rng.poisson(1.5, size=(n_out, m)).astype(float)
    else:
        raise AssertionError(kind)
    return A0.astype(dtype), Y.astype(dtype)


def make_net(sizes, activation, loss, seed, dtype=np.float64):
    net = Network(sizes, activation, loss, dtype=dtype)
    initialize(net, np.random.RandomState(seed))
    return net


def numerical_gradient(net, A0, Y, sample_weight, alpha, eps=1e-6, D=None):
    """Central differences of J over every entry of net.theta (restored after)."""
    theta = net.theta
    num = np.empty_like(theta)
    for i in range(theta.size):
        old = theta[i]
        theta[i] = old + eps
        J_plus = cost(net, forward(net, A0, D=D), Y, sample_weight, alpha)
        theta[i] = old - eps
        J_minus = cost(net, forward(net, A0, D=D), Y, sample_weight, alpha)
        theta[i] = old
        num[i] = (J_plus - J_minus) / (2 * eps)
    return num


def relative_error(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a + b), 1e-12)


def min_abs_hidden_preactivation(net, A0):
    cache = forward(net, A0)
    return min(np.abs(cache.Z[l]).min() for l in range(1, net.L))


@pytest.mark.parametrize("alpha", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("kind, loss, n_out", OUTPUTS, ids=OUTPUT_IDS)
@pytest.mark.parametrize("activation", HIDDEN)
def test_gradient_check(activation, kind, loss, n_out, weighted, alpha):
    seed = 0
    rng = np.random.RandomState(seed)
    net = make_net([4, 5, 3, n_out], activation, loss, seed)
    A0, Y = make_problem(kind, n_out, M, 4, rng)
    s = rng.uniform(0.2, 2.0, M) if weighted else None
    if weighted:
        s[2] = 0.0  # a zero weight among others
    # A central difference across a relu kink is not a derivative: make sure
    # this seeded problem stays clear of them (pick another seed if not).
    assert min_abs_hidden_preactivation(net, A0) > 1e-3

    J, grad = cost_and_gradient(net, A0, Y, s, alpha)
    theta_before = net.theta.copy()
    num = numerical_gradient(net, A0, Y, s, alpha)
    np.testing.assert_array_equal(net.theta, theta_before)

    assert np.isfinite(J) and J > 0
    assert np.abs(grad.flat).max() > 1e-6  # not trivially zero
    assert relative_error(grad.flat, num) < 1e-6
    # Entrywise too, relative to the gradient's scale: the rounding noise of a
    # central difference (~1e-16 J / eps) swamps a plain relative error on
    # entries near 0, but no entry may be off by 1e-6 of the largest.
    assert np.abs(grad.flat - num).max() < 1e-6 * np.abs(grad.flat).max()


@pytest.mark.parametrize("activation", HIDDEN)
def test_gradient_check_per_layer_activations_and_deeper_net(activation):
    # One activation per hidden layer, three hidden layers.
    rng = np.random.RandomState(1)
    acts = [activation, "tanh", "logistic"]
    net = make_net([3, 4, 4, 3, 2], acts, "log_loss", 1)
    assert net.activation_names == [None, *acts, "softmax"]
    A0, Y = make_problem("multiclass", 2, M, 3, rng)
    assert min_abs_hidden_preactivation(net, A0) > 1e-3
    J, grad = cost_and_gradient(net, A0, Y, None, 0.1)
    num = numerical_gradient(net, A0, Y, None, 0.1)
    assert relative_error(grad.flat, num) < 1e-6


@pytest.mark.parametrize("activation", ["tanh", "relu", "gelu"])
@pytest.mark.parametrize("use_workspace", [False, True])
def test_gradient_check_with_fixed_dropout_masks(activation, use_workspace):
    # With the masks D held fixed, J is a smooth function of theta again.
    rng = np.random.RandomState(11)
    net = make_net([4, 6, 5, 3], activation, "log_loss", 11)
    A0, Y = make_problem("multiclass", 3, M, 4, rng)
    s = rng.uniform(0.5, 2.0, M)
    D = dropout_masks(rng, net.layer_sizes, M, [0.0, 0.5, 0.25, 0.0], net.dtype)
    assert D[0] is None and D[net.L] is None
    assert D[1].shape == (6, M) and D[2].shape == (5, M)
    assert set(np.unique(D[1])) <= {0.0, 2.0} and set(np.unique(D[2])) <= {0.0, 4 / 3}
    assert (D[1] == 0).any() and (D[1] > 0).any()
    assert min_abs_hidden_preactivation(net, A0) > 1e-3
    ws = Workspace(net.layer_sizes, M, net.dtype) if use_workspace else None
    J, grad = cost_and_gradient(net, A0, Y, s, 0.3, ws, D)
    num = numerical_gradient(net, A0, Y, s, 0.3, D=D)
    assert relative_error(grad.flat, num) < 1e-6
    assert np.abs(grad.flat - num).max() < 1e-6 * np.abs(grad.flat).max()
    # Dropped units pass nothing on: dropping everything in layer 2 leaves
    # W[3]'s gradient zero.
    D_all = [None, D[1], np.zeros_like(D[2]), None]
    _, g = cost_and_gradient(net, A0, Y, s, 0.0, None, D_all)
    np.testing.assert_array_equal(g.dW[3], 0.0)


def test_no_dropout_masks_equal_no_dropout():
    rng = np.random.RandomState(12)
    net = make_net([4, 5, 3, 2], "tanh", "squared_error", 12)
    A0, Y = make_problem("regression2", 2, M, 4, rng)
    D = dropout_masks(rng, net.layer_sizes, M, [0.0, 0.0, 0.0, 0.0], net.dtype)
    assert D == [None] * (net.L + 1)
    J1, g1 = cost_and_gradient(net, A0, Y, None, 0.1)
    g1 = g1.flat.copy()
    J2, g2 = cost_and_gradient(net, A0, Y, None, 0.1, None, D)
    assert J1 == J2
    np.testing.assert_array_equal(g1, g2.flat)


def test_gradient_check_single_layer():
    # L = 1: no hidden layer, plain (multinomial) logistic regression.
    rng = np.random.RandomState(2)
    net = make_net([4, 3], [], "log_loss", 2)
    A0, Y = make_problem("multiclass", 3, M, 4, rng)
    J, grad = cost_and_gradient(net, A0, Y, None, 0.3)
    assert relative_error(grad.flat, numerical_gradient(net, A0, Y, None, 0.3)) < 1e-6


def test_cost_matches_definition():
    # J = sum(s_i loss_i) / S + alpha / (2 S) sum ||W[l]||^2
    rng = np.random.RandomState(3)
    net = make_net([4, 5, 3, 2], "tanh", "squared_error", 3)
    A0, Y = make_problem("regression2", 2, M, 4, rng)
    s = rng.uniform(0.5, 2.0, M)
    alpha = 0.3
    cache = forward(net, A0)
    per_sample = 0.5 * ((cache.A[net.L] - Y) ** 2).mean(axis=0)
    penalty = sum((net.W[l] ** 2).sum() for l in range(1, net.L + 1))
    expected = (s @ per_sample) / s.sum() + alpha / (2 * s.sum()) * penalty
    assert cost(net, cache, Y, s, alpha) == pytest.approx(expected, rel=1e-13)
    expected_unweighted = per_sample.mean() + alpha / (2 * M) * penalty
    assert cost(net, cache, Y, None, alpha) == pytest.approx(expected_unweighted, rel=1e-13)


def test_unit_weights_equal_no_weights():
    rng = np.random.RandomState(4)
    net = make_net([4, 5, 3, 3], "relu", "log_loss", 4)
    A0, Y = make_problem("multiclass", 3, M, 4, rng)
    J1, g1 = cost_and_gradient(net, A0, Y, None, 0.3)
    J2, g2 = cost_and_gradient(net, A0, Y, np.ones(M), 0.3)
    assert J1 == pytest.approx(J2, rel=1e-14)
    np.testing.assert_allclose(g1.flat, g2.flat, rtol=1e-13, atol=1e-16)


# Shapes ---------------------------------------------------------------------
def test_forward_cache_and_gradient_shapes():
    sizes = [4, 5, 3, 2]
    net = make_net(sizes, "tanh", "log_loss", 0)
    rng = np.random.RandomState(0)
    A0, Y = make_problem("multiclass", 2, M, 4, rng)
    cache = forward(net, A0)
    assert net.L == 3
    assert cache.A[0] is A0
    assert cache.Z[0] is None
    assert net.W[0] is None and net.b[0] is None
    for l in range(1, net.L + 1):
        assert net.W[l].shape == (sizes[l], sizes[l - 1])
        assert net.b[l].shape == (sizes[l], 1)
        assert cache.Z[l].shape == (sizes[l], M)
        assert cache.A[l].shape == (sizes[l], M)
        # Z[l] = W[l] A[l-1] + b[l], A[l] = g(Z[l])
        np.testing.assert_allclose(cache.Z[l], net.W[l] @ cache.A[l - 1] + net.b[l], rtol=1e-13)
    for l in range(1, net.L):
        # float64 tanh is within 2^-51 of numpy's (see _activations._tanh)
        np.testing.assert_allclose(cache.A[l], np.tanh(cache.Z[l]), rtol=0, atol=2.0**-51)
    grad = backward(net, cache, Y)
    assert grad.flat.shape == (n_parameters(sizes),) == net.theta.shape
    assert grad.dW[0] is None and grad.db[0] is None
    for l in range(1, net.L + 1):
        assert grad.dW[l].shape == (sizes[l], sizes[l - 1])
        assert grad.db[l].shape == (sizes[l], 1)
        assert np.shares_memory(grad.dW[l], grad.flat)
        assert np.shares_memory(grad.db[l], grad.flat)


def test_theta_layout():
    sizes = [3, 4, 2]
    net = Network(sizes, "relu", "squared_error")
    assert net.theta.size == 3 * 4 + 4 + 4 * 2 + 2
    net.theta[:] = np.arange(net.theta.size)
    np.testing.assert_array_equal(net.W[1], np.arange(12).reshape(4, 3))
    np.testing.assert_array_equal(net.b[1][:, 0], np.arange(12, 16))
    np.testing.assert_array_equal(net.W[2], np.arange(16, 24).reshape(2, 4))
    np.testing.assert_array_equal(net.b[2][:, 0], [24, 25])


def test_weight_slices():
    net = make_net([3, 4, 2], "relu", "squared_error", 0)
    slices = net.weight_slices()
    assert len(slices) == net.L
    for l, sl in enumerate(slices, start=1):
        np.testing.assert_array_equal(net.theta[sl], net.W[l].ravel())
    # Everything else is a bias.
    is_weight = np.zeros(net.theta.size, dtype=bool)
    for sl in slices:
        is_weight[sl] = True
    biases = np.concatenate([net.b[l].ravel() for l in range(1, net.L + 1)])
    np.testing.assert_array_equal(net.theta[~is_weight], biases)


def test_wrong_number_of_hidden_activations():
    with pytest.raises(ValueError, match="hidden activations"):
        Network([3, 4, 4, 1], ["relu"], "squared_error")


# Workspace ------------------------------------------------------------------
@pytest.mark.parametrize("kind, loss, n_out", OUTPUTS, ids=OUTPUT_IDS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("activation", ["relu", ["gelu", "tanh"], ["leaky_relu", "softplus"]])
def test_workspace_equals_allocating_path(kind, loss, n_out, weighted, activation):
    rng = np.random.RandomState(5)
    net = make_net([4, 5, 3, n_out], activation, loss, 5)
    ws = Workspace.for_network(net, 10)
    # Several batch sizes through the same workspace, largest first and last.
    for m in (10, 3, 7, 10):
        A0, Y = make_problem(kind, n_out, m, 4, rng)
        s = rng.uniform(0.5, 2.0, m) if weighted else None
        J_ref, g_ref = cost_and_gradient(net, A0, Y, s, 0.3)
        J_ws, g_ws = cost_and_gradient(net, A0, Y, s, 0.3, workspace=ws)
        assert g_ws is ws.grad
        assert J_ws == J_ref
        np.testing.assert_array_equal(g_ws.flat, g_ref.flat)


@pytest.mark.parametrize("activation", HIDDEN)
def test_workspace_shares_z_and_a_only_when_the_derivative_needs_only_a(activation):
    net = make_net([4, 5, 3, 2], [activation, "gelu"], "log_loss", 0)
    cache = Workspace.for_network(net, 6).cache(6)
    from_output = ACTIVATIONS[activation].derivative_from_output
    assert (cache.Z[1] is cache.A[1]) == from_output
    assert cache.Z[2] is not cache.A[2]  # gelu's derivative needs Z
    assert cache.Z[3] is not cache.A[3]  # the output: the loss needs the logits
    # An activation that claims it must compute g' from A alone.
    if from_output:
        Z = np.linspace(-3, 3, 13).reshape(1, -1)
        A = ACTIVATIONS[activation](Z)
        expected = ACTIVATIONS[activation].derivative(Z)
        garbage = np.full_like(Z, np.nan)
        dZ = ACTIVATIONS[activation].backward(garbage, A, np.ones_like(Z))
        np.testing.assert_array_equal(dZ, expected)


def test_workspace_input_buffer_shape():
    ws = Workspace([4, 5, 1], 10, np.float32)
    buf = ws.input_buffer(6)
    assert buf.shape == (4, 6)
    assert buf.dtype == np.float32
    assert buf.T.flags.c_contiguous  # samples are contiguous


# Sparse input ---------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csc", "csr"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("use_workspace", [False, True])
def test_sparse_input_equals_dense(fmt, dtype, use_workspace):
    rng = np.random.RandomState(6)
    net = make_net([6, 5, 3, 3], "tanh", "log_loss", 6, dtype=dtype)
    A0, Y = make_problem("multiclass", 3, 9, 6, rng, dtype=dtype)
    A0[rng.rand(*A0.shape) < 0.6] = 0.0
    A0_sparse = sp.csc_matrix(A0) if fmt == "csc" else sp.csr_matrix(A0)
    s = rng.uniform(0.5, 2.0, 9).astype(dtype)
    ws = Workspace(net.layer_sizes, 9, dtype) if use_workspace else None
    J_dense, g = cost_and_gradient(net, A0, Y, s, 0.3, workspace=ws)
    g_dense = g.flat.copy()
    J_sparse, g = cost_and_gradient(net, A0_sparse, Y, s, 0.3, workspace=ws)
    assert g.flat.dtype == dtype
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert J_sparse == pytest.approx(J_dense, rel=rtol)
    np.testing.assert_allclose(g.flat, g_dense, rtol=rtol, atol=rtol * np.abs(g_dense).max())
    cache = forward(net, A0_sparse)
    assert cache.A[0] is A0_sparse
    for l in range(1, net.L + 1):
        assert cache.Z[l].dtype == dtype and cache.A[l].dtype == dtype


# dtype ----------------------------------------------------------------------
@pytest.mark.parametrize("activation", HIDDEN)
@pytest.mark.parametrize("kind, loss, n_out", OUTPUTS, ids=OUTPUT_IDS)
@pytest.mark.parametrize("use_workspace", [False, True])
def test_float32_network_stays_float32(activation, kind, loss, n_out, use_workspace):
    rng = np.random.RandomState(7)
    net = make_net([4, 5, 3, n_out], activation, loss, 7, dtype=np.float32)
    assert net.dtype == np.float32
    for l in range(1, net.L + 1):
        assert net.W[l].dtype == np.float32 and net.b[l].dtype == np.float32
    A0, Y = make_problem(kind, n_out, M, 4, rng, dtype=np.float32)
    s = rng.uniform(0.5, 2.0, M).astype(np.float32)
    ws = Workspace(net.layer_sizes, M, np.float32) if use_workspace else None
    J, grad = cost_and_gradient(net, A0, Y, s, 0.3, workspace=ws)
    cache = forward(net, A0, ws.cache(M) if ws else None)
    assert np.isfinite(J)
    for l in range(1, net.L + 1):
        assert cache.Z[l].dtype == np.float32
        assert cache.A[l].dtype == np.float32
        assert grad.dW[l].dtype == np.float32
        assert grad.db[l].dtype == np.float32
    assert grad.flat.dtype == np.float32
    # And it agrees with the float64 computation to float32 precision.
    net64 = Network(net.layer_sizes, activation, loss, theta=net.theta.astype(np.float64))
    J64, g64 = cost_and_gradient(net64, A0.astype(float), Y.astype(float), s.astype(float), 0.3)
    assert J == pytest.approx(J64, rel=1e-5)
    np.testing.assert_allclose(grad.flat, g64.flat, rtol=1e-3, atol=1e-5 * np.abs(g64.flat).max())


# Zero total weight ----------------------------------------------------------
@pytest.mark.parametrize("kind, loss, n_out", OUTPUTS, ids=OUTPUT_IDS)
@pytest.mark.parametrize("use_workspace", [False, True])
def test_zero_total_sample_weight(kind, loss, n_out, use_workspace):
    rng = np.random.RandomState(8)
    net = make_net([4, 5, 3, n_out], "relu", loss, 8)
    A0, Y = make_problem(kind, n_out, M, 4, rng)
    ws = Workspace(net.layer_sizes, M, net.dtype) if use_workspace else None
    if ws is not None:
        ws.grad.flat[:] = 123.0  # stale values must be overwritten
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        J, grad = cost_and_gradient(net, A0, Y, np.zeros(M), 0.3, workspace=ws)
    assert J == 0.0
    assert grad.flat.shape == net.theta.shape
    np.testing.assert_array_equal(grad.flat, 0.0)


# Pickling and copying -------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pickle_keeps_views(dtype):
    rng = np.random.RandomState(9)
    net = make_net([4, 5, 3, 2], ["relu", "tanh"], "squared_error", 9, dtype=dtype)
    A0, Y = make_problem("regression2", 2, M, 4, rng, dtype=dtype)
    net2 = pickle.loads(pickle.dumps(net))
    assert net2.layer_sizes == net.layer_sizes
    assert net2.activation_names == net.activation_names
    assert net2.loss is net.loss
    assert net2.dtype == dtype
    np.testing.assert_array_equal(net2.theta, net.theta)
    assert not np.shares_memory(net2.theta, net.theta)
    for l in range(1, net2.L + 1):
        assert np.shares_memory(net2.W[l], net2.theta)
        assert np.shares_memory(net2.b[l], net2.theta)
    J, g = cost_and_gradient(net, A0, Y)
    J2, g2 = cost_and_gradient(net2, A0, Y)
    assert J2 == J
    np.testing.assert_array_equal(g2.flat, g.flat)
    # Writing theta moves W and b.
    net2.theta += 1.0
    np.testing.assert_array_equal(net2.W[1], net.W[1] + 1)
    np.testing.assert_array_equal(net2.b[net2.L], net.b[net.L] + 1)
    net2.set_theta(np.zeros(net2.theta.size))
    assert all((net2.W[l] == 0).all() for l in range(1, net2.L + 1))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_copy_is_independent_and_keeps_dtype(dtype):
    net = make_net([4, 5, 3, 2], ["relu", "tanh"], "log_loss", 10, dtype=dtype)
    net2 = net.copy()
    assert net2.dtype == dtype
    assert net2.activation_names == net.activation_names
    np.testing.assert_array_equal(net2.theta, net.theta)
    net2.theta[:] = 0
    assert (net2.W[1] == 0).all()
    assert not (net.W[1] == 0).all()


def test_set_theta_casts_to_network_dtype():
    net = Network([3, 2, 1], "relu", "squared_error", dtype=np.float32)
    theta_before = net.theta
    net.set_theta(np.full(net.theta.size, 0.1, dtype=np.float64))
    assert net.theta is theta_before
    assert net.theta.dtype == np.float32
    np.testing.assert_array_equal(net.W[1], np.float32(0.1))


def test_gradient_type():
    g = Gradient([3, 4, 2], np.float32)
    assert g.flat.dtype == np.float32
    assert g.flat.shape == (n_parameters([3, 4, 2]),)
    assert (g.flat == 0).all()


# ---------------------------------------------------------------------------
# overflow_free: a sound certificate that no sample in range overflows.
# ---------------------------------------------------------------------------
def extreme_inputs(n_in, x_max, rng, m=64):
    """Inputs at the corners of the box |x| <= x_max, where |Z| is largest."""
    return (x_max * rng.choice([-1.0, 1.0], size=(n_in, m))).astype(np.float64)


@pytest.mark.parametrize("kind, loss, n_out", OUTPUTS, ids=OUTPUT_IDS)
@pytest.mark.parametrize("activation", HIDDEN)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_overflow_free_is_sound(activation, kind, loss, n_out, dtype):
    """Scaling the weights up: wherever the certificate holds, the cost is finite."""
    rng = np.random.RandomState(0)
    x_max = 3.0
    A0 = extreme_inputs(4, x_max, rng).astype(dtype)
    _, Y = make_problem(kind, n_out, A0.shape[1], 4, rng, dtype)
    y_max = float(np.abs(Y).max())
    certified = []
    for scale in np.logspace(0, np.log10(np.finfo(dtype).max) - 1, 40):
        net = make_net([4, 5, 3, n_out], activation, loss, seed=1, dtype=dtype)
        net.theta *= dtype(scale)
        # Add the inputs aligned with each row of W[1], which maximise |Z[1]|.
        aligned = x_max * np.sign(net.W[1]).T
        A0 = np.hstack([A0[:, :64], aligned]).astype(dtype)
        Y = np.hstack([Y[:, :64], Y[:, : aligned.shape[1]]])
        safe = overflow_free(net, x_max, y_max, A0.shape[1], alpha=0.1)
        if safe:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                J = cost(net, forward(net, A0), Y, alpha=0.1)
            assert np.isfinite(J), (scale, J)
        certified.append(safe)
    # Ordinary weights are certified, and huge ones are not.
    assert certified[0] and not certified[-1]


@pytest.mark.parametrize("activation", HIDDEN)
def test_logit_bound_holds_and_is_tight_without_hidden_layers(activation):
    rng = np.random.RandomState(0)
    x_max = 2.5
    # One layer of +-1 weights: the inputs x_max * sign(W[1]) reach the bound
    # exactly (Cauchy-Schwarz is an equality for rows of equal magnitude).
    net = Network([6, 3], [], "squared_error")
    net.W[1][...] = rng.choice([-1.0, 1.0], size=(3, 6))
    net.b[1][...] = 0.5
    Z = forward(net, x_max * np.sign(net.W[1]).T).Z[1]
    np.testing.assert_allclose(np.abs(Z).max(), logit_bound(net, x_max))
    # Deeper: the bound holds on the box's corners, aligned or random.
    net = make_net([6, 5, 4, 2], activation, "squared_error", seed=2)
    net.theta *= 3.0
    corners = [x_max * np.sign(net.W[1]).T, extreme_inputs(6, x_max, rng, m=256)]
    for A0 in corners:
        assert np.abs(forward(net, A0).Z[net.L]).max() <= logit_bound(net, x_max)


def test_overflow_free_on_a_trained_sized_network():
    """A MNIST-sized network at its initial weights is far from overflowing."""
    for dtype in (np.float32, np.float64):
        net = make_net([784, 256, 128, 10], "relu", "log_loss", seed=0, dtype=dtype)
        assert overflow_free(net, x_max=255.0, y_max=1.0, total_weight=60000, alpha=1e-4)
    net = make_net([3, 4, 1], "tanh", "squared_error", seed=0)
    net.theta[0] = np.nan
    assert not overflow_free(net, 1.0, 1.0, 10)
    net.theta[0] = np.inf
    assert not overflow_free(net, 1.0, 1.0, 10)
