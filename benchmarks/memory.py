"""Peak memory: one operation in a fresh subprocess, with tracemalloc and the peak RSS.

``measure_memory`` writes a spec file and runs this module as a script
(``python memory.py --_memory-probe spec.json``): the child loads or
generates the data, starts ``tracemalloc`` (numpy registers its data
allocations with it), runs one ``fit`` or ``predict_proba`` and prints the
peaks as JSON. ``ours_buffer_bytes`` gives what scratchmlp's own buffers add
up to, from the library's own constants (the prediction chunk, L-BFGS's
history length, the validation fraction).
"""

from __future__ import annotations

import gc
import json
import math
import os
import pickle
import subprocess
import sys
import time

import numpy as np
from report import MB, print_memory
from workloads import (
    SEED,
    Workload,
    describe,
    estimator_classes,
    fit_quiet,
    make_blobs_classification,
)

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
        X, y = make_blobs_classification(
            g["n"], g["d"], g["n_classes"], np.dtype(g["dtype"]), seed=g["seed"]
        )
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
    print(
        json.dumps(
            dict(
                tracemalloc_peak=peak,
                rss_delta=rss1 - rss0,
                rss_method=method,
                out_bytes=out_bytes,
                input_bytes=X.nbytes,
                seconds=dt,
            )
        )
    )


def measure_memory(
    tmpdir,
    op,
    impl,
    task,
    X_path=None,
    y_path=None,
    model=None,
    params=None,
    generate=None,
    fit_rows=None,
):
    """Peak memory of one operation in a fresh subprocess (see ``run_probe``).

    The data come from ``X_path`` / ``y_path`` (``.npy``), or, with
    ``generate`` (the arguments of ``make_blobs_classification``), are
    generated in the subprocess. ``predict_proba`` uses the pickled ``model``,
    or, without one, an estimator with ``params`` fitted in the subprocess on
    the first ``fit_rows`` rows.
    """
    spec = dict(
        op=op,
        impl=impl,
        task=task,
        X=X_path,
        y=y_path,
        params=params,
        generate=generate,
        fit_rows=fit_rows,
    )
    if model is not None:
        mp = os.path.join(tmpdir, f"model_{impl}.pkl")
        with open(mp, "wb") as f:
            pickle.dump(model, f)
        spec["model"] = mp
    sp = os.path.join(tmpdir, f"spec_{op}_{impl}.json")
    with open(sp, "w") as f:
        json.dump(spec, f)
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), PROBE_FLAG, sp], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"memory probe failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


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

    from scratchmlp import ScratchMLPClassifier
    from scratchmlp._inference import MAX_CHUNK
    from scratchmlp._lbfgs import CORRECTIONS

    n, item = w.layer_sizes, np.dtype(w.dtype).itemsize
    hidden_out = sum(n[1:])
    n_params = sum(n[l - 1] * n[l] + n[l] for l in range(1, len(n)))
    if op == "predict_proba":
        chunk = min(get_chunk_n_rows(sum(n) * item, max_n_rows=m), MAX_CHUNK)
        b = ((hidden_out + n[-1]) * chunk + m * n[-1]) * item
        return b, (
            f"O(chunk): (sum(n[1:]) + n[L]) * {chunk} + output {m} x {n[-1]} floats "
            f"= ({hidden_out} + {n[-1]}) * {chunk} + {m * n[-1]}"
        )
    if params["solver"] == "lbfgs":
        b = (2 * hidden_out + n[-1]) * m * item + 2 * CORRECTIONS * n_params * 8
        return b, (
            f"O(m): (2 * sum(n[1:]) + n[L]) * m floats + 2 * {CORRECTIONS} * n_params "
            f"float64 = (2 * {hidden_out} + {n[-1]}) * {m} + {2 * CORRECTIONS} * {n_params}"
        )
    mb = params["batch_size"]
    b = (2 * hidden_out + n[-1] + n[0]) * mb * item
    formula = (
        f"O(batch): (2 * sum(n[1:]) + n[L] + n[0]) * batch floats "
        f"= (2 * {hidden_out} + {n[-1]} + {n[0]}) * {mb}"
    )
    if params.get("early_stopping"):
        fraction = params.get("validation_fraction", ScratchMLPClassifier().validation_fraction)
        held_out = int(math.ceil(fraction * m))
        b += held_out * n[0] * item
        formula += f" + the held-out rows {held_out} x {n[0]} (copied)"
    return b, formula


def run_memory_workload(w: Workload, threads, repeats, memory, tmpdir):
    """Peak memory only, each case in a fresh subprocess that generates the data."""
    print("-" * 100)
    print(f"{w.name}: {w.description}")
    print(f"  {describe(w)}")
    res = dict(
        name=w.name, description=w.description, config=describe(w), threads={}, memory_cases=[]
    )
    if not memory:
        print("  skipped: W6 measures only memory (drop --no-memory)")
        return res
    generate = dict(n=w.n, d=w.d, n_classes=w.n_out, dtype=np.dtype(w.dtype).name, seed=SEED)
    for label, op, change in w.extra["cases"]:
        params = dict(w.estimator_params(), **change)
        if params["solver"] == "lbfgs":
            params.pop("batch_size")  # lbfgs is full-batch
        mem = {
            impl: measure_memory(
                tmpdir,
                op,
                impl,
                w.task,
                params=params,
                generate=generate,
                fit_rows=w.fit_subset if op == "predict_proba" else None,
            )
            for impl in ("ours", "sklearn")
        }
        print_memory(f"{label} ({w.name})", mem)
        b, formula = ours_buffer_bytes(w, op, params, w.n)
        print(f"    ours' buffers by formula: {b / MB:8.1f} MB   {formula}")
        print(
            f"    time of the operation under tracemalloc (which slows every allocation; "
            f"not a speed measurement): ours {mem['ours']['seconds']:.1f} s, "
            f"sklearn {mem['sklearn']['seconds']:.1f} s"
        )
        sys.stdout.flush()
        mem.update(label=label, op=op, params=params, ours_buffers=b, ours_buffers_formula=formula)
        res["memory_cases"].append(mem)
    return res


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == PROBE_FLAG:
        run_probe(sys.argv[2])
    else:
        sys.exit(f"usage: python {sys.argv[0]} {PROBE_FLAG} spec.json (run by measure_memory)")
