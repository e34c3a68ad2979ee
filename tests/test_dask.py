"""Dask: hyper-parameter search on a cluster, and out-of-core training.

These need the optional ``distributed`` extra (``dask[distributed]``, and
``dask-ml`` for the ``Incremental`` test); without it the module is skipped.

The cluster is a ``distributed.LocalCluster`` on the loopback interface only:
two in-process workers (``processes=False``) of one thread each, talking to
the scheduler over TCP on 127.0.0.1, so every task and result is serialized
exactly as on a real cluster, without the cost of spawning worker processes.
No dashboard, no other network.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

import dask  # noqa: E402
import joblib  # noqa: E402
import psutil  # noqa: E402  (a dependency of distributed)
from distributed import Client, LocalCluster, get_task_stream  # noqa: E402
from sklearn.datasets import load_digits, make_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from scratchmlp import ScratchMLPClassifier  # noqa: E402

pytestmark = [
    # The searches and the short out-of-core runs stop at max_iter on purpose.
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    # Older dask (< 2025.2) warns when a test picks the synchronous scheduler
    # on purpose while the module's cluster is up.
    pytest.mark.filterwarnings("ignore:Running on a single-machine scheduler:UserWarning"),
]


@pytest.fixture(scope="module")
def client():
    """A two-worker cluster on 127.0.0.1, closed (workers, scheduler, client) after the module."""
    # Processes already there (e.g. joblib's reusable loky workers from other modules).
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    cluster = LocalCluster(
        host="127.0.0.1",
        protocol="tcp",  # in-process workers default to inproc://, which rejects a host
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        dashboard_address=None,
        # The scheduler still serves a small HTTP API (health, metrics): bind
        # it to a free loopback port rather than the fixed 8787, which another
        # run may hold.
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
    )
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
    assert cluster.status.name == "closed"
    # dask's default scheduler is the local one again for the modules after this.
    assert dask.config.get("scheduler", None) is None
    # Nothing left running: the workers lived in this process, and no
    # process was started (a change to processes=True must close them too).
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= before


@pytest.fixture(autouse=True)
def one_blas_thread():
    """One BLAS thread: tiny matrices, and bit-identical results whatever the concurrency."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# ---------------------------------------------------------------------------
# Hyper-parameter search on the cluster, through joblib's dask backend.
# ---------------------------------------------------------------------------
def test_grid_search_on_the_cluster_equals_the_local_one(client):
    X, y = load_digits(return_X_y=True)
    X, y = X[:600] / 16.0, y[:600]
    estimator = ScratchMLPClassifier(hidden_layer_sizes=(16,), max_iter=30, random_state=0)
    grid = {"alpha": [1e-4, 1e-2], "learning_rate_init": [1e-3, 1e-2]}

    local = GridSearchCV(estimator, grid, cv=3, n_jobs=1).fit(X, y)
    with get_task_stream(client) as tasks, joblib.parallel_config(backend="dask"):
        remote = GridSearchCV(estimator, grid, cv=3).fit(X, y)

    assert tasks.data, "the search did not run on the cluster"
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    np.testing.assert_array_equal(
        remote.cv_results_["rank_test_score"], local.cv_results_["rank_test_score"]
    )
    # GridSearchCV refits the best candidate in this process: the same model.
    np.testing.assert_array_equal(
        remote.best_estimator_.predict_proba(X), local.best_estimator_.predict_proba(X)
    )
    assert local.best_score_ > 0.8


# ---------------------------------------------------------------------------
# Out-of-core training: partial_fit on one chunk of a dask array at a time.
# ---------------------------------------------------------------------------
EPOCHS = 3
CHUNK = 100


@pytest.fixture(scope="module")
def chunked():
    """5000 samples, 3 classes: 4000 for training in 40 chunks of 100 rows, 1000 for testing."""
    X, y = make_classification(
        n_samples=5000, n_features=20, n_informative=10, n_classes=3, random_state=0
    )
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=1000, random_state=0)
    dX = da.from_array(X_train, chunks=(CHUNK, -1))
    dy = da.from_array(y_train, chunks=CHUNK)
    assert dX.numblocks == (40, 1)
    return dX, dy, X_test, y_test, np.unique(y)


def _model(**params):
    return ScratchMLPClassifier(
        hidden_layer_sizes=(32,), learning_rate_init=3e-3, random_state=0, **params
    )


@pytest.fixture(scope="module")
def in_memory_accuracy(chunked):
    """The same network, fitted in memory for as many epochs, in batches of a chunk."""
    dX, dy, X_test, y_test, _ = chunked
    with dask.config.set(scheduler="synchronous"):
        X_train, y_train = dask.compute(dX, dy)
    with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = _model(max_iter=EPOCHS, batch_size=CHUNK).fit(X_train, y_train)
    return model.score(X_test, y_test)


# Measured with these seeds: 0.825 in memory, 0.824 out of core (both ways);
# over eight seeds of the weights and block order, 0.81-0.83 either way and
# never more than 0.02 apart (three classes: chance is 0.33).
MARGIN = 0.03
FLOOR = 0.75


def _incremental():
    wrappers = pytest.importorskip("dask_ml.wrappers")
    return wrappers.Incremental(
        _model(), scoring="accuracy", shuffle_blocks=True, random_state=np.random.RandomState(0)
    )


def test_incremental_matches_the_in_memory_fit(chunked, in_memory_accuracy):
    dX, dy, X_test, y_test, classes = chunked
    n_blocks = dX.numblocks[0]
    incremental = _incremental()
    with dask.config.set(scheduler="synchronous"):
        # fit: one pass over the blocks, from a fresh clone of the model;
        # partial_fit: one more pass each, from where the last one ended.
        incremental.fit(dX, dy, classes=classes)
        for _ in range(EPOCHS - 1):
            incremental.partial_fit(dX, dy, classes=classes)

    model = incremental.estimator_
    assert isinstance(model, ScratchMLPClassifier)
    # One partial_fit call, and one recorded loss, per block per epoch: the
    # model never saw more than one chunk at a time.
    assert len(model.loss_curve_) == EPOCHS * n_blocks
    assert model.t_ == EPOCHS * dX.shape[0]
    np.testing.assert_array_equal(model.classes_, classes)

    accuracy = incremental.score(X_test, y_test)
    assert accuracy > FLOOR
    assert accuracy >= in_memory_accuracy - MARGIN

    # Prediction on a chunked array stays chunked, and agrees with the model's own.
    with dask.config.set(scheduler="synchronous"):
        predicted = incremental.predict(da.from_array(X_test, chunks=CHUNK))
        assert isinstance(predicted, da.Array)
        np.testing.assert_array_equal(predicted.compute(), model.predict(X_test))


def test_incremental_on_the_cluster_trains_the_same_model(client, chunked):
    """On the cluster the model is serialized over TCP whenever the next block's
    task runs on the other worker, and again back to the client; it must come
    back bit for bit the same as from the synchronous scheduler."""
    dX, dy, X_test, _, classes = chunked
    with get_task_stream(client) as tasks:
        remote = _incremental().fit(dX, dy, classes=classes).estimator_
    assert tasks.data, "the training did not run on the cluster"
    with dask.config.set(scheduler="synchronous"):
        local = _incremental().fit(dX, dy, classes=classes).estimator_

    assert remote.t_ == local.t_ == dX.shape[0]
    assert remote.loss_curve_ == local.loss_curve_
    for a, b in zip(remote.coefs_ + remote.intercepts_, local.coefs_ + local.intercepts_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(remote.predict_proba(X_test), local.predict_proba(X_test))


def test_out_of_core_with_dask_alone(chunked, in_memory_accuracy):
    """The same training with dask only: compute one block, partial_fit on it, drop it."""
    dX, dy, X_test, y_test, classes = chunked
    n_blocks = dX.numblocks[0]
    model = _model()
    rng = np.random.RandomState(0)
    with dask.config.set(scheduler="synchronous"):
        for _ in range(EPOCHS):
            for i in rng.permutation(n_blocks):
                X_block, y_block = dask.compute(dX.blocks[i], dy.blocks[i])
                assert X_block.shape == (CHUNK, dX.shape[1])
                model.partial_fit(X_block, y_block, classes=classes)

    assert len(model.loss_curve_) == EPOCHS * n_blocks
    accuracy = model.score(X_test, y_test)
    assert accuracy > FLOOR
    assert accuracy >= in_memory_accuracy - MARGIN
