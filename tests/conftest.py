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
