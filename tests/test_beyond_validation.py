"""Beyond scikit-learn (6, 7): validation data and scoring, and ``history_``."""

import numpy as np
import pytest
from beyond_helpers import (
    _assert_same_model,
    _params,
    quiet,
)
from sklearn.metrics import f1_score, log_loss, make_scorer, mean_absolute_error
from testdata import SMALL

from scratchmlp import ScratchMLPClassifier, ScratchMLPRegressor

X, Y_BIN, Y_3, Y_ML = SMALL.X, SMALL.y_binary, SMALL.y_3, SMALL.y_multilabel
Y_REG = SMALL.y_reg
Y_COUNTS, X_VAL, Y_VAL_3, Y_VAL_REG = SMALL.y_counts, SMALL.X_val, SMALL.y_val_3, SMALL.y_val_reg


# ===========================================================================
# 6. Validation data and scoring
# ===========================================================================
@quiet
def test_given_validation_set_replaces_the_split_and_restores_the_best_epoch():
    est = ScratchMLPClassifier(
        **_params(
            early_stopping=True,
            scoring="loss",
            n_iter_no_change=3,
            max_iter=300,
            learning_rate_init=0.05,
            hidden_layer_sizes=(20,),
        )
    ).fit(X, Y_3, X_val=X_VAL, y_val=Y_VAL_3)
    assert est.t_ == len(X) * est.n_iter_  # every training sample, every epoch
    assert est.n_iter_ < 300  # it stopped early
    scores = est.validation_scores_
    assert len(scores) == len(est.validation_loss_curve_) == est.n_iter_
    best = int(np.argmax(scores))
    assert best < est.n_iter_ - 1 and scores[-1] < scores[best]
    assert est.best_validation_score_ == scores[best]
    # The final model is the best epoch's: its validation loss is the best one.
    val_loss = log_loss(Y_VAL_3, est.predict_proba(X_VAL), labels=[0, 1, 2])
    assert -val_loss == pytest.approx(est.best_validation_score_, rel=1e-10)
    # Without X_val, early stopping holds out validation_fraction of X instead.
    split = ScratchMLPClassifier(**_params(early_stopping=True, max_iter=5)).fit(X, Y_3)
    assert split.t_ == 54 * split.n_iter_


@quiet
def test_validation_set_without_early_stopping_is_recorded():
    est = ScratchMLPRegressor(**_params(max_iter=8)).fit(X, Y_REG, X_val=X_VAL, y_val=Y_VAL_REG)
    assert est.t_ == len(X) * 8
    assert len(est.validation_scores_) == len(est.validation_loss_curve_) == 8
    assert est.best_validation_score_ is None
    # The last entries are those of the final model: R2 and half the squared error.
    assert est.validation_scores_[-1] == pytest.approx(est.score(X_VAL, Y_VAL_REG), rel=1e-10)
    half_mse = 0.5 * np.mean((est.predict(X_VAL) - Y_VAL_REG) ** 2)
    assert est.validation_loss_curve_[-1] == pytest.approx(half_mse, rel=1e-10)
    # sample_weight_val weights both.
    s = np.linspace(0.1, 2.0, len(X_VAL))
    weighted = ScratchMLPRegressor(**_params(max_iter=8)).fit(
        X, Y_REG, X_val=X_VAL, y_val=Y_VAL_REG, sample_weight_val=s
    )
    _assert_same_model(weighted, est)  # validation does not change training
    assert weighted.validation_scores_[-1] == pytest.approx(
        weighted.score(X_VAL, Y_VAL_REG, sample_weight=s), rel=1e-10
    )
    weighted_half_mse = 0.5 * np.average((est.predict(X_VAL) - Y_VAL_REG) ** 2, weights=s)
    assert weighted.validation_loss_curve_[-1] == pytest.approx(weighted_half_mse, rel=1e-10)


@quiet
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_scoring_loss_is_minus_the_validation_loss(solver):
    est = ScratchMLPClassifier(**_params(solver=solver, scoring="loss", max_iter=10)).fit(
        X, Y_3, X_val=X_VAL, y_val=Y_VAL_3
    )
    assert len(est.validation_scores_) == est.n_iter_ > 1
    np.testing.assert_array_equal(est.validation_scores_, -np.array(est.validation_loss_curve_))
    if solver == "adam":
        val_loss = log_loss(Y_VAL_3, est.predict_proba(X_VAL), labels=[0, 1, 2])
        assert est.validation_loss_curve_[-1] == pytest.approx(val_loss, rel=1e-10)


@quiet
def test_scoring_by_name_and_callable():
    f1 = ScratchMLPClassifier(**_params(scoring="f1_macro", max_iter=10)).fit(
        X, Y_3, X_val=X_VAL, y_val=Y_VAL_3
    )
    expected = f1_score(Y_VAL_3, f1.predict(X_VAL), average="macro")
    assert f1.validation_scores_[-1] == pytest.approx(expected, rel=1e-12)
    default = ScratchMLPClassifier(**_params(max_iter=10)).fit(X, Y_3, X_val=X_VAL, y_val=Y_VAL_3)
    _assert_same_model(default, f1)  # the scorer does not change training...
    assert f1.validation_scores_ != default.validation_scores_  # ...only what is recorded
    assert default.validation_scores_[-1] == default.score(X_VAL, Y_VAL_3)  # accuracy

    calls = []

    def neg_mae(est, X_, y_):
        calls.append((X_.shape, [c.copy() for c in est.coefs_]))
        return -mean_absolute_error(y_, est.predict(X_))

    reg = ScratchMLPRegressor(**_params(scoring=neg_mae, max_iter=6)).fit(
        X, Y_REG, X_val=X_VAL, y_val=Y_VAL_REG
    )
    assert len(calls) == 6 and all(shape == X_VAL.shape for shape, _ in calls)
    # It scores the model of each epoch, not one fixed model.
    assert not np.array_equal(calls[0][1][0], calls[1][1][0])
    expected = -mean_absolute_error(Y_VAL_REG, reg.predict(X_VAL))
    assert reg.validation_scores_[-1] == pytest.approx(expected, rel=1e-12)
    # A scorer object from make_scorer too.
    scorer = make_scorer(mean_absolute_error, greater_is_better=False)
    reg2 = ScratchMLPRegressor(**_params(scoring=scorer, max_iter=6)).fit(
        X, Y_REG, X_val=X_VAL, y_val=Y_VAL_REG
    )
    np.testing.assert_allclose(reg2.validation_scores_, reg.validation_scores_, rtol=1e-12)


@quiet
def test_early_stopping_follows_the_scoring():
    # Stopping on the validation loss keeps the epoch of the lowest loss.
    est = ScratchMLPRegressor(
        **_params(
            early_stopping=True,
            scoring="neg_mean_absolute_error",
            n_iter_no_change=2,
            max_iter=200,
            learning_rate_init=0.05,
            hidden_layer_sizes=(20,),
        )
    ).fit(X, Y_REG, X_val=X_VAL, y_val=Y_VAL_REG)
    expected = -mean_absolute_error(Y_VAL_REG, est.predict(X_VAL))
    assert est.best_validation_score_ == pytest.approx(expected, rel=1e-10)
    assert est.best_validation_score_ == max(est.validation_scores_)


def test_invalid_validation_data_raises():
    est = ScratchMLPClassifier(**_params(max_iter=2))
    with pytest.raises(ValueError, match="X_val and y_val"):
        est.fit(X, Y_3, X_val=X_VAL)
    with pytest.raises(ValueError, match="X_val and y_val"):
        est.fit(X, Y_3, y_val=Y_VAL_3)
    with pytest.raises(ValueError, match="features"):
        est.fit(X, Y_3, X_val=X_VAL[:, :3], y_val=Y_VAL_3)
    with pytest.raises(ValueError, match="classes"):
        est.fit(X, Y_3, X_val=X_VAL, y_val=np.where(Y_VAL_3 == 2, 7, Y_VAL_3))
    with pytest.raises(ValueError):
        est.fit(X, Y_3, X_val=X_VAL, y_val=Y_VAL_3[:-1])  # inconsistent lengths
    with pytest.raises(ValueError):
        est.fit(X, Y_3, X_val=X_VAL, y_val=Y_VAL_3, sample_weight_val=np.ones(3))
    assert not hasattr(est, "coefs_")  # nothing was fitted by the failed calls


# ===========================================================================
# 7. history_
# ===========================================================================
COLUMNS = ["epoch", "loss", "val_loss", "val_score", "learning_rate", "seconds"]


@quiet
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_history_dataframe(solver):
    pd = pytest.importorskip("pandas")
    est = ScratchMLPClassifier(**_params(solver=solver, max_iter=12)).fit(X, Y_3)
    df = pd.DataFrame(est.history_)
    assert list(df.columns) == COLUMNS
    assert len(df) == est.n_iter_ == len(est.loss_curve_)
    assert list(df["epoch"]) == list(range(1, est.n_iter_ + 1))
    np.testing.assert_array_equal(df["loss"], est.loss_curve_)
    assert df["val_loss"].isna().all() and df["val_score"].isna().all()
    assert (df["seconds"] >= 0).all()
    if solver == "lbfgs":
        assert df["learning_rate"].isna().all()
    else:
        assert (df["learning_rate"] == est.learning_rate_init).all()

    with_val = ScratchMLPClassifier(**_params(solver=solver, max_iter=12)).fit(
        X, Y_3, X_val=X_VAL, y_val=Y_VAL_3
    )
    df = pd.DataFrame(with_val.history_)
    assert len(df) == with_val.n_iter_
    np.testing.assert_array_equal(df["val_loss"], with_val.validation_loss_curve_)
    np.testing.assert_array_equal(df["val_score"], with_val.validation_scores_)


@quiet
def test_history_with_warm_start_and_partial_fit():
    est = ScratchMLPClassifier(**_params(max_iter=5, warm_start=True))
    est.fit(X, Y_3)
    est.fit(X, Y_3)
    assert est.n_iter_ == 5  # this call's epochs
    assert len(est.history_) == len(est.loss_curve_) == 10  # all of them
    assert [r["epoch"] for r in est.history_] == list(range(1, 11))
    inc = ScratchMLPClassifier(**_params())
    for _ in range(3):
        inc.partial_fit(X, Y_3, classes=[0, 1, 2])
    assert [r["epoch"] for r in inc.history_] == [1, 2, 3]
    assert [r["loss"] for r in inc.history_] == inc.loss_curve_
    # A new fit starts a new history.
    est.set_params(warm_start=False).fit(X, Y_3)
    assert len(est.history_) == est.n_iter_ == 5
