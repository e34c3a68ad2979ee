"""Fixtures shared by the test modules."""

import sys
import warnings
from pathlib import Path

import pytest
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

# The shared data sets and helpers (testdata.py, trust_helpers.py, ...) are
# modules of this folder; with --import-mode=importlib it is not on the path.
sys.path.insert(0, str(Path(__file__).parent))

from testdata import SMALL, TRUST  # noqa: E402

from scratchmlp import DivergenceWarning  # noqa: E402


@pytest.fixture(scope="module")
def one_blas_thread():
    """One BLAS thread: on small matrices, threads only contend on the 2-core CI machine."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture
def quiet_convergence():
    """Silence ConvergenceWarning for tests whose short fits are the point."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@pytest.fixture(scope="session")
def small_data():
    """60 x 4 features with binary, 3-class, multilabel, real and count targets (read-only)."""
    return SMALL


@pytest.fixture(scope="session")
def trust_data():
    """40 x 4 features with binary, 3-class and real targets (read-only)."""
    return TRUST


@pytest.fixture(autouse=True)
def no_unexpected_divergence(monkeypatch):
    """Make every DivergenceWarning that a test does not expect fail it.

    pyproject.toml turns DivergenceWarning into an error, but many tests
    silence ConvergenceWarning, its base class, and an "ignore" filter would
    hide a false alarm of the divergence rules too. So while a test runs, a
    DivergenceWarning skips the "ignore" filters: it is recorded where the
    test records warnings (``pytest.warns``, ``catch_warnings(record=True)``
    with "always") and raised everywhere else.
    """
    warn = warnings.warn

    def strict_warn(message, category=None, stacklevel=1, source=None, **kwargs):
        if category is None:
            category = type(message) if isinstance(message, Warning) else UserWarning
        if not issubclass(category, DivergenceWarning):
            return warn(message, category, stacklevel + 1, source, **kwargs)
        with warnings.catch_warnings():
            warnings.filters[:] = [
                f for f in warnings.filters if not (f[0] == "ignore" and issubclass(category, f[2]))
            ]
            return warn(message, category, stacklevel + 1, source, **kwargs)

    monkeypatch.setattr(warnings, "warn", strict_warn)
