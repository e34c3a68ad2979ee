#!/usr/bin/env python
"""Benchmark scratchmlp's ScratchMLP* against scikit-learn's MLP* in one process.

Usage::

    python benchmarks/bench.py [--quick] [--threads 1 2] [--repeats N]
                               [--workloads W1,W2,...] [--json out.json]
                               [--no-memory]

For each workload and each BLAS thread count ``k`` (``threadpoolctl``'s
``threadpool_limits(limits=k)`` around every timing), the two estimators are
fitted on the same data with the same hyper-parameters, alternating
(ours, sklearn, ours, sklearn, ...), after one small untimed warm-up of each.
Stochastic solvers run a fixed number of epochs (``tol=0``,
``n_iter_no_change`` huge), L-BFGS a fixed ``max_iter`` with ``tol=0``, so the
two do the same work and their final training losses are comparable.

The "GEMM" time is a lower bound: only the matrix products of the same
training (per batch: forward ``A @ W``, backward ``dW = A.T @ D`` and
``dA = D @ W.T``, same shapes and dtype, same number of batches and epochs, or
of cost evaluations for L-BFGS), timed with numpy on preallocated buffers.

Peak memory is measured in a fresh subprocess per measurement with
``tracemalloc`` (numpy registers its data allocations with it), started after
the data and the model are loaded, plus the growth of the peak resident set
size over the same step (``VmHWM`` of /proc/self/status after resetting it via
/proc/self/clear_refs; ``ru_maxrss`` is unusable here because Linux carries
the parent's peak over into a forked child). W6 measures only memory, at
scale (1,000,000 x 100 float32, generated inside each subprocess): ``fit``
with adam, adam + early stopping, lbfgs, and ``predict_proba``.

See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import pickle
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_peer  # noqa: E402  (PyTorch as a peer where installed)
from busy import busy_core  # noqa: E402

# A huge n_iter_no_change: with tol=0 the stopping rule never fires, so every
# fit runs exactly max_iter epochs.
NO_STOP = 10**9
SEED = 0


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------
def make_blobs_classification(n, d, n_classes, dtype, seed=SEED, sep=4.0, clusters_per_class=2):
    """Gaussian blobs, ``clusters_per_class`` per class (so not linearly separable).

    Centers are random with expected pairwise distance about ``sep`` in units of
    the unit-variance noise, so the classes overlap a little and the training
    loss stays meaningful (well above 0, well below log(n_classes)).
    """
    rng = np.random.RandomState(seed)
    n_centers = n_classes * clusters_per_class
    centers = rng.randn(n_centers, d) * (sep / math.sqrt(2 * d))
    center_of = rng.randint(n_centers, size=n)
    y = center_of % n_classes
    X = np.empty((n, d), dtype=dtype)
    chunk = 20000  # generate in float64 chunks to bound the temporary memory
    for s in range(0, n, chunk):
        e = min(s + chunk, n)
        X[s:e] = centers[center_of[s:e]] + rng.randn(e - s, d)
    return X, y


def make_regression_teacher(n, d, dtype, seed=SEED, width=16, noise=0.1):
    """y from a random one-hidden-layer tanh teacher plus noise, standardised."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    U = rng.randn(d, width) / math.sqrt(d)
    v = rng.randn(width)
    y = np.tanh(2.0 * X @ U) @ v + 0.3 * (X[:, 0] * X[:, 1]) + noise * rng.randn(n)
    y = (y - y.mean()) / y.std()
    return X.astype(dtype), y.astype(dtype)


# ---------------------------------------------------------------------------
# Workloads
# ---------------------------------------------------------------------------
@dataclass
class Workload:
    name: str
    description: str
    task: str  # "clf" or "reg"
    n: int
    d: int
    n_out: int  # classes for clf, outputs for reg
    hidden: tuple
    params: dict
    dtype: type
    kind: str = "fit"  # "fit", "predict", or "memory" (peak memory only)
    predict_n: int = 0  # rows of the predict_proba matrix (kind == "predict")
    fit_subset: int = 0  # rows used for the brief fit (kind "predict" / "memory")
    fit_memory: bool = False  # also measure peak memory of fit
    extra: dict = field(default_factory=dict)

    @property
    def layer_sizes(self):
        return [self.d, *self.hidden, self.n_out]

    def estimator_params(self):
        p = dict(
            hidden_layer_sizes=self.hidden,
            random_state=SEED,
            tol=0.0,
            n_iter_no_change=NO_STOP,
            shuffle=True,
        )
        p.update(self.params)
        return p


def build_workloads(quick: bool):
    ep1 = 1 if quick else 3
    ep3 = 3 if quick else 10
    lbfgs_iter = 20 if quick else 50
    W = []
    for dt, tag in ((np.float64, "f64"), (np.float32, "f32")):
        W.append(
            Workload(
                name=f"W1-{tag}",
                description="MNIST-shaped fit",
                task="clf",
                n=20000,
                d=784,
                n_out=10,
                hidden=(256, 128),
                params=dict(activation="relu", solver="adam", batch_size=200, max_iter=ep1),
                dtype=dt,
                fit_memory=True,
            )
        )
    W.append(
        Workload(
            name="W2",
            description="small-batch fit (per-batch overhead)",
            task="clf",
            n=20000,
            d=64,
            n_out=10,
            hidden=(100,),
            params=dict(activation="relu", solver="adam", batch_size=32, max_iter=ep1),
            dtype=np.float64,
        )
    )
    W.append(
        Workload(
            name="W3",
            description="regression, sgd + nesterov",
            task="reg",
            n=5000,
            d=20,
            n_out=1,
            hidden=(64, 64),
            params=dict(
                activation="tanh",
                solver="sgd",
                momentum=0.9,
                nesterovs_momentum=True,
                learning_rate_init=0.01,
                batch_size=64,
                max_iter=ep3,
            ),
            dtype=np.float64,
        )
    )
    W.append(
        Workload(
            name="W4",
            description="lbfgs full-batch fit",
            task="clf",
            n=2000,
            d=64,
            n_out=10,
            hidden=(100,),
            params=dict(activation="relu", solver="lbfgs", max_iter=lbfgs_iter),
            dtype=np.float64,
        )
    )
    W.append(
        Workload(
            name="W5",
            description="predict_proba, 784 -> (256,128) -> 10, float32",
            task="clf",
            n=20000,
            d=784,
            n_out=10,
            hidden=(256, 128),
            params=dict(activation="relu", solver="adam", batch_size=200, max_iter=1),
            dtype=np.float32,
            kind="predict",
            predict_n=50000 if quick else 200000,
            fit_subset=5000,
        )
    )
    # Memory only, the same size with or without --quick (which leaves it out
    # unless named): each case runs in a fresh subprocess that generates the
    # data itself (not counted in the peak).
    W.append(
        Workload(
            name="W6",
            description="peak memory at scale: fit (adam, early stopping, lbfgs), predict_proba",
            task="clf",
            n=1_000_000,
            d=100,
            n_out=10,
            hidden=(64,),
            params=dict(activation="relu", solver="adam", batch_size=200, max_iter=1,
                        early_stopping=False),
            dtype=np.float32,
            kind="memory",
            fit_subset=5000,
            extra=dict(cases=[
                # (label, operation, parameters changed from ``params``)
                ("fit adam", "fit", {}),
                ("fit adam early_stopping", "fit", dict(early_stopping=True)),
                ("fit lbfgs max_iter=2", "fit", dict(solver="lbfgs", max_iter=2)),
                ("predict_proba", "predict_proba", {}),
            ]),
        )
    )
    return W


#: Left out of the default list with --quick (W6 alone takes about 2 minutes);
#: still run when named in --workloads.
NOT_IN_QUICK = ("W6",)


def workload_data(w: Workload):
    if w.task == "clf":
        return make_blobs_classification(w.n, w.d, w.n_out, w.dtype)
    return make_regression_teacher(w.n, w.d, w.dtype)


def predict_data(w: Workload):
    X, _ = make_blobs_classification(w.predict_n, w.d, w.n_out, w.dtype, seed=SEED + 1)
    return X


def estimator_classes(task):
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    from scratchmlp import ScratchMLPClassifier, ScratchMLPRegressor

    if task == "clf":
        return ScratchMLPClassifier, MLPClassifier
    return ScratchMLPRegressor, MLPRegressor


# ---------------------------------------------------------------------------
# Machine and library info
# ---------------------------------------------------------------------------
def cpu_info():
    model, flags = "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model == "unknown":
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        model = platform.processor() or "unknown"
    logical = os.cpu_count()
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = logical
    physical = None
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
    except ImportError:
        pass
    simd = [f for f in ("avx", "avx2", "fma", "avx512f") if f in flags]
    return dict(model=model, logical_cpus=logical, usable_cpus=affinity,
                physical_cores=physical, simd=simd)


def versions():
    import scipy
    import sklearn

    import scratchmlp

    try:
        import threadpoolctl

        tpc = threadpoolctl.__version__
    except ImportError:
        tpc = None
    return dict(
        python=platform.python_version(),
        numpy=np.__version__,
        scipy=scipy.__version__,
        sklearn=sklearn.__version__,
        scratchmlp=scratchmlp.__version__,
        threadpoolctl=tpc,
        torch=torch_peer.torch_version(),
    )


def blas_info():
    from threadpoolctl import threadpool_info

    out = []
    for d in threadpool_info():
        fp = d.get("filepath", "")
        owner = next((p for p in ("numpy", "scipy", "scikit_learn", "torch") if f"{p}." in fp
                      or f"/{p}/" in fp), os.path.basename(os.path.dirname(fp)))
        out.append(
            dict(
                owner=owner,
                user_api=d.get("user_api"),
                internal_api=d.get("internal_api"),
                version=d.get("version"),
                architecture=d.get("architecture"),
                threading_layer=d.get("threading_layer"),
                num_threads=d.get("num_threads"),
                file=os.path.basename(fp),
            )
        )
    return out


def print_header(info):
    c = info["machine"]
    print("=" * 100)
    print("scratchmlp vs scikit-learn MLP benchmark")
    print("=" * 100)
    print(f"CPU      : {c['model']}  | logical CPUs {c['logical_cpus']}, usable {c['usable_cpus']}, "
          f"physical cores {c['physical_cores']}  | SIMD {','.join(c['simd']) or '-'}")
    print(f"platform : {platform.platform()}")
    v = info["versions"]
    print("versions : " + ", ".join(f"{k} {v[k]}" for k in v))
    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                         "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    print("env      : " + ", ".join(f"{k}={'<unset>' if v is None else v}" for k, v in env.items()))
    print("threadpoolctl.threadpool_info():")
    for b in info["blas"]:
        print(f"  - {b['owner']:<13} {b['user_api']:<7} internal_api={b['internal_api']:<9} "
              f"version={b['version']}  kernel/arch={b['architecture']}  "
              f"threading={b['threading_layer']}  num_threads={b['num_threads']}  ({b['file']})")
    la = info["loadavg_start"]
    print(f"load avg : {la[0]:.2f} {la[1]:.2f} {la[2]:.2f} (1/5/15 min) at start"
          + ("   WARNING: the machine is busy; timings (2 threads especially) will be noisy"
             if la[0] > 0.5 else ""))
    a = info["args"]
    print(f"run      : threads={a['threads']} repeats={a['repeats']} quick={a['quick']} "
          f"workloads={','.join(a['workloads'])} memory={a['memory']} busy={a['busy']} "
          f"thread_policy={a['thread_policy']}")
    print()


# ---------------------------------------------------------------------------
# Timing helpers
# ---------------------------------------------------------------------------
def stats(ts):
    return dict(median=statistics.median(ts), min=min(ts), max=max(ts), all=list(ts))


#: CPU seconds of the last ``timed`` call (process-wide, all threads).
LAST_CPU = [0.0]


def timed(fn):
    """Wall seconds and result of ``fn()``; its CPU seconds go to ``LAST_CPU``.

    On a shared machine, wall time also counts the time another tenant held
    the core; process CPU time does not, so the CPU-time ratio is the steadier
    figure with one thread (with two, it adds up both threads' time).
    """
    gc.collect()
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t0
    LAST_CPU[0] = time.process_time() - c0
    return wall, out


def fit_quiet(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on max_iter is the point
        est.fit(X, y)
    return est


class NfevRecorder:
    """Record ``nfev`` / ``nit`` of every ``scipy.optimize.minimize`` call.

    Both sklearn and scratchmlp call ``scipy.optimize.minimize`` through the
    module attribute, so swapping it for the duration of an untimed fit counts
    their cost evaluations without touching either library.
    """

    def __init__(self):
        self.calls = []

    def __enter__(self):
        import scipy.optimize

        self._mod = scipy.optimize
        self._orig = scipy.optimize.minimize
        orig, calls = self._orig, self.calls

        def minimize(*a, **k):
            res = orig(*a, **k)
            calls.append(dict(nfev=int(res.nfev), nit=int(res.nit)))
            return res

        scipy.optimize.minimize = minimize
        return self

    def __exit__(self, *exc):
        self._mod.minimize = self._orig
        return False


# ---------------------------------------------------------------------------
# GEMM lower bound
# ---------------------------------------------------------------------------
def batch_sizes(m, batch_size):
    full, rest = divmod(m, batch_size)
    return [batch_size] * full + ([rest] if rest else [])


class GemmPlan:
    """The matrix products of a forward (+ backward) pass, on preallocated buffers.

    Row layout (sklearn's): ``A[l]`` is (mb, n[l]), ``W[l]`` is (n[l-1], n[l]).
    Forward: ``A[l] = A[l-1] @ W[l]``. Backward: ``dW[l] = A[l-1].T @ D[l]`` and,
    for l > 1, ``D[l-1] = D[l] @ W[l].T``. The engine's column layout does the
    transposed products, with the same shapes and flop count.
    """

    def __init__(self, sizes, mb, dtype, backward=True, rng=None):
        rng = rng or np.random.RandomState(1)
        L = len(sizes) - 1
        r = lambda *s: (rng.standard_normal(s) * 0.1).astype(dtype)  # noqa: E731
        self.W = [None] + [r(sizes[l - 1], sizes[l]) for l in range(1, L + 1)]
        self.A = [r(mb, sizes[0])] + [np.empty((mb, sizes[l]), dtype) for l in range(1, L + 1)]
        self.D = [None] + [r(mb, sizes[l]) for l in range(1, L + 1)]
        self.dW = [None] + [np.empty_like(self.W[l]) for l in range(1, L + 1)]
        self.L, self.backward = L, backward
        # flops of one pass
        f = sum(2 * mb * sizes[l - 1] * sizes[l] for l in range(1, L + 1))
        if backward:
            f += sum(2 * mb * sizes[l - 1] * sizes[l] for l in range(1, L + 1))
            f += sum(2 * mb * sizes[l - 1] * sizes[l] for l in range(2, L + 1))
        self.flops = f

    def run(self):
        A, W, D, dW = self.A, self.W, self.D, self.dW
        for l in range(1, self.L + 1):
            np.matmul(A[l - 1], W[l], out=A[l])
        if self.backward:
            for l in range(self.L, 0, -1):
                np.matmul(A[l - 1].T, D[l], out=dW[l])
                if l > 1:
                    np.matmul(D[l], W[l].T, out=D[l - 1])


def make_gemm_job(sizes, dtype, batches, passes, backward=True):
    """A callable running ``passes`` x (all ``batches``) products, and its flops."""
    plans = {mb: GemmPlan(sizes, mb, dtype, backward) for mb in set(batches)}
    seq = [plans[mb] for mb in batches]

    def job():
        for _ in range(passes):
            for p in seq:
                p.run()

    flops = passes * sum(p.flops for p in seq)
    return job, flops


# ---------------------------------------------------------------------------
# Peak memory (fresh subprocess per measurement)
# ---------------------------------------------------------------------------
PROBE_FLAG = "--_memory-probe"


def _proc_status_kb(keys=("VmRSS", "VmHWM")):
    out = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in keys:
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def _peak_rss_baseline():
    """Reset the peak-RSS counter; return (baseline bytes, method)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current VmRSS
        st = _proc_status_kb()
        return st["VmRSS"] * 1024, "VmHWM after clear_refs - VmRSS"
    except (OSError, KeyError):
        import resource

        # Fallback: ru_maxrss growth (under-reports when the parent's peak,
        # inherited at fork, is above the child's).
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "ru_maxrss growth"


def _peak_rss_now(method):
    if method.startswith("VmHWM"):
        return _proc_status_kb()["VmHWM"] * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_probe(spec_path):
    """Child side: load, start tracemalloc, do one operation, report peaks."""
    import tracemalloc

    from threadpoolctl import threadpool_limits

    with open(spec_path) as f:
        spec = json.load(f)
    if spec.get("generate"):
        # W6: the data are generated here, from a seed, before the measurement
        g = spec["generate"]
        X, y = make_blobs_classification(g["n"], g["d"], g["n_classes"], np.dtype(g["dtype"]),
                                         seed=g["seed"])
    else:
        X = np.load(spec["X"])
        y = np.load(spec["y"]) if spec.get("y") else None
    ours, theirs = estimator_classes(spec["task"])
    cls = ours if spec["impl"] == "ours" else theirs
    if spec["op"] == "predict_proba" and spec.get("model"):
        with open(spec["model"], "rb") as f:
            est = pickle.load(f)
    elif spec["op"] == "predict_proba":
        # W6: a brief fit on the first rows, here, before the measurement
        k = spec["fit_rows"]
        with threadpool_limits(limits=1):
            est = fit_quiet(cls(**spec["params"]), X[:k], y[:k])
    else:
        est = cls(**spec["params"])
    gc.collect()
    with threadpool_limits(limits=1):
        # warm the BLAS / imports on a tiny input so their one-time buffers
        # are not counted against the operation
        if spec["op"] == "predict_proba":
            est.predict_proba(X[:8])
        else:
            fit_quiet(cls(**dict(spec["params"], max_iter=1)), X[:256], y[:256])
        gc.collect()
        rss0, method = _peak_rss_baseline()
        tracemalloc.start()
        t0 = time.perf_counter()
        if spec["op"] == "predict_proba":
            out = est.predict_proba(X)
            out_bytes = out.nbytes
        else:
            fit_quiet(est, X, y)
            out_bytes = 0
        dt = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss1 = _peak_rss_now(method)
    print(json.dumps(dict(tracemalloc_peak=peak, rss_delta=rss1 - rss0, rss_method=method,
                          out_bytes=out_bytes, input_bytes=X.nbytes, seconds=dt)))


def measure_memory(tmpdir, op, impl, task, X_path=None, y_path=None, model=None, params=None,
                   generate=None, fit_rows=None):
    """Peak memory of one operation in a fresh subprocess (see ``run_probe``).

    The data come from ``X_path`` / ``y_path`` (``.npy``), or, with
    ``generate`` (the arguments of ``make_blobs_classification``), are
    generated in the subprocess. ``predict_proba`` uses the pickled ``model``,
    or, without one, an estimator with ``params`` fitted in the subprocess on
    the first ``fit_rows`` rows.
    """
    spec = dict(op=op, impl=impl, task=task, X=X_path, y=y_path, params=params,
                generate=generate, fit_rows=fit_rows)
    if model is not None:
        mp = os.path.join(tmpdir, f"model_{impl}.pkl")
        with open(mp, "wb") as f:
            pickle.dump(model, f)
        spec["model"] = mp
    sp = os.path.join(tmpdir, f"spec_{op}_{impl}.json")
    with open(sp, "w") as f:
        json.dump(spec, f)
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), PROBE_FLAG, sp],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"memory probe failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


MB = 1024**2


def print_memory(label, mem):
    o, s = mem["ours"], mem["sklearn"]
    ratio = o["tracemalloc_peak"] / s["tracemalloc_peak"] if s["tracemalloc_peak"] else float("nan")
    rss_ratio = o["rss_delta"] / s["rss_delta"] if s["rss_delta"] else float("nan")
    print(f"  peak memory of {label} (fresh process each, 1 thread; input "
          f"{o['input_bytes'] / MB:.0f} MB not counted):")
    print(f"    tracemalloc peak: ours {o['tracemalloc_peak'] / MB:8.1f} MB   sklearn "
          f"{s['tracemalloc_peak'] / MB:8.1f} MB   ratio ours/sklearn {ratio:.2f}"
          + (f"   (output itself {o['out_bytes'] / MB:.1f} MB)" if o["out_bytes"] else ""))
    print(f"    peak-RSS growth:  ours {o['rss_delta'] / MB:8.1f} MB   sklearn "
          f"{s['rss_delta'] / MB:8.1f} MB   ratio ours/sklearn {rss_ratio:.2f}   ({o['rss_method']})")
    mem["ratio_tracemalloc"] = ratio
    mem["ratio_rss"] = rss_ratio


# ---------------------------------------------------------------------------
# Running a workload
# ---------------------------------------------------------------------------
def fmt_t(s):
    return f"{s['median']:8.3f} s  [{s['min']:.3f} - {s['max']:.3f}]"


def describe(w: Workload):
    p = w.params
    parts = [f"n={w.n}", f"d={w.d}", (f"classes={w.n_out}" if w.task == "clf" else "outputs=1"),
             f"hidden={w.hidden}", p.get("activation", "relu"), p["solver"]]
    if p["solver"] == "sgd":
        parts.append(f"momentum={p.get('momentum')} nesterov={p.get('nesterovs_momentum')} "
                     f"lr={p.get('learning_rate_init')}")
    if p["solver"] != "lbfgs":
        parts.append(f"batch={p['batch_size']} epochs={p['max_iter']}")
    else:
        parts.append(f"max_iter={p['max_iter']} tol=0")
    parts.append(np.dtype(w.dtype).name)
    if w.kind == "predict":
        parts = [f"predict_proba on {w.predict_n}x{w.d} {np.dtype(w.dtype).name}",
                 f"model fitted {p['max_iter']} epoch on {w.fit_subset} rows",
                 f"hidden={w.hidden}"]
    if w.kind == "memory":
        parts.append(f"predict_proba with a model fitted {p['max_iter']} epoch on the "
                     f"first {w.fit_subset} rows")
    return ", ".join(parts)


def run_fit_workload(w: Workload, threads, repeats, memory, tmpdir):
    from threadpoolctl import threadpool_limits

    Ours, Theirs = estimator_classes(w.task)
    X, y = workload_data(w)
    params = w.estimator_params()
    res = dict(name=w.name, description=w.description, config=describe(w), threads={})
    print("-" * 100)
    print(f"{w.name}: {w.description}")
    print(f"  {describe(w)}")

    # GEMM job: the products of the same training
    if params["solver"] == "lbfgs":
        with threadpool_limits(limits=1), NfevRecorder() as rec_o:
            o = fit_quiet(Ours(**params), X, y)
        with threadpool_limits(limits=1), NfevRecorder() as rec_s:
            s = fit_quiet(Theirs(**params), X, y)
        nfev_o = rec_o.calls[-1]["nfev"] if rec_o.calls else o.n_iter_ + 1
        nfev_s = rec_s.calls[-1]["nfev"] if rec_s.calls else s.n_iter_ + 1
        res["nfev"] = dict(ours=nfev_o, sklearn=nfev_s)
        print(f"  cost evaluations (untimed count): ours nfev={nfev_o}, sklearn nfev={nfev_s}; "
              f"GEMM bound uses ours' {nfev_o} full-batch forward+backward passes")
        gemm_job, gemm_flops = make_gemm_job(w.layer_sizes, w.dtype, [w.n], nfev_o)
    else:
        batches = batch_sizes(w.n, params["batch_size"])
        gemm_job, gemm_flops = make_gemm_job(w.layer_sizes, w.dtype, batches, params["max_iter"])
    res["gemm_gflop"] = gemm_flops / 1e9

    # warm-up: imports, BLAS threads, first-call caches
    sub = slice(0, min(w.n, 2000))
    wp = dict(params, max_iter=1)
    for k in threads:
        with threadpool_limits(limits=k):
            fit_quiet(Ours(**wp), X[sub], y[sub])
            fit_quiet(Theirs(**wp), X[sub], y[sub])

    for k in threads:
        t_o, t_s, t_g, c_o, c_s, t_t = [], [], [], [], [], []
        peer = torch_peer.make_job(w, X, y, threads=k)  # None without torch
        with threadpool_limits(limits=k):
            gemm_job()  # warm the buffers
            if peer is not None:
                torch_peer.warm(peer)
            for _ in range(repeats):
                dt, est_o = timed(lambda: fit_quiet(Ours(**params), X, y))
                t_o.append(dt)
                c_o.append(LAST_CPU[0])
                dt, est_s = timed(lambda: fit_quiet(Theirs(**params), X, y))
                t_s.append(dt)
                c_s.append(LAST_CPU[0])
                dt, _ = timed(gemm_job)
                t_g.append(dt)
                if peer is not None:
                    dt, loss_t = timed(peer)
                    t_t.append(dt)
        so, ss, sg = stats(t_o), stats(t_s), stats(t_g)
        loss_o, loss_s = float(est_o.loss_), float(est_s.loss_)
        ratio = so["median"] / ss["median"]
        ratio_min = so["min"] / ss["min"]
        cpu_ratio = float(np.median(c_o) / np.median(c_s))
        r = dict(ours=so, sklearn=ss, gemm=sg, ratio=ratio, ratio_of_mins=ratio_min,
                 cpu=dict(ours=stats(c_o), sklearn=stats(c_s)), cpu_ratio=cpu_ratio,
                 ours_over_gemm=so["median"] / sg["median"],
                 sklearn_over_gemm=ss["median"] / sg["median"],
                 loss=dict(ours=loss_o, sklearn=loss_s),
                 n_iter=dict(ours=int(est_o.n_iter_), sklearn=int(est_s.n_iter_)),
                 dtype=dict(ours=str(est_o.coefs_[0].dtype), sklearn=str(est_s.coefs_[0].dtype)))
        if t_t:
            r["torch"] = dict(stats(t_t), loss=loss_t)
            r["ours_over_torch"] = so["median"] / r["torch"]["median"]
        res["threads"][k] = r
        same_iter = "equal" if est_o.n_iter_ == est_s.n_iter_ else "DIFFERENT!"
        rel = abs(loss_o - loss_s) / max(abs(loss_s), 1e-300)
        print(f"  threads={k}  (median [min - max] over {repeats} alternating repeats)")
        print(f"    ours     {fmt_t(so)}   loss_ {loss_o:.6g}   n_iter_ {est_o.n_iter_}   "
              f"coefs dtype {r['dtype']['ours']}")
        print(f"    sklearn  {fmt_t(ss)}   loss_ {loss_s:.6g}   n_iter_ {est_s.n_iter_}   "
              f"coefs dtype {r['dtype']['sklearn']}")
        print(f"    GEMM     {fmt_t(sg)}   ({gemm_flops / 1e9:.1f} GFLOP, "
              f"{gemm_flops / 1e9 / sg['median']:.1f} GFLOP/s)")
        print(f"    ratio ours/sklearn {ratio:.3f}   ours/GEMM {r['ours_over_gemm']:.2f}   "
              f"sklearn/GEMM {r['sklearn_over_gemm']:.2f}   (ratio of mins {ratio_min:.3f})   n_iter_ {same_iter}   "
              f"loss rel. diff {rel:.2%}")
        print(f"    CPU time (process, median): ours {np.median(c_o):.3f} s, sklearn "
              f"{np.median(c_s):.3f} s, ratio {cpu_ratio:.3f}")
        if t_t:
            print(f"    torch    {fmt_t(r['torch'])}   loss {loss_t:.6g}   ratio ours/torch "
                  f"{r['ours_over_torch']:.3f}")

    if w.fit_memory and memory:
        xp, yp = os.path.join(tmpdir, f"{w.name}_X.npy"), os.path.join(tmpdir, f"{w.name}_y.npy")
        np.save(xp, X)
        np.save(yp, y)
        mem = {impl: measure_memory(tmpdir, "fit", impl, w.task, xp, yp, params=params)
               for impl in ("ours", "sklearn")}
        print_memory(f"fit ({w.name})", mem)
        res["memory_fit"] = mem
        os.remove(xp)
        os.remove(yp)
    return res


def run_predict_workload(w: Workload, threads, repeats, memory, tmpdir):
    from threadpoolctl import threadpool_limits

    Ours, Theirs = estimator_classes(w.task)
    X, y = workload_data(w)
    X, y = X[: w.fit_subset], y[: w.fit_subset]
    params = w.estimator_params()
    print("-" * 100)
    print(f"{w.name}: {w.description}")
    print(f"  {describe(w)}")
    with threadpool_limits(limits=max(threads)):
        est_o = fit_quiet(Ours(**params), X, y)
        est_s = fit_quiet(Theirs(**params), X, y)
    print(f"  brief fit: loss_ ours {float(est_o.loss_):.6f}, sklearn {float(est_s.loss_):.6f}")
    Xp = predict_data(w)
    res = dict(name=w.name, description=w.description, config=describe(w), threads={},
               loss=dict(ours=float(est_o.loss_), sklearn=float(est_s.loss_)))
    gemm_job, gemm_flops = make_gemm_job(w.layer_sizes, w.dtype, [w.predict_n], 1, backward=False)
    res["gemm_gflop"] = gemm_flops / 1e9
    for k in threads:
        t_o, t_s, t_g, c_o, c_s = [], [], [], [], []
        with threadpool_limits(limits=k):
            est_o.predict_proba(Xp[:1000])
            est_s.predict_proba(Xp[:1000])
            gemm_job()
            for _ in range(repeats):
                dt, P_o = timed(lambda: est_o.predict_proba(Xp))
                t_o.append(dt)
                c_o.append(LAST_CPU[0])
                del P_o
                dt, P_s = timed(lambda: est_s.predict_proba(Xp))
                t_s.append(dt)
                c_s.append(LAST_CPU[0])
                del P_s
                dt, _ = timed(gemm_job)
                t_g.append(dt)
        so, ss, sg = stats(t_o), stats(t_s), stats(t_g)
        ratio = so["median"] / ss["median"]
        ratio_min = so["min"] / ss["min"]
        cpu_ratio = float(np.median(c_o) / np.median(c_s))
        r = dict(ours=so, sklearn=ss, gemm=sg, ratio=ratio, ratio_of_mins=ratio_min,
                 cpu=dict(ours=stats(c_o), sklearn=stats(c_s)), cpu_ratio=cpu_ratio,
                 ours_over_gemm=so["median"] / sg["median"],
                 sklearn_over_gemm=ss["median"] / sg["median"])
        res["threads"][k] = r
        print(f"  threads={k}  (median [min - max] over {repeats} alternating repeats)")
        print(f"    ours     {fmt_t(so)}")
        print(f"    sklearn  {fmt_t(ss)}")
        print(f"    GEMM     {fmt_t(sg)}   (forward products only, {gemm_flops / 1e9:.1f} GFLOP, "
              f"{gemm_flops / 1e9 / sg['median']:.1f} GFLOP/s)")
        print(f"    ratio ours/sklearn {ratio:.3f}   ours/GEMM {r['ours_over_gemm']:.2f}   "
              f"sklearn/GEMM {r['sklearn_over_gemm']:.2f}   (ratio of mins {ratio_min:.3f})")
    P_o, P_s = est_o.predict_proba(Xp[:2000]), est_s.predict_proba(Xp[:2000])
    print(f"  output dtype: ours {P_o.dtype}, sklearn {P_s.dtype}; argmax agreement on 2000 rows "
          f"{np.mean(P_o.argmax(1) == P_s.argmax(1)):.1%} (models differ: separate fits)")
    if memory:
        xp = os.path.join(tmpdir, f"{w.name}_Xpred.npy")
        np.save(xp, Xp)
        del Xp
        mem = {"ours": measure_memory(tmpdir, "predict_proba", "ours", w.task, xp, model=est_o),
               "sklearn": measure_memory(tmpdir, "predict_proba", "sklearn", w.task, xp,
                                         model=est_s)}
        print_memory(f"predict_proba ({w.name})", mem)
        res["memory_predict"] = mem
        os.remove(xp)
    return res


def ours_buffer_bytes(w: Workload, op, params, m):
    """What scratchmlp's own buffers add up to for ``op`` on ``m`` rows: (bytes, formula).

    Training keeps one ``Workspace``: ``A[l]``, ``dZ[l]`` for l = 1..L, the
    logits ``Z[L]`` (a relu layer computes ``A[l]`` over ``Z[l]``) and the
    gathered input batch, ``(2 * sum(n[1:]) + n[L] + n[0]) * mb`` floats,
    with ``mb`` the batch for the stochastic solvers and all ``m``
    rows for lbfgs, which adds L-BFGS-B's history, ``2 * 10 * n_params``
    float64 (scipy's ``maxcor=10``). Early stopping also copies the held-out
    rows. ``predict_proba`` runs over chunks of at most 16384 rows (within
    ``sklearn.get_config()["working_memory"]``) with one inference cache,
    ``(sum(n[1:]) + n[L]) * chunk`` floats, and writes the ``m x n[L]`` output.
    The rest of a peak (e.g. the one-hot targets) is not in the formula.
    """
    from sklearn.utils._chunking import get_chunk_n_rows

    n, item = w.layer_sizes, np.dtype(w.dtype).itemsize
    hidden_out = sum(n[1:])
    n_params = sum(n[l - 1] * n[l] + n[l] for l in range(1, len(n)))
    if op == "predict_proba":
        chunk = min(get_chunk_n_rows(sum(n) * item, max_n_rows=m), 16384)
        b = ((hidden_out + n[-1]) * chunk + m * n[-1]) * item
        return b, (f"O(chunk): (sum(n[1:]) + n[L]) * {chunk} + output {m} x {n[-1]} floats "
                   f"= ({hidden_out} + {n[-1]}) * {chunk} + {m * n[-1]}")
    if params["solver"] == "lbfgs":
        b = (2 * hidden_out + n[-1]) * m * item + 2 * 10 * n_params * 8
        return b, (f"O(m): (2 * sum(n[1:]) + n[L]) * m floats + 2 * 10 * n_params float64 "
                   f"= (2 * {hidden_out} + {n[-1]}) * {m} + 20 * {n_params}")
    mb = params["batch_size"]
    b = (2 * hidden_out + n[-1] + n[0]) * mb * item
    formula = (f"O(batch): (2 * sum(n[1:]) + n[L] + n[0]) * batch floats "
               f"= (2 * {hidden_out} + {n[-1]} + {n[0]}) * {mb}")
    if params.get("early_stopping"):
        held_out = int(math.ceil(0.1 * m))  # validation_fraction=0.1
        b += held_out * n[0] * item
        formula += f" + the held-out rows {held_out} x {n[0]} (copied)"
    return b, formula


def run_memory_workload(w: Workload, threads, repeats, memory, tmpdir):
    """Peak memory only, each case in a fresh subprocess that generates the data."""
    print("-" * 100)
    print(f"{w.name}: {w.description}")
    print(f"  {describe(w)}")
    res = dict(name=w.name, description=w.description, config=describe(w), threads={},
               memory_cases=[])
    if not memory:
        print("  skipped: W6 measures only memory (drop --no-memory)")
        return res
    generate = dict(n=w.n, d=w.d, n_classes=w.n_out, dtype=np.dtype(w.dtype).name, seed=SEED)
    for label, op, change in w.extra["cases"]:
        params = dict(w.estimator_params(), **change)
        if params["solver"] == "lbfgs":
            params.pop("batch_size")  # lbfgs is full-batch
        mem = {impl: measure_memory(tmpdir, op, impl, w.task, params=params, generate=generate,
                                    fit_rows=w.fit_subset if op == "predict_proba" else None)
               for impl in ("ours", "sklearn")}
        print_memory(f"{label} ({w.name})", mem)
        b, formula = ours_buffer_bytes(w, op, params, w.n)
        print(f"    ours' buffers by formula: {b / MB:8.1f} MB   {formula}")
        print(f"    time of the operation under tracemalloc (which slows every allocation; "
              f"not a speed measurement): ours {mem['ours']['seconds']:.1f} s, "
              f"sklearn {mem['sklearn']['seconds']:.1f} s")
        sys.stdout.flush()
        mem.update(label=label, op=op, params=params, ours_buffers=b, ours_buffers_formula=formula)
        res["memory_cases"].append(mem)
    return res


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------
def print_summary(results, threads):
    print()
    print("=" * 100)
    print("SUMMARY (medians; ratio = ours/sklearn, < 1 means scratchmlp is faster; "
          "ours/GEMM >= 1, 1 = pure GEMM)")
    print("=" * 100)
    hdr = (f"{'workload':<9} {'threads':>7} {'ours s':>9} {'sklearn s':>10} {'ratio':>7} "
           f"{'CPU ratio':>9} {'GEMM s':>9} {'ours/GEMM':>10} {'skl/GEMM':>9}  {'loss ours':>10} "
           f"{'loss skl':>10} {'torch s':>8} {'ours/torch':>10}")
    print(hdr)
    print("-" * len(hdr))
    for r in results:
        for k in threads:
            t = r["threads"].get(k)
            if t is None:
                continue
            loss = t.get("loss") or r.get("loss") or {}
            lo = f"{loss['ours']:.5g}" if loss else ""
            ls = f"{loss['sklearn']:.5g}" if loss else ""
            cpu = f"{t['cpu_ratio']:.3f}" if "cpu_ratio" in t else ""
            tt = f"{t['torch']['median']:.3f}" if "torch" in t else ""
            tr = f"{t['ours_over_torch']:.3f}" if "torch" in t else ""
            print(f"{r['name']:<9} {k:>7} {t['ours']['median']:>9.3f} {t['sklearn']['median']:>10.3f} "
                  f"{t['ratio']:>7.3f} {cpu:>9} {t['gemm']['median']:>9.3f} {t['ours_over_gemm']:>10.2f} "
                  f"{t['sklearn_over_gemm']:>9.2f}  {lo:>10} {ls:>10} {tt:>8} {tr:>10}")
    mems = [(f"{r['name']} {key.split('_')[1]}", r[key]) for r in results
            for key in ("memory_fit", "memory_predict") if key in r]
    mems += [(f"{r['name']} {m['label']}", m) for r in results for m in r.get("memory_cases", [])]
    if mems:
        print()
        print(f"{'peak memory':<30} {'ours MB':>9} {'sklearn MB':>11} {'ratio':>7}   (tracemalloc)"
              f"   {'ours buffers MB':>15} (formula)")
        for label, m in mems:
            b = f"{m['ours_buffers'] / MB:.1f}" if "ours_buffers" in m else ""
            print(f"{label:<30} {m['ours']['tracemalloc_peak'] / MB:>9.1f} "
                  f"{m['sklearn']['tracemalloc_peak'] / MB:>11.1f} {m['ratio_tracemalloc']:>7.2f}"
                  f"                   {b:>15}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="fewer epochs/iterations and repeats, no W6 (about 2 minutes)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                    help="BLAS thread counts (threadpool_limits), default 1 2")
    ap.add_argument("--repeats", type=int, default=None,
                    help="timed repeats of each estimator (default 3, --quick 2)")
    ap.add_argument("--workloads", default=None,
                    help="comma-separated subset of W1-f64,W1-f32,W2,W3,W4,W5,W6 (W1 = both W1s)")
    ap.add_argument("--json", default=None, help="write all results to this JSON file")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    ap.add_argument("--busy", action="store_true",
                    help="run every timing beside a process spinning on one core (busy.py)")
    ap.add_argument("--thread-policy", default="auto",
                    help="scratchmlp's thread_policy, 'auto' (the default), 'off', or 'off,auto' "
                         "to run each workload under both, in that order")
    args = ap.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 3)

    all_w = build_workloads(args.quick)
    names = [w.name for w in all_w]
    if args.workloads:
        wanted = []
        for tok in args.workloads.split(","):
            tok = tok.strip()
            hit = [n for n in names if n == tok or n.split("-")[0] == tok]
            if not hit:
                ap.error(f"unknown workload {tok!r}; choose from {','.join(names)}")
            wanted += [h for h in hit if h not in wanted]
        all_w = [w for w in all_w if w.name in wanted]
    elif args.quick:
        all_w = [w for w in all_w if w.name not in NOT_IN_QUICK]

    t_start = time.perf_counter()
    info = dict(machine=cpu_info(), versions=versions(), blas=blas_info(),
                loadavg_start=os.getloadavg(),
                args=dict(threads=args.threads, repeats=repeats, quick=args.quick,
                          busy=args.busy, thread_policy=args.thread_policy,
                          workloads=[w.name for w in all_w], memory=not args.no_memory))
    print_header(info)
    sys.stdout.flush()

    from scratchmlp import config_context

    results = []
    policies = args.thread_policy.split(",")
    with tempfile.TemporaryDirectory(prefix="scratchmlp_bench_") as tmpdir, \
            busy_core(args.busy) as spinner:
        if spinner is not None:
            print(f"busy     : a process spinning on one core, pid {spinner}\n")
        for w, policy in [(w, p) for w in all_w for p in policies]:
            t0 = time.perf_counter()
            run = dict(predict=run_predict_workload, memory=run_memory_workload).get(
                w.kind, run_fit_workload)
            with config_context(thread_policy=policy):
                r = run(w, args.threads, repeats, not args.no_memory, tmpdir)
            if len(policies) > 1:
                r["name"] += f" [{policy}]"
            r["thread_policy"] = policy
            r["wall_seconds"] = time.perf_counter() - t0
            r["loadavg_end"] = os.getloadavg()
            print(f"  ({r['name']} took {r['wall_seconds']:.1f} s wall; load avg now "
                  f"{r['loadavg_end'][0]:.2f})")
            sys.stdout.flush()
            results.append(r)

    print_summary(results, args.threads)
    total = time.perf_counter() - t_start
    info["loadavg_end"] = os.getloadavg()
    print(f"\ntotal wall time {total:.1f} s; load avg at end "
          + " ".join(f"{x:.2f}" for x in info["loadavg_end"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(info=info, results=results, total_seconds=total), f, indent=2,
                      default=lambda o: o.item() if hasattr(o, "item") else str(o))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == PROBE_FLAG:
        run_probe(sys.argv[2])
    else:
        main()
