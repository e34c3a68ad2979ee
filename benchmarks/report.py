"""Reporting: the machine, the console output of a run, and the docs' table and chart.

``bench.py`` prints through :func:`print_header`, :func:`print_memory` and
:func:`print_summary`. As a script, this module turns a ``bench.py --json``
file into the docs' table and bar chart::

    python benchmarks/bench.py --json results.json
    python benchmarks/report.py results.json docs/_static/benchmarks.png

It prints a Markdown table (paste it into docs/benchmarks.md) and writes a
bar chart of the time ratios ours / scikit-learn and ours / GEMM bound.
"""

from __future__ import annotations

import json
import os
import platform
import sys

import numpy as np
import torch_peer


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
    return dict(
        model=model, logical_cpus=logical, usable_cpus=affinity, physical_cores=physical, simd=simd
    )


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
        owner = next(
            (
                p
                for p in ("numpy", "scipy", "scikit_learn", "torch")
                if f"{p}." in fp or f"/{p}/" in fp
            ),
            os.path.basename(os.path.dirname(fp)),
        )
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
    print(
        f"CPU      : {c['model']}  | logical CPUs {c['logical_cpus']}, "
        f"usable {c['usable_cpus']}, "
        f"physical cores {c['physical_cores']}  | SIMD {','.join(c['simd']) or '-'}"
    )
    print(f"platform : {platform.platform()}")
    v = info["versions"]
    print("versions : " + ", ".join(f"{k} {v[k]}" for k in v))
    env = {
        k: os.environ.get(k)
        for k in (
            "OPENBLAS_CORETYPE",
            "OPENBLAS_L2_SIZE",
            "OPENBLAS_NUM_THREADS",
            "OMP_NUM_THREADS",
        )
    }
    print("env      : " + ", ".join(f"{k}={'<unset>' if v is None else v}" for k, v in env.items()))
    print("threadpoolctl.threadpool_info():")
    for b in info["blas"]:
        print(
            f"  - {b['owner']:<13} {b['user_api']:<7} internal_api={b['internal_api']:<9} "
            f"version={b['version']}  kernel/arch={b['architecture']}  "
            f"threading={b['threading_layer']}  num_threads={b['num_threads']}  ({b['file']})"
        )
    la = info["loadavg_start"]
    print(
        f"load avg : {la[0]:.2f} {la[1]:.2f} {la[2]:.2f} (1/5/15 min) at start"
        + (
            "   WARNING: the machine is busy; timings (2 threads especially) will be noisy"
            if la[0] > 0.5
            else ""
        )
    )
    a = info["args"]
    print(
        f"run      : threads={a['threads']} repeats={a['repeats']} quick={a['quick']} "
        f"workloads={','.join(a['workloads'])} memory={a['memory']} busy={a['busy']} "
        f"thread_policy={a['thread_policy']}"
    )
    print()


MB = 1024**2


def print_memory(label, mem):
    o, s = mem["ours"], mem["sklearn"]
    ratio = o["tracemalloc_peak"] / s["tracemalloc_peak"] if s["tracemalloc_peak"] else float("nan")
    rss_ratio = o["rss_delta"] / s["rss_delta"] if s["rss_delta"] else float("nan")
    print(
        f"  peak memory of {label} (fresh process each, 1 thread; input "
        f"{o['input_bytes'] / MB:.0f} MB not counted):"
    )
    print(
        f"    tracemalloc peak: ours {o['tracemalloc_peak'] / MB:8.1f} MB   sklearn "
        f"{s['tracemalloc_peak'] / MB:8.1f} MB   ratio ours/sklearn {ratio:.2f}"
        + (f"   (output itself {o['out_bytes'] / MB:.1f} MB)" if o["out_bytes"] else "")
    )
    print(
        f"    peak-RSS growth:  ours {o['rss_delta'] / MB:8.1f} MB   sklearn "
        f"{s['rss_delta'] / MB:8.1f} MB   ratio ours/sklearn {rss_ratio:.2f}   "
        f"({o['rss_method']})"
    )
    mem["ratio_tracemalloc"] = ratio
    mem["ratio_rss"] = rss_ratio


def fmt_t(s):
    return f"{s['median']:8.3f} s  [{s['min']:.3f} - {s['max']:.3f}]"


def print_summary(results, threads):
    print()
    print("=" * 100)
    print(
        "SUMMARY (medians; ratio = ours/sklearn, < 1 means scratchmlp is faster; "
        "ours/GEMM >= 1, 1 = pure GEMM)"
    )
    print("=" * 100)
    hdr = (
        f"{'workload':<9} {'threads':>7} {'ours s':>9} {'sklearn s':>10} {'ratio':>7} "
        f"{'CPU ratio':>9} {'GEMM s':>9} {'ours/GEMM':>10} {'skl/GEMM':>9}  {'loss ours':>10} "
        f"{'loss skl':>10} {'torch s':>8} {'ours/torch':>10}"
    )
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
            print(
                f"{r['name']:<9} {k:>7} {t['ours']['median']:>9.3f} "
                f"{t['sklearn']['median']:>10.3f} {t['ratio']:>7.3f} {cpu:>9} "
                f"{t['gemm']['median']:>9.3f} {t['ours_over_gemm']:>10.2f} "
                f"{t['sklearn_over_gemm']:>9.2f}  {lo:>10} {ls:>10} {tt:>8} {tr:>10}"
            )
    mems = [
        (f"{r['name']} {key.split('_')[1]}", r[key])
        for r in results
        for key in ("memory_fit", "memory_predict")
        if key in r
    ]
    mems += [(f"{r['name']} {m['label']}", m) for r in results for m in r.get("memory_cases", [])]
    if mems:
        print()
        print(
            f"{'peak memory':<30} {'ours MB':>9} {'sklearn MB':>11} {'ratio':>7}   (tracemalloc)"
            f"   {'ours buffers MB':>15} (formula)"
        )
        for label, m in mems:
            b = f"{m['ours_buffers'] / MB:.1f}" if "ours_buffers" in m else ""
            print(
                f"{label:<30} {m['ours']['tracemalloc_peak'] / MB:>9.1f} "
                f"{m['sklearn']['tracemalloc_peak'] / MB:>11.1f} {m['ratio_tracemalloc']:>7.2f}"
                f"                   {b:>15}"
            )


# ---------------------------------------------------------------------------
# The docs' table and chart, from a --json file
# ---------------------------------------------------------------------------


def rows(results):
    for workload in results["results"]:
        for threads, r in sorted(workload["threads"].items()):
            yield workload["name"], int(threads), r


def table(results) -> str:
    lines = [
        "| Workload | Threads | scratchmlp (s) | scikit-learn (s) | ours / sklearn "
        "| CPU time ratio | ours / GEMM | sklearn / GEMM |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, threads, r in rows(results):
        cpu = f"{r['cpu_ratio']:.2f}" if "cpu_ratio" in r else ""
        lines.append(
            f"| {name} | {threads} | {r['ours']['median']:.3f} | {r['sklearn']['median']:.3f} "
            f"| **{r['ratio']:.2f}** | {cpu} | {r['ours_over_gemm']:.2f} "
            f"| {r['sklearn_over_gemm']:.2f} |"
        )
    return "\n".join(lines)


def chart(results, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = [(f"{name}\n{threads} thr", r) for name, threads, r in rows(results)]
    fig, ax = plt.subplots(figsize=(10, 4))
    x = range(len(data))
    ax.bar([i - 0.2 for i in x], [r["ours_over_gemm"] for _, r in data], 0.4, label="scratchmlp")
    theirs = [r["sklearn_over_gemm"] for _, r in data]
    ax.bar([i + 0.2 for i in x], theirs, 0.4, label="scikit-learn")
    ax.axhline(1.0, color="k", linewidth=0.8)
    ax.set_xticks(list(x), [label for label, _ in data], fontsize=8)
    ax.set_ylabel("time / GEMM-only bound (lower is better)")
    ax.set_title("Median time over the matrix-multiply bound, same run, same data")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    results = json.load(open(sys.argv[1]))
    print(table(results))
    if len(sys.argv) > 2:
        chart(results, sys.argv[2])
