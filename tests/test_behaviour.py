"""The drop-in behaviours of ScratchMLPClassifier / ScratchMLPRegressor.

Small data and small networks: every test fits in well under a second.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from testdata import SMALL

from scratchmlp import ScratchMLPClassifier, ScratchMLPRegressor
from scratchmlp.engine import Network, initialize

quiet = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

X, Y_BIN, Y_3, Y_ML = SMALL.X, SMALL.y_binary, SMALL.y_3, SMALL.y_multilabel
Y_REG = SMALL.y_reg
Y_REG2 = np.column_stack([Y_REG, X[:, 3] ** 2])
BOTH = [(ScratchMLPClassifier, Y_3), (ScratchMLPRegressor, Y_REG)]


def _params(**kw):
    base = dict(hidden_layer_sizes=(5,), random_state=0, max_iter=30)
    base.update(kw)
    return base


def _all_params(est):
    return [p for p in est.coefs_ + est.intercepts_]


# ---------------------------------------------------------------------------
# Fitted attributes, against scikit-learn fitted on the same data.
# ---------------------------------------------------------------------------
CASES = {
    "classifier-multiclass": (ScratchMLPClassifier, MLPClassifier, Y_3),
    "classifier-binary": (ScratchMLPClassifier, MLPClassifier, Y_BIN),
    "regressor": (ScratchMLPRegressor, MLPRegressor, Y_REG),
}


@quiet
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("case", list(CASES))
def test_fitted_attributes_match_sklearn(case, solver):
    Ours, Theirs, y = CASES[case]
    params = _params(solver=solver, hidden_layer_sizes=(5, 3))
    ours = Ours(**params).fit(X, y)
    theirs = Theirs(**params).fit(X, y)

    assert ours.n_features_in_ == theirs.n_features_in_ == 4
    assert not hasattr(ours, "feature_names_in_")
    assert ours.n_layers_ == theirs.n_layers_ == 4
    assert ours.n_outputs_ == theirs.n_outputs_
    assert ours.out_activation_ == theirs.out_activation_
    assert isinstance(ours.n_iter_, int) and isinstance(ours.t_, int)
    if Ours is ScratchMLPClassifier:
        np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    else:
        assert not hasattr(ours, "classes_")

    assert len(ours.coefs_) == len(theirs.coefs_) == 3
    assert [c.shape for c in ours.coefs_] == [c.shape for c in theirs.coefs_]
    assert [b.shape for b in ours.intercepts_] == [b.shape for b in theirs.intercepts_]
    assert [c.shape for c in ours.coefs_] == [(4, 5), (5, 3), (3, ours.n_outputs_)]
    assert [b.shape for b in ours.intercepts_] == [(5,), (3,), (ours.n_outputs_,)]

    assert isinstance(ours.loss_curve_, list)
    assert len(ours.loss_curve_) == ours.n_iter_
    assert ours.loss_curve_[-1] == pytest.approx(ours.loss_)
    assert ours.validation_scores_ is None
    assert ours.best_validation_score_ is None
    assert ours.best_loss_ == pytest.approx(min(ours.loss_curve_))
    if solver == "lbfgs":
        assert ours.t_ == 0
    else:
        assert ours.t_ == ours.n_iter_ * len(X)

    # Same initialisation, same cost, same updates: the same model.
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.t_ == theirs.t_
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-6)
    for a, b in zip(_all_params(ours), _all_params(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)
    if solver != "lbfgs":
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-6)
        assert ours.best_loss_ == pytest.approx(theirs.best_loss_, rel=1e-6)


TARGETS = {
    "binary": (ScratchMLPClassifier, MLPClassifier, Y_BIN),
    "multiclass": (ScratchMLPClassifier, MLPClassifier, Y_3),
    "multilabel": (ScratchMLPClassifier, MLPClassifier, Y_ML),
    "regressor": (ScratchMLPRegressor, MLPRegressor, Y_REG),
}


@quiet
@pytest.mark.parametrize("activation", ["relu", "logistic"])
@pytest.mark.parametrize("target", list(TARGETS))
def test_initial_weights_match_sklearn(target, activation):
    """The same random_state starts both libraries from the same weights.

    A step of 1e-300 leaves every weight as initialised, so one sgd epoch
    exposes the initial weights of both estimators.
    """
    Ours, Theirs, y = TARGETS[target]
    params = _params(
        solver="sgd",
        momentum=0.0,
        learning_rate_init=1e-300,
        max_iter=1,
        hidden_layer_sizes=(5, 3),
        activation=activation,
    )
    ours = Ours(**params).fit(X, y)
    theirs = Theirs(**params).fit(X, y)
    # The documented scheme: uniform on [-r, r], r = sqrt(f / (fan_in + fan_out)),
    # f = 2 when the `activation` parameter is 'logistic' else 6, for every layer.
    rng = np.random.RandomState(0)
    f = 2.0 if activation == "logistic" else 6.0
    for coef, intercept in zip(theirs.coefs_, theirs.intercepts_):
        fan_in, fan_out = coef.shape
        r = np.sqrt(f / (fan_in + fan_out))
        np.testing.assert_array_equal(coef, rng.uniform(-r, r, (fan_in, fan_out)))
        np.testing.assert_array_equal(intercept, rng.uniform(-r, r, fan_out))
    for a, b in zip(_all_params(ours), _all_params(theirs)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("Estimator, y", BOTH)
@quiet
def test_feature_names_in_with_dataframe(Estimator, y):
    pd = pytest.importorskip("pandas")
    columns = ["a", "b", "c", "d"]
    df = pd.DataFrame(X, columns=columns)
    est = Estimator(**_params(solver="lbfgs")).fit(df, y)
    np.testing.assert_array_equal(est.feature_names_in_, columns)
    assert est.n_features_in_ == 4
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        pred_array = est.predict(X)
    np.testing.assert_array_equal(est.predict(df), pred_array)
    with pytest.raises(ValueError, match="feature names"):
        est.predict(df[["b", "a", "c", "d"]])
    # Fitted on an array: no feature names.
    assert not hasattr(clone(est).fit(X, y), "feature_names_in_")


@quiet
def test_coefs_and_intercepts_are_views_of_weights_and_biases():
    est = ScratchMLPClassifier(**_params(solver="lbfgs", hidden_layer_sizes=(5, 3))).fit(X, Y_3)
    n = [4, 5, 3, 3]
    assert est.weights_[0] is None and est.biases_[0] is None
    assert len(est.weights_) == len(est.biases_) == est.n_layers_ == 4
    for l in range(1, 4):
        assert est.weights_[l].shape == (n[l], n[l - 1])
        assert est.biases_[l].shape == (n[l], 1)
        np.testing.assert_array_equal(est.coefs_[l - 1], est.weights_[l].T)
        np.testing.assert_array_equal(est.intercepts_[l - 1], est.biases_[l][:, 0])
        assert np.shares_memory(est.coefs_[l - 1], est.weights_[l])
        assert np.shares_memory(est.intercepts_[l - 1], est.biases_[l])

    # Writing through a view changes the model.
    before = est.predict_proba(X)
    est.coefs_[0][0, 0] += 1.0
    assert est.weights_[1][0, 0] == est.coefs_[0][0, 0]
    assert not np.allclose(est.predict_proba(X), before)

    # Assigning sklearn-layout lists writes into the same storage.
    new_coefs = [np.zeros_like(c) for c in est.coefs_]
    new_intercepts = [np.full_like(b, 0.5) for b in est.intercepts_]
    w1 = est.weights_[1]
    est.coefs_ = new_coefs
    est.intercepts_ = new_intercepts
    assert np.shares_memory(w1, est.weights_[1])
    assert (est.weights_[1] == 0).all() and (est.biases_[3] == 0.5).all()
    np.testing.assert_allclose(est.predict_proba(X), 1 / 3)
    with pytest.raises(ValueError, match="coefs_ must have the shapes"):
        est.coefs_ = new_coefs[:2]


# ---------------------------------------------------------------------------
# Output layers.
# ---------------------------------------------------------------------------
@quiet
@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_binary_one_logistic_unit(solver):
    est = ScratchMLPClassifier(**_params(solver=solver)).fit(X, Y_BIN)
    assert est.out_activation_ == "logistic"
    assert est.n_outputs_ == 1
    assert est.coefs_[-1].shape == (5, 1)
    np.testing.assert_array_equal(est.classes_, [0, 1])
    proba = est.predict_proba(X)
    assert proba.shape == (60, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_array_equal(est.predict(X), est.classes_[proba.argmax(axis=1)])
    # Column 1 is the sigmoid of the single output's logit.
    Z = X @ est.coefs_[0] + est.intercepts_[0]
    A = np.maximum(Z, 0) @ est.coefs_[1] + est.intercepts_[1]
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-A[:, 0])), rtol=1e-10)
    assert est.score(X, Y_BIN) == accuracy_score(Y_BIN, est.predict(X))


@quiet
def test_multiclass_softmax():
    est = ScratchMLPClassifier(**_params(solver="lbfgs")).fit(X, Y_3)
    assert est.out_activation_ == "softmax"
    assert est.n_outputs_ == 3
    proba = est.predict_proba(X)
    assert proba.shape == (60, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    Z = np.maximum(X @ est.coefs_[0] + est.intercepts_[0], 0) @ est.coefs_[1] + est.intercepts_[1]
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    # Probabilities below the smallest normal float are reported as that
    # float (so that log(predict_proba) is finite).
    expected = np.maximum(E / E.sum(axis=1, keepdims=True), np.finfo(np.float64).tiny)
    np.testing.assert_allclose(proba, expected, rtol=1e-10)
    np.testing.assert_array_equal(est.predict(X), proba.argmax(axis=1))
    assert est.score(X, Y_3) > 0.9


@quiet
def test_multilabel_indicator_targets():
    params = _params(solver="lbfgs", max_iter=100)
    est = ScratchMLPClassifier(**params).fit(X, Y_ML)
    theirs = MLPClassifier(**params).fit(X, Y_ML)
    assert est.out_activation_ == theirs.out_activation_ == "logistic"
    assert est.n_outputs_ == 3
    np.testing.assert_array_equal(est.classes_, theirs.classes_)
    pred = est.predict(X)
    assert pred.shape == (60, 3)
    assert set(np.unique(pred)) <= {0, 1}
    proba = est.predict_proba(X)
    assert proba.shape == (60, 3)
    np.testing.assert_array_equal(pred, (proba > 0.5).astype(int))
    assert not np.allclose(proba.sum(axis=1), 1.0)  # independent units
    assert est.score(X, Y_ML) > 0.8  # subset accuracy
    assert theirs.predict(X).shape == pred.shape


@quiet
@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_multioutput_regression(solver):
    est = ScratchMLPRegressor(**_params(solver=solver)).fit(X, Y_REG2)
    assert est.out_activation_ == "identity"
    assert est.n_outputs_ == 2
    assert est.coefs_[-1].shape == (5, 2)
    pred = est.predict(X)
    assert pred.shape == (60, 2)
    assert est.score(X, Y_REG2) == pytest.approx(r2_score(Y_REG2, pred))
    single = ScratchMLPRegressor(**_params(solver=solver)).fit(X, Y_REG)
    assert single.predict(X).shape == (60,)
    assert single.n_outputs_ == 1


# ---------------------------------------------------------------------------
# Input formats and dtypes.
# ---------------------------------------------------------------------------
@quiet
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("Estimator, y", BOTH)
def test_sparse_input_matches_dense(Estimator, y, fmt):
    Xs = X.copy()
    Xs[np.abs(Xs) < 0.7] = 0.0  # genuinely sparse
    X_sparse = sp.csr_matrix(Xs) if fmt == "csr" else sp.csc_matrix(Xs)
    params = _params(solver="lbfgs", max_iter=50)
    dense = Estimator(**params).fit(Xs, y)
    sparse = Estimator(**params).fit(X_sparse, y)
    assert dense.n_iter_ == sparse.n_iter_
    for a, b in zip(_all_params(dense), _all_params(sparse)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(sparse.predict(X_sparse), dense.predict(Xs), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dense.predict(X_sparse), dense.predict(Xs), rtol=1e-10, atol=1e-10)
    if Estimator is ScratchMLPClassifier:
        np.testing.assert_allclose(
            sparse.predict_proba(X_sparse), dense.predict_proba(Xs), rtol=1e-10, atol=1e-10
        )


@quiet
@pytest.mark.parametrize("Estimator, y", BOTH)
def test_sparse_input_with_stochastic_solver(Estimator, y):
    params = _params(solver="adam", max_iter=5, batch_size=16)
    dense = Estimator(**params).fit(X, y)
    sparse = Estimator(**params).fit(sp.csr_matrix(X), y)
    for a, b in zip(_all_params(dense), _all_params(sparse)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@quiet
@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(dtype, solver):
    Xd = X.astype(dtype)
    clf = ScratchMLPClassifier(**_params(solver=solver)).fit(Xd, Y_3)
    reg = ScratchMLPRegressor(**_params(solver=solver)).fit(Xd, Y_REG)
    for est in (clf, reg):
        assert all(W.dtype == dtype for W in est.weights_[1:])
        assert all(b.dtype == dtype for b in est.biases_[1:])
        assert all(c.dtype == dtype for c in est.coefs_)
        assert np.isfinite(est.loss_)
    assert clf.predict_proba(Xd).dtype == dtype
    assert clf.predict_log_proba(Xd).dtype == dtype
    assert reg.predict(Xd).dtype == dtype
    # A float64 X given to a float32 model is predicted in the model's dtype.
    assert reg.predict(X).dtype == dtype
    # float32 and float64 fits agree to float32 precision (lbfgs may wander).
    if solver == "adam" and dtype == np.float32:
        ref = ScratchMLPRegressor(**_params(solver=solver)).fit(X, Y_REG)
        np.testing.assert_allclose(reg.predict(X), ref.predict(X), rtol=1e-3, atol=1e-3)


@quiet
def test_integer_input_is_fitted_in_float64():
    est = ScratchMLPRegressor(**_params(solver="lbfgs")).fit(np.round(X * 3).astype(int), Y_REG)
    assert est.weights_[1].dtype == np.float64


# ---------------------------------------------------------------------------
# Early stopping.
# ---------------------------------------------------------------------------
def _validation_split(est, y, n_out, loss, stratify):
    """Replay the generator of a fit: initialise, then split (as _base.py does)."""
    rng = np.random.RandomState(est.random_state)
    net = Network([X.shape[1], *est.hidden_layer_sizes, n_out], est.activation, loss)
    initialize(net, rng)
    return train_test_split(
        np.arange(len(X)),
        random_state=rng,
        test_size=est.validation_fraction,
        stratify=y if stratify else None,
    )


@quiet
@pytest.mark.parametrize("Estimator, y", BOTH)
def test_early_stopping(Estimator, y):
    est = Estimator(
        **_params(solver="adam", max_iter=200, learning_rate_init=0.05),
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=3,
    ).fit(X, y)
    assert est.best_loss_ is None
    assert isinstance(est.validation_scores_, list)
    assert len(est.validation_scores_) == est.n_iter_ == len(est.loss_curve_)
    assert est.n_iter_ < 200  # stopped early
    assert est.best_validation_score_ == max(est.validation_scores_)
    assert est.t_ == est.n_iter_ * 48  # trained on 80% of the 60 samples
    # The best weights are restored: the model scores best_validation_score_
    # on the held-out samples.
    is_clf = Estimator is ScratchMLPClassifier
    train_idx, val_idx = _validation_split(
        est, y, 3 if is_clf else 1, "log_loss" if is_clf else "squared_error", stratify=is_clf
    )
    assert len(val_idx) == 12
    assert est.score(X[val_idx], y[val_idx]) == pytest.approx(est.best_validation_score_, abs=1e-12)
    if not is_clf:
        # The last epoch was not the best one, so restoring mattered here.
        assert int(np.argmax(est.validation_scores_)) < est.n_iter_ - 1


# ---------------------------------------------------------------------------
# warm_start, n_iter_no_change, batch_size.
# ---------------------------------------------------------------------------
@quiet
@pytest.mark.parametrize("Estimator, y", BOTH)
def test_warm_start_continues(Estimator, y):
    est = Estimator(**_params(solver="adam", max_iter=5, learning_rate_init=0.01), warm_start=True)
    est.fit(X, y)
    first_curve = list(est.loss_curve_)
    theta = est._net.theta.copy()
    est.fit(X, y)
    assert len(est.loss_curve_) == 10
    assert est.loss_curve_[:5] == first_curve
    assert est.n_iter_ == 5  # per call, like scikit-learn
    assert est.t_ == 10 * len(X)
    # The second fit starts where the first stopped, not from scratch.
    assert est.loss_curve_[5] < first_curve[0]
    assert est.loss_curve_[5] < first_curve[-1] + 1e-3
    assert not np.array_equal(est._net.theta, theta)

    # Without warm_start, fit starts over: the same curve as the first fit.
    cold = clone(est).set_params(warm_start=False)
    cold.fit(X, y)
    cold.fit(X, y)
    assert cold.loss_curve_ == first_curve


@quiet
def test_warm_start_lbfgs_starts_from_previous_solution():
    est = ScratchMLPRegressor(**_params(solver="lbfgs", max_iter=10), warm_start=True).fit(X, Y_REG)
    first_loss = est.loss_
    cold_first = ScratchMLPRegressor(**_params(solver="lbfgs", max_iter=10)).fit(X, Y_REG)
    est.fit(X, Y_REG)
    second = est.loss_curve_[-est.n_iter_ :]
    # The first iteration of the second fit already improves on the first
    # fit's solution; a cold start would begin far above it.
    assert second[0] <= first_loss + 1e-12
    assert cold_first.loss_curve_[0] > first_loss
    assert est.loss_ < first_loss


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_n_iter_no_change_inf_runs_max_iter(solver):
    params = _params(solver=solver, max_iter=12, tol=10.0)  # no epoch "improves"
    est = ScratchMLPRegressor(**params, n_iter_no_change=2).fit(X, Y_REG)
    theirs = MLPRegressor(**params, n_iter_no_change=2).fit(X, Y_REG)
    # The first epoch improves on an infinite best loss, the next three don't:
    # 3 > n_iter_no_change stops after epoch 4, as in scikit-learn.
    assert est.n_iter_ == theirs.n_iter_ == 4
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        est = ScratchMLPRegressor(**params, n_iter_no_change=np.inf).fit(X, Y_REG)
    assert est.n_iter_ == 12 == len(est.loss_curve_)


@quiet
def test_batch_size_auto():
    # n < 200: 'auto' is one batch of all the samples.
    params = _params(solver="sgd", max_iter=4, shuffle=False)
    auto = ScratchMLPRegressor(**params).fit(X, Y_REG)
    full = ScratchMLPRegressor(**params, batch_size=60).fit(X, Y_REG)
    small = ScratchMLPRegressor(**params, batch_size=20).fit(X, Y_REG)
    assert auto.t_ == full.t_ == 4 * 60
    np.testing.assert_array_equal(auto._net.theta, full._net.theta)
    assert not np.allclose(auto._net.theta, small._net.theta)

    # n > 200: 'auto' is batches of 200.
    Xl = np.random.RandomState(1).randn(260, 2)
    yl = Xl[:, 0] - Xl[:, 1]
    params = _params(solver="sgd", max_iter=2, shuffle=False, hidden_layer_sizes=(3,))
    auto = ScratchMLPRegressor(**params).fit(Xl, yl)
    b200 = ScratchMLPRegressor(**params, batch_size=200).fit(Xl, yl)
    b260 = ScratchMLPRegressor(**params, batch_size=260).fit(Xl, yl)
    np.testing.assert_array_equal(auto._net.theta, b200._net.theta)
    assert not np.allclose(auto._net.theta, b260._net.theta)
    assert auto.t_ == 2 * 260


@quiet
def test_batch_size_larger_than_n_warns_and_clips():
    params = _params(solver="adam", max_iter=3)
    with pytest.warns(UserWarning, match="clipped"):
        big = ScratchMLPClassifier(**params, batch_size=1000).fit(X, Y_3)
    exact = ScratchMLPClassifier(**params, batch_size=60).fit(X, Y_3)
    np.testing.assert_array_equal(big._net.theta, exact._net.theta)
    assert big.t_ == 3 * 60


# ---------------------------------------------------------------------------
# verbose and ConvergenceWarning.
# ---------------------------------------------------------------------------
@quiet
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_verbose_prints_iterations(capsys, solver):
    est = ScratchMLPRegressor(**_params(solver=solver, max_iter=3), verbose=True).fit(X, Y_REG)
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("Iteration")]
    assert len(lines) == est.n_iter_ == 3
    for i, (line, loss) in enumerate(zip(lines, est.loss_curve_), start=1):
        assert line == "Iteration %d, loss = %.8f" % (i, loss)
    ScratchMLPRegressor(**_params(solver=solver, max_iter=3)).fit(X, Y_REG)
    assert "Iteration" not in capsys.readouterr().out


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("Estimator, y", BOTH)
def test_convergence_warning_at_max_iter_stochastic(Estimator, y, solver):
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\) reached") as record:
        est = Estimator(**_params(solver=solver, max_iter=3)).fit(X, y)
    assert all(w.category is ConvergenceWarning for w in record)
    assert est.n_iter_ == 3


@pytest.mark.parametrize("Estimator, y", BOTH)
def test_convergence_warning_at_max_iter_lbfgs(Estimator, y):
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge") as record:
        est = Estimator(**_params(solver="lbfgs", max_iter=2)).fit(X, y)
    assert all(w.category is ConvergenceWarning for w in record)
    assert est.n_iter_ == 2


# ---------------------------------------------------------------------------
# partial_fit.
# ---------------------------------------------------------------------------
@quiet
def test_partial_fit_classifier_needs_classes_on_first_call():
    est = ScratchMLPClassifier(**_params(solver="sgd"))
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        est.partial_fit(X, Y_3)
    assert "classes_" not in vars(est)
    est.partial_fit(X[:30], Y_3[:30], classes=[0, 1, 2])
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])
    est.partial_fit(X[30:], Y_3[30:])  # not needed afterwards
    # Classes absent from the first batch are known from `classes`.
    est2 = ScratchMLPClassifier(**_params(solver="adam"))
    est2.partial_fit(X[Y_3 != 2], Y_3[Y_3 != 2], classes=[0, 1, 2])
    assert est2.predict_proba(X).shape == (60, 3)
    # Multilabel targets need no classes.
    est3 = ScratchMLPClassifier(**_params(solver="adam")).partial_fit(X, Y_ML)
    assert est3.predict(X).shape == (60, 3)


@quiet
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("Estimator, y", BOTH)
def test_partial_fit_one_epoch_per_call(Estimator, y, solver):
    kw = {"classes": [0, 1, 2]} if Estimator is ScratchMLPClassifier else {}
    est = Estimator(**_params(solver=solver, batch_size=16, max_iter=3))
    est.partial_fit(X, y, **kw)
    assert est.n_iter_ == 1 and est.t_ == 60 and len(est.loss_curve_) == 1
    est.partial_fit(X[:25], y[:25])
    assert est.n_iter_ == 1 and est.t_ == 85 and len(est.loss_curve_) == 2
    assert est.loss_ == est.loss_curve_[-1]
    # The same epoch as fit with max_iter=1.
    one = Estimator(**_params(solver=solver, batch_size=16, max_iter=1))
    with pytest.warns(ConvergenceWarning):
        one.fit(X, y)
    first = Estimator(**_params(solver=solver, batch_size=16)).partial_fit(X, y, **kw)
    np.testing.assert_array_equal(first._net.theta, one._net.theta)


@quiet
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_partial_fit_keeps_optimizer_state(solver):
    params = _params(solver=solver, shuffle=False, learning_rate_init=0.05)
    twice = ScratchMLPRegressor(**params)
    twice.partial_fit(X, Y_REG).partial_fit(X, Y_REG)
    again = ScratchMLPRegressor(**params)
    again.partial_fit(X, Y_REG).partial_fit(X, Y_REG)
    np.testing.assert_array_equal(twice._net.theta, again._net.theta)  # deterministic

    # The same two epochs, but the second with a fresh optimizer (a warm-started
    # fit of one epoch makes a new one): different weights, so partial_fit kept
    # the momentum / Adam moments across calls.
    fresh = ScratchMLPRegressor(**params)
    fresh.partial_fit(X, Y_REG)
    fresh.set_params(warm_start=True, max_iter=1).fit(X, Y_REG)
    assert fresh.t_ == twice.t_ == 120
    assert not np.allclose(fresh._net.theta, twice._net.theta, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("Estimator", [ScratchMLPClassifier, ScratchMLPRegressor])
def test_partial_fit_only_for_stochastic_solvers(Estimator):
    assert not hasattr(Estimator(solver="lbfgs"), "partial_fit")
    assert hasattr(Estimator(solver="sgd"), "partial_fit")
    assert hasattr(Estimator(solver="adam"), "partial_fit")
    est = Estimator(solver="adam")
    est.set_params(solver="lbfgs")
    assert not hasattr(est, "partial_fit")


# ---------------------------------------------------------------------------
# sample_weight.
# ---------------------------------------------------------------------------
@quiet
@pytest.mark.parametrize("Estimator, y", BOTH)
def test_integer_sample_weight_equals_repetition(Estimator, y):
    sw = np.random.RandomState(3).randint(1, 4, size=60)
    params = _params(solver="lbfgs", max_iter=30, alpha=1e-2)
    weighted = Estimator(**params).fit(X, y, sample_weight=sw)
    repeated = Estimator(**params).fit(np.repeat(X, sw, axis=0), np.repeat(y, sw))
    assert weighted.loss_ == pytest.approx(repeated.loss_, rel=1e-8)
    for a, b in zip(_all_params(weighted), _all_params(repeated)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)


@quiet
@pytest.mark.parametrize("Estimator, y", BOTH)
def test_zero_sample_weight_equals_dropping(Estimator, y):
    sw = np.ones(60)
    sw[::4] = 0
    params = _params(solver="lbfgs", max_iter=30, alpha=1e-2)
    weighted = Estimator(**params).fit(X, y, sample_weight=sw)
    dropped = Estimator(**params).fit(X[sw > 0], y[sw > 0])
    assert weighted.loss_ == pytest.approx(dropped.loss_, rel=1e-8)
    for a, b in zip(_all_params(weighted), _all_params(dropped)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)


@quiet
def test_unit_sample_weight_equals_none():
    params = _params(solver="adam", max_iter=5)
    a = ScratchMLPClassifier(**params).fit(X, Y_3, sample_weight=np.ones(60))
    b = ScratchMLPClassifier(**params).fit(X, Y_3)
    np.testing.assert_allclose(a._net.theta, b._net.theta, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------------
# Labels and reproducibility.
# ---------------------------------------------------------------------------
@quiet
@pytest.mark.parametrize("dtype", [str, object])
def test_string_and_object_labels(dtype):
    names = np.array(["cat", "dog", "bird"], dtype=dtype)
    y = names[Y_3]
    params = _params(solver="lbfgs")
    est = ScratchMLPClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(est.classes_, ["bird", "cat", "dog"])
    pred = est.predict(X)
    assert pred.shape == (60,)
    assert set(pred) <= {"cat", "dog", "bird"}
    assert est.score(X, y) > 0.9
    # Same one-hot columns as integer codes of the sorted classes: same model.
    codes = np.searchsorted(["bird", "cat", "dog"], y.astype(str))
    coded = ScratchMLPClassifier(**params).fit(X, codes)
    np.testing.assert_array_equal(est.predict_proba(X), coded.predict_proba(X))
    np.testing.assert_array_equal(pred, est.classes_[coded.predict(X)])
    # Binary string labels too.
    yb = np.array(["no", "yes"], dtype=dtype)[Y_BIN]
    bin_est = ScratchMLPClassifier(**params).fit(X, yb)
    assert set(bin_est.predict(X)) <= {"no", "yes"}
    assert bin_est.predict_proba(X).shape == (60, 2)


@quiet
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_random_state_reproducible(solver):
    params = _params(solver=solver, max_iter=5, batch_size=16)
    a = ScratchMLPClassifier(**params).fit(X, Y_3)
    b = ScratchMLPClassifier(**params).fit(X, Y_3)
    for u, v in zip(_all_params(a), _all_params(b)):
        np.testing.assert_array_equal(u, v)
    assert a.loss_curve_ == b.loss_curve_
    # A RandomState instance seeded alike gives the same fit.
    c = ScratchMLPClassifier(**{**params, "random_state": np.random.RandomState(0)}).fit(X, Y_3)
    np.testing.assert_array_equal(a._net.theta, c._net.theta)
    d = ScratchMLPClassifier(**{**params, "random_state": 1}).fit(X, Y_3)
    assert not np.allclose(a._net.theta, d._net.theta)
