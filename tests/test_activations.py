"""Hidden-layer activations: registry, forward formulas, derivatives, stability."""

import warnings

import numpy as np
import pytest
from scipy.special import erf

from scratchmlp import ScratchMLPClassifier, ScratchMLPRegressor
from scratchmlp._activations import ACTIVATIONS, LEAKY_RELU_SLOPE

#: scikit-learn's four and leaky_relu: the names a drop-in must accept.
REQUIRED = {"identity", "logistic", "tanh", "relu", "leaky_relu"}
#: Every registered activation is tested (a new one needs a reference below).
NAMES = sorted(ACTIVATIONS)
DTYPES = [np.float32, np.float64]


def reference_forward(name, Z):
    """The textbook formulas, in float64 and written independently of the library."""
    Z = np.asarray(Z, dtype=np.float64)
    if name == "identity":
        return Z.copy()
    if name == "logistic":
        return 1.0 / (1.0 + np.exp(-Z))
    if name == "tanh":
        return (np.exp(Z) - np.exp(-Z)) / (np.exp(Z) + np.exp(-Z))
    if name == "relu":
        return np.where(Z > 0, Z, 0.0)
    if name == "leaky_relu":
        return np.where(Z > 0, Z, 0.01 * Z)
    if name == "elu":
        return np.where(Z > 0, Z, np.exp(np.minimum(Z, 0)) - 1)
    if name == "gelu":
        return Z * 0.5 * (1 + erf(Z / np.sqrt(2)))
    if name == "softplus":
        return np.log1p(np.exp(Z))
    if name == "silu":
        return Z / (1 + np.exp(-Z))
    raise AssertionError(f"no reference formula for the activation {name!r}")


def points_away_from_kinks(seed, shape=(6, 9), scale=3.0):
    rng = np.random.RandomState(seed)
    Z = scale * rng.randn(*shape)
    # relu and leaky_relu have a kink at 0: keep every point clearly away.
    Z[np.abs(Z) < 1e-2] = 0.5
    return Z


def test_registry_keys():
    assert REQUIRED <= set(ACTIVATIONS)
    assert set(ACTIVATIONS) <= REQUIRED | {"elu", "gelu", "softplus", "silu"}
    for name, act in ACTIVATIONS.items():
        assert act.name == name


@pytest.mark.parametrize("Estimator", [ScratchMLPClassifier, ScratchMLPRegressor])
def test_registry_matches_parameter_validation(Estimator):
    options = Estimator._parameter_constraints["activation"][0].options
    assert set(options) == set(ACTIVATIONS)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", [0, 1])
def test_forward_matches_reference(name, seed):
    Z = points_away_from_kinks(seed, scale=4.0)
    act = ACTIVATIONS[name]
    out = np.empty_like(Z)
    A = act.forward(Z, out)
    assert A is out
    np.testing.assert_allclose(A, reference_forward(name, Z), rtol=1e-12, atol=1e-15)
    # __call__ is a convenience returning a new array with the same values.
    np.testing.assert_array_equal(act(Z), A)


@pytest.mark.parametrize("name", NAMES)
def test_forward_in_place(name):
    # forward(Z, out) allows out to be Z itself.
    Z = points_away_from_kinks(3)
    expected = ACTIVATIONS[name](Z)
    Zc = Z.copy()
    A = ACTIVATIONS[name].forward(Zc, Zc)
    assert A is Zc
    np.testing.assert_array_equal(A, expected)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_derivative_matches_central_differences(name, seed):
    act = ACTIVATIONS[name]
    Z = points_away_from_kinks(seed)
    h = 1e-6
    numeric = (act(Z + h) - act(Z - h)) / (2 * h)
    np.testing.assert_allclose(act.derivative(Z), numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_backward_multiplies_dA_in_place(name):
    rng = np.random.RandomState(7)
    act = ACTIVATIONS[name]
    Z = points_away_from_kinks(4)
    A = act(Z)
    dA = rng.randn(*Z.shape)
    expected = dA * act.derivative(Z)
    dZ = act.backward(Z, A, dA)
    assert dZ is dA
    np.testing.assert_allclose(dZ, expected, rtol=1e-14, atol=0)
    # Z and A are inputs only.
    np.testing.assert_array_equal(A, act(Z))


def test_leaky_relu_slope():
    assert LEAKY_RELU_SLOPE == 0.01
    act = ACTIVATIONS["leaky_relu"]
    Z = np.array([[-5.0, -1.0, -1e-3, 1e-3, 2.0, 7.0]])
    np.testing.assert_allclose(act(Z), [[-0.05, -0.01, -1e-5, 1e-3, 2.0, 7.0]], rtol=1e-15)
    np.testing.assert_array_equal(act.derivative(Z), [[0.01, 0.01, 0.01, 1.0, 1.0, 1.0]])


def test_relu_derivative_values():
    act = ACTIVATIONS["relu"]
    Z = np.array([[-3.0, -1e-9, 1e-9, 4.0]])
    np.testing.assert_array_equal(act.derivative(Z), [[0.0, 0.0, 1.0, 1.0]])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_inputs_finite_without_warnings(name, dtype):
    act = ACTIVATIONS[name]
    Z = np.array([[-1e4, -1e3, -50.0, 0.0, 50.0, 1e3, 1e4]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A = act(Z)
        dZ = act.backward(Z, A, np.ones_like(Z))
    assert np.isfinite(A).all()
    assert np.isfinite(dZ).all()
    # Saturating activations saturate to their limits; the others are linear
    # (or zero) far from 0.
    expected_ends = {
        "logistic": [0.0, 1.0],
        "tanh": [-1.0, 1.0],
        "identity": [-1e4, 1e4],
        "relu": [0.0, 1e4],
        "leaky_relu": [-1e2, 1e4],
        "elu": [-1.0, 1e4],
        "gelu": [0.0, 1e4],
        "softplus": [0.0, 1e4],
        "silu": [0.0, 1e4],
    }[name]
    np.testing.assert_allclose(A[0, [0, -1]], expected_ends, rtol=1e-6)
    expected_slopes = {
        "logistic": [0.0, 0.0],
        "tanh": [0.0, 0.0],
        "identity": [1.0, 1.0],
        "relu": [0.0, 1.0],
        "leaky_relu": [0.01, 1.0],
        "elu": [0.0, 1.0],
        "gelu": [0.0, 1.0],
        "softplus": [0.0, 1.0],
        "silu": [0.0, 1.0],
    }[name]
    np.testing.assert_allclose(dZ[0, [0, -1]], expected_slopes, rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_dtype_preserved(name, dtype):
    act = ACTIVATIONS[name]
    Z = points_away_from_kinks(5).astype(dtype)
    A = act(Z)
    assert A.dtype == dtype
    dA = np.ones_like(Z)
    assert act.backward(Z, A, dA).dtype == dtype
    assert act.derivative(Z).dtype == dtype
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(A, reference_forward(name, Z), rtol=rtol, atol=1e-7)


def test_tanh_from_expit_is_within_two_units_of_one_of_numpy():
    """The float64 tanh used without AVX-512 (see ``_tanh``): absolute error <= 2^-51."""
    from scratchmlp._activations import _tanh_from_expit

    rng = np.random.RandomState(0)
    Z = np.concatenate(
        [
            rng.standard_normal(20000) * 3,
            np.logspace(-300, 2.9, 2000),
            -np.logspace(-300, 2.9, 2000),
            [0.0, -0.0, 1e-320, 19.0, 20.0, 710.0, 1e308, -1e308, np.inf, -np.inf],
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or invalid value anywhere
        ours = _tanh_from_expit(Z, np.empty_like(Z))
    reference = np.tanh(Z)
    assert np.abs(ours - reference).max() <= 2.0**-51
    assert (ours[np.abs(Z) > 20] == np.sign(Z[np.abs(Z) > 20])).all()  # saturates exactly
    assert (np.abs(ours) <= 1).all()
    # In place (Z is out), as the workspace calls it.
    Zc = Z.copy()
    np.testing.assert_array_equal(_tanh_from_expit(Zc, Zc), ours)
    assert np.isnan(_tanh_from_expit(np.array([np.nan]), np.empty(1)))[0]
