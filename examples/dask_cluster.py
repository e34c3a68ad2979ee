"""ScratchMLPClassifier on a dask cluster: a grid search, then out-of-core training.

Needs the optional dask packages (``pip install "dask[distributed]" dask-ml``;
without dask-ml, part 2 falls back to a plain loop over the blocks). Run from
the repository root::

    python examples/dask_cluster.py                      # a local cluster on 127.0.0.1
    python examples/dask_cluster.py tcp://scheduler-host:8786  # an existing scheduler
    DASK_SCHEDULER_ADDRESS=tcp://scheduler-host:8786 python examples/dask_cluster.py

An existing cluster is one started with ``dask scheduler`` and ``dask worker
tcp://...:8786`` on the machines you mean to use; every worker needs the same
versions of scratchmlp, scikit-learn and numpy as this script (and, for
these small matrices, one BLAS thread: ``OMP_NUM_THREADS=1 dask worker ...``).
With no address, the script starts a ``distributed.LocalCluster`` on the
loopback interface only (two workers, one thread each, no dashboard) and
closes it at the end; it then takes under a minute on two cores.

What it does:

1. ``GridSearchCV`` over a pipeline (scaler + ScratchMLPClassifier) on the
   8x8 digits. The code is the usual scikit-learn code; only the
   ``joblib.parallel_config(backend="dask")`` block around ``fit`` sends
   each (candidate, fold) fit to the cluster's workers. The estimator needs
   nothing special: it is pickled to the workers like any scikit-learn model.
2. Out-of-core training. The data is a lazy dask array, made chunk by chunk
   on the workers, that is never held in memory whole (here 100,000 samples
   in chunks of 2,000: imagine it read from Parquet or Zarr files instead).
   ``dask_ml.wrappers.Incremental`` calls ``partial_fit`` on one chunk after
   another; the model travels from chunk to chunk, and only one chunk is
   in memory at a time. Accuracy is then computed on a held-out lazy array.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from contextlib import ExitStack

import dask
import dask.array as da
import joblib
import numpy as np
from distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits  # installed with scikit-learn

from scratchmlp import ScratchMLPClassifier

SEED = 0

# Part 2: the synthetic stream. Labels come from a fixed random "teacher"
# network, so that there is a nonlinear rule to learn.
N_FEATURES, N_CLASSES, TEACHER_HIDDEN = 20, 3, 8
N_TRAIN, N_TEST, CHUNK = 100_000, 20_000, 2_000
EPOCHS = 2


# ---------------------------------------------------------------------------
# 1. Grid search on the cluster.
# ---------------------------------------------------------------------------
def grid_search(client: Client) -> GridSearchCV:
    X, y = load_digits(return_X_y=True)
    pipeline = make_pipeline(
        StandardScaler(),
        ScratchMLPClassifier(hidden_layer_sizes=(32,), max_iter=40, random_state=SEED),
    )
    grid = {
        "scratchmlpclassifier__alpha": [1e-4, 1e-1],
        "scratchmlpclassifier__learning_rate_init": [1e-3, 1e-2],
    }
    search = GridSearchCV(
        pipeline, grid, cv=StratifiedKFold(n_splits=3, shuffle=True, random_state=SEED)
    )
    start = time.perf_counter()
    with joblib.parallel_config(backend="dask"):
        search.fit(X, y)  # each (candidate, fold) fit runs on a worker
    elapsed = time.perf_counter() - start

    n_fits = len(search.cv_results_["params"]) * search.n_splits_
    print(
        f"GridSearchCV: {n_fits} fits on {len(client.scheduler_info()['workers'])} "
        f"workers in {elapsed:.1f} s"
    )
    for params, mean in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
        short = {name.split("__")[1]: value for name, value in params.items()}
        print(f"  {short}  CV accuracy {mean:.4f}")
    print(f"best: {search.best_params_}, CV accuracy {search.best_score_:.4f}")
    return search


# ---------------------------------------------------------------------------
# 2. Out-of-core training on a lazy, chunked array.
# ---------------------------------------------------------------------------
def _teacher_labels(X_block: np.ndarray, W1: np.ndarray, W2: np.ndarray) -> np.ndarray:
    """The class of each row: the argmax of a small fixed tanh network."""
    return np.argmax(np.tanh(X_block @ W1) @ W2, axis=1)


def lazy_data(n_samples: int, seed: int):
    """``(X, y)`` as dask arrays, generated block by block where they are computed."""
    teacher = np.random.RandomState(SEED)
    W1 = teacher.normal(size=(N_FEATURES, TEACHER_HIDDEN))
    W2 = teacher.normal(size=(TEACHER_HIDDEN, N_CLASSES))
    X = da.random.RandomState(seed).normal(size=(n_samples, N_FEATURES), chunks=(CHUNK, -1))
    y = X.map_blocks(_teacher_labels, W1, W2, drop_axis=1, dtype=np.intp)
    return X, y


def out_of_core() -> float:
    X, y = lazy_data(N_TRAIN, seed=1)
    X_test, y_test = lazy_data(N_TEST, seed=2)
    classes = np.arange(N_CLASSES)
    model = ScratchMLPClassifier(
        hidden_layer_sizes=(32,), batch_size=200, learning_rate_init=1e-2, random_state=SEED
    )
    print(
        f"\nOut of core: {N_TRAIN:,} samples in {X.numblocks[0]} chunks of {CHUNK:,} "
        f"({X.nbytes / 2**20:.0f} MiB if held at once), {EPOCHS} epochs"
    )
    start = time.perf_counter()
    try:
        from dask_ml.wrappers import Incremental
    except ImportError:
        Incremental = None
    if Incremental is not None:
        incremental = Incremental(
            model, scoring="accuracy", shuffle_blocks=True, random_state=np.random.RandomState(SEED)
        )
        incremental.fit(X, y, classes=classes)  # one pass: partial_fit on each chunk
        for _ in range(EPOCHS - 1):
            incremental.partial_fit(X, y, classes=classes)  # one more pass each
        model = incremental.estimator_
        how = "dask_ml.wrappers.Incremental"
    else:
        # The same with dask alone: compute one block, train on it, let it go.
        rng = np.random.RandomState(SEED)
        for _ in range(EPOCHS):
            for i in rng.permutation(X.numblocks[0]):
                X_block, y_block = dask.compute(X.blocks[i], y.blocks[i])
                model.partial_fit(X_block, y_block, classes=classes)
        how = "a loop over X.blocks (dask-ml is not installed)"
    elapsed = time.perf_counter() - start

    # Predict block by block as well, and count the hits without gathering the test set.
    predictions = X_test.map_blocks(model.predict, drop_axis=1, dtype=y_test.dtype)
    accuracy = float((predictions == y_test).mean().compute())
    print(
        f"trained with {how}: {len(model.loss_curve_)} partial_fit calls "
        f"in {elapsed:.1f} s, {model.t_:,} samples seen"
    )
    print(
        f"held-out accuracy on {N_TEST:,} new samples: {accuracy:.4f} (chance: {1 / N_CLASSES:.2f})"
    )
    return accuracy


# ---------------------------------------------------------------------------
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "scheduler",
        nargs="?",
        default=os.environ.get("DASK_SCHEDULER_ADDRESS"),
        help="address of a running dask scheduler, e.g. tcp://scheduler-host:8786 (default: "
        "$DASK_SCHEDULER_ADDRESS, else a local cluster on 127.0.0.1)",
    )
    args = parser.parse_args(argv)

    with ExitStack() as stack:
        if args.scheduler:
            client = stack.enter_context(Client(args.scheduler))
            print(f"connected to {args.scheduler}")
        else:
            cluster = stack.enter_context(
                LocalCluster(
                    host="127.0.0.1",
                    protocol="tcp",  # in-process workers would default to inproc://
                    n_workers=2,
                    threads_per_worker=1,
                    processes=False,
                    dashboard_address=None,
                    # The scheduler still serves a small HTTP API (health,
                    # metrics): on a free loopback port, not the fixed 8787.
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                )
            )
            client = stack.enter_context(Client(cluster))
            print(f"started a local cluster at {cluster.scheduler_address}")

        # The searches stop at max_iter on purpose: short runs for an example.
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore",
                message=r"Stochastic Optimizer: Maximum iterations",
                category=ConvergenceWarning,
            )
            search = grid_search(client)
            accuracy = out_of_core()

    # A smoke check, so that running the example also tells whether it worked.
    if search.best_score_ < 0.9 or accuracy < 0.85:
        print(
            f"\nFAIL: CV accuracy {search.best_score_:.4f} (want >= 0.9), "
            f"out-of-core accuracy {accuracy:.4f} (want >= 0.85)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    # One BLAS thread: the matrices are small, and the local cluster's workers
    # are threads of this process, where more BLAS threads only compete.
    with threadpool_limits(limits=1, user_api="blas"):
        status = main()
    sys.exit(status)
