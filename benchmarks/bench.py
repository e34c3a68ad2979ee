#!/usr/bin/env python
"""Benchmark scratchmlp's ScratchMLP* against scikit-learn's MLP* in one process.

Usage::

    python benchmarks/bench.py [--quick] [--threads 1 2] [--repeats N]
                               [--workloads W1,W2,...] [--json out.json]
                               [--no-memory] [--busy] [--thread-policy off,auto]

For each workload and each BLAS thread count ``k`` (``threadpoolctl``'s
``threadpool_limits(limits=k)`` around every timing), the two estimators are
fitted on the same data with the same hyper-parameters, alternating
(ours, sklearn, ours, sklearn, ...), after one small untimed warm-up of each.
Stochastic solvers run a fixed number of epochs (``tol=0``,
``n_iter_no_change`` huge), L-BFGS a fixed ``max_iter`` with ``tol=0``, so the
two do the same work and their final training losses are comparable.

The parts, one module each beside this one: ``workloads`` (the data and the
settings of W1 to W6), ``timing`` (the timed runs and the GEMM lower bound),
``memory`` (peak memory in a fresh subprocess per measurement) and
``report`` (the machine, the console output, the docs' table and chart).
``--smoke`` runs a tiny version of each kind of workload, for the test suite.
``--busy`` runs every timing beside a process spinning on one core
(``busy.py``); ``--thread-policy off,auto`` runs each workload under both of
scratchmlp's thread policies (``scratchmlp.config_context``).

See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

from busy import busy_core
from memory import run_memory_workload
from report import blas_info, cpu_info, print_header, print_summary, versions
from timing import run_fit_workload, run_predict_workload
from workloads import NOT_IN_QUICK, build_workloads


def _selected(ap, args):
    all_w = build_workloads(args.quick, tiny=args.smoke)
    names = [w.name for w in all_w]
    if args.workloads:
        wanted = []
        for tok in args.workloads.split(","):
            tok = tok.strip()
            hit = [n for n in names if n == tok or n.split("-")[0] == tok]
            if not hit:
                ap.error(f"unknown workload {tok!r}; choose from {','.join(names)}")
            wanted += [h for h in hit if h not in wanted]
        return [w for w in all_w if w.name in wanted]
    if args.quick:
        return [w for w in all_w if w.name not in NOT_IN_QUICK]
    return all_w


def _arguments(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="fewer epochs/iterations and repeats, no W6 (about 2 minutes)",
    )
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="tiny workloads of each kind, in seconds (the test suite's smoke test)",
    )
    ap.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[1, 2],
        help="BLAS thread counts (threadpool_limits), default 1 2",
    )
    ap.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed repeats of each estimator (default 3, --quick 2)",
    )
    ap.add_argument(
        "--workloads",
        default=None,
        help="comma-separated subset of W1-f64,W1-f32,W2,W3,W4,W5,W6 (W1 = both W1s)",
    )
    ap.add_argument("--json", default=None, help="write all results to this JSON file")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    ap.add_argument(
        "--busy",
        action="store_true",
        help="run every timing beside a process spinning on one core (busy.py)",
    )
    ap.add_argument(
        "--thread-policy",
        default="auto",
        help="scratchmlp's thread_policy, 'auto' (the default), 'off', or 'off,auto' "
        "to run each workload under both, in that order",
    )
    return ap, ap.parse_args(argv)


def _policies(ap, args):
    """The thread policies of ``--thread-policy``, each checked by the library itself."""
    from scratchmlp import config_context

    policies = [p.strip() for p in args.thread_policy.split(",")]
    for p in policies:
        try:
            with config_context(thread_policy=p):
                pass
        except ValueError as e:
            ap.error(f"--thread-policy: {e}")
    return policies


def _run_workload(w, policy, named, args, repeats, tmpdir):
    """One workload under one thread policy; ``named`` appends the policy to its row name."""
    from scratchmlp import config_context

    t0 = time.perf_counter()
    run = dict(predict=run_predict_workload, memory=run_memory_workload).get(
        w.kind, run_fit_workload
    )
    with config_context(thread_policy=policy):
        r = run(w, args.threads, repeats, not args.no_memory, tmpdir)
    if named:
        r["name"] += f" [{policy}]"
    r["thread_policy"] = policy
    r["wall_seconds"] = time.perf_counter() - t0
    r["loadavg_end"] = os.getloadavg()
    print(
        f"  ({r['name']} took {r['wall_seconds']:.1f} s wall; load avg now "
        f"{r['loadavg_end'][0]:.2f})"
    )
    sys.stdout.flush()
    return r


def main(argv=None):
    ap, args = _arguments(argv)
    repeats = args.repeats or (2 if args.quick else 3)
    all_w = _selected(ap, args)
    policies = _policies(ap, args)
    t_start = time.perf_counter()
    info = dict(
        machine=cpu_info(),
        versions=versions(),
        blas=blas_info(),
        loadavg_start=os.getloadavg(),
        args=dict(
            threads=args.threads,
            repeats=repeats,
            quick=args.quick,
            busy=args.busy,
            thread_policy=args.thread_policy,
            workloads=[w.name for w in all_w],
            memory=not args.no_memory,
        ),
    )
    print_header(info)
    sys.stdout.flush()

    results = []
    with (
        tempfile.TemporaryDirectory(prefix="scratchmlp_bench_") as tmpdir,
        busy_core(args.busy) as spinner,
    ):
        if spinner is not None:
            print(f"busy     : a process spinning on one core, pid {spinner}\n")
        for w in all_w:
            for policy in policies:
                results.append(_run_workload(w, policy, len(policies) > 1, args, repeats, tmpdir))

    print_summary(results, args.threads)
    total = time.perf_counter() - t_start
    info["loadavg_end"] = os.getloadavg()
    print(
        f"\ntotal wall time {total:.1f} s; load avg at end "
        + " ".join(f"{x:.2f}" for x in info["loadavg_end"])
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                dict(info=info, results=results, total_seconds=total),
                f,
                indent=2,
                default=lambda o: o.item() if hasattr(o, "item") else str(o),
            )
        print(f"wrote {args.json}")
    return results


if __name__ == "__main__":
    main()
