"""The training driver: batches, gathering, stopping rules, both solvers, non-finite outcomes."""

import warnings

import numpy as np
import pytest

from scratchmlp._initializers import initialize
from scratchmlp._network import Network, Workspace, cost, cost_and_gradient, forward
from scratchmlp._optimizers import SGD
from scratchmlp._training import (
    CONTINUE,
    CONVERGED,
    DIVERGED,
    INTERRUPTED,
    MAX_ITER,
    NON_FINITE_INPUT,
    STOPPED,
    Checkpoint,
    DivergenceRule,
    Lbfgs,
    Model,
    Settings,
    Stochastic,
    TrainingData,
    TrainingState,
    epoch_record,
    gather_columns,
    iter_batches,
    record_epoch,
    shuffled,
    train,
)


def as_index(idx, m):
    return np.arange(m)[idx] if isinstance(idx, slice) else np.asarray(idx)


# iter_batches ---------------------------------------------------------------
@pytest.mark.parametrize("m, batch_size", [(10, 3), (10, 5), (10, 10), (10, 25), (1, 1), (37, 8)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_iter_batches_cover_every_sample_once(m, batch_size, shuffle):
    order = shuffled(np.arange(m), np.random.RandomState(0)) if shuffle else None
    batches = [as_index(idx, m) for idx in iter_batches(m, batch_size, order)]
    covered = np.concatenate(batches)
    np.testing.assert_array_equal(np.sort(covered), np.arange(m))
    sizes = [len(b) for b in batches]
    full, rest = divmod(m, batch_size)
    assert sizes == [batch_size] * full + ([rest] if rest else [])
    if not shuffle:
        np.testing.assert_array_equal(covered, np.arange(m))


def test_iter_batches_without_rng_yields_slices():
    assert list(iter_batches(7, 3, None)) == [slice(0, 3), slice(3, 6), slice(6, 7)]


def test_iter_batches_reproducible_and_shuffled():
    def epoch(rng, order=None):
        order = np.arange(50) if order is None else order.copy()  # shuffled in place
        return np.concatenate(list(iter_batches(50, 7, shuffled(order, rng))))

    a = epoch(np.random.RandomState(42))
    b = epoch(np.random.RandomState(42))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, np.arange(50))  # actually shuffled
    assert not np.array_equal(a, epoch(np.random.RandomState(43)))
    # Successive epochs from one generator differ.
    rng = np.random.RandomState(42)
    first = epoch(rng)
    second = epoch(rng, first)
    np.testing.assert_array_equal(first, a)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(np.sort(second), np.arange(50))


def test_shuffled_permutes_the_previous_order_like_sklearn():
    # scikit-learn reshuffles the previous epoch's order: idx = idx[perm].
    from sklearn.utils import shuffle as sk_shuffle

    ours, theirs = np.random.RandomState(7), np.random.RandomState(7)
    order, idx = np.arange(30), np.arange(30)
    for _ in range(3):
        before = order
        order = shuffled(order, ours)
        assert order is before  # in place
        idx = sk_shuffle(idx, random_state=theirs)
        np.testing.assert_array_equal(order, idx)


# gather_columns -------------------------------------------------------------
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("out_kind", ["workspace", "C", "F"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gather_columns(order, out_kind, dtype):
    rng = np.random.RandomState(1)
    k, m = 4, 12
    M = np.asarray(rng.randn(k, m), dtype=dtype, order=order)
    assert M.flags[f"{order}_CONTIGUOUS"]
    for idx in (rng.permutation(m)[:5], np.array([3, 3, 0, 11]), np.arange(m)):
        if out_kind == "workspace":
            out = Workspace([k, 2, 1], m, dtype).input_buffer(len(idx))
        else:
            out = np.empty((k, len(idx)), dtype=dtype, order=out_kind)
        result = gather_columns(M, idx, out)
        assert result is out
        np.testing.assert_array_equal(out, M[:, idx])


def test_training_data_batch_with_index_and_weights():
    rng = np.random.RandomState(2)
    X = rng.randn(10, 3)  # samples by features, as the estimator receives it
    A0, Y, s = X.T, rng.randn(2, 10), rng.rand(10)
    index = np.array([9, 2, 5, 7, 0])
    data = TrainingData(A0, Y, s, index=index)
    assert data.m == 5
    ws = Workspace([3, 4, 2], 5, np.float64)
    for idx in (np.array([4, 1]), slice(1, 4)):
        A0b, Yb, sb = data.batch(idx, ws)
        cols = index[idx]
        np.testing.assert_array_equal(A0b, A0[:, cols])
        np.testing.assert_array_equal(Yb, Y[:, cols])
        np.testing.assert_array_equal(sb, s[cols])


# record_epoch ---------------------------------------------------------------
def sklearn_no_improvement(losses, tol):
    """scikit-learn's _update_no_improvement_count without early stopping."""
    best, count, counts = np.inf, 0, []
    for loss in losses:
        if loss > best - tol:
            count += 1
        else:
            count = 0
        if loss < best:
            best = loss
        counts.append(count)
    return counts


def sklearn_no_improvement_early_stopping(scores, tol):
    """scikit-learn's _update_no_improvement_count with early stopping."""
    best, count, counts = -np.inf, 0, []
    for score in scores:
        if score < best + tol:
            count += 1
        else:
            count = 0
        if score > best:
            best = score
        counts.append(count)
    return counts


def record(state, loss, val_score=None, val_loss=None):
    return epoch_record(state, loss, val_loss, val_score, 0.1, 0.0)


def config(**kw):
    """Settings and the stochastic solver's options, in one dict."""
    base = dict(batch_size=4, max_iter=10, shuffle=False, tol=0.25, n_iter_no_change=2, alpha=0.0)
    base.update(kw)
    return base


def settings(cfg) -> Settings:
    names = ("max_iter", "tol", "alpha", "n_iter_no_change", "early_stopping", "verbose")
    return Settings(**{k: v for k, v in cfg.items() if k in names})


def train_stochastic(net, opt, data, cfg, state, rng, validate=None, on_epoch_end=None):
    """One stochastic training call through the driver; returns the reason it stopped."""
    solver = Stochastic(
        batch_size=cfg["batch_size"],
        rng=rng,
        shuffle=cfg["shuffle"],
        dropout=cfg.get("dropout"),
        one_epoch=cfg.get("incremental", False),
        divergence=cfg.get("divergence", DivergenceRule()),
    )
    outcome = train(
        Model(net, state, opt),
        data,
        solver,
        settings(cfg),
        validate=validate,
        on_epoch_end=on_epoch_end,
    )
    assert outcome.model.network is net and outcome.model.state is state
    return outcome.reason


def test_record_epoch_no_improvement_count():
    net = Network([2, 1], [], "squared_error")
    state = TrainingState()
    # Binary fractions so that best - tol is exact: 3.625 = 3.875 - 0.25
    # counts as an improvement (loss <= best - tol), like scikit-learn.
    losses = [4.0, 3.875, 3.625, 3.5, 3.0, 3.0, 2.75, 2.875]
    counts, bests = [], []
    for loss in losses:
        record_epoch(state, record(state, loss), settings(config(tol=0.25)), net)
        counts.append(state.no_improvement_count)
        bests.append(state.best_loss)
    assert counts == [0, 1, 0, 1, 0, 1, 0, 1]
    assert counts == sklearn_no_improvement(losses, 0.25)
    assert bests == [4.0, 3.875, 3.625, 3.5, 3.0, 3.0, 2.75, 2.75]
    assert state.loss_curve == losses
    assert state.loss == losses[-1]
    assert state.n_iter == len(losses)
    assert [r["epoch"] for r in state.history] == list(range(1, len(losses) + 1))
    assert [r["loss"] for r in state.history] == losses
    assert state.validation_scores is None


@pytest.mark.parametrize("tol", [0.0, 1e-4, 0.1])
@pytest.mark.parametrize("seed", [0, 1])
def test_record_epoch_matches_scikit_learn_on_random_curves(tol, seed):
    rng = np.random.RandomState(seed)
    losses = list(np.round(1.0 + np.cumsum(rng.randn(30) * 0.05), 3))
    net = Network([2, 1], [], "squared_error")
    state = TrainingState()
    counts = []
    for loss in losses:
        record_epoch(state, record(state, loss), settings(config(tol=tol)), net)
        counts.append(state.no_improvement_count)
    assert counts == sklearn_no_improvement(losses, tol)
    assert state.best_loss == min(losses)


def test_record_epoch_early_stopping():
    net = Network([2, 1], [], "squared_error")
    state = TrainingState(early_stopping=True)
    assert state.best_loss is None and state.validation_scores == []
    cfg = settings(config(tol=0.25, early_stopping=True))
    # Binary fractions: 0.875 = 0.625 + 0.25 exactly, an improvement.
    scores = [0.5, 0.625, 0.875, 1.5, 1.25]
    counts, best_thetas = [], []
    for i, score in enumerate(scores):
        net.theta[:] = i
        record_epoch(state, record(state, 10.0 - i, score, 1.0 + i), cfg, net)
        counts.append(state.no_improvement_count)
        best_thetas.append(state.best_theta[0])
    # improvement when score >= best + tol; best params kept when score > best.
    assert counts == [0, 1, 0, 0, 1]
    assert counts == sklearn_no_improvement_early_stopping(scores, 0.25)
    assert best_thetas == [0, 1, 2, 3, 3]
    assert state.best_validation_score == 1.5
    assert state.validation_scores == scores
    assert state.loss_curve == [10.0, 9.0, 8.0, 7.0, 6.0]
    assert state.validation_loss_curve == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert state.best_theta is not net.theta


# train: the stochastic solver ------------------------------------------------
def regression_net(activation="tanh", seed=0, sizes=(3, 4, 1)):
    net = Network(list(sizes), activation, "squared_error")
    initialize(net, np.random.RandomState(seed))
    return net


def regression_data(scale=1.0, m=20, seed=1):
    rng = np.random.RandomState(seed)
    A0 = rng.randn(3, m)
    return A0, scale * (1 + A0.sum(axis=0, keepdims=True))


class RecordingSGD(SGD):
    """SGD that keeps a copy of the parameters after every completed epoch."""

    def __init__(self, theta, **kwargs):
        super().__init__(theta, **kwargs)
        self.theta = theta
        self.history = []

    def end_epoch(self, t):
        super().end_epoch(t)
        self.history.append(self.theta.copy())


def test_train_stochastic_max_iter_and_state():
    net = regression_net()
    A0, Y = regression_data()
    J0, _ = cost_and_gradient(net, A0, Y)
    state = TrainingState()
    opt = SGD(net.theta, momentum=0.9, learning_rate_init=0.05)
    outcome = train_stochastic(
        net,
        opt,
        TrainingData(A0, Y),
        config(max_iter=15, tol=0.0, n_iter_no_change=100),
        state,
        np.random.RandomState(0),
    )
    assert outcome == MAX_ITER
    assert state.n_iter == 15 == len(state.loss_curve)
    assert state.t == 15 * 20
    J1, _ = cost_and_gradient(net, A0, Y)
    assert J1 < J0


def test_train_stochastic_converged_and_incremental():
    A0, Y = regression_data()
    net = regression_net()
    state = TrainingState()
    opt = SGD(net.theta, momentum=0.0, learning_rate_init=1e-12)  # no progress at all
    cfg = config(max_iter=100, tol=1e-3, n_iter_no_change=3)
    outcome = train_stochastic(net, opt, TrainingData(A0, Y), cfg, state, np.random.RandomState(0))
    assert outcome == CONVERGED
    assert state.n_iter == 5  # epoch 1 improves on inf; 4 > 3 epochs without
    net = regression_net()
    state = TrainingState()
    cfg = config(max_iter=100, incremental=True)
    opt = SGD(net.theta, learning_rate_init=0.01)
    outcome = train_stochastic(net, opt, TrainingData(A0, Y), cfg, state, np.random.RandomState(0))
    assert outcome == CONTINUE
    assert state.n_iter == 1 and state.t == 20


def test_train_stochastic_on_epoch_end_stops():
    A0, Y = regression_data()
    net = regression_net()
    seen = []

    def on_epoch_end(rec):
        seen.append(rec)
        return rec["epoch"] == 3

    state = TrainingState()
    opt = SGD(net.theta, learning_rate_init=0.01)
    cfg = config(max_iter=100, tol=0.0, n_iter_no_change=100)
    outcome = train_stochastic(
        net,
        opt,
        TrainingData(A0, Y),
        cfg,
        state,
        np.random.RandomState(0),
        on_epoch_end=on_epoch_end,
    )
    assert outcome == STOPPED
    assert [r["epoch"] for r in seen] == [1, 2, 3]
    assert state.n_iter == 3 and state.history == seen
    assert [r["loss"] for r in seen] == state.loss_curve


def test_train_stochastic_with_validation():
    A0, Y = regression_data()
    net = regression_net()
    state = TrainingState(early_stopping=True)
    calls = []

    def validate(n):
        assert n is net
        calls.append(1)
        return 1.0 / len(calls), float(len(calls))  # val_loss falls, val_score rises

    opt = SGD(net.theta, learning_rate_init=0.01)
    cfg = config(max_iter=4, tol=0.0, n_iter_no_change=100, early_stopping=True)
    outcome = train_stochastic(
        net, opt, TrainingData(A0, Y), cfg, state, np.random.RandomState(0), validate=validate
    )
    assert outcome == MAX_ITER
    assert state.validation_scores == [1.0, 2.0, 3.0, 4.0]
    assert state.validation_loss_curve == [1.0, 0.5, 1 / 3, 0.25]
    assert state.best_validation_score == 4.0
    np.testing.assert_array_equal(state.best_theta, net.theta)


def test_train_stochastic_is_reproducible():
    A0, Y = regression_data()
    thetas = []
    for _ in range(2):
        net = regression_net()
        opt = SGD(net.theta, learning_rate_init=0.05)
        train_stochastic(
            net,
            opt,
            TrainingData(A0, Y),
            config(max_iter=5, shuffle=True),
            TrainingState(),
            np.random.RandomState(3),
        )
        thetas.append(net.theta.copy())
    np.testing.assert_array_equal(thetas[0], thetas[1])


# (position of the 1e300 sample, batch size, shuffle)
NON_FINITE_CASES = [
    pytest.param(0, 5, False, id="first-batch"),
    pytest.param(17, 5, False, id="last-batch"),
    pytest.param(17, 5, True, id="shuffled"),
    pytest.param(17, 20, False, id="full-batch"),
]


def run_with_huge_sample(position, batch_size, shuffle, activation):
    net = regression_net(activation, sizes=(3, 4, 1))
    A0, Y = regression_data()
    A0[0, position] = 1e300
    theta0 = net.theta.copy()
    state = TrainingState()
    opt = SGD(net.theta, learning_rate_init=0.01)
    cfg = config(batch_size=batch_size, shuffle=shuffle, max_iter=5)
    outcome = train_stochastic(net, opt, TrainingData(A0, Y), cfg, state, np.random.RandomState(0))
    return outcome, net, theta0, state


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the outcome only; see below
@pytest.mark.parametrize("activation", ["identity", "relu"])
@pytest.mark.parametrize("position, batch_size, shuffle", NON_FINITE_CASES)
def test_non_finite_input_outcome(position, batch_size, shuffle, activation):
    # A sample of 1e300 makes the cost overflow at the initial parameters:
    # the data, not the optimizer, is at fault, wherever the sample sits.
    outcome, net, theta0, state = run_with_huge_sample(position, batch_size, shuffle, activation)
    assert outcome == NON_FINITE_INPUT
    np.testing.assert_array_equal(net.theta, theta0)
    assert state.n_iter == 0 and state.loss_curve == [] and state.t == 0


@pytest.mark.parametrize("position, batch_size, shuffle", NON_FINITE_CASES[:1])
def test_non_finite_input_emits_no_runtime_warning(position, batch_size, shuffle):
    # The outcome is the report: numpy's overflow warnings should not leak
    # (pytest turns RuntimeWarning into an error).
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        outcome, *_ = run_with_huge_sample(position, batch_size, shuffle, "identity")
    assert outcome == NON_FINITE_INPUT


# (hidden activation, batch size): SGD with lr=1e6 on targets ~1e3 grows
# the weights geometrically until the cost overflows.
DIVERGENCE_CASES = [
    pytest.param("tanh", 20, id="tanh-full-batch"),  # 24 finite epochs
    pytest.param("tanh", 5, id="tanh-mini-batch"),  # 5 finite epochs
    pytest.param("logistic", 5, id="logistic-mini-batch"),
]


def run_divergent(activation, batch_size):
    net = regression_net(activation)
    A0, Y = regression_data(scale=1e3)
    opt = RecordingSGD(net.theta, momentum=0.0, learning_rate_init=1e6)
    state = TrainingState()
    # The non-finite rule on its own: the practical one (DivergenceRule) would
    # stop this run while the cost is still finite (tests/test_divergence.py).
    cfg = config(
        batch_size=batch_size, max_iter=200, tol=1e-4, n_iter_no_change=1000, divergence=None
    )
    outcome = train_stochastic(net, opt, TrainingData(A0, Y), cfg, state, np.random.RandomState(0))
    return outcome, net, opt, state


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow is the point here
@pytest.mark.parametrize("activation, batch_size", DIVERGENCE_CASES)
def test_diverged_keeps_last_finite_epoch(activation, batch_size):
    outcome, net, opt, state = run_divergent(activation, batch_size)
    assert outcome == DIVERGED
    assert state.n_iter >= 1  # some epochs completed before the blow-up
    assert state.n_iter < 200
    assert state.n_iter == len(state.loss_curve) <= len(opt.history)
    assert np.isfinite(net.theta).all()
    assert np.isfinite(state.loss_curve).all()
    # The parameters are exactly those after the last kept epoch, the latest
    # whose cost is finite on the whole training set (the epoch after it may
    # have left finite parameters that overflow on some samples: its record
    # is dropped with it).
    np.testing.assert_array_equal(net.theta, opt.history[state.n_iter - 1])
    A0, Y = regression_data(scale=1e3)
    assert np.isfinite(cost(net, forward(net, A0), Y))
    assert state.t == 20 * state.n_iter


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_diverged_in_first_epoch_restores_initial_parameters():
    # identity hidden layer, lr=1e6, batches of 5: the cost overflows within
    # epoch 1 after some steps; nothing is recorded and theta is the start.
    net = regression_net("identity")
    theta0 = net.theta.copy()
    A0, Y = regression_data(scale=1e3)
    state = TrainingState()
    opt = SGD(net.theta, momentum=0.0, learning_rate_init=1e6)
    cfg = config(batch_size=5, max_iter=50, divergence=None)
    outcome = train_stochastic(net, opt, TrainingData(A0, Y), cfg, state, np.random.RandomState(0))
    assert outcome == DIVERGED
    assert state.n_iter == 0
    np.testing.assert_array_equal(net.theta, theta0)


def test_checkpoint_keeps_the_previous_epoch_only_when_asked():
    net = regression_net()
    opt = SGD(net.theta, momentum=0.9, learning_rate_init=0.1)
    checkpoint = Checkpoint()
    first = net.theta.copy()
    checkpoint.save(net, opt)
    assert checkpoint.previous is None
    net.theta += 1.0
    opt.velocity += 2.0
    second = net.theta.copy()
    checkpoint.save(net, opt, keep_previous=True)
    np.testing.assert_array_equal(checkpoint.previous, first)
    np.testing.assert_array_equal(checkpoint.theta, second)
    buffers = {id(checkpoint.theta), id(checkpoint.previous)}
    net.theta += 1.0
    checkpoint.save(net, opt, keep_previous=True)  # the buffers are reused
    assert {id(checkpoint.theta), id(checkpoint.previous)} == buffers
    np.testing.assert_array_equal(checkpoint.previous, second)
    checkpoint.save(net, opt)
    assert checkpoint.previous is None
    # restore: the parameters and the optimizer state of the last save.
    saved_theta, saved_velocity = net.theta.copy(), opt.velocity.copy()
    net.theta -= 5.0
    opt.velocity -= 5.0
    checkpoint.restore(net, opt)
    np.testing.assert_array_equal(net.theta, saved_theta)
    np.testing.assert_array_equal(opt.velocity, saved_velocity)


def test_training_data_magnitudes():
    A0 = np.array([[1.0, -7.0], [2.0, 3.0]])
    Y = np.array([[0.5, -2.0]])
    assert TrainingData(A0, Y).magnitudes() == (7.0, 2.0, 2.0)
    weights = np.array([0.5, 3.0])
    assert TrainingData(A0, Y, weights).magnitudes() == (7.0, 2.0, 3.5)


# train: L-BFGS and interrupts -----------------------------------------------
def test_train_lbfgs_records_each_iteration_and_stops_on_request():
    A0, Y = regression_data()
    net = regression_net()
    J0, _ = cost_and_gradient(net, A0, Y)
    seen = []

    def on_epoch_end(rec):
        seen.append(rec)
        return rec["epoch"] == 4

    state = TrainingState()
    outcome = train(
        Model(net, state),
        TrainingData(A0, Y),
        Lbfgs(max_fun=15000),
        Settings(max_iter=100, tol=1e-8, alpha=0.0),
        on_epoch_end=on_epoch_end,
    )
    assert outcome.reason == STOPPED
    assert state.n_iter == 4 == len(state.loss_curve) and state.history == seen
    assert all(r["learning_rate"] is None for r in seen)
    assert state.loss_curve[-1] < J0
    # The network holds the iterate of the last record.
    J, _ = cost_and_gradient(net, A0, Y)
    assert J == pytest.approx(state.loss_curve[-1], rel=1e-12)


def test_train_lbfgs_converges():
    A0, Y = regression_data()
    state = TrainingState()
    outcome = train(
        Model(regression_net(), state),
        TrainingData(A0, Y),
        Lbfgs(),
        Settings(max_iter=500, tol=1e-4, alpha=1e-3),
    )
    assert outcome.reason == CONVERGED and outcome.message
    assert state.best_loss == min(state.loss_curve)


@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_train_interrupted_keeps_the_last_recorded_epoch(solver):
    """Ctrl-C in the middle of epoch 3: the outcome is the model after epoch 2."""
    A0, Y = regression_data()

    def run(max_iter, interrupt_at=None):
        net = regression_net()
        state = TrainingState()
        calls = []

        def validate(n):
            calls.append(1)
            if len(calls) == interrupt_at:
                raise KeyboardInterrupt
            return 0.0, 0.0

        opt = SGD(net.theta, learning_rate_init=0.01) if solver == "sgd" else None
        how = Stochastic(batch_size=5, rng=np.random.RandomState(0)) if solver == "sgd" else Lbfgs()
        return train(
            Model(net, state, opt),
            TrainingData(A0, Y),
            how,
            Settings(max_iter=max_iter, tol=0.0, alpha=0.0),
            validate=validate,
        )

    interrupted, clean = run(10, interrupt_at=3), run(2)
    assert interrupted.reason == INTERRUPTED
    assert isinstance(interrupted.interrupt, KeyboardInterrupt)
    assert interrupted.model.state.n_iter == 2
    assert interrupted.model.state.loss_curve == clean.model.state.loss_curve
    np.testing.assert_array_equal(interrupted.model.network.theta, clean.model.network.theta)
