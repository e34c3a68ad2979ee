"""The fitted model an estimator holds, and the fitted attributes read from it.

An estimator holds one :class:`FittedModel` in ``_model`` and replaces it in
one assignment at the end of ``fit`` or ``partial_fit``; every fitted
attribute (``coefs_``, ``loss_curve_``, ``classes_``, ``n_features_in_``,
...) is read from it. A fit that raises assigns nothing, so the previous
model stays as it was.

The weights are views of the network's flat parameter vector, and writing to
them takes effect, as with scikit-learn's lists of arrays:
``est.coefs_[0] = W``, ``est.coefs_[0][...] = W``, ``est.coefs_[0] *= 2``
and ``est.coefs_ = [...]`` all change the network (the shape must match: a
new shape raises ``ValueError``).
"""

from __future__ import annotations

import copy
import operator
from dataclasses import dataclass

import numpy as np

from ._arrays import NUMPY
from ._network import Network
from ._training import TrainingState

__all__ = ["FittedModel", "FittedAttributes"]


@dataclass
class FittedModel:
    """Everything a fit leaves: the trained model and how the user's data map onto it.

    Attributes
    ----------
    network : Network
    state : TrainingState
        The curves and counters (``loss_curve_``, ``n_iter_``, ...).
    optimizer : Optimizer or None
        The stochastic solvers' state, for ``partial_fit`` to continue; None for lbfgs.
    n_features_in : int
    feature_names_in : ndarray of str or None
    labels : LabelBinarizer or None
        The classifier's label encoding (its ``classes_``); None for the regressor.
    """

    network: Network
    state: TrainingState
    optimizer: object | None
    n_features_in: int
    feature_names_in: np.ndarray | None = None
    labels: object | None = None

    @classmethod
    def from_pickled(cls, state: dict) -> FittedModel | None:
        """The model of an estimator pickled by 0.1.0, from (and out of) its ``__dict__``.

        Those pickles kept the parts as separate attributes: ``_net``,
        ``_state``, ``_optimizer``, ``n_features_in_``, ``feature_names_in_``,
        ``_label_binarizer`` and ``classes_``. None if it was not fitted.
        """
        if "_net" not in state:
            return None
        state.pop("classes_", None)
        return cls(
            network=state.pop("_net"),
            state=state.pop("_state"),
            optimizer=state.pop("_optimizer", None),
            n_features_in=state.pop("n_features_in_"),
            feature_names_in=state.pop("feature_names_in_", None),
            labels=state.pop("_label_binarizer", None),
        )


class LayerList(list):
    """A list of views into the parameters: ``layers[i] = value`` copies ``value`` in.

    ``ops``: the parameters' namespace (a value of another one, e.g. numpy for
    a model on torch, is moved to it).
    """

    def __init__(self, views, ops=NUMPY) -> None:
        super().__init__(views)
        self.ops = ops

    def __setitem__(self, index, value) -> None:
        try:
            index = operator.index(index)
        except TypeError:
            raise TypeError("Set one layer at a time: layers[i] = array.") from None
        target = list.__getitem__(self, index)
        value = self.ops.asarray(value)
        if target is None or value.shape != target.shape:
            raise ValueError(
                f"Layer {index} has shape {None if target is None else target.shape}; "
                f"got an array of shape {value.shape}. The architecture of a fitted "
                "model cannot be changed by assignment: refit with new parameters."
            )
        target[...] = value


def _assign(values, targets: LayerList, name: str) -> None:
    values = [None if v is None else targets.ops.asarray(v) for v in values]
    shapes = [None if t is None else t.shape for t in targets]
    if [None if v is None else v.shape for v in values] != shapes:
        raise ValueError(
            f"{name} must have the shapes {shapes}, "
            f"got {[None if v is None else v.shape for v in values]}."
        )
    for i, value in enumerate(values):
        if value is not None:
            targets[i] = value


def _layers(name: str, doc: str, views) -> property:
    def getter(self):
        network = self._fitted().network
        return LayerList(views(network), network.ops)

    def setter(self, values):
        _assign(values, getter(self), name)

    return property(getter, setter, doc=doc)


def _from_state(name: str, doc: str) -> property:
    return property(lambda self: getattr(self._fitted().state, name), doc=doc)


class FittedAttributes:
    """The fitted attributes of an estimator, read from its :class:`FittedModel` ``_model``."""

    def _fitted(self) -> FittedModel:
        if "_model" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__!r} object is not fitted yet.")
        return self._model

    @property
    def _parameters(self):
        """The flat parameter vector ``theta``: its namespace and device are the model's."""
        return self._fitted().network.theta

    def __sklearn_array_api_convert__(self, converter):
        """A copy whose fitted arrays are ``converter(array)``: for ``move_estimator_to``.

        The parameters, the optimizer's moments and the best parameters of
        early stopping move; labels and curves stay on the host.
        """
        from ._namespace import convert_model  # the estimator layer's; imports this module

        new = copy.copy(self)
        new.__dict__ = dict(self.__dict__)
        if "_model" in self.__dict__:
            new._model = convert_model(self._model, converter)
        return new

    def __sklearn_is_fitted__(self) -> bool:
        return "_model" in self.__dict__

    @property
    def _net(self) -> Network:
        """The fitted network (read-only)."""
        return self._fitted().network

    @property
    def _state(self) -> TrainingState:
        """The fitted curves and counters (read-only)."""
        return self._fitted().state

    weights_ = _layers(
        "weights_",
        "``W[l]`` of shape (n[l], n[l-1]), indexed by layer: ``weights_[0]`` is None.",
        lambda net: net.W,
    )
    biases_ = _layers(
        "biases_",
        "``b[l]`` of shape (n[l], 1), indexed by layer: ``biases_[0]`` is None.",
        lambda net: net.b,
    )
    coefs_ = _layers(
        "coefs_",
        "scikit-learn's layout: ``coefs_[i]`` of shape (n[i], n[i+1]), a view of ``W[i+1].T``.",
        lambda net: [net.W[l].T for l in range(1, net.L + 1)],
    )
    intercepts_ = _layers(
        "intercepts_",
        "scikit-learn's layout: ``intercepts_[i]`` of shape (n[i+1],), a view of ``b[i+1]``.",
        lambda net: [net.b[l][:, 0] for l in range(1, net.L + 1)],
    )

    @property
    def n_layers_(self) -> int:
        """Number of layers, input and output included: ``L + 1``."""
        return self._fitted().network.L + 1

    @property
    def n_outputs_(self) -> int:
        """Number of output units ``n[L]``."""
        return self._fitted().network.layer_sizes[-1]

    @property
    def out_activation_(self) -> str:
        """Name of the output activation: 'softmax', 'logistic', 'identity' or 'exp'."""
        return self._fitted().network.loss.out_activation

    @property
    def n_features_in_(self) -> int:
        """Number of features seen during fit."""
        return self._fitted().n_features_in

    @property
    def feature_names_in_(self) -> np.ndarray:
        """Names of the features seen during fit (only when X had string column names)."""
        names = self._fitted().feature_names_in
        if names is None:
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute 'feature_names_in_': "
                "it was fitted on X without feature names."
            )
        return names

    loss_ = _from_state("loss", "The cost after the last epoch or iteration.")
    loss_curve_ = _from_state("loss_curve", "The cost after each epoch (or L-BFGS iteration).")
    best_loss_ = _from_state("best_loss", "The lowest training cost (None with early stopping).")
    validation_scores_ = _from_state(
        "validation_scores", "The validation score after each epoch (None without validation)."
    )
    best_validation_score_ = _from_state(
        "best_validation_score", "The best validation score (None without early stopping)."
    )
    n_iter_ = _from_state("n_iter", "Epochs (or L-BFGS iterations) run by the last call.")
    history_ = _from_state(
        "history", "One dict per epoch: epoch, loss, val_loss, val_score, learning_rate, seconds."
    )
    validation_loss_curve_ = _from_state(
        "validation_loss_curve",
        "The validation loss after each epoch (None without validation data).",
    )
    t_ = _from_state("t", "Training samples seen, over all epochs.")
