"""Pickles written by released versions keep loading and predicting the same."""

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import InconsistentVersionWarning as SklearnVersionWarning

import scratchmlp

FIXTURES = Path(__file__).parent / "fixtures"
PICKLES = sorted(FIXTURES.glob("*.pkl"))


def test_there_is_a_fixture_for_each_estimator():
    names = {path.name.split("-")[0] for path in PICKLES}
    assert names == {"classifier", "regressor"}


@pytest.mark.parametrize("path", PICKLES, ids=[p.name for p in PICKLES])
def test_pickle_fixture_loads_and_predicts_the_same(path):
    X, _ = load_iris(return_X_y=True)
    name, version = path.stem.split("-", 1)
    expected = np.load(FIXTURES / f"{name}-{version}-expected.npy")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", SklearnVersionWarning)  # scikit-learn's own objects
        model = pickle.loads(path.read_bytes())
    ours = [w for w in caught if issubclass(w.category, scratchmlp.InconsistentVersionWarning)]
    # Loading a pickle of another version warns, naming both versions.
    assert len(ours) == (version != scratchmlp.__version__)
    if ours:
        assert ours[0].message.original_version == version
    output = model.predict_proba(X) if name == "classifier" else model.predict(X)
    np.testing.assert_allclose(output, expected, rtol=1e-12, atol=1e-14)
    # The views survive the round trip: coefs_ still alias weights_.
    model.weights_[1][0, 0] += 1.0
    assert model.coefs_[0][0, 0] == model.weights_[1][0, 0]


def test_loading_another_version_warns():
    X, y = load_iris(return_X_y=True)
    model = scratchmlp.ScratchMLPClassifier((3,), solver="lbfgs", max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    state = model.__getstate__()
    assert state["_scratchmlp_version"] == scratchmlp.__version__
    state["_scratchmlp_version"] = "0.0.0"
    blank = scratchmlp.ScratchMLPClassifier.__new__(scratchmlp.ScratchMLPClassifier)
    with pytest.warns(scratchmlp.InconsistentVersionWarning, match="0.0.0"):
        blank.__setstate__(state)
    np.testing.assert_array_equal(blank.predict(X), model.predict(X))
