"""The scikit-learn side: validation, the transpose, fitting, chunked prediction.

This is the only place (with :mod:`scratchmlp._mlp`) that imports
scikit-learn, and the only module that imports its private helpers, so that a
change there breaks one file.
"""

from __future__ import annotations

import copy
import time
import warnings
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

# scikit-learn's private helpers, imported here and nowhere else.
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import check_scoring, get_scorer_names
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state, gen_batches
from sklearn.utils._chunking import get_chunk_n_rows
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._activations import ACTIVATIONS
from ._initializers import INITIALIZERS, initialize
from ._lbfgs import fit_lbfgs
from ._network import Cache, Network, forward, forward_bounded
from ._optimizers import OPTIMIZERS, make_optimizer
from ._threads import BlasThreads, fit_probe, lbfgs_probe, prediction_probe
from ._training import (
    CONVERGED,
    DIVERGED,
    MAX_ITER,
    NON_FINITE_INPUT,
    StochasticConfig,
    TrainingData,
    TrainingState,
    epoch_record,
    record_epoch,
    train_stochastic,
)
from ._version import __version__

__all__ = ["BaseScratchMLP", "DivergenceWarning", "InconsistentVersionWarning"]


class DivergenceWarning(ConvergenceWarning):
    """Training diverged: the cost became non-finite and was stopped.

    A subclass of :class:`~sklearn.exceptions.ConvergenceWarning`, so that a
    grid search records it and moves on to the next candidate. The estimator
    keeps the last finite parameters.
    """


@dataclass
class _ValidationSet:
    """Validation data: ``X`` (m, n[0]) and ``y`` as the user gave them, ``Y`` (n[L], m)."""

    X: object
    y: np.ndarray
    Y: np.ndarray
    sample_weight: np.ndarray | None


class InconsistentVersionWarning(UserWarning):
    """A model pickled by another version of scratchmlp was loaded.

    It may predict differently or fail; refit it, or load it with the
    version that saved it (in ``original_version``).
    """

    def __init__(self, estimator_name, current_version, original_version):
        self.estimator_name = estimator_name
        self.current_version = current_version
        self.original_version = original_version
        super().__init__(
            f"Trying to unpickle {estimator_name} from scratchmlp {original_version} "
            f"with scratchmlp {current_version}. This might lead to breaking code or "
            "invalid results; refit the model with this version to be safe."
        )


class _Transaction:
    """Restore an estimator's ``__dict__`` if a fit raises before committing.

    Fitting never mutates an attribute's object in place (the network, the
    optimizer and the history are copied first), so a shallow copy of
    ``__dict__`` is enough to undo everything.
    """

    def __init__(self, estimator):
        self.estimator = estimator
        self.saved = dict(estimator.__dict__)
        self.committed = False

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and not self.committed:
            self.estimator.__dict__.clear()
            self.estimator.__dict__.update(self.saved)
        return False


def _history_attribute(name: str, doc: str) -> property:
    def getter(self):
        if "_state" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name + '_'!r}")
        return getattr(self._state, name)

    return property(getter, doc=doc)


class BaseScratchMLP(BaseEstimator, metaclass=ABCMeta):
    """Shared fitting and prediction of the classifier and the regressor.

    Not for direct use: see :class:`~scratchmlp.ScratchMLPClassifier` and
    :class:`~scratchmlp.ScratchMLPRegressor`.
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS)), list, tuple],
        "solver": [StrOptions({"lbfgs", *OPTIMIZERS})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive", "cosine"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        # Beyond scikit-learn; each default keeps its behaviour.
        "dropout": [Interval(Real, 0, 1, closed="left"), list, tuple],
        "init": [StrOptions(set(INITIALIZERS))],
        "max_grad_norm": [None, Interval(Real, 0, None, closed="neither")],
        "scoring": [None, StrOptions({"loss", *get_scorer_names()}), callable],
        "callbacks": [None, list, tuple],
    }

    #: Whether y must be numeric (the regressor) or holds labels (the classifier).
    _y_numeric = False

    @abstractmethod
    def __init__(self):
        """Store the parameters; see the subclasses."""

    # ------------------------------------------------------------------
    # Fitted parameters: views of the engine's flat parameter vector.
    # ------------------------------------------------------------------
    @property
    def weights_(self) -> list:
        """``W[l]`` of shape (n[l], n[l-1]), indexed by layer: ``weights_[0]`` is None."""
        return self._fitted_net().W

    @property
    def biases_(self) -> list:
        """``b[l]`` of shape (n[l], 1), indexed by layer: ``biases_[0]`` is None."""
        return self._fitted_net().b

    @property
    def coefs_(self) -> list:
        """scikit-learn's layout: ``coefs_[i]`` of shape (n[i], n[i+1]), a view of ``W[i+1].T``."""
        net = self._fitted_net()
        return [net.W[l].T for l in range(1, net.L + 1)]

    @coefs_.setter
    def coefs_(self, values) -> None:
        net = self._fitted_net()
        self._assign(values, [net.W[l].T for l in range(1, net.L + 1)], "coefs_")

    @property
    def intercepts_(self) -> list:
        """scikit-learn's layout: ``intercepts_[i]`` of shape (n[i+1],), a view of ``b[i+1]``."""
        net = self._fitted_net()
        return [net.b[l][:, 0] for l in range(1, net.L + 1)]

    @intercepts_.setter
    def intercepts_(self, values) -> None:
        net = self._fitted_net()
        self._assign(values, [net.b[l][:, 0] for l in range(1, net.L + 1)], "intercepts_")

    @staticmethod
    def _assign(values, targets, name) -> None:
        values = [np.asarray(v) for v in values]
        if len(values) != len(targets) or any(v.shape != t.shape for v, t in zip(values, targets)):
            raise ValueError(
                f"{name} must have the shapes {[t.shape for t in targets]}, "
                f"got {[v.shape for v in values]}."
            )
        for v, t in zip(values, targets):
            t[...] = v

    def _fitted_net(self) -> Network:
        if "_net" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__!r} object is not fitted yet.")
        return self._net

    @property
    def n_layers_(self) -> int:
        """Number of layers, input and output included: ``L + 1``."""
        return self._fitted_net().L + 1

    @property
    def n_outputs_(self) -> int:
        """Number of output units ``n[L]``."""
        return self._fitted_net().layer_sizes[-1]

    @property
    def out_activation_(self) -> str:
        """Name of the output activation: 'softmax', 'logistic', 'identity' or 'exp'."""
        return self._fitted_net().loss.out_activation

    loss_ = _history_attribute("loss", "The cost after the last epoch or iteration.")
    loss_curve_ = _history_attribute(
        "loss_curve", "The cost after each epoch (or L-BFGS iteration)."
    )
    best_loss_ = _history_attribute(
        "best_loss", "The lowest training cost (None with early stopping)."
    )
    validation_scores_ = _history_attribute(
        "validation_scores", "The validation score after each epoch (None without early stopping)."
    )
    best_validation_score_ = _history_attribute(
        "best_validation_score", "The best validation score (None without early stopping)."
    )
    n_iter_ = _history_attribute("n_iter", "Epochs (or L-BFGS iterations) run by the last call.")
    history_ = _history_attribute(
        "history",
        "One dict per epoch: epoch, loss, val_loss, val_score, learning_rate, seconds.",
    )
    validation_loss_curve_ = _history_attribute(
        "validation_loss_curve",
        "The validation loss after each epoch (None without validation data).",
    )
    t_ = _history_attribute("t", "Training samples seen, over all epochs.")

    # ------------------------------------------------------------------
    # Hooks for the subclasses.
    # ------------------------------------------------------------------
    @abstractmethod
    def _validate_targets(self, y, incremental: bool, reset: bool):
        """Check ``y`` (fitting the label encoding on ``reset``); return the loss key."""

    @abstractmethod
    def _encode_targets(self, y):
        """Engine targets of shape (m, n_outputs) for a checked ``y``."""

    @abstractmethod
    def _score_output(self, y_true, output, sample_weight) -> float:
        """The default validation score from the network's output ``(m, n_outputs)``."""

    def _sample_weight(self, y, sample_weight, incremental):
        """The weights the cost uses (the classifier folds in ``class_weight``)."""
        return sample_weight

    # ------------------------------------------------------------------
    # Checking the architecture parameters.
    # ------------------------------------------------------------------
    def _hidden_layer_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if np.iterable(sizes) else [sizes]
        if any(not isinstance(k, Integral) or k <= 0 for k in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {sizes}.")
        return [int(k) for k in sizes]

    def _per_layer(self, name: str, n_hidden: int) -> list:
        """A parameter given once or once per hidden layer, as a list per hidden layer."""
        value = getattr(self, name)
        if isinstance(value, (list, tuple)):
            if len(value) != n_hidden:
                raise ValueError(
                    f"{name} has {len(value)} entries but there are {n_hidden} hidden "
                    f"layers (hidden_layer_sizes={self.hidden_layer_sizes}); give one "
                    "value, or one per hidden layer."
                )
            return list(value)
        return [value] * n_hidden

    def _hidden_activations(self, n_hidden: int) -> list[str]:
        names = self._per_layer("activation", n_hidden)
        unknown = [a for a in names if a not in ACTIVATIONS]
        if unknown:
            raise ValueError(
                f"Unknown activation(s) {unknown}: expected names among {sorted(ACTIVATIONS)}."
            )
        return names

    def _dropout_rates(self, n_hidden: int) -> list | None:
        """Drop probabilities by layer number (``rates[l]``, input and output 0), or None."""
        rates = self._per_layer("dropout", n_hidden)
        if any(not isinstance(p, Real) or not 0 <= p < 1 for p in rates):
            raise ValueError(f"dropout rates must be in [0, 1), got {rates}.")
        return [0.0, *map(float, rates), 0.0] if any(rates) else None

    # ------------------------------------------------------------------
    # Fitting.
    # ------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None, sample_weight_val=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data; transposed once to ``A[0]`` of shape (n[0], m).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels, or a label-indicator matrix for multilabel targets
            (classifier); target values (regressor).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights (multiplied by ``class_weight`` in
            the classifier).
        X_val : {array-like, sparse matrix} of shape (n_val, n_features), default=None
            A validation set, scored after each epoch (``validation_scores_``,
            ``validation_loss_curve_``, ``history_``) and used for early
            stopping instead of the internal split.
        y_val : array-like of shape (n_val,) or (n_val, n_outputs), default=None
            Its targets; required with ``X_val``.
        sample_weight_val : array-like of shape (n_val,), default=None
            Its sample weights.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight, False, X_val, y_val, sample_weight_val)

    def _check_X_y(self, X, y, reset: bool):
        """scikit-learn's validation of ``X`` and ``y``, for training and validation data alike."""
        return validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            dtype=(np.float64, np.float32),
            reset=reset,
            y_numeric=self._y_numeric,
        )

    def _fit(
        self,
        X,
        y,
        sample_weight=None,
        incremental=False,
        X_val=None,
        y_val=None,
        sample_weight_val=None,
    ):
        with _Transaction(self) as transaction:
            hidden = self._hidden_layer_sizes()
            activations = self._hidden_activations(len(hidden))
            dropout = self._dropout_rates(len(hidden))
            first_pass = "_net" not in self.__dict__ or not (self.warm_start or incremental)
            X, y = self._check_X_y(X, y, reset=first_pass)
            loss = self._validate_targets(y, incremental, reset=first_pass)
            Y = self._encode_targets(y)
            sample_weight = self._checked_sample_weight(sample_weight, X)
            sample_weight = self._sample_weight(y, sample_weight, incremental)
            validation = None
            if X_val is not None or y_val is not None:
                validation = self._validation_set(X_val, y_val, sample_weight_val)
            layer_sizes = [X.shape[1], *hidden, Y.shape[1]]
            rng = check_random_state(self.random_state)
            if first_pass:
                net = Network(layer_sizes, activations, loss, dtype=X.dtype)
                start_theta = self._initial_parameters(net, rng.get_state())
                initialize(net, rng, self.init, output_like=str(self.activation))
            else:
                # The previous fit's network is not modified: training runs on a copy.
                start_theta = self._net.theta
                net = self._checked_previous_net(layer_sizes, activations, loss)
                X = X.astype(net.dtype, copy=False)
            if sample_weight is not None:
                sample_weight = sample_weight.astype(net.dtype, copy=False)
            # The one transpose: from here on samples are columns.
            A0, Y = X.T, Y.T.astype(Y.dtype if Y.dtype == bool else net.dtype, copy=False)
            data = TrainingData(A0, Y, sample_weight)
            self._notify_callbacks("on_train_begin")
            try:
                # BLAS threads for this fit: see scratchmlp._threads.
                with BlasThreads() as threads:
                    if self.solver == "lbfgs":
                        self._fit_lbfgs(net, data, validation, first_pass, transaction, threads)
                    else:
                        self._fit_stochastic(
                            net, data, y, validation, dropout, rng, first_pass, incremental,
                            transaction, start_theta, threads,
                        )
            finally:
                self._notify_callbacks("on_train_end")
        return self

    @staticmethod
    def _checked_sample_weight(sample_weight, X):
        if sample_weight is None:
            return None
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=X.dtype, ensure_non_negative=True
        )
        if not sample_weight.any():
            raise ValueError("sample_weight sums to zero: there is nothing to fit.")
        return sample_weight

    def _validation_set(self, X_val, y_val, sample_weight_val) -> _ValidationSet:
        """Check a user-given validation set against the fitted encoding."""
        if X_val is None or y_val is None:
            raise ValueError("X_val and y_val must be given together.")
        X_val, y_val = self._check_X_y(X_val, y_val, reset=False)
        self._validate_targets(y_val, incremental=True, reset=False)
        sample_weight_val = self._checked_sample_weight(sample_weight_val, X_val)
        return _ValidationSet(X_val, y_val, self._encode_targets(y_val).T, sample_weight_val)

    def _checked_previous_net(self, layer_sizes, activations, loss) -> Network:
        net = self._net
        if net.layer_sizes != layer_sizes or net.loss.name != loss:
            raise ValueError(
                "warm_start and partial_fit need the network of the previous fit: it "
                f"had layer sizes {net.layer_sizes} and output {net.loss.out_activation!r}, "
                f"the new call has {layer_sizes} and {loss!r}. Set warm_start=False "
                "(or call fit) to start a new network."
            )
        previous = net.activation_names[1 : net.L]
        if previous != activations:
            raise ValueError(
                "warm_start and partial_fit need the activations of the previous fit "
                f"({previous}), got activation={self.activation!r}."
            )
        return net.copy()

    def _begin(self, net, state) -> None:
        """Expose the network in training, so that scorers and callbacks see it."""
        self._net = net
        self._state = state

    def _commit(self, transaction, optimizer=None) -> None:
        if optimizer is not None:
            self._optimizer = optimizer
        transaction.committed = True

    # -- validation metrics and callbacks ---------------------------------
    def _evaluator(self, validation: _ValidationSet | None):
        """A function ``net -> (val_loss, val_score)``, or None without validation data."""
        if validation is None:
            return None
        scorer = None
        if self.scoring not in (None, "loss"):
            scorer = check_scoring(self, scoring=self.scoring)

        def evaluate(net):
            val_loss, output = self._network_loss(
                net, validation.X, validation.Y, validation.sample_weight
            )
            if not np.isfinite(output).all():
                return val_loss, np.nan
            if self.scoring == "loss":
                return val_loss, -val_loss
            if scorer is not None:
                kwargs = {}
                if validation.sample_weight is not None:
                    kwargs["sample_weight"] = validation.sample_weight
                return val_loss, float(scorer(self, validation.X, validation.y, **kwargs))
            return val_loss, self._score_output(validation.y, output, validation.sample_weight)

        return evaluate

    def _epoch_callback(self):
        """``record -> bool`` calling every callback (all of them, then any says stop)."""
        callbacks = list(self.callbacks or [])
        if not callbacks:
            return None

        def on_epoch_end(record) -> bool:
            stops = [bool(callback.on_epoch_end(self, record)) for callback in callbacks]
            return any(stops)

        return on_epoch_end

    def _notify_callbacks(self, event: str) -> None:
        """Call the optional ``on_train_begin`` / ``on_train_end`` hooks of the callbacks."""
        for callback in self.callbacks or []:
            hook = getattr(callback, event, None)
            if hook is not None:
                hook(self)

    # -- lbfgs --------------------------------------------------------------
    def _fit_lbfgs(self, net, data, validation, first_pass, transaction, threads) -> None:
        if first_pass:
            state = TrainingState(validation=validation is not None)
        else:
            state = self._state.copy()
        state.n_iter = 0
        self._begin(net, state)
        evaluate, on_epoch_end = self._evaluator(validation), self._epoch_callback()
        config = StochasticConfig(
            batch_size=data.m, max_iter=self.max_iter, shuffle=False, tol=self.tol,
            n_iter_no_change=np.inf, alpha=self.alpha, verbose=bool(self.verbose),
        )
        stopped = False
        last_time = time.perf_counter()
        recorded = net.theta.copy()  # the parameters of the last recorded iteration

        def on_iteration(loss: float) -> bool:
            nonlocal stopped, last_time
            val_loss, val_score = evaluate(net) if evaluate is not None else (None, None)
            now = time.perf_counter()
            record = epoch_record(state, loss, val_loss, val_score, None, now - last_time)
            last_time = now
            record_epoch(state, record, config, net)
            np.copyto(recorded, net.theta)
            stopped = on_epoch_end is not None and on_epoch_end(record)
            return stopped

        threads.start(lbfgs_probe(net, data.A0, self.max_iter))
        try:
            result = fit_lbfgs(
                net, data.A0, data.Y, data.sample_weight, self.alpha,
                self.max_iter, self.max_fun, self.tol, on_iteration,
            )
        except KeyboardInterrupt:
            # Keep the last recorded iteration, so that the weights, n_iter_
            # and loss_curve_ agree, then let the interrupt propagate.
            net.set_theta(recorded)
            self._commit(transaction)
            raise
        if not np.isfinite(result.loss) or not np.isfinite(net.theta).all():
            self._raise_non_finite()
        state.loss = result.loss
        state.n_iter = result.n_iter
        state.best_loss = min(state.loss_curve, default=result.loss)
        self._commit(transaction)
        if not result.converged and not stopped:
            warnings.warn(
                f"lbfgs failed to converge after {result.n_iter} iteration(s): "
                f"{result.message}. Increase the number of iterations (max_iter) or "
                "scale the data (e.g. with sklearn.preprocessing.StandardScaler).",
                ConvergenceWarning,
            )

    @staticmethod
    def _raise_non_finite():
        raise ValueError(
            "The cost is not finite at the start of training: the input data holds "
            "values so large that the weights and activations overflow (became "
            "non-finite). Scale the input, e.g. with sklearn.preprocessing.StandardScaler."
        )

    # -- sgd, adam, rmsprop, adamw -----------------------------------------
    def _batch_size(self, m: int) -> int:
        if self.batch_size == "auto":
            return min(200, m)
        if self.batch_size > m:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. "
                "It is going to be clipped"
            )
        return int(np.clip(self.batch_size, 1, m))

    def _initial_parameters(self, net, rng_state):
        """A function drawing ``net``'s initial parameters again, from the same RNG state.

        Training falls back to them only if it diverges from the start: a
        function instead of a copy saves one parameter vector of memory.
        """

        def draw():
            again, rng = net.copy(), np.random.RandomState()
            rng.set_state(rng_state)
            initialize(again, rng, self.init, output_like=str(self.activation))
            return again.theta

        return draw

    def _fit_stochastic(
        self, net, data, y, validation, dropout, rng, first_pass, incremental, transaction,
        start_theta, threads,
    ) -> None:
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        if incremental and "_optimizer" in self.__dict__ and not first_pass:
            optimizer = copy.deepcopy(self._optimizer)
        else:
            optimizer = make_optimizer(
                self.solver, net.theta, self.get_params(), net.weight_slices()
            )
        if self.early_stopping and validation is None:
            data, validation = self._split_validation(data, y, rng)
        if first_pass:
            state = TrainingState(
                early_stopping=self.early_stopping, validation=validation is not None
            )
        else:
            state = self._state.copy()
        state.n_iter = 0
        config = StochasticConfig(
            batch_size=self._batch_size(data.m),
            max_iter=self.max_iter,
            shuffle=self.shuffle,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            # AdamW decays the weights itself instead of an L2 term in the cost.
            alpha=0.0 if optimizer.decoupled_weight_decay else self.alpha,
            early_stopping=self.early_stopping,
            incremental=incremental,
            verbose=bool(self.verbose),
            dropout=dropout,
        )
        self._begin(net, state)
        threads.start(fit_probe(
            net, data, config.batch_size, self.shuffle, config.alpha,
            1 if incremental else config.max_iter,
            None if validation is None else lambda: self._network_loss(
                net, validation.X, validation.Y, validation.sample_weight),
        ))
        try:
            outcome = train_stochastic(
                net, optimizer, data, config, state, rng,
                self._evaluator(validation), threads.each_epoch(self._epoch_callback()),
                start_theta,
            )
        except KeyboardInterrupt:
            # Keep the last completed epoch (the loop restored it), then let
            # the interrupt stop whatever called fit.
            self._commit(transaction, optimizer)
            raise
        if outcome == NON_FINITE_INPUT:
            self._raise_non_finite()
        if self.early_stopping and state.best_theta is not None:
            net.set_theta(state.best_theta)
        self._commit(transaction, optimizer)
        if outcome == DIVERGED:
            warnings.warn(
                f"Training diverged in epoch {state.n_iter + 1}: the cost became "
                "non-finite. Training stopped and the model keeps the parameters of "
                "the last finite epoch. Lower learning_rate_init or scale the data.",
                DivergenceWarning,
            )
        elif outcome == MAX_ITER:
            warnings.warn(
                "Stochastic Optimizer: Maximum iterations (%d) reached and the "
                "optimization hasn't converged yet." % self.max_iter,
                ConvergenceWarning,
            )
        elif outcome == CONVERGED and self._ended_far_above_best(state):
            warnings.warn(
                f"Training stopped with a loss of {state.loss:.6g}, far above the best "
                f"loss of this fit, {state.best_loss:.6g}: the optimization oscillates "
                "rather than converges. Lower learning_rate_init or scale the data.",
                ConvergenceWarning,
            )

    #: The final loss counts as "far above" the best one beyond this factor.
    _FAR_ABOVE_BEST = 2.0

    def _ended_far_above_best(self, state) -> bool:
        """Whether the stopping rule fired on a loss much worse than the best one.

        Without early stopping, the rule stops after ``n_iter_no_change``
        epochs without improvement, which a loss that jumped far above its
        best also satisfies: that is not convergence.
        """
        best = state.best_loss
        if self.early_stopping or best is None or not np.isfinite(best):
            return False
        return state.loss > self._FAR_ABOVE_BEST * best + self.tol

    def _split_validation(self, data: TrainingData, y, rng):
        """Hold out ``validation_fraction`` of the samples, by index (X is not copied)."""
        stratify = y if self._stratify_validation(y) else None
        train_idx, val_idx = train_test_split(
            np.arange(data.m),
            random_state=rng,
            test_size=self.validation_fraction,
            stratify=stratify,
        )
        if len(val_idx) < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' "
                "or the size of your dataset."
            )
        train = TrainingData(data.A0, data.Y, data.sample_weight, index=train_idx)
        sw = data.sample_weight
        validation = _ValidationSet(
            data.A0[:, val_idx].T,
            y[val_idx],
            data.Y[:, val_idx],
            None if sw is None else sw[val_idx],
        )
        return train, validation

    def _stratify_validation(self, y) -> bool:
        return False

    # ------------------------------------------------------------------
    # Prediction, in chunks of rows.
    # ------------------------------------------------------------------
    def _validated_input(self, X):
        check_is_fitted(self)
        # scikit-learn's finiteness check sums X; huge values of both signs
        # make that sum inf - inf, a warning about nothing wrong in X.
        with np.errstate(over="ignore", invalid="ignore"):
            return validate_data(
                self,
                X,
                accept_sparse=["csr", "csc"],
                dtype=(np.float64, np.float32),
                reset=False,
            )

    @staticmethod
    def _network_output(net: Network, X, logits: bool = False):
        """``A[L]`` (or the logits ``Z[L]``) for the rows of ``X``, chunk by chunk.

        Parameters
        ----------
        net : Network
        X : ndarray or sparse matrix of shape (m, n[0])
        logits : bool, default=False

        Returns
        -------
        output : ndarray of shape (m, n[L])
            In the network's dtype.
        """
        out = np.empty((X.shape[0], net.layer_sizes[-1]), dtype=net.dtype)
        for rows, cache in BaseScratchMLP._forward_chunks(net, X):
            out[rows] = (cache.Z if logits else cache.A)[net.L].T
        return out

    #: Rows per prediction chunk, at most: large enough for full-speed
    #: matrix products, small enough that the activations stay in cache-sized
    #: buffers reused from chunk to chunk.
    _PREDICT_CHUNK = 16384

    @staticmethod
    def _forward_chunks(net: Network, X):
        """Yield ``(rows, cache)``: the forward pass over chunks of rows of ``X``.

        The chunk size also stays within scikit-learn's ``working_memory``
        (``sklearn.set_config``), so memory is bounded for any number of rows.
        The cache's buffers are reused: consume each chunk before the next.
        """
        m = X.shape[0]
        row_bytes = sum(net.layer_sizes) * net.dtype.itemsize
        chunk = min(get_chunk_n_rows(row_bytes, max_n_rows=m), BaseScratchMLP._PREDICT_CHUNK)
        chunk = max(chunk, 1)
        full = Cache.for_inference(net.layer_sizes, chunk, net.dtype)
        # BLAS threads for this prediction: see scratchmlp._threads.
        with BlasThreads() as threads:
            threads.start(prediction_probe(net, X, chunk))
            for rows in gen_batches(m, chunk):
                A0 = X[rows].T
                if A0.dtype != net.dtype:
                    with np.errstate(over="ignore"):  # beyond float32: inf, bounded below
                        A0 = A0.astype(net.dtype)
                size = A0.shape[1]
                cache = (
                    full if size == chunk
                    else Cache.for_inference(net.layer_sizes, size, net.dtype)
                )
                with np.errstate(over="ignore", invalid="ignore"):
                    forward(net, A0, cache)
                    if not np.isfinite(cache.Z[net.L]).all():
                        # Finite but huge input (or a float64 input beyond
                        # float32's range) overflowed: redo the chunk with each
                        # layer's input bounded, which saturates the outputs.
                        forward_bounded(net, A0, cache)
                yield rows, cache

    @staticmethod
    def _network_loss(net: Network, X, Y, sample_weight):
        """The mean data loss on ``(X, Y)`` and the output ``A[L].T``, chunk by chunk.

        Parameters
        ----------
        net : Network
        X : ndarray or sparse matrix of shape (m, n[0])
        Y : ndarray of shape (n[L], m)
        sample_weight : ndarray of shape (m,) or None

        Returns
        -------
        loss : float
            :math:`\\sum_i s_i \\ell_i / \\sum_i s_i`, without the L2 term.
        output : ndarray of shape (m, n[L])
        """
        m = X.shape[0]
        out = np.empty((m, net.layer_sizes[-1]), dtype=net.dtype)
        total = 0.0
        for rows, cache in BaseScratchMLP._forward_chunks(net, X):
            out[rows] = cache.A[net.L].T
            losses = net.loss.sample_losses(Y[:, rows], cache.Z[net.L], cache.A[net.L])
            total += losses.sum() if sample_weight is None else losses @ sample_weight[rows]
        S = m if sample_weight is None else sample_weight.sum()
        return float(total / S), out

    def _output(self, X, logits: bool = False):
        X = self._validated_input(X)
        return self._network_output(self._net, X, logits=logits)

    def hidden_activations(self, X, layer=-1):
        """The hidden activations ``A[l]`` for the samples of ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        layer : int or None, default=-1
            The hidden layer's number ``l`` in ``1..L-1``, or a negative
            number counting back from the last hidden layer (-1 is
            ``L - 1``); None for every hidden layer.

        Returns
        -------
        A : ndarray of shape (n_samples, n[l]), or list
            With ``layer=None``, a list indexed by the layer number: entry 0
            (the input layer) is None, entry ``l`` has shape (n_samples, n[l]).
        """
        X = self._validated_input(X)
        net = self._net
        hidden = list(range(1, net.L))
        if layer is None:
            layers = hidden
        elif isinstance(layer, Integral) and (layer in hidden or -len(hidden) <= layer < 0):
            layers = [hidden[layer] if layer < 0 else int(layer)]
        else:
            raise ValueError(
                f"layer must be a hidden layer number in 1..{net.L - 1}, a negative "
                f"index counting back from the last hidden layer, or None; got {layer!r}."
            )
        out = {l: np.empty((X.shape[0], net.layer_sizes[l]), dtype=net.dtype) for l in layers}
        for rows, cache in self._forward_chunks(net, X):
            for l in layers:
                out[l][rows] = cache.A[l].T
        if layer is None:
            return [None, *(out[l] for l in hidden)]
        return out[layers[0]]

    def _check_solver(self) -> bool:
        """``partial_fit`` exists only for the stochastic solvers."""
        if self.solver not in OPTIMIZERS:
            raise AttributeError(
                "partial_fit is only available for stochastic optimizers. "
                f"{self.solver} is not stochastic."
            )
        return True

    # ------------------------------------------------------------------
    # Pickling: record our own version beside scikit-learn's.
    # ------------------------------------------------------------------
    def __getstate__(self):
        # A copy: scikit-learn may hand back the live __dict__ itself.
        state = dict(super().__getstate__())
        state["_scratchmlp_version"] = __version__
        return state

    def __setstate__(self, state):
        original = state.pop("_scratchmlp_version", "pre-0.1")
        if original != __version__:
            warnings.warn(
                InconsistentVersionWarning(type(self).__name__, __version__, original)
            )
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
