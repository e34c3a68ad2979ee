"""Fitting and predicting on torch and array-api-strict arrays (scikit-learn's array API dispatch).

array-api-strict is always installed with the test extra; torch is optional
(``pip install torch``) and its cases skip only where it is not installed.
The root conftest.py sets ``SCIPY_ARRAY_API=1`` before scipy is imported.

What is checked against the numpy path, on the same data and random_state:
the loss curves agree to 1e-10 relative in float64 for every solver
(including dropout, shuffling, early stopping, sample weights, warm_start and
partial_fit), and the predictions agree; outputs are arrays of the input's
namespace; the array API engine's gradient equals the numpy engine's; models
move to numpy (pickle, ONNX) and back; bad combinations raise clear errors.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import scratchmlp
from scratchmlp import ScratchMLPClassifier, ScratchMLPRegressor
from scratchmlp._activations import ACTIVATIONS
from scratchmlp._namespace import namespace_of, to_host
from scratchmlp._network import Network, cost_and_gradient

NAMESPACES = ["array_api_strict", "torch"]
SOLVERS = ["adam", "sgd", "lbfgs", "rmsprop", "adamw"]

X_C, Y_C = make_classification(120, 8, n_classes=3, n_informative=5, random_state=0)
X_R, Y_R = make_regression(120, 8, n_targets=2, noise=1.0, random_state=0)
Y_R = Y_R / Y_R.std()


@pytest.fixture(params=NAMESPACES)
def xp_name(request):
    if request.param == "torch":
        pytest.importorskip("torch")
    return request.param


def _xp(name):
    if name == "torch":
        import torch

        return torch
    import array_api_strict

    return array_api_strict


def _to(name, a, dtype=None):
    """A numpy array as an array of the namespace ``name`` (on its CPU device)."""
    if a is None:
        return None
    return _xp(name).asarray(a if dtype is None else a.astype(dtype))


def _namespace_name(a) -> str:
    with sklearn.config_context(array_api_dispatch=True):
        xp, _ = sklearn.utils._array_api.get_namespace(a)
    return xp.__name__.split(".")[-1]


def _fit_both(est, X, y, xp_name, **fit_params):
    """``est`` fitted on numpy, and a clone fitted on ``xp_name`` arrays under dispatch."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = sklearn.clone(est).fit(X, y, **fit_params)
        xp_params = {k: _to(xp_name, v) for k, v in fit_params.items()}
        with sklearn.config_context(array_api_dispatch=True):
            got = sklearn.clone(est).fit(_to(xp_name, X), _to(xp_name, y), **xp_params)
    return ref, got


def _assert_curves_agree(ref, got, rtol=1e-10):
    assert len(ref.loss_curve_) == len(got.loss_curve_)
    np.testing.assert_allclose(got.loss_curve_, ref.loss_curve_, rtol=rtol, atol=0)


@pytest.mark.parametrize("solver", SOLVERS)
def test_classifier_loss_curve_and_predictions_agree_with_numpy(xp_name, solver):
    est = ScratchMLPClassifier(
        hidden_layer_sizes=(16, 8), solver=solver, max_iter=30, random_state=0
    )
    ref, got = _fit_both(est, X_C, Y_C, xp_name)
    _assert_curves_agree(ref, got)
    Xx = _to(xp_name, X_C)
    with sklearn.config_context(array_api_dispatch=True):
        proba, pred = got.predict_proba(Xx), got.predict(Xx)
        score = got.score(Xx, _to(xp_name, Y_C))
    assert _namespace_name(proba) == _namespace_name(Xx) == _namespace_name(pred)
    np.testing.assert_allclose(to_host(proba), ref.predict_proba(X_C), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(to_host(pred), ref.predict(X_C))
    assert isinstance(score, float) and score == pytest.approx(ref.score(X_C, Y_C))


@pytest.mark.parametrize("solver", SOLVERS)
def test_regressor_loss_curve_and_predictions_agree_with_numpy(xp_name, solver):
    est = ScratchMLPRegressor(hidden_layer_sizes=(16,), solver=solver, max_iter=30, random_state=0)
    ref, got = _fit_both(est, X_R, Y_R, xp_name)
    _assert_curves_agree(ref, got)
    with sklearn.config_context(array_api_dispatch=True):
        pred = got.predict(_to(xp_name, X_R))
    np.testing.assert_allclose(to_host(pred), ref.predict(X_R), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "params",
    [
        {"dropout": 0.2, "solver": "adam"},
        {"early_stopping": True, "solver": "sgd", "max_iter": 40},
        {"activation": "tanh", "batch_size": 32, "learning_rate": "adaptive", "solver": "sgd"},
        {"activation": "logistic", "alpha": 1.0, "max_grad_norm": 0.5},
        {"activation": "leaky_relu", "learning_rate": "cosine", "solver": "rmsprop"},
        {"activation": "softplus"},
        {"activation": "silu"},
        {"activation": "elu", "shuffle": False},
    ],
    ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()),
)
def test_training_options_agree_with_numpy(xp_name, params):
    params = {"max_iter": 20, "random_state": 0, **params}
    est = ScratchMLPClassifier(hidden_layer_sizes=(12,), **params)
    ref, got = _fit_both(est, X_C, Y_C, xp_name)
    _assert_curves_agree(ref, got)
    if params.get("early_stopping"):
        np.testing.assert_allclose(got.validation_scores_, ref.validation_scores_, rtol=1e-12)


def test_sample_weight_from_another_namespace(xp_name):
    """Everything follows X: numpy weights with a torch X move to X's device."""
    weights = np.random.RandomState(0).uniform(0, 2, len(X_C))
    est = ScratchMLPClassifier(hidden_layer_sizes=(12,), max_iter=15, random_state=0)
    ref = sklearn.clone(est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref.fit(X_C, Y_C, sample_weight=weights)
        with sklearn.config_context(array_api_dispatch=True):
            got = sklearn.clone(est).fit(_to(xp_name, X_C), Y_C, sample_weight=weights)
    _assert_curves_agree(ref, got)


def test_partial_fit_and_warm_start_agree_with_numpy(xp_name):
    ref = ScratchMLPClassifier(hidden_layer_sizes=(12,), random_state=0)
    got = sklearn.clone(ref)
    Xx, yx = _to(xp_name, X_C), _to(xp_name, Y_C)
    with sklearn.config_context(array_api_dispatch=True):
        for _ in range(3):
            ref.partial_fit(X_C, Y_C, classes=[0, 1, 2])
            got.partial_fit(Xx, yx, classes=[0, 1, 2])
    _assert_curves_agree(ref, got)
    est = ScratchMLPRegressor(hidden_layer_sizes=(8,), max_iter=5, warm_start=True, random_state=0)
    ref, got = _fit_both(est, X_R, Y_R, xp_name)
    with warnings.catch_warnings(), sklearn.config_context(array_api_dispatch=True):
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref.fit(X_R, Y_R)
        got.fit(_to(xp_name, X_R), _to(xp_name, Y_R))
    _assert_curves_agree(ref, got)


def test_multilabel_and_binary(xp_name):
    Y_multi = np.stack([Y_C == 0, Y_C == 1], axis=1).astype(int)
    for y in (Y_multi, (Y_C == 0).astype(int)):
        est = ScratchMLPClassifier(hidden_layer_sizes=(12,), max_iter=20, random_state=0)
        ref, got = _fit_both(est, X_C, y, xp_name)
        _assert_curves_agree(ref, got)
        with sklearn.config_context(array_api_dispatch=True):
            pred = got.predict(_to(xp_name, X_C))
            proba = got.predict_proba(_to(xp_name, X_C))
        np.testing.assert_array_equal(to_host(pred), ref.predict(X_C))
        assert proba.shape == ref.predict_proba(X_C).shape


def test_float32_stays_float32_and_log_proba_is_log_of_proba(xp_name):
    xp = _xp(xp_name)
    X32 = _to(xp_name, X_C, np.float32)
    est = ScratchMLPClassifier(hidden_layer_sizes=(12,), max_iter=10, random_state=0)
    with warnings.catch_warnings(), sklearn.config_context(array_api_dispatch=True):
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X32, _to(xp_name, Y_C))
        proba, log_proba = est.predict_proba(X32), est.predict_log_proba(X32)
        hidden = est.hidden_activations(X32)
    assert proba.dtype == log_proba.dtype == hidden.dtype == xp.float32
    assert est.coefs_[0].dtype == xp.float32
    np.testing.assert_array_equal(to_host(xp.log(proba)), to_host(log_proba))
    assert np.all(to_host(proba) > 0) and np.all(to_host(proba) < 1)


def test_fitted_attributes_live_in_the_namespace(xp_name):
    est = ScratchMLPRegressor(hidden_layer_sizes=(6,), max_iter=5, random_state=0)
    _, got = _fit_both(est, X_R, Y_R, xp_name)
    assert all(_namespace_name(W) == xp_name for W in got.coefs_ + got.intercepts_)
    assert all(isinstance(loss, float) for loss in got.loss_curve_)
    # coefs_ assignment accepts a numpy array and moves it.
    W = np.zeros(tuple(got.coefs_[0].shape))
    got.coefs_[0] = W
    assert float(_xp(xp_name).sum(got.coefs_[0])) == 0.0
    with pytest.raises(ValueError, match="shape"):
        got.coefs_[0] = np.zeros((2, 2))


@pytest.mark.parametrize("loss", ["log_loss", "binary_log_loss", "squared_error", "poisson"])
def test_array_api_engine_gradient_equals_numpy_engine(xp_name, loss):
    """The two engines compute the same J and gradient at the same parameters."""
    rng = np.random.RandomState(0)
    n = [5, 7, 6, 3]
    Y = rng.uniform(0, 1, (3, 11))
    if loss == "log_loss":
        Y = np.eye(3)[rng.randint(0, 3, 11)].T
    A0, s = rng.normal(size=(5, 11)), rng.uniform(0.5, 2, 11)
    for name, act in ACTIVATIONS.items():
        if act.xp_forward is None:
            continue
        numpy_net = Network(n, name, loss)
        numpy_net.theta[:] = rng.normal(scale=0.5, size=numpy_net.theta.shape)
        with sklearn.config_context(array_api_dispatch=True):
            ops = namespace_of(_to(xp_name, A0))
        xp_net = Network(n, name, loss, theta=ops.from_host(numpy_net.theta), ops=ops)
        J, grad = cost_and_gradient(numpy_net, A0, Y, s, alpha=0.3)
        J_xp, grad_xp = xp_net.engine.cost_and_gradient(
            xp_net, ops.from_host(A0), ops.from_host(Y), ops.from_host(s), alpha=0.3
        )
        assert J_xp == pytest.approx(J, rel=1e-13), name
        np.testing.assert_allclose(to_host(grad_xp.flat), grad.flat, rtol=1e-11, atol=1e-14)


# scikit-learn 1.9's StandardScaler divides 0 by 0 in its own first update on
# array-api-strict (numpy warns, torch does not): not ours.
@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")
def test_pipeline_with_scaler(xp_name):
    pipe = make_pipeline(
        StandardScaler(),
        ScratchMLPClassifier(hidden_layer_sizes=(12,), max_iter=10, random_state=0),
    )
    ref, got = _fit_both(pipe, X_C * 100, Y_C, xp_name)
    _assert_curves_agree(ref[-1], got[-1])


# --------------------------------------------------------------------------
# Moving a fitted model: numpy for pickling and ONNX, back to the namespace.
# --------------------------------------------------------------------------
def test_to_numpy_pickle_and_back(xp_name):
    est = ScratchMLPClassifier(hidden_layer_sizes=(12,), max_iter=10, random_state=0)
    ref, got = _fit_both(est, X_C, Y_C, xp_name)
    host = scratchmlp.to_numpy(got)
    assert all(isinstance(W, np.ndarray) for W in host.coefs_)
    assert _namespace_name(got.coefs_[0]) == xp_name  # the original is unchanged
    loaded = pickle.loads(pickle.dumps(host))
    np.testing.assert_allclose(loaded.predict_proba(X_C), ref.predict_proba(X_C), rtol=1e-9)
    loaded.partial_fit(X_C, Y_C)  # the optimizer moved too
    with sklearn.config_context(array_api_dispatch=True):
        back = scratchmlp.to_namespace(host, _to(xp_name, X_C))
        np.testing.assert_array_equal(to_host(back.predict(_to(xp_name, X_C))), ref.predict(X_C))
        moved = sklearn.utils._array_api.move_estimator_to(got, np, "cpu")
    np.testing.assert_array_equal(moved.predict(X_C), ref.predict(X_C))


def test_pickle_keeps_the_namespace(xp_name):
    est = ScratchMLPRegressor(hidden_layer_sizes=(6,), max_iter=5, random_state=0)
    _, got = _fit_both(est, X_R, Y_R, xp_name)
    loaded = pickle.loads(pickle.dumps(got))
    Xx = _to(xp_name, X_R)
    with sklearn.config_context(array_api_dispatch=True):
        np.testing.assert_array_equal(to_host(loaded.predict(Xx)), to_host(got.predict(Xx)))
        loaded.partial_fit(Xx, _to(xp_name, Y_R))


def test_onnx_export_of_a_model_fitted_on_another_namespace(xp_name):
    pytest.importorskip("onnxruntime")
    from skl2onnx import to_onnx

    est = ScratchMLPClassifier(hidden_layer_sizes=(12,), max_iter=10, random_state=0)
    ref, got = _fit_both(est, X_C, Y_C, xp_name)
    onx = to_onnx(got, X_C[:1], options={ScratchMLPClassifier: {"zipmap": False}})
    import onnxruntime as ort

    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    labels, proba = session.run(None, {session.get_inputs()[0].name: X_C})
    np.testing.assert_array_equal(labels, ref.predict(X_C))
    np.testing.assert_allclose(proba, ref.predict_proba(X_C), rtol=1e-6, atol=1e-9)


def test_check_gradients_on_a_model_fitted_on_another_namespace(xp_name):
    est = ScratchMLPClassifier(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=5, random_state=0)
    _, got = _fit_both(est, X_C, Y_C, xp_name)
    assert scratchmlp.check_gradients(got, _to(xp_name, X_C[:20]), _to(xp_name, Y_C[:20])) < 1e-7


# --------------------------------------------------------------------------
# Clear errors.
# --------------------------------------------------------------------------
def test_predicting_on_another_namespace_raises(xp_name):
    est = ScratchMLPClassifier(hidden_layer_sizes=(6,), max_iter=5, random_state=0)
    ref, got = _fit_both(est, X_C, Y_C, xp_name)
    with sklearn.config_context(array_api_dispatch=True):
        with pytest.raises(ValueError, match="must use the same namespace"):
            got.predict(X_C)
        with pytest.raises(ValueError, match="must use the same namespace"):
            ref.predict(_to(xp_name, X_C))
    with pytest.raises(ValueError, match="another namespace"):
        got.predict_proba(X_C)  # dispatch off: numpy input to a model on another namespace
    with pytest.raises(ValueError, match="same namespace and device"):
        with sklearn.config_context(array_api_dispatch=True):
            got.partial_fit(X_C, Y_C)


def test_gelu_is_numpy_only(xp_name):
    est = ScratchMLPClassifier(hidden_layer_sizes=(6,), activation="gelu", max_iter=5)
    with sklearn.config_context(array_api_dispatch=True):
        with pytest.raises(ValueError, match="'gelu' is only available for numpy"):
            est.fit(_to(xp_name, X_C), _to(xp_name, Y_C))
    assert not hasattr(est, "coefs_")


def test_unsupported_float64_device_raises(xp_name, monkeypatch):
    import scratchmlp._namespace as namespace

    monkeypatch.setattr(namespace, "supported_float_dtypes", lambda xp, device: (xp.float32,))
    est = ScratchMLPClassifier(hidden_layer_sizes=(6,), max_iter=5)
    with sklearn.config_context(array_api_dispatch=True):
        with pytest.raises(ValueError, match="has no .*float64"):
            est.fit(_to(xp_name, X_C), _to(xp_name, Y_C))


def test_sparse_torch_tensor_raises():
    torch = pytest.importorskip("torch")
    X = torch.asarray(X_C).to_sparse()
    with sklearn.config_context(array_api_dispatch=True):
        with pytest.raises(TypeError, match="Sparse .* not supported"):
            ScratchMLPClassifier(max_iter=5).fit(X, torch.asarray(Y_C))


def test_scipy_sparse_input_under_dispatch_uses_numpy():
    est = ScratchMLPClassifier(hidden_layer_sizes=(6,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = sklearn.clone(est).fit(sp.csr_matrix(X_C), Y_C)
        with sklearn.config_context(array_api_dispatch=True):
            got = sklearn.clone(est).fit(sp.csr_matrix(X_C), Y_C)
    assert isinstance(got.coefs_[0], np.ndarray)
    np.testing.assert_array_equal(got.coefs_[0], ref.coefs_[0])


@pytest.mark.parametrize("solver", SOLVERS)
def test_numpy_input_under_dispatch_is_bitwise_the_numpy_path(solver):
    est = ScratchMLPClassifier(hidden_layer_sizes=(8,), solver=solver, max_iter=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = sklearn.clone(est).fit(X_C, Y_C)
        with sklearn.config_context(array_api_dispatch=True):
            got = sklearn.clone(est).fit(X_C, Y_C)
            proba = got.predict_proba(X_C)
    assert got.loss_curve_ == ref.loss_curve_
    np.testing.assert_array_equal(proba, ref.predict_proba(X_C))


# --------------------------------------------------------------------------
# What a first reading of the docs found (each failed before its fix).
# --------------------------------------------------------------------------
def test_string_labels_predict_a_numpy_array_of_labels(xp_name):
    labels = np.array(list("abc"))[Y_C]
    est = ScratchMLPClassifier(hidden_layer_sizes=(8,), max_iter=10, random_state=0)
    ref = sklearn.clone(est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref.fit(X_C, labels)
        with sklearn.config_context(array_api_dispatch=True):
            got = sklearn.clone(est).fit(_to(xp_name, X_C), labels)
            pred = got.predict(_to(xp_name, X_C))
    np.testing.assert_array_equal(pred, ref.predict(X_C))


def test_early_stopping_callback_restores_best_weights(xp_name):
    from scratchmlp.callbacks import EarlyStopping

    est = ScratchMLPClassifier(
        hidden_layer_sizes=(8,),
        max_iter=30,
        random_state=0,
        callbacks=[EarlyStopping(monitor="loss", patience=2, min_delta=10.0)],
    )
    ref, got = _fit_both(est, X_C, Y_C, xp_name)
    _assert_curves_agree(ref, got)
    np.testing.assert_allclose(to_host(got.coefs_[0]), ref.coefs_[0], rtol=1e-10)


def test_divergence_falls_back_in_the_namespace(xp_name):
    """A learning rate far too large: the divergence rule's fall-back works on any namespace."""
    from scratchmlp import DivergenceWarning

    est = ScratchMLPClassifier(
        hidden_layer_sizes=(16,), solver="sgd", learning_rate_init=1e4, max_iter=20, random_state=0
    )
    X = X_C * 100
    with pytest.warns(DivergenceWarning):
        ref = sklearn.clone(est).fit(X, Y_C)
    with pytest.warns(DivergenceWarning), sklearn.config_context(array_api_dispatch=True):
        got = sklearn.clone(est).fit(_to(xp_name, X), _to(xp_name, Y_C))
    np.testing.assert_allclose(to_host(got.coefs_[0]), ref.coefs_[0], rtol=1e-10)
