"""The small data sets several test modules share (read-only arrays).

Test modules import them (``from testdata import SMALL``; conftest.py puts
this folder on the path) or take the fixtures of the same name in conftest.py
(``small_data``, ``trust_data``). The arrays are read-only, so that no test
can change what another sees.
"""

from types import SimpleNamespace

import numpy as np


def _frozen(**arrays) -> SimpleNamespace:
    for a in arrays.values():
        a.flags.writeable = False
    return SimpleNamespace(**arrays)


def _small() -> SimpleNamespace:
    """60 x 4 standard normal features; binary, 3-class, multilabel, real and count targets,
    and a held-out set of 40 from the same distributions."""
    rng = np.random.RandomState(0)
    X = rng.randn(60, 4)
    y_reg = X[:, 0] - 2 * X[:, 1] + 0.5 * X[:, 2] * X[:, 3] + 0.1 * rng.randn(60)
    counts = rng.poisson(np.exp(0.5 * X[:, 0])).astype(float)
    X_val = rng.randn(40, 4)
    return _frozen(
        X=X,
        y_binary=(X[:, 0] + X[:, 1] > 0).astype(int),
        y_3=np.digitize(X[:, 0] - X[:, 2], [-0.6, 0.6]),
        y_multilabel=np.column_stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 2] + X[:, 3] > 0]).astype(int),
        y_reg=y_reg,
        y_counts=counts,
        X_val=X_val,
        y_val_3=np.digitize(X_val[:, 0] - X_val[:, 2], [-0.6, 0.6]),
        y_val_reg=X_val[:, 0] - 2 * X_val[:, 1] + 0.5 * X_val[:, 2] * X_val[:, 3],
    )


def _trust() -> SimpleNamespace:
    """40 x 4 standard normal features (already on the unit scale) and simple targets."""
    rng = np.random.RandomState(0)
    X = rng.randn(40, 4)
    return _frozen(
        X=X,
        y_binary=(X[:, 0] - X[:, 1] > 0).astype(int),
        y_3=np.digitize(X[:, 0] - X[:, 1], [-0.6, 0.6]),
        y_reg=X[:, 0] - 2 * X[:, 1] + 0.1 * rng.randn(40),
    )


#: The 60-sample set of the behaviour and beyond tests.
SMALL = _small()
#: The 40-sample set of the trust tests.
TRUST = _trust()
