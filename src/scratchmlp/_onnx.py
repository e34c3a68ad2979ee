"""ONNX export through skl2onnx: shape calculators, converters and their registration.

Once registered, :func:`skl2onnx.to_onnx` converts a fitted
:class:`~scratchmlp.ScratchMLPClassifier` or
:class:`~scratchmlp.ScratchMLPRegressor`, alone or inside a
:class:`~sklearn.pipeline.Pipeline`, the way it converts scikit-learn's
``MLPClassifier`` / ``MLPRegressor``:

* the classifier has the outputs ``label`` (int64, or string for string
  classes; ``(N,)``, or ``(N, n_labels)`` for multilabel targets) and
  ``probabilities`` (``(N, n_classes)``, as ``predict_proba``), and the
  classifier options ``zipmap`` (True, False or 'columns') and ``nocl``;
* the regressor has one output ``variable`` of shape ``(N, n_outputs)``
  (``(N, 1)`` for one output, where ``predict`` returns ``(N,)``);
* a float input computes in float32 with float32 weights, a double input in
  float64 with float64 weights (an int64 input is cast to float32).

The graph mirrors the estimator's own prediction: the hidden activation of
each layer is read from the fitted network (``_net.activation_names``), so
per-layer activations export as they are; the binary probabilities are
``[sigmoid(-z), sigmoid(z)]``; probabilities are floored at the smallest
normal number like ``predict_proba``; the Poisson output ``exp(z)`` is
clipped below overflow like the engine's.

Registration and cost. Importing this module imports neither skl2onnx nor
onnx. :func:`install_skl2onnx_hook`, called when scratchmlp is imported,
registers the converters at once if skl2onnx is already imported, and
otherwise puts a small finder on :data:`sys.meta_path` that waits for the
import of ``skl2onnx``, registers the converters right after that module has
run, and removes itself. :func:`register_converters` does the same by hand.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

from ._activations import LEAKY_RELU_SLOPE

__all__ = [
    "HIDDEN_ACTIVATIONS",
    "OUTPUT_ACTIVATIONS",
    "install_skl2onnx_hook",
    "register_converters",
]

CLASSIFIER_ALIAS = "ScratchMLPClassifier"
REGRESSOR_ALIAS = "ScratchMLPRegressor"

#: The options registered for the classifier, as skl2onnx's own classifiers.
CLASSIFIER_OPTIONS = {"zipmap": [True, False, "columns"], "nocl": [True, False]}


# ---------------------------------------------------------------------------
# A small graph builder over skl2onnx's scope and container.
# ---------------------------------------------------------------------------
class _Graph:
    """Adds nodes and constants of one floating type to a skl2onnx container.

    Parameters
    ----------
    scope : skl2onnx Scope
    container : skl2onnx ModelComponentContainer
    double : bool
        Compute in float64 (a double input) rather than float32.
    net_dtype : numpy dtype
        The dtype the estimator computes in, for its limits (``narrow``).
    """

    def __init__(self, scope, container, double: bool, net_dtype) -> None:
        from onnx import TensorProto

        self.scope = scope
        self.container = container
        self.dtype = np.dtype(np.float64 if double else np.float32)
        self.proto = TensorProto.DOUBLE if double else TensorProto.FLOAT
        # The narrower of the two: the limits (overflow, smallest normal)
        # that the estimator applies and that the graph's type can hold.
        self.narrow = min(self.dtype, np.dtype(net_dtype), key=lambda d: d.itemsize)

    def const(self, value, dtype=None, hint: str = "c") -> str:
        """An initializer holding ``value`` (in the graph's dtype unless ``dtype``)."""
        from onnx import TensorProto, numpy_helper

        array = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        name = self.scope.get_unique_variable_name(hint)
        if array.dtype.kind in "OUS":
            content = [str(s).encode("utf-8") for s in array.ravel()]
            self.container.add_initializer(name, TensorProto.STRING, list(array.shape), content)
        else:
            tensor = numpy_helper.from_array(np.ascontiguousarray(array), name)
            self.container.add_initializer(name, tensor.data_type, list(array.shape), tensor)
        return name

    def node(self, op_type: str, inputs, *, output: str | None = None, **attrs) -> str:
        """Add one node with one output; return the output's name."""
        if output is None:
            output = self.scope.get_unique_variable_name(op_type.lower())
        self.container.add_node(
            op_type,
            list(inputs),
            [output],
            name=self.scope.get_unique_operator_name(op_type),
            **attrs,
        )
        return output

    # Shorthands for the arithmetic used by the activations.
    def add(self, a, b):
        return self.node("Add", [a, b])

    def sub(self, a, b):
        return self.node("Sub", [a, b])

    def mul(self, a, b):
        return self.node("Mul", [a, b])

    def div(self, a, b):
        return self.node("Div", [a, b])

    def polynomial(self, x: str, coefs, monic: bool = False) -> str:
        """Horner's rule: ``c[0] x^N + ... + c[N]``, with a leading 1 when ``monic``."""
        coefs = list(coefs)
        acc = self.add(x, self.const(coefs[0])) if monic else self.const(coefs[0])
        for c in coefs[1:]:
            acc = self.add(self.mul(acc, x), self.const(c))
        return acc


# ---------------------------------------------------------------------------
# Activations: name -> function (graph, input name) -> output name.
# ---------------------------------------------------------------------------
def _identity(g: _Graph, z: str) -> str:
    return z


def _logistic(g: _Graph, z: str) -> str:
    return g.node("Sigmoid", [z])


def _tanh(g: _Graph, z: str) -> str:
    return g.node("Tanh", [z])


def _relu(g: _Graph, z: str) -> str:
    return g.node("Relu", [z])


def _leaky_relu(g: _Graph, z: str) -> str:
    # max(z, a z) as the engine computes it; onnxruntime has no double LeakyRelu,
    # and its float attribute would round the slope of a double model.
    return g.node("Max", [z, g.mul(z, g.const(LEAKY_RELU_SLOPE))])


def _elu(g: _Graph, z: str) -> str:
    # alpha = 1: z for z > 0, exp(z) - 1 otherwise, written as
    # relu(z) + (exp(min(z, 0)) - 1) so that no branch overflows.
    negative = g.sub(g.node("Exp", [g.node("Min", [z, g.const(0.0)])]), g.const(1.0))
    return g.add(g.node("Relu", [z]), negative)


def _softplus(g: _Graph, z: str) -> str:
    # log(1 + e^z) = max(z, 0) + log(1 + e^-|z|): never overflows.
    decay = g.node("Exp", [g.node("Neg", [g.node("Abs", [z])])])
    tail = g.node("Log", [g.add(g.const(1.0), decay)])
    return g.add(g.node("Relu", [z]), tail)


def _silu(g: _Graph, z: str) -> str:
    return g.mul(z, g.node("Sigmoid", [z]))


def _gelu(g: _Graph, z: str) -> str:
    # The exact form z * (1 + erf(z / sqrt 2)) / 2 (not the tanh approximation).
    erf = _erf(g, g.mul(z, g.const(np.sqrt(0.5))))
    return g.mul(g.mul(z, g.const(0.5)), g.add(g.const(1.0), erf))


# Cephes' rational approximations of erf and erfc (ndtr.c), as in scipy.
_ERF_T = [
    9.60497373987051638749e0,
    9.00260197203842689217e1,
    2.23200534594684319226e3,
    7.00332514112805075473e3,
    5.55923013010394962768e4,
]
_ERF_U = [
    3.35617141647503099647e1,
    5.21357949780152679795e2,
    4.59432382970980127987e3,
    2.26290000613890934246e4,
    4.92673942608635921086e4,
]
_ERFC_P = [
    2.46196981473530512524e-10,
    5.64189564831068821977e-1,
    7.46321056442269912687e0,
    4.86371970985681366614e1,
    1.96520832956077098242e2,
    5.26445194995477358631e2,
    9.34528527171957607540e2,
    1.02755188689515710272e3,
    5.57535335369399327526e2,
]
_ERFC_Q = [
    1.32281951154744992508e1,
    8.67072140885989742329e1,
    3.54937778887819891062e2,
    9.75708501743205489753e2,
    1.82390916687909736289e3,
    2.24633760818710981792e3,
    1.65666309194161350182e3,
    5.57535340817727675546e2,
]
_ERFC_R = [
    5.64189583547755073984e-1,
    1.27536670759978104416e0,
    5.01905042251180477414e0,
    6.16021097993053585195e0,
    7.40974269950448939160e0,
    2.97886665372100240670e0,
]
_ERFC_S = [
    2.26052863220117276590e0,
    9.39603524938001434673e0,
    1.20489539808096656605e1,
    1.70814450747565897222e1,
    9.60896809063285878198e0,
    3.36907645100081516050e0,
]


def _erf(g: _Graph, x: str) -> str:
    """``erf(x)``: ONNX's Erf in float32; Cephes' approximation in float64.

    onnxruntime implements Erf for float32 only, and casting a double model
    down for it would cost the precision of double; the Cephes rational
    approximations (those of scipy.special.erf) are accurate to double.
    """
    if g.dtype == np.float32:
        return g.node("Erf", [x])
    # |x| <= 1: x T(x^2) / U(x^2); clipped so the unused branch stays finite.
    small = g.node("Min", [g.node("Max", [x, g.const(-1.0)]), g.const(1.0)])
    small2 = g.mul(small, small)
    numerator = g.mul(small, g.polynomial(small2, _ERF_T))
    erf_small = g.div(numerator, g.polynomial(small2, _ERF_U, monic=True))
    # |x| > 1: sign(x) (1 - erfc(|x|)), erfc(a) = exp(-a^2) P(a) / Q(a) for a < 8
    # and exp(-a^2) R(a) / S(a) beyond; erfc(30) underflows, so clip there.
    a = g.node("Min", [g.node("Abs", [x]), g.const(30.0)])
    expo = g.node("Exp", [g.node("Neg", [g.mul(a, a)])])
    mid = g.div(g.polynomial(a, _ERFC_P), g.polynomial(a, _ERFC_Q, monic=True))
    far = g.div(g.polynomial(a, _ERFC_R), g.polynomial(a, _ERFC_S, monic=True))
    ratio = g.node("Where", [g.node("Less", [a, g.const(8.0)]), mid, far])
    erfc = g.mul(expo, ratio)
    erf_large = g.mul(g.node("Sign", [x]), g.sub(g.const(1.0), erfc))
    beyond_one = g.node("Greater", [g.node("Abs", [x]), g.const(1.0)])
    return g.node("Where", [beyond_one, erf_large, erf_small])


#: ONNX builders of the hidden activations, by the engine's name. A new
#: activation of :data:`scratchmlp._activations.ACTIVATIONS` needs one here.
HIDDEN_ACTIVATIONS = {
    "identity": _identity,
    "logistic": _logistic,
    "tanh": _tanh,
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "gelu": _gelu,
    "softplus": _softplus,
    "silu": _silu,
}


def _softmax(g: _Graph, z: str) -> str:
    return g.node("Softmax", [z], axis=1)


def _exp(g: _Graph, z: str) -> str:
    # Like the engine: saturate below overflow instead of returning inf.
    top = np.log(np.finfo(g.narrow).max)
    return g.node("Exp", [g.node("Min", [z, g.const(top)])])


#: ONNX builders of the output activations (``out_activation_``).
OUTPUT_ACTIVATIONS = {
    "softmax": _softmax,
    "logistic": _logistic,
    "identity": _identity,
    "exp": _exp,
}


def _hidden_builder(name: str):
    try:
        return HIDDEN_ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"No ONNX conversion for the hidden activation {name!r}; "
            f"known: {sorted(HIDDEN_ACTIVATIONS)}."
        ) from None


def _output(g: _Graph, net, z: str) -> str:
    name = net.activation_names[net.L]
    if name not in OUTPUT_ACTIVATIONS:
        raise ValueError(f"No ONNX conversion for the output activation {name!r}.")
    return OUTPUT_ACTIVATIONS[name](g, z)


# ---------------------------------------------------------------------------
# The network.
# ---------------------------------------------------------------------------
def _is_double(variable_type) -> bool:
    from skl2onnx.common.data_types import DoubleTensorType

    return isinstance(variable_type, DoubleTensorType)


def _logits(g: _Graph, net, input_name: str, input_is_float: bool) -> str:
    """``Z[L]`` of shape (N, n[L]): one Gemm per layer, the activations between."""
    a = input_name if input_is_float else g.node("Cast", [input_name], to=g.proto)
    for l in range(1, net.L + 1):
        W = g.const(net.W[l], hint="W")  # (n[l], n[l-1]): Gemm's transB
        b = g.const(net.b[l].ravel(), hint="b")
        z = g.node("Gemm", [a, W, b], transB=1)
        if l < net.L:
            a = _hidden_builder(net.activation_names[l])(g, z)
    return z


def _float_input(operator) -> bool:
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    return isinstance(operator.inputs[0].type, (FloatTensorType, DoubleTensorType))


# ---------------------------------------------------------------------------
# Class labels.
# ---------------------------------------------------------------------------
def _label_classes(scope, est):
    """The label values of the ONNX ``label`` output and whether they are strings.

    Integers, booleans and integral floats become int64; other labels become
    strings. With the option ``nocl`` the labels are the class indices.
    """
    options = scope.get_options(est, dict(nocl=False))
    classes = np.asarray(est.classes_)
    if options["nocl"]:
        return np.arange(len(classes), dtype=np.int64), False
    if classes.dtype.kind in "biu":
        return classes.astype(np.int64), False
    if classes.dtype.kind == "f":
        if not np.array_equal(classes, np.round(classes)):
            raise ValueError(
                "ONNX labels are int64 or strings: the float class labels "
                f"{classes.tolist()} are not integers. Use integer or string "
                "labels, or the option nocl=True."
            )
        return classes.astype(np.int64), False
    return np.array([str(c) for c in classes], dtype=object), True


def _is_multilabel(est) -> bool:
    return est._label_binarizer.y_type_ == "multilabel-indicator"


# ---------------------------------------------------------------------------
# Shape calculators.
# ---------------------------------------------------------------------------
def _output_float_type(operator):
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    return DoubleTensorType if _is_double(operator.inputs[0].type) else FloatTensorType


def _check_input(operator, n_outputs) -> None:
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, Int64TensorType
    from skl2onnx.common.utils import (
        check_input_and_output_numbers,
        check_input_and_output_types,
    )

    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=n_outputs)
    check_input_and_output_types(
        operator, good_input_types=[FloatTensorType, DoubleTensorType, Int64TensorType]
    )


def calculate_classifier_output_shapes(operator) -> None:
    """Output types and shapes of the classifier.

    ``label``: (N,) int64 or string, (N, n_labels) int64 for multilabel
    targets; ``probabilities``: (N, n_classes) in the input's floating type.
    """
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType

    _check_input(operator, 2)
    est = operator.raw_operator
    N = operator.inputs[0].get_first_dimension()
    classes, strings = _label_classes(operator.scope_inst, est)
    label_shape = [N, len(classes)] if _is_multilabel(est) else [N]
    label_type = StringTensorType if strings else Int64TensorType
    operator.outputs[0].set_type(label_type(shape=label_shape))
    operator.outputs[1].set_type(_output_float_type(operator)(shape=[N, len(est.classes_)]))


def calculate_regressor_output_shapes(operator) -> None:
    """``variable``: (N, n_outputs), in the input's floating type."""
    _check_input(operator, 1)
    N = operator.inputs[0].get_first_dimension()
    n_outputs = operator.raw_operator.n_outputs_
    operator.outputs[0].set_type(_output_float_type(operator)(shape=[N, n_outputs]))


# ---------------------------------------------------------------------------
# Converters.
# ---------------------------------------------------------------------------
def _on_host(est):
    """The estimator, or its numpy copy when fitted on another array namespace (torch, ...)."""
    if est._net.ops.is_numpy:
        return est
    from ._namespace import to_numpy

    return to_numpy(est)


def convert_classifier(scope, operator, container) -> None:
    """The graph of ``predict`` (``label``) and ``predict_proba`` (``probabilities``)."""
    from onnx import TensorProto, numpy_helper

    est = _on_host(operator.raw_operator)
    net = est._net
    g = _Graph(scope, container, _is_double(operator.inputs[0].type), net.dtype)
    label_out, proba_out = operator.outputs[0].full_name, operator.outputs[1].full_name
    z = _logits(g, net, operator.inputs[0].full_name, _float_input(operator))

    def floored(a):
        # predict_proba floors probabilities at the smallest normal number.
        tiny = g.const(np.finfo(g.narrow).tiny)
        return g.node("Max", [a, tiny], output=proba_out)

    if len(est.classes_) == 1:
        # One class seen: it is certain, and it is the label.
        one = numpy_helper.from_array(np.ones(1, dtype=g.dtype), "value")
        probabilities = g.node("ConstantOfShape", [g.node("Shape", [z])], value=one)
        g.node("Identity", [probabilities], output=proba_out)
        index = g.node("ArgMax", [probabilities], axis=1, keepdims=0)
    elif est._label_binarizer.y_type_ == "binary":
        # One logistic unit p = s(z): probabilities [s(-z), s(z)], label p > 0.5.
        p = _output(g, net, z)
        q = _output(g, net, g.node("Neg", [z]))
        floored(g.node("Concat", [q, p], axis=1))
        positive = g.node("Cast", [g.node("Greater", [p, g.const(0.5)])], to=TensorProto.INT64)
        index = g.node("Reshape", [positive, g.const([-1], np.int64)])
    elif _is_multilabel(est):
        a = _output(g, net, z)
        floored(a)
        positive = g.node("Greater", [a, g.const(0.5)])
        g.node("Cast", [positive], output=label_out, to=TensorProto.INT64)
        return
    else:
        a = _output(g, net, z)
        floored(a)
        index = g.node("ArgMax", [a], axis=1, keepdims=0)

    classes, strings = _label_classes(scope, est)
    classes = g.const(classes, object if strings else np.int64, hint="classes")
    g.node("Gather", [classes, index], output=label_out, axis=0)


def convert_regressor(scope, operator, container) -> None:
    """The graph of ``predict``, shaped (N, n_outputs)."""
    est = _on_host(operator.raw_operator)
    net = est._net
    g = _Graph(scope, container, _is_double(operator.inputs[0].type), net.dtype)
    z = _logits(g, net, operator.inputs[0].full_name, _float_input(operator))
    g.node("Identity", [_output(g, net, z)], output=operator.outputs[0].full_name)


# ---------------------------------------------------------------------------
# Registration.
# ---------------------------------------------------------------------------
def register_converters() -> None:
    """Register the shape calculators and converters with skl2onnx (imports it).

    Idempotent. Called automatically once skl2onnx is imported (see
    :func:`install_skl2onnx_hook`); call it by hand only if that hook could
    not run, e.g. when skl2onnx was imported by a scratchmlp import.
    """
    from skl2onnx import update_registered_converter

    from ._mlp import ScratchMLPClassifier, ScratchMLPRegressor

    update_registered_converter(
        ScratchMLPClassifier,
        CLASSIFIER_ALIAS,
        calculate_classifier_output_shapes,
        convert_classifier,
        options=CLASSIFIER_OPTIONS,
    )
    update_registered_converter(
        ScratchMLPRegressor,
        REGRESSOR_ALIAS,
        calculate_regressor_output_shapes,
        convert_regressor,
    )


def _register_quietly() -> None:
    # Never break the import of skl2onnx (or of scratchmlp): warn instead.
    try:
        register_converters()
    except Exception as exc:  # pragma: no cover - an incompatible skl2onnx
        warnings.warn(
            f"scratchmlp could not register its ONNX converters with skl2onnx: {exc!r}",
            stacklevel=2,
        )


class _RegisteringLoader:
    """Wraps skl2onnx's loader: runs the module, then registers the converters."""

    def __init__(self, loader, finder) -> None:
        self._loader = loader
        self._finder = finder

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        # Put the real loader back first, so that nothing afterwards sees this wrapper.
        module.__loader__ = self._loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        self._finder.remove()
        _register_quietly()

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _Skl2OnnxImportHook:
    """A :data:`sys.meta_path` finder that acts only on the import of ``skl2onnx``.

    It asks the finders after it for skl2onnx's spec and wraps the loader, so
    that the converters are registered as soon as skl2onnx has been imported;
    every other import costs one string comparison.
    """

    _scratchmlp_skl2onnx_hook = True

    def __init__(self) -> None:
        self._searching = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "skl2onnx" or self._searching:
            return None
        self._searching = True
        try:
            spec = None
            for finder in list(sys.meta_path):
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._searching = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _RegisteringLoader(spec.loader, self)
        return spec

    def remove(self) -> None:
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass


def install_skl2onnx_hook() -> None:
    """Register the converters now if skl2onnx is imported, else when it is.

    Called once by ``import scratchmlp``; it imports neither skl2onnx nor
    onnx, and costs nothing when skl2onnx is not installed.
    """
    module = sys.modules.get("skl2onnx")
    if module is not None and hasattr(module, "update_registered_converter"):
        _register_quietly()
    elif not any(getattr(f, "_scratchmlp_skl2onnx_hook", False) for f in sys.meta_path):
        sys.meta_path.insert(0, _Skl2OnnxImportHook())
