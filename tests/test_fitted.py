"""Fitted attributes behave like scikit-learn's, read from one fitted model."""

import numpy as np
import pytest
from sklearn.datasets import load_iris

from scratchmlp import ScratchMLPClassifier, ScratchMLPRegressor

X, Y = load_iris(return_X_y=True)


@pytest.fixture
def clf(quiet_convergence):
    return ScratchMLPClassifier((4,), solver="lbfgs", max_iter=30, random_state=0).fit(X, Y)


def test_setting_a_layer_of_coefs_takes_effect(clf):
    before = clf.predict_proba(X)
    W = np.zeros_like(clf.coefs_[1])
    clf.coefs_[1] = W
    np.testing.assert_array_equal(clf.coefs_[1], W)
    np.testing.assert_array_equal(clf.weights_[2], W.T)
    # With a zero output layer every row gets the same probabilities.
    proba = clf.predict_proba(X)
    assert not np.allclose(proba, before)
    np.testing.assert_allclose(proba, np.broadcast_to(proba[0], proba.shape))


def test_in_place_edits_and_whole_list_assignment_take_effect(clf):
    clf.intercepts_[0][...] = 3.0
    np.testing.assert_array_equal(clf.biases_[1].ravel(), 3.0)
    clf.coefs_[0] *= 2
    doubled = [c.copy() for c in clf.coefs_]
    clf.coefs_ = [c / 2 for c in doubled]
    np.testing.assert_array_equal(clf.coefs_[0], doubled[0] / 2)
    clf.weights_[1] = np.ones_like(clf.weights_[1])
    np.testing.assert_array_equal(clf.coefs_[0], 1.0)


def test_a_new_shape_is_refused_clearly(clf):
    with pytest.raises(ValueError, match="cannot be changed by assignment"):
        clf.coefs_[0] = np.zeros((3, 3))
    with pytest.raises(ValueError, match="coefs_ must have the shapes"):
        clf.coefs_ = [np.zeros((4, 4))]
    with pytest.raises(TypeError, match="one layer at a time"):
        clf.coefs_[0:1] = [np.zeros((4, 4))]


def test_unfitted_estimator_has_no_fitted_attributes():
    est = ScratchMLPRegressor()
    for name in ("coefs_", "loss_curve_", "n_features_in_", "n_iter_", "t_"):
        assert not hasattr(est, name)
    assert not hasattr(ScratchMLPClassifier(), "classes_")


class FailAt:
    def on_epoch_end(self, est, record):
        if record["epoch"] == 2:
            raise RuntimeError("a callback failed")
        return False


def test_a_fit_replaces_the_model_in_one_assignment(clf):
    model, theta = clf._model, clf._model.network.theta.copy()
    clf.set_params(callbacks=[FailAt()])
    with pytest.raises(RuntimeError, match="callback failed"):
        clf.fit(X[:, :2], Y)  # a new model, in training when the callback fails
    assert clf._model is model  # nothing was assigned
    np.testing.assert_array_equal(clf._model.network.theta, theta)
    assert clf.n_features_in_ == 4
    clf.set_params(callbacks=None).fit(X, Y)
    assert clf._model is not model


def test_a_pickle_of_0_1_0_becomes_one_fitted_model():
    """0.1.0 kept _net, _state, _optimizer, _label_binarizer and classes_ apart."""
    import pickle
    import warnings
    from pathlib import Path

    fixtures = Path(__file__).parent / "fixtures"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the version warnings
        clf = pickle.loads((fixtures / "classifier-0.1.0.pkl").read_bytes())
        reg = pickle.loads((fixtures / "regressor-0.1.0.pkl").read_bytes())
    for est in (clf, reg):
        assert {"_net", "_state", "_optimizer", "classes_"}.isdisjoint(vars(est))
        assert est._model.network is est._net and est.n_features_in_ == 4
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert reg._model.optimizer is not None  # adam's state, for partial_fit
    before = len(reg.loss_curve_)
    reg.partial_fit(X, Y.astype(float))
    assert len(reg.loss_curve_) == before + 1
