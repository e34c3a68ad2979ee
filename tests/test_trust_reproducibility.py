"""Trust (3, 4): reproducibility and concurrency.

The same ``random_state`` gives the same bits; so does a pickle round trip,
including continued training; BLAS thread counts agree. Prediction from many
threads at once is exact and read-only.
"""

from __future__ import annotations

import copy
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from testdata import TRUST
from threadpoolctl import threadpool_limits
from trust_helpers import (
    SOLVERS,
    _assert_bitwise,
    _assert_weights_bitwise,
    _outputs,
    _quiet_fit,
    _weights,
)

from scratchmlp import ScratchMLPClassifier, ScratchMLPRegressor

X_STD, Y_BIN, Y_3, Y_REG = TRUST.X, TRUST.y_binary, TRUST.y_3, TRUST.y_reg


# ===========================================================================
# 3. Reproducibility.
# ===========================================================================
def _repro_estimator(kind, solver, **kw):
    """An estimator that draws from its random_state everywhere it can."""
    params = dict(
        hidden_layer_sizes=(6, 5), solver=solver, max_iter=8, random_state=7, batch_size=9
    )
    if solver != "lbfgs":
        params.update(dropout=0.2, early_stopping=True, validation_fraction=0.2)
    params.update(kw)
    if kind == "classifier":
        return ScratchMLPClassifier(**params), Y_3
    return ScratchMLPRegressor(**params), Y_REG


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize("solver", SOLVERS)
def test_same_random_state_same_bits(kind, solver):
    a, y = _repro_estimator(kind, solver)
    b, _ = _repro_estimator(kind, solver)
    _quiet_fit(a, X_STD, y)
    _quiet_fit(b, X_STD, y)
    _assert_weights_bitwise(a, b)
    assert a.loss_curve_ == b.loss_curve_
    assert a.validation_scores_ == b.validation_scores_
    for u, v in zip(_outputs(a, X_STD), _outputs(b, X_STD)):
        _assert_bitwise(u, v)


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize("solver", SOLVERS)
def test_pickle_round_trip_then_continue_training(kind, solver):
    est, y = _repro_estimator(kind, solver, early_stopping=False, dropout=0.0)
    if solver == "lbfgs":
        est.set_params(warm_start=True)
    _quiet_fit(est, X_STD, y)
    loaded = pickle.loads(pickle.dumps(est))
    _assert_weights_bitwise(est, loaded, "after unpickling")
    for u, v in zip(_outputs(est, X_STD), _outputs(loaded, X_STD)):
        _assert_bitwise(u, v)
    # Continue training both: the optimizer state (moments, velocity, step
    # count, learning rate) must have survived the round trip.
    for _ in range(2):
        if solver == "lbfgs":
            _quiet_fit(est, X_STD, y)
            _quiet_fit(loaded, X_STD, y)
        else:
            _quiet_fit(est, X_STD, y, method="partial_fit")
            _quiet_fit(loaded, X_STD, y, method="partial_fit")
        _assert_weights_bitwise(est, loaded, "after continued training")
    assert est.loss_curve_ == loaded.loss_curve_
    assert est.t_ == loaded.t_
    for u, v in zip(_outputs(est, X_STD), _outputs(loaded, X_STD)):
        _assert_bitwise(u, v)


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_pickling_does_not_modify_the_estimator(kind):
    """pickle.dumps(est) (and copy.deepcopy, clone's fallback) must leave est alone."""
    est, y = _repro_estimator(kind, "adam", early_stopping=False, dropout=0.0)
    _quiet_fit(est, X_STD, y)
    keys = list(vars(est))
    pickle.dumps(est)
    assert list(vars(est)) == keys, set(vars(est)) ^ set(keys)
    copy.deepcopy(est)
    assert list(vars(est)) == keys, set(vars(est)) ^ set(keys)


@pytest.mark.parametrize("solver", ["lbfgs", "adam", "sgd"])
def test_blas_thread_count_does_not_change_the_fit(solver):
    rng = np.random.RandomState(3)
    X = rng.randn(256, 32)
    y = (X[:, :3].sum(axis=1) > 0).astype(int) + (X[:, 3] > 1)
    fits = []
    for limit in (1, 2):
        est = ScratchMLPClassifier(
            hidden_layer_sizes=(64,), solver=solver, max_iter=10, batch_size=128, random_state=0
        )
        with threadpool_limits(limits=limit, user_api="blas"):
            _quiet_fit(est, X, y)
            proba = est.predict_proba(X)
        fits.append((est, proba))
    (a, pa), (b, pb) = fits
    for u, v in zip(_weights(a), _weights(b)):
        np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(pa, pb, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-6)


# ===========================================================================
# 4. Concurrency.
# ===========================================================================
def _state_fingerprint(est):
    """Keys, identities and the pickled values of ``__dict__``.

    The values are pickled as a plain dict, so that the estimator's own
    ``__getstate__`` (which must not matter here) is not involved.
    """
    return (
        list(vars(est)),
        {k: id(v) for k, v in vars(est).items()},
        pickle.dumps(dict(vars(est))),
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_concurrent_prediction_is_exact_and_read_only(kind, dtype):
    rng = np.random.RandomState(5)
    X = rng.randn(3000, 4).astype(dtype)
    if kind == "classifier":
        est = ScratchMLPClassifier((16, 8), solver="lbfgs", max_iter=30, random_state=0)
        y = np.digitize(X[:, 0] - X[:, 1], [-0.6, 0.6])
        method = "predict_proba"
    else:
        est = ScratchMLPRegressor(
            hidden_layer_sizes=(16, 8), solver="adam", max_iter=10, random_state=0
        )
        y = X[:, 0] - 2 * X[:, 1]
        method = "predict"
    _quiet_fit(est, X, y)
    serial = getattr(est, method)(X)
    before = _state_fingerprint(est)
    n_threads = 8
    barrier = threading.Barrier(n_threads)

    def work(_):
        barrier.wait()  # all threads predict at the same moment
        return [getattr(est, method)(X) for _ in range(3)]

    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        results = list(pool.map(work, range(n_threads)))
    for per_thread in results:
        for out in per_thread:
            _assert_bitwise(out, serial)
    assert _state_fingerprint(est) == before
