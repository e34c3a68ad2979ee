"""Timing: repeated alternating fits and predictions, and the GEMM lower bound.

Each workload is timed for ours and scikit-learn's estimator, alternating
(ours, sklearn, ours, sklearn, ...), after one untimed warm-up of each, with
the BLAS thread count set by ``threadpoolctl`` around every timing. The
"GEMM" time is a lower bound: only the matrix products of the same training,
timed with numpy on preallocated buffers.
"""

from __future__ import annotations

import gc
import os
import statistics
import time

import numpy as np
import torch_peer
from memory import measure_memory
from report import fmt_t, print_memory
from workloads import (
    Workload,
    describe,
    estimator_classes,
    fit_quiet,
    predict_data,
    workload_data,
)


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
        print(
            f"  cost evaluations (untimed count): ours nfev={nfev_o}, sklearn nfev={nfev_s}; "
            f"GEMM bound uses ours' {nfev_o} full-batch forward+backward passes"
        )
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
        r = dict(
            ours=so,
            sklearn=ss,
            gemm=sg,
            ratio=ratio,
            ratio_of_mins=ratio_min,
            cpu=dict(ours=stats(c_o), sklearn=stats(c_s)),
            cpu_ratio=cpu_ratio,
            ours_over_gemm=so["median"] / sg["median"],
            sklearn_over_gemm=ss["median"] / sg["median"],
            loss=dict(ours=loss_o, sklearn=loss_s),
            n_iter=dict(ours=int(est_o.n_iter_), sklearn=int(est_s.n_iter_)),
            dtype=dict(ours=str(est_o.coefs_[0].dtype), sklearn=str(est_s.coefs_[0].dtype)),
        )
        if t_t:
            r["torch"] = dict(stats(t_t), loss=loss_t)
            r["ours_over_torch"] = so["median"] / r["torch"]["median"]
        res["threads"][k] = r
        same_iter = "equal" if est_o.n_iter_ == est_s.n_iter_ else "DIFFERENT!"
        rel = abs(loss_o - loss_s) / max(abs(loss_s), 1e-300)
        print(f"  threads={k}  (median [min - max] over {repeats} alternating repeats)")
        print(
            f"    ours     {fmt_t(so)}   loss_ {loss_o:.6g}   n_iter_ {est_o.n_iter_}   "
            f"coefs dtype {r['dtype']['ours']}"
        )
        print(
            f"    sklearn  {fmt_t(ss)}   loss_ {loss_s:.6g}   n_iter_ {est_s.n_iter_}   "
            f"coefs dtype {r['dtype']['sklearn']}"
        )
        print(
            f"    GEMM     {fmt_t(sg)}   ({gemm_flops / 1e9:.1f} GFLOP, "
            f"{gemm_flops / 1e9 / sg['median']:.1f} GFLOP/s)"
        )
        print(
            f"    ratio ours/sklearn {ratio:.3f}   ours/GEMM {r['ours_over_gemm']:.2f}   "
            f"sklearn/GEMM {r['sklearn_over_gemm']:.2f}   (ratio of mins {ratio_min:.3f})   "
            f"n_iter_ {same_iter}   "
            f"loss rel. diff {rel:.2%}"
        )
        print(
            f"    CPU time (process, median): ours {np.median(c_o):.3f} s, sklearn "
            f"{np.median(c_s):.3f} s, ratio {cpu_ratio:.3f}"
        )
        if t_t:
            print(
                f"    torch    {fmt_t(r['torch'])}   loss {loss_t:.6g}   ratio ours/torch "
                f"{r['ours_over_torch']:.3f}"
            )

    if w.fit_memory and memory:
        xp, yp = os.path.join(tmpdir, f"{w.name}_X.npy"), os.path.join(tmpdir, f"{w.name}_y.npy")
        np.save(xp, X)
        np.save(yp, y)
        mem = {
            impl: measure_memory(tmpdir, "fit", impl, w.task, xp, yp, params=params)
            for impl in ("ours", "sklearn")
        }
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
    res = dict(
        name=w.name,
        description=w.description,
        config=describe(w),
        threads={},
        loss=dict(ours=float(est_o.loss_), sklearn=float(est_s.loss_)),
    )
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
        r = dict(
            ours=so,
            sklearn=ss,
            gemm=sg,
            ratio=ratio,
            ratio_of_mins=ratio_min,
            cpu=dict(ours=stats(c_o), sklearn=stats(c_s)),
            cpu_ratio=cpu_ratio,
            ours_over_gemm=so["median"] / sg["median"],
            sklearn_over_gemm=ss["median"] / sg["median"],
        )
        res["threads"][k] = r
        print(f"  threads={k}  (median [min - max] over {repeats} alternating repeats)")
        print(f"    ours     {fmt_t(so)}")
        print(f"    sklearn  {fmt_t(ss)}")
        print(
            f"    GEMM     {fmt_t(sg)}   (forward products only, {gemm_flops / 1e9:.1f} GFLOP, "
            f"{gemm_flops / 1e9 / sg['median']:.1f} GFLOP/s)"
        )
        print(
            f"    ratio ours/sklearn {ratio:.3f}   ours/GEMM {r['ours_over_gemm']:.2f}   "
            f"sklearn/GEMM {r['sklearn_over_gemm']:.2f}   (ratio of mins {ratio_min:.3f})"
        )
    P_o, P_s = est_o.predict_proba(Xp[:2000]), est_s.predict_proba(Xp[:2000])
    print(
        f"  output dtype: ours {P_o.dtype}, sklearn {P_s.dtype}; argmax agreement on 2000 rows "
        f"{np.mean(P_o.argmax(1) == P_s.argmax(1)):.1%} (models differ: separate fits)"
    )
    if memory:
        xp = os.path.join(tmpdir, f"{w.name}_Xpred.npy")
        np.save(xp, Xp)
        del Xp
        mem = {
            "ours": measure_memory(tmpdir, "predict_proba", "ours", w.task, xp, model=est_o),
            "sklearn": measure_memory(tmpdir, "predict_proba", "sklearn", w.task, xp, model=est_s),
        }
        print_memory(f"predict_proba ({w.name})", mem)
        res["memory_predict"] = mem
        os.remove(xp)
    return res
