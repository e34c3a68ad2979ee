"""Trust (2): numerical extremes.

Huge but finite inputs saturate the probabilities, degenerate features and
extreme ``alpha`` stay finite, all without a RuntimeWarning (the project
runs with ``filterwarnings=error::RuntimeWarning``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.validation import check_is_fitted
from testdata import TRUST
from trust_helpers import (
    ACTIVATION_NAMES,
    SOLVERS,
    _quiet_fit,
    _weights,
)

from scratchmlp import ScratchMLPClassifier, ScratchMLPRegressor

X_STD, Y_BIN, Y_3, Y_REG = TRUST.X, TRUST.y_binary, TRUST.y_3, TRUST.y_reg

# ===========================================================================
# 2. Numerical extremes.
# ===========================================================================
TARGETS = {"binary": Y_BIN, "multiclass": Y_3}

EXTREME_MODELS = (
    [((), "identity")]
    + [((5,), name) for name in ACTIVATION_NAMES]
    + [((4, 3), "relu"), ((4, 3), ["tanh", "softplus"])]
)

_FITTED_CACHE: dict = {}


def _fitted_extreme_models(dtype, target):
    """Classifiers fitted on the unit-scale data, one per architecture (cached)."""
    key = (dtype, target)
    if key not in _FITTED_CACHE:
        models = []
        for hidden, activation in EXTREME_MODELS:
            est = ScratchMLPClassifier(
                hidden, activation, solver="lbfgs", max_iter=50, random_state=0
            )
            models.append(_quiet_fit(est, X_STD.astype(dtype), TARGETS[target]))
        _FITTED_CACHE[key] = models
    return _FITTED_CACHE[key]


def _extreme_rows(big, n_features, dtype):
    """Rows of huge, finite values: every sign pattern a user could send, and a normal row."""
    rng = np.random.RandomState(1)
    rows = [
        np.full(n_features, big),
        np.full(n_features, -big),
        np.where(np.arange(n_features) % 2 == 0, big, -big),  # mixed signs
        np.r_[big, np.zeros(n_features - 1)],  # one huge feature
        big * np.sign(rng.randn(n_features)),
        np.ones(n_features),
    ]
    return np.array(rows, dtype=dtype)


@pytest.mark.parametrize("target", ["binary", "multiclass"])
@pytest.mark.parametrize(
    "model_dtype, input_dtype, scale",
    [
        (np.float64, np.float64, "1e300"),
        (np.float64, np.float64, "max"),
        (np.float32, np.float32, "max"),
        # A float32 model asked about float64 data beyond float32's range.
        (np.float32, np.float64, "1e300"),
    ],
    ids=["f64-1e300", "f64-max", "f32-max", "f32model-f64input-1e300"],
)
def test_huge_finite_input_saturates(model_dtype, input_dtype, scale, target):
    """Huge finite X: finite probabilities summing to 1, finite log-probabilities,
    predict == argmax(predict_proba), and no RuntimeWarning."""
    big = 1e300 if scale == "1e300" else np.finfo(input_dtype).max
    X_big = _extreme_rows(big, X_STD.shape[1], input_dtype)
    failures = []
    fitted = _fitted_extreme_models(model_dtype, target)
    for (hidden, activation), est in zip(EXTREME_MODELS, fitted):
        name = f"hidden={hidden} activation={activation}"
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            proba = est.predict_proba(X_big)
            log_proba = est.predict_log_proba(X_big)
            pred = est.predict(X_big)
        leaked = sorted({f"{w.category.__name__}: {w.message}" for w in record})
        if leaked:
            failures.append(f"{name}: warnings {leaked}")
        if proba.dtype != model_dtype or log_proba.dtype != model_dtype:
            failures.append(f"{name}: dtype {proba.dtype}/{log_proba.dtype}")
        if not np.isfinite(proba).all():
            failures.append(
                f"{name}: non-finite predict_proba rows "
                f"{np.flatnonzero(~np.isfinite(proba).all(axis=1)).tolist()}"
            )
            continue
        if not np.isfinite(log_proba).all():
            failures.append(
                f"{name}: non-finite predict_log_proba rows "
                f"{np.flatnonzero(~np.isfinite(log_proba).all(axis=1)).tolist()}"
            )
        if not np.allclose(proba.sum(axis=1), 1, rtol=1e-5):
            failures.append(f"{name}: rows sum to {proba.sum(axis=1)}")
        if not ((proba >= 0) & (proba <= 1)).all():
            failures.append(f"{name}: probabilities outside [0, 1]")
        if not np.array_equal(pred, est.classes_[np.argmax(proba, axis=1)]):
            failures.append(f"{name}: predict != argmax(predict_proba)")
        if hidden == () and proba[:2].max(axis=1).min() < 0.999:
            # A linear model at +-big * ones is saturated: one class is certain.
            failures.append(f"{name}: not saturated {proba[:2]}")
    assert not failures, "\n".join(failures)


# The smallest failing cases of the test above, one cause each (see the report).
def _linear_binary(dtype=np.float64):
    X = np.random.RandomState(0).randn(40, 2).astype(dtype)
    y = (X[:, 0] > 0).astype(int)
    # coefs_ is about [[60], [-3]].
    return ScratchMLPClassifier(hidden_layer_sizes=(), solver="lbfgs", random_state=0).fit(X, y)


def test_huge_input_minimal_infinite_logit():
    """The logit 60 * finfo.max overflows to +inf: log P(class 0) = -inf."""
    clf = _linear_binary()
    big = np.finfo(np.float64).max
    assert np.isfinite(clf.predict_log_proba([[big, 0.0]])).all()


def test_huge_input_minimal_inf_minus_inf():
    """Weights of both signs: +inf + -inf = NaN in the affine map, NaN probabilities."""
    clf = _linear_binary()
    big = np.finfo(np.float64).max
    assert np.isfinite(clf.predict_proba([[big, big]])).all()


def test_huge_input_minimal_float32_model_float64_input():
    """A float32 model cast 1e300 to float32 with a RuntimeWarning (and then inf)."""
    clf = _linear_binary(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        proba = clf.predict_proba(np.array([[1e300, 0.0]]))
    assert np.isfinite(proba).all()


def test_huge_input_minimal_validation_warning():
    """Huge values of both signs in one X: the finiteness check's sum computes
    inf + -inf and warns, although every value is finite (a tanh model, whose
    outputs are otherwise fine)."""
    X = np.random.RandomState(0).randn(40, 2)
    clf = ScratchMLPClassifier((5,), "tanh", solver="lbfgs", random_state=0)
    _quiet_fit(clf, X, (X[:, 0] > 0).astype(int))
    big = np.finfo(np.float64).max
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        proba = clf.predict_proba(np.array([[big, big], [big, big], [-big, -big], [-big, -big]]))
    assert np.isfinite(proba).all()


def _degenerate(case):
    X, kw = X_STD.copy(), {}
    if case == "constant_feature":
        X[:, 1] = 3.0
    elif case == "zero_feature":
        X[:, 2] = 0.0
    elif case == "all_zero":
        X[:] = 0.0
    elif case == "scale_1e6":
        X *= 1e6
    elif case == "alpha_1e-10":
        kw["alpha"] = 1e-10
    elif case == "alpha_1e3":
        kw["alpha"] = 1e3
    return X, kw


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize(
    "case",
    ["constant_feature", "zero_feature", "all_zero", "scale_1e6", "alpha_1e-10", "alpha_1e3"],
)
def test_degenerate_data_and_alpha(case, solver, dtype):
    """Constant / zero features, 1e6-scale features, tiny and huge alpha: finite
    fits and predictions, no warning but ConvergenceWarning (or its subclass
    DivergenceWarning, the documented outcome of a too-large step)."""
    X, kw = _degenerate(case)
    X = X.astype(dtype)
    estimators = [
        (ScratchMLPClassifier(**kw), Y_3),
        (ScratchMLPClassifier(**kw), Y_BIN),
        (ScratchMLPRegressor(**kw), Y_REG),
        (ScratchMLPRegressor(loss="poisson", **kw), np.abs(Y_REG)),
    ]
    for est, y in estimators:
        est.set_params(hidden_layer_sizes=(5,), solver=solver, max_iter=30, random_state=0)
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            try:
                est.fit(X, y)
            except ValueError as error:
                # Poisson at the 1e6 scale: exp of the initial logits overflows,
                # and the documented error asks to scale the input.
                assert case == "scale_1e6" and est.get_params().get("loss") == "poisson", error
                assert "Scale the input" in str(error)
                with pytest.raises(NotFittedError):
                    check_is_fitted(est)
                continue
            out = est.predict_proba(X) if hasattr(est, "predict_proba") else est.predict(X)
            if hasattr(est, "predict_log_proba"):
                assert np.isfinite(est.predict_log_proba(X)).all()
        unexpected = [w for w in record if not issubclass(w.category, ConvergenceWarning)]
        assert not unexpected, [str(w.message) for w in unexpected]
        assert np.isfinite(out).all(), est
        assert out.dtype == dtype
        for w in _weights(est):
            assert np.isfinite(w).all()
        assert np.isfinite(est.loss_curve_).all()
