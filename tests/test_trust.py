"""Guarantees a user can rely on, whatever the input: trust tests.

1. Properties (hypothesis) over shapes, dtypes, memory layouts, read-only and
   memory-mapped input, sparse formats, architectures, activations, solvers and
   targets: fitting and predicting give finite outputs of the documented shape
   and dtype, and never modify the caller's arrays.
2. Numerical extremes: huge but finite inputs saturate the probabilities,
   degenerate features and extreme ``alpha`` stay finite, all without a
   RuntimeWarning (the project runs with ``filterwarnings=error::RuntimeWarning``).
3. Reproducibility: the same ``random_state`` gives the same bits; so does a
   pickle round trip, including continued training; BLAS thread counts agree.
4. Concurrency: prediction from many threads at once is exact and read-only.
5. Interruption: a KeyboardInterrupt leaves a consistent, usable model and is
   never swallowed by scikit-learn's model selection.
6. A fit that fails on bad input leaves the fitted model exactly as it was
   (cases beyond ``tests/test_bad_input.py``).

The hypothesis settings are derandomized so that CI is reproducible.
"""

from __future__ import annotations

import copy
import itertools
import pickle
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from scratchmlp import ScratchMLPClassifier, ScratchMLPRegressor
from scratchmlp._activations import ACTIVATIONS

ACTIVATION_NAMES = sorted(ACTIVATIONS)
SOLVERS = ["lbfgs", "sgd", "adam", "rmsprop", "adamw"]
STOCHASTIC = ["sgd", "adam", "rmsprop", "adamw"]

PROPERTY = settings(
    deadline=None,
    max_examples=40,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _quiet_fit(est, *args, **kw):
    """Fit (or partial_fit with ``method=``) with ConvergenceWarning silenced.

    Every other warning keeps its configured behaviour: a RuntimeWarning
    still fails the test.
    """
    method = kw.pop("method", "fit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return getattr(est, method)(*args, **kw)


def _weights(est):
    return [a.copy() for a in est.coefs_ + est.intercepts_]


def _assert_bitwise(a, b, what=""):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, what
    # Bitwise: compare the raw bytes, so that -0.0 vs 0.0 or NaN payloads count.
    assert a.tobytes() == b.tobytes(), what


def _assert_weights_bitwise(est, other, what=""):
    wa, wb = _weights(est), _weights(other)
    assert len(wa) == len(wb)
    for i, (a, b) in enumerate(zip(wa, wb)):
        _assert_bitwise(a, b, f"{what} parameter {i}")


# ===========================================================================
# 1. Properties over inputs, architectures, solvers and targets.
# ===========================================================================
LAYOUTS = [
    "C", "F", "cols_view", "rows_view", "readonly", "memmap", "csr", "csc",
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
        return ("sparse", a.format, a.data.copy(), a.indices.copy(), a.indptr.copy(), a.shape,
                a.dtype, a.has_sorted_indices)
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
        kw = {"classes": np.unique(y)} if isinstance(est, ScratchMLPClassifier) and y.ndim == 1 else {}
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
        np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-4 if dtype == np.float32 else 1e-10)
        np.testing.assert_array_equal(pred, est.classes_[np.argmax(proba, axis=1)])
    # One row at a time gives the same numbers (up to the BLAS kernel's rounding).
    one = est.predict_proba(_one_row(X))
    assert one.shape == (1, n_cols) and one.dtype == dtype
    np.testing.assert_allclose(one[0], proba[0], rtol=1e-4 if dtype == np.float32 else 1e-9,
                               atol=1e-6 if dtype == np.float32 else 1e-12)


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


# ===========================================================================
# 2. Numerical extremes.
# ===========================================================================
RNG = np.random.RandomState(0)
X_STD = RNG.randn(40, 4)  # already on the unit scale
Y_BIN = (X_STD[:, 0] - X_STD[:, 1] > 0).astype(int)
Y_3 = np.digitize(X_STD[:, 0] - X_STD[:, 1], [-0.6, 0.6])
Y_REG = X_STD[:, 0] - 2 * X_STD[:, 1] + 0.1 * RNG.randn(40)
TARGETS = {"binary": Y_BIN, "multiclass": Y_3}

EXTREME_MODELS = (
    [((), "identity")]
    + [((5,), name) for name in ACTIVATION_NAMES]
    + [((4, 3), "relu"), ((4, 3), ["tanh", "softplus"])]
)

_FITTED_CACHE: dict = {}


def _fitted_extreme_models(dtype, target):
    """Classifiers fitted on the unit-scale data, one per architecture (cached)."""
    key = (dtype, target)
    if key not in _FITTED_CACHE:
        models = []
        for hidden, activation in EXTREME_MODELS:
            est = ScratchMLPClassifier(
                hidden, activation, solver="lbfgs", max_iter=50, random_state=0
            )
            models.append(_quiet_fit(est, X_STD.astype(dtype), TARGETS[target]))
        _FITTED_CACHE[key] = models
    return _FITTED_CACHE[key]


def _extreme_rows(big, n_features, dtype):
    """Rows of huge, finite values: every sign pattern a user could send, and a normal row."""
    rng = np.random.RandomState(1)
    rows = [
        np.full(n_features, big),
        np.full(n_features, -big),
        np.where(np.arange(n_features) % 2 == 0, big, -big),  # mixed signs
        np.r_[big, np.zeros(n_features - 1)],  # one huge feature
        big * np.sign(rng.randn(n_features)),
        np.ones(n_features),
    ]
    return np.array(rows, dtype=dtype)


@pytest.mark.parametrize("target", ["binary", "multiclass"])
@pytest.mark.parametrize(
    "model_dtype, input_dtype, scale",
    [
        (np.float64, np.float64, "1e300"),
        (np.float64, np.float64, "max"),
        (np.float32, np.float32, "max"),
        # A float32 model asked about float64 data beyond float32's range.
        (np.float32, np.float64, "1e300"),
    ],
    ids=["f64-1e300", "f64-max", "f32-max", "f32model-f64input-1e300"],
)
def test_huge_finite_input_saturates(model_dtype, input_dtype, scale, target):
    """Huge finite X: finite probabilities summing to 1, finite log-probabilities,
    predict == argmax(predict_proba), and no RuntimeWarning."""
    big = 1e300 if scale == "1e300" else np.finfo(input_dtype).max
    X_big = _extreme_rows(big, X_STD.shape[1], input_dtype)
    failures = []
    for (hidden, activation), est in zip(EXTREME_MODELS, _fitted_extreme_models(model_dtype, target)):
        name = f"hidden={hidden} activation={activation}"
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            proba = est.predict_proba(X_big)
            log_proba = est.predict_log_proba(X_big)
            pred = est.predict(X_big)
        leaked = sorted({f"{w.category.__name__}: {w.message}" for w in record})
        if leaked:
            failures.append(f"{name}: warnings {leaked}")
        if proba.dtype != model_dtype or log_proba.dtype != model_dtype:
            failures.append(f"{name}: dtype {proba.dtype}/{log_proba.dtype}")
        if not np.isfinite(proba).all():
            failures.append(f"{name}: non-finite predict_proba rows "
                            f"{np.flatnonzero(~np.isfinite(proba).all(axis=1)).tolist()}")
            continue
        if not np.isfinite(log_proba).all():
            failures.append(f"{name}: non-finite predict_log_proba rows "
                            f"{np.flatnonzero(~np.isfinite(log_proba).all(axis=1)).tolist()}")
        if not np.allclose(proba.sum(axis=1), 1, rtol=1e-5):
            failures.append(f"{name}: rows sum to {proba.sum(axis=1)}")
        if not ((proba >= 0) & (proba <= 1)).all():
            failures.append(f"{name}: probabilities outside [0, 1]")
        if not np.array_equal(pred, est.classes_[np.argmax(proba, axis=1)]):
            failures.append(f"{name}: predict != argmax(predict_proba)")
        if hidden == () and proba[:2].max(axis=1).min() < 0.999:
            # A linear model at +-big * ones is saturated: one class is certain.
            failures.append(f"{name}: not saturated {proba[:2]}")
    assert not failures, "\n".join(failures)


# The smallest failing cases of the test above, one cause each (see the report).
def _linear_binary(dtype=np.float64):
    X = np.random.RandomState(0).randn(40, 2).astype(dtype)
    y = (X[:, 0] > 0).astype(int)
    # coefs_ is about [[60], [-3]].
    return ScratchMLPClassifier(hidden_layer_sizes=(), solver="lbfgs", random_state=0).fit(X, y)


def test_huge_input_minimal_infinite_logit():
    """The logit 60 * finfo.max overflows to +inf: log P(class 0) = -inf."""
    clf = _linear_binary()
    big = np.finfo(np.float64).max
    assert np.isfinite(clf.predict_log_proba([[big, 0.0]])).all()


def test_huge_input_minimal_inf_minus_inf():
    """Weights of both signs: +inf + -inf = NaN in the affine map, NaN probabilities."""
    clf = _linear_binary()
    big = np.finfo(np.float64).max
    assert np.isfinite(clf.predict_proba([[big, big]])).all()


def test_huge_input_minimal_float32_model_float64_input():
    """A float32 model cast 1e300 to float32 with a RuntimeWarning (and then inf)."""
    clf = _linear_binary(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        proba = clf.predict_proba(np.array([[1e300, 0.0]]))
    assert np.isfinite(proba).all()


def test_huge_input_minimal_validation_warning():
    """Huge values of both signs in one X: the finiteness check's sum computes
    inf + -inf and warns, although every value is finite (a tanh model, whose
    outputs are otherwise fine)."""
    X = np.random.RandomState(0).randn(40, 2)
    clf = ScratchMLPClassifier((5,), "tanh", solver="lbfgs", random_state=0)
    _quiet_fit(clf, X, (X[:, 0] > 0).astype(int))
    big = np.finfo(np.float64).max
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        proba = clf.predict_proba(np.array([[big, big], [big, big], [-big, -big], [-big, -big]]))
    assert np.isfinite(proba).all()


def _degenerate(case):
    X, kw = X_STD.copy(), {}
    if case == "constant_feature":
        X[:, 1] = 3.0
    elif case == "zero_feature":
        X[:, 2] = 0.0
    elif case == "all_zero":
        X[:] = 0.0
    elif case == "scale_1e6":
        X *= 1e6
    elif case == "alpha_1e-10":
        kw["alpha"] = 1e-10
    elif case == "alpha_1e3":
        kw["alpha"] = 1e3
    return X, kw


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize(
    "case",
    ["constant_feature", "zero_feature", "all_zero", "scale_1e6", "alpha_1e-10", "alpha_1e3"],
)
def test_degenerate_data_and_alpha(case, solver, dtype):
    """Constant / zero features, 1e6-scale features, tiny and huge alpha: finite
    fits and predictions, no warning but ConvergenceWarning (or its subclass
    DivergenceWarning, the documented outcome of a too-large step)."""
    X, kw = _degenerate(case)
    X = X.astype(dtype)
    estimators = [
        (ScratchMLPClassifier(**kw), Y_3),
        (ScratchMLPClassifier(**kw), Y_BIN),
        (ScratchMLPRegressor(**kw), Y_REG),
        (ScratchMLPRegressor(loss="poisson", **kw), np.abs(Y_REG)),
    ]
    for est, y in estimators:
        est.set_params(hidden_layer_sizes=(5,), solver=solver, max_iter=30, random_state=0)
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            try:
                est.fit(X, y)
            except ValueError as error:
                # Poisson at the 1e6 scale: exp of the initial logits overflows,
                # and the documented error asks to scale the input.
                assert case == "scale_1e6" and est.get_params().get("loss") == "poisson", error
                assert "Scale the input" in str(error)
                with pytest.raises(NotFittedError):
                    check_is_fitted(est)
                continue
            out = est.predict_proba(X) if hasattr(est, "predict_proba") else est.predict(X)
            if hasattr(est, "predict_log_proba"):
                assert np.isfinite(est.predict_log_proba(X)).all()
        unexpected = [w for w in record if not issubclass(w.category, ConvergenceWarning)]
        assert not unexpected, [str(w.message) for w in unexpected]
        assert np.isfinite(out).all(), est
        assert out.dtype == dtype
        for w in _weights(est):
            assert np.isfinite(w).all()
        assert np.isfinite(est.loss_curve_).all()


# ===========================================================================
# 3. Reproducibility.
# ===========================================================================
def _repro_estimator(kind, solver, **kw):
    """An estimator that draws from its random_state everywhere it can."""
    params = dict(hidden_layer_sizes=(6, 5), solver=solver, max_iter=8, random_state=7,
                  batch_size=9)
    if solver != "lbfgs":
        params.update(dropout=0.2, early_stopping=True, validation_fraction=0.2)
    params.update(kw)
    if kind == "classifier":
        return ScratchMLPClassifier(**params), Y_3
    return ScratchMLPRegressor(**params), Y_REG


def _outputs(est, X):
    out = [est.predict(X)]
    if hasattr(est, "predict_proba"):
        out += [est.predict_proba(X), est.predict_log_proba(X)]
    return out


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
        est = ScratchMLPRegressor(hidden_layer_sizes=(16, 8), solver="adam", max_iter=10, random_state=0)
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


# ===========================================================================
# 5. Interruption (KeyboardInterrupt).
# ===========================================================================
class InterruptAt:
    """A callback raising KeyboardInterrupt after epoch (or L-BFGS iteration) ``at``.

    Stateless (it reads ``record["epoch"]``, which counts over all calls), so
    that clone and deepcopy in model selection keep its behaviour.
    """

    def __init__(self, at, exception=KeyboardInterrupt):
        self.at = at
        self.exception = exception

    def on_epoch_end(self, estimator, record):
        if record["epoch"] == self.at:
            raise self.exception(f"interrupted after epoch {self.at}")
        return False


X_INT = X_STD
Y_INT = {"classifier": Y_3, "regressor": Y_REG}


def _interrupt_estimator(kind, solver, **kw):
    Estimator = ScratchMLPClassifier if kind == "classifier" else ScratchMLPRegressor
    params = dict(hidden_layer_sizes=(5,), solver=solver, max_iter=10, random_state=0,
                  batch_size=16, n_iter_no_change=np.inf)
    params.update(kw)
    return Estimator(**params)


def _assert_usable(est, X):
    check_is_fitted(est)
    assert all(np.isfinite(w).all() for w in _weights(est))
    for out in _outputs(est, X):
        assert np.isfinite(np.asarray(out, dtype=float)).all()


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize("solver", SOLVERS)
def test_keyboard_interrupt_in_callback_leaves_a_consistent_model(kind, solver):
    y = Y_INT[kind]
    est = _interrupt_estimator(kind, solver, callbacks=[InterruptAt(3)])
    with pytest.raises(KeyboardInterrupt):
        est.fit(X_INT, y)
    _assert_usable(est, X_INT)
    assert est.n_iter_ == 3
    assert len(est.loss_curve_) == len(est.history_) == 3
    assert est.loss_ == est.loss_curve_[-1]
    assert [r["epoch"] for r in est.history_] == [1, 2, 3]
    if solver != "lbfgs":
        assert est.t_ == 3 * len(X_INT)
    # The model is exactly the one of an uninterrupted run of 3 epochs.
    clean = _quiet_fit(_interrupt_estimator(kind, solver, max_iter=3), X_INT, y)
    _assert_weights_bitwise(est, clean, "interrupted vs 3 epochs")
    assert est.loss_curve_ == clean.loss_curve_

    # warm_start: the counts of the new call add up with the earlier ones.
    est.set_params(warm_start=True, callbacks=[InterruptAt(3 + 2)])
    with pytest.raises(KeyboardInterrupt):
        est.fit(X_INT, y)
    _assert_usable(est, X_INT)
    assert est.n_iter_ == 2
    assert len(est.loss_curve_) == len(est.history_) == 5
    if solver != "lbfgs":
        assert est.t_ == 5 * len(X_INT)


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize("solver", STOCHASTIC)
def test_keyboard_interrupt_in_partial_fit_callback(kind, solver):
    y = Y_INT[kind]
    kw = {"classes": np.unique(y)} if kind == "classifier" else {}
    est = _interrupt_estimator(kind, solver, callbacks=[InterruptAt(3)])
    reference = _interrupt_estimator(kind, solver)
    for model in (est, reference):
        model.partial_fit(X_INT, y, **kw)
        model.partial_fit(X_INT, y)
    with pytest.raises(KeyboardInterrupt):
        est.partial_fit(X_INT, y)
    reference.partial_fit(X_INT, y)
    _assert_usable(est, X_INT)
    # The interrupted call's epoch was complete: it is recorded, exactly once.
    assert est.n_iter_ == 1
    assert len(est.loss_curve_) == len(est.history_) == 3
    assert est.t_ == 3 * len(X_INT)
    _assert_weights_bitwise(est, reference)
    # ...and training goes on exactly as without the interrupt (optimizer state included).
    est.set_params(callbacks=None)
    est.partial_fit(X_INT, y)
    reference.partial_fit(X_INT, y)
    _assert_weights_bitwise(est, reference, "after continuing")
    assert est.loss_curve_ == reference.loss_curve_


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_keyboard_interrupt_in_first_partial_fit_call(solver):
    """Interrupted after the one epoch of the first call: the classifier keeps
    that epoch *and* its classes, so that it can predict and continue."""
    est = _interrupt_estimator("classifier", solver, callbacks=[InterruptAt(1)])
    with pytest.raises(KeyboardInterrupt):
        est.partial_fit(X_INT, Y_3, classes=[0, 1, 2])
    if "_net" in vars(est):  # it kept the epoch: then it must be a whole model
        np.testing.assert_array_equal(est.classes_, [0, 1, 2])
        _assert_usable(est, X_INT)
        assert len(est.loss_curve_) == 1 and est.t_ == len(X_INT)
        est.set_params(callbacks=None)
        est.partial_fit(X_INT, Y_3)  # no classes needed any more
        assert len(est.loss_curve_) == 2
    else:  # or it rolled back completely
        with pytest.raises(NotFittedError):
            check_is_fitted(est)
        assert "classes_" not in vars(est)


class _InterruptingScorer:
    """A validation scorer interrupted on its ``at``-th call (Ctrl-C while scoring)."""

    def __init__(self, at):
        self.at = at
        self.calls = 0

    def __call__(self, estimator, X, y, sample_weight=None):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return 0.0


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_keyboard_interrupt_while_scoring_the_validation_set(solver):
    """Ctrl-C during epoch 3's validation scoring: that epoch is not recorded, so
    the model must be the one after epoch 2 (weights, t_ and optimizer alike)."""
    est = _interrupt_estimator("classifier", solver, scoring=_InterruptingScorer(3))
    with pytest.raises(KeyboardInterrupt):
        est.fit(X_INT, Y_3, X_val=X_INT, y_val=Y_3)
    _assert_usable(est, X_INT)
    assert est.n_iter_ == len(est.loss_curve_) == len(est.validation_scores_) == 2
    if solver != "lbfgs":
        assert est.t_ == 2 * len(X_INT)
    clean = _quiet_fit(_interrupt_estimator("classifier", solver, max_iter=2), X_INT, Y_3)
    _assert_weights_bitwise(est, clean, "interrupted while scoring epoch 3 vs 2 epochs")


@pytest.mark.parametrize("solver", STOCHASTIC)
def test_keyboard_interrupt_inside_an_epoch(solver, monkeypatch):
    """Ctrl-C between two mini-batches of partial_fit's epoch: the weights go back
    to the start of the epoch, and so must the optimizer's state, or resuming
    differs from never having started that epoch."""
    import scratchmlp._training as training

    est = _interrupt_estimator("classifier", solver)
    est.partial_fit(X_INT, Y_3, classes=[0, 1, 2])
    est.partial_fit(X_INT, Y_3)
    reference = pickle.loads(pickle.dumps(est))
    original, calls = training.cost_and_gradient, [0]

    def interrupted(*args, **kwargs):
        calls[0] += 1
        if calls[0] == 2:  # after the first mini-batch step of the epoch
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(training, "cost_and_gradient", interrupted)
    with pytest.raises(KeyboardInterrupt):
        est.partial_fit(X_INT, Y_3)
    monkeypatch.setattr(training, "cost_and_gradient", original)
    _assert_usable(est, X_INT)
    assert len(est.loss_curve_) == 2 and est.t_ == 2 * len(X_INT)
    _assert_weights_bitwise(est, reference, "weights after the interrupted epoch")
    est.partial_fit(X_INT, Y_3)
    reference.partial_fit(X_INT, Y_3)
    _assert_weights_bitwise(est, reference, "after resuming")


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_keyboard_interrupt_propagates_out_of_model_selection(solver):
    est = _interrupt_estimator("classifier", solver, callbacks=[InterruptAt(3)])
    with pytest.raises(KeyboardInterrupt):
        cross_val_score(est, X_INT, Y_3, cv=KFold(3))
    search = GridSearchCV(est, {"alpha": [1e-4, 1e-2]}, cv=KFold(3), n_jobs=1)
    with pytest.raises(KeyboardInterrupt):
        search.fit(X_INT, Y_3)
    # error_score="raise" or not, it is never turned into a NaN score.
    search = GridSearchCV(est, {"alpha": [1e-4]}, cv=KFold(3), n_jobs=1, error_score=np.nan)
    with pytest.raises(KeyboardInterrupt):
        search.fit(X_INT, Y_3)


# ===========================================================================
# 6. A failed fit leaves the fitted model exactly as it was.
#    (Cases beyond tests/test_bad_input.py: warm_start and partial_fit paths,
#    validation sets, targets of another shape or loss, and failures in the
#    middle of training; checked down to the optimizer state.)
# ===========================================================================
def _full_snapshot(est, X):
    return {
        "keys": list(vars(est)),
        "params": est.get_params(deep=False),
        "weights": _weights(est),
        "loss_curve": list(est.loss_curve_),
        "history": copy.deepcopy(est.history_),
        "t": est.t_,
        "n_iter": est.n_iter_,
        "outputs": [o.copy() for o in _outputs(est, X)],
        # Every private value (network, training state, optimizer moments), bitwise.
        "state": pickle.dumps(dict(vars(est))),
    }


def _assert_same_as(est, snap, X):
    assert list(vars(est)) == snap["keys"]
    assert est.get_params(deep=False) == snap["params"]
    for a, b in zip(_weights(est), snap["weights"]):
        _assert_bitwise(a, b, "weights")
    assert est.loss_curve_ == snap["loss_curve"]
    assert est.history_ == snap["history"]
    assert est.t_ == snap["t"] and est.n_iter_ == snap["n_iter"]
    for a, b in zip(_outputs(est, X), snap["outputs"]):
        _assert_bitwise(a, b, "outputs")
    assert pickle.dumps(dict(vars(est))) == snap["state"]


def _fails_cleanly(est, call, exc, match, X=X_STD):
    snap = _full_snapshot(est, X)
    with pytest.raises(exc, match=match):
        call(est)
    _assert_same_as(est, snap, X)


def _x_with_nan():
    X = X_STD.copy()
    X[3, 1] = np.nan
    return X


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_failed_warm_start_fit_leaves_model_unchanged(kind, solver):
    y = Y_INT[kind]
    est = _quiet_fit(_interrupt_estimator(kind, solver, warm_start=True, max_iter=4), X_STD, y)
    # NaN in X, and a validation set with NaN, the wrong width or no y_val.
    _fails_cleanly(est, lambda e: e.fit(_x_with_nan(), y), ValueError, "NaN")
    _fails_cleanly(est, lambda e: e.fit(X_STD, y, X_val=_x_with_nan(), y_val=y), ValueError, "NaN")
    _fails_cleanly(est, lambda e: e.fit(X_STD, y, X_val=X_STD[:, :3], y_val=y), ValueError,
                   "3 features")
    _fails_cleanly(est, lambda e: e.fit(X_STD, y, X_val=X_STD), ValueError, "together")
    # Per-layer parameters of the wrong length.
    for param, value in [("activation", ["relu", "tanh"]), ("dropout", [0.1, 0.1])]:
        old = getattr(est, param)
        est.set_params(**{param: value})
        _fails_cleanly(est, lambda e: e.fit(X_STD, y), ValueError, "hidden")
        est.set_params(**{param: old})
    # A callback failing in the middle of training (not a KeyboardInterrupt):
    # the whole call is rolled back.
    est.set_params(callbacks=[InterruptAt(len(est.loss_curve_) + 2, exception=RuntimeError)])
    _fails_cleanly(est, lambda e: _quiet_fit(e, X_STD, y), RuntimeError, "interrupted")


def test_failed_warm_start_regressor_with_other_targets():
    est = _quiet_fit(_interrupt_estimator("regressor", "adam", warm_start=True), X_STD, Y_REG)
    two_outputs = np.c_[Y_REG, -Y_REG]
    _fails_cleanly(est, lambda e: _quiet_fit(e, X_STD, two_outputs), ValueError, "layer sizes")
    est.set_params(loss="poisson")
    _fails_cleanly(est, lambda e: _quiet_fit(e, X_STD, np.abs(Y_REG)), ValueError, "previous fit")


def test_failed_validation_labels_leave_classifier_unchanged():
    est = _quiet_fit(_interrupt_estimator("classifier", "adam", warm_start=True), X_STD, Y_3)
    y_val = Y_3.copy()
    y_val[0] = 9
    _fails_cleanly(est, lambda e: e.fit(X_STD, Y_3, X_val=X_STD, y_val=y_val), ValueError,
                   "classes")


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize("solver", ["adam", "rmsprop", "adamw"])
def test_failed_partial_fit_keeps_optimizer_state(kind, solver):
    """After partial_fit raises, training continues exactly as if the failed call
    had never been made (the optimizer's moments and step count included)."""
    y = Y_INT[kind]
    kw = {"classes": np.unique(y)} if kind == "classifier" else {}
    est = _interrupt_estimator(kind, solver)
    reference = _interrupt_estimator(kind, solver)
    for model in (est, reference):
        model.partial_fit(X_STD, y, **kw)
    y_nan = y.astype(float)
    y_nan[2] = np.nan
    bad_weights = np.ones(len(y))
    bad_weights[5] = -1
    failures = [
        (lambda e: e.partial_fit(_x_with_nan(), y), "NaN"),
        (lambda e: e.partial_fit(X_STD, y_nan), "NaN"),
        (lambda e: e.partial_fit(X_STD, y, sample_weight=bad_weights), "Negative"),
        (lambda e: e.partial_fit(X_STD, y, sample_weight=np.ones(len(y) - 1)), "sample_weight"),
        (lambda e: e.partial_fit(X_STD[:, :3], y), "3 features"),
    ]
    if kind == "classifier":
        y_new = y.copy()
        y_new[0] = 5
        failures.append((lambda e: e.partial_fit(X_STD, y_new), "classes"))
    else:
        failures.append((lambda e: e.partial_fit(X_STD, np.c_[y, y]), "layer sizes"))
    for call, match in failures:
        _fails_cleanly(est, call, ValueError, match)
    # A callback error in the middle of a partial_fit call: rolled back too.
    est.set_params(callbacks=[InterruptAt(2, exception=RuntimeError)])
    _fails_cleanly(est, lambda e: e.partial_fit(X_STD, y), RuntimeError, "interrupted")
    est.set_params(callbacks=None)
    for model in (est, reference):
        model.partial_fit(X_STD, y)
        model.partial_fit(X_STD, y)
    _assert_weights_bitwise(est, reference)
    assert est.loss_curve_ == reference.loss_curve_ and est.t_ == reference.t_


def test_failed_multilabel_partial_fit_with_other_width():
    Y_ML = np.c_[X_STD[:, 0] > 0, X_STD[:, 1] > 0, X_STD[:, 2] > 0].astype(int)
    est = _interrupt_estimator("classifier", "adam")
    est.partial_fit(X_STD, Y_ML)
    _fails_cleanly(est, lambda e: e.partial_fit(X_STD, Y_ML[:, :2]), ValueError, "mismatch")


def test_failed_refit_keeps_the_previous_model():
    """warm_start=False: a refit that fails half-way leaves the previous model,
    not a half-trained new one."""
    est = _quiet_fit(_interrupt_estimator("classifier", "adam", max_iter=4), X_STD, Y_3)
    est.set_params(callbacks=[InterruptAt(2, exception=RuntimeError)])
    _fails_cleanly(est, lambda e: _quiet_fit(e, X_STD, Y_BIN), RuntimeError, "interrupted")
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])


def test_loss_ending_far_above_its_best_warns_instead_of_converging():
    # Features at 1e3 scale and heavy momentum: the loss jumps far above its
    # best and the no-improvement rule fires. That is not convergence.
    # (n_iter_no_change=8 stops it at 1.2 times its start; the next epochs,
    # at 14 and 147 times, count as diverged: tests/test_divergence.py.)
    from scratchmlp import ScratchMLPRegressor

    rng = np.random.RandomState(0)
    X = rng.randn(200, 5) * 1e3
    y = X @ rng.randn(5)
    reg = ScratchMLPRegressor(
        hidden_layer_sizes=(10,), solver="sgd", learning_rate_init=1e-7, momentum=0.99,
        max_iter=300, random_state=0, n_iter_no_change=8,
    )
    with pytest.warns(ConvergenceWarning, match="far above the best loss"):
        reg.fit(X, y)
    assert reg.n_iter_ < 300  # the stopping rule fired...
    assert reg.loss_ > 2 * reg.best_loss_  # ...on a loss far above the best
    assert np.isfinite(reg.predict(X)).all()
