"""The scikit-learn side: validation, the transpose, fitting, chunked prediction.

This is the only place (with :mod:`scratchmlp._mlp`) that imports
scikit-learn, and the only module that imports its private helpers, so that a
change there breaks one file.
"""

from __future__ import annotations

import copy
import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state, gen_batches

# scikit-learn's private helpers, imported here and nowhere else.
from sklearn.base import _fit_context  # noqa: F401  (re-exported to _mlp)
from sklearn.utils._chunking import get_chunk_n_rows
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._activations import ACTIVATIONS
from ._initializers import initialize
from ._lbfgs import fit_lbfgs
from ._network import Network, forward
from ._optimizers import OPTIMIZERS, make_optimizer
from ._training import (
    DIVERGED,
    MAX_ITER,
    NON_FINITE_INPUT,
    StochasticConfig,
    TrainingData,
    TrainingState,
    train_stochastic,
)

__all__ = ["BaseScratchMLP", "DivergenceWarning"]


class DivergenceWarning(ConvergenceWarning):
    """Training diverged: the cost became non-finite and was stopped.

    A subclass of :class:`~sklearn.exceptions.ConvergenceWarning`, so that a
    grid search records it and moves on to the next candidate. The estimator
    keeps the last finite parameters.
    """


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
        "activation": [StrOptions(set(ACTIVATIONS))],
        "solver": [StrOptions({"lbfgs", *OPTIMIZERS})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
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
    loss_curve_ = _history_attribute("loss_curve", "The cost after each epoch (or L-BFGS iteration).")
    best_loss_ = _history_attribute("best_loss", "The lowest training cost (None with early stopping).")
    validation_scores_ = _history_attribute(
        "validation_scores", "The validation score after each epoch (None without early stopping)."
    )
    best_validation_score_ = _history_attribute(
        "best_validation_score", "The best validation score (None without early stopping)."
    )
    n_iter_ = _history_attribute("n_iter", "Epochs (or L-BFGS iterations) run by the last call.")
    t_ = _history_attribute("t", "Training samples seen, over all epochs.")

    # ------------------------------------------------------------------
    # Hooks for the subclasses.
    # ------------------------------------------------------------------
    @abstractmethod
    def _validate_targets(self, y, incremental: bool, reset: bool):
        """Return ``(Y, loss)``: engine targets ``(m, n_outputs)`` and a loss key."""

    @abstractmethod
    def _score_output(self, y_true, output, sample_weight) -> float:
        """The validation score from the network's output ``(m, n_outputs)``."""

    # ------------------------------------------------------------------
    # Fitting.
    # ------------------------------------------------------------------
    def _hidden_layer_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if np.iterable(sizes) else [sizes]
        if any(not isinstance(k, Integral) or k <= 0 for k in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {sizes}.")
        return [int(k) for k in sizes]

    def _fit(self, X, y, sample_weight=None, incremental=False):
        with _Transaction(self) as transaction:
            hidden = self._hidden_layer_sizes()
            first_pass = "_net" not in self.__dict__ or not (self.warm_start or incremental)
            X, y = validate_data(
                self,
                X,
                y,
                accept_sparse=["csr", "csc"],
                multi_output=True,
                dtype=(np.float64, np.float32),
                reset=first_pass,
                y_numeric=self._y_numeric,
            )
            Y, loss = self._validate_targets(y, incremental, reset=first_pass)
            if sample_weight is not None:
                sample_weight = _check_sample_weight(
                    sample_weight, X, dtype=X.dtype, ensure_non_negative=True
                )
                if not sample_weight.any():
                    raise ValueError("sample_weight sums to zero: there is nothing to fit.")
            layer_sizes = [X.shape[1], *hidden, Y.shape[1]]
            rng = check_random_state(self.random_state)
            if first_pass:
                net = Network(layer_sizes, self.activation, loss, dtype=X.dtype)
                initialize(net, rng)
            else:
                net = self._checked_previous_net(layer_sizes, loss)
                X = X.astype(net.dtype, copy=False)
            if sample_weight is not None:
                sample_weight = sample_weight.astype(net.dtype, copy=False)
            # The one transpose: from here on samples are columns.
            A0, Y = X.T, Y.T.astype(Y.dtype if Y.dtype == bool else net.dtype, copy=False)
            if self.solver == "lbfgs":
                self._fit_lbfgs(net, A0, Y, sample_weight, first_pass, transaction)
            else:
                self._fit_stochastic(
                    net, A0, Y, y, sample_weight, rng, first_pass, incremental, transaction
                )
        return self

    def _checked_previous_net(self, layer_sizes, loss) -> Network:
        net = self._net
        activations = net.activation_names[1 : net.L]
        if net.layer_sizes != layer_sizes or net.loss.name != loss:
            raise ValueError(
                "warm_start and partial_fit need the network of the previous fit: it "
                f"had layer sizes {net.layer_sizes} and output {net.loss.out_activation!r}, "
                f"the new call has {layer_sizes} and {loss!r}. Set warm_start=False "
                "(or call fit) to start a new network."
            )
        if activations != [self.activation] * (net.L - 1):
            raise ValueError(
                f"warm_start and partial_fit need the activation of the previous fit "
                f"({activations[0]!r}), got activation={self.activation!r}."
            )
        return net.copy()

    def _commit(self, net, state, transaction, optimizer=None) -> None:
        self._net = net
        self._state = state
        if optimizer is not None:
            self._optimizer = optimizer
        transaction.committed = True

    def _fit_lbfgs(self, net, A0, Y, sample_weight, first_pass, transaction) -> None:
        result = fit_lbfgs(
            net,
            A0,
            Y,
            sample_weight,
            self.alpha,
            self.max_iter,
            self.max_fun,
            self.tol,
            bool(self.verbose),
        )
        if not np.isfinite(result.loss) or not np.isfinite(net.theta).all():
            self._raise_non_finite()
        state = TrainingState() if first_pass else copy.deepcopy(self._state)
        state.loss = result.loss
        state.loss_curve = result.loss_curve
        state.best_loss = min(result.loss_curve, default=result.loss)
        state.n_iter = result.n_iter
        self._commit(net, state, transaction)
        if not result.converged:
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

    def _batch_size(self, m: int) -> int:
        if self.batch_size == "auto":
            return min(200, m)
        if self.batch_size > m:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. "
                "It is going to be clipped"
            )
        return int(np.clip(self.batch_size, 1, m))

    def _fit_stochastic(
        self, net, A0, Y, y, sample_weight, rng, first_pass, incremental, transaction
    ) -> None:
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        if incremental and "_optimizer" in self.__dict__ and not first_pass:
            optimizer = copy.deepcopy(self._optimizer)
        else:
            optimizer = make_optimizer(self.solver, net.theta.size, net.dtype, self.get_params())
        state = (
            TrainingState(early_stopping=self.early_stopping)
            if first_pass
            else copy.deepcopy(self._state)
        )
        state.n_iter = 0
        data = TrainingData(A0, Y, sample_weight)
        score_validation = None
        if self.early_stopping:
            data, score_validation = self._split_validation(data, y, rng)
        config = StochasticConfig(
            batch_size=self._batch_size(data.m),
            max_iter=self.max_iter,
            shuffle=self.shuffle,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            alpha=self.alpha,
            early_stopping=self.early_stopping,
            incremental=incremental,
            verbose=bool(self.verbose),
        )
        try:
            outcome = train_stochastic(net, optimizer, data, config, state, rng, score_validation)
        except KeyboardInterrupt:
            # Keep the last completed epoch (the loop restored it), then let
            # the interrupt stop whatever called fit.
            self._commit(net, state, transaction, optimizer)
            raise
        if outcome == NON_FINITE_INPUT:
            self._raise_non_finite()
        if self.early_stopping and state.best_theta is not None:
            net.set_theta(state.best_theta)
        self._commit(net, state, transaction, optimizer)
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
        X_val = data.A0[:, val_idx].T
        y_val = y[val_idx]
        sw_val = None if data.sample_weight is None else data.sample_weight[val_idx]

        def score_validation(net):
            output = self._network_output(net, X_val)
            if not np.isfinite(output).all():
                return np.nan
            return self._score_output(y_val, output, sw_val)

        return train, score_validation

    def _stratify_validation(self, y) -> bool:
        return False

    # ------------------------------------------------------------------
    # Prediction, in chunks of rows.
    # ------------------------------------------------------------------
    def _validated_input(self, X):
        check_is_fitted(self)
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
        m = X.shape[0]
        out = np.empty((m, net.layer_sizes[-1]), dtype=net.dtype)
        row_bytes = 2 * sum(net.layer_sizes) * net.dtype.itemsize
        chunk = get_chunk_n_rows(row_bytes, max_n_rows=m) if m else 1
        for rows in gen_batches(m, chunk):
            A0 = X[rows].T
            if A0.dtype != net.dtype:
                A0 = A0.astype(net.dtype)
            cache = forward(net, A0)
            out[rows] = (cache.Z if logits else cache.A)[net.L].T
        return out

    def _output(self, X, logits: bool = False):
        X = self._validated_input(X)
        return self._network_output(self._net, X, logits=logits)

    def _check_solver(self) -> bool:
        """``partial_fit`` exists only for the stochastic solvers."""
        if self.solver not in OPTIMIZERS:
            raise AttributeError(
                "partial_fit is only available for stochastic optimizers. "
                f"{self.solver} is not stochastic."
            )
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
