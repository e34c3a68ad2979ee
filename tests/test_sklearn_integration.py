"""The estimators inside scikit-learn's machinery: search, clone, pickle, pipelines, routing."""

from __future__ import annotations

import io
import pickle

import joblib
import numpy as np
import pytest
import sklearn
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.datasets import load_diabetes, load_digits, load_iris
from sklearn.exceptions import UnsetMetadataPassedError
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    ParameterGrid,
    StratifiedKFold,
    cross_val_score,
    cross_validate,
)
from sklearn.multioutput import MultiOutputClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from scratchmlp import ScratchMLPClassifier, ScratchMLPRegressor

# Short fits are the point of several tests below; both libraries warn alike.
pytestmark = pytest.mark.usefixtures("one_blas_thread", "quiet_convergence")


@pytest.fixture(scope="module")
def digits_small():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return X, y / 100.0  # positive and of order 1, for both losses


# ---------------------------------------------------------------------------
# Grid search: a grid written for scikit-learn's MLPs runs unchanged.
# ---------------------------------------------------------------------------
CLASSIFIER_GRID = {
    "hidden_layer_sizes": [(50,), (100,)],
    "alpha": [1e-4, 1e-3],
    "activation": ["relu", "tanh"],
    "solver": ["adam", "lbfgs"],
    "learning_rate_init": [1e-3, 1e-2],
}

REGRESSOR_GRID = {
    "hidden_layer_sizes": [(20,), (40,)],
    "alpha": [1e-4, 1e-1],
    "activation": ["relu", "tanh"],
    "solver": ["adam", "lbfgs"],
    "loss": ["squared_error", "poisson"],
}


def _check_search(search, grid, X):
    expected = list(ParameterGrid(grid))
    assert search.cv_results_["params"] == expected
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all()
    # The parameters reach the estimators: the candidates do not all score alike.
    assert np.unique(np.round(scores, 6)).size > 1
    best = search.best_estimator_
    assert best.get_params() | search.best_params_ == best.get_params()
    assert best.coefs_[0].shape == (X.shape[1], search.best_params_["hidden_layer_sizes"][0])
    assert best.n_features_in_ == X.shape[1]


def test_grid_search_classifier(digits_small):
    X, y = digits_small
    search = GridSearchCV(
        ScratchMLPClassifier(max_iter=30, random_state=0), CLASSIFIER_GRID, cv=3
    ).fit(X, y)
    _check_search(search, CLASSIFIER_GRID, X)
    assert isinstance(search.best_estimator_, ScratchMLPClassifier)
    assert search.best_score_ > 0.85
    assert search.predict(X).shape == (len(X),)
    assert search.predict_proba(X).shape == (len(X), 10)
    assert search.score(X, y) > 0.9


def test_grid_search_regressor_in_parallel(diabetes):
    """Also through joblib's worker processes (the estimator is pickled to them)."""
    X, y = diabetes
    search = GridSearchCV(
        ScratchMLPRegressor(max_iter=50, learning_rate_init=0.01, random_state=0),
        REGRESSOR_GRID,
        cv=3,
        n_jobs=2,
    ).fit(X, y)
    _check_search(search, REGRESSOR_GRID, X)
    assert isinstance(search.best_estimator_, ScratchMLPRegressor)
    assert search.best_score_ > 0.3
    assert search.predict(X).shape == (len(X),)


def test_grid_search_over_pipeline_step_params(digits_small):
    X, y = digits_small
    pipe = Pipeline([("scale", StandardScaler()), ("mlp", ScratchMLPClassifier(random_state=0))])
    grid = {
        "mlp__hidden_layer_sizes": [(20,), (10, 10)],
        "mlp__solver": ["lbfgs"],
        "mlp__max_iter": [50],
    }
    search = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    assert search.best_score_ > 0.85
    assert (
        search.best_estimator_.named_steps["mlp"].n_layers_
        == len(search.best_params_["mlp__hidden_layer_sizes"]) + 2
    )


# ---------------------------------------------------------------------------
# clone
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [ScratchMLPClassifier, ScratchMLPRegressor])
def test_clone_keeps_parameters(cls, digits_small):
    params = dict(
        hidden_layer_sizes=(7, 5),
        activation="leaky_relu",
        solver="sgd",
        alpha=0.01,
        batch_size=32,
        learning_rate="adaptive",
        learning_rate_init=0.05,
        max_iter=3,
        random_state=np.random.RandomState(3),
        momentum=0.5,
        nesterovs_momentum=False,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=np.inf,
    )
    est = cls(**params)
    copy = clone(est)
    assert copy is not est
    assert type(copy) is cls
    assert copy.get_params().keys() == est.get_params().keys()
    for name, value in est.get_params().items():
        if name == "random_state":
            # clone deep-copies a RandomState: same state, new object.
            assert value.get_state()[1].tolist() == copy.random_state.get_state()[1].tolist()
        else:
            assert copy.get_params()[name] == value, name
    # A clone of a fitted estimator is unfitted and has the same parameters.
    X, y = digits_small
    est.set_params(random_state=0).fit(X, y if is_classifier(est) else y / 9.0)
    refit = clone(est)
    assert refit.get_params() == est.get_params()
    assert not hasattr(refit, "coefs_")
    assert not hasattr(refit, "n_features_in_")
    assert is_classifier(est) != is_regressor(est)


# ---------------------------------------------------------------------------
# pickle and joblib
# ---------------------------------------------------------------------------
def _round_trips(est):
    yield "pickle", pickle.loads(pickle.dumps(est))
    buffer = io.BytesIO()
    joblib.dump(est, buffer)
    buffer.seek(0)
    yield "joblib", joblib.load(buffer)


@pytest.fixture(
    params=[
        ("classifier", "adam"),
        ("classifier", "lbfgs"),
        ("regressor", "sgd"),
        ("regressor", "lbfgs"),
    ],
    ids=lambda p: "-".join(p),
)
def fitted(request, digits_small):
    kind, solver = request.param
    X, y = digits_small
    if kind == "classifier":
        est = ScratchMLPClassifier(
            hidden_layer_sizes=(20, 10), solver=solver, max_iter=20, random_state=0
        )
    else:
        est = ScratchMLPRegressor(
            hidden_layer_sizes=(20, 10), solver=solver, max_iter=20, random_state=0
        )
        y = y / 9.0
    return est.fit(X, y), X, y


def test_pickle_and_joblib_round_trip_predict_identically(fitted):
    est, X, _ = fitted
    for how, loaded in _round_trips(est):
        assert type(loaded) is type(est), how
        assert loaded.get_params() == est.get_params(), how
        np.testing.assert_array_equal(loaded.predict(X), est.predict(X), err_msg=how)
        if is_classifier(est):
            np.testing.assert_array_equal(
                loaded.predict_proba(X), est.predict_proba(X), err_msg=how
            )
            np.testing.assert_array_equal(loaded.classes_, est.classes_)
        for a, b in zip(loaded.coefs_, est.coefs_):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(loaded.intercepts_, est.intercepts_):
            np.testing.assert_array_equal(a, b)
        assert loaded.loss_curve_ == est.loss_curve_
        assert loaded.n_iter_ == est.n_iter_
        assert loaded.n_layers_ == est.n_layers_ and loaded.n_outputs_ == est.n_outputs_
        assert loaded.out_activation_ == est.out_activation_


def test_views_survive_unpickling(fitted):
    est, X, _ = fitted
    for how, loaded in _round_trips(est):
        # coefs_[i] is a view of weights_[i + 1].T; intercepts_[i] of biases_[i + 1].
        for i, (coef, intercept) in enumerate(zip(loaded.coefs_, loaded.intercepts_)):
            assert np.shares_memory(coef, loaded.weights_[i + 1]), how
            assert np.shares_memory(intercept, loaded.biases_[i + 1]), how

        def output(model):
            return model.predict_proba(X[:5]) if is_classifier(model) else model.predict(X[:5])

        before = output(loaded).copy()
        loaded.weights_[1][0, 0] += 1.0
        assert loaded.coefs_[0][0, 0] == est.coefs_[0][0, 0] + 1.0, how
        loaded.weights_[1][...] = 0.0
        assert not loaded.coefs_[0].any(), how
        loaded.biases_[1][...] = 0.0
        assert not loaded.intercepts_[0].any(), how
        # ...and the network computes with those very arrays.
        assert not np.allclose(output(loaded), before), how
        # The original is untouched.
        assert est.coefs_[0].any()


def test_setting_coefs_writes_through_to_weights(fitted):
    est, X, _ = fitted
    loaded = pickle.loads(pickle.dumps(est))
    new = [np.zeros_like(c) for c in loaded.coefs_]
    loaded.coefs_ = new
    assert all(not w.any() for w in loaded.weights_[1:])
    # Every output is then the output activation of the last intercepts only.
    out = loaded.predict(X[:3]) if not is_classifier(est) else loaded.predict_proba(X[:3])
    assert np.allclose(out, out[0])


def test_partial_fit_continues_identically_after_unpickling(digits_small):
    X, y = digits_small
    est = ScratchMLPClassifier(hidden_layer_sizes=(20,), random_state=0)
    est.partial_fit(X, y, classes=np.arange(10))
    loaded = pickle.loads(pickle.dumps(est))
    est.partial_fit(X, y)
    loaded.partial_fit(X, y)
    for a, b in zip(loaded.coefs_, est.coefs_):
        np.testing.assert_array_equal(a, b)
    assert loaded.t_ == est.t_ == 2 * len(X)


# ---------------------------------------------------------------------------
# Pipelines and cross-validation
# ---------------------------------------------------------------------------
def test_pipeline_cross_val_score_classifier():
    X, y = load_iris(return_X_y=True)
    mlp = ScratchMLPClassifier(max_iter=500, random_state=0)
    pipe = Pipeline([("scale", StandardScaler()), ("mlp", mlp)])
    scores = cross_val_score(pipe, X, y, cv=StratifiedKFold(5, shuffle=True, random_state=0))
    assert scores.shape == (5,)
    assert scores.mean() > 0.9
    # The fitted pipeline exposes the classifier's API.
    pipe.fit(X, y)
    np.testing.assert_allclose(pipe.predict_proba(X).sum(axis=1), 1.0)
    np.testing.assert_array_equal(pipe.classes_, [0, 1, 2])


def test_pipeline_cross_val_score_regressor(diabetes):
    X, y = diabetes
    mlp = ScratchMLPRegressor(solver="lbfgs", alpha=10.0, hidden_layer_sizes=(16,), random_state=0)
    pipe = make_pipeline(StandardScaler(), mlp)
    scores = cross_val_score(pipe, X, y, cv=KFold(5, shuffle=True, random_state=0), scoring="r2")
    assert scores.mean() > 0.3


# ---------------------------------------------------------------------------
# Metadata routing
# ---------------------------------------------------------------------------
@pytest.fixture
def weighted_data(digits_small):
    X, y = digits_small
    w = np.where(y < 5, 5.0, 0.2)  # strongly uneven, so weighting shows
    return X, y, w


def _same_weights(a, b):
    return all(np.array_equal(c, d) for c, d in zip(a.coefs_, b.coefs_))


def _mlp():
    return ScratchMLPClassifier(hidden_layer_sizes=(20,), max_iter=20, random_state=0)


def _weighted_fit_request(fit=True):
    # score() takes sample_weight too, so routing needs a decision on both.
    return _mlp().set_fit_request(sample_weight=fit).set_score_request(sample_weight=False)


def test_routing_sample_weight_through_cross_validate(weighted_data):
    X, y, w = weighted_data
    cv = KFold(3, shuffle=True, random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        weighted_est = _weighted_fit_request()
        weighted = cross_validate(
            weighted_est,
            X,
            y,
            cv=cv,
            params={"sample_weight": w},
            return_estimator=True,
            return_indices=True,
        )
        plain = cross_validate(_weighted_fit_request(), X, y, cv=cv, return_estimator=True)
    for fold, (est_w, est_u, train) in enumerate(
        zip(weighted["estimator"], plain["estimator"], weighted["indices"]["train"])
    ):
        # The routed weights changed the fit...
        assert not _same_weights(est_w, est_u), fold
        # ...and are exactly the training fold's slice of w.
        manual = _mlp().fit(X[train], y[train], sample_weight=w[train])
        assert _same_weights(est_w, manual), fold


def test_routing_sample_weight_through_grid_search(weighted_data):
    X, y, w = weighted_data
    grid = {"alpha": [1e-4, 1e-2]}
    with sklearn.config_context(enable_metadata_routing=True):
        est = _weighted_fit_request()
        weighted = GridSearchCV(est, grid, cv=3).fit(X, y, sample_weight=w)
        plain = GridSearchCV(clone(est), grid, cv=3).fit(X, y)
    best = weighted.best_params_
    # The refit on all the data used all the weights, and they made a difference.
    weighted_fit = _mlp().set_params(**best).fit(X, y, sample_weight=w)
    assert _same_weights(weighted.best_estimator_, weighted_fit)
    assert not _same_weights(weighted.best_estimator_, _mlp().set_params(**best).fit(X, y))
    # The folds were fitted with weights too: the scores differ from the unweighted search.
    assert not np.allclose(
        weighted.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"]
    )


def test_routing_requires_an_explicit_request(weighted_data):
    X, y, w = weighted_data
    with sklearn.config_context(enable_metadata_routing=True):
        with pytest.raises(UnsetMetadataPassedError):
            cross_validate(_mlp(), X, y, cv=3, params={"sample_weight": w})


def test_declined_fit_request_fits_unweighted(weighted_data):
    """fit declines the weights (score takes them): the fits are the unweighted ones."""
    X, y, w = weighted_data
    with sklearn.config_context(enable_metadata_routing=True):
        est = _mlp().set_fit_request(sample_weight=False).set_score_request(sample_weight=True)
        declined = cross_validate(
            est,
            X,
            y,
            cv=KFold(3),
            params={"sample_weight": w},
            return_estimator=True,
            return_indices=True,
        )
        plain = cross_validate(_mlp(), X, y, cv=KFold(3), return_estimator=True)
    for a, b in zip(declined["estimator"], plain["estimator"]):
        assert _same_weights(a, b)
    # The score did get the test fold's weights.
    for score, fitted, test in zip(
        declined["test_score"], declined["estimator"], declined["indices"]["test"]
    ):
        assert score == pytest.approx(fitted.score(X[test], y[test], sample_weight=w[test]))
        assert score != pytest.approx(fitted.score(X[test], y[test]))


def test_partial_fit_request_exists_and_routes(digits_small):
    X, y = digits_small
    with sklearn.config_context(enable_metadata_routing=True):
        est = ScratchMLPClassifier(hidden_layer_sizes=(10,), random_state=0)
        assert est.set_partial_fit_request(classes=True, sample_weight=True) is est
        routing = est.get_metadata_routing()
        assert routing.consumes("partial_fit", ["classes", "sample_weight"]) == {
            "classes",
            "sample_weight",
        }
        assert routing.consumes("fit", ["sample_weight"]) == set()  # not requested
        reg = ScratchMLPRegressor().set_partial_fit_request(sample_weight=True)
        assert reg.get_metadata_routing().consumes("partial_fit", ["sample_weight"]) == {
            "sample_weight"
        }
        with pytest.raises(TypeError):
            ScratchMLPRegressor().set_partial_fit_request(classes=True)  # no such parameter

        # A meta-estimator routes partial_fit's sample_weight to each output's MLP.
        Y = np.c_[y % 2, y < 5].astype(int)
        w = np.where(y < 5, 5.0, 0.2)
        weighted = MultiOutputClassifier(clone(est)).partial_fit(
            X, Y, classes=[[0, 1], [0, 1]], sample_weight=w
        )
        plain = MultiOutputClassifier(clone(est)).partial_fit(X, Y, classes=[[0, 1], [0, 1]])
    for est_w, est_u, column in zip(weighted.estimators_, plain.estimators_, Y.T):
        assert not _same_weights(est_w, est_u)
        manual = ScratchMLPClassifier(hidden_layer_sizes=(10,), random_state=0).partial_fit(
            X, column, classes=[0, 1], sample_weight=w
        )
        assert _same_weights(est_w, manual)
