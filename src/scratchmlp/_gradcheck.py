"""Check an estimator's analytic gradient against central differences."""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._network import Network, cost, cost_and_gradient, forward
from ._prepare import encoding_of, prepare_set

__all__ = ["check_gradients"]


def _central_differences(net: Network, A0, Y, s, alpha: float, epsilon: float) -> np.ndarray:
    """The central difference of the cost along each parameter, of shape (n_params,)."""
    numeric = np.empty_like(net.theta)
    theta = net.theta
    for i in range(theta.size):
        saved = theta[i]
        theta[i] = saved + epsilon
        plus = cost(net, forward(net, A0), Y, s, alpha)
        theta[i] = saved - epsilon
        minus = cost(net, forward(net, A0), Y, s, alpha)
        theta[i] = saved
        numeric[i] = (plus - minus) / (2 * epsilon)
    return numeric


def check_gradients(estimator, X, y, sample_weight=None, epsilon=1e-6):
    """The largest relative error of the network's gradient against finite differences.

    At the estimator's current weights, compares every entry of the analytic
    gradient of the cost (backward propagation) with the central difference

    .. math:: \\frac{J(\\theta + \\epsilon e_i) - J(\\theta - \\epsilon e_i)}{2 \\epsilon}.

    It costs two forward passes over ``X`` per parameter: use a small ``X``.
    In float64 a correct gradient gives errors around 1e-8 or below; float32
    networks are checked on a float64 copy.

    Parameters
    ----------
    estimator : ScratchMLPClassifier or ScratchMLPRegressor
        A fitted estimator; it is not modified.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    sample_weight : array-like of shape (n_samples,), default=None
    epsilon : float, default=1e-6
        The finite-difference step.

    Returns
    -------
    error : float
        :math:`\\max_i |g_i - \\hat g_i| / \\max(|g_i| + |\\hat g_i|, 10^{-3} s)`,
        with :math:`s = \\max_j (|g_j| + |\\hat g_j|)`: entries a thousand
        times smaller than the largest are judged relative to that scale.

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
    >>> check_gradients(clf, X[:20], y[:20]) < 1e-6
    True
    """
    check_is_fitted(estimator)
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
    alpha = estimator.alpha
    A0 = checked.X.T
    _, grad = cost_and_gradient(net, A0, Y, s, alpha)
    analytic = grad.flat.copy()
    numeric = _central_differences(net, A0, Y, s, alpha, epsilon)
    size = np.abs(analytic) + np.abs(numeric)
    # Entries far below the gradient's scale are compared with that scale:
    # their finite differences are mostly rounding noise (~1e-16 J / epsilon).
    scale = np.maximum(size, max(1e-3 * size.max(), 1e-12))
    return float(np.max(np.abs(analytic - numeric) / scale))
