"""Fixtures shared by the test modules."""

import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits


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
