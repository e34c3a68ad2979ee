"""Deliberate departures from scikit-learn 1.9.1's MLP, each beside scikit-learn's behaviour.

The README and ``docs/migration.md`` list every departure with the test that
shows it; the cases shown in ``tests/test_sklearn_bugs.py`` and
``tests/test_bad_input.py`` are not repeated here. scikit-learn's side is
asserted only on the 1.9 series it was verified on; ours always.
"""

import warnings

import numpy as np
import pytest
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

from scratchmlp import DivergenceWarning, ScratchMLPClassifier, ScratchMLPRegressor

SKLEARN_1_9 = sklearn.__version__.startswith("1.9.")

RNG = np.random.RandomState(0)
X = RNG.randn(60, 4)
Y_BIN = (X[:, 0] + X[:, 1] > 0).astype(int)
Y_MULTILABEL = np.c_[X[:, 0] > 0, X[:, 1] > 0, X[:, 2] + X[:, 3] > 0].astype(int)
Y_COUNTS = np.abs(X[:, 0] - X[:, 1])  # non-negative, so that poisson may fit it

SMALL = dict(hidden_layer_sizes=(5,), max_iter=20, random_state=0)


def _fit_quietly(est, *args, **kwargs):
    """Fit, silencing ConvergenceWarning only: the short fits here are not the point."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


def _sklearn_quietly(fn):
    """Run scikit-learn's side, which may warn about overflow on the way."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn()


def _weights(est):
    return [a.copy() for a in est.coefs_ + est.intercepts_]


def _assert_weights_equal(est, weights):
    for a, b in zip(est.coefs_ + est.intercepts_, weights, strict=True):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------
# warm_start with another architecture: refused, not silently ignored.
# ---------------------------------------------------------------------------
WARM_START_CHANGES = [
    # (estimators, y, the parameter changed, its new value, our error message)
    (
        (MLPClassifier, ScratchMLPClassifier),
        Y_BIN,
        "hidden_layer_sizes",
        (7,),
        r"layer sizes \[4, 5, 1\].*\[4, 7, 1\]",
    ),
    (
        (MLPClassifier, ScratchMLPClassifier),
        Y_BIN,
        "activation",
        "tanh",
        r"activations of the previous fit \(\['relu'\]\), got activation='tanh'",
    ),
    (
        (MLPRegressor, ScratchMLPRegressor),
        Y_COUNTS,
        "loss",
        "poisson",
        r"output 'identity'.*'poisson'",
    ),
]


@pytest.mark.parametrize(
    "estimators, y, param, value, match",
    WARM_START_CHANGES,
    ids=["hidden_layer_sizes", "activation", "loss"],
)
def test_warm_start_refuses_a_changed_architecture(estimators, y, param, value, match):
    Theirs, Ours = estimators
    if SKLEARN_1_9:
        # scikit-learn keeps the previous network and trains it on: the new
        # hidden_layer_sizes is ignored, a new activation runs on weights
        # trained for the old one, a new loss keeps the old output layer.
        theirs = _fit_quietly(Theirs(warm_start=True, **SMALL), X, y)
        shapes = [c.shape for c in theirs.coefs_]
        out_activation = theirs.out_activation_
        theirs.set_params(**{param: value})
        _fit_quietly(theirs, X, y)  # no error, no warning beyond convergence
        assert [c.shape for c in theirs.coefs_] == shapes == [(4, 5), (5, 1)]
        assert theirs.out_activation_ == out_activation
        assert theirs.get_params()[param] == value

    ours = _fit_quietly(Ours(warm_start=True, **SMALL), X, y)
    weights, predictions = _weights(ours), ours.predict(X)
    ours.set_params(**{param: value})
    with pytest.raises(ValueError, match=match):
        ours.fit(X, y)
    # Refused before anything changed; a fresh fit takes the new value.
    _assert_weights_equal(ours, weights)
    np.testing.assert_array_equal(ours.predict(X), predictions)
    _fit_quietly(ours.set_params(warm_start=False), X, y)
    assert ours.get_params()[param] == value
    if param == "hidden_layer_sizes":
        assert [c.shape for c in ours.coefs_] == [(4, 7), (7, 1)]
    if param == "loss":
        assert ours.out_activation_ == "exp"


# ---------------------------------------------------------------------------
# Negative sample weights: refused.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "Theirs, Ours, y",
    [(MLPClassifier, ScratchMLPClassifier, Y_BIN), (MLPRegressor, ScratchMLPRegressor, Y_COUNTS)],
    ids=["classifier", "regressor"],
)
def test_negative_sample_weight_is_refused(Theirs, Ours, y):
    sample_weight = np.ones(len(y))
    sample_weight[:5] = -1.0
    if SKLEARN_1_9:
        # scikit-learn fits it: the negative weights reward the errors on those samples.
        theirs = _fit_quietly(Theirs(**SMALL), X, y, sample_weight=sample_weight)
        assert np.isfinite(theirs.loss_)
    ours = Ours(**SMALL)
    with pytest.raises(ValueError, match=r"Negative values in data passed to `sample_weight`"):
        ours.fit(X, y, sample_weight=sample_weight)
    assert not hasattr(ours, "coefs_")


# ---------------------------------------------------------------------------
# partial_fit on multilabel targets needs no `classes`.
# ---------------------------------------------------------------------------
def test_multilabel_partial_fit_needs_no_classes():
    theirs = MLPClassifier(**SMALL)
    if SKLEARN_1_9:
        # scikit-learn demands `classes` on the first call, then ignores it:
        # the columns of the indicator matrix are the classes.
        with pytest.raises(ValueError, match="classes must be passed on the first call"):
            theirs.partial_fit(X, Y_MULTILABEL)
    theirs.partial_fit(X, Y_MULTILABEL, classes=[0, 1, 2])
    theirs.partial_fit(X, Y_MULTILABEL)

    ours = ScratchMLPClassifier(**SMALL)
    ours.partial_fit(X, Y_MULTILABEL)
    ours.partial_fit(X, Y_MULTILABEL)
    np.testing.assert_array_equal(ours.classes_, [0, 1, 2])
    # The same model as scikit-learn's, given the classes it ignores.
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-10)
    # Single-output targets still need `classes`, as in scikit-learn.
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        ScratchMLPClassifier(**SMALL).partial_fit(X, Y_BIN)


# ---------------------------------------------------------------------------
# coefs_ and intercepts_ of the wrong shapes: refused when assigned.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("attribute", ["coefs_", "intercepts_"])
def test_assigning_weights_of_the_wrong_shape_is_refused(attribute):
    def wrong(est):
        """One row (or entry) too many in every array."""
        return [np.zeros((len(a) + 1, *a.shape[1:])) for a in getattr(est, attribute)]

    if SKLEARN_1_9:
        # scikit-learn stores anything; the model breaks later, deep in numpy.
        theirs = _fit_quietly(MLPClassifier(**SMALL), X, Y_BIN)
        setattr(theirs, attribute, wrong(theirs))
        with pytest.raises(ValueError):
            theirs.predict(X)

    ours = _fit_quietly(ScratchMLPClassifier(**SMALL), X, Y_BIN)
    weights = _weights(ours)
    with pytest.raises(ValueError, match=rf"{attribute} must have the shapes"):
        setattr(ours, attribute, wrong(ours))
    _assert_weights_equal(ours, weights)


# ---------------------------------------------------------------------------
# Ctrl-C: raised again, not turned into a warning.
# ---------------------------------------------------------------------------
class _InterruptAfter3Epochs(MLPClassifier):
    """scikit-learn's MLP, interrupted after its third epoch (it has no callbacks)."""

    def _update_no_improvement_count(self, *args):
        if self.n_iter_ == 3:
            raise KeyboardInterrupt
        return super()._update_no_improvement_count(*args)


class _InterruptAfter3EpochsCallback:
    def on_epoch_end(self, estimator, record):
        if record["epoch"] == 3:
            raise KeyboardInterrupt
        return False


def test_keyboard_interrupt_is_raised_again():
    if SKLEARN_1_9:
        # scikit-learn swallows it: fit returns a model of 3 epochs, with a
        # UserWarning, and the script (or grid search) goes on.
        with pytest.warns(UserWarning, match="Training interrupted by user"):
            theirs = _InterruptAfter3Epochs(**SMALL).fit(X, Y_BIN)
        assert theirs.n_iter_ == 3

    ours = ScratchMLPClassifier(callbacks=[_InterruptAfter3EpochsCallback()], **SMALL)
    with pytest.raises(KeyboardInterrupt):
        ours.fit(X, Y_BIN)
    # The model keeps the 3 completed epochs, consistently.
    assert ours.n_iter_ == len(ours.loss_curve_) == 3
    reference = _fit_quietly(ScratchMLPClassifier(**{**SMALL, "max_iter": 3}), X, Y_BIN)
    _assert_weights_equal(ours, _weights(reference))


# ---------------------------------------------------------------------------
# A stopping rule that fires on an oscillating loss: a ConvergenceWarning.
# ---------------------------------------------------------------------------
def test_oscillation_warns_where_sklearn_is_silent():
    # Unscaled features (around 100) and sgd's defaults: the loss falls from
    # 34 to 1.0, then jumps to about 10 and stays above 1.0 for
    # n_iter_no_change epochs, which the stopping rule reads as convergence.
    rng = np.random.RandomState(0)
    X_far = rng.normal(loc=100, size=(80, 2))
    y = rng.normal(size=80)
    params = dict(solver="sgd", max_iter=100, random_state=0)
    if SKLEARN_1_9:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # scikit-learn warns nothing
            theirs = MLPRegressor(**params).fit(X_far, y)
        assert theirs.n_iter_ < 100
        assert theirs.loss_ > 2 * theirs.best_loss_

    with pytest.warns(ConvergenceWarning, match="far above the best loss") as record:
        ours = ScratchMLPRegressor(**params).fit(X_far, y)
    assert [w.category for w in record] == [ConvergenceWarning]
    assert ours.n_iter_ < 100
    assert 2 * ours.best_loss_ < ours.loss_ < ours.loss_curve_[0]  # not a divergence
    if SKLEARN_1_9:
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-8)


# ---------------------------------------------------------------------------
# lbfgs records its loss curve.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "Theirs, Ours, y",
    [(MLPClassifier, ScratchMLPClassifier, Y_BIN), (MLPRegressor, ScratchMLPRegressor, Y_COUNTS)],
    ids=["classifier", "regressor"],
)
def test_lbfgs_records_a_loss_curve(Theirs, Ours, y):
    params = dict(SMALL, solver="lbfgs", max_iter=15)
    if SKLEARN_1_9:
        theirs = _fit_quietly(Theirs(**params), X, y)
        for name in ("loss_curve_", "best_loss_", "validation_scores_", "best_validation_score_"):
            assert not hasattr(theirs, name)

    ours = _fit_quietly(Ours(**params), X, y)
    assert len(ours.loss_curve_) == ours.n_iter_ == 15
    assert ours.loss_curve_[-1] == ours.loss_
    assert ours.best_loss_ == min(ours.loss_curve_)
    assert ours.validation_scores_ is None and ours.best_validation_score_ is None
    if SKLEARN_1_9:
        assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-8)


# ---------------------------------------------------------------------------
# Divergence and overflow: a warning and a finite model, or an error and the
# previous model; never a half-changed estimator.
# ---------------------------------------------------------------------------
def test_divergence_keeps_finite_weights_where_sklearn_raises():
    rng = np.random.RandomState(0)
    X_d = rng.randn(60, 3)
    y_d = 100 * (X_d @ [1.0, -2.0, 0.5]) + 50 * rng.randn(60)  # targets of scale ~100
    # Small batches: epoch 1 stays below 10 times its start and the cost
    # overflows within epoch 2. (With full batches the loss explodes while
    # finite, and the practical rule stops it: tests/test_divergence.py.)
    params = dict(
        hidden_layer_sizes=(5,),
        solver="sgd",
        learning_rate_init=0.004,
        batch_size=5,
        momentum=0.9,
        max_iter=50,
        random_state=0,
    )
    if SKLEARN_1_9:
        with pytest.raises(ValueError, match="Solver produced non-finite parameter weights"):
            _sklearn_quietly(lambda: MLPRegressor(**params).fit(X_d, y_d))

    ours = ScratchMLPRegressor(**params)
    with pytest.warns(DivergenceWarning):
        ours.fit(X_d, y_d)
    assert 1 <= ours.n_iter_ < 50
    for a in ours.coefs_ + ours.intercepts_:
        assert np.isfinite(a).all()
    assert np.isfinite(ours.predict(X_d)).all()


def test_overflowing_refit_keeps_the_previous_model():
    X_huge = X * 1e300
    params = dict(SMALL, solver="adam")
    if SKLEARN_1_9:
        # scikit-learn raises too, but only after it has replaced the model.
        theirs = _fit_quietly(MLPRegressor(**params), X, Y_COUNTS)
        before = _weights(theirs)
        with pytest.raises(ValueError, match="non-finite parameter weights"):
            _sklearn_quietly(lambda: theirs.fit(X_huge, Y_COUNTS))
        changed = [not np.array_equal(a, b) for a, b in zip(theirs.coefs_, before)]
        assert any(changed)

    ours = _fit_quietly(ScratchMLPRegressor(**params), X, Y_COUNTS)
    weights, predictions = _weights(ours), ours.predict(X)
    with pytest.raises(ValueError, match=r"(?s)not finite at the start.*Scale the input"):
        ours.fit(X_huge, Y_COUNTS)
    _assert_weights_equal(ours, weights)
    np.testing.assert_array_equal(ours.predict(X), predictions)
