"""Beyond scikit-learn (9, 10): hidden_activations and check_gradients."""

import numpy as np
import pytest
from beyond_helpers import (
    _manual_hidden,
    _params,
    quiet,
)
from testdata import SMALL

import scratchmlp
from scratchmlp import ScratchMLPClassifier, ScratchMLPRegressor, check_gradients
from scratchmlp._activations import ACTIVATIONS, Activation

X, Y_BIN, Y_3, Y_ML = SMALL.X, SMALL.y_binary, SMALL.y_3, SMALL.y_multilabel
Y_REG = SMALL.y_reg
Y_COUNTS, X_VAL, Y_VAL_3, Y_VAL_REG = SMALL.y_counts, SMALL.X_val, SMALL.y_val_3, SMALL.y_val_reg


# ===========================================================================
# 9. hidden_activations
# ===========================================================================
@quiet
@pytest.mark.parametrize(
    "activations",
    [
        ["relu", "tanh"],
        ["logistic", "identity"],
        ["leaky_relu", "elu"],
        ["gelu", "softplus"],
        ["silu", "silu"],
    ],
)
def test_hidden_activations_equal_a_manual_forward_pass(activations):
    est = ScratchMLPClassifier(
        **_params(hidden_layer_sizes=(6, 4), activation=activations, solver="lbfgs", max_iter=20)
    ).fit(X, Y_3)
    manual = _manual_hidden(est, X)
    every = est.hidden_activations(X, layer=None)
    assert len(every) == est.n_layers_ - 1 == 3 and every[0] is None
    assert every[1].shape == (60, 6) and every[2].shape == (60, 4)
    for l in (1, 2):
        np.testing.assert_allclose(every[l], manual[l], rtol=1e-10, atol=1e-14)
        np.testing.assert_array_equal(est.hidden_activations(X, layer=l), every[l])
    np.testing.assert_array_equal(est.hidden_activations(X), every[2])  # default -1
    np.testing.assert_array_equal(est.hidden_activations(X, layer=-2), every[1])
    # ...and the output layer on top gives predict_proba.
    logits = manual[2] @ est.coefs_[2] + est.intercepts_[2]
    proba = np.exp(logits - logits.max(axis=1, keepdims=True))
    # (atol: predict_proba reports probabilities below 2.2e-308 as that number)
    np.testing.assert_allclose(
        est.predict_proba(X), proba / proba.sum(axis=1, keepdims=True), rtol=1e-10, atol=1e-300
    )


@quiet
def test_hidden_activations_input_handling():
    sp = pytest.importorskip("scipy.sparse")
    est = ScratchMLPRegressor(**_params(hidden_layer_sizes=(6, 4), solver="lbfgs")).fit(X, Y_REG)
    np.testing.assert_allclose(
        est.hidden_activations(sp.csr_matrix(X), layer=1),
        est.hidden_activations(X, layer=1),
        rtol=1e-12,
    )
    A = est.hidden_activations(X.astype(np.float32), layer=1)
    assert A.dtype == np.float64 and A.shape == (60, 6)


@quiet
@pytest.mark.parametrize("layer", [0, 3, -3, 1.0, "1", [1]])
def test_hidden_activations_invalid_layer_raises(layer):
    est = ScratchMLPClassifier(**_params(hidden_layer_sizes=(6, 4), solver="lbfgs")).fit(X, Y_3)
    with pytest.raises(ValueError, match="layer"):
        est.hidden_activations(X, layer=layer)


def test_hidden_activations_needs_a_fitted_model():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        ScratchMLPClassifier().hidden_activations(X)


# ===========================================================================
# 10. check_gradients
# ===========================================================================
GRADIENT_CASES = {
    "binary": (ScratchMLPClassifier, {}, Y_BIN),
    "multiclass": (ScratchMLPClassifier, {}, Y_3),
    "multilabel": (ScratchMLPClassifier, {}, Y_ML),
    "squared_error": (ScratchMLPRegressor, {}, Y_REG),
    "two_outputs": (ScratchMLPRegressor, {}, np.column_stack([Y_REG, X[:, 3] ** 2])),
    "poisson": (ScratchMLPRegressor, {"loss": "poisson"}, Y_COUNTS),
}


@quiet
@pytest.mark.parametrize("case", list(GRADIENT_CASES))
def test_check_gradients_on_fitted_models(case):
    Estimator, kw, y = GRADIENT_CASES[case]
    est = Estimator(
        **kw,
        **_params(
            hidden_layer_sizes=(4, 3),
            activation=["gelu", "elu"],
            solver="lbfgs",
            max_iter=15,
            alpha=0.1,
        ),
    ).fit(X, y)
    assert check_gradients(est, X[:20], y[:20]) < 1e-6
    s = np.linspace(0.2, 3.0, 20)
    assert check_gradients(est, X[:20], y[:20], sample_weight=s) < 1e-6


@quiet
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_check_gradients_for_every_activation(activation):
    est = ScratchMLPClassifier(
        **_params(hidden_layer_sizes=(4,), activation=activation, max_iter=5)
    ).fit(X, Y_3)
    assert check_gradients(est, X[:15], Y_3[:15]) < 1e-6


@quiet
def test_check_gradients_on_float32_model():
    est = ScratchMLPClassifier(**_params(solver="lbfgs", max_iter=10)).fit(
        X.astype(np.float32), Y_3
    )
    assert est.coefs_[0].dtype == np.float32
    assert check_gradients(est, X[:20], Y_3[:20]) < 1e-6
    assert est.coefs_[0].dtype == np.float32  # not modified


@quiet
def test_check_gradients_catches_a_broken_backward(monkeypatch):
    est = ScratchMLPClassifier(
        **_params(hidden_layer_sizes=(4, 3), activation="tanh", solver="lbfgs", max_iter=15)
    ).fit(X, Y_3)
    assert check_gradients(est, X[:20], Y_3[:20]) < 1e-6
    before = [c.copy() for c in est.coefs_]

    tanh = ACTIVATIONS["tanh"]

    def wrong_backward(Z, A, dA):  # 1 - tanh instead of 1 - tanh^2
        dA *= 1 - A
        return dA

    monkeypatch.setitem(ACTIVATIONS, "tanh", Activation("tanh", tanh.forward, wrong_backward))
    assert check_gradients(est, X[:20], Y_3[:20]) > 1e-2
    monkeypatch.undo()
    assert check_gradients(est, X[:20], Y_3[:20]) < 1e-6
    for c, b in zip(est.coefs_, before):
        np.testing.assert_array_equal(c, b)


def test_check_gradients_is_exported():
    assert scratchmlp.check_gradients is check_gradients
    assert "check_gradients" in scratchmlp.__all__
