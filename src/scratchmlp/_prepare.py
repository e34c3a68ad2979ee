"""One preparation step for every way of training: from the user's data to the driver's inputs.

:func:`prepare` turns ``fit`` and ``partial_fit`` calls into values for
:func:`scratchmlp._training.train`: the checked data in the engine's layout,
the label encoding, the network (new, or a copy of the fitted one), its
curves, the optimizer and the validation set. It reads the estimator's
parameters and its fitted model and sets nothing on the estimator: a call
that fails here leaves the estimator as it was. :func:`prepare_set` checks a
data set against a fit's encoding, for the validation set and for
:func:`~scratchmlp.check_gradients`.

One mode says how a call relates to the fitted model:

* ``Mode.NEW``: ``fit`` without ``warm_start`` (or on an unfitted
  estimator): a new network, a new label encoding;
* ``Mode.WARM_START``: ``fit`` with ``warm_start`` on a fitted estimator:
  a copy of the network, the same classes, a new optimizer;
* ``Mode.PARTIAL``: ``partial_fit``: one epoch, continuing the fitted model
  (network, optimizer, curves) when there is one.
"""

from __future__ import annotations

import copy
import enum
import functools
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, validate_data

from ._activations import ACTIVATIONS
from ._arrays import NUMPY, ArrayOps
from ._namespace import float_dtype_for, namespace_of, to_host
from ._network import Network
from ._optimizers import OPTIMIZERS, make_optimizer
from ._training import Model, Origin, TrainingData, TrainingState

__all__ = ["Mode", "Encoding", "DataSet", "Prepared", "prepare", "prepare_set", "encoding_of"]


class Mode(enum.Enum):
    """How a training call relates to the fitted model (see the module docstring)."""

    NEW = "new"
    WARM_START = "warm_start"
    PARTIAL = "partial"


@dataclass
class Encoding:
    """How the user's X and y map onto the network: the features and the label encoding."""

    n_features_in: int
    feature_names_in: np.ndarray | None
    labels: object | None  # the classifier's LabelBinarizer


@dataclass
class DataSet:
    """A checked data set: ``X`` (m, n[0]) and ``y`` as the user gave them, ``Y`` (n[L], m)."""

    X: object
    y: np.ndarray
    Y: np.ndarray
    sample_weight: np.ndarray | None


@dataclass
class Prepared:
    """The inputs of a training call (the outputs of :func:`prepare`)."""

    mode: Mode
    encoding: Encoding
    model: Model
    origin: Origin | None
    data: TrainingData
    validation: DataSet | None
    rng: np.random.RandomState
    dropout: list | None


# --------------------------------------------------------------------------
# The architecture parameters.
# --------------------------------------------------------------------------
def hidden_layer_sizes(est) -> list[int]:
    sizes = est.hidden_layer_sizes
    sizes = list(sizes) if np.iterable(sizes) else [sizes]
    if any(not isinstance(k, Integral) or k <= 0 for k in sizes):
        raise ValueError(f"hidden_layer_sizes must be positive integers, got {sizes}.")
    return [int(k) for k in sizes]


def _per_layer(est, name: str, n_hidden: int) -> list:
    """A parameter given once or once per hidden layer, as a list per hidden layer."""
    value = getattr(est, name)
    if isinstance(value, (list, tuple)):
        if len(value) != n_hidden:
            raise ValueError(
                f"{name} has {len(value)} entries but there are {n_hidden} hidden "
                f"layers (hidden_layer_sizes={est.hidden_layer_sizes}); give one "
                "value, or one per hidden layer."
            )
        return list(value)
    return [value] * n_hidden


def hidden_activations(est, n_hidden: int) -> list[str]:
    names = _per_layer(est, "activation", n_hidden)
    unknown = [a for a in names if a not in ACTIVATIONS]
    if unknown:
        raise ValueError(
            f"Unknown activation(s) {unknown}: expected names among {sorted(ACTIVATIONS)}."
        )
    return names


def dropout_rates(est, n_hidden: int) -> list | None:
    """Drop probabilities by layer number (``rates[l]``, input and output 0), or None."""
    rates = _per_layer(est, "dropout", n_hidden)
    if any(not isinstance(p, Real) or not 0 <= p < 1 for p in rates):
        raise ValueError(f"dropout rates must be in [0, 1), got {rates}.")
    return [0.0, *map(float, rates), 0.0] if any(rates) else None


# --------------------------------------------------------------------------
# Checking data against an encoding, without setting attributes.
# --------------------------------------------------------------------------
@functools.cache
def _stand_in_class(cls: type) -> type:
    # Named like the estimator, for scikit-learn's messages ("... required by
    # ScratchMLPClassifier").
    return type(cls.__name__, (), {"__module__": cls.__module__})


def validated(est, X, y, encoding: Encoding | None, ops: ArrayOps = NUMPY):
    """scikit-learn's checks of ``X`` and ``y``; returns ``(X, y, n_features_in, names)``.

    ``validate_data`` records the features it sees on the estimator it is
    given: it is given a stand-in, so that the estimator changes only when
    a fit succeeds. With an ``encoding``, X must match its features; without
    one, they are read from X.
    """
    stand_in = _stand_in_class(type(est))()
    stand_in.__sklearn_tags__ = est.__sklearn_tags__
    if encoding is not None:
        stand_in.n_features_in_ = encoding.n_features_in
        if encoding.feature_names_in is not None:
            stand_in.feature_names_in_ = encoding.feature_names_in
    X, y = validate_data(
        stand_in,
        X,
        y,
        accept_sparse=["csr", "csc"],
        multi_output=True,
        dtype=(ops.xp.float64, ops.xp.float32),
        reset=encoding is None,
        y_numeric=est._y_numeric,
    )
    return X, y, stand_in.n_features_in_, getattr(stand_in, "feature_names_in_", None)


def checked_sample_weight(sample_weight, X, ops: ArrayOps = NUMPY):
    """scikit-learn's checks of the weights, on the host (``ops``: X's namespace)."""
    if sample_weight is None:
        return None
    if not ops.is_numpy:
        # Checked on the host, beside the labels; moved to the device after.
        X = np.empty((X.shape[0], 0), dtype=np.float32 if X.dtype == ops.xp.float32 else np.float64)
    sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype, ensure_non_negative=True)
    if not sample_weight.any():
        raise ValueError("sample_weight sums to zero: there is nothing to fit.")
    return sample_weight


def encoding_of(fitted) -> Encoding:
    """The encoding of a :class:`~scratchmlp._fitted.FittedModel`."""
    return Encoding(fitted.n_features_in, fitted.feature_names_in, fitted.labels)


def prepare_set(
    est, X, y, sample_weight, encoding: Encoding, class_weight: bool, dtype=None, ops=NUMPY
) -> DataSet:
    """A data set checked against a fit's ``encoding`` (the validation set, check_gradients).

    ``class_weight``: fold the classifier's ``class_weight`` into the sample
    weights, as training does. ``dtype``: cast X to it (before the sample
    weights, which take X's dtype). ``ops``: the fit's namespace (X must be
    of it; the targets and weights are moved to it).
    """
    if not ops.is_numpy:
        y, sample_weight = to_host(y), to_host(sample_weight)
        if namespace_of(X) != ops:
            raise ValueError(f"X_val must be of the namespace and device of X ({ops}).")
    X, y, _, _ = validated(est, X, y, encoding, ops)
    if dtype is not None:
        X = X.astype(dtype)
    est._target_encoding(y, encoding.labels, same_classes=False)
    sample_weight = checked_sample_weight(sample_weight, X, ops)
    if class_weight:
        sample_weight = est._sample_weight(y, sample_weight, partial=False)
    Y = est._encode_targets(y, encoding.labels).T
    if not ops.is_numpy:
        Y, sample_weight = _to_device(ops, X.dtype, Y, sample_weight)
    return DataSet(X, y, Y, sample_weight)


def _to_device(ops: ArrayOps, dtype, Y, sample_weight) -> tuple:
    """Host targets ``Y`` (n[L], m) and weights (m,) as arrays of ``ops`` in ``dtype``."""
    Y = ops.from_host(np.ascontiguousarray(Y), dtype)
    return Y, None if sample_weight is None else ops.from_host(sample_weight, dtype)


# --------------------------------------------------------------------------
# The training call.
# --------------------------------------------------------------------------
def prepare(est, X, y, sample_weight, mode: Mode, validation=None, labels=None) -> Prepared:
    """The inputs of a training call; sets nothing on ``est``.

    Parameters
    ----------
    est : BaseScratchMLP
    X, y, sample_weight
        As given to ``fit`` or ``partial_fit``.
    mode : Mode
    validation : tuple ``(X_val, y_val, sample_weight_val)`` or None
    labels : LabelBinarizer, optional
        The classes of a first ``partial_fit`` call (its ``classes``).
    """
    fitted = est.__dict__.get("_model") if mode is not Mode.NEW else None
    hidden = hidden_layer_sizes(est)
    activations = hidden_activations(est, len(hidden))
    dropout = dropout_rates(est, len(hidden))
    previous = None if fitted is None else encoding_of(fitted)
    ops = namespace_of(X) if fitted is None else fitted.network.ops
    if not ops.is_numpy:
        # Labels are encoded, and weights checked, on the host.
        y, sample_weight = to_host(y), to_host(sample_weight)
        _check_namespace(X, ops)
        _check_array_api_activations(activations)
    X, y, n_features, names = validated(est, X, y, previous, ops)
    if fitted is not None:
        labels = fitted.labels
    labels, loss = est._target_encoding(y, labels, same_classes=mode is Mode.WARM_START)
    encoding = Encoding(n_features, names, labels)
    Y = est._encode_targets(y, labels)
    sample_weight = checked_sample_weight(sample_weight, X, ops)
    sample_weight = est._sample_weight(y, sample_weight, partial=mode is Mode.PARTIAL)
    if validation is not None:
        validation = _given_validation_set(est, *validation, encoding, ops)
    rng = check_random_state(est.random_state)
    layer_sizes = [X.shape[1], *hidden, Y.shape[1]]
    if fitted is None:
        dtype = X.dtype if ops.is_numpy else float_dtype_for(ops, X)
        net = Network(layer_sizes, activations, loss, dtype=dtype, ops=ops)
        origin = Origin.drawn(net, rng, est.init, str(est.activation))
    else:
        # The fitted network is not modified: training runs on a copy.
        net = _continued_network(fitted.network, layer_sizes, activations, loss, est)
        origin = Origin.kept(fitted.network.theta)
    if ops.is_numpy:
        if fitted is not None:
            X = X.astype(net.dtype, copy=False)
        if sample_weight is not None:
            sample_weight = sample_weight.astype(net.dtype, copy=False)
        Y = Y.T.astype(Y.dtype if Y.dtype == bool else net.dtype, copy=False)
    else:
        X = ops.xp.astype(X, net.dtype, copy=False)
        Y, sample_weight = _to_device(ops, net.dtype, Y.T, sample_weight)
    # The one transpose: from here on samples are columns.
    data = TrainingData(X.T, Y, sample_weight, ops=ops)
    stochastic = est.solver in OPTIMIZERS
    if stochastic and est.early_stopping and mode is Mode.PARTIAL:
        raise ValueError("partial_fit does not support early_stopping=True")
    optimizer = _optimizer(est, net, fitted, mode) if stochastic else None
    if stochastic and est.early_stopping and validation is None:
        data, validation = _split_validation(est, data, y, rng)
    state = _state(est, fitted, stochastic, validation is not None)
    model = Model(net, state, optimizer)
    return Prepared(mode, encoding, model, origin, data, validation, rng, dropout)


def _given_validation_set(est, X_val, y_val, sample_weight_val, encoding, ops) -> DataSet:
    if X_val is None or y_val is None:
        raise ValueError("X_val and y_val must be given together.")
    return prepare_set(est, X_val, y_val, sample_weight_val, encoding, class_weight=False, ops=ops)


def _check_array_api_activations(activations: list[str]) -> None:
    """Every hidden activation must have an array API form (gelu needs erf, which it lacks)."""
    missing = sorted({name for name in activations if ACTIVATIONS[name].xp_forward is None})
    if missing:
        raise ValueError(
            f"activation {missing[0]!r} is only available for numpy input: the array API "
            "standard has no erf. Use another activation, or fit on numpy arrays."
        )


def _check_namespace(X, ops: ArrayOps) -> None:
    """A model fitted in one namespace continues only on input of that namespace."""
    if namespace_of(X) != ops:
        raise ValueError(
            f"The model was fitted on arrays of {ops.xp.__name__} (device "
            f"{getattr(ops, 'device', 'cpu')!r}); partial_fit and warm_start need X of the "
            "same namespace and device, with array_api_dispatch=True. Move the model "
            "with scratchmlp.to_namespace(estimator, X) to continue on X."
        )


def _continued_network(net: Network, layer_sizes, activations, loss, est) -> Network:
    """A copy of the fitted network, after checking that the new call fits its architecture."""
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
            f"({previous}), got activation={est.activation!r}."
        )
    return net.copy()


def _optimizer(est, net: Network, fitted, mode: Mode):
    """partial_fit continues the fitted optimizer (a copy); fit starts a new one."""
    if mode is Mode.PARTIAL and fitted is not None and fitted.optimizer is not None:
        return copy.deepcopy(fitted.optimizer)
    return make_optimizer(est.solver, net.theta, est.get_params(), net.weight_slices(), ops=net.ops)


def _state(est, fitted, stochastic: bool, validation: bool) -> TrainingState:
    """The curves to extend: a copy of the fitted model's, or new ones."""
    if fitted is not None:
        state = fitted.state.copy()
    else:
        early_stopping = stochastic and est.early_stopping
        state = TrainingState(early_stopping=early_stopping, validation=validation)
    state.n_iter = 0
    return state


def _split_validation(est, data: TrainingData, y, rng):
    """Hold out ``validation_fraction`` of the samples, by index (X is not copied)."""
    stratify = y if est._stratify_validation(y) else None
    train_idx, val_idx = train_test_split(
        np.arange(data.m),
        random_state=rng,
        test_size=est.validation_fraction,
        stratify=stratify,
    )
    if len(val_idx) < 2:
        raise ValueError(
            "The validation set is too small. Increase 'validation_fraction' "
            "or the size of your dataset."
        )
    train = TrainingData(data.A0, data.Y, data.sample_weight, index=train_idx, ops=data.ops)
    A0, Y, sw = data.ops.take_samples(data.A0, data.Y, data.sample_weight, val_idx)
    validation = DataSet(A0.T, y[val_idx], Y, sw)
    return train, validation
