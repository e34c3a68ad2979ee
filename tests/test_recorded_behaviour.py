"""Every solver computes today what it computed when the fixture was recorded, bit for bit.

``fixtures/behaviour.npz`` holds, for each case of
``fixtures/record_behaviour.py`` (every solver; binary, multiclass,
multilabel and regression targets; early stopping, warm start, partial_fit,
sample weights, dropout, float32, ...), the loss curve, the weights, the
counters, the warnings and the predictions of a fit with a fixed
``random_state``, recorded from the reference code (``meta/commit``). A
refactoring must reproduce them exactly: weights and curves are compared with
``np.array_equal``, not a tolerance.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def _recorder():
    spec = importlib.util.spec_from_file_location(
        "record_behaviour", FIXTURES / "record_behaviour.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RECORDER = _recorder()
RECORDED = np.load(FIXTURES / "behaviour.npz")


@pytest.fixture(scope="module")
def data():
    return RECORDER.datasets()


def test_every_case_is_recorded():
    recorded = {key.split("/")[0] for key in RECORDED.files} - {"meta"}
    assert recorded == set(RECORDER.CASES)


@pytest.mark.parametrize("name", sorted(RECORDER.CASES))
def test_same_bits_as_recorded(name, data):
    now = RECORDER.run_case(RECORDER.CASES[name], data)
    fields = {key.split("/", 1)[1] for key in RECORDED.files if key.startswith(name + "/")}
    assert set(now) == fields
    for field, value in now.items():
        expected = RECORDED[f"{name}/{field}"]
        assert value.dtype == expected.dtype, field
        assert value.shape == expected.shape, field
        assert np.array_equal(value, expected, equal_nan=value.dtype.kind == "f"), (
            f"{name}: {field} differs from the recording of commit {RECORDED['meta/commit']}"
        )
