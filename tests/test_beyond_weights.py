"""Beyond scikit-learn (1-4): class_weight, per-layer and new activations, dropout,
initialisation schemes. Each feature does what it says, not only runs (see
docs/beyond.md).
"""

import numpy as np
import pytest
from beyond_helpers import (
    _assert_same_model,
    _differ,
    _initial,
    _manual_hidden,
    _params,
    quiet,
)
from sklearn.base import clone
from sklearn.metrics import log_loss, recall_score
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils.class_weight import compute_sample_weight
from testdata import SMALL

from scratchmlp import ScratchMLPClassifier, ScratchMLPRegressor
from scratchmlp._network import dropout_masks

X, Y_BIN, Y_3, Y_ML = SMALL.X, SMALL.y_binary, SMALL.y_3, SMALL.y_multilabel
Y_REG = SMALL.y_reg
Y_COUNTS, X_VAL, Y_VAL_3, Y_VAL_REG = SMALL.y_counts, SMALL.X_val, SMALL.y_val_3, SMALL.y_val_reg


# ===========================================================================
# 1. class_weight
# ===========================================================================
@quiet
def test_class_weight_dict_equals_sample_weight():
    weighted = ScratchMLPClassifier(**_params(solver="lbfgs", class_weight={0: 2, 1: 1}))
    weighted.fit(X, Y_BIN)
    by_sample = ScratchMLPClassifier(**_params(solver="lbfgs"))
    by_sample.fit(X, Y_BIN, sample_weight=np.where(Y_BIN == 0, 2.0, 1.0))
    _assert_same_model(weighted, by_sample, rtol=1e-10, atol=1e-12)
    # ...and the weights did something.
    assert _differ(weighted, ScratchMLPClassifier(**_params(solver="lbfgs")).fit(X, Y_BIN))


@quiet
def test_class_weight_balanced_equals_its_sample_weight_and_raises_minority_recall():
    # 1-D, overlapping classes, 10 % positives: unweighted, the network
    # favours the majority; 'balanced' moves the boundary towards it.
    rng = np.random.RandomState(0)
    y = (rng.rand(200) < 0.1).astype(int)
    X1 = (rng.randn(200) + 1.5 * y)[:, None]
    params = _params(hidden_layer_sizes=(3,), solver="lbfgs", max_iter=200)
    plain = ScratchMLPClassifier(**params).fit(X1, y)
    balanced = ScratchMLPClassifier(**params, class_weight="balanced").fit(X1, y)
    by_sample = ScratchMLPClassifier(**params).fit(
        X1, y, sample_weight=compute_sample_weight("balanced", y)
    )
    _assert_same_model(balanced, by_sample, rtol=1e-10, atol=1e-12)
    recall_plain = recall_score(y, plain.predict(X1))
    recall_balanced = recall_score(y, balanced.predict(X1))
    assert recall_balanced > recall_plain + 0.2
    assert recall_balanced > 0.8


@quiet
@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_class_weight_times_sample_weight(solver):
    cw = {0: 3.0, 1: 0.5, 2: 1.0}
    s = np.random.RandomState(1).uniform(0.5, 2.0, len(Y_3))
    both = ScratchMLPClassifier(**_params(solver=solver, class_weight=cw)).fit(X, Y_3, s)
    product = ScratchMLPClassifier(**_params(solver=solver)).fit(
        X, Y_3, sample_weight=s * np.vectorize(cw.get)(Y_3)
    )
    _assert_same_model(both, product, rtol=1e-10, atol=1e-12)
    assert _differ(both, ScratchMLPClassifier(**_params(solver=solver)).fit(X, Y_3, s))


def test_class_weight_partial_fit():
    est = ScratchMLPClassifier(class_weight="balanced")
    with pytest.raises(ValueError, match="balanced"):
        est.partial_fit(X, Y_BIN, classes=[0, 1])
    assert not hasattr(est, "classes_")  # the failed first call left nothing behind
    # A dict is fine, and is again a sample weight.
    a = ScratchMLPClassifier(**_params(class_weight={0: 2, 1: 1}))
    b = ScratchMLPClassifier(**_params())
    for _ in range(2):
        a.partial_fit(X, Y_BIN, classes=[0, 1])
        b.partial_fit(X, Y_BIN, sample_weight=np.where(Y_BIN == 0, 2.0, 1.0), classes=[0, 1])
    _assert_same_model(a, b, rtol=1e-10, atol=1e-12)


# ===========================================================================
# 2. Per-layer activations, and the new ones
# ===========================================================================
def test_activation_list_of_wrong_length_raises():
    est = ScratchMLPClassifier(hidden_layer_sizes=(4, 3), activation=["relu"], max_iter=5)
    with pytest.raises(ValueError, match="activation"):
        est.fit(X, Y_BIN)
    est = ScratchMLPClassifier(hidden_layer_sizes=(4,), activation=["relu", "tanh"], max_iter=5)
    with pytest.raises(ValueError, match="activation"):
        est.fit(X, Y_BIN)
    est = ScratchMLPClassifier(hidden_layer_sizes=(4, 3), activation=["relu", "swish"])
    with pytest.raises(ValueError, match="swish"):
        est.fit(X, Y_BIN)


@quiet
def test_activation_list_builds_that_network():
    params = _params(hidden_layer_sizes=(4, 3), solver="lbfgs")
    mixed = ScratchMLPClassifier(**params, activation=["tanh", "gelu"]).fit(X, Y_BIN)
    assert mixed._net.activation_names == [None, "tanh", "gelu", "logistic"]
    single = ScratchMLPClassifier(**params, activation="tanh").fit(X, Y_BIN)
    assert single._net.activation_names == [None, "tanh", "tanh", "logistic"]
    assert _differ(mixed, single)
    # A list repeating one name is that name (same initial weights too).
    repeated = ScratchMLPClassifier(**params, activation=("tanh", "tanh")).fit(X, Y_BIN)
    _assert_same_model(repeated, single)
    # The fitted network computes the listed functions.
    hidden = _manual_hidden(mixed, X)
    np.testing.assert_allclose(mixed.hidden_activations(X, layer=None)[2], hidden[2], rtol=1e-10)


@quiet
def test_warm_start_with_changed_activation_list_raises():
    est = ScratchMLPClassifier(
        **_params(hidden_layer_sizes=(4, 3), activation=["relu", "tanh"], warm_start=True)
    ).fit(X, Y_BIN)
    before = [c.copy() for c in est.coefs_]
    est.set_params(activation=["tanh", "relu"])
    with pytest.raises(ValueError, match="activation"):
        est.fit(X, Y_BIN)
    for c, b in zip(est.coefs_, before):  # the failed call changed nothing
        np.testing.assert_array_equal(c, b)
    est.set_params(activation=["relu", "tanh"])
    est.fit(X, Y_BIN)  # the same list again: fine


@quiet
def test_activation_list_clone_and_grid_search():
    est = ScratchMLPClassifier(**_params(hidden_layer_sizes=(4, 3), solver="lbfgs", max_iter=15))
    grid = {"activation": [["tanh", "relu"], ["silu", "elu"], "softplus"]}
    search = GridSearchCV(est, grid, cv=2).fit(X, Y_BIN)
    assert [p["activation"] for p in search.cv_results_["params"]] == grid["activation"]
    for params in grid["activation"]:  # each candidate builds its own network
        refit = clone(est).set_params(activation=params).fit(X, Y_BIN)
        expected = [params] * 2 if isinstance(params, str) else params
        assert refit._net.activation_names[1:3] == expected
    assert search.best_estimator_.activation in grid["activation"]
    cloned = clone(est.set_params(activation=["silu", "elu"]))
    assert cloned.activation == ["silu", "elu"]
    assert cloned.activation is not est.activation


# ===========================================================================
# 3. Dropout
# ===========================================================================
@quiet
def test_dropout_zero_is_the_default():
    default = ScratchMLPClassifier(**_params(hidden_layer_sizes=(6, 4))).fit(X, Y_3)
    for dropout in (0.0, 0, [0.0, 0.0]):
        est = ScratchMLPClassifier(**_params(hidden_layer_sizes=(6, 4), dropout=dropout))
        _assert_same_model(est.fit(X, Y_3), default)
        assert est.loss_curve_ == default.loss_curve_


@quiet
def test_dropout_is_reproducible_and_random():
    params = _params(hidden_layer_sizes=(8, 8), dropout=[0.5, 0.2])
    a = ScratchMLPClassifier(**params).fit(X, Y_3)
    b = ScratchMLPClassifier(**params).fit(X, Y_3)
    _assert_same_model(a, b)
    assert a.loss_curve_ == b.loss_curve_
    # Dropout changes training, and the masks follow random_state.
    no_dropout = ScratchMLPClassifier(**_params(hidden_layer_sizes=(8, 8))).fit(X, Y_3)
    assert _differ(a, no_dropout)
    other_seed = ScratchMLPClassifier(**{**params, "random_state": 1}).fit(X, Y_3)
    assert _differ(a, other_seed)
    # A RandomState instance works too, and is advanced like any other use.
    c = ScratchMLPClassifier(**{**params, "random_state": np.random.RandomState(0)})
    _assert_same_model(c.fit(X, Y_3), a)


@quiet
def test_dropout_only_in_training():
    est = ScratchMLPClassifier(**_params(hidden_layer_sizes=(8, 8), dropout=0.5)).fit(X, Y_3)
    proba = est.predict_proba(X)
    np.testing.assert_array_equal(est.predict_proba(X), proba)
    np.testing.assert_array_equal(est.hidden_activations(X, layer=2), est.hidden_activations(X))
    # Inverted dropout: prediction is the plain forward pass, no rescaling.
    A2 = _manual_hidden(est, X)[2]
    logits = A2 @ est.coefs_[2] + est.intercepts_[2]
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(proba, expected, rtol=1e-10, atol=1e-300)
    # The validation loss of each epoch is that of the full network too.
    with_val = ScratchMLPClassifier(**_params(hidden_layer_sizes=(8, 8), dropout=0.5))
    with_val.fit(X, Y_3, X_val=X_VAL, y_val=Y_VAL_3)
    _assert_same_model(with_val, est)
    val_loss = log_loss(Y_VAL_3, with_val.predict_proba(X_VAL), labels=[0, 1, 2])
    assert with_val.validation_loss_curve_[-1] == pytest.approx(val_loss, rel=1e-10)


def test_dropout_masks_are_inverted():
    rng = np.random.RandomState(0)
    D = dropout_masks(rng, [3, 400, 300, 2], 500, [0.0, 0.25, 0.0, 0.0], np.float64)
    assert D[0] is None and D[2] is None and D[3] is None
    assert D[1].shape == (400, 500)
    assert set(np.unique(D[1])) == {0.0, 1 / 0.75}
    assert np.mean(D[1] == 0) == pytest.approx(0.25, abs=0.01)
    assert D[1].mean() == pytest.approx(1.0, abs=0.02)  # E[A * D] = A


@quiet
def test_dropout_regularises_a_big_network_on_a_small_noisy_set():
    rng = np.random.RandomState(0)
    X_train, X_test = rng.randn(40, 5), rng.randn(200, 5)
    y_train = X_train[:, 0] + 0.5 * rng.randn(40)
    y_test = X_test[:, 0] + 0.5 * rng.randn(200)
    params = dict(hidden_layer_sizes=(64, 64), learning_rate_init=0.01, max_iter=60, random_state=0)
    plain = ScratchMLPRegressor(**params).fit(X_train, y_train)
    dropped = ScratchMLPRegressor(**params, dropout=0.5).fit(X_train, y_train)
    # Dropout is noise in training: at the same epoch the training cost is higher...
    assert dropped.loss_curve_[-1] > 5 * plain.loss_curve_[-1]
    # ...and the model overfits less.
    gap_plain = plain.score(X_train, y_train) - plain.score(X_test, y_test)
    gap_dropped = dropped.score(X_train, y_train) - dropped.score(X_test, y_test)
    assert gap_dropped < gap_plain
    assert dropped.score(X_test, y_test) > plain.score(X_test, y_test)


@pytest.mark.parametrize(
    "dropout", [1.0, -0.1, 1.5, [0.5], [0.1, 0.2, 0.3], [0.5, 1.0], [-0.1, 0.0]]
)
def test_invalid_dropout_raises(dropout):
    est = ScratchMLPClassifier(hidden_layer_sizes=(4, 3), dropout=dropout, max_iter=2)
    with pytest.raises(ValueError, match="dropout"):
        est.fit(X, Y_BIN)


# ===========================================================================
# 4. Initialisation schemes
# ===========================================================================
X_WIDE = np.random.RandomState(0).randn(10, 500)
Y_WIDE = np.arange(10) % 2


@pytest.mark.parametrize(
    "init, variance, kurtosis",
    [
        # Weights of layer 1 (fan_in 500, fan_out 300): Glorot 1 / fan_avg, He 2 / fan_in;
        # uniform draws have kurtosis 1.8, normal ones 3.
        ("glorot_uniform", 1 / 400, 1.8),
        ("glorot_normal", 1 / 400, 3.0),
        ("he_uniform", 2 / 500, 1.8),
        ("he_normal", 2 / 500, 3.0),
    ],
)
def test_init_scheme_variance(init, variance, kurtosis):
    est = _initial(ScratchMLPClassifier, X_WIDE, Y_WIDE, hidden_layer_sizes=(300,), init=init)
    W = est.coefs_[0]
    assert W.shape == (500, 300)
    assert W.mean() == pytest.approx(0, abs=0.01 * np.sqrt(variance))
    assert W.var() == pytest.approx(variance, rel=0.1)
    assert np.mean(W**4) / W.var() ** 2 == pytest.approx(kurtosis, rel=0.05)
    if kurtosis == 1.8:
        assert np.abs(W).max() <= np.sqrt(3 * variance)
    for b in est.intercepts_:
        assert np.abs(b).max() < 1e-250  # zero biases (plus a 1e-300 step)
    # The output layer follows the same scheme (fan_in 300, fan_out 1).
    fan = 150.5 if init.startswith("glorot") else 300
    gain = 1.0 if init.startswith("glorot") else 2.0
    assert est.coefs_[1].var() == pytest.approx(gain / fan, rel=0.35)


def test_init_auto_is_sklearns():
    for Ours, Theirs, y in [
        (ScratchMLPClassifier, MLPClassifier, Y_3),
        (ScratchMLPRegressor, MLPRegressor, Y_REG),
    ]:
        for activation in ("relu", "logistic"):
            kw = dict(hidden_layer_sizes=(5, 3), activation=activation)
            ours = _initial(Ours, X, y, init="auto", **kw)
            theirs = _initial(Theirs, X, y, **kw)
            _assert_same_model(ours, theirs)
            assert any(b.any() for b in ours.intercepts_)  # sklearn draws biases too
            assert _differ(ours, _initial(Ours, X, y, init="glorot_uniform", **kw))


def test_invalid_init_raises():
    with pytest.raises(ValueError, match="init"):
        ScratchMLPClassifier(init="xavier").fit(X, Y_BIN)
