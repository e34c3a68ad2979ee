#!/usr/bin/env python
"""The BLAS thread policy against fixed thread counts, on a quiet and on a busy machine.

Usage::

    python benchmarks/threads.py [--repeats 5] [--workloads grid,W1-f32,lbfgs]
                                 [--states quiet,busy] [--no-cold] [--json out.json]

For each workload and each state of the machine, times the same work with:

* ``1``, ``2``: the policy off (``scratchmlp.config_context(thread_policy="off")``)
  and numpy's BLAS forced to 1 or 2 threads (``threadpool_limits``);
* ``auto``: the default policy, in this long-running process (it keeps its
  verdicts from one fit to the next, as a grid search or a session does);
* ``auto cold``: the default policy with its memory cleared before each run,
  as the first fit of a fresh process.

The cell that matters is ``auto / best``: the policy's median time over the
better of the two fixed counts' medians (target: at most 1.1). ``CPU ...
/best`` divides the process CPU times (medians) by those of that same fixed
count: steadier on a shared machine, and comparable because the policy
mostly runs on the count that is faster. "busy" runs
every timing beside a child process spinning on one core
(``benchmarks/busy.py``), started before and killed after the state's
timings by its own pid. The order of the modes rotates from repeat to repeat.

Workloads:

* ``grid``: the README's grid search: the digits, ``StandardScaler`` +
  ``ScratchMLPClassifier(max_iter=300, random_state=0)``, hidden sizes
  (64,) and (128,) x alpha 1e-4 and 1e-2, ``cv=3`` (12 fits and the refit);
* ``W1-f32``: bench.py's W1 in float32, 20000 x 784, (256, 128) relu, adam,
  batch 200, 3 epochs (a GEMM-heavy fit);
* ``lbfgs``: bench.py's W4, 2000 x 64, (100,) relu, L-BFGS, 50 iterations.

Run it with ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` unset
(``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/threads.py``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from busy import busy_core  # noqa: E402
from report import blas_info, cpu_info, versions  # noqa: E402
from workloads import make_blobs_classification  # noqa: E402

MODES = ("1", "2", "auto", "auto cold")


def grid_search_job():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from scratchmlp import ScratchMLPClassifier

    X, y = load_digits(return_X_y=True)
    grid = {
        "scratchmlpclassifier__hidden_layer_sizes": [(64,), (128,)],
        "scratchmlpclassifier__alpha": [1e-4, 1e-2],
    }

    def job():
        pipe = make_pipeline(StandardScaler(), ScratchMLPClassifier(max_iter=300, random_state=0))
        return GridSearchCV(pipe, grid, cv=3).fit(X, y).best_score_

    return job


def fit_job(n, d, hidden, dtype, **params):
    from scratchmlp import ScratchMLPClassifier

    X, y = make_blobs_classification(n, d, 10, dtype)

    def job():
        model = ScratchMLPClassifier(
            hidden, random_state=0, tol=0.0, n_iter_no_change=10**9, **params
        )
        return model.fit(X, y).loss_

    return job


WORKLOADS = {
    "grid": grid_search_job,
    "W1-f32": lambda: fit_job(20000, 784, (256, 128), np.float32, batch_size=200, max_iter=3),
    "lbfgs": lambda: fit_job(2000, 64, (100,), np.float64, solver="lbfgs", max_iter=50),
}


class CountRecorder:
    """Record the thread count each policy region settled on (``auto`` runs)."""

    def __init__(self):
        from scratchmlp import _threads

        self.module, self.counts = _threads, []

    def __enter__(self):
        cls = self.module.BlasThreads
        self.original = cls.__exit__
        counts = self.counts

        def __exit__(region, *exc):
            if region.count is not None:
                counts.append(region.count)
            return self.original(region, *exc)

        cls.__exit__ = __exit__
        return self

    def __exit__(self, *exc):
        self.module.BlasThreads.__exit__ = self.original
        return False


def run_mode(job, mode):
    """Wall and CPU seconds of ``job()`` under ``mode``, and the counts the policy used."""
    from threadpoolctl import threadpool_limits

    from scratchmlp import _threads, config_context

    gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: fixed work is the point
        if mode in ("1", "2"):
            with config_context(thread_policy="off"), threadpool_limits(limits=int(mode)):
                c0, t0 = time.process_time(), time.perf_counter()
                job()
                return time.perf_counter() - t0, time.process_time() - c0, []
        if mode == "auto cold":
            _threads._STATE.verdicts.clear()
            _threads._STATE.switchable.clear()
        with CountRecorder() as recorder:
            c0, t0 = time.process_time(), time.perf_counter()
            job()
            return time.perf_counter() - t0, time.process_time() - c0, recorder.counts


def measure_state(name, job, state, modes, repeats):
    times = {m: [] for m in modes}
    cpu = {m: [] for m in modes}
    counts = {m: [] for m in modes}
    load0 = os.getloadavg()
    with busy_core(state == "busy") as pid:
        for m in modes:  # one untimed run each: imports, first-touch buffers
            run_mode(job, m)
        for r in range(repeats):
            order = modes[r % len(modes) :] + modes[: r % len(modes)]
            for m in order:
                wall, proc, used = run_mode(job, m)
                times[m].append(wall)
                cpu[m].append(proc)
                counts[m].extend(used)
            print(
                f"    {name} {state} repeat {r + 1}: "
                + "  ".join(f"{m} {times[m][-1]:.3f}s" for m in modes),
                flush=True,
            )
    load1 = os.getloadavg()
    med = {m: statistics.median(times[m]) for m in modes}
    cmed = {m: statistics.median(cpu[m]) for m in modes}
    fixed = min(("1", "2"), key=med.get)  # the faster fixed count, by wall time
    best, best_cpu = med[fixed], cmed[fixed]
    res = dict(
        workload=name,
        state=state,
        spinner_pid=pid,
        load_start=load0,
        load_end=load1,
        times=times,
        cpu=cpu,
        median=med,
        cpu_median=cmed,
        counts={
            m: {int(k): int(v) for k, v in zip(*np.unique(c, return_counts=True))}
            for m, c in counts.items()
        },
        ratio={m: med[m] / best for m in modes if m.startswith("auto")},
        cpu_ratio={m: cmed[m] / best_cpu for m in modes if m.startswith("auto")},
    )
    return res


def print_table(results, modes):
    autos = [m for m in modes if m.startswith("auto")]
    head = (
        f"{'workload':<8} {'state':<6} "
        + " ".join(f"{m + ' s':>11}" for m in modes)
        + " "
        + " ".join(f"{m + '/best':>15}" for m in autos)
        + " "
        + " ".join(f"{'CPU ' + m + '/best':>19}" for m in autos)
        + "   load"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        print(
            f"{r['workload']:<8} {r['state']:<6} "
            + " ".join(f"{r['median'][m]:>11.3f}" for m in modes)
            + " "
            + " ".join(f"{r['ratio'][m]:>15.3f}" for m in autos)
            + " "
            + " ".join(f"{r['cpu_ratio'][m]:>19.3f}" for m in autos)
            + f"   {r['load_start'][0]:.2f}->{r['load_end'][0]:.2f}"
        )
    print("\nthread counts the policy settled on, per call (count: calls):")
    for r in results:
        for m in autos:
            used = ", ".join(f"{int(k)}: {int(v)}" for k, v in r["counts"][m].items())
            print(f"  {r['workload']:<8} {r['state']:<6} {m:<10} {used}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--states", default="quiet,busy")
    ap.add_argument("--no-cold", action="store_true", help="skip the 'auto cold' mode")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    modes = tuple(m for m in MODES if not (args.no_cold and m == "auto cold"))
    names = args.workloads.split(",")
    states = args.states.split(",")
    for n in names:
        if n not in WORKLOADS:
            ap.error(f"unknown workload {n!r}; choose from {','.join(WORKLOADS)}")

    import scratchmlp  # noqa: F401  (loads numpy's and scipy's BLAS for the header)

    c, v = cpu_info(), versions()
    print(
        f"CPU {c['model']} | usable CPUs {c['usable_cpus']} | "
        + ", ".join(f"{k} {v[k]}" for k in v)
    )
    env = {
        k: os.environ.get(k, "<unset>")
        for k in (
            "OPENBLAS_CORETYPE",
            "OPENBLAS_L2_SIZE",
            "OPENBLAS_NUM_THREADS",
            "OMP_NUM_THREADS",
        )
    }
    print("env: " + ", ".join(f"{k}={x}" for k, x in env.items()))
    for b in blas_info():
        if b["user_api"] == "blas":
            print(
                f"BLAS {b['owner']}: {b['internal_api']} {b['version']} kernel "
                f"{b['architecture']} threading {b['threading_layer']} "
                f"num_threads {b['num_threads']}"
            )
    print(
        f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"repeats {args.repeats}; modes {', '.join(modes)}\n",
        flush=True,
    )

    results = []
    for n in names:
        job = WORKLOADS[n]()
        for state in states:
            results.append(measure_state(n, job, state, modes, args.repeats))
    print()
    print_table(results, modes)
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                dict(cpu=c, versions=v, blas=blas_info(), results=results),
                f,
                indent=1,
                default=lambda o: o.item() if hasattr(o, "item") else str(o),
            )


if __name__ == "__main__":
    main()
