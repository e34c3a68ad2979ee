"""Memory of a fit, counted in parameter vectors (tracemalloc is deterministic).

A stochastic fit holds, besides the batch buffers:

* adam: theta, the gradient, the two moments, and the checkpoint of the
  epoch's start (theta and both moments) for Ctrl-C and divergence: 7 vectors;
* sgd with momentum: theta, the gradient, the velocity and their checkpoint:
  5 vectors.

A regression that keeps one more copy of the parameters (a second
checkpoint in ordinary training, an optimizer scratch vector, a snapshot
allocated anew every epoch) adds a whole vector and fails here.
"""

import tracemalloc
import warnings

import numpy as np
import pytest

from scratchmlp import ScratchMLPClassifier
from scratchmlp._training import Checkpoint

N_SAMPLES, N_FEATURES, HIDDEN, CLASSES, BATCH = 2000, 300, (256, 128), 10, 50


def _fit_peak(solver, dtype, **params):
    rng = np.random.RandomState(0)
    X = rng.randn(N_SAMPLES, N_FEATURES).astype(dtype)
    y = rng.randint(0, CLASSES, N_SAMPLES)
    model = ScratchMLPClassifier(
        HIDDEN, solver=solver, batch_size=BATCH, max_iter=3, random_state=0, **params
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tracemalloc.start()
        try:
            model.fit(X, y)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # The batch buffers: the gathered input, then A and dZ of every layer
    # (Z shares A's buffer for relu).
    batch = BATCH * (N_FEATURES + 2 * (sum(HIDDEN) + CLASSES)) * X.itemsize
    return peak - batch, model._net.theta.nbytes


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver, vectors", [("adam", 7), ("sgd", 5)])
def test_fit_holds_a_fixed_number_of_parameter_vectors(solver, vectors, dtype):
    peak, theta = _fit_peak(solver, dtype)
    # Targets, sample order and Python objects stay well under one vector.
    assert peak / theta < vectors + 0.9


def test_ordinary_training_keeps_one_checkpoint(monkeypatch):
    """The start of the epoch before is kept only while overflow is possible."""
    kept = []
    original = Checkpoint.save

    def save(self, net, optimizer, keep_previous=False):
        kept.append(keep_previous)
        original(self, net, optimizer, keep_previous)

    monkeypatch.setattr(Checkpoint, "save", save)
    _fit_peak("adam", np.float32)
    assert kept == [False, False, False]
