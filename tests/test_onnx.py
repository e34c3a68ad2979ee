"""ONNX export through skl2onnx, checked in onnxruntime against our own predictions.

Skipped unless skl2onnx and onnxruntime are installed (``pip install .[onnx]``).

Tolerances. Labels must equal ``predict`` exactly. Probabilities and values
must match ``predict_proba`` / ``predict`` to

* float32 input: ``rtol=1e-5`` with ``atol=1e-6`` (for regression values,
  ``atol=1e-6 * max(1, max|y|)``). onnxruntime's float32 kernels (MLAS's
  exp / tanh / sigmoid, Gemm's summation order) differ from numpy's in the last
  bits; the absolute part covers entries near zero, such as a probability of
  1e-20, whose relative error means nothing.
* float64 input: ``rtol=1e-10`` with ``atol=1e-13``.

The float32 tolerance holds for well-conditioned models like these (alpha=1
keeps the logits moderate): float32 itself rounds a logit of 1000 by ~1e-4,
and two float32 implementations then differ by as much.

All the data and networks are small, and lbfgs runs a few dozen iterations.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

skl2onnx = pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")

from scratchmlp import ScratchMLPClassifier, ScratchMLPRegressor  # noqa: E402
from scratchmlp._activations import ACTIVATIONS  # noqa: E402
from scratchmlp._onnx import HIDDEN_ACTIVATIONS, register_converters  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

FLOAT32 = (1e-5, 1e-6)  # (rtol, atol)
FLOAT64 = (1e-10, 1e-13)

RNG = np.random.RandomState(0)
N_TRAIN, N_TEST = 120, 60
# Features of different means and scales, so that the StandardScaler matters.
X = RNG.randn(N_TRAIN + N_TEST, 4) * [1.0, 2.0, 0.5, 3.0] + [0.0, 5.0, -2.0, 1.0]
_Z = (X - X.mean(axis=0)) / X.std(axis=0)

TASKS = {
    "binary": (ScratchMLPClassifier, {}, (_Z[:, 0] + _Z[:, 1] > 0).astype(int)),
    "multiclass": (ScratchMLPClassifier, {}, np.digitize(_Z[:, 0] - _Z[:, 2], [-0.6, 0.6])),
    "multilabel": (
        ScratchMLPClassifier,
        {},
        np.column_stack([_Z[:, 0] > 0, _Z[:, 1] > 0, _Z[:, 2] + _Z[:, 3] > 0]).astype(int),
    ),
    "regression": (ScratchMLPRegressor, {}, _Z[:, 0] - 2 * _Z[:, 1] + _Z[:, 2] * _Z[:, 3]),
    "regression-2": (ScratchMLPRegressor, {}, np.column_stack([_Z[:, 0], _Z[:, 3] ** 2])),
    "poisson": (ScratchMLPRegressor, {"loss": "poisson"}, RNG.poisson(np.exp(0.5 * _Z[:, 0]))),
}


def _fit(Est, y, dtype, pipeline=False, **params):
    params = {
        "hidden_layer_sizes": (6, 4),
        "solver": "lbfgs",
        "max_iter": 20,
        "alpha": 1.0,
        "random_state": 0,
        **params,
    }
    model = Est(**params)
    if pipeline:
        model = make_pipeline(StandardScaler(), model)
    return model.fit(X[:N_TRAIN].astype(dtype), y[:N_TRAIN])


def _run(model, dtype, convert_options=None, X_test=None):
    """Export with a one-row sample of the input, run on the held-out rows."""
    X_test = X[N_TRAIN:].astype(dtype) if X_test is None else X_test
    onx = skl2onnx.to_onnx(model, X_test[:1], options=convert_options)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        onx.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    names = [o.name for o in session.get_outputs()]
    outputs = session.run(None, {session.get_inputs()[0].name: X_test})
    return dict(zip(names, outputs)), X_test


def _assert_close(actual, expected, dtype, scale=1.0):
    rtol, atol = FLOAT32 if np.dtype(dtype) == np.float32 else FLOAT64
    assert actual.dtype == np.dtype(dtype)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale)


NO_ZIPMAP = {ScratchMLPClassifier: {"zipmap": False}}


# ---------------------------------------------------------------------------
# The matrix: every activation, task and dtype; then each task and dtype after
# a StandardScaler (the activations taking turns: the pipeline only changes
# where the input comes from).
# ---------------------------------------------------------------------------
def _check_outputs(model, dtype):
    classifier = type(model[-1] if hasattr(model, "steps") else model) is ScratchMLPClassifier
    # (No options for a regressor: skl2onnx's option handling walks every
    # fitted attribute of the model, half the cost of a conversion.)
    outputs, X_test = _run(model, dtype, NO_ZIPMAP if classifier else None)
    if classifier:
        assert list(outputs) == ["label", "probabilities"]
        label, proba = outputs["label"], outputs["probabilities"]
        expected = model.predict(X_test)
        assert label.dtype == np.int64 and label.shape == expected.shape
        np.testing.assert_array_equal(label, expected)
        _assert_close(proba, model.predict_proba(X_test), dtype)
    else:
        assert list(outputs) == ["variable"]
        values = outputs["variable"]
        expected = model.predict(X_test).reshape(N_TEST, -1)
        assert values.shape == expected.shape  # (N, 1) for one output, as skl2onnx
        _assert_close(values, expected, dtype, scale=max(1.0, np.abs(expected).max()))


DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])


@DTYPES
@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_onnx_matches_predictions(activation, task, dtype):
    Est, params, y = TASKS[task]
    _check_outputs(_fit(Est, y, dtype, activation=activation, **params), dtype)


PIPELINE_CASES = [
    (task, dtype, sorted(ACTIVATIONS)[i % len(ACTIVATIONS)])
    for i, (task, dtype) in enumerate(
        (task, dtype) for task in TASKS for dtype in (np.float32, np.float64)
    )
]


@pytest.mark.parametrize(
    "task, dtype, activation",
    PIPELINE_CASES,
    ids=[f"{t}-{np.dtype(d).name}-{a}" for t, d, a in PIPELINE_CASES],
)
def test_onnx_in_pipeline(task, dtype, activation):
    Est, params, y = TASKS[task]
    _check_outputs(_fit(Est, y, dtype, pipeline=True, activation=activation, **params), dtype)


def test_pipeline_cases_cover_every_activation():
    assert {a for _, _, a in PIPELINE_CASES} == set(ACTIVATIONS)


def test_every_engine_activation_has_an_onnx_builder():
    assert set(ACTIVATIONS) <= set(HIDDEN_ACTIVATIONS)


@DTYPES
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_activation_over_a_wide_range(activation, dtype):
    # W = I and b = 0 in both layers: the output is g(x) itself, on inputs from
    # -40 to 40 and very close to 0 (the tails of exp, erf, log1p).
    k = 8
    grid = np.concatenate([np.linspace(-40, 40, 161), [0.0, 1e-8, -1e-8, 1e-3, -1e-3, 0.5, -0.5]])
    grid = np.resize(grid, (len(grid) + k - 1) // k * k).reshape(-1, k).astype(dtype)
    est = ScratchMLPRegressor(
        hidden_layer_sizes=(k,), activation=activation, solver="lbfgs", max_iter=1
    )
    est.fit(grid, grid)
    est.coefs_ = [np.eye(k), np.eye(k)]
    est.intercepts_ = [np.zeros(k), np.zeros(k)]
    outputs, _ = _run(est, dtype, X_test=grid)
    expected = est.predict(grid)
    np.testing.assert_array_equal(expected, ACTIVATIONS[activation](grid))
    _assert_close(outputs["variable"], expected, dtype)


@DTYPES
def test_per_layer_activations(dtype):
    Est, _, y = TASKS["multiclass"]
    model = _fit(Est, y, dtype, hidden_layer_sizes=(6, 5, 4), activation=["gelu", "tanh", "elu"])
    assert model._net.activation_names[1:4] == ["gelu", "tanh", "elu"]
    outputs, X_test = _run(model, dtype, NO_ZIPMAP)
    np.testing.assert_array_equal(outputs["label"], model.predict(X_test))
    _assert_close(outputs["probabilities"], model.predict_proba(X_test), dtype)


@pytest.mark.parametrize("task", ["multiclass", "poisson"])
@pytest.mark.parametrize(
    "fit_dtype, input_dtype",
    [(np.float64, np.float32), (np.float32, np.float64)],
    ids=["fit64-input32", "fit32-input64"],
)
def test_input_type_differs_from_fit_type(task, fit_dtype, input_dtype):
    # The graph computes in the input's type: a float64 model exported with a
    # float32 input (the usual case) runs in float32, to the float32 tolerance.
    Est, params, y = TASKS[task]
    model = _fit(Est, y, fit_dtype, **params)
    X_test = X[N_TRAIN:].astype(input_dtype)
    outputs, _ = _run(model, input_dtype, NO_ZIPMAP, X_test=X_test)
    if Est is ScratchMLPClassifier:
        np.testing.assert_array_equal(outputs["label"], model.predict(X_test))
        actual, expected = outputs["probabilities"], model.predict_proba(X_test)
    else:
        actual, expected = outputs["variable"].ravel(), model.predict(X_test)
    scale = max(1.0, np.abs(expected).max())
    np.testing.assert_allclose(actual, expected, rtol=FLOAT32[0], atol=FLOAT32[1] * scale)
    assert actual.dtype == input_dtype


@pytest.mark.parametrize("target_opset", [9, 13])
def test_older_opsets(target_opset):
    # Every operator used exists since opset 9.
    model = _fit(
        ScratchMLPClassifier,
        TASKS["binary"][2],
        np.float64,
        pipeline=True,
        activation=["gelu", "leaky_relu"],
    )
    X_test = X[N_TRAIN:]
    onx = skl2onnx.to_onnx(model, X_test[:1], options=NO_ZIPMAP, target_opset=target_opset)
    assert max(o.version for o in onx.opset_import if o.domain in ("", "ai.onnx")) <= target_opset
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    label, proba = session.run(None, {session.get_inputs()[0].name: X_test})
    np.testing.assert_array_equal(label, model.predict(X_test))
    _assert_close(proba, model.predict_proba(X_test), np.float64)


# ---------------------------------------------------------------------------
# Class labels.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("pipeline", [False, True], ids=["alone", "pipeline"])
@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_string_labels(task, pipeline):
    names = np.array(["ant", "bee", "cat"])
    y = names[TASKS[task][2]]
    model = _fit(ScratchMLPClassifier, y, np.float32, pipeline)
    outputs, X_test = _run(model, np.float32, NO_ZIPMAP)
    expected = model.predict(X_test)
    assert outputs["label"].dtype == object
    np.testing.assert_array_equal(outputs["label"], expected)
    _assert_close(outputs["probabilities"], model.predict_proba(X_test), np.float32)


@pytest.mark.parametrize(
    "y",
    [
        TASKS["binary"][2].astype(bool),
        TASKS["multiclass"][2].astype(float) * 10 - 7,  # integral floats
        np.zeros(N_TRAIN + N_TEST, dtype=int),  # one class
        np.array(["only"] * (N_TRAIN + N_TEST)),
    ],
    ids=["bool", "integral-float", "one-class", "one-string-class"],
)
def test_other_labels(y):
    model = _fit(ScratchMLPClassifier, y, np.float64)
    outputs, X_test = _run(model, np.float64, NO_ZIPMAP)
    expected = model.predict(X_test)
    assert np.array_equal(outputs["label"], expected)
    _assert_close(outputs["probabilities"], model.predict_proba(X_test), np.float64)


def test_nocl_gives_class_indices():
    names = np.array(["ant", "bee", "cat"])
    model = _fit(ScratchMLPClassifier, names[TASKS["multiclass"][2]], np.float32)
    nocl = {ScratchMLPClassifier: {"zipmap": False, "nocl": True}}
    outputs, X_test = _run(model, np.float32, nocl)
    assert outputs["label"].dtype == np.int64
    np.testing.assert_array_equal(model.classes_[outputs["label"]], model.predict(X_test))


# ---------------------------------------------------------------------------
# ZipMap: a list of {class: probability} dicts, or one output per class.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("labels", ["int", "str"])
@pytest.mark.parametrize("zipmap", [True, "columns"], ids=["zipmap", "columns"])
def test_zipmap(zipmap, labels):
    y = TASKS["multiclass"][2]
    if labels == "str":
        y = np.array(["ant", "bee", "cat"])[y]
    model = _fit(ScratchMLPClassifier, y, np.float32, pipeline=True)
    options = None if zipmap is True else {ScratchMLPClassifier: {"zipmap": "columns"}}
    outputs, X_test = _run(model, np.float32, options)
    np.testing.assert_array_equal(outputs.pop("output_label"), model.predict(X_test))
    classes = list(model.classes_)
    if zipmap is True:
        dicts = outputs["output_probability"]
        assert all(sorted(d) == sorted(classes) for d in dicts)
        proba = np.array([[d[c] for c in classes] for d in dicts], dtype=np.float32)
    else:
        prefix = "s" if labels == "str" else "i"
        assert list(outputs) == [f"{prefix}{c}" for c in classes]
        proba = np.column_stack([outputs[f"{prefix}{c}"] for c in classes])
    _assert_close(proba, model.predict_proba(X_test), np.float32)


def test_multilabel_zipmap():
    model = _fit(ScratchMLPClassifier, TASKS["multilabel"][2], np.float32)
    outputs, X_test = _run(model, np.float32)
    np.testing.assert_array_equal(outputs["output_label"], model.predict(X_test))
    proba = np.array([[d[c] for c in range(3)] for d in outputs["output_probability"]])
    _assert_close(proba.astype(np.float32), model.predict_proba(X_test), np.float32)


def test_int64_input_is_cast_to_float():
    model = _fit(ScratchMLPClassifier, TASKS["multiclass"][2], np.float32)
    X_int = np.round(X[N_TRAIN:]).astype(np.int64)
    outputs, _ = _run(model, np.int64, NO_ZIPMAP, X_test=X_int)
    np.testing.assert_array_equal(outputs["label"], model.predict(X_int))
    _assert_close(outputs["probabilities"], model.predict_proba(X_int), np.float32)


def test_register_converters_is_idempotent():
    register_converters()
    register_converters()
    model = _fit(ScratchMLPRegressor, TASKS["regression"][2], np.float64)
    outputs, X_test = _run(model, np.float64)
    _assert_close(outputs["variable"].ravel(), model.predict(X_test), np.float64, scale=10)


# ---------------------------------------------------------------------------
# Registration: free at import, automatic once skl2onnx is imported.
# ---------------------------------------------------------------------------
def _python(code: str) -> None:
    subprocess.run([sys.executable, "-c", textwrap.dedent(code)], check=True, timeout=120)


def test_import_is_free_and_registers_on_later_import():
    _python(
        """
        import sys
        import scratchmlp
        assert "skl2onnx" not in sys.modules and "onnx" not in sys.modules
        assert any(getattr(f, "_scratchmlp_skl2onnx_hook", False) for f in sys.meta_path)

        # skl2onnx not found: the usual error, and the hook waits on.
        import os
        from importlib.machinery import PathFinder
        where = os.path.dirname(os.path.dirname(PathFinder.find_spec("skl2onnx").origin))
        saved = sys.path[:]
        sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != where]
        sys.path_importer_cache.clear()
        try:
            import skl2onnx
        except ModuleNotFoundError:
            pass
        else:
            raise AssertionError("skl2onnx imported without its directory")
        assert any(getattr(f, "_scratchmlp_skl2onnx_hook", False) for f in sys.meta_path)
        sys.path[:] = saved
        sys.path_importer_cache.clear()

        from skl2onnx.common.data_types import FloatTensorType  # a submodule first
        import skl2onnx
        from skl2onnx._supported_operators import sklearn_operator_name_map
        assert sklearn_operator_name_map[scratchmlp.ScratchMLPClassifier] == "ScratchMLPClassifier"
        assert sklearn_operator_name_map[scratchmlp.ScratchMLPRegressor] == "ScratchMLPRegressor"
        # the hook removed itself and left skl2onnx's own loader in place
        assert not any(getattr(f, "_scratchmlp_skl2onnx_hook", False) for f in sys.meta_path)
        assert type(skl2onnx.__loader__).__name__ != "_RegisteringLoader"
        assert type(skl2onnx.__spec__.loader).__name__ != "_RegisteringLoader"
        """
    )


def test_registers_at_once_when_skl2onnx_came_first(monkeypatch):
    # skl2onnx is imported here: installing the hook registers at once and
    # adds no finder.
    from skl2onnx._supported_operators import sklearn_operator_name_map

    from scratchmlp._onnx import install_skl2onnx_hook

    monkeypatch.delitem(sklearn_operator_name_map, ScratchMLPClassifier)
    monkeypatch.delitem(sklearn_operator_name_map, ScratchMLPRegressor)
    install_skl2onnx_hook()
    assert sklearn_operator_name_map[ScratchMLPClassifier] == "ScratchMLPClassifier"
    assert sklearn_operator_name_map[ScratchMLPRegressor] == "ScratchMLPRegressor"
    assert not any(getattr(f, "_scratchmlp_skl2onnx_hook", False) for f in sys.meta_path)
