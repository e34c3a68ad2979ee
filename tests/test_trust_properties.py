"""Trust (1): properties over inputs, architectures, solvers and targets.

Hypothesis draws shapes, dtypes, memory layouts, read-only and memory-mapped
input, sparse formats, architectures, activations, solvers and targets:
fitting and predicting give finite outputs of the documented shape and
dtype, and never modify the caller's arrays. The hypothesis settings are
derandomized so that CI is reproducible.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from testdata import TRUST
from trust_helpers import (
    ACTIVATION_NAMES,
    SOLVERS,
    _assert_bitwise,
    _quiet_fit,
    _weights,
)

from scratchmlp import ScratchMLPClassifier, ScratchMLPRegressor

X_STD, Y_BIN, Y_3, Y_REG = TRUST.X, TRUST.y_binary, TRUST.y_3, TRUST.y_reg

PROPERTY = settings(
    deadline=None,
    max_examples=40,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ===========================================================================
# 1. Properties over inputs, architectures, solvers and targets.
# ===========================================================================
LAYOUTS = [
    "C",
    "F",
    "cols_view",
    "rows_view",
    "readonly",
    "memmap",
    "csr",
    "csc",
    "csr_noncanonical",  # unsorted column indices and duplicate entries
]
X_DTYPES = ["float32", "float64", "int64", "bool"]
HIDDEN = [(), (3,), (4, 3)]
FLAGS = ["C_CONTIGUOUS", "F_CONTIGUOUS", "OWNDATA", "WRITEABLE", "ALIGNED", "WRITEBACKIFCOPY"]


@st.composite
def _cases(draw, kind):
    n_samples = draw(st.integers(2, 40))
    n_features = draw(st.integers(1, 6))
    hidden = draw(st.sampled_from(HIDDEN))
    if hidden and draw(st.booleans()):
        activation = [draw(st.sampled_from(ACTIVATION_NAMES)) for _ in hidden]
    else:
        activation = draw(st.sampled_from(ACTIVATION_NAMES))
    if kind == "classifier":
        target = draw(st.sampled_from(["binary", "multiclass", "multilabel"]))
    else:
        target = draw(st.sampled_from(["squared_error", "poisson"]))
    return {
        "n_samples": n_samples,
        "n_features": n_features,
        "dtype": draw(st.sampled_from(X_DTYPES)),
        "layout": draw(st.sampled_from(LAYOUTS)),
        "hidden": hidden,
        "activation": activation,
        "solver": draw(st.sampled_from(SOLVERS)),
        "target": target,
        "n_outputs": draw(st.integers(1, 2)) if kind == "regressor" else draw(st.integers(2, 3)),
        "sample_weight": draw(st.booleans()),
        "readonly_targets": draw(st.booleans()),  # y and sample_weight read-only
        "seed": draw(st.integers(0, 2**16)),
    }


_MEMMAP_IDS = itertools.count()


def _values(rng, shape, dtype):
    if dtype == "bool":
        return rng.rand(*shape) > 0.5
    if dtype == "int64":
        return rng.randint(-3, 4, size=shape).astype(np.int64)
    return rng.randn(*shape).astype(dtype)


def _make_X(case, rng, tmp_dir):
    """The input of the case, in the requested layout (and the base array it views)."""
    m, n, dtype, layout = case["n_samples"], case["n_features"], case["dtype"], case["layout"]
    if layout == "cols_view":
        return _values(rng, (m, 2 * n), dtype)[:, ::2]
    if layout == "rows_view":
        return _values(rng, (2 * m, n), dtype)[::2]
    X = _values(rng, (m, n), dtype)
    if layout == "F":
        return np.asfortranarray(X)
    if layout == "readonly":
        X.setflags(write=False)
        return X
    if layout == "memmap":
        path = tmp_dir / f"X_{next(_MEMMAP_IDS)}.dat"
        mm = np.memmap(path, dtype=X.dtype, mode="w+", shape=X.shape)
        mm[:] = X
        mm.flush()
        del mm
        return np.memmap(path, dtype=X.dtype, mode="r", shape=X.shape)
    if layout in ("csr", "csc"):
        X = np.where(rng.rand(m, n) < 0.4, X, np.zeros((), X.dtype))  # some explicit sparsity
        return sp.csr_matrix(X) if layout == "csr" else sp.csc_matrix(X)
    if layout == "csr_noncanonical":
        return _noncanonical_csr(X)
    return np.ascontiguousarray(X)


def _noncanonical_csr(X):
    """A CSR matrix equal to X whose rows list their columns in reverse, each
    nonzero of a float X split into two duplicate entries."""
    data, indices, indptr = [], [], [0]
    for row in X:
        for j in np.flatnonzero(row)[::-1]:
            if X.dtype.kind == "f":
                half = row[j] / 2
                data += [half, row[j] - half]
                indices += [j, j]
            else:
                data.append(row[j])
                indices.append(j)
        indptr.append(len(data))
    M = sp.csr_matrix(
        (np.array(data, dtype=X.dtype), np.array(indices, dtype=np.int32), np.array(indptr)),
        shape=X.shape,
    )
    return M


def _make_y(case, rng):
    m, k = case["n_samples"], case["n_outputs"]
    target = case["target"]
    if target in ("binary", "multiclass"):
        n_classes = 2 if target == "binary" else min(k + 1, m)  # 3 classes when m allows
        return rng.permutation(np.arange(m) % n_classes)
    if target == "multilabel":
        return (rng.rand(m, k) > 0.5).astype(np.int64)
    shape = (m,) if k == 1 else (m, k)
    y = rng.randn(*shape)
    return np.abs(y) if target == "poisson" else y


def _snapshot_array(a):
    """A deep copy of a caller's array with its flags (dense) or structure (sparse)."""
    if a is None:
        return None
    if sp.issparse(a):
        return (
            "sparse",
            a.format,
            a.data.copy(),
            a.indices.copy(),
            a.indptr.copy(),
            a.shape,
            a.dtype,
            a.has_sorted_indices,
        )
    flags = {f: bool(a.flags[f]) for f in FLAGS}
    return ("dense", np.array(a, copy=True), flags, a.dtype, a.shape, a.strides, type(a))


def _assert_untouched(a, snap, what):
    if a is None:
        return
    if snap[0] == "sparse":
        _, fmt, data, indices, indptr, shape, dtype, sorted_ = snap
        assert a.format == fmt and a.shape == shape and a.dtype == dtype, what
        _assert_bitwise(a.data, data, what + " data")
        _assert_bitwise(a.indices, indices, what + " indices")
        _assert_bitwise(a.indptr, indptr, what + " indptr")
        assert a.has_sorted_indices == sorted_, what
        return
    _, values, flags, dtype, shape, strides, kind = snap
    assert type(a) is kind and a.dtype == dtype and a.shape == shape, what
    assert a.strides == strides, what
    assert {f: bool(a.flags[f]) for f in FLAGS} == flags, what
    _assert_bitwise(np.asarray(a), values, what)


def _maybe_readonly(case, *arrays):
    if case["readonly_targets"]:
        for a in arrays:
            if a is not None:
                a.setflags(write=False)


def _one_row(X):
    return X[:1] if not sp.issparse(X) else X[[0]]


def _expected_float(case):
    return np.float32 if case["dtype"] == "float32" else np.float64


def _check_finite_attributes(est):
    for w in _weights(est):
        assert np.isfinite(w).all()
    assert np.isfinite(est.loss_curve_).all()
    assert np.isfinite(est.loss_)
    assert est.n_iter_ >= 1


def _fit_case(est, case, X, y, sw):
    if case["solver"] != "lbfgs" and case["seed"] % 3 == 0:
        # Some examples go through partial_fit instead of fit.
        labels = isinstance(est, ScratchMLPClassifier) and y.ndim == 1
        kw = {"classes": np.unique(y)} if labels else {}
        _quiet_fit(est, X, y, sample_weight=sw, method="partial_fit", **kw)
        return _quiet_fit(est, X, y, sample_weight=sw, method="partial_fit")
    return _quiet_fit(est, X, y, sample_weight=sw)


def _estimator(Estimator, case, **kw):
    return Estimator(
        hidden_layer_sizes=case["hidden"],
        activation=case["activation"],
        solver=case["solver"],
        max_iter=5,
        batch_size=min(7, case["n_samples"]),
        random_state=case["seed"],
        **kw,
    )


@pytest.fixture(scope="module")
def tmp_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("memmaps")


@PROPERTY
@given(case=_cases("classifier"))
def test_classifier_property(case, tmp_dir):
    rng = np.random.RandomState(case["seed"])
    X = _make_X(case, rng, tmp_dir)
    y = _make_y(case, rng)
    sw = rng.rand(case["n_samples"]) + 0.1 if case["sample_weight"] else None
    _maybe_readonly(case, y, sw)
    snaps = [_snapshot_array(a) for a in (X, y, sw)]
    est = _estimator(ScratchMLPClassifier, case)
    _fit_case(est, case, X, y, sw)
    for a, snap, what in zip((X, y, sw), snaps, ("X", "y", "sample_weight")):
        _assert_untouched(a, snap, what + " after fit")
    _check_finite_attributes(est)

    m, dtype = case["n_samples"], _expected_float(case)
    proba = est.predict_proba(X)
    log_proba = est.predict_log_proba(X)
    pred = est.predict(X)
    _assert_untouched(X, snaps[0], "X after predict")
    n_cols = y.shape[1] if y.ndim == 2 else len(np.unique(y))
    assert proba.shape == log_proba.shape == (m, n_cols)
    assert proba.dtype == dtype and log_proba.dtype == dtype
    assert np.isfinite(proba).all() and np.isfinite(log_proba).all()
    assert ((proba >= 0) & (proba <= 1)).all()
    assert (log_proba <= 0).all()
    if case["target"] == "multilabel":
        assert pred.shape == (m, n_cols)
        np.testing.assert_array_equal(pred, proba > 0.5)
    else:
        assert pred.shape == (m,)
        assert pred.dtype == y.dtype
        rtol = 1e-4 if dtype == np.float32 else 1e-10
        np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=rtol)
        np.testing.assert_array_equal(pred, est.classes_[np.argmax(proba, axis=1)])
    # One row at a time gives the same numbers (up to the BLAS kernel's rounding).
    one = est.predict_proba(_one_row(X))
    assert one.shape == (1, n_cols) and one.dtype == dtype
    np.testing.assert_allclose(
        one[0],
        proba[0],
        rtol=1e-4 if dtype == np.float32 else 1e-9,
        atol=1e-6 if dtype == np.float32 else 1e-12,
    )


@PROPERTY
@given(case=_cases("regressor"))
def test_regressor_property(case, tmp_dir):
    rng = np.random.RandomState(case["seed"])
    X = _make_X(case, rng, tmp_dir)
    y = _make_y(case, rng)
    sw = rng.rand(case["n_samples"]) + 0.1 if case["sample_weight"] else None
    _maybe_readonly(case, y, sw)
    snaps = [_snapshot_array(a) for a in (X, y, sw)]
    est = _estimator(ScratchMLPRegressor, case, loss=case["target"])
    _fit_case(est, case, X, y, sw)
    for a, snap, what in zip((X, y, sw), snaps, ("X", "y", "sample_weight")):
        _assert_untouched(a, snap, what + " after fit")
    _check_finite_attributes(est)

    pred = est.predict(X)
    _assert_untouched(X, snaps[0], "X after predict")
    assert pred.shape == y.shape
    assert pred.dtype == _expected_float(case)
    assert np.isfinite(pred).all()
    if case["target"] == "poisson":
        assert (pred >= 0).all()
    one = est.predict(_one_row(X))
    assert one.shape == (1, *y.shape[1:]) and one.dtype == pred.dtype
