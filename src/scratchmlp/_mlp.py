"""ScratchMLPClassifier and ScratchMLPRegressor: drop-ins for scikit-learn's MLPs."""

from __future__ import annotations

import textwrap

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import column_or_1d

from ._base import BaseScratchMLP, StrOptions, _fit_context
from ._losses import clip_probabilities, clip_probabilities_xp
from ._prepare import Mode

__all__ = ["ScratchMLPClassifier", "ScratchMLPRegressor"]

_SHARED_PARAMETERS = """\
hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
    The ith element is the number of neurons ``n[i]`` of hidden layer ``i``.

activation : str or list of str, default='relu'
    The hidden activation ``g``: ``identity`` :math:`g(z) = z`, ``logistic``
    :math:`g(z) = 1 / (1 + e^{-z})`, ``tanh``, ``relu`` :math:`\\max(z, 0)`,
    and, beyond scikit-learn, ``leaky_relu`` :math:`\\max(z, 0.01 z)`,
    ``elu``, ``gelu``, ``softplus``, ``silu``; or a list with one name per
    hidden layer.

solver : {'lbfgs', 'sgd', 'adam', 'rmsprop', 'adamw'}, default='adam'
    ``lbfgs`` minimises the full-batch cost with scipy's L-BFGS-B; the
    others take a step per mini-batch. ``rmsprop`` uses ``beta_2`` as its
    decay rate; ``adamw`` is Adam with ``alpha`` as a decoupled weight decay
    (not an L2 term in the cost).

alpha : float, default=0.0001
    Strength :math:`\\lambda` of the L2 penalty
    :math:`\\frac{\\lambda}{2 S} \\sum_l \\lVert W[l] \\rVert^2`.

batch_size : int or 'auto', default='auto'
    Mini-batch size of the stochastic solvers; 'auto' is ``min(200, n_samples)``.

learning_rate : {'constant', 'invscaling', 'adaptive', 'cosine'}, default='constant'
    The step-size schedule. As in scikit-learn, 'invscaling' and 'adaptive'
    apply to ``solver='sgd'`` only; 'cosine' decays every stochastic
    solver's rate to 0 over ``max_iter`` epochs.

learning_rate_init : float, default=0.001
    The initial step size (sgd and adam).

power_t : float, default=0.5
    Exponent of the 'invscaling' schedule.

max_iter : int, default=200
    Maximum number of epochs (stochastic solvers) or iterations (lbfgs).

shuffle : bool, default=True
    Whether to shuffle the samples in each epoch.

random_state : int, RandomState instance or None, default=None
    Seeds the one generator of a fit: initial weights, shuffles, the
    early-stopping split.

tol : float, default=1e-4
    Improvement below which an epoch counts as none (and L-BFGS's ``gtol``).

verbose : bool, default=False
    Print the loss after each epoch.

warm_start : bool, default=False
    Start ``fit`` from the previous solution.

momentum : float, default=0.9
    Momentum of ``solver='sgd'``.

nesterovs_momentum : bool, default=True
    Use Nesterov's momentum (sgd with momentum > 0).

early_stopping : bool, default=False
    Hold out ``validation_fraction`` of the data and stop when its score
    stops improving; the best weights are restored.

validation_fraction : float, default=0.1
    Fraction held out with early stopping.

beta_1, beta_2 : float, default=0.9, 0.999
    Decay rates of Adam's first and second moment estimates.

epsilon : float, default=1e-8
    Adam's numerical-stability constant.

n_iter_no_change : int or np.inf, default=10
    Epochs without an improvement of ``tol`` before stopping.

max_fun : int, default=15000
    Maximum number of cost evaluations of lbfgs.
"""

_BEYOND_PARAMETERS = """dropout : float or list of float, default=0.0
    Inverted dropout: the probability of dropping each hidden unit during
    training (one rate, or one per hidden layer); prediction uses every
    unit. Stochastic solvers only (lbfgs ignores it).

init : {'auto', 'glorot_uniform', 'glorot_normal', 'he_uniform', 'he_normal'}, default='auto'
    The initial weights: 'auto' is scikit-learn's scheme (same draws for
    the same ``random_state``); Glorot's keep the variance at 1 / fan_avg,
    He's at 2 / fan_in; these start the biases at zero.

max_grad_norm : float, default=None
    Rescale each mini-batch gradient to at most this Euclidean norm.
    Stochastic solvers only.

scoring : str, callable or None, default=None
    The validation score of ``validation_scores_`` and early stopping:
    None for accuracy (R2 for the regressor), 'loss' for minus the
    validation loss, or any scikit-learn scorer name or callable.

callbacks : list of objects, default=None
    Objects with ``on_epoch_end(estimator, record) -> bool``, called after
    every epoch (every iteration of lbfgs) with that epoch's ``history_``
    record; True stops training. See :mod:`scratchmlp.callbacks`.
"""

_SHARED_ATTRIBUTES = """\
loss_ : float
    The cost after the last epoch (or L-BFGS iteration).

best_loss_ : float or None
    The lowest training cost seen; None with early stopping.

loss_curve_ : list of float
    The cost after each epoch (or L-BFGS iteration).

validation_scores_ : list of float or None
    The validation score after each epoch, with early stopping.

best_validation_score_ : float or None
    The best validation score, with early stopping.

t_ : int
    Number of training samples seen by the stochastic solvers.

coefs_ : list of ndarray of shape (n[i], n[i+1])
    scikit-learn's layout of the weights: ``coefs_[i]`` is a view of
    ``weights_[i + 1].T``. Setting ``coefs_[i] = W`` (or editing it in
    place) changes the network; another shape raises ValueError.

intercepts_ : list of ndarray of shape (n[i+1],)
    scikit-learn's layout of the biases: views of ``biases_``, writable
    like ``coefs_``.

weights_ : list of ndarray of shape (n[l], n[l-1])
    The engine's ``W[l]``, indexed by the layer number (``weights_[0]`` is
    None because layer 0 is the input).

biases_ : list of ndarray of shape (n[l], 1)
    The engine's ``b[l]`` (``biases_[0]`` is None).

n_features_in_ : int
    Number of features seen during fit.

feature_names_in_ : ndarray of shape (`n_features_in_`,)
    Names of the features seen during fit, when X has string column names.

n_iter_ : int
    Epochs (or L-BFGS iterations) run by the last call to fit or partial_fit.

n_layers_ : int
    Number of layers ``L + 1``, input and output included.

n_outputs_ : int
    Number of outputs ``n[L]``.

history_ : list of dict
    One record per epoch: ``epoch``, ``loss``, ``val_loss``, ``val_score``,
    ``learning_rate``, ``seconds`` (``pandas.DataFrame(history_)`` makes a
    table).

validation_loss_curve_ : list of float or None
    The mean loss on the validation data after each epoch (without the L2
    term), when there is validation data.
"""


# The shared docstring blocks, indented like the class docstrings they go in.
_SHARED_PARAMETERS = textwrap.indent(_SHARED_PARAMETERS, "    ")
_BEYOND_PARAMETERS = textwrap.indent(_BEYOND_PARAMETERS, "    ")
_SHARED_ATTRIBUTES = textwrap.indent(_SHARED_ATTRIBUTES, "    ")


def _init_parameters(est, params: dict) -> None:
    for name, value in params.items():
        if name not in ("self", "__class__"):
            setattr(est, name, value)


class ScratchMLPClassifier(ClassifierMixin, BaseScratchMLP):
    __doc__ = f"""Multilayer perceptron classifier, a drop-in for scikit-learn's MLPClassifier.

    Trains an L-layer perceptron written from scratch in numpy, in the column
    notation ``A[0] = X.T`` of shape ``(n[0], m)``. The output is a softmax for
    multiclass targets and logistic units for binary and multilabel ones, with
    the cross-entropy loss.

    Parameters
    ----------
{_SHARED_PARAMETERS}
    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes, multiplied with ``sample_weight`` as in
        scikit-learn's linear models: 'balanced' uses
        ``n_samples / (n_classes * np.bincount(y))``.

{_BEYOND_PARAMETERS}
    Attributes
    ----------
    classes_ : ndarray or list of ndarray of shape (n_classes,)
        Class labels.

{_SHARED_ATTRIBUTES}
    out_activation_ : str
        'softmax' (multiclass) or 'logistic' (binary, multilabel).

    See Also
    --------
    ScratchMLPRegressor : The regressor.
    sklearn.neural_network.MLPClassifier : The estimator this one replaces.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.preprocessing import StandardScaler
    >>> from scratchmlp import ScratchMLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)  # unscaled, 200 iterations do not converge
    >>> clf = ScratchMLPClassifier(solver="lbfgs", random_state=0).fit(X, y)
    >>> clf.n_iter_ < clf.max_iter  # converged: no ConvergenceWarning
    True
    >>> clf.predict_proba(X[:1]).shape
    (1, 3)
    >>> round(clf.score(X, y), 2) >= 0.95
    True
    """

    _parameter_constraints: dict = {
        **BaseScratchMLP._parameter_constraints,
        "class_weight": [None, StrOptions({"balanced"}), dict],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        class_weight=None,
        dropout=0.0,
        init="auto",
        max_grad_norm=None,
        scoring=None,
        callbacks=None,
    ):
        _init_parameters(self, locals())

    # -- targets -----------------------------------------------------------
    @property
    def classes_(self):
        """Class labels (see the class docstring)."""
        return self._fitted().labels.classes_

    @property
    def _label_binarizer(self) -> LabelBinarizer:
        return self._fitted().labels

    def _target_encoding(self, y, labels, same_classes):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if y.dtype == object:
            kinds = {isinstance(label, str) for label in y.ravel()}
            if len(kinds) > 1:
                raise ValueError(
                    "Mix of label input types (string and number) in y: class labels "
                    "must be all strings or all numbers."
                )
        check_classification_targets(y)
        if labels is None:
            labels = LabelBinarizer().fit(y)
        else:
            classes = unique_labels(y)
            if same_classes:
                if set(classes) != set(labels.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as "
                        f"in the previous call to fit. Previously got {labels.classes_}, "
                        f"`y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, labels.classes_)):
                raise ValueError(
                    "`y` has classes not in `self.classes_`. "
                    f"`self.classes_` has {labels.classes_}. 'y' has {classes}."
                )
        multiclass = labels.y_type_ == "multiclass"
        return labels, "log_loss" if multiclass else "binary_log_loss"

    def _encode_targets(self, y, labels):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y)
        # LabelBinarizer's encoding, built as bool directly (one byte a
        # target, and no upcast of float32 arithmetic): LabelBinarizer itself
        # makes an int64 matrix first, 8 bytes a target.
        classes = labels.classes_
        if labels.y_type_ == "multilabel-indicator":
            return labels.transform(y).astype(bool)
        if labels.y_type_ == "multiclass":
            return y[:, np.newaxis] == classes[np.newaxis, :]
        # One logistic unit, for the positive class; all False with one class.
        if len(classes) == 1:
            return np.zeros((len(y), 1), dtype=bool)
        return (y == classes[1])[:, np.newaxis]

    def _sample_weight(self, y, sample_weight, partial):
        if self.class_weight is None:
            return sample_weight
        if partial and self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' is not supported by partial_fit: the class "
                "frequencies of one batch are not those of the data. Compute the "
                "weights once with sklearn.utils.class_weight.compute_class_weight "
                "and pass them as a dict."
            )
        weights = compute_sample_weight(self.class_weight, y)
        return weights if sample_weight is None else weights * sample_weight

    def _stratify_validation(self, y) -> bool:
        return y.ndim == 1

    def _score_output(self, y_true, output, sample_weight, labels) -> float:
        return accuracy_score(y_true, self._decode(output, labels), sample_weight=sample_weight)

    @staticmethod
    def _decode(output, labels):
        """Labels from the network's output ``A[L].T`` of shape (m, n[L])."""
        if output.shape[1] == 1:
            output = output.ravel()
        return labels.inverse_transform(output)

    # -- public API --------------------------------------------------------

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with one epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights.
        classes : array of shape (n_classes,), default=None
            All the classes over all calls; required on the first call (not
            for multilabel indicator targets).

        Returns
        -------
        self : object
            The updated estimator.
        """
        labels = None
        if "_model" not in self.__dict__:
            multilabel = type_of_target(y).startswith("multilabel")
            if classes is None and not multilabel:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            labels = LabelBinarizer().fit(y if multilabel else classes)
        elif classes is not None and not np.array_equal(
            np.asarray(unique_labels(classes)), np.asarray(self.classes_)
        ):
            raise ValueError(
                f"`classes={classes}` is not the same as on the first call to "
                f"partial_fit, which was {self.classes_}."
            )
        return self._train(X, y, sample_weight, Mode.PARTIAL, labels=labels)

    def predict(self, X):
        """Predict the class labels.

        The class of the largest :meth:`predict_proba` (the first of equal
        ones), or for multilabel targets every label whose probability is
        above 0.5: ``predict`` always agrees with ``predict_proba``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
            The predicted classes (an indicator matrix for multilabel targets).
        """
        proba = self._class_columns(self._output(X, "predict", logits=True))
        labels, ops = self._label_binarizer, self._model.network.ops
        if not ops.is_numpy:
            return self._predict_xp(ops, proba, labels)
        if labels.y_type_.startswith("multilabel"):
            return self._decode(proba, labels)
        return self.classes_[proba.argmax(axis=1)]

    def _predict_xp(self, ops, proba, labels):
        """:meth:`predict` for probabilities of another namespace: labels of that namespace."""
        xp = ops.xp
        if labels.y_type_.startswith("multilabel"):
            return ops.from_host(self._decode(ops.to_host(proba), labels))
        index = xp.argmax(proba, axis=1)
        if self.classes_.dtype.kind not in "biuf":
            # String labels have no array API dtype: a numpy array of them, as
            # scikit-learn's array-API classifiers return.
            return self.classes_[ops.to_host(index)]
        return xp.take(ops.from_host(self.classes_), index, axis=0)

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            The probability of each class, in the order of ``classes_``, in
            the network's dtype.

        Notes
        -----
        For one sample with logits :math:`z` (the output layer's ``Z[L]``):

        1. the probabilities are computed from the logits without overflow:
           the softmax :math:`e^{z_k - \\max z} / \\sum_j e^{z_j - \\max z}`
           (multiclass), the logistic :math:`s(z_k) = 1 / (1 + e^{-z_k})`
           (multilabel), or :math:`(s(-z), s(z))` for the one logistic unit of
           a binary target (:math:`s(-z)`, not :math:`1 - s(z)`, stays
           accurate where :math:`s(z)` rounds to 1);
        2. each is clipped into :math:`[t, 1 - \\epsilon^-]`, where
           :math:`t` is ``np.finfo(dtype).tiny`` (the smallest normal number)
           and :math:`1 - \\epsilon^-` the largest float below 1;
        3. where ``np.log`` would give distinct probabilities of the sample
           the same value (it compresses where :math:`|\\log p| > 1`), they
           are made equal: sorted by probability, an entry whose log is not
           greater than every log before it takes the probability of the
           entry that began its run. Each log stays the same (within one
           unit in the last place where float32's ``np.log`` is not
           monotone), so a probability changes by a relative amount of about
           :math:`\\epsilon |\\log p|` at most, and only where such ties occur.

        :meth:`predict_log_proba` is ``np.log`` of the result. So, in every
        row: every probability lies strictly inside (0, 1) (binary and
        multilabel included), the rows of a binary or multiclass model sum
        to 1 up to rounding, ``np.log(predict_proba(X)) == predict_log_proba(X)``
        exactly, and the two sort alike, ties included (the same
        ``np.argsort`` and ``np.argmax``), which :meth:`predict` follows. A
        model fitted on one class gives the one class probability 1.
        """
        return self._class_columns(self._output(X, "predict_proba", logits=True))

    def predict_log_proba(self, X):
        """Log of the probability estimates: ``np.log(predict_proba(X))``.

        Finite wherever X is: every probability is at least the smallest
        normal number ``np.finfo(dtype).tiny``, so every log is at least
        ``np.log(tiny)`` (about -708 in float64, -87.3 in float32). It sorts
        like ``predict_proba``, ties included (see its Notes).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            In the order of ``classes_``, in the network's dtype.
        """
        proba = self._class_columns(self._output(X, "predict_log_proba", logits=True))
        return self._model.network.ops.xp.log(proba)

    def _class_columns(self, Z):
        """The probabilities, one column per class (their logs only where asked for).

        Parameters
        ----------
        Z : ndarray of shape (m, n[L])
            The logits ``Z[L].T``; may be overwritten.

        Returns
        -------
        proba : ndarray of shape (m, n_classes)
            As :meth:`predict_proba` defines them; ``np.log(proba)`` is
            :meth:`predict_log_proba`.
        """
        ops = self._model.network.ops
        if len(self.classes_) == 1:
            # One class seen: it is certain.
            return ops.xp.ones_like(Z)
        if not ops.is_numpy:
            return self._class_columns_xp(ops, Z)
        forward = self._model.network.loss.forward
        if self._label_binarizer.y_type_ == "binary":
            # One logistic unit: P(classes_[1]) = s(z), and P(classes_[0]) =
            # 1 - s(z) = s(-z), which stays accurate where s(z) rounds to 1.
            proba = np.empty((Z.shape[0], 2), dtype=Z.dtype)
            forward(-Z, proba[:, :1])
            forward(Z, proba[:, 1:])
        else:
            proba = forward(Z.T, Z.T).T  # the engine works on columns; in place
        clip_probabilities(proba, axis=1)
        return proba

    def _class_columns_xp(self, ops, Z):
        """:meth:`_class_columns` in another namespace: the same three steps."""
        xp, loss = ops.xp, self._model.network.loss
        if self._label_binarizer.y_type_ == "binary":
            proba = xp.concat([loss.xp_forward(xp, -Z), loss.xp_forward(xp, Z)], axis=1)
        else:
            proba = loss.xp_forward(xp, Z.T).T
        return clip_probabilities_xp(xp, proba, ops.to_host, ops.from_host)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class ScratchMLPRegressor(RegressorMixin, BaseScratchMLP):
    __doc__ = f"""Multilayer perceptron regressor, a drop-in for scikit-learn's MLPRegressor.

    Trains an L-layer perceptron written from scratch in numpy, in the column
    notation ``A[0] = X.T`` of shape ``(n[0], m)``, with an identity output and
    half the squared error, or an exponential output and the Poisson deviance.

    Parameters
    ----------
    loss : {{'squared_error', 'poisson'}}, default='squared_error'
        The loss. With several outputs, 'squared_error' is averaged over
        them, and so is its gradient (scikit-learn's gradient is n_outputs
        times too large, scikit-learn issue #8349).

{_SHARED_PARAMETERS}
{_BEYOND_PARAMETERS}
    Attributes
    ----------
{_SHARED_ATTRIBUTES}
    out_activation_ : str
        'identity' (squared error) or 'exp' (Poisson).

    See Also
    --------
    ScratchMLPClassifier : The classifier.
    sklearn.neural_network.MLPRegressor : The estimator this one replaces.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from scratchmlp import ScratchMLPRegressor
    >>> X, y = make_regression(n_samples=200, n_features=5, noise=1, random_state=0)
    >>> y = (y - y.mean()) / y.std()  # unit scale, like X: lbfgs converges quickly
    >>> reg = ScratchMLPRegressor(hidden_layer_sizes=(20,), solver="lbfgs", random_state=0)
    >>> reg.fit(X, y).predict(X[:3]).shape
    (3,)
    >>> reg.n_iter_ < reg.max_iter  # converged: no ConvergenceWarning
    True
    >>> round(reg.score(X, y), 2)
    1.0
    """

    _parameter_constraints: dict = {
        **BaseScratchMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    _y_numeric = True

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        init="auto",
        max_grad_norm=None,
        scoring=None,
        callbacks=None,
    ):
        _init_parameters(self, locals())

    def _target_encoding(self, y, labels, same_classes):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and (y < 0).any():
            raise ValueError(
                "loss='poisson' requires non-negative targets y (counts or rates); "
                f"got a minimum of {y.min()}."
            )
        return None, self.loss

    def _encode_targets(self, y, labels):
        return y.reshape(len(y), -1)

    def _score_output(self, y_true, output, sample_weight, labels) -> float:
        return r2_score(y_true, self._values(output), sample_weight=sample_weight)

    @staticmethod
    def _values(output):
        return output[:, 0] if output.shape[1] == 1 else output

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with one epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._train(X, y, sample_weight, Mode.PARTIAL)

    def predict(self, X):
        """Predict using the multilayer perceptron.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values.
        """
        return self._values(self._output(X, "predict"))
