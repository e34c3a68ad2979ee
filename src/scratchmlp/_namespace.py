"""Which array namespace a call computes in: scikit-learn's array API dispatch, at the boundary.

With ``sklearn.set_config(array_api_dispatch=True)``, the estimators compute
in the namespace and on the device of ``X`` (torch on CPU or CUDA, CuPy,
array-api-strict), as scikit-learn's array-API estimators do: "everything
follows X". This module turns an input into the
:class:`~scratchmlp._arrays.ArrayOps` that the engine and the driver run on,
and moves ``y`` and ``sample_weight`` where they are needed: labels are
encoded on the host (scikit-learn's label tools are numpy's), and the
encoded targets and weights go to X's device. Without dispatch, or for numpy
and sparse input, it is numpy, exactly as before.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import scipy.sparse as sp
from sklearn import config_context, get_config
from sklearn.utils._array_api import (
    _is_numpy_namespace,
    check_same_namespace,
    get_namespace_and_device,
    move_to,
    supported_float_dtypes,
)

from ._arrays import NUMPY, ArrayAPIOps, ArrayOps
from ._network import Network

__all__ = ["namespace_of", "to_host", "dispatching", "to_numpy", "to_namespace"]


def dispatching() -> bool:
    """Whether scikit-learn's ``array_api_dispatch`` is on."""
    return bool(get_config()["array_api_dispatch"])


def to_host(a) -> np.ndarray:
    """An array of any namespace, or a sequence, as a numpy array on the host."""
    if a is None or isinstance(a, np.ndarray) or sp.issparse(a):
        return a
    if hasattr(a, "__dlpack__") or hasattr(a, "__array_namespace__"):
        return move_to(a, xp=np, device="cpu")
    return a


def namespace_of(X) -> ArrayOps:
    """The :class:`ArrayOps` of ``X``: numpy unless dispatch is on and X is of another namespace.

    Raises
    ------
    TypeError
        For a sparse tensor of another namespace (the array API engine is dense).
    """
    if not dispatching() or sp.issparse(X):
        return NUMPY
    xp, _, device = get_namespace_and_device(X)
    if _is_numpy_namespace(xp):
        return NUMPY
    layout = getattr(X, "layout", None)  # torch's sparse tensors have a sparse layout
    if layout is not None and "strided" not in str(layout):
        raise TypeError(
            f"Sparse {xp.__name__} input ({layout}) is not supported: the array API "
            "engine is dense. Pass a dense tensor, or a scipy sparse matrix (computed "
            "with numpy)."
        )
    return ArrayAPIOps(xp, device, to_host)


def check_input_namespace(est, X, method: str) -> ArrayOps:
    """The fitted model's :class:`ArrayOps`, after checking that ``X`` is of its namespace.

    scikit-learn's ``check_same_namespace`` (dispatch on) and our own check
    (dispatch off, e.g. numpy input to a model fitted on torch) name the
    method and how to move the model.
    """
    check_same_namespace(X, est, attribute="_parameters", method=method)
    ops = est._model.network.ops
    if namespace_of(X) != ops:
        raise ValueError(
            f"{type(est).__name__}.{method}() got X of another namespace than the "
            f"fitted model's ({ops.xp.__name__}, with array_api_dispatch "
            f"{'on' if dispatching() else 'off'}). Move the model first: "
            "scratchmlp.to_numpy(estimator), or scratchmlp.to_namespace(estimator, X)."
        )
    return ops


def float_dtype_for(ops: ArrayOps, X):
    """The dtype a fit on ``X`` computes in: X's float dtype, float64 for other types.

    Raises
    ------
    ValueError
        Where the device has no such dtype (float64 on Apple's MPS, say).
    """
    xp = ops.xp
    supported = supported_float_dtypes(xp, ops.device)
    dtype = X.dtype if X.dtype in (xp.float32, xp.float64) else xp.float64
    if dtype not in supported:
        usable = [str(d) for d in (xp.float32, xp.float64) if d in supported]
        raise ValueError(
            f"{xp.__name__} on device {ops.device!r} has no {dtype}: pass X as "
            f"{' or '.join(usable) or 'float32 or float64 on another device'}."
        )
    return dtype


def ops_of_array(a) -> ArrayOps:
    """The :class:`ArrayOps` of a dense array of any namespace (dispatch on or off)."""
    if isinstance(a, np.ndarray):
        return NUMPY
    with config_context(array_api_dispatch=True):
        return namespace_of(a)


def convert_model(model, converter):
    """A copy of a :class:`~scratchmlp._fitted.FittedModel` with its arrays ``converter(a)``.

    The parameters, the optimizer's moments and early stopping's best
    parameters are converted; the network and the optimizer get the
    :class:`ArrayOps` of the converted parameters. Labels and curves stay
    on the host.
    """
    net = model.network
    theta = converter(net.theta)
    ops = ops_of_array(theta)
    hidden = net.activation_names[1 : net.L]
    network = Network(net.layer_sizes, hidden, net.loss.name, theta=theta, ops=ops)
    state = model.state.copy()
    if state.best_theta is not None:
        state.best_theta = converter(state.best_theta)
    optimizer = model.optimizer
    if optimizer is not None:
        optimizer = copy.copy(optimizer)
        moved = {k: converter(v) if _is_array(v) else v for k, v in vars(optimizer).items()}
        moved.pop("_scratch_buffer", None)
        moved.pop("ops", None)
        if not ops.is_numpy:
            moved["ops"] = ops
        optimizer.__dict__ = moved
    return dataclasses.replace(model, network=network, state=state, optimizer=optimizer)


def _is_array(value) -> bool:
    return isinstance(value, np.ndarray) or hasattr(value, "__dlpack__")


def to_numpy(estimator):
    """A copy of a fitted estimator whose arrays are numpy arrays on the host.

    For a model fitted on torch, CuPy or array-api-strict arrays: pickle the
    copy to load it on a machine without that library or device, or export
    it to ONNX. The estimator itself is not changed.

    Parameters
    ----------
    estimator : ScratchMLPClassifier or ScratchMLPRegressor

    Returns
    -------
    estimator_np : the same class
    """
    return estimator.__sklearn_array_api_convert__(to_host)


def to_namespace(estimator, X):
    """A copy of a fitted estimator whose arrays are of ``X``'s namespace and device.

    The reverse of :func:`to_numpy`: e.g. a model fitted with numpy, moved to
    a CUDA tensor's device to predict there (predicting on it then needs
    ``sklearn.set_config(array_api_dispatch=True)``).

    Parameters
    ----------
    estimator : ScratchMLPClassifier or ScratchMLPRegressor
    X : array
        An array of the target namespace and device.
    """
    ops = ops_of_array(X) if not isinstance(X, np.ndarray) else NUMPY
    if ops.is_numpy:
        return to_numpy(estimator)
    return estimator.__sklearn_array_api_convert__(
        lambda a: move_to(a, xp=ops.xp, device=ops.device)
    )
