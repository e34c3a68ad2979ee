"""Parity with scikit-learn's MLPClassifier / MLPRegressor.

Two levels:

* statistical: with the same hyper-parameters, cross-validated accuracy and
  R2 are within one point (0.01) of scikit-learn's;
* exact: with the same ``random_state`` both libraries draw the same initial
  weights, the same shuffles and the same early-stopping split from one
  ``RandomState``, so their loss curves and final weights agree to rounding
  error (measured: ~1e-15 relative; asserted: 1e-6).

BLAS is limited to one thread for the module: on the 2-core test machine
OpenBLAS with two threads is ~10x slower on these small matrices, and both
libraries run under the same limit.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scratchmlp import ScratchMLPClassifier, ScratchMLPRegressor

CURVE_RTOL = 1e-6
WEIGHT_RTOL, WEIGHT_ATOL = 1e-6, 1e-9


# Short fits are the point of several tests below; both libraries warn alike.
pytestmark = pytest.mark.usefixtures("one_blas_thread", "quiet_convergence")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _assert_same_fit(theirs, ours, curve=True):
    assert ours.n_iter_ == theirs.n_iter_
    if curve:
        assert len(ours.loss_curve_) == len(theirs.loss_curve_)
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=CURVE_RTOL)
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=CURVE_RTOL)
    assert len(ours.coefs_) == len(theirs.coefs_)
    for c_ours, c_theirs in zip(ours.coefs_, theirs.coefs_):
        np.testing.assert_allclose(c_ours, c_theirs, rtol=WEIGHT_RTOL, atol=WEIGHT_ATOL)
    for i_ours, i_theirs in zip(ours.intercepts_, theirs.intercepts_):
        np.testing.assert_allclose(i_ours, i_theirs, rtol=WEIGHT_RTOL, atol=WEIGHT_ATOL)


# ---------------------------------------------------------------------------
# Cross-validated scores within one point.
# ---------------------------------------------------------------------------
CLASSIFICATION = [
    # loader, n_splits, {solver: params}
    (load_digits, 3, {"adam": dict(max_iter=100), "lbfgs": dict(max_iter=200)}),
    (load_iris, 5, {"adam": dict(max_iter=500), "lbfgs": dict(max_iter=500)}),
    (load_wine, 5, {"adam": dict(max_iter=500), "lbfgs": dict(max_iter=500)}),
    (load_breast_cancer, 5, {"adam": dict(max_iter=300), "lbfgs": dict(max_iter=300)}),
]


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize(
    "loader, n_splits, per_solver", CLASSIFICATION, ids=[c[0].__name__ for c in CLASSIFICATION]
)
def test_cross_validated_accuracy_matches_sklearn(loader, n_splits, per_solver, solver):
    X, y = loader(return_X_y=True)
    params = dict(hidden_layer_sizes=(64,), solver=solver, random_state=0, **per_solver[solver])
    cv = StratifiedKFold(n_splits, shuffle=True, random_state=0)
    theirs = cross_val_score(make_pipeline(StandardScaler(), MLPClassifier(**params)), X, y, cv=cv)
    ours = cross_val_score(
        make_pipeline(StandardScaler(), ScratchMLPClassifier(**params)), X, y, cv=cv
    )
    assert theirs.mean() > 0.9  # a meaningful model, not two equally bad ones
    assert abs(ours.mean() - theirs.mean()) <= 0.01


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="adam", hidden_layer_sizes=(32,), alpha=1.0, max_iter=500),
        dict(solver="lbfgs", hidden_layer_sizes=(16,), alpha=10.0, max_iter=200),
    ],
    ids=["adam", "lbfgs"],
)
def test_cross_validated_r2_matches_sklearn(params):
    X, y = load_diabetes(return_X_y=True)
    cv = KFold(5, shuffle=True, random_state=0)

    def model(cls):
        # Scaled X (the pipeline) and scaled y (the target transformer).
        return TransformedTargetRegressor(
            make_pipeline(StandardScaler(), cls(random_state=0, **params)),
            transformer=StandardScaler(),
        )

    theirs = cross_val_score(model(MLPRegressor), X, y, cv=cv)
    ours = cross_val_score(model(ScratchMLPRegressor), X, y, cv=cv)
    assert theirs.mean() > 0.3
    assert abs(ours.mean() - theirs.mean()) <= 0.01


# ---------------------------------------------------------------------------
# Exact parity: initial weights.
# ---------------------------------------------------------------------------
def _sklearn_initial_weights(layer_units, activation, seed):
    """scikit-learn's initialisation (``BaseMultilayerPerceptron._init_coef``), redone.

    Glorot-uniform with a factor of 2 for ``activation='logistic'`` and 6
    otherwise; the factor follows the *hidden* activation for every layer,
    the output layer included. Per layer: the (fan_in, fan_out) coefficients,
    then the intercepts, from one RandomState.
    """
    rng = np.random.RandomState(seed)
    factor = 2.0 if activation == "logistic" else 6.0
    coefs, intercepts = [], []
    for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
        bound = np.sqrt(factor / (fan_in + fan_out))
        coefs.append(rng.uniform(-bound, bound, (fan_in, fan_out)))
        intercepts.append(rng.uniform(-bound, bound, fan_out))
    return coefs, intercepts


def _targets(kind, y):
    return {
        "multiclass": y,
        "binary": y % 2,
        "multilabel": np.c_[y % 2, y < 5].astype(int),
        "regression": y / 9.0,
    }[kind]


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity", "leaky_relu"])
@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel", "regression"])
def test_initial_weights_are_sklearns(digits, kind, activation):
    """The first draws of the fit's RandomState are scikit-learn's initial weights.

    A fit cannot stop before its first step, so the step is made negligible:
    plain SGD (no momentum) with a learning rate of 1e-12 moves the weights
    by ~1e-12, far below the tolerance, while a different initialisation
    differs by ~0.1.
    """
    X, y = digits
    X, y = X[:300], _targets(kind, y[:300])
    cls = ScratchMLPRegressor if kind == "regression" else ScratchMLPClassifier
    params = dict(
        hidden_layer_sizes=(16, 8),
        activation=activation,
        solver="sgd",
        momentum=0.0,
        learning_rate_init=1e-12,
        max_iter=1,
        shuffle=False,
        random_state=7,
    )
    ours = cls(**params).fit(X, y)
    n_outputs = {"multiclass": 10, "binary": 1, "multilabel": 2, "regression": 1}[kind]
    coefs, intercepts = _sklearn_initial_weights([64, 16, 8, n_outputs], activation, seed=7)
    for layer, (c_ours, c_expected) in enumerate(zip(ours.coefs_, coefs)):
        np.testing.assert_allclose(c_ours, c_expected, atol=1e-9, err_msg=f"coefs_[{layer}]")
    for layer, (i_ours, i_expected) in enumerate(zip(ours.intercepts_, intercepts)):
        np.testing.assert_allclose(i_ours, i_expected, atol=1e-9, err_msg=f"intercepts_[{layer}]")
    if activation != "leaky_relu":
        # The helper above is scikit-learn's scheme: check it against the real thing.
        sk_cls = MLPRegressor if kind == "regression" else MLPClassifier
        theirs = sk_cls(**params).fit(X, y)
        for c_theirs, c_expected in zip(theirs.coefs_, coefs):
            np.testing.assert_allclose(c_theirs, c_expected, atol=1e-9)


# ---------------------------------------------------------------------------
# Exact parity: whole training trajectories.
# ---------------------------------------------------------------------------
STOCHASTIC = {
    "adam": dict(solver="adam", learning_rate_init=0.01),
    "sgd-nesterov": dict(solver="sgd", learning_rate_init=0.01),
    "sgd-momentum": dict(solver="sgd", learning_rate_init=0.01, nesterovs_momentum=False),
    "sgd-invscaling": dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.1),
}


@pytest.mark.parametrize("solver", STOCHASTIC, ids=list(STOCHASTIC))
def test_loss_curve_matches_sklearn_with_shuffle(digits, solver):
    """Same initial weights and same per-epoch shuffles: the same trajectory.

    scikit-learn shuffles its index array in place every epoch
    (``sample_idx = shuffle(sample_idx, random_state=...)``), so epoch ``e``
    visits ``p_1[p_2[...p_e]]``, a composition of all the permutations drawn
    so far, not the last one alone.
    """
    X, y = digits
    params = dict(hidden_layer_sizes=(32, 16), max_iter=6, random_state=0, **STOCHASTIC[solver])
    theirs = MLPClassifier(**params).fit(X, y)
    ours = ScratchMLPClassifier(**params).fit(X, y)
    _assert_same_fit(theirs, ours)


@pytest.mark.parametrize("solver", STOCHASTIC, ids=list(STOCHASTIC))
def test_first_epoch_matches_sklearn_with_shuffle(digits, solver):
    """The first epoch (initial weights and first shuffle) agrees even where later ones may not."""
    X, y = digits
    params = dict(hidden_layer_sizes=(32, 16), max_iter=1, random_state=0, **STOCHASTIC[solver])
    _assert_same_fit(MLPClassifier(**params).fit(X, y), ScratchMLPClassifier(**params).fit(X, y))


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize("solver", STOCHASTIC, ids=list(STOCHASTIC))
def test_loss_curve_matches_sklearn_without_shuffle(digits, solver, activation):
    X, y = digits
    params = dict(
        hidden_layer_sizes=(32, 16),
        activation=activation,
        max_iter=8,
        shuffle=False,
        random_state=0,
        **STOCHASTIC[solver],
    )
    _assert_same_fit(MLPClassifier(**params).fit(X, y), ScratchMLPClassifier(**params).fit(X, y))


@pytest.mark.parametrize("kind", ["binary", "multilabel"])
def test_loss_curve_matches_sklearn_logistic_outputs(digits, kind):
    """Binary and multilabel targets: logistic output units and binary log-loss."""
    X, y = digits
    y = _targets(kind, y)
    params = dict(hidden_layer_sizes=(32,), max_iter=5, shuffle=False, random_state=0)
    _assert_same_fit(MLPClassifier(**params).fit(X, y), ScratchMLPClassifier(**params).fit(X, y))


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_regressor_loss_curve_matches_sklearn(digits, solver, loss):
    X, _ = digits
    rng = np.random.RandomState(1)
    if loss == "squared_error":
        y = X[:, :3] @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.randn(len(X))
    else:
        y = rng.poisson(np.exp(0.3 * X[:, 1])).astype(float)
    params = dict(
        loss=loss,
        hidden_layer_sizes=(32,),
        solver=solver,
        learning_rate_init=0.001,
        max_iter=5,
        shuffle=False,
        random_state=0,
    )
    _assert_same_fit(MLPRegressor(**params).fit(X, y), ScratchMLPRegressor(**params).fit(X, y))


def test_sample_weighted_loss_curve_matches_sklearn(digits):
    X, y = digits
    w = 2 * np.random.RandomState(0).rand(len(y))
    params = dict(
        hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=5, shuffle=False, random_state=0
    )
    theirs = MLPClassifier(**params).fit(X, y, sample_weight=w)
    ours = ScratchMLPClassifier(**params).fit(X, y, sample_weight=w)
    _assert_same_fit(theirs, ours)


@pytest.mark.parametrize("kind", ["binary", "multilabel"])
def test_early_stopping_matches_sklearn(digits, kind):
    """The same validation split and the same scores.

    Binary targets are stratified and multilabel ones are not, in both
    libraries. Multiclass targets differ on purpose: scikit-learn means to
    stratify single-output classifiers but tests ``n_outputs_ == 1``, which
    counts output units, so it never stratifies multiclass targets; we do
    (see ``test_early_stopping_stratifies_multiclass``)."""
    X, y = digits
    y = _targets(kind, y)
    params = dict(
        hidden_layer_sizes=(32,),
        learning_rate_init=0.01,
        max_iter=15,
        early_stopping=True,
        shuffle=False,
        random_state=0,
    )
    theirs = MLPClassifier(**params).fit(X, y)
    ours = ScratchMLPClassifier(**params).fit(X, y)
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_, atol=1e-12)
    assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_)
    assert ours.best_loss_ is None and theirs.best_loss_ is None
    _assert_same_fit(theirs, ours)


def test_early_stopping_stratifies_multiclass(digits):
    """Each class keeps its share in the held-out set (scikit-learn's split does not)."""
    from sklearn.model_selection import train_test_split

    X, y = digits
    params = dict(
        hidden_layer_sizes=(16,), max_iter=3, early_stopping=True, shuffle=False, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = ScratchMLPClassifier(**params).fit(X, y)
    # The engine draws its initial weights first, then splits with the same generator.
    rng = np.random.RandomState(0)
    n = [64, 16, 10]
    for fan_in, fan_out in zip(n, n[1:]):
        rng.uniform(size=(fan_in, fan_out)), rng.uniform(size=fan_out)
    _, val = train_test_split(np.arange(len(y)), random_state=rng, test_size=0.1, stratify=y)
    counts = np.bincount(y[val], minlength=10)
    assert counts.max() - counts.min() <= 1  # stratified: 18 each, give or take one
    # That is the split the fit used: the restored best weights score
    # best_validation_score_ on it.
    assert ours.score(X[val], y[val]) == pytest.approx(ours.best_validation_score_)


def test_partial_fit_matches_sklearn(digits):
    """Each partial_fit call reseeds from random_state in both libraries: one shuffled epoch."""
    X, y = digits
    params = dict(hidden_layer_sizes=(32,), learning_rate_init=0.01, random_state=0)
    theirs, ours = MLPClassifier(**params), ScratchMLPClassifier(**params)
    for _ in range(3):
        theirs.partial_fit(X, y, classes=np.arange(10))
        ours.partial_fit(X, y, classes=np.arange(10))
        np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=CURVE_RTOL)
    assert ours.t_ == theirs.t_ == 3 * len(X)
    _assert_same_fit(theirs, ours)


def test_lbfgs_matches_sklearn(digits):
    """L-BFGS: the same iterates up to rounding.

    scikit-learn packs all coefficients, then all intercepts; the engine
    interleaves ``W[l], b[l]``. L-BFGS is equivariant under that permutation,
    so only the order of floating-point sums differs (measured ~1e-14).
    scikit-learn keeps no ``loss_curve_`` for lbfgs, so compare the rest.
    """
    X, y = digits
    params = dict(hidden_layer_sizes=(32,), solver="lbfgs", max_iter=15, random_state=0)
    theirs = MLPClassifier(**params).fit(X, y)
    ours = ScratchMLPClassifier(**params).fit(X, y)
    _assert_same_fit(theirs, ours, curve=False)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
