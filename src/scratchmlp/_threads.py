"""How many BLAS threads numpy's matrix products use in a fit or a prediction.

OpenBLAS's threads spin while they wait for work. On a quiet machine a
second thread makes the products of a fit faster; on a machine where another
process holds a core, the thread that shares that core makes every product
wait for a slice of it, and a fit of small matrices runs several times
slower than on one thread. No fixed count is right in both cases, so each fit
and each prediction (a *call*) chooses, with a :class:`BlasThreads` region
entered once around it.

The policy (``scratchmlp.set_config(thread_policy="auto")``, the default):

1. **The caller's limit.** The call never uses more threads than numpy's
   BLAS has when it starts, which is what ``threadpoolctl.threadpool_limits``,
   joblib's workers (``GridSearchCV(n_jobs=...)``) and
   ``OPENBLAS_NUM_THREADS`` set. With one thread allowed there is nothing to
   choose. scipy's own OpenBLAS (L-BFGS-B, the optimizers' ``axpy``) only
   does vector work and runs on one thread during the call.
2. **A size rule.** When the call's largest product has fewer than
   :data:`SMALL_PRODUCT` multiply-adds, OpenBLAS would run it on one thread
   anyway (its own threshold), so one thread it is, with nothing to measure.
3. **Measuring.** Otherwise the call times a forward pass over one batch of
   its own data (training), over its first columns (full-batch training) or
   over its first rows (prediction) on one thread and on more, alternating,
   and keeps the faster; more threads must win by :data:`MARGIN`. Around
   the one-thread runs it counts the machine's runnable threads (Linux): a
   count whose extra threads would not find a CPU that other processes
   leave idle at least half the time is not tried, so a busy machine costs
   nothing to detect. A count gets a short budget to settle (threads that
   slept may wait for a CPU) and is dropped when :data:`DROP` times slower
   than one thread. The verdict is kept for calls of the same size for
   :data:`TTL_MIN` seconds, doubled up to :data:`TTL_MAX` each time a
   measurement confirms it (a grid search measures a few times, not once
   per fit); a call reusing a verdict for more threads first times a pass
   on them, and measures again if the machine became busy.
4. **Never changing results.** OpenBLAS splits some products' sums
   differently on one thread and on two (an inner dimension of 784, the
   last partial batch of a fold, full-batch products over thousands of
   columns: ``benchmarks/bitwise.py``), so the bits of a product may depend
   on the count. A call therefore runs on one count from start to end,
   unless it is a mini-batch fit whose own computations (a full batch's
   cost and gradient, the last, smaller batch's, the validation loss and
   outputs) were checked bit for bit identical under every candidate count.
   Only such a fit measures again at the end of an epoch, when the verdict
   has expired or the epoch ran :data:`SLOWDOWN` times slower than its
   fastest, and switches. Either way the model is bitwise the model of one
   fixed thread count: the count the call started with.
5. **Concurrency.** threadpoolctl's limits are process-wide. Only the
   region entered first (when no other is active, in any Python thread)
   sets counts; regions entered while it is active run on the count it set
   and change nothing, and it changes nothing while they are inside. The
   caller's counts come back when the last region leaves. The counts are set
   through threadpoolctl, whose OpenBLAS controller lets one Python thread
   at a time set them: a region in a thread that may not changes nothing
   (and if such a thread holds the control when the last region leaves,
   the count stays as the first region set it until that thread's own
   limits end).

``thread_policy="off"`` keeps only the first rule's scipy limit: the products
run on the caller's count.
"""

from __future__ import annotations

import collections
import hashlib
import math
import os
import statistics
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ._config import get_config
from ._network import Cache, Network, Workspace, cost_and_gradient, forward

__all__ = ["BlasThreads", "Probe", "fit_probe", "lbfgs_probe", "prediction_probe"]

#: Multiply-adds of a product below which OpenBLAS runs it on one thread
#: itself (its ``GEMM_MULTITHREAD_THRESHOLD`` of 4 times 65536).
SMALL_PRODUCT = 4 * 65536
#: More threads must be this much faster (as a fraction) to be chosen.
MARGIN = 0.1
#: A count this many times slower than one thread is dropped from a measurement.
DROP = 2.0
#: Timed runs on one thread, between which the machine's runnable threads are counted.
IDLE_RUNS = 2
#: Each timed run repeats the probe's pass for at least this long (seconds).
RUN_SECONDS = 5e-4
#: At most this many rounds (one timed run of each count) per measurement.
ROUNDS = 3
#: The verdict of a measurement lasts this long at first, then doubles (seconds).
TTL_MIN, TTL_MAX = 2.0, 64.0
#: A switchable fit re-measures when an epoch takes this many times its fastest.
SLOWDOWN = 1.5
#: Trying more threads may take this share of the call's estimated time, within
#: these bounds (seconds): their threads may wait a while for a CPU.
BUDGET_SHARE, BUDGET_MAX = 0.03, 0.1
#: Columns at most of a full-batch (L-BFGS) probe's pass.
LBFGS_PROBE_COLUMNS = 4096
#: Rows at most of a prediction's probe pass; the prediction measures only
#: when it has this many times the probe's rows (else: a fresh verdict, or one thread).
PREDICT_PROBE_ROWS, PREDICT_PROBE_SHARE, PREDICT_PROBE_MIN_ROWS = 1024, 64, 256


# ---------------------------------------------------------------------------
# numpy's and scipy's BLAS, as threadpoolctl sees them.
# ---------------------------------------------------------------------------
class _Blas:
    """The thread pools of numpy's BLAS and of scipy's own, found once per process."""

    def __init__(self) -> None:
        from threadpoolctl import ThreadpoolController

        libs = [lc for lc in ThreadpoolController().lib_controllers if lc.user_api == "blas"]
        # The wheels bundle their own OpenBLAS in their package's folder;
        # elsewhere (conda, a system BLAS) both use one library.
        self.scipy = [lc for lc in libs if _bundled_by(lc.filepath, "scipy")]
        own = [lc for lc in libs if _bundled_by(lc.filepath, "numpy")]
        self.numpy = own or [lc for lc in libs if lc not in self.scipy]

    def numpy_threads(self) -> int:
        counts = [lc.get_num_threads() for lc in self.numpy]
        return min((c for c in counts if c), default=1)

    def set_numpy(self, count: int) -> bool:
        """Set numpy's count; whether it took (threadpoolctl ignores a thread not in control)."""
        for lc in self.numpy:
            lc.set_num_threads(count)
        return self.numpy_threads() == count


def _bundled_by(path: str, package: str) -> bool:
    """Whether a library lies in a wheel's folder of ``package`` (``numpy.libs``, ``numpy/``)."""
    parts = os.path.normpath(path).split(os.sep)
    return any(part in (package, package + ".libs") for part in parts[:-1])


_BLAS: list = []  # [] until looked up, then [_Blas or None]


def _blas() -> _Blas | None:
    if not _BLAS:
        try:
            blas = _Blas()
        except Exception:  # threadpoolctl cannot inspect this process: leave it alone
            blas = None
        _BLAS.append(blas if blas is not None and blas.numpy else None)
    return _BLAS[0]


def _ownership():
    """threadpoolctl's count of the calling thread's limits (it releases control at 0)."""
    import threadpoolctl

    return getattr(threadpoolctl, "CONTROLLING_THREAD_OWNERSHIP", None)


# ---------------------------------------------------------------------------
# Process-wide state.
# ---------------------------------------------------------------------------
@dataclass
class _Verdict:
    count: int  # the best count
    seconds: float  # a probe pass under it
    expires: float  # time.monotonic()
    ttl: float


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.active = 0  # regions inside, over all Python threads
        self.saved: list | None = None  # [(lib, count)] to restore when the last leaves
        self.verdicts: dict = {}  # size key -> _Verdict
        self.switchable: dict = {}  # a fit's exact signature -> bool
        self.log: collections.deque = collections.deque(maxlen=256)  # measurements, for reports
        self.idle: float | None = None  # the last measurement's idle CPUs


_STATE = _State()
if hasattr(os, "register_at_fork"):
    # A child forked while another thread was inside a region starts afresh.
    os.register_at_fork(after_in_child=lambda: globals().__setitem__("_STATE", _State()))


# ---------------------------------------------------------------------------
# What a call computes: timed to choose, checked bit for bit to switch.
# ---------------------------------------------------------------------------
@dataclass
class Probe:
    """The products of one call, and how to time and check them.

    Attributes
    ----------
    largest : int
        Multiply-adds of the call's largest product.
    key : tuple
        Calls with the same key (the dtype and the size of a forward pass, to
        a factor of 2) and the same limit share a verdict.
    run : callable or None
        One forward pass over a batch of the call's data, to time (None: the
        call is too short to time one).
    passes : float
        About how many such passes the whole call costs (an upper estimate:
        a forward and backward pass is counted as three).
    checks : callable or None
        Returns the bytes of everything a fit computes that could depend on
        the count (None: the call never switches).
    signature : tuple or None
        The exact shapes ``checks`` covers, under which its answer is kept.
    """

    largest: int
    key: tuple
    run: Callable[[], object] | None
    passes: float
    checks: Callable[[], list] | None = None
    signature: tuple | None = None


def _products(layer_sizes: Sequence[int], columns: int) -> tuple[int, int]:
    """Multiply-adds of the largest product and of a forward pass over ``columns``."""
    sizes = [layer_sizes[l] * layer_sizes[l - 1] for l in range(1, len(layer_sizes))]
    return max(sizes) * columns, sum(sizes) * columns


class _ForwardRun:
    """A forward pass over ``inputs()`` (n[0], k); its buffers are made on first use."""

    def __init__(self, net: Network, inputs: Callable[[], object]) -> None:
        self.net, self.inputs, self.made = net, inputs, None

    def prepare(self) -> None:
        """Make the input and the buffers, and touch them (page faults are not timed)."""
        if self.made is None:
            A0 = self.inputs()
            cache = Cache.for_inference(self.net.layer_sizes, A0.shape[1], self.net.dtype)
            for buffer in cache.Z[1:] + cache.A[1:]:
                buffer.fill(0)
            self.made = (A0, cache)

    def __call__(self) -> None:
        self.prepare()
        with np.errstate(over="ignore", invalid="ignore"):
            forward(self.net, *self.made)


def _make_probe(net: Network, columns: int, inputs, passes, checks=None, signature=None) -> Probe:
    largest, total = _products(net.layer_sizes, columns)
    key = (net.dtype.char, int(math.log2(max(total, 1))))
    return Probe(largest, key, _ForwardRun(net, inputs), passes, checks, signature)


def _digest(*arrays) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        if isinstance(a, np.ndarray):
            h.update(np.ascontiguousarray(a).data)
        else:
            h.update(struct.pack("d", float(a)))
    return h.digest()


def fit_probe(
    net: Network,
    data,
    batch_size: int,
    shuffle: bool,
    alpha: float,
    epochs: int,
    validation: Callable[[], tuple] | None = None,
) -> Probe:
    """The probe of a mini-batch fit.

    Parameters
    ----------
    net : Network
        At its starting parameters (not modified).
    data : TrainingData
        ``data.A0`` of shape (n[0], m_all), ``data.batch(idx, workspace)``.
    batch_size : int
    shuffle : bool
        Whether the batches are gathered by index (as training does) or sliced.
    alpha : float
    epochs : int
        The most epochs the fit runs.
    validation : callable, optional
        Returns the validation loss and outputs (``(float, ndarray of shape
        (m_val, n[L]))``), as the epochs compute them.
    """
    m = data.m
    mb = min(batch_size, m)
    last = m % mb
    columns = [mb] + ([last] if last else [])

    def batches():
        for size, start in zip(columns, (0, m - last)):
            yield np.arange(start, start + size) if shuffle else slice(start, start + size)

    def checks() -> list:
        workspace = Workspace.for_network(net, mb)
        out = []
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for idx in batches():
                A0, Y, s = data.batch(idx, workspace)
                J, grad = cost_and_gradient(net, A0, Y, s, alpha, workspace)
                out.append(_digest(J, grad.flat))
            if validation is not None:
                out.append(_digest(*validation()))
        return out

    signature = (
        tuple(net.layer_sizes),
        tuple(net.activation_names[1:]),
        net.dtype.char,
        m,
        mb,
        shuffle,
        type(data.A0).__name__,
        data.sample_weight is not None,
        validation is not None,
    )
    passes = 3 * len(range(0, m, mb)) * epochs
    # The first columns, laid out as a gathered batch: (n[0], mb), samples contiguous.
    return _make_probe(net, mb, lambda: data.A0[:, :mb], passes, checks, signature)


def lbfgs_probe(net: Network, A0, iterations: int) -> Probe:
    """The probe of a full-batch (L-BFGS) fit over ``A0`` (n[0], m); it never switches.

    Its products' inner dimension is all ``m`` samples, which OpenBLAS
    splits differently by thread count, so it is not checked. Its pass is a
    forward pass over at most :data:`LBFGS_PROBE_COLUMNS` columns (a third
    of an L-BFGS evaluation there).
    """
    m = A0.shape[1]
    columns = min(m, LBFGS_PROBE_COLUMNS)
    return _make_probe(net, m, lambda: A0[:, :columns], 3 * iterations * m / columns)


def prediction_probe(net: Network, X, chunk: int) -> Probe:
    """The probe of a prediction over ``X`` (m, n[0]) in chunks of ``chunk`` rows.

    It times its pass over the first rows, at most :data:`PREDICT_PROBE_ROWS`
    and a :data:`PREDICT_PROBE_SHARE`-th of them; with fewer than
    :data:`PREDICT_PROBE_MIN_ROWS` such rows it has no pass (``run`` is
    None), and the prediction uses a fresh verdict of its size, or one thread.
    """
    m = X.shape[0]
    rows = min(PREDICT_PROBE_ROWS, m // PREDICT_PROBE_SHARE)

    def inputs():
        A0 = X[:rows].T
        if A0.dtype != net.dtype:
            with np.errstate(over="ignore"):
                A0 = A0.astype(net.dtype)
        return A0

    probe = _make_probe(net, min(chunk, m), inputs, m / max(rows, 1))
    if rows < PREDICT_PROBE_MIN_ROWS:
        probe.run = None
    return probe


# ---------------------------------------------------------------------------
# Measuring.
# ---------------------------------------------------------------------------
def _timed(run, reps: int) -> float:
    start = time.perf_counter()
    for _ in range(reps):
        run()
    return (time.perf_counter() - start) / reps


def _running_threads() -> tuple[int, int] | None:
    """Runnable threads right now: ``(all on the machine, this process's)``; None off Linux.

    This process's are counted before and after the machine's, and the
    larger count kept, so that one of its threads going to sleep in between
    is not taken for another process's.
    """
    try:
        ours = _our_running_threads()
        with open("/proc/loadavg", "rb") as f:
            total = int(f.read().split()[3].split(b"/")[0])
        return total, max(ours, _our_running_threads())
    except (OSError, ValueError, IndexError):
        return None


def _our_running_threads() -> int:
    ours = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/stat", "rb") as f:
                stat = f.read()
        except FileNotFoundError:  # a thread that just ended
            continue
        ours += stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] == b"R"
    return ours


def _idle_cpus(samples: list) -> float | None:
    """CPUs free for more threads: usable CPUs, less this thread, less other processes' runnable.

    ``samples`` are :func:`_running_threads` readings; other processes'
    runnable threads are averaged over them, so that a process running a
    fraction of the time takes that fraction of a CPU.
    """
    if not samples or None in samples or not hasattr(os, "sched_getaffinity"):
        return None
    others = statistics.fmean(total - ours for total, ours in samples)
    return len(os.sched_getaffinity(0)) - 1 - others


def measure(run, counts: Sequence[int], set_count: Callable[[int], bool], passes: float) -> dict:
    """Seconds per pass of ``run`` under each count (ascending, ``counts[0] == 1``).

    First a few timed runs on one thread, between which the machine's
    runnable threads are counted: a count whose extra threads would not find
    a CPU idle at least half the time is not tried (on Linux; elsewhere every
    count is). Each count left then runs until a pass settles (its threads
    may need a while to get a CPU), within :data:`BUDGET_SHARE` of the
    call's estimated time (``passes`` passes on one thread), then rounds of
    one timed run per count, alternating with one thread from the second
    round on, until every count is clearly faster or slower than one thread.
    A count :data:`DROP` times slower than one thread is dropped.

    Returns
    -------
    times : dict
        ``{count: median seconds per pass}``; empty when the counts cannot be set.
    """
    if not set_count(counts[0]):
        return {}
    one, reps, idle = _one_thread(run)
    times: dict = {counts[0]: one}
    budget = min(BUDGET_MAX, max(2 * DROP * min(one), BUDGET_SHARE * passes * min(one)))
    deadline = time.perf_counter() + budget
    left = [
        k
        for k in counts[1:]
        if (idle is None or k - 1 <= idle + 0.5)  # its extra threads find a CPU
        and set_count(k)
        and _settled(run, DROP * min(one), deadline)
    ]
    for round_ in range(ROUNDS):
        if not left:
            break
        if round_ and set_count(counts[0]):
            one.append(_timed(run, reps))
        typical = statistics.median(one)
        for k in list(left):
            if not set_count(k):
                left.remove(k)
                continue
            times.setdefault(k, []).append(_timed(run, reps))
            if times[k][-1] > DROP * typical:
                left.remove(k)
        if all(abs(times[k][-1] / typical - 1) > 2 * MARGIN for k in left):
            break  # every count left is clearly faster or slower
    _STATE.idle = idle
    return {k: statistics.median(v) for k, v in times.items() if v}


def _one_thread(run) -> tuple[list, int, float | None]:
    """Timed runs on one thread: ``(seconds per pass, repeats per run, idle CPUs)``.

    A first pass warms the buffers and sets the repeats per run; the
    machine's runnable threads are counted around each run.
    """
    samples = [_running_threads()]
    first = _timed(run, 1)
    samples.append(_running_threads())
    reps = max(1, min(64, int(RUN_SECONDS / max(first, 1e-7))))
    one = []
    for _ in range(IDLE_RUNS):
        one.append(_timed(run, reps))
        samples.append(_running_threads())
    return one, reps, _idle_cpus(samples)


def _settled(run, limit: float, deadline: float) -> bool:
    """Run passes until one takes at most ``limit`` seconds (True) or the deadline passes."""
    while True:
        if _timed(run, 1) <= limit:
            return True
        if time.perf_counter() > deadline:
            return False


def best_count(times: dict, margin: float = MARGIN) -> int:
    """The fastest count, fewer threads winning unless more are ``margin`` faster."""
    counts = sorted(times)
    best = counts[0]
    for k in counts[1:]:
        if times[k] < times[best] * (1 - margin):
            best = k
    return best


def candidate_counts(limit: int) -> list[int]:
    """1, the limit, and half the limit when it is 4 or more."""
    return sorted({1, limit} | ({limit // 2} if limit >= 4 else set()))


# ---------------------------------------------------------------------------
# The region.
# ---------------------------------------------------------------------------
class BlasThreads:
    """One call's hold on numpy's BLAS threads: ``with BlasThreads() as threads``.

    Enter it once around a fit or a prediction; call :meth:`start` with the
    call's :class:`Probe` once the data are known, and, in a mini-batch fit,
    call the function :meth:`each_epoch` returns after every epoch. See the
    module docstring for the policy.

    Attributes
    ----------
    count : int or None
        The count this region set (None: it sets none).
    switchable : bool
        Whether the call may change its count midway (checked bitwise).
    """

    def __init__(self) -> None:
        self.owner = False  # first in: may set counts
        self._owns = False  # holds one of threadpoolctl's ownership counts
        self.limit = 1
        self.count: int | None = None
        self.switchable = False
        self.probe: Probe | None = None
        self._fastest_epoch = math.inf
        self._last_tick = 0.0

    # -- entering and leaving -------------------------------------------------
    def __enter__(self) -> BlasThreads:
        blas = _blas()
        with _STATE.lock:
            _STATE.active += 1
            if _STATE.active == 1 and blas is not None:
                self._take(blas)
        return self

    def _take(self, blas: _Blas) -> None:
        """The first region in: note the caller's counts, put scipy's BLAS on one thread."""
        self._own()
        self.owner = True
        _STATE.saved = [(lc, lc.get_num_threads()) for lc in blas.numpy + blas.scipy]
        for lc in blas.scipy:
            lc.set_num_threads(1)
        if get_config()["thread_policy"] == "auto":
            self.limit = blas.numpy_threads()

    def __exit__(self, *exc) -> bool:
        with _STATE.lock:
            _STATE.active -= 1
            if _STATE.active == 0 and _STATE.saved is not None:
                self._restore()
            # Otherwise others are inside, on the count set here: it stays
            # until the last one leaves, which restores the caller's counts.
            self._disown()
            self.owner = False
        return False

    def _restore(self) -> None:
        self._own()
        blas = _blas()
        for lc, count in _STATE.saved:
            # A count someone else set meanwhile (not the one set here) stays.
            overridden = (
                self.count is not None and lc in blas.numpy and lc.get_num_threads() != self.count
            )
            if count and not overridden:
                lc.set_num_threads(count)
        _STATE.saved = None

    def _own(self) -> None:
        """Count this thread as setting limits, in threadpoolctl's protocol."""
        ownership = _ownership()
        if ownership is not None and not self._owns:
            ownership.increment()
            self._owns = True

    def _disown(self) -> None:
        """threadpoolctl releases the thread's control when its count reaches 0."""
        ownership = _ownership()
        if ownership is not None and self._owns:
            ownership.decrement()
        self._owns = False

    # -- choosing ---------------------------------------------------------------
    def _set(self, count: int) -> bool:
        """Set numpy's count, if this region may (first in, alone, not overridden)."""
        blas = _blas()
        if not self.owner or _STATE.active != 1:
            return False
        if self.count is not None and blas.numpy_threads() != self.count:
            self.owner = False  # someone else set a limit meanwhile: theirs holds
            self.count = None
            return False
        if blas.set_numpy(count):
            self.count = count
            return True
        self.count = None
        return False

    def start(self, probe: Probe | None) -> None:
        """Choose the call's count: size rule, a fresh verdict, or a measurement."""
        if probe is None or not self.owner or self.limit <= 1:
            return
        self.probe = probe
        with _STATE.lock:
            if probe.largest < SMALL_PRODUCT:
                self._set(1)
                return
            verdict = _STATE.verdicts.get(probe.key + (self.limit,))
            if verdict is not None and verdict.expires > time.monotonic():
                if not self._confirm(verdict):
                    self._measure()
            elif probe.run is None:
                self._set(1)  # too short to measure, nothing known: the safe count
            else:
                self._measure()
            self.switchable = bool(_STATE.switchable.get(probe.signature))
        if not self.switchable:
            self.probe = None  # its buffers are not needed again
        self._last_tick = time.perf_counter()

    def _confirm(self, verdict: _Verdict) -> bool:
        """Set a fresh verdict's count; when it is more than one thread, a pass checks it.

        A machine that became busy makes a pass on several threads much
        slower at once: then measure again rather than run a whole call on
        them. (A machine that became quiet waits for the verdict to expire.)
        """
        run = self.probe.run
        if not self._set(verdict.count) or verdict.count == 1 or run is None:
            return True
        run.prepare()
        reps = max(1, min(64, int(RUN_SECONDS / max(verdict.seconds, 1e-7))))
        for _ in range(2):  # the first may wake threads that slept: a second chance
            seconds = _timed(run, reps)
            if seconds <= SLOWDOWN * verdict.seconds:
                return True
            if seconds > DROP * verdict.seconds:
                return False
        return False

    def _measure(self) -> None:
        """Time the probe under each candidate count, keep the verdict, set the best."""
        probe, counts = self.probe, candidate_counts(self.limit)
        began = time.perf_counter()
        times = measure(probe.run, counts, self._set, probe.passes)
        if not times or not self.owner:
            return
        best = best_count(times)
        self._learn_switchable(times)
        key = probe.key + (self.limit,)
        old = _STATE.verdicts.get(key)
        ttl = min(2 * old.ttl, TTL_MAX) if old is not None and old.count == best else TTL_MIN
        _STATE.verdicts[key] = _Verdict(best, times[best], time.monotonic() + ttl, ttl)
        _STATE.log.append(
            {
                "key": key,
                "seconds": times,
                "count": best,
                "ttl": ttl,
                "took": time.perf_counter() - began,
                "idle_cpus": _STATE.idle,
            }
        )
        self._set(best)

    def _learn_switchable(self, times: dict) -> None:
        """Check the fit's computations bitwise under every count, once per signature.

        Only while more threads are competitive (else the check would cost
        their slow runs, and the fit would not switch to them anyway).
        """
        probe = self.probe
        if probe.checks is None or probe.signature in _STATE.switchable:
            return
        one = times[min(times)]
        if any(k not in times or times[k] > DROP * one for k in candidate_counts(self.limit)):
            return
        digests = []
        for k in candidate_counts(self.limit):
            if not self._set(k):
                return
            digests.append(probe.checks())
        _STATE.switchable[probe.signature] = all(d == digests[0] for d in digests)

    # -- switching ----------------------------------------------------------------
    def each_epoch(self, callback: Callable | None) -> Callable | None:
        """``callback`` (a per-epoch ``record -> bool``), re-checking the count first.

        Returned unchanged when the call may not switch.
        """
        if not self.switchable:
            return callback

        def on_epoch_end(record) -> bool:
            self.tick()
            return bool(callback(record)) if callback is not None else False

        return on_epoch_end

    def tick(self) -> None:
        """At the end of an epoch: re-measure when the verdict expired or the epoch slowed."""
        if not self.switchable or self.probe is None:
            return
        now = time.perf_counter()
        epoch, self._last_tick = now - self._last_tick, now
        self._fastest_epoch = min(self._fastest_epoch, epoch)
        verdict = _STATE.verdicts.get(self.probe.key + (self.limit,))
        expired = verdict is None or verdict.expires <= time.monotonic()
        if not expired and epoch <= SLOWDOWN * self._fastest_epoch:
            return
        with _STATE.lock:
            if _STATE.active == 1 and self.owner:
                self._measure()
        self._fastest_epoch = math.inf
        self._last_tick = time.perf_counter()
