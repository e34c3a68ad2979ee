"""scratchmlp: a from-scratch multilayer perceptron, a drop-in for scikit-learn's MLPs.

The estimators :class:`ScratchMLPClassifier` and :class:`ScratchMLPRegressor`
take the same parameters as :class:`sklearn.neural_network.MLPClassifier` and
:class:`~sklearn.neural_network.MLPRegressor`; the engine under them
(:mod:`scratchmlp.engine`) is plain numpy in the column notation
``A[0] = X`` of shape ``(n[0], m)``. With scikit-learn's
``array_api_dispatch``, they fit and predict on torch (CPU or CUDA), CuPy and
array-api-strict arrays too (:func:`to_numpy` brings a model back).
"""

from . import callbacks
from ._base import DivergenceWarning, InconsistentVersionWarning
from ._config import config_context, get_config, set_config
from ._gradcheck import check_gradients
from ._mlp import ScratchMLPClassifier, ScratchMLPRegressor
from ._namespace import to_namespace, to_numpy
from ._onnx import install_skl2onnx_hook as _install_skl2onnx_hook
from ._version import __version__

_install_skl2onnx_hook()  # ONNX converters, registered once skl2onnx is imported

__all__ = [
    "DivergenceWarning",
    "InconsistentVersionWarning",
    "ScratchMLPClassifier",
    "ScratchMLPRegressor",
    "__version__",
    "callbacks",
    "check_gradients",
    "config_context",
    "get_config",
    "set_config",
    "to_namespace",
    "to_numpy",
]
