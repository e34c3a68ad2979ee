"""Saving and loading fitted models: pickle, joblib and skops.io (see docs/persistence.md).

Every format must give back a model that predicts bit for bit the same, for
both estimators, float32 and float64 parameters, and models trained on dense
or sparse input, and whose training can go on exactly where it stopped.
The skops tests (skipped without skops) also pin the exact list of types a
user has to trust, which docs/persistence.md documents.
"""

from __future__ import annotations

import io
import json
import pickle
import warnings
import zipfile

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

import scratchmlp
from scratchmlp import ScratchMLPClassifier, ScratchMLPRegressor

KINDS = ["classifier", "regressor"]
DTYPES = [np.float32, np.float64]
INPUTS = ["dense", "sparse"]
STOCHASTIC = ["sgd", "adam", "rmsprop", "adamw"]
OPTIMIZER_CLASS = {"sgd": "SGD", "adam": "Adam", "rmsprop": "RMSprop", "adamw": "AdamW"}


def _data(dtype=np.float64, sparse=False):
    X, y = load_digits(return_X_y=True)
    X = (X[:240] / 16.0).astype(dtype)
    return (sp.csr_matrix(X) if sparse else X), y[:240]


def _estimator(kind, **params):
    params = {"hidden_layer_sizes": (12,), "max_iter": 15, "random_state": 0, **params}
    if kind == "classifier":
        return ScratchMLPClassifier(**params)
    return ScratchMLPRegressor(**params)


def _target(kind, y):
    return y if kind == "classifier" else y / 9.0


def _fit(est, X, y, method="fit"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return getattr(est, method)(X, y)


def _outputs(est, X):
    """Everything the model computes for X."""
    out = {"predict": est.predict(X)}
    if isinstance(est, ScratchMLPClassifier):
        out["predict_proba"] = est.predict_proba(X)
        out["predict_log_proba"] = est.predict_log_proba(X)
    return out


def _assert_same_model(loaded, est, X):
    assert type(loaded) is type(est)
    assert loaded.get_params() == est.get_params()
    assert loaded._net.dtype == est._net.dtype
    for a, b in zip(loaded.coefs_ + loaded.intercepts_, est.coefs_ + est.intercepts_):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    expected = _outputs(est, X)
    for name, value in _outputs(loaded, X).items():
        assert value.dtype == expected[name].dtype, name
        np.testing.assert_array_equal(value, expected[name], err_msg=name)
    assert loaded.loss_curve_ == est.loss_curve_
    assert loaded.n_iter_ == est.n_iter_ and loaded.t_ == est.t_
    # The loaded network computes with the arrays that coefs_ shows.
    for l in range(1, loaded.n_layers_):
        assert np.shares_memory(loaded.coefs_[l - 1], loaded._net.theta)
        assert np.shares_memory(loaded.weights_[l], loaded._net.theta)


# ---------------------------------------------------------------------------
# The formats: a dump and a load, each through a real file.
# ---------------------------------------------------------------------------
def _pickle(est, path):
    path.write_bytes(pickle.dumps(est, protocol=pickle.HIGHEST_PROTOCOL))
    return pickle.loads(path.read_bytes())


def _joblib(est, path):
    joblib.dump(est, path)
    return joblib.load(path)


def _joblib_compressed(est, path):
    joblib.dump(est, path, compress=3)
    return joblib.load(path)


def _joblib_mmap(est, path):
    # The arrays come back as read-only memory maps of the file.
    joblib.dump(est, path)
    return joblib.load(path, mmap_mode="r")


def _skops(est, path):
    sio = pytest.importorskip("skops.io")
    sio.dump(est, path)
    return sio.load(path, trusted=sio.get_untrusted_types(file=path))


FORMATS = {
    "pickle": _pickle,
    "joblib": _joblib,
    "joblib-compressed": _joblib_compressed,
    "joblib-mmap": _joblib_mmap,
    "skops": _skops,
}


@pytest.fixture(
    scope="module",
    params=[(k, d, i) for k in KINDS for d in DTYPES for i in INPUTS],
    ids=lambda p: f"{p[0]}-{np.dtype(p[1]).name}-{p[2]}",
)
def fitted(request):
    kind, dtype, inputs = request.param
    X, y = _data(dtype, sparse=inputs == "sparse")
    est = _fit(_estimator(kind), X, _target(kind, y))
    assert est._net.dtype == dtype
    return est, X


@pytest.mark.parametrize("how", FORMATS)
def test_round_trip_predicts_identically(fitted, how, tmp_path):
    est, X = fitted
    loaded = FORMATS[how](est, tmp_path / "model")
    _assert_same_model(loaded, est, X)
    # Dense and sparse input alike, whatever the model was trained on.
    other = X.toarray() if sp.issparse(X) else sp.csr_matrix(X)
    for name, value in _outputs(loaded, other).items():
        np.testing.assert_array_equal(value, _outputs(est, other)[name], err_msg=name)


@pytest.mark.parametrize("how", FORMATS)
@pytest.mark.parametrize("solver", STOCHASTIC)
@pytest.mark.parametrize("kind", KINDS)
def test_training_goes_on_identically_after_loading(kind, solver, how, tmp_path):
    """The optimizer's state (moments, velocity, step count, learning rate) is saved too."""
    X, y = _data(np.float32)
    y = _target(kind, y)
    est = _fit(_estimator(kind, solver=solver, max_iter=3), X, y)
    loaded = FORMATS[how](est, tmp_path / "model")
    for _ in range(2):
        _fit(est, X, y, method="partial_fit")
        _fit(loaded, X, y, method="partial_fit")
    assert est._net.theta.tobytes() == loaded._net.theta.tobytes()
    assert loaded.loss_curve_ == est.loss_curve_ and loaded.t_ == est.t_
    # warm_start goes on from the loaded model too.
    est.set_params(warm_start=True, max_iter=2)
    loaded.set_params(warm_start=True, max_iter=2)
    _fit(est, X, y)
    _fit(loaded, X, y)
    assert est._net.theta.tobytes() == loaded._net.theta.tobytes()


@pytest.mark.parametrize("kind", KINDS)
def test_lbfgs_round_trip_and_warm_start(kind, tmp_path):
    X, y = _data()
    y = _target(kind, y)
    est = _fit(_estimator(kind, solver="lbfgs", warm_start=True), X, y)
    for how, dump_and_load in FORMATS.items():
        loaded = dump_and_load(est, tmp_path / how)
        _assert_same_model(loaded, est, X)
        a, b = _fit(pickle.loads(pickle.dumps(est)), X, y), _fit(loaded, X, y)
        assert a._net.theta.tobytes() == b._net.theta.tobytes(), how


def test_pickle_records_the_scratchmlp_version():
    est = _fit(_estimator("classifier"), *_data())
    state = est.__getstate__()
    assert state["_scratchmlp_version"] == scratchmlp.__version__
    with warnings.catch_warnings():
        warnings.simplefilter("error", scratchmlp.InconsistentVersionWarning)
        pickle.loads(pickle.dumps(est))  # same version: no warning


# ---------------------------------------------------------------------------
# skops.io: loading files from untrusted sources.
# ---------------------------------------------------------------------------
def _expected_untrusted(est):
    """The types of ours that a fitted estimator holds: the estimator, its
    fitted model, the network, the training history and (stochastic solvers)
    the optimizer."""
    expected = {
        f"scratchmlp._mlp.{type(est).__name__}",
        "scratchmlp._fitted.FittedModel",
        "scratchmlp._network.Network",
        "scratchmlp._training.TrainingState",
    }
    if est.solver != "lbfgs":
        expected.add(f"scratchmlp._optimizers.{OPTIMIZER_CLASS[est.solver]}")
    return expected


@pytest.mark.parametrize("solver", ["lbfgs", *STOCHASTIC])
@pytest.mark.parametrize("kind", KINDS)
def test_skops_untrusted_types_are_exactly_ours(kind, solver, tmp_path):
    sio = pytest.importorskip("skops.io")
    X, y = _data(sparse=True)
    est = _fit(_estimator(kind, solver=solver, max_iter=5), X, _target(kind, y))
    path = tmp_path / "model.skops"
    sio.dump(est, path)

    untrusted = sio.get_untrusted_types(file=path)
    # Nothing of numpy's, scipy's or scikit-learn's (the LabelBinarizer is
    # trusted by skops), and each of ours exactly once.
    assert sorted(untrusted) == sorted(_expected_untrusted(est))
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.load(path)
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.load(path, trusted=sorted(untrusted)[1:])  # all but one: still refused
    loaded = sio.load(path, trusted=sorted(_expected_untrusted(est)))
    _assert_same_model(loaded, est, X)


def test_skops_with_feature_names_string_labels_and_a_callback(tmp_path):
    """Object arrays (feature names, labels) and a callback object also round-trip."""
    sio = pytest.importorskip("skops.io")
    pd = pytest.importorskip("pandas")
    from scratchmlp.callbacks import EarlyStopping

    X, y = _data()
    frame = pd.DataFrame(X, columns=[f"pixel_{i}" for i in range(X.shape[1])])
    labels = np.array([f"digit {k}" for k in range(10)], dtype=object)[y]
    est = _fit(
        _estimator("classifier", callbacks=[EarlyStopping(monitor="loss", patience=2)]),
        frame,
        labels,
    )
    path = tmp_path / "model.skops"
    sio.dump(est, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert sorted(untrusted) == sorted(
        _expected_untrusted(est) | {"scratchmlp.callbacks.EarlyStopping"}
    )
    loaded = sio.load(path, trusted=untrusted)
    np.testing.assert_array_equal(loaded.feature_names_in_, est.feature_names_in_)
    np.testing.assert_array_equal(loaded.classes_, est.classes_)
    np.testing.assert_array_equal(loaded.predict(frame), est.predict(frame))
    np.testing.assert_array_equal(loaded.predict_proba(frame), est.predict_proba(frame))


def test_skops_file_of_another_version_warns(tmp_path):
    """skops restores through the same __setstate__, so the version check applies."""
    sio = pytest.importorskip("skops.io")
    X, y = _data()
    est = _fit(_estimator("classifier"), X, y)
    data = sio.dumps(est)
    # Rewrite the recorded version, as if another release had written the file.
    source, target = io.BytesIO(data), io.BytesIO()
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for item in zin.infolist():
            content = zin.read(item.filename)
            if item.filename == "schema.json":
                schema = json.loads(content)
                version = schema["content"]["content"]["_scratchmlp_version"]
                assert json.loads(version["content"]) == scratchmlp.__version__
                version["content"] = json.dumps("0.0.0")
                content = json.dumps(schema).encode()
            zout.writestr(item, content)
    data = target.getvalue()
    with pytest.warns(scratchmlp.InconsistentVersionWarning, match="0.0.0"):
        loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
