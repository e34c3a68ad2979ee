"""The scikit-learn side: validation, the fitted model, warnings, chunked prediction.

This is the only place (with :mod:`scratchmlp._mlp` and
:mod:`scratchmlp._prepare`) that imports scikit-learn. A fit goes:
:func:`~scratchmlp._prepare.prepare` (checks, labels, network, data: values,
nothing set on the estimator), :func:`~scratchmlp._training.train` (the
sklearn-free driver, for every solver), then one assignment of the
:class:`~scratchmlp._fitted.FittedModel` and the warnings its outcome calls
for.
"""

from __future__ import annotations

import warnings
from abc import ABCMeta, abstractmethod
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np

# scikit-learn's private helpers, imported here and in _prepare only.
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import check_scoring, get_scorer_names
from sklearn.utils._chunking import get_chunk_n_rows
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _inference as inference
from ._activations import ACTIVATIONS
from ._fitted import FittedAttributes, FittedModel
from ._initializers import INITIALIZERS
from ._namespace import check_input_namespace
from ._network import Network
from ._optimizers import OPTIMIZERS
from ._prepare import DataSet, Encoding, Mode, Prepared, prepare
from ._threads import BlasThreads, fit_probe, lbfgs_probe, prediction_probe
from ._training import (
    CONVERGED,
    DIVERGED,
    EXPLODED,
    INTERRUPTED,
    MAX_ITER,
    NON_FINITE_INPUT,
    NOT_CONVERGED,
    Lbfgs,
    Model,
    Outcome,
    Settings,
    Stochastic,
    train,
)
from ._version import __version__

__all__ = ["BaseScratchMLP", "DivergenceWarning", "InconsistentVersionWarning"]


class DivergenceWarning(ConvergenceWarning):
    """Training diverged and was stopped: the cost became non-finite, or rose far above its start.

    A subclass of :class:`~sklearn.exceptions.ConvergenceWarning`, so that a
    grid search records it and moves on to the next candidate. The stochastic
    solvers (L-BFGS's line search only accepts steps that lower the cost)
    warn in two cases:

    * the cost became non-finite: the estimator keeps the latest parameters
      finite on the training data (those of the last finite epoch);
    * the cost stayed finite but rose far above its start and did not come
      back: with :math:`R` the larger of the cost before the network's first
      step and the cost of all-zero logits (:math:`\\log K` for ``K``
      classes), 3 consecutive epochs above :math:`10 R`, one epoch above
      :math:`10^6 R`, or a fit that ends above :math:`10 R`. The estimator
      goes back to where that run of epochs began: the parameters, the
      optimizer's state, ``loss_curve_``, ``history_``, ``n_iter_`` and
      ``t_`` at the start of its first epoch (for ``partial_fit``, the
      epochs of earlier calls in the run are dropped too). When the
      parameters there are far above as well (with one step per epoch,
      an epoch's loss is their cost), ``fit`` goes back to the parameters
      it started from. The warning says which parameters the model keeps.

    Both usually mean that ``learning_rate_init`` is too large for the scale
    of the data. With ``early_stopping=True`` the estimator keeps the
    parameters of the best validation score, as always.
    """


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


class BaseScratchMLP(FittedAttributes, BaseEstimator, metaclass=ABCMeta):
    """Shared fitting and prediction of the classifier and the regressor.

    Not for direct use: see :class:`~scratchmlp.ScratchMLPClassifier` and
    :class:`~scratchmlp.ScratchMLPRegressor`. The fitted attributes come
    from :class:`~scratchmlp._fitted.FittedAttributes`, read from the one
    :class:`~scratchmlp._fitted.FittedModel` in ``_model``.
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
    # Hooks for the subclasses.
    # ------------------------------------------------------------------
    @abstractmethod
    def _target_encoding(self, y, labels, same_classes: bool):
        """Check ``y``; return ``(labels, loss key)``.

        ``labels`` is the label encoding to check ``y`` against (all classes
        of y known; with ``same_classes``, exactly those), or None to fit a
        new one on ``y``.
        """

    @abstractmethod
    def _encode_targets(self, y, labels):
        """Engine targets of shape (m, n_outputs) for a checked ``y``."""

    @abstractmethod
    def _score_output(self, y_true, output, sample_weight, labels) -> float:
        """The default validation score from the network's output ``(m, n_outputs)``."""

    def _sample_weight(self, y, sample_weight, partial: bool):
        """The weights the cost uses (the classifier folds in ``class_weight``)."""
        return sample_weight

    def _stratify_validation(self, y) -> bool:
        return False

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
        fitted = "_model" in self.__dict__
        mode = Mode.WARM_START if self.warm_start and fitted else Mode.NEW
        validation = None
        if X_val is not None or y_val is not None:
            validation = (X_val, y_val, sample_weight_val)
        return self._train(X, y, sample_weight, mode, validation)

    def _train(self, X, y, sample_weight, mode: Mode, validation=None, labels=None):
        """Prepare, train, keep the model: the one path of fit and partial_fit."""
        prepared = prepare(self, X, y, sample_weight, mode, validation, labels)
        settings, solver = self._solver(prepared)
        view = self._training_view(prepared)
        self._notify_callbacks("on_train_begin")
        try:
            # BLAS threads for this fit: see scratchmlp._threads.
            with BlasThreads() as threads:
                threads.start(self._thread_probe(prepared, settings, solver))
                outcome = train(
                    prepared.model,
                    prepared.data,
                    solver,
                    settings,
                    prepared.origin,
                    self._evaluator(prepared.validation, view, prepared.encoding.labels),
                    threads.each_epoch(self._epoch_callback(view)),
                )
            self._keep(outcome, prepared)
        finally:
            self._notify_callbacks("on_train_end")
        self._warn(outcome)
        return self

    def _solver(self, prepared: Prepared):
        """The driver's settings and solver, from the parameters."""
        stochastic = self.solver in OPTIMIZERS
        optimizer = prepared.model.optimizer
        settings = Settings(
            max_iter=self.max_iter,
            tol=self.tol,
            # AdamW decays the weights itself instead of an L2 term in the cost.
            alpha=0.0 if stochastic and optimizer.decoupled_weight_decay else self.alpha,
            n_iter_no_change=self.n_iter_no_change if stochastic else np.inf,
            early_stopping=stochastic and self.early_stopping,
            verbose=bool(self.verbose),
        )
        if not stochastic:
            return settings, Lbfgs(max_fun=self.max_fun)
        solver = Stochastic(
            batch_size=self._batch_size(prepared.data.m),
            rng=prepared.rng,
            shuffle=self.shuffle,
            dropout=prepared.dropout,
            one_epoch=prepared.mode is Mode.PARTIAL,
        )
        return settings, solver

    def _thread_probe(self, prepared: Prepared, settings: Settings, solver):
        """What the thread policy times and checks for this fit (see scratchmlp._threads)."""
        net, data = prepared.model.network, prepared.data
        if not net.ops.is_numpy:
            return None  # BLAS threads are numpy's; other namespaces schedule their own
        if not isinstance(solver, Stochastic):
            return lbfgs_probe(net, data.A0, self.max_iter)
        validation, evaluate = prepared.validation, None
        if validation is not None:

            def evaluate():
                return self._validation_loss(net, validation)

        epochs = 1 if solver.one_epoch else self.max_iter
        return fit_probe(
            net, data, solver.batch_size, solver.shuffle, settings.alpha, epochs, evaluate
        )

    def _batch_size(self, m: int) -> int:
        if self.batch_size == "auto":
            return min(200, m)
        if self.batch_size > m:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is going to be clipped"
            )
        return int(np.clip(self.batch_size, 1, m))

    @staticmethod
    def _fitted_model(model: Model, encoding: Encoding) -> FittedModel:
        return FittedModel(
            network=model.network,
            state=model.state,
            optimizer=model.optimizer,
            n_features_in=encoding.n_features_in,
            feature_names_in=encoding.feature_names_in,
            labels=encoding.labels,
        )

    def _keep(self, outcome: Outcome, prepared: Prepared) -> None:
        """Keep the outcome's model, in one assignment, or raise.

        An interrupted fit keeps the model of its last recorded epoch, then
        lets the interrupt stop whatever called fit.
        """
        if outcome.reason == NON_FINITE_INPUT:
            raise ValueError(
                "The cost is not finite at the start of training: the input data holds "
                "values so large that the weights and activations overflow (became "
                "non-finite). Scale the input, e.g. with sklearn.preprocessing.StandardScaler."
            )
        self._model = self._fitted_model(outcome.model, prepared.encoding)
        if outcome.reason == INTERRUPTED:
            raise outcome.interrupt

    def _warn(self, outcome: Outcome) -> None:
        """The warning the outcome calls for, if any."""
        state = outcome.model.state
        if outcome.reason == DIVERGED:
            warnings.warn(
                f"Training diverged in epoch {state.n_iter + 1}: the cost became "
                "non-finite. Training stopped and the model keeps the parameters of "
                "the last finite epoch. Lower learning_rate_init or scale the data.",
                DivergenceWarning,
            )
        elif outcome.reason == EXPLODED:
            warnings.warn(self._explosion_message(state), DivergenceWarning)
        elif outcome.reason == MAX_ITER:
            warnings.warn(
                "Stochastic Optimizer: Maximum iterations (%d) reached and the "
                "optimization hasn't converged yet." % self.max_iter,
                ConvergenceWarning,
            )
        elif outcome.reason == NOT_CONVERGED:
            warnings.warn(
                f"lbfgs failed to converge after {state.n_iter} iteration(s): "
                f"{outcome.message}. Increase the number of iterations (max_iter) or "
                "scale the data (e.g. with sklearn.preprocessing.StandardScaler).",
                ConvergenceWarning,
            )
        elif outcome.reason == CONVERGED and self._ended_far_above_best(state):
            warnings.warn(
                f"Training stopped with a loss of {state.loss:.6g}, far above the best "
                f"loss of this fit, {state.best_loss:.6g}: the optimization oscillates "
                "rather than converges. Lower learning_rate_init or scale the data.",
                ConvergenceWarning,
            )

    def _explosion_message(self, state) -> str:
        """The warning for a finite loss that rose far above its start (``state.divergence``)."""
        d = state.divergence
        start = d["reference"] if d["start_loss"] is None else d["start_loss"]
        kept = len(state.history)
        return (
            f"Training diverged in epoch {d['epoch']}: the training loss rose to "
            f"{d['peak']:.3g}, far above its value at the start of training "
            f"({start:.3g}), and did not come back. "
            f"learning_rate_init={self.learning_rate_init:g} is likely too large for the "
            "scale of the data: lower it, or scale the data (e.g. with "
            "sklearn.preprocessing.StandardScaler). Training stopped and the model keeps "
            + (f"the parameters after epoch {kept}." if kept else "its initial parameters.")
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
        if self.solver not in OPTIMIZERS or self.early_stopping:
            return False
        if best is None or not np.isfinite(best):
            return False
        return state.loss > self._FAR_ABOVE_BEST * best + self.tol

    # -- what scorers and callbacks see during training -------------------
    def _training_view(self, prepared: Prepared):
        """A stand-in of this estimator whose model is the one in training.

        Scorers and callbacks get it: its ``coefs_``, ``loss_curve_`` and
        ``history_`` follow training epoch by epoch (and writing ``coefs_``
        changes the network in training), while this estimator changes only
        when the fit ends.
        """
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        view._model = self._fitted_model(prepared.model, prepared.encoding)
        return view

    def _validation_loss(self, net: Network, validation: DataSet):
        """The mean data loss on the validation set and the output ``A[L].T`` (m_val, n[L])."""
        X = validation.X
        chunk = self._chunk(net, X.shape[0])
        return inference.mean_loss(net, X, validation.Y, validation.sample_weight, chunk)

    def _evaluator(self, validation: DataSet | None, view, labels):
        """A function ``net -> (val_loss, val_score)``, or None without validation data."""
        if validation is None:
            return None
        scorer = None
        if self.scoring not in (None, "loss"):
            scorer = check_scoring(self, scoring=self.scoring)
        X, y, s = validation.X, validation.y, validation.sample_weight

        def evaluate(net):
            val_loss, output = self._validation_loss(net, validation)
            output = net.ops.to_host(output)  # scored on the host, beside the labels
            if not np.isfinite(output).all():
                return val_loss, np.nan
            if self.scoring == "loss":
                return val_loss, -val_loss
            if scorer is not None:
                kwargs = {} if s is None else {"sample_weight": s}
                return val_loss, float(scorer(view, X, y, **kwargs))
            return val_loss, self._score_output(y, output, s, labels)

        return evaluate

    def _epoch_callback(self, view):
        """``record -> bool`` calling every callback (all of them, then any says stop)."""
        callbacks = list(self.callbacks or [])
        if not callbacks:
            return None

        def on_epoch_end(record) -> bool:
            stops = [bool(callback.on_epoch_end(view, record)) for callback in callbacks]
            return any(stops)

        return on_epoch_end

    def _notify_callbacks(self, event: str) -> None:
        """Call the optional ``on_train_begin`` / ``on_train_end`` hooks of the callbacks."""
        for callback in self.callbacks or []:
            hook = getattr(callback, event, None)
            if hook is not None:
                hook(self)

    # ------------------------------------------------------------------
    # Prediction, in chunks of rows (the engine's inference).
    # ------------------------------------------------------------------
    def _validated_input(self, X, method: str):
        check_is_fitted(self)
        ops = check_input_namespace(self, X, method)
        # scikit-learn's finiteness check sums X; huge values of both signs
        # make that sum inf - inf, a warning about nothing wrong in X.
        with np.errstate(over="ignore", invalid="ignore"):
            return validate_data(
                self,
                X,
                accept_sparse=["csr", "csc"],
                dtype=(ops.xp.float64, ops.xp.float32),
                reset=False,
            )

    @staticmethod
    def _chunk(net: Network, m: int) -> int:
        """Rows per inference chunk: within scikit-learn's ``working_memory``, at most 16384."""
        rows = get_chunk_n_rows(inference.row_bytes(net), max_n_rows=m)
        return max(min(rows, inference.MAX_CHUNK), 1)

    @staticmethod
    @contextmanager
    def _prediction_threads(net: Network, X, chunk: int):
        """BLAS threads for one prediction: see scratchmlp._threads."""
        with BlasThreads() as threads:
            threads.start(prediction_probe(net, X, chunk) if net.ops.is_numpy else None)
            yield

    def _output(self, X, method: str, logits: bool = False):
        X = self._validated_input(X, method)
        net = self._model.network
        chunk = self._chunk(net, X.shape[0])
        with self._prediction_threads(net, X, chunk):
            return inference.output(net, X, chunk, logits=logits)

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
        X = self._validated_input(X, "hidden_activations")
        net = self._model.network
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
        chunk = self._chunk(net, X.shape[0])
        with self._prediction_threads(net, X, chunk):
            out = inference.hidden(net, X, layers, chunk)
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
            warnings.warn(InconsistentVersionWarning(type(self).__name__, __version__, original))
        model = FittedModel.from_pickled(state)  # 0.1.0 kept the parts separately
        if model is not None:
            state["_model"] = model
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.array_api_support = True
        return tags
