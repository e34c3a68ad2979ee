"""Divergence that stays finite: the practical rule (``DivergenceRule``) and its warning.

A learning rate too large for the data's scale can drive the loss to 1e20
without it ever overflowing (the log-loss is computed from the logits). The
rule stops such a fit, warns ``DivergenceWarning`` and goes back to where the
run of far-above epochs began; ordinary fits never trip it (pyproject.toml and
tests/conftest.py make any unexpected DivergenceWarning fail the suite).
"""

import warnings

import numpy as np
import pytest
from scipy.special import xlogy
from sklearn.datasets import load_digits, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss

from scratchmlp import DivergenceWarning, ScratchMLPClassifier, ScratchMLPRegressor
from scratchmlp._network import Network, Workspace
from scratchmlp._training import DivergenceRule, FarRun, TrainingData, TrainingState

X_DIGITS, Y_DIGITS = load_digits(return_X_y=True)
X_DIGITS = X_DIGITS / 16
CLASSES = np.arange(10)


def _weights(est):
    return [a.copy() for a in est.coefs_ + est.intercepts_]


def _max_abs(est):
    return max(float(np.abs(a).max()) for a in est.coefs_ + est.intercepts_)


def _initial_weights(Estimator, **params):
    """The weights a fit starts from: one step of a learning rate too small to move them."""
    est = Estimator(**{**params, "learning_rate_init": 1e-300, "max_iter": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est, _weights(est.fit(X_DIGITS, Y_DIGITS))


def _only_divergence(record):
    diverged = [w for w in record if issubclass(w.category, DivergenceWarning)]
    assert len(diverged) == 1, [str(w.message) for w in record]
    assert len(record) == 1, [str(w.message) for w in record]  # no "max_iter" warning
    return str(diverged[0].message)


# ---------------------------------------------------------------------------
# The case, and the ways a run of far-above epochs ends.
# ---------------------------------------------------------------------------
def test_exploding_sgd_warns_and_keeps_the_initial_weights():
    # Before the rule: 30 epochs at losses of 1e8 to 1e21, weights of 4e6,
    # and only "Maximum iterations (30) reached".
    params = {"solver": "sgd", "learning_rate_init": 1e4, "max_iter": 30, "random_state": 0}
    clf = ScratchMLPClassifier(**params)
    with pytest.warns(DivergenceWarning) as record:
        clf.fit(X_DIGITS, Y_DIGITS)
    message = _only_divergence(record)
    assert "Training diverged in epoch 1" in message
    assert "learning_rate_init=10000 is likely too large" in message
    assert "keeps its initial parameters" in message
    # The first epoch already ran far above: the model is back at the start.
    _, initial = _initial_weights(ScratchMLPClassifier, **params)
    for a, b in zip(_weights(clf), initial):
        np.testing.assert_array_equal(a, b)
    assert _max_abs(clf) < 1.0
    assert clf.n_iter_ == 0 and clf.loss_curve_ == [] and clf.t_ == 0
    # Its loss is the start's, about log(10).
    start = log_loss(Y_DIGITS, clf.predict_proba(X_DIGITS))
    assert abs(start - np.log(10)) < 0.3
    assert abs(start - clf._state.start_loss) < 0.1


def test_scikit_learn_runs_on_to_max_iter():
    """What the rule changes (docs/migration.md): scikit-learn ends the issue's fit far above."""
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(solver="sgd", learning_rate_init=1e4, max_iter=30, random_state=0)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations") as record:
        clf.fit(X_DIGITS, Y_DIGITS)
    assert not [w for w in record if issubclass(w.category, DivergenceWarning)]
    assert clf.loss_ > 1e6 and max(np.abs(c).max() for c in clf.coefs_) > 1e5


def test_mini_batch_run_goes_back_to_the_end_of_the_last_ordinary_epoch():
    # Targets of scale 100 and heavy momentum: two ordinary epochs, then the
    # loss explodes (1e121) within the third.
    X, y = make_regression(400, 8, noise=5, random_state=0)
    reg = ScratchMLPRegressor(
        solver="sgd",
        learning_rate_init=0.01,
        momentum=0.9,
        batch_size=50,
        max_iter=40,
        random_state=0,
    )
    with pytest.warns(DivergenceWarning) as record:
        reg.fit(X, y)
    message = _only_divergence(record)
    assert "Training diverged in epoch 3" in message
    assert "keeps the parameters after epoch 2" in message
    assert reg.n_iter_ == 2 and len(reg.loss_curve_) == 2 and reg.t_ == 2 * 400
    # The kept parameters are those the third epoch started from: finite, and
    # their loss not far above the start.
    loss = 0.5 * np.mean((reg.predict(X) - y) ** 2)
    assert np.isfinite(loss) and loss < 10 * reg._state.start_loss
    assert loss < 2 * reg.loss_curve_[-1]


def test_warm_start_goes_back_to_the_previous_fit():
    X, y = make_regression(300, 8, noise=5, random_state=1)
    reg = ScratchMLPRegressor(
        solver="sgd", learning_rate_init=1e-4, max_iter=20, warm_start=True, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    before, curve, t = _weights(reg), list(reg.loss_curve_), reg.t_
    reg.set_params(learning_rate_init=1.0)
    with pytest.warns(DivergenceWarning, match="learning_rate_init=1 is likely too large"):
        reg.fit(X, y)
    for a, b in zip(_weights(reg), before):
        np.testing.assert_array_equal(a, b)
    assert reg.loss_curve_ == curve and reg.t_ == t and reg.n_iter_ == 0


def test_partial_fit_counts_far_epochs_across_calls():
    # At learning_rate_init=10 the loss runs at 37 to 240 times its start,
    # far above but finite: the third far epoch trips the rule, in the third call.
    params = {"solver": "sgd", "learning_rate_init": 10.0, "random_state": 0}
    clf = ScratchMLPClassifier(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DivergenceWarning)
        clf.partial_fit(X_DIGITS, Y_DIGITS, classes=CLASSES)
        clf.partial_fit(X_DIGITS, Y_DIGITS)
    start = clf._state.start_loss
    assert min(clf.loss_curve_) > 10 * start
    assert clf._state.far_run.epochs == 2
    with pytest.warns(DivergenceWarning, match="Training diverged in epoch 1") as record:
        clf.partial_fit(X_DIGITS, Y_DIGITS)
    _only_divergence(record)
    # Back before the first call's epoch: the initial weights, no records.
    est = ScratchMLPClassifier(**{**params, "learning_rate_init": 1e-300})
    est.partial_fit(X_DIGITS, Y_DIGITS, classes=CLASSES)
    for a, b in zip(_weights(clf), _weights(est)):
        np.testing.assert_array_equal(a, b)
    assert clf.loss_curve_ == [] and clf.t_ == 0 and clf._state.far_run is None


def test_a_spike_that_comes_back_is_not_a_divergence():
    # scikit-learn's check data: features near 100, one step per epoch. The
    # second epoch spikes to thousands of times the start and the third is
    # back below it: training goes on.
    rng = np.random.RandomState(42)
    X = rng.normal(loc=100, size=(100, 2))
    y = rng.normal(size=100)
    reg = ScratchMLPRegressor(solver="sgd", max_iter=100, random_state=0)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        reg.fit(X, y)
    assert not [w for w in record if issubclass(w.category, DivergenceWarning)]
    curve = reg.loss_curve_
    assert curve[1] > 1e3 * curve[0] and curve[2] < curve[0]
    assert reg.n_iter_ > 3
    # A fit that ends on the spike did not come back: it diverged. One step
    # per epoch, so the spike's epoch started far above too, and the fit
    # goes back to its initial parameters.
    short = ScratchMLPRegressor(solver="sgd", max_iter=2, random_state=0)
    with pytest.warns(DivergenceWarning, match="Training diverged in epoch 2") as record:
        short.fit(X, y)
    assert "keeps its initial parameters" in _only_divergence(record)
    assert short.n_iter_ == 0 and short.loss_curve_ == []


def test_a_late_blow_up_is_a_divergence_not_an_oscillation():
    # Features at 1e3 scale and heavy momentum, one step per epoch: the loss
    # falls to 1.4e-2 times its start by epoch 31, then grows tenfold per
    # epoch from epoch 39 and the stopping rule fires at epoch 42, 147 times
    # above the start (with n_iter_no_change=8 it stops at epoch 40, 1.2 times
    # above: tests/test_trust_failed_fits.py's "oscillates" case).
    rng = np.random.RandomState(0)
    X = rng.randn(200, 5) * 1e3
    y = X @ rng.randn(5)
    reg = ScratchMLPRegressor(
        hidden_layer_sizes=(10,),
        solver="sgd",
        learning_rate_init=1e-7,
        momentum=0.99,
        max_iter=300,
        random_state=0,
    )
    with pytest.warns(DivergenceWarning, match="Training diverged in epoch 41") as record:
        reg.fit(X, y)
    # Epoch 41 started from parameters already 14 times above (one step per
    # epoch: its loss is their cost), so the fit goes back to its start.
    assert "keeps its initial parameters" in _only_divergence(record)
    loss = 0.5 * np.mean((reg.predict(X) - y) ** 2)
    assert loss == pytest.approx(reg._state.start_loss, rel=1e-9)


def test_early_stopping_diverges_too():
    clf = ScratchMLPClassifier(
        solver="sgd", learning_rate_init=1e4, early_stopping=True, random_state=0
    )
    with pytest.warns(DivergenceWarning) as record:
        clf.fit(X_DIGITS, Y_DIGITS)
    _only_divergence(record)
    assert clf.validation_scores_ == [] and _max_abs(clf) < 1.0
    assert np.isfinite(clf.predict_proba(X_DIGITS)).all()


# ---------------------------------------------------------------------------
# Every output and loss.
# ---------------------------------------------------------------------------
RNG = np.random.RandomState(0)
TARGETS = {
    "log_loss": (ScratchMLPClassifier, {}, Y_DIGITS),
    "binary_log_loss": (ScratchMLPClassifier, {}, (Y_DIGITS > 4).astype(int)),
    "multilabel": (
        ScratchMLPClassifier,
        {},
        np.column_stack([Y_DIGITS % 2, Y_DIGITS > 4]).astype(int),
    ),
    "squared_error": (ScratchMLPRegressor, {}, X_DIGITS @ RNG.randn(64) / 4),
    "poisson": (ScratchMLPRegressor, {"loss": "poisson"}, RNG.poisson(2.0, len(Y_DIGITS))),
}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # Poisson's exp overflows: non-finite
@pytest.mark.parametrize("target", list(TARGETS))
def test_every_loss_stops_a_diverging_fit(target):
    Estimator, params, y = TARGETS[target]
    est = Estimator(solver="sgd", learning_rate_init=100.0, max_iter=30, random_state=0, **params)
    with pytest.warns(DivergenceWarning, match="Training diverged in epoch 1") as record:
        est.fit(X_DIGITS, y)
    message = _only_divergence(record)
    # Poisson's exp output overflows at once (the non-finite rule); the
    # others explode while finite.
    assert ("non-finite" in message) == (target == "poisson")
    assert est.n_iter_ == 0 and _max_abs(est) < 1.0
    assert np.isfinite(est.predict(X_DIGITS)).all()


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("solver", ["sgd", "adam", "rmsprop", "adamw"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_false_alarm_on_ordinary_fits(target, solver, seed):
    Estimator, params, y = TARGETS[target]
    est = Estimator(
        hidden_layer_sizes=(20,), solver=solver, max_iter=15, random_state=seed, **params
    )
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        est.fit(X_DIGITS[:400], y[:400])
        for _ in range(3):
            est.partial_fit(X_DIGITS[400:800], y[400:800])
    assert not [w for w in record if issubclass(w.category, DivergenceWarning)]
    assert est._state.far_run is None
    assert max(est.loss_curve_) < 2 * est._state.start_loss + 1.0


def test_lbfgs_cannot_diverge_in_this_sense():
    # Its line search accepts only steps that lower the cost: the loss never
    # rises, even on unscaled data (the rule is for the stochastic solvers).
    clf = ScratchMLPClassifier(solver="lbfgs", max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_DIGITS * 1600, Y_DIGITS)
    assert np.all(np.diff(clf.loss_curve_) <= 0)


# ---------------------------------------------------------------------------
# The rule's pieces.
# ---------------------------------------------------------------------------
def _reference_parts(loss, Y, sample_weight=None, start_loss=0.0):
    """R with J_0 given, so that it shows J_null (Y of shape (m, n[L]))."""
    net = Network([3, Y.shape[1]], [], loss)
    data = TrainingData(np.zeros((3, len(Y))), Y.T.astype(float), sample_weight)
    state = TrainingState(start_loss=start_loss)
    R = DivergenceRule().reference(net, data, Workspace.for_network(net, 10), 0.0, state)
    return R, state


def test_null_loss_is_the_loss_of_zero_logits():
    rng = np.random.RandomState(0)
    onehot = np.eye(4)[rng.randint(0, 4, 30)]
    assert _reference_parts("log_loss", onehot)[0] == pytest.approx(np.log(4))
    labels = rng.randint(0, 2, (30, 3))
    assert _reference_parts("binary_log_loss", labels)[0] == pytest.approx(3 * np.log(2))
    Y = rng.randn(30, 2) * 7
    assert _reference_parts("squared_error", Y)[0] == pytest.approx(0.5 * np.mean(Y**2))
    s = rng.uniform(0.1, 2.0, 30)
    weighted = 0.5 * np.mean(Y**2, axis=1) @ s / s.sum()
    assert _reference_parts("squared_error", Y, s)[0] == pytest.approx(weighted)
    counts = rng.poisson(3.0, (30, 1)).astype(float)
    expected = np.mean(xlogy(counts, counts) - counts + 1)
    assert _reference_parts("poisson", counts)[0] == pytest.approx(expected)
    # J_0, once known, is kept: R is the larger of the two.
    R, state = _reference_parts("log_loss", onehot, start_loss=5.0)
    assert R == 5.0 and state.start_loss == 5.0


def test_start_loss_is_computed_once_on_spread_samples():
    net = Network([2, 3, 1], "tanh", "squared_error", theta=np.linspace(-1, 1, 13))
    A0 = np.random.RandomState(0).randn(2, 5000)
    data = TrainingData(A0, np.ones((1, 5000)))
    state, rule = TrainingState(), DivergenceRule()
    assert len(rule.subset(5000)) == 1000 and len(rule.subset(20)) == 20
    rule.reference(net, data, Workspace.for_network(net, 200), 0.0, state)
    J0 = state.start_loss
    assert J0 > 0
    net.theta *= 3  # later calls keep the first J_0
    rule.reference(net, data, Workspace.for_network(net, 200), 0.0, state)
    assert state.start_loss == J0


def test_rule_thresholds():
    rule = DivergenceRule()
    assert (rule.factor, rule.patience, rule.extreme) == (10.0, 3, 1e6)
    assert not rule.far_above(10.0, 1.0) and rule.far_above(10.1, 1.0)
    assert not rule.far_above(1e9, 0.0)  # R = 0: off
    run = FarRun(np.zeros(1), {}, TrainingState(), epochs=2)
    assert not rule.diverged(run, 50.0, 1.0)
    assert rule.diverged(FarRun(np.zeros(1), {}, TrainingState(), epochs=3), 50.0, 1.0)
    assert rule.diverged(run, 2e6, 1.0)
