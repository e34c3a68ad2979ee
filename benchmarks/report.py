"""Turn a ``bench.py --json`` file into the docs' table and bar chart.

Usage::

    python benchmarks/bench.py --json results.json
    python benchmarks/report.py results.json docs/_static/benchmarks.png

Prints a Markdown table (paste it into docs/benchmarks.md) and writes a bar
chart of the time ratios ours / scikit-learn and ours / GEMM bound.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


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
    data = [(f"{name}\n{threads} thr", r) for name, threads, r in rows(results)]
    fig, ax = plt.subplots(figsize=(10, 4))
    x = range(len(data))
    ax.bar([i - 0.2 for i in x], [r["ours_over_gemm"] for _, r in data], 0.4, label="scratchmlp")
    ax.bar([i + 0.2 for i in x], [r["sklearn_over_gemm"] for _, r in data], 0.4, label="scikit-learn")
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
