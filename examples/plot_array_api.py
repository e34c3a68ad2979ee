"""
The same pipeline fitted on numpy and on a torch tensor
=======================================================

With scikit-learn's array API dispatch switched on, a scratchmlp estimator
computes in the namespace and on the device of ``X``: here a torch tensor on
the CPU. This example fits one pipeline, ``StandardScaler`` then
``ScratchMLPClassifier``, twice on the digits: once on numpy arrays, once on
torch tensors. With the same ``random_state`` the two fits start from the
same weights, see the samples in the same order and follow the same loss
curve, to rounding; their predictions are equal. Then the torch model is
brought back to numpy, pickled and loaded again.

The example needs no GPU: on a machine with CUDA, ``torch.asarray(X,
device="cuda")`` is the only change. Without torch it uses
`array-api-strict <https://data-apis.org/array-api-strict/>`_, the
reference namespace of the standard (a dependency of the docs build), and
says so in its output. :doc:`/array_api` describes what moves where.
"""

# %%
# Two switches
# ------------
# scipy reads ``SCIPY_ARRAY_API`` once, when it is first imported, and
# scikit-learn imports it: the variable must be set before the first import
# of scipy or scikit-learn, hence at the very top. (In the documentation
# build every example runs in one process that has already imported them:
# ``docs/conf.py`` sets the variable first.) The second switch,
# ``array_api_dispatch``, is scikit-learn's configuration, on here only
# inside ``sklearn.config_context``.

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")

import pickle
import sys
import warnings

import matplotlib

# Draw off-screen when run as a script (tests, CI, the gallery build); run it
# with ``python -i`` or set MPLBACKEND to get a window.
if not (sys.flags.interactive or hasattr(sys, "ps1") or os.environ.get("MPLBACKEND")):
    matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import sklearn
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._array_api import move_estimator_to

import scratchmlp
from scratchmlp import ScratchMLPClassifier

try:
    import torch

    # The fits below are tiny: one thread is fastest for them. scratchmlp's
    # thread policy governs numpy's BLAS only; torch chooses its own threads.
    torch.set_num_threads(1)
    to_xp, name = torch.asarray, "torch (CPU)"
except ImportError:
    import array_api_strict

    to_xp, name = array_api_strict.asarray, "array-api-strict (torch is not installed)"
    # StandardScaler's first pass divides 0 by 0 in a term it then discards;
    # scikit-learn silences that for numpy, array-api-strict warns.
    warnings.filterwarnings("ignore", "invalid value encountered in divide", RuntimeWarning)
print("The second fit runs on", name)

# %%
# The data and the pipeline
# -------------------------
# ``make_pipeline`` is called once per fit so that the two fits share
# nothing but their parameters, ``random_state`` included.

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)


def pipeline():
    return make_pipeline(
        StandardScaler(),
        ScratchMLPClassifier(hidden_layer_sizes=(64,), max_iter=40, random_state=0),
    )


# %%
# Fit on numpy, then on the other namespace
# -----------------------------------------
# Only ``X`` needs converting. ``y`` stays a numpy array: the labels are
# encoded on the host with scikit-learn's ``LabelBinarizer`` and the encoded
# targets move to ``X``'s device ("everything follows X"). The 40 epochs do
# not quite converge, which scikit-learn reports with a ``ConvergenceWarning``;
# they are enough here.

warnings.filterwarnings("ignore", category=ConvergenceWarning)

pipe_np = pipeline().fit(X_train, y_train)
pred_np = pipe_np.predict(X_test)

X_train_xp, X_test_xp = to_xp(X_train), to_xp(X_test)
with sklearn.config_context(array_api_dispatch=True):
    pipe_xp = pipeline().fit(X_train_xp, y_train)
    pred_xp = pipe_xp.predict(X_test_xp)

mlp_np, mlp_xp = pipe_np[-1], pipe_xp[-1]
print("type(pred_xp):         ", type(pred_xp))
print("type(mlp_xp.coefs_[0]):", type(mlp_xp.coefs_[0]))
print("type(mlp_xp.classes_): ", type(mlp_xp.classes_), "(labels stay on the host)")
print("type(mlp_xp.loss_curve_):", type(mlp_xp.loss_curve_), "of Python floats")

# %%
# The same fit, to rounding
# -------------------------
# The predictions are equal, and the loss curves agree to about 1e-15
# relative: the two engines compute the same equations with different
# kernels, which round some sums differently. ``np.from_dlpack`` reads a CPU
# array of another namespace as a numpy array.

same = np.array_equal(np.from_dlpack(pred_xp), pred_np)
print(f"predictions equal: {same}   test accuracy {np.mean(pred_np == y_test):.4f}")

curve_np, curve_xp = np.array(mlp_np.loss_curve_), np.array(mlp_xp.loss_curve_)
relative = np.abs(curve_xp - curve_np) / curve_np
print(f"largest relative difference of the loss curves: {relative.max():.1e}")

fig, (ax_curve, ax_diff) = plt.subplots(1, 2, figsize=(10, 4))
epochs = np.arange(1, len(curve_np) + 1)
ax_curve.plot(epochs, curve_np, color="C0", linewidth=4, alpha=0.4, label="numpy")
ax_curve.plot(epochs, curve_xp, color="C1", linestyle="--", label=name.split(" (")[0])
ax_curve.set(xlabel="epoch", ylabel="log loss", yscale="log", title="loss_curve_")
ax_curve.legend()
exact = relative == 0
ax_diff.semilogy(epochs[~exact], relative[~exact], "o", color="C1", markersize=4)
ax_diff.set(
    xlabel="epoch",
    ylabel="|difference| / numpy loss",
    ylim=(1e-17, 1e-12),
    title=f"relative difference\n({exact.sum()} epochs exactly equal: not shown)",
)
fig.tight_layout()
plt.show()

# %%
# Back to numpy, and pickled
# --------------------------
# The second model predicts on arrays of its own namespace and device only
# (numpy input raises a ``ValueError`` that says how to move the model). To load it where torch or
# the device is missing, or to export it to ONNX, bring it back to numpy
# first: :func:`scratchmlp.to_numpy` copies one estimator; scikit-learn's
# ``move_estimator_to`` (in ``sklearn.utils._array_api``, a private module in
# scikit-learn 1.9) moves a whole pipeline, the scaler's ``mean_`` and
# ``scale_`` with the network's parameters.

mlp_back = scratchmlp.to_numpy(mlp_xp)
print(
    "to_numpy:         ", type(mlp_back.coefs_[0]), "; the original keeps", type(mlp_xp.coefs_[0])
)

pipe_back = move_estimator_to(pipe_xp, np, "cpu")
loaded = pickle.loads(pickle.dumps(pipe_back))
pred_loaded = loaded.predict(X_test)  # numpy in, numpy out, dispatch off
print("after the pickle: ", type(pred_loaded), "equal:", np.array_equal(pred_loaded, pred_np))
