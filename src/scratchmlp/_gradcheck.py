"""Check an estimator's analytic gradient against finite differences.

Two choices make the check sharp. The finite difference is Richardson's
extrapolation of two central differences, exact to fourth order, so that a
step of 1e-3 keeps both the truncation error and the round-off (which grows
as the step shrinks) near 1e-11 of the gradient. And the error is the
norm-based relative error of whole layers, which round-off in the tiniest
entries cannot dominate, taken at the worst layer, so that a bug confined to
one layer's gradient is not diluted by the others.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from sklearn.utils.validation import check_is_fitted

from ._network import Cache, Network, cost, cost_and_gradient, forward
from ._prepare import encoding_of, prepare_set

__all__ = ["check_gradients"]

#: The step of the plain central difference used for a parameter whose
#: Richardson steps cross a kink of a hidden activation (see ``kinks``).
_KINK_STEP = 1e-6


def check_gradients(estimator, X, y, sample_weight=None, epsilon=1e-3):
    """The relative error of the network's gradient against finite differences.

    At the estimator's current weights, compares the analytic gradient
    :math:`g = \\nabla J(\\theta)` of the cost (backward propagation) with a
    numerical one, :math:`\\hat g`, entry by entry the Richardson
    extrapolation of central differences:

    .. math::

        D_i(h) = \\frac{J(\\theta + h e_i) - J(\\theta - h e_i)}{2 h}, \\qquad
        \\hat g_i = \\frac{4 D_i(\\epsilon / 2) - D_i(\\epsilon)}{3}.

    :math:`D_i(h) = g_i + c_i h^2 + O(h^4)`, so :math:`\\hat g_i = g_i + O(\\epsilon^4)`:
    the step can be large enough (1e-3) that the round-off of :math:`J`,
    about :math:`10^{-16} J / \\epsilon`, stays small too.

    The error returned is the norm-based relative error, layer by layer, at
    the worst layer:

    .. math::

        \\text{error} = \\max_{l = 1..L}
        \\frac{\\lVert g[l] - \\hat g[l] \\rVert_2}
             {\\lVert g[l] \\rVert_2 + \\lVert \\hat g[l] \\rVert_2},

    where :math:`g[l]` holds the entries of ``dW[l]`` and ``db[l]`` (a layer
    whose gradient is 0 on both sides counts 0). It lies in [0, 1]: 0 when
    the two agree, 1 when they are unrelated in sign or one of them is 0.

    What to expect, in float64 (a float32 network is checked on a float64
    copy of its weights, so the same holds): errors around 1e-11 for a
    correct gradient, on fresh and trained networks and every output and
    loss; below 1e-7 means correct for smooth activations, below 1e-6 with
    kinked ones (relu, leaky_relu, elu); a wrong derivative gives errors
    of 1e-2 or more.

    Kinks: a step that carries a hidden pre-activation ``Z[l]`` across a
    point where its activation is not twice differentiable (the
    activation's ``kinks``, 0 for the relu family and elu) gives a wrong
    difference. For such a parameter the central difference with a step
    of 1e-6 is used instead, and a parameter whose small step still
    crosses a kink is left out of both :math:`g` and :math:`\\hat g` (a
    pre-activation within about 1e-6 of the kink: rare).

    It costs four forward passes over ``X`` per parameter: use a small ``X``
    (about 0.05 s for 460 parameters and 50 samples).

    Parameters
    ----------
    estimator : ScratchMLPClassifier or ScratchMLPRegressor
        A fitted estimator; it is not modified.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    sample_weight : array-like of shape (n_samples,), default=None
    epsilon : float, default=1e-3
        The larger Richardson step :math:`\\epsilon` (the other is
        :math:`\\epsilon / 2`).

    Returns
    -------
    error : float
        The largest layer's relative error, defined above.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from scratchmlp import ScratchMLPClassifier, check_gradients
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = ScratchMLPClassifier((5,), solver="lbfgs", max_iter=5, random_state=0)
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # 5 iterations do not converge
    ...     clf = clf.fit(X, y)
    >>> check_gradients(clf, X[:20], y[:20]) < 1e-7
    True
    """
    check_is_fitted(estimator)
    if not estimator._model.network.ops.is_numpy:
        # Checked on the host in float64: the numpy engine's gradient at the same
        # parameters (tests/test_array_api.py checks the array API engine against it).
        from ._namespace import to_host, to_numpy

        estimator = to_numpy(estimator)
        X, y, sample_weight = to_host(X), to_host(y), to_host(sample_weight)
    net, A0, Y, s = _float64_problem(estimator, X, y, sample_weight)
    _, grad = cost_and_gradient(net, A0, Y, s, estimator.alpha)
    analytic = grad.flat.copy()
    numeric, checked = _numeric_gradient(_Probe(net, A0, Y, s, estimator.alpha), epsilon)
    return _worst_layer_error(net, analytic, numeric, checked)


def _float64_problem(estimator, X, y, sample_weight):
    """A float64 copy of the estimator's network and its cost's data, checked as ``fit`` does."""
    # The estimator's own preparation and weights, so that this is the cost it fits.
    fitted = estimator._model
    checked = prepare_set(
        estimator, X, y, sample_weight, encoding_of(fitted), class_weight=True, dtype=np.float64
    )
    Y = checked.Y.astype(np.float64)
    s = checked.sample_weight
    if s is not None:
        s = np.asarray(s, dtype=np.float64)
    net = Network(
        fitted.network.layer_sizes,
        fitted.network.activation_names[1 : fitted.network.L],
        fitted.network.loss.name,
        theta=fitted.network.theta.astype(np.float64),  # a float64 copy
    )
    X = checked.X
    return net, X.T, Y, s


class _Probe:
    """The cost with one parameter moved, and whether that crossed a kink.

    Parameters
    ----------
    net : Network
        Its parameters are moved and put back.
    A0 : ndarray or sparse matrix of shape (n[0], m)
    Y : ndarray of shape (n[L], m)
    s : ndarray of shape (m,) or None
    alpha : float
    """

    def __init__(self, net: Network, A0, Y: NDArray, s: NDArray | None, alpha: float) -> None:
        self.net, self.A0, self.Y, self.s, self.alpha = net, A0, Y, s, alpha
        self.cache = Cache.empty(net.layer_sizes, A0.shape[1], np.float64)
        # (layer, kink) for every hidden layer whose activation has kinks.
        self.kinks = [(l, k) for l in range(1, net.L) for k in net.g[l].kinks]
        forward(net, A0, self.cache)
        self.sides = self._sides()

    def _sides(self) -> list[NDArray]:
        """Which side of each kink every pre-activation ``Z[l]`` lies on."""
        return [self.cache.Z[l] > k for l, k in self.kinks]

    def cost(self, i: int, delta: float) -> tuple[float, bool]:
        """``J(theta + delta e_i)``, and whether some ``Z[l]`` changed side of a kink."""
        theta = self.net.theta
        saved = theta[i]
        theta[i] = saved + delta
        forward(self.net, self.A0, self.cache)
        J = cost(self.net, self.cache, self.Y, self.s, self.alpha)
        theta[i] = saved
        crossed = any(
            not np.array_equal(now, before) for now, before in zip(self._sides(), self.sides)
        )
        return J, crossed

    def central(self, i: int, h: float) -> tuple[float, bool]:
        """The central difference :math:`D_i(h)`, and whether its steps crossed a kink."""
        J_plus, crossed_plus = self.cost(i, h)
        J_minus, crossed_minus = self.cost(i, -h)
        return (J_plus - J_minus) / (2 * h), crossed_plus or crossed_minus


def _numeric_gradient(probe: _Probe, epsilon: float) -> tuple[NDArray, NDArray]:
    """:math:`\\hat g`, and which entries could be computed without crossing a kink.

    Returns
    -------
    numeric : ndarray of shape (n_params,)
    checked : ndarray of bool of shape (n_params,)
    """
    n = probe.net.theta.size
    numeric, checked = np.zeros(n), np.ones(n, dtype=bool)
    for i in range(n):
        D_half, crossed_half = probe.central(i, epsilon / 2)
        D_full, crossed_full = probe.central(i, epsilon)
        numeric[i] = (4 * D_half - D_full) / 3
        if crossed_half or crossed_full:
            numeric[i], crossed = probe.central(i, _KINK_STEP)
            checked[i] = not crossed
    return numeric, checked


def _worst_layer_error(
    net: Network, analytic: NDArray, numeric: NDArray, checked: NDArray
) -> float:
    """The error at the worst layer, in norms: ``max_l |g[l] - h[l]| / (|g[l]| + |h[l]|)``."""
    worst, start = 0.0, 0
    for l in range(1, net.L + 1):
        stop = start + net.W[l].size + net.b[l].size  # W[l] then b[l] in theta
        keep = checked[start:stop]
        g, g_hat = analytic[start:stop][keep], numeric[start:stop][keep]
        size = np.linalg.norm(g) + np.linalg.norm(g_hat)
        if size > 0:
            worst = max(worst, float(np.linalg.norm(g - g_hat) / size))
        start = stop
    return worst
