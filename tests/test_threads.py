"""The BLAS thread policy: never a different model, never more threads than allowed.

The policy itself (scratchmlp._threads) measures time, which a test cannot
rely on; these tests script its measurements instead (``measure`` returns
chosen times) and check what matters whatever they say: the model is
bitwise the model of a fixed thread count, a fit switches counts only when
its computations are identical under every count, the caller's limit is
never exceeded, and concurrent calls from Python threads change nothing for
one another.
"""

import itertools
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info, threadpool_limits

from scratchmlp import (
    ScratchMLPClassifier,
    _threads,
    config_context,
    get_config,
    set_config,
)


def numpy_threads() -> int:
    return _threads._blas().numpy_threads()


def scipy_threads() -> list:
    return [
        d["num_threads"]
        for d in threadpool_info()
        if d["user_api"] == "blas" and "scipy" in d["filepath"] and "numpy" not in d["filepath"]
    ]


@pytest.fixture(autouse=True)
def fresh_policy():
    """Each test starts with no verdicts, no checked signatures and no region inside."""
    _threads._STATE.verdicts.clear()
    _threads._STATE.switchable.clear()
    assert _threads._STATE.active == 0
    yield
    _threads._STATE.verdicts.clear()
    _threads._STATE.switchable.clear()
    assert _threads._STATE.active == 0


@pytest.fixture
def two_threads():
    """numpy's BLAS on 2 threads and no Python thread in control of it, as a program starts."""
    blas = _threads._blas()
    before = blas.numpy_threads()
    release = getattr(type(blas.numpy[0]), "clear_controlling_thread", lambda force: None)
    blas.set_numpy(2)
    release(force=True)
    yield
    blas.set_numpy(before)
    release(force=True)


@pytest.fixture
def sets(monkeypatch):
    """Every count the policy sets on numpy's BLAS, with the regions inside at the time."""
    calls = []
    original = _threads._Blas.set_numpy

    def set_numpy(self, count):
        calls.append((count, _threads._STATE.active))
        return original(self, count)

    monkeypatch.setattr(_threads._Blas, "set_numpy", set_numpy)
    return calls


def scripted(monkeypatch, winners, every_epoch=True):
    """Make each measurement say that the next count of ``winners`` is the fastest.

    With ``every_epoch`` verdicts expire at once, so a switchable fit
    measures again after every epoch.
    """
    winners = itertools.cycle(winners)
    measured = []

    def measure(run, counts, set_count, passes):
        winner = next(winners)
        measured.append(winner)
        return {k: (0.5 if k == winner else 1.0) for k in counts}

    monkeypatch.setattr(_threads, "measure", measure)
    if every_epoch:
        monkeypatch.setattr(_threads, "TTL_MIN", 0.0)
        monkeypatch.setattr(_threads, "TTL_MAX", 0.0)
    return measured


class EpochThreads:
    """A callback recording numpy's BLAS thread count at the end of each epoch."""

    def __init__(self):
        self.counts = []

    def on_epoch_end(self, estimator, record):
        self.counts.append(numpy_threads())
        return False


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def digits_scaled(digits):
    X, y = digits
    return X[:1150], y[:1150]  # 5 full batches and one of 150


def _bitwise(a, b) -> bool:
    return a.n_iter_ == b.n_iter_ and all(
        wa.tobytes() == wb.tobytes()
        for wa, wb in zip(
            [np.asarray(a.loss_curve_), *a.coefs_, *a.intercepts_],
            [np.asarray(b.loss_curve_), *b.coefs_, *b.intercepts_],
        )
    )


def _fit(X, y, **params):
    params = {"max_iter": 8, "random_state": 0, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return ScratchMLPClassifier(**params).fit(X, y)


def _fixed(count, X, y, **params):
    with config_context(thread_policy="off"), threadpool_limits(limits=count, user_api="blas"):
        return _fit(X, y, **params)


# ---------------------------------------------------------------------------
# Never a different model.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("m", [1200, 1198])
@pytest.mark.parametrize("hidden, alpha", [((64,), 1e-4), ((128,), 1e-2)])
def test_the_policys_fit_is_a_fixed_counts_fit_and_switches_only_when_the_bits_agree(
    monkeypatch, sets, digits, hidden, alpha, m
):
    """The README's grid search fits, with batches of 200 and no last partial batch
    (m=1200) or the folds' last batch of 198 (m=1198).

    The policy, scripted to find 1 thread faster, then 2, then 1, ..., starts
    on 1 thread and must give exactly the fit of ``threadpool_limits(1)``; it
    switches counts between epochs if and only if the fits on 1 and on 2
    threads are bitwise the same. (On OpenBLAS 0.3.31's SkylakeX kernels they
    are for m=1200, and not for m=1198: a forward product over 198 columns
    splits differently over 2 threads.)
    """
    X, y = digits[0][:m], digits[1][:m]
    one = _fixed(1, X, y, hidden_layer_sizes=hidden, alpha=alpha)
    two = _fixed(2, X, y, hidden_layer_sizes=hidden, alpha=alpha)
    same = _bitwise(one, two)

    scripted(monkeypatch, [1, 2])
    epochs = EpochThreads()
    with threadpool_limits(limits=2, user_api="blas"):
        policy = _fit(X, y, hidden_layer_sizes=hidden, alpha=alpha, callbacks=[epochs])
    assert _bitwise(policy, one)
    assert list(_threads._STATE.switchable.values()) == [same]
    assert set(epochs.counts) == ({1, 2} if same else {1})
    assert all(active == 1 for _, active in sets)


def test_a_fit_whose_bits_depend_on_the_count_keeps_its_first_count(monkeypatch, digits_scaled):
    """Where the check finds count-dependent bits, no epoch runs on another count."""
    X, y = digits_scaled
    original = _threads.fit_probe

    def count_dependent(*args, **kwargs):
        probe = original(*args, **kwargs)
        probe.checks = lambda: [numpy_threads()]  # as if every product differed
        return probe

    monkeypatch.setattr(_threads, "fit_probe", count_dependent)
    monkeypatch.setattr("scratchmlp._base.fit_probe", count_dependent)
    measured = scripted(monkeypatch, [2, 1])
    epochs = EpochThreads()
    with threadpool_limits(limits=2, user_api="blas"):
        policy = _fit(X, y, callbacks=[epochs])
    assert measured == [2]  # measured once, at the start: never again
    assert epochs.counts == [2] * policy.n_iter_
    assert _bitwise(policy, _fixed(2, X, y))


def test_lbfgs_is_the_fit_of_the_count_it_started_on(monkeypatch, digits_scaled):
    """A full-batch fit is never switched (its products' inner dimension is all samples)."""
    X, y = digits_scaled
    scripted(monkeypatch, [2, 1])
    counts = []
    original = _threads.BlasThreads.__exit__

    def record_exit(region, *exc):
        counts.append(region.count)
        return original(region, *exc)

    monkeypatch.setattr(_threads.BlasThreads, "__exit__", record_exit)
    with threadpool_limits(limits=2, user_api="blas"):
        policy = _fit(X, y, solver="lbfgs", max_iter=15, hidden_layer_sizes=(64,))
    assert counts == [2]
    assert _bitwise(policy, _fixed(2, X, y, solver="lbfgs", max_iter=15, hidden_layer_sizes=(64,)))


def test_the_check_compares_the_fits_own_computations(digits_scaled):
    """fit_probe's check covers every batch shape and the validation set, bit for bit."""
    from scratchmlp._network import Network
    from scratchmlp._training import TrainingData

    X, y = digits_scaled
    net = Network([64, 32, 10], ["relu"], "log_loss")
    net.theta[:] = np.random.RandomState(0).randn(net.theta.size) * 0.1
    Y = np.eye(10, dtype=bool)[y].T
    calls = []

    def validation():
        calls.append(1)
        return 0.5, np.ones((3, 2))

    probe = _threads.fit_probe(net, TrainingData(X.T, Y), 200, True, 1e-4, 8, validation)
    digests = probe.checks()
    assert len(digests) == 3 and calls == [1]  # full batch, last batch of 150, validation
    assert digests == probe.checks()  # deterministic
    net.theta[0] += 1.0
    assert probe.checks()[:2] != digests[:2]  # it sees the parameters it is given
    assert probe.largest == 32 * 64 * 200


# ---------------------------------------------------------------------------
# The caller's limit.
# ---------------------------------------------------------------------------
def test_never_more_than_threadpool_limits(monkeypatch, sets, digits_scaled):
    X, y = digits_scaled
    measured = scripted(monkeypatch, [2])  # more threads would win, were they allowed
    epochs = EpochThreads()
    with threadpool_limits(limits=1, user_api="blas"):
        _fit(X, y, callbacks=[epochs])
        assert numpy_threads() == 1
    assert epochs.counts and set(epochs.counts) == {1}
    assert measured == []  # with one thread allowed, nothing to choose
    assert all(count <= 1 for count, _ in sets)


def test_never_more_than_the_limit_in_a_prediction(monkeypatch, sets, digits_scaled):
    X, y = digits_scaled
    model = _fixed(1, X, y)
    scripted(monkeypatch, [2])
    big = np.tile(X, (20, 1))  # long enough to be measured
    with threadpool_limits(limits=1, user_api="blas"):
        model.predict_proba(big)
    with threadpool_limits(limits=2, user_api="blas"):
        model.predict_proba(big)
        assert numpy_threads() == 2  # the caller's count is back
    assert sets and max(count for count, _ in sets) == 2


class Greedy:
    """Scripts the policy to want every thread allowed, and records each epoch's count.

    Pickled by value into joblib's workers, where its hooks run around the fit.
    """

    def on_train_begin(self, estimator):
        self.limit, self.counts = numpy_threads(), []
        self.measure = _threads.measure
        _threads.measure = lambda run, counts, set_count, passes: {k: 1.0 / k for k in counts}

    def on_epoch_end(self, estimator, record):
        self.counts.append(numpy_threads())
        return False

    def on_train_end(self, estimator):
        _threads.measure = self.measure


def excess_threads(estimator, X, y):
    """A scorer: the most threads an epoch ran on, over the limit at the start of the fit."""
    greedy = estimator.callbacks[0]
    return max(greedy.counts) - greedy.limit


def test_never_more_than_openblas_num_threads():
    code = """
        import json, warnings
        from sklearn.datasets import load_digits
        from scratchmlp import ScratchMLPClassifier, _threads
        warnings.simplefilter("ignore")
        _threads.measure = lambda run, counts, set_count, passes: {k: 1.0 / k for k in counts}
        X, y = load_digits(return_X_y=True)
        seen = []
        class Seen:
            def on_epoch_end(self, estimator, record):
                seen.append(_threads._blas().numpy_threads())
        ScratchMLPClassifier((64,), max_iter=3, random_state=0, callbacks=[Seen()]).fit(X, y)
        print(json.dumps([_threads._blas().numpy_threads(), max(seen)]))
    """
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    assert json.loads(out.stdout.splitlines()[-1]) == [1, 1]


def test_never_more_than_joblib_workers_allow(digits):
    """GridSearchCV(n_jobs=2): loky limits each worker's BLAS; no epoch goes beyond it."""
    try:  # what loky pickles with: vendored by older joblib, a dependency of newer ones
        from joblib.externals import cloudpickle
    except ImportError:
        import cloudpickle

    X, y = digits[0][:900], digits[1][:900]
    module = sys.modules[__name__]
    cloudpickle.register_pickle_by_value(module)
    try:
        est = ScratchMLPClassifier((64,), max_iter=3, random_state=0, callbacks=[Greedy()])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            search = GridSearchCV(
                est, {"alpha": [1e-4, 1e-3]}, cv=2, n_jobs=2, scoring=excess_threads
            ).fit(X, y)
    finally:
        cloudpickle.unregister_pickle_by_value(module)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 2 and (scores <= 0).all()


# ---------------------------------------------------------------------------
# Many Python threads at once.
# ---------------------------------------------------------------------------
def test_concurrent_predictions_are_each_the_prediction_of_one_fixed_count(
    two_threads, monkeypatch, sets, digits_scaled
):
    X, y = digits_scaled
    model = _fixed(1, X, y, hidden_layer_sizes=(128,))
    big = np.tile(X, (16, 1))
    expected = []
    for count in (1, 2):
        with config_context(thread_policy="off"), threadpool_limits(limits=count):
            expected.append(model.predict_proba(big))
    scripted(monkeypatch, [1, 2])
    results, errors = [], []

    def work():
        try:
            for _ in range(3):
                results.append(model.predict_proba(big))
        except Exception as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert numpy_threads() == 2
    assert not errors and len(results) == 18
    for r in results:
        assert any(r.tobytes() == e.tobytes() for e in expected)
    # Counts are set only by a region alone inside: never under another's products.
    assert sets and all(active == 1 for _, active in sets)


def test_the_count_stays_until_the_last_region_leaves(monkeypatch, two_threads):
    """The first region out does not restore the count under a region still inside."""
    scripted(monkeypatch, [1])
    probe = _threads.Probe(largest=10**9, key=("d", 30), run=lambda: None, passes=1e6)
    first, inside, leave = _threads.BlasThreads(), threading.Event(), threading.Event()
    seen = []

    def second():
        with _threads.BlasThreads():
            inside.set()
            leave.wait(10)
            seen.append(numpy_threads())

    other = threading.Thread(target=second)
    try:
        first.__enter__()
        first.start(probe)
        assert first.count == 1 == numpy_threads()
        other.start()
        assert inside.wait(10)
        first.__exit__(None, None, None)
        assert numpy_threads() == 1  # the second region still runs on it
        leave.set()
        other.join(10)
        assert seen == [1]
        assert numpy_threads() == 2  # restored by the last one out
    finally:
        leave.set()
        other.join(10)


# ---------------------------------------------------------------------------
# The rules: size, verdicts, off.
# ---------------------------------------------------------------------------
def test_small_products_run_on_one_thread_unmeasured(monkeypatch, sets):
    measured = scripted(monkeypatch, [2])
    rng = np.random.RandomState(0)
    X, y = rng.randn(120, 8), rng.randint(0, 3, 120)
    with threadpool_limits(limits=2, user_api="blas"):
        model = _fit(X, y, hidden_layer_sizes=(16,), max_iter=2)
        model.predict(X)
        assert numpy_threads() == 2
    assert measured == []
    assert [count for count, _ in sets] == [1, 1]  # the fit, the prediction


def test_a_fresh_verdict_is_reused_and_an_expired_one_measured_again(monkeypatch, digits_scaled):
    X, y = digits_scaled
    measured = scripted(monkeypatch, [1], every_epoch=False)
    with threadpool_limits(limits=2, user_api="blas"):
        _fit(X, y, max_iter=1)
        _fit(X, y, max_iter=1)
        assert measured == [1]
        for verdict in _threads._STATE.verdicts.values():
            verdict.expires = 0.0
        _fit(X, y, max_iter=1)
    assert measured == [1, 1]


def test_a_verdict_for_more_threads_is_checked_by_one_pass(monkeypatch, digits_scaled):
    """A machine that became busy since: the pass is slow, so the call measures again."""
    X, y = digits_scaled
    measured = scripted(monkeypatch, [2], every_epoch=False)
    with threadpool_limits(limits=2, user_api="blas"):
        _fit(X, y, max_iter=1)
        _fit(X, y, max_iter=1)
        assert measured == [2]
        monkeypatch.setattr(_threads, "_timed", lambda run, reps: 1e3)
        _fit(X, y, max_iter=1)
    assert measured == [2, 2]


def test_off_leaves_numpy_alone_and_scipy_on_one_thread(monkeypatch, sets, digits_scaled):
    X, y = digits_scaled
    seen = []

    class Scipy:
        def on_epoch_end(self, estimator, record):
            seen.append(scipy_threads())
            return False

    measured = scripted(monkeypatch, [1])
    with config_context(thread_policy="off"), threadpool_limits(limits=2, user_api="blas"):
        _fit(X, y, max_iter=2, callbacks=[Scipy()])
    assert sets == [] and measured == []
    assert seen and all(counts == [1] * len(counts) for counts in seen)


def test_measure_drops_a_slow_count_and_skips_busy_cpus(monkeypatch):
    current, runs = [1], []

    def set_count(k):
        current[0] = k
        return True

    def timed(run, reps):
        runs.append(current[0])
        return {1: 1.0, 2: 5.0, 4: 0.5}[current[0]]

    monkeypatch.setattr(_threads, "_timed", timed)
    monkeypatch.setattr(_threads, "_idle_cpus", lambda samples: None)
    monkeypatch.setattr(_threads, "BUDGET_MAX", 0.01)
    times = _threads.measure(lambda: None, [1, 2, 4], set_count, passes=100)
    assert 2 in runs and 2 not in times  # never settled within the budget: dropped
    assert _threads.best_count(times) == 4
    runs.clear()
    monkeypatch.setattr(_threads, "_idle_cpus", lambda samples: 0)  # another process's CPU
    times = _threads.measure(lambda: None, [1, 2, 4], set_count, passes=100)
    assert set(runs) == {1} and _threads.best_count(times) == 1


def test_more_threads_must_win_by_the_margin():
    assert _threads.best_count({1: 1.0, 2: 0.95}) == 1
    assert _threads.best_count({1: 1.0, 2: 0.85}) == 2
    assert _threads.best_count({1: 1.0, 2: 0.85, 4: 0.8}) == 2
    assert _threads.candidate_counts(1) == [1]
    assert _threads.candidate_counts(2) == [1, 2]
    assert _threads.candidate_counts(16) == [1, 8, 16]


def test_config_is_validated_and_per_thread():
    assert get_config() == {"thread_policy": "auto"}
    with pytest.raises(ValueError, match="thread_policy"):
        set_config(thread_policy="fast")
    with config_context(thread_policy="off"):
        other = []
        thread = threading.Thread(target=lambda: other.append(get_config()["thread_policy"]))
        thread.start()
        thread.join()
        assert get_config()["thread_policy"] == "off" and other == ["auto"]
    assert get_config()["thread_policy"] == "auto"


def test_a_region_costs_little():
    """Entering and leaving a region, as every predict does, takes microseconds."""
    with _threads.BlasThreads():
        pass
    start = time.perf_counter()
    for _ in range(200):
        with _threads.BlasThreads():
            pass
    assert (time.perf_counter() - start) / 200 < 1e-3
