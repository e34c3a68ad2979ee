"""Bad input: a clear error naming the problem, and the estimator unchanged.

For a fitted estimator, "unchanged" means: the same ``__dict__`` keys, the same
parameters, weights, fitted attributes and predictions. For an unfitted one:
still unfitted (``check_is_fitted`` raises ``NotFittedError``).
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.validation import check_is_fitted
from testdata import TRUST

import scratchmlp
from scratchmlp import DivergenceWarning, ScratchMLPClassifier, ScratchMLPRegressor

quiet = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

X, Y_REG = TRUST.X, TRUST.y_reg
Y_CLF = np.digitize(X[:, 0] - X[:, 1], [-0.5, 0.5])  # classes 0, 1, 2

ESTIMATORS = {
    "classifier": (ScratchMLPClassifier, Y_CLF),
    "regressor": (ScratchMLPRegressor, Y_REG),
}
FITTED_ATTRIBUTES = [
    "loss_",
    "best_loss_",
    "loss_curve_",
    "validation_scores_",
    "best_validation_score_",
    "t_",
    "n_iter_",
    "n_features_in_",
    "n_layers_",
    "n_outputs_",
    "out_activation_",
]


def _make(kind, solver="adam", **kw):
    Estimator, y = ESTIMATORS[kind]
    params = dict(hidden_layer_sizes=(5,), solver=solver, max_iter=10, random_state=0)
    params.update(kw)
    return Estimator(**params), y


def _fitted(kind, solver="adam", **kw):
    est, y = _make(kind, solver, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    return est, y


def _snapshot(est):
    snap = {"keys": set(vars(est)), "params": est.get_params(deep=False)}
    try:
        check_is_fitted(est)
    except NotFittedError:
        snap["fitted"] = False
        return snap
    snap["fitted"] = True
    snap["coefs"] = [c.copy() for c in est.coefs_]
    snap["intercepts"] = [b.copy() for b in est.intercepts_]
    snap["attrs"] = {name: _copy(getattr(est, name)) for name in FITTED_ATTRIBUTES}
    if hasattr(est, "classes_"):
        snap["attrs"]["classes_"] = est.classes_.copy()
    snap["predict"] = est.predict(X).copy()
    if hasattr(est, "predict_proba"):
        snap["proba"] = est.predict_proba(X).copy()
    return snap


def _copy(value):
    return list(value) if isinstance(value, list) else value


def _assert_unchanged(est, snap):
    assert set(vars(est)) == snap["keys"]
    assert est.get_params(deep=False) == snap["params"]
    if not snap["fitted"]:
        with pytest.raises(NotFittedError):
            check_is_fitted(est)
        return
    check_is_fitted(est)
    for a, b in zip(est.coefs_ + est.intercepts_, snap["coefs"] + snap["intercepts"]):
        np.testing.assert_array_equal(a, b)
    for name, value in snap["attrs"].items():
        np.testing.assert_array_equal(getattr(est, name), value, err_msg=name)
    np.testing.assert_array_equal(est.predict(X), snap["predict"])
    if "proba" in snap:
        np.testing.assert_array_equal(est.predict_proba(X), snap["proba"])


def _expect_error(est, call, exc, match):
    snap = _snapshot(est)
    with pytest.raises(exc, match=match):
        call(est)
    _assert_unchanged(est, snap)


# ---------------------------------------------------------------------------
# Bad X and y at fit, for unfitted and fitted estimators.
# ---------------------------------------------------------------------------
def _with(value, where=(3, 1), dtype=float):
    X_bad = X.astype(dtype)
    X_bad[where] = value
    return X_bad


X_STRINGS = X.astype(object)
X_STRINGS[5, 2] = "five"

BAD_X = {
    "nan": (_with(np.nan), r"Input X contains NaN"),
    "inf": (_with(np.inf), r"Input X contains infinity"),
    "neg-inf": (_with(-np.inf), r"Input X contains infinity"),
    "complex": (X + 1j, r"Complex data not supported"),
    "no-samples": (X[:0], r"0 sample\(s\)"),
    "no-features": (X[:, :0], r"0 feature\(s\)"),
    "strings": (X_STRINGS, r"could not convert string to float: .*five"),
    "1d": (X[:, 0], r"Expected a 2-dimensional container|Expected 2D array"),
}


@pytest.mark.parametrize("fitted", [False, True], ids=["unfitted", "fitted"])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("kind", list(ESTIMATORS))
@pytest.mark.parametrize("case", list(BAD_X))
def test_bad_X_at_fit(case, kind, solver, fitted):
    X_bad, match = BAD_X[case]
    est, y = (_fitted if fitted else _make)(kind, solver)
    y_bad = y[: len(X_bad)] if X_bad.ndim == 2 else y
    _expect_error(est, lambda e: e.fit(X_bad, y_bad), ValueError, match)


@pytest.mark.parametrize("case", ["nan", "inf", "complex", "strings"])
@pytest.mark.parametrize("kind", list(ESTIMATORS))
def test_bad_X_at_partial_fit(case, kind):
    X_bad, match = BAD_X[case]
    kw = {"classes": [0, 1, 2]} if kind == "classifier" else {}
    # First call: stays unfitted (the classifier does not keep classes_).
    est, y = _make(kind, "sgd")
    _expect_error(est, lambda e: e.partial_fit(X_bad, y, **kw), ValueError, match)
    assert "classes_" not in vars(est)
    # Later call: the model is unchanged.
    est.partial_fit(X, y, **kw)
    _expect_error(est, lambda e: e.partial_fit(X_bad, y), ValueError, match)


@pytest.mark.parametrize("case", list(BAD_X))
@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba", "score"])
def test_bad_X_at_predict(case, method):
    X_bad, match = BAD_X[case]
    est, y = _fitted("classifier", "lbfgs")
    if method == "score":
        call = lambda e: e.score(X_bad, y[: len(X_bad)] if X_bad.ndim == 2 else y)  # noqa: E731
    else:
        call = lambda e: getattr(e, method)(X_bad)  # noqa: E731
    _expect_error(est, call, ValueError, match)


@pytest.mark.parametrize("fitted", [False, True], ids=["unfitted", "fitted"])
@pytest.mark.parametrize("kind", list(ESTIMATORS))
def test_y_with_nan(kind, fitted):
    est, y = (_fitted if fitted else _make)(kind, "lbfgs")
    y_bad = y.astype(float)
    y_bad[7] = np.nan
    _expect_error(est, lambda e: e.fit(X, y_bad), ValueError, r"Input y contains NaN")
    y_bad[7] = np.inf
    _expect_error(est, lambda e: e.fit(X, y_bad), ValueError, r"Input y contains infinity")


@pytest.mark.parametrize("fitted", [False, True], ids=["unfitted", "fitted"])
@pytest.mark.parametrize("first", ["string", "number"])
def test_labels_mixing_strings_and_numbers(first, fitted):
    est, _ = (_fitted if fitted else _make)("classifier", "lbfgs")
    pair = ["cat", 1] if first == "string" else [1, "cat"]
    y_mixed = np.array(pair * 20, dtype=object)
    _expect_error(
        est, lambda e: e.fit(X, y_mixed), ValueError, r"(?i)mix.*string.*number|string.*and.*number"
    )


@pytest.mark.parametrize("fitted", [False, True], ids=["unfitted", "fitted"])
def test_continuous_y_for_classifier(fitted):
    est, _ = (_fitted if fitted else _make)("classifier", "lbfgs")
    _expect_error(est, lambda e: e.fit(X, Y_REG), ValueError, r"Unknown label type: continuous")


@pytest.mark.parametrize("fitted", [False, True], ids=["unfitted", "fitted"])
@pytest.mark.parametrize("kind", list(ESTIMATORS))
def test_mismatched_lengths(kind, fitted):
    est, y = (_fitted if fitted else _make)(kind, "lbfgs")
    _expect_error(est, lambda e: e.fit(X, y[:-1]), ValueError, r"inconsistent numbers of samples")
    _expect_error(
        est,
        lambda e: e.fit(X, y, sample_weight=np.ones(39)),
        ValueError,
        r"sample_weight.shape == \(39,\), expected \(40,\)",
    )


# ---------------------------------------------------------------------------
# Wrong number of features, unseen classes.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(ESTIMATORS))
def test_wrong_number_of_features_at_predict(kind):
    est, y = _fitted(kind, "lbfgs")
    name = type(est).__name__
    match = rf"X has 3 features, but {name} is expecting 4 features as input"
    _expect_error(est, lambda e: e.predict(X[:, :3]), ValueError, match)
    _expect_error(est, lambda e: e.score(X[:, :3], y), ValueError, match)
    if kind == "classifier":
        _expect_error(est, lambda e: e.predict_proba(X[:, :3]), ValueError, match)
        _expect_error(est, lambda e: e.predict_log_proba(X[:, :3]), ValueError, match)


@pytest.mark.parametrize("kind", list(ESTIMATORS))
def test_wrong_number_of_features_at_partial_fit_and_warm_start(kind):
    kw = {"classes": [0, 1, 2]} if kind == "classifier" else {}
    est, y = _make(kind, "sgd")
    est.partial_fit(X, y, **kw)
    _expect_error(
        est,
        lambda e: e.partial_fit(np.c_[X, X[:, 0]], y),
        ValueError,
        r"X has 5 features, but \w+ is expecting 4 features",
    )
    est, y = _fitted(kind, "adam", warm_start=True)
    _expect_error(
        est,
        lambda e: e.fit(np.c_[X, X[:, 0]], y),
        ValueError,
        r"X has 5 features, but \w+ is expecting 4 features",
    )


def test_unseen_classes_in_partial_fit():
    est, y = _make("classifier", "sgd")
    est.partial_fit(X, y, classes=[0, 1, 2])
    y_new = y.copy()
    y_new[:3] = 7
    _expect_error(
        est,
        lambda e: e.partial_fit(X, y_new),
        ValueError,
        r"`y` has classes not in `self.classes_`",
    )
    _expect_error(
        est,
        lambda e: e.partial_fit(X, y, classes=[0, 1, 2, 7]),
        ValueError,
        r"classes=.* is not the same as on the first call",
    )
    # Labels outside `classes` on the first call.
    fresh, _ = _make("classifier", "adam")
    _expect_error(
        fresh,
        lambda e: e.partial_fit(X, y, classes=[0, 1]),
        ValueError,
        r"`y` has classes not in `self.classes_`",
    )


def test_warm_start_with_other_classes():
    est, y = _fitted("classifier", "adam", warm_start=True)
    y_other = np.where(y == 2, 1, y)  # class 2 missing
    _expect_error(
        est,
        lambda e: e.fit(X, y_other),
        ValueError,
        r"warm_start can only be used where `y` has the same classes",
    )


def test_partial_fit_with_early_stopping():
    est, y = _make("regressor", "adam", early_stopping=True)
    _expect_error(
        est,
        lambda e: e.partial_fit(X, y),
        ValueError,
        r"partial_fit does not support early_stopping=True",
    )
    est, y = _make("classifier", "adam", early_stopping=True)
    _expect_error(
        est,
        lambda e: e.partial_fit(X, y, classes=[0, 1, 2]),
        ValueError,
        r"partial_fit does not support early_stopping=True",
    )
    assert "classes_" not in vars(est)


# ---------------------------------------------------------------------------
# Poisson, sample_weight, invalid parameters.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("fitted", [False, True], ids=["unfitted", "fitted"])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_negative_y_with_poisson(solver, fitted):
    est, _ = _make("regressor", solver, loss="poisson")
    if fitted:  # a model fitted on valid (non-negative) targets
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, np.abs(Y_REG))
    y_bad = np.abs(Y_REG)
    y_bad[4] = -0.5
    _expect_error(
        est,
        lambda e: e.fit(X, y_bad),
        ValueError,
        r"loss='poisson' requires non-negative targets.*-0\.5",
    )
    if solver != "lbfgs" and fitted:
        _expect_error(est, lambda e: e.partial_fit(X, y_bad), ValueError, r"non-negative")


@pytest.mark.parametrize("fitted", [False, True], ids=["unfitted", "fitted"])
@pytest.mark.parametrize("kind", list(ESTIMATORS))
def test_bad_sample_weight(kind, fitted):
    est, y = (_fitted if fitted else _make)(kind, "lbfgs")
    sw = np.ones(40)
    sw[3] = -1.0
    _expect_error(
        est,
        lambda e: e.fit(X, y, sample_weight=sw),
        ValueError,
        r"Negative values in data passed to `sample_weight`",
    )
    sw[3] = np.nan
    _expect_error(
        est,
        lambda e: e.fit(X, y, sample_weight=sw),
        ValueError,
        r"(?i)sample_weight.*NaN|Input contains NaN",
    )
    _expect_error(
        est,
        lambda e: e.fit(X, y, sample_weight=np.zeros(40)),
        ValueError,
        r"(?i)sample weights must contain at least one non-zero|sums to zero",
    )


@pytest.mark.parametrize(
    "param, value, match",
    [
        ("alpha", -1.0, r"The 'alpha' parameter"),
        ("hidden_layer_sizes", (5, 0), r"hidden_layer_sizes"),
        ("activation", "no_such_activation", r"activation"),
        ("solver", "newton", r"The 'solver' parameter"),
        ("learning_rate_init", 0.0, r"The 'learning_rate_init' parameter"),
        ("max_iter", 0, r"The 'max_iter' parameter"),
        ("batch_size", 0, r"The 'batch_size' parameter"),
        ("momentum", 1.5, r"The 'momentum' parameter"),
        ("validation_fraction", 1.0, r"The 'validation_fraction' parameter"),
    ],
)
@pytest.mark.parametrize("fitted", [False, True], ids=["unfitted", "fitted"])
def test_invalid_parameters(param, value, match, fitted):
    est, y = (_fitted if fitted else _make)("classifier", "adam")
    est.set_params(**{param: value})
    _expect_error(est, lambda e: e.fit(X, y), ValueError, match)


# ---------------------------------------------------------------------------
# Not fitted.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba", "score"])
def test_predict_before_fit_classifier(method):
    est, y = _make("classifier")
    args = (X, y) if method == "score" else (X,)
    _expect_error(est, lambda e: getattr(e, method)(*args), NotFittedError, r"not fitted yet")


@pytest.mark.parametrize("method", ["predict", "score"])
def test_predict_before_fit_regressor(method):
    est, y = _make("regressor")
    args = (X, y) if method == "score" else (X,)
    _expect_error(est, lambda e: getattr(e, method)(*args), NotFittedError, r"not fitted yet")


@pytest.mark.parametrize("kind", list(ESTIMATORS))
def test_fitted_attributes_before_fit(kind):
    est, _ = _make(kind)
    for name in ["coefs_", "intercepts_", "weights_", "n_layers_", "loss_", "n_iter_", "t_"]:
        assert not hasattr(est, name), name
    with pytest.raises(AttributeError, match="not fitted yet"):
        _ = est.coefs_


# ---------------------------------------------------------------------------
# Overflow and divergence.
# ---------------------------------------------------------------------------
OVERFLOW_CASES = [
    ("regressor", "lbfgs"),
    ("regressor", "adam"),
    ("regressor", "sgd"),
    ("classifier", "lbfgs"),
]
OVERFLOW_MATCH = r"(?s)non-finite.*[Ss]cale the input"


@pytest.mark.parametrize("fitted", [False, True], ids=["unfitted", "fitted"])
@pytest.mark.parametrize("kind, solver", OVERFLOW_CASES)
def test_overflowing_input_raises(kind, solver, fitted):
    """With the project's filterwarnings=error::RuntimeWarning: no numpy warning may leak."""
    est, y = (_fitted if fitted else _make)(kind, solver)
    _expect_error(est, lambda e: e.fit(X * 1e300, y), ValueError, OVERFLOW_MATCH)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("fitted", [False, True], ids=["unfitted", "fitted"])
@pytest.mark.parametrize("kind, solver", OVERFLOW_CASES)
def test_overflowing_input_message_and_state(kind, solver, fitted):
    """The same, tolerating numpy's RuntimeWarnings: the error and the rollback."""
    est, y = (_fitted if fitted else _make)(kind, solver)
    _expect_error(est, lambda e: e.fit(X * 1e300, y), ValueError, OVERFLOW_MATCH)


def _diverging_regressor(learning_rate_init=10.0, **params):
    rng = np.random.RandomState(0)
    Xd = rng.randn(60, 3)
    yd = 100 * (Xd @ [1.0, -2.0, 0.5]) + 50 * rng.randn(60)  # targets of scale ~100
    est = ScratchMLPRegressor(
        hidden_layer_sizes=(5,),
        solver="sgd",
        learning_rate_init=learning_rate_init,
        momentum=0.9,
        max_iter=50,
        random_state=0,
    ).set_params(**params)
    return est, Xd, yd


def _check_diverged_model(est, Xd, record, cause="non-finite"):
    assert issubclass(DivergenceWarning, ConvergenceWarning)
    assert scratchmlp.DivergenceWarning is DivergenceWarning
    diverged = [w for w in record if w.category is DivergenceWarning]
    assert len(diverged) == 1
    message = str(diverged[0].message)
    assert "diverged" in message and cause in message
    if cause == "non-finite":
        assert f"epoch {est.n_iter_ + 1}" in message
        # At least one finite epoch before the divergence, and only finite ones kept.
        assert 1 <= est.n_iter_ < 50
    else:
        # One step per epoch: the run's first epoch started far above, so
        # the fit goes back to its initial parameters.
        assert "epoch 2" in message and "keeps its initial parameters" in message
        assert est.n_iter_ == 0
    assert len(est.loss_curve_) == est.n_iter_
    assert np.isfinite(est.loss_curve_).all()
    for W in est.coefs_ + est.intercepts_:
        assert np.isfinite(W).all()
    assert np.isfinite(est.predict(Xd)).all()


def test_divergence_warns():
    """With the project's filterwarnings=error::RuntimeWarning: only the DivergenceWarning."""
    # Small batches: epoch 1 stays below 10 times its start and the cost
    # overflows within epoch 2, before any epoch far above its start is
    # complete (those are tests/test_divergence.py's).
    est, Xd, yd = _diverging_regressor(0.004, batch_size=5)
    with pytest.warns(DivergenceWarning, match=r"Training diverged in epoch \d+") as record:
        est.fit(Xd, yd)
    _check_diverged_model(est, Xd, record)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(
    "learning_rate_init, params, cause",
    [
        (0.004, {"batch_size": 5}, "non-finite"),
        # Full batches: the loss explodes but stays finite for an epoch, and
        # the practical rule stops it there.
        (10.0, {}, "far above"),
        (3.0, {}, "far above"),
        (1.0, {}, "far above"),
    ],
)
def test_divergence_keeps_a_finite_model(learning_rate_init, params, cause):
    """Tolerating numpy's RuntimeWarnings: the kept model predicts finite values."""
    est, Xd, yd = _diverging_regressor(learning_rate_init, **params)
    with pytest.warns(DivergenceWarning) as record:
        est.fit(Xd, yd)
    _check_diverged_model(est, Xd, record, cause)


# ---------------------------------------------------------------------------
# warm_start with another architecture.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(ESTIMATORS))
@pytest.mark.parametrize(
    "param, value, match",
    [
        ("hidden_layer_sizes", (6,), r"layer sizes \[4, 5, \d\].*\[4, 6, \d\]"),
        ("hidden_layer_sizes", (5, 5), r"layer sizes"),
        ("activation", "tanh", r"activations? of the previous fit.*relu.*activation='tanh'"),
    ],
)
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_warm_start_after_changing_architecture(kind, param, value, match, solver):
    est, y = _fitted(kind, solver, warm_start=True)
    snap = _snapshot(est)
    est.set_params(**{param: value})
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)
    est.set_params(**{param: snap["params"][param]})
    _assert_unchanged(est, snap)
    # The previous model still predicts exactly as before, and can go on.
    np.testing.assert_array_equal(est.predict(X), snap["predict"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert est.n_features_in_ == 4


@pytest.mark.parametrize("kind", list(ESTIMATORS))
def test_partial_fit_after_changing_architecture(kind):
    kw = {"classes": [0, 1, 2]} if kind == "classifier" else {}
    est, y = _make(kind, "sgd")
    est.partial_fit(X, y, **kw)
    snap = _snapshot(est)
    est.set_params(hidden_layer_sizes=(7,))
    with pytest.raises(ValueError, match=r"layer sizes"):
        est.partial_fit(X, y)
    est.set_params(hidden_layer_sizes=(5,))
    _assert_unchanged(est, snap)
