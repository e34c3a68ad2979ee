"""The four rules of ``predict_proba`` (P) and ``predict_log_proba`` (L).

For every row of every classifier, including long fits that saturate and
inputs scaled far outside the training range, in float32 and float64:

1. L is finite;
2. P and L order alike, ties included: ``sign(P[i] - P[j]) == sign(L[i] - L[j])``
   for all i, j of a row (so ``np.argsort`` and ``np.argmax`` agree);
3. ``np.log(P) == L`` wherever P is a normal float (here: everywhere, since
   every P is at least the smallest normal number);
4. binary and multilabel probabilities lie strictly inside (0, 1); the rows
   of a multiclass model sum to 1.

And ``predict`` follows ``predict_proba``. The models are lbfgs fits with
``alpha=0`` and many iterations on small separable data, so their logits
grow large: the saturated regime where log and probabilities part ways.
The hypothesis settings are derandomized so that CI is reproducible.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import expit
from sklearn.datasets import make_blobs, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler, scale
from sklearn.utils import shuffle

from scratchmlp import ScratchMLPClassifier
from scratchmlp._losses import log_probabilities
from scratchmlp.engine import dense_forward, softmax

PROPERTY = settings(
    deadline=None,
    max_examples=30,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

DTYPES = [np.float32, np.float64]
KINDS = ["binary", "multiclass", "multilabel"]
N_FEATURES = 2


def assert_probability_rules(P, L, multiclass):
    """The four rules, row by row, for P and L of shape (m, k)."""
    assert P.shape == L.shape and P.dtype == L.dtype
    assert np.isfinite(L).all()
    # Rule 2, for every pair (i, j) of every row.
    order_P = np.sign(P[:, :, None] - P[:, None, :])
    order_L = np.sign(L[:, :, None] - L[:, None, :])
    bad = np.flatnonzero((order_P != order_L).any(axis=(1, 2)))
    assert bad.size == 0, f"P and L order differently in rows {bad[:5]}: {P[bad[:1]]}, {L[bad[:1]]}"
    np.testing.assert_array_equal(np.argsort(P, axis=1), np.argsort(L, axis=1))
    # Rule 3: every P is normal, and L is its log, bit for bit.
    assert (P >= np.finfo(P.dtype).tiny).all()
    np.testing.assert_array_equal(np.log(P), L)
    # Rule 4.
    assert ((P > 0) & (P < 1)).all()
    if multiclass:
        np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=10 * np.finfo(P.dtype).eps)


def _assert_model_rules(clf, X, kind):
    P, L = clf.predict_proba(X), clf.predict_log_proba(X)
    assert P.shape == (X.shape[0], len(clf.classes_))
    assert P.dtype == clf.coefs_[0].dtype
    assert_probability_rules(P, L, multiclass=kind == "multiclass")
    if kind == "multilabel":
        np.testing.assert_array_equal(clf.predict(X), P > 0.5)
    else:
        np.testing.assert_array_equal(clf.predict(X), clf.classes_[P.argmax(axis=1)])
    return P, L


def _targets(kind, X):
    if kind == "binary":
        return (X[:, 0] + X[:, 1] > 0).astype(int)
    if kind == "multiclass":
        # Four sectors of the plane: well separated, so the fit saturates.
        return np.digitize(np.arctan2(X[:, 1], X[:, 0]), [-np.pi / 2, 0, np.pi / 2])
    return np.column_stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 0] > X[:, 1]]).astype(int)


@functools.cache
def _saturated_model(kind, dtype):
    """An lbfgs fit without penalty, long enough that its logits grow large."""
    X = np.random.RandomState(0).randn(40, N_FEATURES).astype(dtype)
    clf = ScratchMLPClassifier(
        hidden_layer_sizes=(8,), solver="lbfgs", alpha=0.0, max_iter=2000, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, _targets(kind, X))
    return clf, X


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kind", KINDS)
def test_models_saturate(kind, dtype):
    """The models below are saturated: at a thousand times the training data,
    some probabilities are clipped (so the properties are tested where they
    matter)."""
    clf, X = _saturated_model(kind, dtype)
    P, _ = _assert_model_rules(clf, X * 1000, kind)
    info = np.finfo(dtype)
    assert (P == info.tiny).any()
    if kind != "multiclass":
        assert (P == 1 - info.epsneg).any()


@PROPERTY
@given(
    rows=arrays(
        np.float64,
        st.tuples(st.integers(1, 20), st.just(N_FEATURES)),
        elements=st.floats(-3, 3, allow_nan=False),
    ),
    exponent=st.integers(0, 6),
)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kind", KINDS)
def test_probability_rules_hold_on_saturated_models(kind, dtype, rows, exponent):
    clf, _ = _saturated_model(kind, dtype)
    _assert_model_rules(clf, (rows * 10.0**exponent).astype(dtype), kind)


def _neighbours(p, dtype, offsets):
    """The floats ``offsets`` steps above ``p`` (consecutive floats of ``dtype``)."""
    int_type = np.int32 if dtype == np.float32 else np.int64
    return (np.asarray(p, dtype=dtype).view(int_type) + offsets.astype(int_type)).view(dtype)


@functools.cache
def _twin_model(kind, dtype):
    """A linear model whose outputs all have the same weights and biases a
    few units in the last place apart: its probabilities are distinct
    neighbouring floats, most of them below 1/e, where log compresses. The
    merge of ties is exercised on every such row (the saturated models only
    reach it by chance)."""
    X = np.random.RandomState(1).randn(80, N_FEATURES).astype(dtype)
    angle = np.arctan2(X[:, 1], X[:, 0])
    if kind == "multiclass":
        y = np.digitize(angle, np.linspace(-np.pi, np.pi, 11)[1:-1])  # 10 classes
    else:
        y = (np.cos(angle[:, None] - np.arange(6)) > 0).astype(int)  # 6 labels
    clf = ScratchMLPClassifier(hidden_layer_sizes=(), solver="lbfgs", max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    # Logits near 1.5 (multiclass: softmax near 1/10) or -1.5 (logistic near
    # 0.18) for inputs of the training data's size, one unit in the last
    # place apart from output to output: the largest raw probability is the
    # last one, often merged with the one before it.
    W, b = clf.weights_[1], clf.biases_[1]
    W[:] = 0.01
    b[:, 0] = _neighbours(1.5 if kind == "multiclass" else -1.5, dtype, np.arange(len(b)))
    return clf, X


@PROPERTY
@given(
    rows=arrays(
        np.float64,
        st.tuples(st.integers(1, 20), st.just(N_FEATURES)),
        elements=st.floats(-3, 3, allow_nan=False),
    ),
    exponent=st.integers(0, 6),
)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kind", ["multiclass", "multilabel"])
def test_probability_rules_hold_on_near_equal_outputs(kind, dtype, rows, exponent):
    clf, _ = _twin_model(kind, dtype)
    _assert_model_rules(clf, (rows * 10.0**exponent).astype(dtype), kind)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kind", ["multiclass", "multilabel"])
def test_near_equal_outputs_are_merged(kind, dtype):
    """On the training data of the twin models, many rows have probabilities
    that only the merge made equal (computed here from the engine's logits)."""
    clf, X = _twin_model(kind, dtype)
    P, _ = _assert_model_rules(clf, X, kind)
    Z = np.empty((len(clf.classes_), len(X)), dtype=dtype)
    dense_forward(clf.weights_[1], clf.biases_[1], X.T, out=Z)
    raw = softmax(Z, np.empty_like(Z)) if kind == "multiclass" else expit(Z)
    info = np.finfo(dtype)
    raw = np.minimum(np.maximum(raw, info.tiny), 1 - info.epsneg).T
    merged = (P != raw).any(axis=1)
    assert merged.sum() >= len(X) // 10
    # A merged probability is one of its row's raw probabilities, a few
    # units in the last place from its own.
    assert (P[:, :, None] == raw[:, None, :]).any(axis=2).all()
    np.testing.assert_allclose(P, raw, rtol=16 * info.eps)


# ---------------------------------------------------------------------------
# log_probabilities on its own.
# ---------------------------------------------------------------------------
@PROPERTY
@given(
    position=st.floats(0, 1),
    offsets=arrays(
        np.int64, st.tuples(st.integers(1, 30), st.integers(1, 6)), elements=st.integers(0, 2000)
    ),
    dtype=st.sampled_from(DTYPES),
)
def test_log_probabilities_rules_on_neighbouring_floats(position, offsets, dtype):
    """Rows of floats a few steps apart, anywhere from the smallest normal
    number to 1/2: where log compresses, many share a log."""
    lowest = np.log(np.finfo(dtype).tiny)
    p = np.exp(lowest + position * (np.log(0.5) - lowest)).astype(dtype)
    before = _neighbours(max(p, np.finfo(dtype).tiny), dtype, offsets)
    P = before.copy()
    L = log_probabilities(P, axis=1)
    assert_probability_rules(P, L, multiclass=False)
    # The merge moves a probability by little: its log stays within a unit in
    # the last place (float32's log is not monotone everywhere).
    np.testing.assert_array_less(np.abs(L - np.log(before)), 2 * np.spacing(np.abs(L)))


def test_log_probabilities_merges_equal_logs_float64():
    """Around 1e-200 a log of about -460 has a spacing of 2**-44: some 250
    consecutive floats share each log. They must share one probability too."""
    P = _neighbours(1e-200, np.float64, np.arange(1000)).reshape(100, 10)
    before = P.copy()
    assert (np.log(before)[:, 1:] == np.log(before)[:, :-1]).any()
    assert (before[:, 1:] != before[:, :-1]).all()
    L = log_probabilities(P, axis=1)
    assert_probability_rules(P, L, multiclass=False)
    assert (P != before).any()
    # The representative of a run of equal logs is its smallest probability.
    assert (P <= before).all()


def test_log_probabilities_float32_sweep():
    """Pairs of consecutive float32 numbers over a stretch where float32's
    ``np.log`` steps back by one unit here and there on some CPUs (SIMD
    implementations): such a pair must become one probability."""
    x = _neighbours(np.float32(0.72), np.float32, np.arange(350_000))
    P = np.column_stack([x[1:], x[:-1]])
    inverted = np.log(x[1:]) < np.log(x[:-1])
    L = log_probabilities(P, axis=1)
    assert_probability_rules(P, L, multiclass=False)
    assert (P[inverted, 0] == P[inverted, 1]).all()


def test_log_probabilities_clips_and_follows_the_axis():
    P = np.array([[0.0, 1.0, 0.5], [1e-320, 0.25, 0.75]])
    columns = P.T.copy()
    L = log_probabilities(P, axis=1)
    info = np.finfo(np.float64)
    expected = [[info.tiny, 1 - info.epsneg, 0.5], [info.tiny, 0.25, 0.75]]
    np.testing.assert_array_equal(P, expected)
    np.testing.assert_array_equal(L, np.log(P))
    np.testing.assert_array_equal(log_probabilities(columns), L.T)
    np.testing.assert_array_equal(columns, P.T)


# ---------------------------------------------------------------------------
# Regressions: the rows where the log-probabilities came from the logits.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_check_classifiers_train_saturated_rows(dtype):
    """scikit-learn's check_classifiers_train data, lbfgs at the default
    max_iter: row 19 is saturated. Its two small probabilities both underflow
    (reported as ``tiny``) while the log-softmax of its logits was -739 and
    -858 (float64): ``np.log(P)`` and L disagreed, and so did their argsort."""
    X, y = make_blobs(n_samples=300, random_state=0)
    X, y = shuffle(X.astype(dtype), y, random_state=7)
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ScratchMLPClassifier(solver="lbfgs", random_state=0).fit(X, y)
    P, L = _assert_model_rules(clf, X, "multiclass")
    tiny = np.finfo(dtype).tiny
    assert (P == tiny).sum(axis=1).max() == 2  # rows with two underflowed probabilities
    if dtype == np.float64:
        np.testing.assert_array_equal(P[19], [1 - np.finfo(dtype).epsneg, tiny, tiny])
        np.testing.assert_array_equal(L[19], np.log(P[19]))


def test_multilabel_probabilities_strictly_inside_zero_one():
    """scikit-learn's check_classifiers_multilabel_output_format_predict_proba:
    a saturated logistic unit gave exactly 1.0."""
    X, y = make_multilabel_classification(
        n_samples=100,
        n_features=2,
        n_classes=5,
        n_labels=3,
        length=50,
        allow_unlabeled=True,
        random_state=0,
    )
    X = scale(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ScratchMLPClassifier(solver="lbfgs", random_state=0).fit(X[:-25], y[:-25])
    P, _ = _assert_model_rules(clf, X[-25:], "multilabel")
    assert P.max() == 1 - np.finfo(P.dtype).epsneg  # saturated, but below 1


def test_predict_follows_merged_top_probabilities():
    """Eight logits, one a hair above the others, whose softmax gives distinct
    probabilities with one log: the merge makes them equal, and predict takes
    the first class, as ``argmax(predict_proba)`` does (the largest raw
    softmax is the second)."""
    X = np.random.RandomState(0).randn(80, 2)
    y = np.digitize(np.arctan2(X[:, 1], X[:, 0]), np.linspace(-np.pi, np.pi, 9)[1:-1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ScratchMLPClassifier(hidden_layer_sizes=(), max_iter=1, random_state=0).fit(X, y)
    assert len(clf.classes_) == 8
    for step in range(1, 200):
        z = np.zeros((8, 1))
        z[1] = step * 1e-17
        a = softmax(z, np.empty_like(z))[:, 0]
        if a[1] > a[0] and np.log(a[1]) == np.log(a[0]):
            break
    else:
        pytest.fail("no logits found whose probabilities differ and logs tie")
    clf.coefs_ = [np.zeros_like(clf.coefs_[0])]
    clf.intercepts_ = [z[:, 0]]
    P = clf.predict_proba(X[:3])
    np.testing.assert_array_equal(P, a[0])
    np.testing.assert_array_equal(clf.predict(X[:3]), clf.classes_[0])
