"""The training driver: one function, :func:`train`, for every solver.

Training is a function of (model, data, solver, settings) that returns an
:class:`Outcome`: the final network, its optimizer, its curves and why it
stopped. The estimator validates the data, calls :func:`train` on a new model
or on a copy of the fitted one, and keeps the outcome's model in one
assignment: a fit that fails leaves the previous model untouched because
nothing was assigned.

The steps a reader looks for: :func:`iter_batches` (which samples),
:func:`run_epoch` (one pass over them), :func:`record_epoch` (curves and the
no-improvement count), the two solvers, :class:`Stochastic` (epochs of
mini-batch steps) and :class:`Lbfgs` (scipy's L-BFGS-B, one record per
iteration), and :func:`train`, which runs either and is the one place that
handles an interrupt. Nothing here knows about scikit-learn: validation
scores and callbacks come in as functions, and the outcome goes back as a
value for the estimator to turn into warnings or errors. Array operations on
the parameters go through the network's :class:`~scratchmlp._arrays.ArrayOps`
(see :mod:`scratchmlp._arrays`).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from ._arrays import NUMPY, ArrayOps, array_ops
from ._initializers import initialize
from ._lbfgs import fit_lbfgs
from ._network import Network, Workspace, overflow_free

__all__ = [
    "TrainingData",
    "TrainingState",
    "Model",
    "Origin",
    "Settings",
    "Stochastic",
    "Lbfgs",
    "Outcome",
    "DivergenceRule",
    "FarRun",
    "train",
    "epoch_record",
    "iter_batches",
    "shuffled",
    "run_epoch",
    "record_epoch",
]

# Why training stopped: Outcome.reason.
CONTINUE = "continue"  # one epoch of partial_fit done, nothing to report
CONVERGED = "converged"  # the stopping rule fired (L-BFGS: scipy converged)
STOPPED = "stopped"  # a callback asked to stop
MAX_ITER = "max_iter"  # max_iter epochs without convergence
NOT_CONVERGED = "not_converged"  # L-BFGS stopped on a limit or a failed line search
DIVERGED = "diverged"  # the cost became non-finite after some steps
EXPLODED = "exploded"  # the cost stayed finite but rose far above its start (DivergenceRule)
NON_FINITE_INPUT = "non_finite_input"  # non-finite before any step: the data
INTERRUPTED = "interrupted"  # KeyboardInterrupt; the last recorded epoch is kept


def gather_columns(M: NDArray, idx: NDArray, out: NDArray) -> NDArray:
    """``out = M[:, idx]`` without copying ``M`` (columns are samples).

    Parameters
    ----------
    M : ndarray of shape (k, m)
    idx : ndarray of int of shape (mb,)
    out : ndarray of shape (k, mb)
    """
    if M.T.flags.c_contiguous and out.T.flags.c_contiguous:
        # The samples of a transposed C-ordered X are contiguous rows of M.T:
        # np.take along them copies whole samples into the reused buffer.
        np.take(M.T, idx, axis=0, out=out.T, mode="clip")
    else:
        out[...] = M[:, idx]
    return out


def _abs_max(a, xp=np) -> float:
    """``max |a|`` without an ``|a|`` copy of ``a`` (0 for an empty array)."""
    if math.prod(a.shape) == 0:
        return 0.0
    return max(abs(float(xp.max(a))), abs(float(xp.min(a))))


@dataclass
class TrainingData:
    """A training set in the engine's layout, possibly a subset of the columns.

    Attributes
    ----------
    A0 : ndarray or sparse matrix of shape (n[0], m_all)
    Y : ndarray of shape (n[L], m_all)
    sample_weight : ndarray of shape (m_all,) or None
    index : ndarray of int of shape (m,) or None
        The samples to train on (e.g. without the validation set); all when
        None. Selecting by index keeps training memory O(batch), not O(m).
        A host (numpy) array in every namespace.
    ops : ArrayOps
        The namespace and device of ``A0``, ``Y`` and ``sample_weight`` (numpy
        by default).
    """

    A0: object
    Y: NDArray
    sample_weight: NDArray | None = None
    index: NDArray | None = None
    ops: ArrayOps = NUMPY

    @property
    def m(self) -> int:
        return self.A0.shape[1] if self.index is None else len(self.index)

    def magnitudes(self) -> tuple[float, float, float]:
        """``(max |x|, max |y|, total weight)`` over all the columns, computed once.

        Bounds for :func:`~scratchmlp._network.overflow_free` (over all
        columns even with an ``index``: a superset only loosens them). Two
        passes over X for its max and min, and no copy of it.
        """
        if "_magnitudes" not in self.__dict__:
            A0 = self.A0.data if sp.issparse(self.A0) else self.A0
            s, xp = self.sample_weight, self.ops.xp
            total = float(self.A0.shape[1]) if s is None else float(xp.sum(s))
            self._magnitudes = (_abs_max(A0, xp), _abs_max(self.Y, xp), total)
        return self._magnitudes

    def batch(self, idx, workspace: Workspace):
        """``(A0, Y, s)`` of the samples ``idx`` (a slice or an index array)."""
        if self.index is not None:
            idx = self.index[idx]
        if not self.ops.is_numpy:
            return self.ops.take_samples(self.A0, self.Y, self.sample_weight, idx)
        s = None if self.sample_weight is None else self.sample_weight[idx]
        if isinstance(idx, slice) or not isinstance(self.A0, np.ndarray):
            return self.A0[:, idx], self.Y[:, idx], s
        A0 = gather_columns(self.A0, idx, workspace.input_buffer(len(idx)))
        return A0, self.Y[:, idx], s


@dataclass(frozen=True)
class DivergenceRule:
    """When a finite loss counts as diverged: far above its start, and not coming back.

    A learning rate too large for the scale of the data can make the loss
    explode while staying finite (the log-loss is computed from the logits
    and never overflows), so the non-finite rule alone misses it. With the
    reference

    .. math:: R = \\max(J_0, J_{null}),

    an epoch is *far above* when its loss (``loss_curve_``'s entry) exceeds
    ``factor`` :math:`\\times R`, and training has *diverged* when

    * ``patience`` consecutive epochs are far above, or
    * one epoch's loss exceeds ``extreme`` :math:`\\times R`, or
    * a ``fit`` ends (``max_iter``, the stopping rule or a callback) inside a
      run of far-above epochs.

    :math:`J_0` is the cost at the parameters the network had before its
    first step, computed as the epochs' losses are (batch costs with the L2
    term, averaged with the batch sizes as weights) over ``samples`` training
    samples spread evenly over the data: the start the loss rose from. It is
    computed once per network and kept in :class:`TrainingState` across
    ``warm_start`` fits and ``partial_fit`` calls, whose epochs count as one
    run. :math:`J_{null}` is the data loss of the network whose logits are all
    0 (probabilities :math:`1/K` for softmax, :math:`1/2` for the logistic,
    prediction 0 for squared error, 1 for Poisson): :math:`\\log K` for the
    multiclass log-loss, :math:`\\log 2` per output for the binary and
    multilabel ones, :math:`\\frac12 \\overline{y^2}` for squared error. It
    depends on the targets only, over the same samples of the current call's
    data, and keeps the rule sound when :math:`J_0` happens to be small or a
    later ``partial_fit`` call brings targets of another scale. With
    :math:`R = 0` (a network that fits its data exactly) the rule is off.

    The thresholds sit far from both sides. An average log-loss of
    :math:`10 \\log K` puts a probability of :math:`K^{-10}` on the true
    class; an average squared error 10 times the start means predictions off
    by 3 times the scale of the targets. Measured over every fit of the test
    suite, the examples and ``check_estimator`` at default parameters,
    ordinary epochs stay below :math:`5 R` (below :math:`1.3 R` on scaled
    data), with one exception that shows why a single epoch is not enough:
    ``sgd`` on scikit-learn's unscaled regression check data (features near
    100) spikes to :math:`4.7 \\times 10^3 R` for one epoch and comes
    straight back. A spike must last ``patience`` epochs, or pass
    ``extreme`` (about 200 times that one), to count. Diverging fits go
    from :math:`R` to :math:`10^{20} R` in one epoch, or, the mildest seen,
    stay between :math:`37 R` and :math:`70 R` (``partial_fit`` with ``sgd``
    on the digits at ``learning_rate_init=10``), or collapse to a constant
    prediction at :math:`17 R` (``sgd`` at ``learning_rate_init=1`` on a
    regression of the digits).

    Attributes
    ----------
    factor : float, default=10.0
    patience : int, default=3
    extreme : float, default=1e6
    samples : int, default=1000
        The most samples :math:`J_0` and :math:`J_{null}` are computed on (a
        forward pass over them, once per call).
    """

    factor: float = 10.0
    patience: int = 3
    extreme: float = 1e6
    samples: int = 1000

    def far_above(self, loss: float, reference: float) -> bool:
        """Whether an epoch's ``loss`` is far above the ``reference`` :math:`R`."""
        return reference > 0 and loss > self.factor * reference

    def diverged(self, run: FarRun, loss: float, reference: float) -> bool:
        """Whether the run of far-above epochs ``run``, ending with ``loss``, is a divergence."""
        return run.epochs >= self.patience or loss > self.extreme * reference

    def subset(self, m: int) -> NDArray:
        """The sample positions the rule computes on: at most ``samples``, spread over ``m``."""
        return np.unique(np.linspace(0, m - 1, min(m, self.samples)).astype(np.intp))

    def reference(
        self,
        net: Network,
        data: TrainingData,
        workspace: Workspace,
        alpha: float,
        state: TrainingState,
    ) -> float:
        """:math:`R = \\max(J_0, J_{null})`, computing :math:`J_0` on the network's first call.

        ``state.start_loss`` receives :math:`J_0` when it has none yet.
        """
        idx = self.subset(data.m)
        if state.start_loss is None:
            J0 = _spread_cost(net, data, idx, workspace, alpha)
            if np.isfinite(J0):  # else the data is at fault, reported by the first epoch
                state.start_loss = J0
        return max(state.start_loss or 0.0, _zero_logit_loss(net, data, idx))


def _spread_cost(
    net: Network, data: TrainingData, idx: NDArray, workspace: Workspace, alpha: float
) -> float:
    """The cost over the samples ``idx`` (int, shape (k,)), batch by batch, like an epoch's loss."""
    total = 0.0
    for chunk in iter_batches(len(idx), workspace.max_m):
        total += _batch_cost(net, data, idx[chunk], workspace, alpha) * len(idx[chunk])
    return total / len(idx)


def _zero_logit_loss(net: Network, data: TrainingData, idx: NDArray) -> float:
    """:math:`J_{null}`: the weighted mean loss of the samples ``idx`` at logits ``Z[L] = 0``.

    ``idx`` (int, shape (k,)) indexes the training samples, like :meth:`TrainingData.batch`;
    ``Y`` and ``Z`` are then of shape (n[L], k).
    """
    columns = idx if data.index is None else data.index[idx]
    # On the host, in every namespace: at most DivergenceRule.samples columns.
    _, Y, s = data.ops.take_samples(None, data.Y, data.sample_weight, columns)
    Y, s = data.ops.to_host(Y), None if s is None else data.ops.to_host(s)
    Z = np.zeros(Y.shape)
    losses = net.loss.sample_losses(Y, Z, net.loss.forward(Z, np.empty_like(Z)))
    if s is None:
        return float(losses.mean())
    return float(losses @ s / s.sum()) if s.any() else 0.0


@dataclass(frozen=True)
class FarRun:
    """A run of consecutive far-above epochs, and what to go back to if it diverges.

    Attributes
    ----------
    theta : ndarray of shape (n_params,)
        The parameters at the start of the run's first epoch.
    optimizer_state : dict
        The optimizer's state then (a :meth:`snapshot`).
    before : TrainingState
        The records then (a copy).
    epochs : int
        Far-above epochs so far.
    peak : float
        The largest loss of the run.
    """

    theta: NDArray
    optimizer_state: dict
    before: TrainingState
    epochs: int = 0
    peak: float = 0.0


@dataclass
class Settings:
    """What the epoch record and the stopping rules need, for every solver.

    Attributes
    ----------
    max_iter : int
        Epochs (stochastic solvers) or iterations (L-BFGS) at most.
    tol : float
        Improvement below which an epoch counts as none (L-BFGS: scipy's ``gtol``).
    alpha : float
        L2 strength in the cost (0 for AdamW, which decays the weights itself).
    n_iter_no_change : float
        Epochs without improvement before the stopping rule fires.
    early_stopping : bool
        Judge improvement on the validation score and end on its best epoch.
    verbose : bool
        Print each epoch's loss.
    """

    max_iter: int
    tol: float
    alpha: float
    n_iter_no_change: float = math.inf
    early_stopping: bool = False
    verbose: bool = False


@dataclass
class TrainingState:
    """What persists across epochs, and across ``warm_start`` / ``partial_fit``.

    Attributes mirror scikit-learn's fitted attributes: ``loss_curve`` is
    ``loss_curve_``, ``n_iter`` is ``n_iter_``, ``t`` is ``t_`` (samples
    seen), ``best_theta`` the parameters of the best validation score;
    ``history`` holds one dict per epoch. The validation curves are lists
    when there is validation data (early stopping, or a given validation
    set), None otherwise.

    For the :class:`DivergenceRule`: ``start_loss`` is its :math:`J_0`,
    ``far_run`` the run of far-above epochs in progress (None when the last
    epoch was not far above), and ``divergence`` describes the run that
    tripped the rule (``epoch``: the run's first epoch, counted like
    ``history``'s; ``start_loss``, ``reference``, ``peak``), or is None.
    They have plain defaults, so that states pickled before they existed
    load with them.
    """

    early_stopping: bool = False
    validation: bool = False
    loss: float | None = None
    loss_curve: list = field(default_factory=list)
    history: list = field(default_factory=list)
    validation_scores: list | None = None
    validation_loss_curve: list | None = None
    best_loss: float | None = np.inf
    best_validation_score: float | None = None
    no_improvement_count: int = 0
    n_iter: int = 0
    t: int = 0
    best_theta: NDArray | None = None
    start_loss: float | None = None
    far_run: FarRun | None = None
    divergence: dict | None = None

    def copy(self) -> TrainingState:
        """A copy to train on: new lists, shared records.

        The per-epoch records are never changed once appended, and
        ``best_theta`` and ``far_run`` are replaced rather than modified, so this costs
        O(epochs), not a deep copy of the history at every partial_fit.
        """
        new = copy.copy(self)
        for name in ("loss_curve", "history", "validation_scores", "validation_loss_curve"):
            value = getattr(self, name)
            setattr(new, name, None if value is None else list(value))
        return new

    def __post_init__(self) -> None:
        if self.early_stopping or self.validation:
            self.validation_scores = []
            self.validation_loss_curve = []
        if self.early_stopping:
            self.best_validation_score = -np.inf
            self.best_loss = None


@dataclass
class Model:
    """What training changes: the network, its curves and (stochastic solvers) the optimizer.

    :func:`train` updates these objects in place and returns them in its
    :class:`Outcome`; the caller gives it new objects or copies of the ones
    it keeps.
    """

    network: Network
    state: TrainingState
    optimizer: object | None = None


class Origin:
    """The parameters a training call started from, without a copy of them.

    Training falls back to them after a divergence in its first epochs. They
    are the previous model's (:meth:`kept`: warm start and partial_fit, whose
    caller keeps that model), or those of a new network, drawn again from the
    generator state that drew them (:meth:`drawn`): either way training holds
    no extra parameter vector.
    """

    def __init__(self, theta: NDArray | None = None, draw: tuple | None = None) -> None:
        self._theta = theta
        self._draw = draw

    @classmethod
    def kept(cls, theta: NDArray) -> Origin:
        """Parameters that the caller keeps unchanged during training."""
        return cls(theta=theta)

    @classmethod
    def drawn(cls, net: Network, rng: np.random.RandomState, scheme: str, output_like: str):
        """Draw ``net``'s initial parameters from ``rng`` (in place), remembering how."""
        draw = (rng.get_state(), scheme, output_like)
        initialize(net, rng, scheme, output_like=output_like)
        return cls(draw=draw)

    def theta(self, net: Network) -> NDArray:
        """The starting parameters, of ``net``'s layout."""
        if self._theta is not None:
            return self._theta
        rng_state, scheme, output_like = self._draw
        again, rng = net.copy(), np.random.RandomState()
        rng.set_state(rng_state)
        initialize(again, rng, scheme, output_like=output_like)
        return again.theta


@dataclass
class Outcome:
    """What :func:`train` returns.

    Attributes
    ----------
    model : Model
        The trained network (the best epoch's with early stopping), its
        optimizer and its curves. After ``"non_finite_input"`` it holds the
        starting parameters and is not meant to be kept.
    reason : str
        Why training stopped: ``"continue"`` (partial_fit's one epoch),
        ``"converged"``, ``"stopped"`` (a callback), ``"max_iter"``,
        ``"not_converged"`` (L-BFGS, see ``message``), ``"diverged"``,
        ``"exploded"`` (the :class:`DivergenceRule` fired),
        ``"non_finite_input"`` or ``"interrupted"``.
    message : str or None
        scipy's message for L-BFGS.
    interrupt : KeyboardInterrupt or None
        The interrupt, for the caller to raise again once it has kept the
        model of the last recorded epoch.
    """

    model: Model
    reason: str
    message: str | None = None
    interrupt: BaseException | None = None


def iter_batches(m: int, batch_size: int, order: NDArray | None = None) -> Iterator:
    """The batches of one epoch over ``m`` samples.

    Parameters
    ----------
    m : int
    batch_size : int
    order : ndarray of int of shape (m,), optional
        The samples in the order to visit them; in order when None.

    Yields
    ------
    idx : slice, or ndarray of int of shape (<= batch_size,)
    """
    for start in range(0, m, batch_size):
        stop = min(start + batch_size, m)
        yield slice(start, stop) if order is None else order[start:stop]


def shuffled(order: NDArray, rng: np.random.RandomState) -> NDArray:
    """``order`` permuted in place by a shuffle drawn from ``rng``, and returned.

    Each epoch permutes the previous epoch's order, as scikit-learn does
    (``idx = idx[permutation]`` with ``permutation`` a shuffled
    ``arange(m)``), so that the same ``random_state`` visits the samples in
    the same order. Shuffling ``order`` itself applies the same swaps to it
    as to that ``arange(m)``, which gives exactly ``order[permutation]``,
    from the same draws, without two new index arrays per epoch. The driver
    draws it through the network's ``ops`` (:meth:`ArrayOps.shuffle
    <scratchmlp._arrays.ArrayOps.shuffle>`), which this calls.
    """
    return array_ops(order).shuffle(order, rng)


def run_epoch(
    net: Network,
    optimizer,
    data: TrainingData,
    batches,
    workspace: Workspace,
    alpha: float,
    dropout: list | None = None,
    rng: np.random.RandomState | None = None,
) -> tuple[float, object]:
    """One pass over ``batches``: forward, backward and a step per batch.

    With ``dropout`` (the drop probability of each layer), fresh masks are
    drawn from ``rng`` for every batch.

    Returns
    -------
    loss : float
        The batch costs averaged with the batch sizes as weights (scikit-learn's
        ``loss_``); non-finite as soon as one batch's cost is, in which case
        the epoch stops there.
    failed : slice, ndarray or None
        The batch whose cost was non-finite, if one was.
    """
    total, engine = 0.0, net.engine
    for idx in batches:
        A0, Y, s = data.batch(idx, workspace)
        if s is not None and not data.ops.any(s):
            continue  # no weight in this batch: nothing to learn from it
        m = A0.shape[1]
        D = engine.network_dropout_masks(net, rng, m, dropout) if dropout else None
        J, grad = engine.cost_and_gradient(net, A0, Y, s, alpha, workspace, D)
        if not np.isfinite(J):
            return J, idx
        optimizer.step(net.theta, grad.flat)
        total += J * m
    return total / data.m, None


def epoch_record(
    state: TrainingState,
    loss: float,
    val_loss: float | None,
    val_score: float | None,
    learning_rate: float | None,
    seconds: float,
) -> dict:
    """The ``history_`` entry of the epoch that just ended."""
    return {
        "epoch": len(state.history) + 1,
        "loss": loss,
        "val_loss": val_loss,
        "val_score": val_score,
        "learning_rate": learning_rate,
        "seconds": seconds,
    }


def record_epoch(state: TrainingState, record: dict, settings: Settings, net: Network) -> None:
    """Append the epoch's ``record`` to the curves and count non-improvement.

    Without early stopping an epoch counts as an improvement when the
    training loss fell by more than ``tol`` below the best so far; with it,
    when the validation score rose by more than ``tol`` above the best (whose
    parameters are then kept in ``state.best_theta``).
    """
    loss, val_score = record["loss"], record["val_score"]
    state.n_iter += 1
    state.loss = loss
    state.loss_curve.append(loss)
    state.history.append(record)
    if state.validation_scores is not None:
        state.validation_scores.append(val_score)
        state.validation_loss_curve.append(record["val_loss"])
    if settings.verbose:
        print("Iteration %d, loss = %.8f" % (state.n_iter, loss))
        if val_score is not None:
            print("Validation score: %f" % val_score)
    if settings.early_stopping:
        improved = val_score >= state.best_validation_score + settings.tol
        if val_score > state.best_validation_score:
            state.best_validation_score = val_score
            state.best_theta = net.ops.copy(net.theta)
    else:
        improved = loss <= state.best_loss - settings.tol
        state.best_loss = min(state.best_loss, loss)
    state.no_improvement_count = 0 if improved else state.no_improvement_count + 1


class Checkpoint:
    """Where training goes back to: the start of the current epoch, and maybe of the one before.

    ``theta`` and ``optimizer_state`` are the parameters and the optimizer's
    state at the start of the current epoch, restored after Ctrl-C and after
    a divergence. A divergence can also leave parameters that are finite but
    overflow on some samples; so ``previous``, the parameters at the start of
    the epoch before, is kept too, but only while :func:`overflow_free`
    cannot rule that out. In ordinary training the weights are far from
    that, and a fit holds one copy of the parameters and of the optimizer's
    moments, overwritten in place every epoch.
    """

    def __init__(self) -> None:
        self.theta: NDArray | None = None
        self.optimizer_state: dict | None = None
        self.previous: NDArray | None = None
        self.ops: ArrayOps = NUMPY  # the namespace of theta

    def save(self, net: Network, optimizer, keep_previous: bool = False) -> None:
        """Checkpoint the start of a new epoch (``keep_previous``: keep the last one too)."""
        self.ops = net.ops
        if self.theta is None:
            self.theta = net.ops.copy(net.theta)
        else:
            if keep_previous:
                # Swap the buffers: the old checkpoint becomes ``previous``.
                spare = self.previous
                if spare is None:
                    spare = net.ops.empty_like(self.theta)
                self.previous, self.theta = self.theta, spare
            else:
                self.previous = None
            net.ops.copy_into(self.theta, net.theta)
        self.optimizer_state = optimizer.snapshot(into=self.optimizer_state)

    def restore(self, net: Network, optimizer) -> None:
        """Go back to the start of the current epoch."""
        net.ops.copy_into(net.theta, self.theta)
        optimizer.restore(self.optimizer_state)


# --------------------------------------------------------------------------
# After a divergence.
# --------------------------------------------------------------------------
def _batch_cost(net: Network, data: TrainingData, idx, workspace: Workspace, alpha: float):
    """The cost ``J`` of the batch ``idx`` at the current parameters (no gradient)."""
    A0, Y, s = data.batch(idx, workspace)
    engine = net.engine
    return engine.cost(net, engine.forward(net, A0, workspace.cache(A0.shape[1])), Y, s, alpha)


def _finite_on(net: Network, data: TrainingData, workspace: Workspace, alpha: float) -> bool:
    """Whether the cost of every batch of the training data is finite."""
    return all(
        math.isfinite(_batch_cost(net, data, idx, workspace, alpha))
        for idx in iter_batches(data.m, workspace.max_m)
    )


def _data_at_fault(net, data, failed, workspace, alpha, origin: Origin) -> bool:
    """Whether the failing batch is non-finite already at the call's starting parameters.

    Then the data (e.g. a feature at 1e300), not the optimizer, is at fault.
    """
    if failed is None:
        return False  # the cost stayed finite; the parameters overflowed
    theta = net.ops.copy(net.theta)
    net.ops.copy_into(net.theta, origin.theta(net))
    J = _batch_cost(net, data, failed, workspace, alpha)
    net.ops.copy_into(net.theta, theta)
    return not math.isfinite(J)


def _fall_back(net, optimizer, state, data, workspace, alpha, checkpoint, origin) -> None:
    """After a divergence, go back to the latest parameters finite on the training data.

    The candidates are the parameters at the start of the failing epoch, of
    the one before when they were kept (whose record is then dropped), then
    those at the start of the call (all its epochs dropped). A step can
    leave parameters that are finite but so large that some samples
    overflow, hence the check on all of them. The optimizer goes back to its
    state at the start of the failing epoch, where its moments are finite.
    """
    checkpoint.restore(net, optimizer)
    if _finite_on(net, data, workspace, alpha):
        return
    if checkpoint.previous is not None:
        net.ops.copy_into(net.theta, checkpoint.previous)
        if _finite_on(net, data, workspace, alpha):
            _drop_last_epoch(state, data.m)
            return
    net.ops.copy_into(net.theta, origin.theta(net))
    while state.n_iter > 0:
        _drop_last_epoch(state, data.m)


def _drop_last_epoch(state: TrainingState, m: int) -> None:
    if state.n_iter == 0:
        return  # only this call's epochs are dropped
    state.history.pop()
    state.loss_curve.pop()
    if state.validation_scores is not None:
        state.validation_scores.pop()
        state.validation_loss_curve.pop()
    state.n_iter -= 1
    state.t -= m
    state.loss = state.loss_curve[-1] if state.loss_curve else None


def _stopping_message(settings: Settings) -> str:
    what = "Validation score" if settings.early_stopping else "Training loss"
    return "%s did not improve more than tol=%f for %d consecutive epochs." % (
        what,
        settings.tol,
        settings.n_iter_no_change,
    )


def _watch_run(rule, state: TrainingState, loss: float, reference: float, checkpoint) -> bool:
    """Whether the epoch's ``loss`` is far above; begin or end ``state.far_run`` accordingly.

    Called before the epoch is recorded: a new run keeps the parameters and
    optimizer state at the epoch's start (``checkpoint``) and the records before it.
    """
    far = rule is not None and rule.far_above(loss, reference)
    if not far:
        state.far_run = None
    elif state.far_run is None:
        theta = checkpoint.ops.copy(checkpoint.theta)
        state.far_run = FarRun(theta, copy.deepcopy(checkpoint.optimizer_state), state.copy())
    return far


def _run_diverged(rule, state: TrainingState, loss: float, reference: float) -> bool:
    """Count the recorded far-above epoch ``loss`` in the run; whether the rule now fires."""
    run = state.far_run
    run = state.far_run = replace(run, epochs=run.epochs + 1, peak=max(run.peak, loss))
    return rule.diverged(run, loss, reference)


def _finite_before_run(net, data, workspace, alpha, state: TrainingState) -> bool:
    """After a non-finite cost: whether the run of far-above epochs began at finite parameters.

    Finite on the training data, that is.

    Leaves those parameters in ``net`` (the fall-back restores others if not).
    ``state.far_run`` is dropped when they are not finite.
    """
    if state.far_run is None:
        return False
    net.ops.copy_into(net.theta, state.far_run.theta)
    if _finite_on(net, data, workspace, alpha):
        return True
    state.far_run = None
    return False


# --------------------------------------------------------------------------
# The driver and its two solvers.
# --------------------------------------------------------------------------
class _Run:
    """One call of :func:`train`: what both solvers share (the record, validation, callbacks)."""

    def __init__(self, model, data, settings, origin, validate, on_epoch_end) -> None:
        self.model, self.data, self.settings = model, data, settings
        self.net, self.state = model.network, model.state
        self.origin = origin
        self._validate, self._on_epoch_end = validate, on_epoch_end

    def validate(self) -> tuple:
        """``(val_loss, val_score)`` of the current parameters, or ``(None, None)``."""
        return self._validate(self.net) if self._validate is not None else (None, None)

    def record(self, loss, learning_rate, seconds, validation) -> dict:
        """Append the epoch that just ended to the curves; return its record."""
        record = epoch_record(self.state, loss, *validation, learning_rate, seconds)
        record_epoch(self.state, record, self.settings, self.net)
        return record

    def notify(self, record) -> bool:
        """Call the callbacks; True when one asks to stop."""
        return self._on_epoch_end is not None and bool(self._on_epoch_end(record))


@dataclass
class Stochastic:
    """The mini-batch solvers (sgd, adam, rmsprop, adamw): a step per batch, epochs until a rule.

    Attributes
    ----------
    batch_size : int
    rng : numpy.random.RandomState
        For the shuffles and the dropout masks.
    shuffle : bool
    dropout : list of float or None
        The drop probability ``p[l]`` of each layer.
    one_epoch : bool
        partial_fit: one epoch, and no ``max_iter`` to report.
    divergence : DivergenceRule or None
        When a finite loss counts as diverged; None for the non-finite rule only.
    """

    batch_size: int
    rng: np.random.RandomState
    shuffle: bool = True
    dropout: list | None = None
    one_epoch: bool = False
    divergence: DivergenceRule | None = DivergenceRule()
    # R of the divergence rule, computed once per call.
    _reference: float = field(default=0.0, init=False, repr=False)
    # Where an interrupt goes back to: the checkpoint of the epoch in progress.
    _checkpoint: Checkpoint | None = field(default=None, init=False, repr=False)
    _in_epoch: bool = field(default=False, init=False, repr=False)

    def run(self, run: _Run) -> tuple[str, str | None]:
        """Epochs until a stopping rule; ``(reason, None)``."""
        net, data, settings = run.net, run.data, run.settings
        batch_size = min(self.batch_size, data.m)
        workspace = net.engine.Workspace.for_network(net, batch_size)
        if run.origin is None:
            run.origin = Origin.kept(net.ops.copy(net.theta))
        if self.divergence is not None:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                self._reference = self.divergence.reference(
                    net, data, workspace, settings.alpha, run.state
                )
        reason = self._epochs(run, workspace)
        if reason in (CONVERGED, STOPPED, MAX_ITER) and run.state.far_run is not None:
            # A fit that ends inside a run of far-above epochs did not come back.
            self._back_before_run(run, workspace)
            return EXPLODED, None
        return reason, None

    def _epochs(self, run: _Run, workspace: Workspace) -> str:
        """The epochs of :meth:`run` until a reason to stop."""
        net, data, settings = run.net, run.data, run.settings
        self._checkpoint, self._in_epoch = Checkpoint(), False
        order = net.ops.arange(data.m) if self.shuffle else None
        for epoch in range(1 if self.one_epoch else settings.max_iter):
            # The last checkpoint is kept too unless the current parameters
            # provably cannot overflow on the training data.
            risky = epoch > 0 and not overflow_free(net, *data.magnitudes(), settings.alpha)
            self._checkpoint.save(net, run.model.optimizer, keep_previous=risky)
            self._in_epoch = True
            if self.shuffle:
                order = net.ops.shuffle(order, self.rng)
            reason = self._epoch(run, iter_batches(data.m, workspace.max_m, order), workspace)
            if reason is not None:
                return reason
        return CONTINUE if self.one_epoch else MAX_ITER

    def _epoch(self, run: _Run, batches, workspace) -> str | None:
        """One epoch, recorded; the reason to stop after it, or None."""
        net, optimizer, state, settings = run.net, run.model.optimizer, run.state, run.settings
        start = time.perf_counter()
        # Overflow shows in the cost and is handled here; numpy's warnings
        # would only add noise.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            loss, failed = run_epoch(
                net,
                optimizer,
                run.data,
                batches,
                workspace,
                settings.alpha,
                self.dropout,
                self.rng,
            )
            if not (math.isfinite(loss) and net.ops.all_finite(net.theta)):
                return self._diverged(run, failed, workspace)
            validation = run.validate()
        far = _watch_run(self.divergence, state, loss, self._reference, self._checkpoint)
        state.t += run.data.m
        record = run.record(loss, optimizer.learning_rate, time.perf_counter() - start, validation)
        self._in_epoch = False
        optimizer.end_epoch(state.t)
        if far and _run_diverged(self.divergence, state, loss, self._reference):
            self._back_before_run(run, workspace)
            return EXPLODED
        if run.notify(record):
            return STOPPED
        if state.no_improvement_count > settings.n_iter_no_change:
            if optimizer.on_plateau(_stopping_message(settings), settings.verbose):
                return CONVERGED
            state.no_improvement_count = 0
        return None

    def _diverged(self, run: _Run, failed, workspace) -> str:
        net, alpha = run.net, run.settings.alpha
        if _data_at_fault(net, run.data, failed, workspace, alpha, run.origin):
            net.ops.copy_into(net.theta, run.origin.theta(net))
            return NON_FINITE_INPUT
        if _finite_before_run(net, run.data, workspace, alpha, run.state):
            self._back_before_run(run, workspace)
            return EXPLODED
        _fall_back(
            net,
            run.model.optimizer,
            run.state,
            run.data,
            workspace,
            alpha,
            self._checkpoint,
            run.origin,
        )
        return DIVERGED

    def _back_before_run(self, run: _Run, workspace: Workspace) -> None:
        """Go back to where the run of far-above epochs ``state.far_run`` began, records too.

        Back to the start of the run's first epoch: its parameters, the
        optimizer's state and the records then, even those of earlier
        ``partial_fit`` calls; ``n_iter`` (this call's epochs) loses the run's
        epochs of this call. An epoch's loss averages the cost along its steps,
        so the parameters it started from can already be far above (with one
        step per epoch they are exactly what the loss measured): when their cost
        on :meth:`DivergenceRule.subset` is far above too, a ``fit`` goes back to
        the parameters it started from, as the non-finite fall-back does, and
        drops all its epochs. ``state.divergence`` then describes the run.
        """
        net, state, data, rule = run.net, run.state, run.data, self.divergence
        far_run = state.far_run
        first_epoch = len(far_run.before.history) + 1
        net.ops.copy_into(net.theta, far_run.theta)
        run.model.optimizer.restore(far_run.optimizer_state)
        dropped = len(state.loss_curve) - len(far_run.before.loss_curve)
        n_iter = max(state.n_iter - dropped, 0)
        for f in fields(TrainingState):
            setattr(state, f.name, getattr(far_run.before, f.name))
        state.n_iter = n_iter
        if not self.one_epoch and n_iter > 0:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                J = _spread_cost(net, data, rule.subset(data.m), workspace, run.settings.alpha)
            if not J <= rule.factor * self._reference:  # far above, or not finite
                net.ops.copy_into(net.theta, run.origin.theta(net))
                while state.n_iter > 0:
                    _drop_last_epoch(state, data.m)
        state.divergence = {
            "epoch": first_epoch,
            "start_loss": state.start_loss,
            "reference": self._reference,
            "peak": far_run.peak,
        }

    def rewind(self, run: _Run) -> None:
        """After an interrupt: back to the last recorded epoch (parameters and optimizer)."""
        if self._in_epoch:
            self._checkpoint.restore(run.net, run.model.optimizer)


@dataclass
class Lbfgs:
    """Full-batch L-BFGS-B (scipy) on the engine's cost; one record per iteration.

    Attributes
    ----------
    max_fun : int
        Cost evaluations at most.
    """

    max_fun: int = 15000
    # The parameters of the last recorded iteration, where an interrupt goes back to.
    _recorded: NDArray | None = field(default=None, init=False, repr=False)

    def run(self, run: _Run) -> tuple[str, str | None]:
        """Minimise until scipy stops; ``(reason, scipy's message)``."""
        net, data, settings, state = run.net, run.data, run.settings, run.state
        self._recorded = net.ops.copy(net.theta)  # the parameters of the last record
        stopped, last_time = False, time.perf_counter()

        def on_iteration(loss: float) -> bool:
            nonlocal stopped, last_time
            validation = run.validate()
            now = time.perf_counter()
            record = run.record(loss, None, now - last_time, validation)
            last_time = now
            net.ops.copy_into(self._recorded, net.theta)
            stopped = run.notify(record)
            return stopped

        result = fit_lbfgs(
            net,
            data.A0,
            data.Y,
            data.sample_weight,
            settings.alpha,
            settings.max_iter,
            self.max_fun,
            settings.tol,
            on_iteration,
        )
        if not (math.isfinite(result.loss) and net.ops.all_finite(net.theta)):
            return NON_FINITE_INPUT, None
        # scipy's final point may be a line-search point (after max_fun): its
        # cost, not the last iteration's, is the fit's loss.
        state.loss = result.loss
        state.n_iter = result.n_iter
        state.best_loss = min(state.loss_curve, default=result.loss)
        if stopped:
            return STOPPED, None
        return (CONVERGED if result.converged else NOT_CONVERGED), result.message

    def rewind(self, run: _Run) -> None:
        """After an interrupt: back to the last recorded iteration."""
        if self._recorded is not None:
            run.net.set_theta(self._recorded)


def train(
    model: Model,
    data: TrainingData,
    solver: Stochastic | Lbfgs,
    settings: Settings,
    origin: Origin | None = None,
    validate: Callable[[Network], tuple[float, float]] | None = None,
    on_epoch_end: Callable[[dict], bool] | None = None,
) -> Outcome:
    """Train ``model`` on ``data`` with ``solver`` until a stopping rule; return the outcome.

    Parameters
    ----------
    model : Model
        Trained in place and returned in the outcome: pass new objects or
        copies (the estimators train a copy of their fitted model). The
        network's ``ops`` (:mod:`scratchmlp._arrays`) does the array work.
    data : TrainingData
    solver : Stochastic or Lbfgs
    settings : Settings
    origin : Origin, optional
        The starting parameters, to fall back to after a divergence; a copy
        of ``model.network.theta`` is taken when None.
    validate : callable ``net -> (val_loss, val_score)``, optional
        Evaluates the validation set after each epoch; required with early
        stopping.
    on_epoch_end : callable ``record -> bool``, optional
        Called with each epoch's history record; True stops training.

    Returns
    -------
    outcome : Outcome
        With early stopping, the network holds the best epoch's parameters.
        On ``KeyboardInterrupt`` (the one place it is handled) the model is
        that of the last recorded epoch, bit for bit as if training had
        stopped there, and ``outcome.interrupt`` holds the interrupt.
    """
    run = _Run(model, data, settings, origin, validate, on_epoch_end)
    try:
        reason, message = solver.run(run)
    except KeyboardInterrupt as interrupt:
        solver.rewind(run)
        return Outcome(model, INTERRUPTED, interrupt=interrupt)
    best = model.state.best_theta
    if settings.early_stopping and best is not None and reason != NON_FINITE_INPUT:
        model.network.set_theta(best)
    return Outcome(model, reason, message)
