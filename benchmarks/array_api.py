#!/usr/bin/env python
"""ScratchMLPClassifier on numpy arrays, on torch tensors (array API dispatch), and torch.nn.

Usage::

    python benchmarks/array_api.py [--quick] [--sizes 20000,200000,1000000]
                                   [--dtypes float32,float64] [--threads 1 2]
                                   [--repeats N] [--epochs E] [--device cpu|cuda]
                                   [--json out.json] [--no-torch] [--smoke]

Workload W1 (784-256-128-10, relu, Adam, batch 200, 10 classes of Gaussian
blobs), in one process, side by side, per size, dtype and thread count:

* ``ours-numpy``: ``ScratchMLPClassifier.fit`` on numpy arrays (the numpy
  engine, ``_network.py``);
* ``ours-torch``: the same ``fit`` on torch tensors on ``--device`` with
  ``sklearn.config_context(array_api_dispatch=True)`` (the array API engine,
  ``_network_xp.py``), as shipped; fitted only up to ``--shipped-max-n``
  rows (its per-batch gather costs O(rows), see below), estimated above;
* ``ours-torch-rowgather``: the same fit with the batch gather replaced, in
  this script only, by a gather of rows of the C-ordered ``X`` (what the
  numpy engine does), to show the rest of the array API engine;
* ``torch.nn``: a plain ``torch.nn`` loop with the same architecture,
  optimizer and batch size on the same device (``torch_peer.py``).

Time per epoch: a fit of ``max_iter=E`` epochs (``tol=0``, no early stop)
divided by ``E``, median over ``--repeats`` alternating repeats, after an
untimed warm-up of each on a small subset. Threads: ``threadpool_limits(k)``
and ``torch.set_num_threads(k)`` around every timing, for every row.

Also: the per-batch cost of each gather, the L-BFGS host copies (theta to the
device and the gradient back, against one cost and gradient evaluation), and
a torch.profiler breakdown of a few batches of ours-torch and torch.nn.

See benchmarks/README.md.
"""

from __future__ import annotations

import os

# scikit-learn's array API dispatch needs scipy's, read once when scipy is imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch_peer  # noqa: E402
from report import blas_info, cpu_info, versions  # noqa: E402
from workloads import NO_STOP, SEED, Workload, make_blobs_classification  # noqa: E402

from scratchmlp._arrays import ArrayAPIOps  # noqa: E402

D_IN, HIDDEN, CLASSES, BATCH, ALPHA, LR = 784, (256, 128), 10, 200, 1e-4, 1e-3
SIZES = [D_IN, *HIDDEN, CLASSES]
IMPLS = ("ours-numpy", "ours-torch", "ours-torch-rowgather", "torch.nn")
#: The library's batch gather of the array API engine, as shipped.
SHIPPED_TAKE = ArrayAPIOps.take_samples


# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------
def _arguments(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 repeats, 1 epoch per fit")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, in seconds (the tests)")
    ap.add_argument(
        "--sizes",
        default="20000,200000,1000000",
        help="training rows, comma-separated (default 20000,200000,1000000)",
    )
    ap.add_argument("--dtypes", default="float32", help="float32, float64 or float32,float64")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="default 1 2")
    ap.add_argument("--repeats", type=int, default=None, help="default 3, --quick 2")
    ap.add_argument(
        "--epochs", type=int, default=None, help="epochs per fit (default 2, --quick 1)"
    )
    ap.add_argument("--device", default="cpu", help="torch device: cpu or cuda")
    ap.add_argument(
        "--shipped-max-n",
        type=int,
        default=20000,
        help="fit ours-torch as shipped up to this many rows; above, estimate it (default 20000)",
    )
    ap.add_argument("--lbfgs-n", type=int, default=20000, help="rows of the L-BFGS copy probe")
    ap.add_argument("--profile-n", type=int, default=20000, help="rows of the profiled batches")
    ap.add_argument("--profile-batches", type=int, default=20, help="batches profiled")
    ap.add_argument(
        "--thread-policy",
        default="off",
        help="scratchmlp's thread_policy; 'off' (default): the products use the k threads set",
    )
    ap.add_argument("--no-torch", action="store_true", help="the numpy rows only")
    ap.add_argument("--json", default=None, help="write every number to this JSON file")
    args = ap.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.dtypes = [d.strip() for d in args.dtypes.split(",")]
    args.warm_n = 2000
    if args.smoke:
        args.sizes, args.threads, args.warm_n = [1000], [1], 400
        args.shipped_max_n, args.lbfgs_n = 10**9, 1000
        args.profile_n, args.profile_batches = 1000, 3
        args.repeats, args.epochs = args.repeats or 1, args.epochs or 1
    args.repeats = args.repeats or (2 if args.quick else 3)
    args.epochs = args.epochs or (1 if args.quick else 2)
    return args


#: Set by --no-torch: the run then never imports torch.
NO_TORCH = [False]


def _torch():
    """torch, or None when it is not installed (or --no-torch)."""
    if NO_TORCH[0]:
        return None
    try:
        import torch
    except ImportError:
        return None
    return torch


def _estimator(epochs, solver="adam"):
    from scratchmlp import ScratchMLPClassifier

    return ScratchMLPClassifier(
        hidden_layer_sizes=HIDDEN,
        activation="relu",
        solver=solver,
        alpha=ALPHA,
        batch_size=BATCH,
        learning_rate_init=LR,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=NO_STOP,
        shuffle=True,
        random_state=SEED,
    )


@contextlib.contextmanager
def _threads(k):
    """``k`` threads for numpy's BLAS (threadpoolctl) and for torch's intra-op pool."""
    from threadpoolctl import threadpool_limits

    torch = _torch()
    before = None if torch is None else torch.get_num_threads()
    with threadpool_limits(limits=k):
        if torch is not None:
            torch.set_num_threads(k)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(before)


def _sync(device):
    if str(device).startswith("cuda"):
        _torch().cuda.synchronize()


# ---------------------------------------------------------------------------
# The batch gathers
# ---------------------------------------------------------------------------
def _shipped_take(ops, A0, Y, s, idx):
    """The library's ``ArrayAPIOps.take_samples`` (kept from import, before any patch)."""
    return SHIPPED_TAKE(ops, A0, Y, s, idx)


def _take_rows(ops, A0, Y, s, idx):
    """``ArrayAPIOps.take_samples`` gathering rows of ``A0.T`` (the C-ordered X).

    The library's gathers columns of ``A0 = X.T``: ``take(X.T, idx, axis=1)``,
    which torch on CPU computes in time proportional to all of X. This takes
    the rows ``idx`` of X, contiguous, and transposes the result (a view), as
    the numpy engine's ``gather_columns`` does. Same values.
    """
    if isinstance(idx, slice) or A0 is None:
        return _shipped_take(ops, A0, Y, s, idx)
    xp, idx = ops.xp, ops.from_host(idx)
    return (
        xp.take(A0.T, idx, axis=0).T,
        xp.take(Y, idx, axis=1),
        None if s is None else xp.take(s, idx, axis=0),
    )


@contextlib.contextmanager
def _row_gather(on=True):
    """Within: the array API engine gathers batches by rows (:func:`_take_rows`)."""
    if not on:
        yield
        return
    ArrayAPIOps.take_samples = _take_rows
    try:
        yield
    finally:
        ArrayAPIOps.take_samples = SHIPPED_TAKE


def _dispatch():
    from sklearn import config_context

    return config_context(array_api_dispatch=True)


def _ops_of(Xt):
    from scratchmlp._namespace import namespace_of

    with _dispatch():
        return namespace_of(Xt)


def _one_hot(ops, y, dtype):
    """The targets as the engine takes them: (n[L], m) in ``dtype``, on the device."""
    Y = np.zeros((CLASSES, len(y)), dtype=np.float64)
    Y[y, np.arange(len(y))] = 1
    return ops.from_host(Y, dtype)


def _median_time(fn, k, device):
    ts = []
    for _ in range(k):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def gather_probe(Xt, y, ops, device, k_shipped=3, k_rows=30):
    """Median seconds of one batch's gather: as shipped, and by rows."""
    n = Xt.shape[0]
    A0, Y = Xt.T, _one_hot(ops, y, Xt.dtype)
    # The batches drawn before the timings (a choice without replacement is O(n) itself).
    order = np.random.RandomState(SEED).permutation(n)
    batches = iter(np.resize(order, (k_shipped + k_rows + 1, BATCH)))
    shipped = _median_time(
        lambda: _shipped_take(ops, A0, Y, None, next(batches)), k_shipped, device
    )
    rows = _median_time(lambda: _take_rows(ops, A0, Y, None, next(batches)), k_rows, device)
    idx = next(batches)
    a, b = _shipped_take(ops, A0, Y, None, idx), _take_rows(ops, A0, Y, None, idx)
    same = all(bool(ops.xp.all(p == q)) for p, q in zip(a[:2], b[:2]))
    return dict(shipped=shipped, rows=rows, same_values=same)


# ---------------------------------------------------------------------------
# The timed fits
# ---------------------------------------------------------------------------
def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on max_iter is the point
        est.fit(X, y)
    return est


def _runner(impl, X, y, Xt, yt, epochs, device, threads, dtype):
    """A function doing one timed fit of ``impl``: ``() -> (seconds, loss)``."""
    if impl == "torch.nn":
        w = Workload(
            name="W1-f32" if dtype == np.float32 else "W1-f64",
            description="",
            task="clf",
            n=len(y),
            d=D_IN,
            n_out=CLASSES,
            hidden=HIDDEN,
            params=dict(activation="relu", solver="adam", batch_size=BATCH, max_iter=epochs),
            dtype=dtype,
        )
        job = torch_peer.make_job(w, X, y, threads, device=device)

        def run():
            gc.collect()
            _sync(device)
            t0 = time.perf_counter()
            loss = job(epochs)
            _sync(device)
            return time.perf_counter() - t0, loss

        return run

    def run():
        est = _estimator(epochs)
        gc.collect()
        if impl == "ours-numpy":
            t0 = time.perf_counter()
            _fit(est, X, y)
            return time.perf_counter() - t0, est.loss_
        with _dispatch(), _row_gather(impl == "ours-torch-rowgather"):
            _sync(device)
            t0 = time.perf_counter()
            _fit(est, Xt, yt)
            _sync(device)
            return time.perf_counter() - t0, est.loss_

    return run


def time_fits(impls, X, y, Xt, yt, args, k, dtype):
    """Per-epoch seconds of each implementation: warm-ups, then alternating repeats."""
    warm = min(args.warm_n, len(y))
    for impl in impls:
        ws = None if Xt is None else Xt[:warm]
        wy = None if yt is None else yt[:warm]
        _runner(impl, X[:warm], y[:warm], ws, wy, 1, args.device, k, dtype)()
    runs = {i: _runner(i, X, y, Xt, yt, args.epochs, args.device, k, dtype) for i in impls}
    out = {i: dict(per_epoch=[], loss=[]) for i in impls}
    for _ in range(args.repeats):
        for impl in impls:
            seconds, loss = runs[impl]()
            out[impl]["per_epoch"].append(seconds / args.epochs)
            out[impl]["loss"].append(float(loss))
    for r in out.values():
        r["median"] = statistics.median(r["per_epoch"])
        r["min"], r["max"] = min(r["per_epoch"]), max(r["per_epoch"])
    return out


# ---------------------------------------------------------------------------
# L-BFGS: the host copies of each cost and gradient evaluation
# ---------------------------------------------------------------------------
def lbfgs_copies(Xt, yt, y, args, k):
    """Seconds of ``set_theta`` (host float64 -> device), of one evaluation, of the copy back."""
    n = min(args.lbfgs_n, len(y))
    est = _estimator(1, solver="lbfgs")
    with _dispatch():
        _fit(est, Xt[:n], yt[:n])
    net = est._model.network
    ops, device = net.ops, args.device
    A0, Y = Xt[:n].T, _one_hot(ops, y[:n], net.dtype)
    workspace = net.engine.Workspace.for_network(net, n)
    theta = ops.to_host(net.theta).astype(np.float64)  # scipy's iterate
    evals = 3 if args.smoke else 10
    copy_in, evaluation, copy_out = [], [], []
    for _ in range(evals + 1):  # the first is a warm-up
        _sync(device)
        t0 = time.perf_counter()
        net.set_theta(theta)
        _sync(device)
        t1 = time.perf_counter()
        J, grad = net.engine.cost_and_gradient(net, A0, Y, None, ALPHA, workspace)
        _sync(device)
        t2 = time.perf_counter()
        g = ops.to_host(grad.flat).astype(np.float64)  # as _lbfgs._objective returns it
        t3 = time.perf_counter()
        copy_in.append(t1 - t0)
        evaluation.append(t2 - t1)
        copy_out.append(t3 - t2)
    assert g.shape == theta.shape and math.isfinite(J)
    med = {
        name: statistics.median(ts[1:])
        for name, ts in (("copy_in", copy_in), ("evaluation", evaluation), ("copy_out", copy_out))
    }
    copies = med["copy_in"] + med["copy_out"]
    med["fraction"] = copies / (copies + med["evaluation"])
    med.update(n=n, n_params=int(theta.size), itemsize=ops.itemsize(net.dtype), threads=k)
    return med


def pcie_arithmetic(r, dtype, gbps=25.0, latency_us=10.0, tflops=30.0):
    """What the same copies would take over PCIe, by arithmetic only (nothing measured)."""
    bytes_in = r["n_params"] * 8  # the float64 iterate goes over, then is cast there
    bytes_out = r["n_params"] * r["itemsize"]
    copy_s = (bytes_in + bytes_out) / (gbps * 1e9) + 2 * latency_us * 1e-6
    products = sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:]))
    below_input = sum(a * b for a, b in zip(SIZES[1:-1], SIZES[2:]))
    flop = 2 * r["n"] * (2 * products + below_input)
    eval_s = flop / (tflops * 1e12)
    return dict(
        bytes_in=bytes_in,
        bytes_out=bytes_out,
        copy_s=copy_s,
        gflop=flop / 1e9,
        eval_s=eval_s,
        fraction=copy_s / (copy_s + eval_s),
        assumptions=f"{gbps:g} GB/s each way, {latency_us:g} us per transfer, "
        f"evaluation at {tflops:g} TFLOP/s ({np.dtype(dtype).name})",
    )


# ---------------------------------------------------------------------------
# Profile: where a batch's time goes
# ---------------------------------------------------------------------------
MATMUL = {"aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear", "aten::dot"}
GATHER = {"aten::index_select", "aten::index", "aten::take", "aten::gather", "aten::embedding"}


def _ours_loop(Xt, y, args, take):
    """Batches of ours-torch through the engine, as ``run_epoch`` runs them."""
    torch = _torch()
    est = _estimator(1)
    with _dispatch():
        _fit(est, Xt[: args.warm_n], torch.as_tensor(y[: args.warm_n], device=Xt.device))
    net, optimizer = est._model.network, est._model.optimizer
    ops = net.ops
    A0, Y = Xt.T, _one_hot(ops, y, net.dtype)
    workspace = net.engine.Workspace.for_network(net, BATCH)
    order = np.random.RandomState(SEED).permutation(len(y))

    def loop(batches):
        for b in range(batches):
            idx = order[b * BATCH : (b + 1) * BATCH]
            A0b, Yb, _ = take(ops, A0, Y, None, idx)
            J, grad = net.engine.cost_and_gradient(net, A0b, Yb, None, ALPHA, workspace)
            if not np.isfinite(J):
                raise FloatingPointError(J)
            optimizer.step(net.theta, grad.flat)

    return loop


def _peer_loop(Xt, y):
    torch = _torch()
    torch.manual_seed(0)
    step = torch_peer.make_step(SIZES, Xt.dtype, LR, ALPHA, BATCH, Xt.device)
    yt = torch.as_tensor(y, device=Xt.device)
    order = torch.randperm(len(y), device=Xt.device)

    def loop(batches):
        for b in range(batches):
            idx = order[b * BATCH : (b + 1) * BATCH]
            step(Xt[idx], yt[idx])

    return loop


def profile_batches(Xt, y, args):
    """Per batch: wall time unprofiled, and torch.profiler's op self-times by kind."""
    from torch.profiler import ProfilerActivity, profile

    n = min(args.profile_n, len(y))
    Xt, y = Xt[:n], y[:n]
    k = min(args.profile_batches, n // BATCH)
    loops = {
        "ours-torch": _ours_loop(Xt, y, args, _shipped_take),
        "ours-torch-rowgather": _ours_loop(Xt, y, args, _take_rows),
        "torch.nn": _peer_loop(Xt, y),
    }
    activities = [ProfilerActivity.CPU]
    if str(args.device).startswith("cuda"):
        activities.append(ProfilerActivity.CUDA)
    out = {}
    with _threads(1):
        for name, loop in loops.items():
            loop(2)  # warm
            wall = _median_time(lambda loop=loop: loop(k), 3, args.device) / k
            with profile(activities=activities) as prof:
                loop(k)
                _sync(args.device)
            kinds = dict(matmul=0.0, gather=0.0, other_ops=0.0)
            outermost = 0
            for e in prof.events():
                names, parent = [e.name], e.cpu_parent
                while parent is not None:
                    names.append(parent.name)
                    parent = parent.cpu_parent
                # An op counts for the first gather or product it runs in (a gather's
                # copy is the gather's), else as another op.
                kind = next(
                    ("gather" if a in GATHER else "matmul" for a in names if a in GATHER | MATMUL),
                    "other_ops",
                )
                kinds[kind] += e.self_cpu_time_total * 1e-6 / k
                outermost += e.name.startswith("aten::") and not any(
                    a.startswith("aten::") for a in names[1:]
                )
            table = sorted(
                (
                    (e.self_cpu_time_total * 1e-6 / k, e.count / k, e.key)
                    for e in prof.key_averages()
                ),
                reverse=True,
            )
            out[name] = dict(
                wall=wall,
                **kinds,
                outside_ops=wall - sum(kinds.values()),
                aten_calls=outermost / k,
                top=[dict(op=key, self_s=s, calls=c) for s, c, key in table[:8]],
            )
    return dict(n=n, batches=k, threads=1, loops=out)


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------
def torch_info():
    torch = _torch()
    if torch is None:
        return None
    config = torch.__config__.show()
    keys = "BLAS_INFO|LAPACK_INFO|USE_MKL|USE_MKLDNN|USE_OPENMP"
    build = dict(re.findall(rf"\b({keys})=([^,\n]*)", config))
    mkl = re.search(r"Math Kernel Library Version ([^\n]*?) for", config)
    build["MKL"] = mkl.group(1) if mkl else None
    parallel = [
        line.strip()
        for line in torch.__config__.parallel_info().splitlines()
        if line.startswith("ATen parallel backend")
    ]
    return dict(
        version=torch.__version__,
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
        build=build,
        parallel=parallel,
        cuda=torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    )


def print_header(info, args):
    c, v, t = info["machine"], info["versions"], info["torch"]
    print("=" * 100)
    print("W1 on numpy, on torch tensors through array API dispatch, and a torch.nn loop")
    print("=" * 100)
    print(
        f"CPU      : {c['model']} | logical CPUs {c['logical_cpus']}, usable {c['usable_cpus']} "
        f"| SIMD {','.join(c['simd']) or '-'}"
    )
    print("versions : " + ", ".join(f"{key} {v[key]}" for key in v))
    for b in info["blas"]:
        print(
            f"threadpoolctl: {b['owner']:<10} {b['user_api']:<7} {b['internal_api']:<9} "
            f"version={b['version']} kernel={b['architecture']} threading={b['threading_layer']} "
            f"({b['file']})"
        )
    if t is not None:
        print(
            f"torch    : {t['version']}, CPU capability {t['cpu_capability']}, "
            f"{' '.join(f'{k}={val}' for k, val in t['build'].items())}; cuda device {t['cuda']}"
        )
        for line in t["parallel"]:
            print(f"           {line}")
    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    print("env      : " + ", ".join(f"{k}={'<unset>' if x is None else x}" for k, x in env.items()))
    la = info["loadavg_start"]
    print(f"load avg : {la[0]:.2f} {la[1]:.2f} {la[2]:.2f} at start")
    print(
        f"run      : sizes={args.sizes} dtypes={args.dtypes} threads={args.threads} "
        f"repeats={args.repeats} epochs per fit={args.epochs} device={args.device} "
        f"thread_policy={args.thread_policy} shipped ours-torch fitted up to "
        f"n={args.shipped_max_n}"
    )
    print()
    sys.stdout.flush()


def _f(x, width=9, digits=3):
    return f"{'-':>{width}}" if x is None else f"{x:{width}.{digits}f}"


def summary_rows(timings):
    """One row per (dtype, n, threads): medians, the shipped estimate, the ratios."""
    rows = []
    for t in timings:
        med = {i: r["median"] for i, r in t["fits"].items()}
        g = t.get("gather")
        shipped, estimated = med.get("ours-torch"), False
        if shipped is None and g is not None and "ours-torch-rowgather" in med:
            extra = math.ceil(t["n"] / BATCH) * (g["shipped"] - g["rows"])
            shipped, estimated = med["ours-torch-rowgather"] + extra, True
        rows.append(
            dict(
                dtype=t["dtype"],
                n=t["n"],
                threads=t["threads"],
                numpy=med.get("ours-numpy"),
                torch=shipped,
                torch_estimated=estimated,
                rowgather=med.get("ours-torch-rowgather"),
                nn=med.get("torch.nn"),
            )
        )
    for r in rows:
        num, tor, rg, nn = r["numpy"], r["torch"], r["rowgather"], r["nn"]
        r["torch/numpy"] = None if tor is None else tor / num
        r["torch/nn"] = None if tor is None or nn is None else tor / nn
        r["rowgather/numpy"] = None if rg is None else rg / num
        r["rowgather/nn"] = None if rg is None or nn is None else rg / nn
        r["numpy/nn"] = None if nn is None else num / nn
    return rows


def print_summary(rows, args):
    print("=" * 100)
    print(
        f"SECONDS PER EPOCH (median of {args.repeats} fits of {args.epochs} epoch(s), divided; "
        "* = ours-torch estimated, see above)"
    )
    print("=" * 100)
    hdr = (
        f"{'dtype':<8}{'n':>9}{'thr':>4} {'numpy':>9} {'torch':>10} {'torch-rg':>9} {'torch.nn':>9}"
        f"  {'torch/np':>9} {'torch/nn':>9} {'rg/np':>7} {'rg/nn':>7} {'np/nn':>7}"
    )
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        star = "*" if r["torch_estimated"] else " "
        print(
            f"{r['dtype']:<8}{r['n']:>9}{r['threads']:>4} {_f(r['numpy'])} "
            f"{_f(r['torch'])}{star} {_f(r['rowgather'])} {_f(r['nn'])}  "
            f"{_f(r['torch/numpy'], 9, 2)} {_f(r['torch/nn'], 9, 2)} "
            f"{_f(r['rowgather/numpy'], 7, 2)} {_f(r['rowgather/nn'], 7, 2)} "
            f"{_f(r['numpy/nn'], 7, 2)}"
        )
    print(
        "torch = ours-torch as shipped; torch-rg = ours-torch with the row gather of this script; "
        "np = ours-numpy; nn = torch.nn"
    )
    print()


def print_fits(t, args):
    print(f"  {t['dtype']} n={t['n']} threads={t['threads']}  (seconds per epoch, losses)")
    for impl, r in t["fits"].items():
        print(
            f"    {impl:<22}{r['median']:9.3f} s [{r['min']:.3f} - {r['max']:.3f}]  "
            f"loss {statistics.median(r['loss']):.6f}"
        )
    fits = t["fits"]
    if "ours-torch" in fits and "ours-torch-rowgather" in fits:
        a, b = fits["ours-torch"]["loss"], fits["ours-torch-rowgather"]["loss"]
        print(f"    ours-torch and its row-gather variant: the same losses {a == b}")
    g = t.get("gather")
    if g is not None:
        batches = math.ceil(t["n"] / BATCH)
        print(
            f"    gather of one batch: as shipped {g['shipped'] * 1e3:.2f} ms, by rows "
            f"{g['rows'] * 1e3:.3f} ms (same values: {g['same_values']}); "
            f"x {batches} batches = {batches * g['shipped']:.1f} s / epoch as shipped"
        )
        if "ours-torch-rowgather" in fits:
            estimate = fits["ours-torch-rowgather"]["median"] + batches * (g["shipped"] - g["rows"])
            measured = fits["ours-torch"]["median"] if "ours-torch" in fits else None
            print(
                f"    ours-torch estimated (row-gather fit + {batches} x the gathers' difference): "
                f"{estimate:.3f} s / epoch"
                + ("" if measured is None else f"; measured {measured:.3f} s / epoch")
            )
    sys.stdout.flush()


def print_lbfgs(results, arithmetic):
    print("=" * 100)
    print("L-BFGS: host copies per cost-and-gradient evaluation (ours-torch, medians)")
    print("=" * 100)
    for r in results:
        print(
            f"  {r['dtype']} n={r['n']} threads={r['threads']}: set_theta (float64 host -> "
            f"device) {r['copy_in'] * 1e6:.0f} us, cost_and_gradient "
            f"{r['evaluation'] * 1e3:.1f} ms, "
            f"to_host(grad).astype(float64) {r['copy_out'] * 1e6:.0f} us -> copies "
            f"{100 * r['fraction']:.2f}% of an evaluation ({r['n_params']} parameters)"
        )
    for a in arithmetic:
        print(
            f"  ARITHMETIC, NOT MEASURED ({a['dtype']} n={a['n']}; {a['assumptions']}): "
            f"{a['bytes_in'] / 1e6:.2f} MB in + {a['bytes_out'] / 1e6:.2f} MB out = "
            f"{a['copy_s'] * 1e6:.0f} us; {a['gflop']:.1f} GFLOP = {a['eval_s'] * 1e3:.2f} ms; "
            f"the copies would be {100 * a['fraction']:.0f}% of an evaluation"
        )
    print()


def print_profile(p):
    print("=" * 100)
    print(
        f"PROFILE: {p['batches']} batches of n={p['n']}, {p['threads']} thread, per batch "
        "(torch.profiler op self CPU times; outside = unprofiled wall - op times)"
    )
    print("=" * 100)
    for name, r in p["loops"].items():
        print(
            f"  {name:<22} wall {r['wall'] * 1e3:7.2f} ms: matmul {r['matmul'] * 1e3:6.2f}, "
            f"gather {r['gather'] * 1e3:6.2f}, other ops {r['other_ops'] * 1e3:6.2f}, "
            f"outside ops {r['outside_ops'] * 1e3:6.2f} ms; {r['aten_calls']:.0f} aten "
            "calls (outermost)"
        )
        print(
            "      top: "
            + ", ".join(f"{o['op']} {o['self_s'] * 1e3:.2f} ms x{o['calls']:.0f}" for o in r["top"])
        )
    print()


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------
def main(argv=None):
    args = _arguments(argv)
    NO_TORCH[0] = args.no_torch
    torch = _torch()
    if torch is None:
        print("torch is not used (--no-torch, or not installed): the numpy rows only\n")
    import sklearn

    from scratchmlp import config_context

    t_start = time.perf_counter()
    info = dict(
        machine=cpu_info(),
        versions=versions(),
        blas=blas_info(),
        torch=torch_info() if torch is not None else None,
        loadavg_start=os.getloadavg(),
        sklearn=sklearn.__version__,
        args={k: v for k, v in vars(args).items()},
    )
    print_header(info, args)
    timings, lbfgs, arithmetic, profile = [], [], [], None
    with config_context(thread_policy=args.thread_policy):
        for dname in args.dtypes:
            dtype = np.dtype(dname).type
            X_all, y_all = make_blobs_classification(max(args.sizes), D_IN, CLASSES, dtype)
            for n in args.sizes:
                X, y = X_all[:n], y_all[:n]
                Xt = yt = ops = None
                impls = ["ours-numpy"]
                if torch is not None:
                    Xt = torch.from_numpy(X).to(args.device)
                    yt = torch.from_numpy(y).to(args.device)
                    ops = _ops_of(Xt)
                    impls += (["ours-torch"] if n <= args.shipped_max_n else []) + [
                        "ours-torch-rowgather",
                        "torch.nn",
                    ]
                for k in args.threads:
                    t0 = time.perf_counter()
                    with _threads(k):
                        t = dict(dtype=dname, n=n, threads=k)
                        if torch is not None:
                            t["gather"] = gather_probe(
                                Xt, y, ops, args.device, k_shipped=1 if args.smoke else 3
                            )
                        t["fits"] = time_fits(impls, X, y, Xt, yt, args, k, dtype)
                    t["wall_seconds"] = time.perf_counter() - t0
                    timings.append(t)
                    print_fits(t, args)
                    print(f"    ({t['wall_seconds']:.0f} s; load avg {os.getloadavg()[0]:.2f})")
                if torch is not None and n == min(args.sizes):
                    for k in args.threads:
                        with _threads(k):
                            r = lbfgs_copies(Xt, yt, y, args, k)
                        r["dtype"] = dname
                        lbfgs.append(r)
                    if args.device == "cpu":
                        arithmetic.append(dict(pcie_arithmetic(r, dtype), dtype=dname, n=r["n"]))
                    if profile is None:
                        profile = profile_batches(Xt, y, args)
                del Xt, yt
            del X_all, y_all
            gc.collect()
    print()
    rows = summary_rows(timings)
    print_summary(rows, args)
    if lbfgs:
        print_lbfgs(lbfgs, arithmetic)
    if profile is not None:
        print_profile(profile)
    total = time.perf_counter() - t_start
    print(f"total wall time {total:.0f} s; load avg at end {os.getloadavg()[0]:.2f}")
    result = dict(
        info=info,
        timings=timings,
        summary=rows,
        lbfgs=lbfgs,
        lbfgs_arithmetic=arithmetic,
        profile=profile,
        total_seconds=total,
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2, default=str)
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
