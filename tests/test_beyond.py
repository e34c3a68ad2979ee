"""The features beyond scikit-learn: each one does what it says, not only runs.

One section per feature (see docs/beyond.md): class_weight, per-layer and new
activations, dropout, init, the solvers / schedules / clipping, validation
data and scoring, history_, callbacks, hidden_activations, check_gradients.

Tiny data, small networks, few epochs: the whole file runs in a few seconds.
"""

import builtins
import io
import sys
import warnings

import numpy as np
import pytest
from scipy.special import erf, expit
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import f1_score, log_loss, make_scorer, mean_absolute_error, recall_score
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils.class_weight import compute_sample_weight

import scratchmlp
from scratchmlp import ScratchMLPClassifier, ScratchMLPRegressor, check_gradients
from scratchmlp._activations import ACTIVATIONS, Activation
from scratchmlp._network import dropout_masks
from scratchmlp.callbacks import EarlyStopping, ProgressBar
from scratchmlp.engine import cost_and_gradient

quiet = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

RNG = np.random.RandomState(0)
X = RNG.randn(60, 4)
Y_BIN = (X[:, 0] + X[:, 1] > 0).astype(int)
Y_3 = np.digitize(X[:, 0] - X[:, 2], [-0.6, 0.6])  # 3 classes
Y_ML = np.column_stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 2] + X[:, 3] > 0]).astype(int)
Y_REG = X[:, 0] - 2 * X[:, 1] + 0.5 * X[:, 2] * X[:, 3] + 0.1 * RNG.randn(60)
Y_COUNTS = RNG.poisson(np.exp(0.5 * X[:, 0])).astype(float)

# A held-out set from the same distributions.
X_VAL = RNG.randn(40, 4)
Y_VAL_3 = np.digitize(X_VAL[:, 0] - X_VAL[:, 2], [-0.6, 0.6])
Y_VAL_REG = X_VAL[:, 0] - 2 * X_VAL[:, 1] + 0.5 * X_VAL[:, 2] * X_VAL[:, 3]


def _digits(n=200):
    X, y = load_digits(return_X_y=True)
    return X[:n] / 16.0, y[:n]


def _params(**kw):
    base = dict(hidden_layer_sizes=(5,), random_state=0, max_iter=30)
    base.update(kw)
    return base


def _assert_same_model(a, b, **tol):
    assert len(a.coefs_) == len(b.coefs_)
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        if tol:
            np.testing.assert_allclose(p, q, **tol)
        else:
            np.testing.assert_array_equal(p, q)


def _differ(a, b) -> bool:
    return any(not np.array_equal(p, q) for p, q in zip(a.coefs_, b.coefs_))


def _initial(Estimator, X, y, **kw):
    """The initial weights: one sgd epoch with a step of 1e-300 changes nothing."""
    params = _params(solver="sgd", momentum=0.0, learning_rate_init=1e-300, max_iter=1)
    params.update(kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return Estimator(**params).fit(X, y)


# Independent numpy definitions of the hidden activations (not scratchmlp's).
NUMPY_ACTIVATIONS = {
    "identity": lambda z: z,
    "logistic": expit,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
    "gelu": lambda z: 0.5 * z * (1 + erf(z / np.sqrt(2))),
    "softplus": lambda z: np.logaddexp(0, z),
    "silu": lambda z: z * expit(z),
}


def _manual_hidden(est, X):
    """A[l].T for every hidden layer l, from coefs_ / intercepts_ and the activations."""
    names = est._net.activation_names
    A, out = X, [None]
    for l in range(1, est.n_layers_ - 1):
        A = NUMPY_ACTIVATIONS[names[l]](A @ est.coefs_[l - 1] + est.intercepts_[l - 1])
        out.append(A)
    return out


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
    params = dict(hidden_layer_sizes=(64, 64), learning_rate_init=0.01, max_iter=60,
                  random_state=0)
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
    for Ours, Theirs, y in [(ScratchMLPClassifier, MLPClassifier, Y_3),
                            (ScratchMLPRegressor, MLPRegressor, Y_REG)]:
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
    params = dict(hidden_layer_sizes=(5,), activation="tanh", solver=solver, batch_size=len(X),
                  shuffle=False, max_iter=1, random_state=0, learning_rate_init=0.01)
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
    params = dict(hidden_layer_sizes=(32,), learning_rate_init=0.01, batch_size=50, max_iter=20,
                  random_state=0)
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
        **_params(solver=solver, learning_rate="cosine", learning_rate_init=lr0, max_iter=K,
                  n_iter_no_change=np.inf)
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
    est = _one_full_batch_step("sgd", momentum=0.0, learning_rate="cosine",
                               learning_rate_init=lr0, max_iter=K, callbacks=[Record()],
                               n_iter_no_change=np.inf)
    for k in range(1, K):
        step = thetas[k] - thetas[k - 1]
        lr = est.history_[k]["learning_rate"]
        assert lr == pytest.approx(lr0 * (1 + np.cos(np.pi * k / K)) / 2)
        np.testing.assert_allclose(step, -lr * _gradient(est, thetas[k - 1], X, Y_REG),
                                   rtol=1e-8, atol=1e-14)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_max_grad_norm_clips_the_first_epoch(solver):
    start = _one_full_batch_step("sgd", learning_rate_init=1e-300, momentum=0.0)
    theta0 = start._net.theta.copy()
    g_norm = np.linalg.norm(_gradient(start, theta0, X, Y_REG))
    lr, clip = 0.01, 1e-3 * g_norm
    free = _one_full_batch_step(solver, momentum=0.0, learning_rate_init=lr)
    clipped = _one_full_batch_step(solver, momentum=0.0, learning_rate_init=lr,
                                   max_grad_norm=clip)
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
    loose = _one_full_batch_step(solver, momentum=0.0, learning_rate_init=lr,
                                 max_grad_norm=2 * g_norm)
    np.testing.assert_array_equal(loose._net.theta, free._net.theta)


@quiet
def test_max_grad_norm_bounds_every_sgd_step():
    thetas = []

    class Record:
        def on_epoch_end(self, est, record):
            thetas.append(est._net.theta.copy())

    lr, clip = 0.1, 0.05
    _one_full_batch_step("sgd", momentum=0.0, learning_rate_init=lr, max_iter=10,
                         max_grad_norm=clip, callbacks=[Record()])
    steps = [np.linalg.norm(b - a) for a, b in zip(thetas, thetas[1:])]
    assert max(steps) <= lr * clip * (1 + 1e-12)


# ===========================================================================
# 6. Validation data and scoring
# ===========================================================================
@quiet
def test_given_validation_set_replaces_the_split_and_restores_the_best_epoch():
    est = ScratchMLPClassifier(
        **_params(early_stopping=True, scoring="loss", n_iter_no_change=3, max_iter=300,
                  learning_rate_init=0.05, hidden_layer_sizes=(20,))
    ).fit(X, Y_3, X_val=X_VAL, y_val=Y_VAL_3)
    assert est.t_ == len(X) * est.n_iter_  # every training sample, every epoch
    assert est.n_iter_ < 300  # it stopped early
    scores = est.validation_scores_
    assert len(scores) == len(est.validation_loss_curve_) == est.n_iter_
    best = int(np.argmax(scores))
    assert best < est.n_iter_ - 1 and scores[-1] < scores[best]
    assert est.best_validation_score_ == scores[best]
    # The final model is the best epoch's: its validation loss is the best one.
    val_loss = log_loss(Y_VAL_3, est.predict_proba(X_VAL), labels=[0, 1, 2])
    assert -val_loss == pytest.approx(est.best_validation_score_, rel=1e-10)
    # Without X_val, early stopping holds out validation_fraction of X instead.
    split = ScratchMLPClassifier(**_params(early_stopping=True, max_iter=5)).fit(X, Y_3)
    assert split.t_ == 54 * split.n_iter_


@quiet
def test_validation_set_without_early_stopping_is_recorded():
    est = ScratchMLPRegressor(**_params(max_iter=8)).fit(X, Y_REG, X_val=X_VAL, y_val=Y_VAL_REG)
    assert est.t_ == len(X) * 8
    assert len(est.validation_scores_) == len(est.validation_loss_curve_) == 8
    assert est.best_validation_score_ is None
    # The last entries are those of the final model: R2 and half the squared error.
    assert est.validation_scores_[-1] == pytest.approx(est.score(X_VAL, Y_VAL_REG), rel=1e-10)
    half_mse = 0.5 * np.mean((est.predict(X_VAL) - Y_VAL_REG) ** 2)
    assert est.validation_loss_curve_[-1] == pytest.approx(half_mse, rel=1e-10)
    # sample_weight_val weights both.
    s = np.linspace(0.1, 2.0, len(X_VAL))
    weighted = ScratchMLPRegressor(**_params(max_iter=8)).fit(
        X, Y_REG, X_val=X_VAL, y_val=Y_VAL_REG, sample_weight_val=s
    )
    _assert_same_model(weighted, est)  # validation does not change training
    assert weighted.validation_scores_[-1] == pytest.approx(
        weighted.score(X_VAL, Y_VAL_REG, sample_weight=s), rel=1e-10
    )
    weighted_half_mse = 0.5 * np.average((est.predict(X_VAL) - Y_VAL_REG) ** 2, weights=s)
    assert weighted.validation_loss_curve_[-1] == pytest.approx(weighted_half_mse, rel=1e-10)


@quiet
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_scoring_loss_is_minus_the_validation_loss(solver):
    est = ScratchMLPClassifier(**_params(solver=solver, scoring="loss", max_iter=10)).fit(
        X, Y_3, X_val=X_VAL, y_val=Y_VAL_3
    )
    assert len(est.validation_scores_) == est.n_iter_ > 1
    np.testing.assert_array_equal(est.validation_scores_, -np.array(est.validation_loss_curve_))
    if solver == "adam":
        val_loss = log_loss(Y_VAL_3, est.predict_proba(X_VAL), labels=[0, 1, 2])
        assert est.validation_loss_curve_[-1] == pytest.approx(val_loss, rel=1e-10)


@quiet
def test_scoring_by_name_and_callable():
    f1 = ScratchMLPClassifier(**_params(scoring="f1_macro", max_iter=10)).fit(
        X, Y_3, X_val=X_VAL, y_val=Y_VAL_3
    )
    expected = f1_score(Y_VAL_3, f1.predict(X_VAL), average="macro")
    assert f1.validation_scores_[-1] == pytest.approx(expected, rel=1e-12)
    default = ScratchMLPClassifier(**_params(max_iter=10)).fit(X, Y_3, X_val=X_VAL, y_val=Y_VAL_3)
    _assert_same_model(default, f1)  # the scorer does not change training...
    assert f1.validation_scores_ != default.validation_scores_  # ...only what is recorded
    assert default.validation_scores_[-1] == default.score(X_VAL, Y_VAL_3)  # accuracy

    calls = []

    def neg_mae(est, X_, y_):
        calls.append((X_.shape, [c.copy() for c in est.coefs_]))
        return -mean_absolute_error(y_, est.predict(X_))

    reg = ScratchMLPRegressor(**_params(scoring=neg_mae, max_iter=6)).fit(
        X, Y_REG, X_val=X_VAL, y_val=Y_VAL_REG
    )
    assert len(calls) == 6 and all(shape == X_VAL.shape for shape, _ in calls)
    # It scores the model of each epoch, not one fixed model.
    assert not np.array_equal(calls[0][1][0], calls[1][1][0])
    expected = -mean_absolute_error(Y_VAL_REG, reg.predict(X_VAL))
    assert reg.validation_scores_[-1] == pytest.approx(expected, rel=1e-12)
    # A scorer object from make_scorer too.
    scorer = make_scorer(mean_absolute_error, greater_is_better=False)
    reg2 = ScratchMLPRegressor(**_params(scoring=scorer, max_iter=6)).fit(
        X, Y_REG, X_val=X_VAL, y_val=Y_VAL_REG
    )
    np.testing.assert_allclose(reg2.validation_scores_, reg.validation_scores_, rtol=1e-12)


@quiet
def test_early_stopping_follows_the_scoring():
    # Stopping on the validation loss keeps the epoch of the lowest loss.
    est = ScratchMLPRegressor(
        **_params(early_stopping=True, scoring="neg_mean_absolute_error", n_iter_no_change=2,
                  max_iter=200, learning_rate_init=0.05, hidden_layer_sizes=(20,))
    ).fit(X, Y_REG, X_val=X_VAL, y_val=Y_VAL_REG)
    expected = -mean_absolute_error(Y_VAL_REG, est.predict(X_VAL))
    assert est.best_validation_score_ == pytest.approx(expected, rel=1e-10)
    assert est.best_validation_score_ == max(est.validation_scores_)


def test_invalid_validation_data_raises():
    est = ScratchMLPClassifier(**_params(max_iter=2))
    with pytest.raises(ValueError, match="X_val and y_val"):
        est.fit(X, Y_3, X_val=X_VAL)
    with pytest.raises(ValueError, match="X_val and y_val"):
        est.fit(X, Y_3, y_val=Y_VAL_3)
    with pytest.raises(ValueError, match="features"):
        est.fit(X, Y_3, X_val=X_VAL[:, :3], y_val=Y_VAL_3)
    with pytest.raises(ValueError, match="classes"):
        est.fit(X, Y_3, X_val=X_VAL, y_val=np.where(Y_VAL_3 == 2, 7, Y_VAL_3))
    with pytest.raises(ValueError):
        est.fit(X, Y_3, X_val=X_VAL, y_val=Y_VAL_3[:-1])  # inconsistent lengths
    with pytest.raises(ValueError):
        est.fit(X, Y_3, X_val=X_VAL, y_val=Y_VAL_3, sample_weight_val=np.ones(3))
    assert not hasattr(est, "coefs_")  # nothing was fitted by the failed calls


# ===========================================================================
# 7. history_
# ===========================================================================
COLUMNS = ["epoch", "loss", "val_loss", "val_score", "learning_rate", "seconds"]


@quiet
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_history_dataframe(solver):
    pd = pytest.importorskip("pandas")
    est = ScratchMLPClassifier(**_params(solver=solver, max_iter=12)).fit(X, Y_3)
    df = pd.DataFrame(est.history_)
    assert list(df.columns) == COLUMNS
    assert len(df) == est.n_iter_ == len(est.loss_curve_)
    assert list(df["epoch"]) == list(range(1, est.n_iter_ + 1))
    np.testing.assert_array_equal(df["loss"], est.loss_curve_)
    assert df["val_loss"].isna().all() and df["val_score"].isna().all()
    assert (df["seconds"] >= 0).all()
    if solver == "lbfgs":
        assert df["learning_rate"].isna().all()
    else:
        assert (df["learning_rate"] == est.learning_rate_init).all()

    with_val = ScratchMLPClassifier(**_params(solver=solver, max_iter=12)).fit(
        X, Y_3, X_val=X_VAL, y_val=Y_VAL_3
    )
    df = pd.DataFrame(with_val.history_)
    assert len(df) == with_val.n_iter_
    np.testing.assert_array_equal(df["val_loss"], with_val.validation_loss_curve_)
    np.testing.assert_array_equal(df["val_score"], with_val.validation_scores_)


@quiet
def test_history_with_warm_start_and_partial_fit():
    est = ScratchMLPClassifier(**_params(max_iter=5, warm_start=True))
    est.fit(X, Y_3)
    est.fit(X, Y_3)
    assert est.n_iter_ == 5  # this call's epochs
    assert len(est.history_) == len(est.loss_curve_) == 10  # all of them
    assert [r["epoch"] for r in est.history_] == list(range(1, 11))
    inc = ScratchMLPClassifier(**_params())
    for _ in range(3):
        inc.partial_fit(X, Y_3, classes=[0, 1, 2])
    assert [r["epoch"] for r in inc.history_] == [1, 2, 3]
    assert [r["loss"] for r in inc.history_] == inc.loss_curve_
    # A new fit starts a new history.
    est.set_params(warm_start=False).fit(X, Y_3)
    assert len(est.history_) == est.n_iter_ == 5


# ===========================================================================
# 8. Callbacks
# ===========================================================================
class StopAt:
    def __init__(self, epoch):
        self.epoch, self.calls = epoch, []

    def on_epoch_end(self, est, record):
        self.calls.append(record["epoch"])
        return record["epoch"] >= self.epoch


class Snapshots:
    """Record the in-progress weights and what the estimator exposes each epoch."""

    def __init__(self):
        self.coefs, self.history_lengths, self.records = {}, [], []

    def on_epoch_end(self, est, record):
        self.coefs[record["epoch"]] = [c.copy() for c in est.coefs_ + est.intercepts_]
        self.history_lengths.append(len(est.history_))
        self.records.append(record)
        return False


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_callback_stops_training_without_warning(solver):
    stop = StopAt(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning, nothing else
        est = ScratchMLPClassifier(**_params(solver=solver, max_iter=50, callbacks=[stop]))
        est.fit(X, Y_3)
    assert stop.calls == [1, 2, 3]
    assert est.n_iter_ == 3 == len(est.loss_curve_) == len(est.history_)
    if solver != "lbfgs":
        assert est.t_ == 3 * len(X)


@quiet
def test_every_callback_is_called_before_stopping():
    stop, count = StopAt(2), StopAt(10**9)
    est = ScratchMLPClassifier(**_params(callbacks=[stop, count])).fit(X, Y_3)
    assert stop.calls == count.calls == [1, 2]
    assert est.n_iter_ == 2


@quiet
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_callbacks_see_the_model_in_training(solver):
    snap = Snapshots()
    est = ScratchMLPClassifier(**_params(solver=solver, max_iter=6, callbacks=[snap]))
    est.fit(X, Y_3)
    epochs = sorted(snap.coefs)
    assert epochs == list(range(1, est.n_iter_ + 1))
    for a, b in zip(epochs, epochs[1:]):
        assert any(not np.array_equal(p, q) for p, q in zip(snap.coefs[a], snap.coefs[b]))
    for p, q in zip(snap.coefs[epochs[-1]], est.coefs_ + est.intercepts_):
        np.testing.assert_array_equal(p, q)  # the last one is the fitted model
    assert snap.history_lengths == epochs  # history_ is up to date in the callback
    assert snap.records == est.history_


def _early_stopping_fit(solver, **kw):
    snap, stop = Snapshots(), EarlyStopping(monitor="val_loss", patience=3, **kw)
    params = _params(solver=solver, hidden_layer_sizes=(30,), max_iter=300,
                     learning_rate_init=0.05, callbacks=[snap, stop])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = ScratchMLPClassifier(**params).fit(X, Y_3, X_val=X_VAL, y_val=Y_VAL_3)
    return est, snap, stop


@pytest.mark.parametrize("solver", ["adam"])
def test_early_stopping_callback_restores_the_best_weights(solver):
    est, snap, stop = _early_stopping_fit(solver)
    assert stop.stopped_epoch_ == est.n_iter_ < 300
    assert stop.stopped_epoch_ == stop.best_epoch_ + 3
    losses = est.validation_loss_curve_
    assert stop.best_ == min(losses) == losses[stop.best_epoch_ - 1]
    for p, q in zip(est.coefs_ + est.intercepts_, snap.coefs[stop.best_epoch_]):
        np.testing.assert_array_equal(p, q)
    val_loss = log_loss(Y_VAL_3, est.predict_proba(X_VAL), labels=[0, 1, 2])
    assert val_loss == pytest.approx(stop.best_, rel=1e-10)
    # restore_best=False keeps the last epoch's weights.
    est, snap, stop = _early_stopping_fit(solver, restore_best=False)
    for p, q in zip(est.coefs_ + est.intercepts_, snap.coefs[stop.stopped_epoch_]):
        np.testing.assert_array_equal(p, q)


def test_early_stopping_callback_restores_the_best_weights_lbfgs():
    est, snap, stop = _early_stopping_fit("lbfgs")
    assert stop.stopped_epoch_ == est.n_iter_
    for p, q in zip(est.coefs_ + est.intercepts_, snap.coefs[stop.best_epoch_]):
        np.testing.assert_array_equal(p, q)


def test_early_stopping_callback_can_be_reused():
    stop = EarlyStopping(patience=3)
    est = ScratchMLPClassifier(**_params(hidden_layer_sizes=(30,), max_iter=300,
                                         learning_rate_init=0.05, callbacks=[stop]))
    est.fit(X, Y_3, X_val=X_VAL, y_val=Y_VAL_3)
    first = (est.n_iter_, stop.best_epoch_, [c.copy() for c in est.coefs_])
    est.fit(X, Y_3, X_val=X_VAL, y_val=Y_VAL_3)  # same random_state: the same fit
    assert (est.n_iter_, stop.best_epoch_) == first[:2]
    for p, q in zip(est.coefs_, first[2]):
        np.testing.assert_array_equal(p, q)


def test_early_stopping_callback_needs_validation_data():
    est = ScratchMLPClassifier(**_params(callbacks=[EarlyStopping()]))
    with pytest.raises(ValueError, match="validation"):
        est.fit(X, Y_3)
    with pytest.raises(ValueError, match="monitor"):
        EarlyStopping(monitor="accuracy")


@quiet
def test_early_stopping_callback_on_training_loss():
    stop = EarlyStopping(monitor="loss", patience=2, min_delta=1e-2)
    est = ScratchMLPClassifier(**_params(max_iter=500, learning_rate_init=0.05,
                                         callbacks=[stop])).fit(X, Y_3)
    assert stop.stopped_epoch_ == est.n_iter_ < 500
    assert stop.best_ == pytest.approx(est.loss_curve_[stop.best_epoch_ - 1])


def test_progress_bar_without_tqdm_raises_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with pytest.raises(ImportError, match="tqdm"):
        ProgressBar()

    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.split(".")[0] == "tqdm":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "tqdm")
    monkeypatch.delitem(sys.modules, "tqdm.auto")
    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    with pytest.raises(ImportError, match="pip install"):
        ProgressBar()


@quiet
def test_fitted_estimator_with_progress_bar_clones_and_pickles():
    pytest.importorskip("tqdm")
    import pickle

    est = ScratchMLPClassifier(**_params(max_iter=3, callbacks=[ProgressBar(file=io.StringIO())]))
    est.fit(X, Y_3)
    clone(est)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict(X), est.predict(X))


@quiet
def test_progress_bar_with_tqdm():
    pytest.importorskip("tqdm")
    out = io.StringIO()
    bar = ProgressBar(file=out, mininterval=0)
    est = ScratchMLPClassifier(**_params(max_iter=7, callbacks=[bar])).fit(
        X, Y_3, X_val=X_VAL, y_val=Y_VAL_3
    )
    assert bar.bar.n == est.n_iter_ == 7
    assert bar.bar.total == 7
    assert "loss" in out.getvalue()


# ===========================================================================
# 9. hidden_activations
# ===========================================================================
@quiet
@pytest.mark.parametrize(
    "activations", [["relu", "tanh"], ["logistic", "identity"], ["leaky_relu", "elu"],
                    ["gelu", "softplus"], ["silu", "silu"]]
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
    np.testing.assert_allclose(est.predict_proba(X), proba / proba.sum(axis=1, keepdims=True),
                               rtol=1e-10, atol=1e-300)


@quiet
def test_hidden_activations_input_handling():
    sp = pytest.importorskip("scipy.sparse")
    est = ScratchMLPRegressor(**_params(hidden_layer_sizes=(6, 4), solver="lbfgs")).fit(X, Y_REG)
    np.testing.assert_allclose(est.hidden_activations(sp.csr_matrix(X), layer=1),
                               est.hidden_activations(X, layer=1), rtol=1e-12)
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
        **kw, **_params(hidden_layer_sizes=(4, 3), activation=["gelu", "elu"], solver="lbfgs",
                        max_iter=15, alpha=0.1)
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
    est = ScratchMLPClassifier(**_params(solver="lbfgs", max_iter=10)).fit(X.astype(np.float32),
                                                                          Y_3)
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
