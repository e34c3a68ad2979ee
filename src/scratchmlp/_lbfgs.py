"""Full-batch training with scipy's L-BFGS-B on the engine's cost and gradient.

The parameters already live in one flat vector (``Network.theta``), so there
is nothing to pack: scipy's iterate is copied into ``theta`` (casting to the
network's dtype, which keeps float32 fits in float32), and the gradient's flat
vector goes back as float64, which is what L-BFGS-B works in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.optimize
from numpy.typing import NDArray

from ._network import Network

__all__ = ["CORRECTIONS", "LbfgsResult", "fit_lbfgs"]

#: The correction pairs L-BFGS-B keeps (scipy's ``maxcor``, its default): its
#: history is ``2 * CORRECTIONS * n_params`` float64.
CORRECTIONS = 10


@dataclass
class LbfgsResult:
    """What an L-BFGS fit reports.

    Attributes
    ----------
    n_iter : int
        Iterations done.
    loss : float
        The cost at the returned parameters.
    converged : bool
        False when scipy stopped on ``max_iter``, ``max_fun`` or a failed
        line search.
    message : str
        scipy's message.
    """

    n_iter: int
    loss: float
    converged: bool
    message: str


def _objective(net: Network, A0, Y: NDArray, sample_weight, alpha: float) -> Callable:
    """scipy's ``fun``: ``theta -> (J, grad)`` in float64, over one reused workspace.

    scipy's L-BFGS-B runs on the host: for another namespace, ``theta`` goes
    to the device and the gradient comes back, each evaluation (one copy of
    the parameter vector each way, next to a forward and backward pass over
    all the data).
    """
    engine = net.engine
    workspace = engine.Workspace.for_network(net, A0.shape[1])

    def fun(theta: NDArray) -> tuple[float, NDArray]:
        net.set_theta(theta)
        J, grad = engine.cost_and_gradient(net, A0, Y, sample_weight, alpha, workspace)
        if not np.isfinite(J):
            # An infinite cost makes the line search step back; a NaN would
            # poison L-BFGS's curvature pairs.
            return np.inf, np.zeros_like(theta)
        # A copy: scipy may keep the previous gradient while we overwrite ours.
        return J, net.ops.to_host(grad.flat).astype(np.float64)

    return fun


def fit_lbfgs(
    net: Network,
    A0,
    Y: NDArray,
    sample_weight: NDArray | None,
    alpha: float,
    max_iter: int,
    max_fun: int,
    tol: float,
    on_iteration: Callable[[float], bool] | None = None,
) -> LbfgsResult:
    """Minimise the cost of ``net`` on ``(A0, Y)`` with L-BFGS-B, in place.

    Parameters
    ----------
    net : Network
        Starts from its current parameters; holds the solution on return.
    A0 : ndarray or sparse matrix of shape (n[0], m)
    Y : ndarray of shape (n[L], m)
    sample_weight : ndarray of shape (m,) or None
    alpha : float
    max_iter, max_fun : int
        scipy's ``maxiter`` and ``maxfun``.
    tol : float
        scipy's ``gtol``.
    on_iteration : callable ``loss -> bool``, optional
        Called after each iteration, with ``net`` holding the iterate; True
        stops the minimisation there, and ``net`` keeps the parameters it
        holds when ``on_iteration`` returns.

    Returns
    -------
    result : LbfgsResult

    Raises
    ------
    KeyboardInterrupt
        Propagated; ``net`` may then hold a point scipy was evaluating (the
        training driver, :func:`scratchmlp._training.train`, puts back the
        last recorded iterate).
    """
    fun = _objective(net, A0, Y, sample_weight, alpha)
    last = net.ops.to_host(net.theta).astype(np.float64)  # the last accepted iterate
    n_iter, stopped = 0, False

    def callback(intermediate_result) -> None:
        nonlocal n_iter, stopped
        n_iter += 1
        np.copyto(last, intermediate_result.x)
        net.set_theta(last)
        if on_iteration is not None and on_iteration(float(intermediate_result.fun)):
            # Keep what on_iteration left in net (it may have restored other
            # parameters, e.g. the best ones), and end the minimisation.
            stopped = True
            raise StopIteration

    # Overflow shows in the cost (handled above); numpy's warnings would only
    # add noise.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        result = scipy.optimize.minimize(
            fun,
            last.copy(),
            method="L-BFGS-B",
            jac=True,
            callback=callback,
            options={"maxiter": max_iter, "maxfun": max_fun, "gtol": tol, "maxcor": CORRECTIONS},
        )
    if not stopped:
        net.set_theta(result.x)
    return LbfgsResult(
        n_iter=min(n_iter, max_iter),
        loss=float(result.fun),
        converged=bool(result.status == 0),
        message=str(result.message),
    )
