#!/usr/bin/env python
"""Do the engine's BLAS products give the same bits on 1 and on 2 threads?

Usage::

    python benchmarks/bitwise.py [--fits]

For float32 and float64, and for layer shapes and batch sizes of the
benchmark workloads and the README's grid search (full batches, the last
partial batch of a fold, full-batch L-BFGS, single rows), runs the engine's
own products on the layouts training uses, once with numpy's BLAS on one
thread and once on two (``threadpool_limits``), and compares the results bit
for bit:

* forward ``Z[l] = W[l] A[l-1] + b[l]`` (``dense_forward``), with ``A[0]``
  gathered (samples contiguous, as the shuffled batches are), a hidden
  ``A[l-1]`` (C-ordered) and a sparse ``A[0]`` (CSR's transpose);
* backward ``dW[l]``, ``db[l]``, ``dA[l-1]`` (``dense_backward``);
* the L2 penalty's ``sum_l ||W[l]||^2`` (``np.dot`` of the flat weights).

With ``--fits``, also whole fits of the workloads (loss curve and weights).
Prints each kind's count of differing cases and the shapes that differ.
The policy (scratchmlp._threads) does not rely on this table: it checks each
fit's own computations before it lets the fit change its count.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import warnings

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

#: (n[l-1], n[l]) pairs of the workloads: W1 (784-256-128-10), W2 (64-100-10),
#: W3 (20-64-64-1), W4 (64-100-10), the README grid (64-{64,128}-10), binary output.
LAYERS = [
    (784, 256),
    (256, 128),
    (128, 10),
    (64, 100),
    (100, 10),
    (20, 64),
    (64, 64),
    (64, 1),
    (64, 128),
    (128, 1),
]
#: Columns: single row, small batches, W2's 32, W3's 64, the README folds' last
#: batch (198) and the digits' 150, full 200, L-BFGS's 2000.
COLUMNS = [1, 32, 64, 150, 198, 200, 2000]


def _on(count, fn):
    with threadpool_limits(limits=count, user_api="blas"):
        return fn()


def _same(a, b) -> bool:
    return all(np.asarray(x).tobytes() == np.asarray(y).tobytes() for x, y in zip(a, b))


def _layer_products(W, b, A, dZ, sparse):
    """The forward and the backward products of one layer, each a function returning arrays."""
    from scratchmlp._network import dense_backward, dense_forward

    (n_out, n_in), m = W.shape, A.shape[1]

    def forward():
        return [dense_forward(W, b, A, np.empty((n_out, m), W.dtype))]

    def backward():
        dW, db = np.empty_like(W), np.empty_like(b)
        dA = None if sparse else np.empty((n_in, m), W.dtype)
        dense_backward(dZ, A, W, 1e-4, dW, db, dA)
        return [dW, db] if sparse else [dW, db, dA]

    return forward, backward


def product_cases(dtype):
    rng = np.random.RandomState(0)
    for (n_in, n_out), m in itertools.product(LAYERS, COLUMNS):
        W = rng.standard_normal((n_out, n_in)).astype(dtype) * 0.1
        b = rng.standard_normal((n_out, 1)).astype(dtype)
        gathered = np.empty((m, n_in), dtype).T  # samples contiguous, as gather_columns writes
        gathered[...] = rng.standard_normal((n_in, m))
        hidden = np.ascontiguousarray(gathered)
        sparse = sp.random(m, n_in, density=0.2, format="csr", random_state=0, dtype=dtype).T
        dZ = rng.standard_normal((n_out, m)).astype(dtype)
        for layout, A in (("gathered", gathered), ("hidden", hidden), ("sparse", sparse)):
            forward, backward = _layer_products(W, b, A, dZ, layout == "sparse")
            yield "forward", layout, (n_out, n_in, m), forward
            yield "backward", layout, (n_out, n_in, m), backward
    for n in sorted({a * b for a, b in LAYERS} | {235146}):
        w = rng.standard_normal(n).astype(dtype)
        yield "L2 dot", "flat", (n,), lambda w=w: [np.dot(w, w)]


def fit_cases():
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler
    from workloads import make_blobs_classification, make_regression_teacher

    from scratchmlp import ScratchMLPClassifier, ScratchMLPRegressor, config_context

    Xd, yd = load_digits(return_X_y=True)
    Xd = StandardScaler().fit_transform(Xd)
    X1, y1 = make_blobs_classification(4000, 784, 10, np.float32)
    X2, y2 = make_blobs_classification(4000, 64, 10, np.float64)
    X3, y3 = make_regression_teacher(2000, 20, np.float64)
    clf, reg = ScratchMLPClassifier, ScratchMLPRegressor
    cases = {
        "README grid fold (1198 rows, last batch 198)": (clf, {}, Xd[:1198], yd[:1198]),
        "digits 1200 rows (no partial batch)": (clf, {}, Xd[:1200], yd[:1200]),
        "W1-f32 (4000 rows)": (clf, {"hidden_layer_sizes": (256, 128), "max_iter": 2}, X1, y1),
        "W1-f64 (4000 rows)": (
            clf,
            {"hidden_layer_sizes": (256, 128), "max_iter": 2},
            X1.astype(np.float64),
            y1,
        ),
        "W2": (clf, {"hidden_layer_sizes": (100,), "batch_size": 32, "max_iter": 2}, X2, y2),
        "W3": (
            reg,
            {
                "hidden_layer_sizes": (64, 64),
                "activation": "tanh",
                "solver": "sgd",
                "batch_size": 64,
                "max_iter": 3,
            },
            X3,
            y3,
        ),
        "W4 (L-BFGS)": (
            clf,
            {"hidden_layer_sizes": (100,), "solver": "lbfgs", "max_iter": 30},
            X2[:2000],
            y2[:2000],
        ),
    }
    for name, (cls, params, X, y) in cases.items():

        def fit(cls=cls, params=params, X=X, y=y):
            with warnings.catch_warnings(), config_context(thread_policy="off"):
                warnings.simplefilter("ignore")
                e = cls(random_state=0, **{"max_iter": 20, **params}).fit(X, y)
            return [np.asarray(e.loss_curve_), *e.coefs_, *e.intercepts_]

        yield "fit", name, (), fit


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fits", action="store_true", help="also whole fits of the workloads")
    args = ap.parse_args(argv)
    from threadpoolctl import threadpool_info

    for d in threadpool_info():
        if d["user_api"] == "blas":
            print(
                f"BLAS {os.path.basename(d['filepath'])}: {d['internal_api']} {d['version']} "
                f"kernel {d.get('architecture')}"
            )
    cases = [
        (np.dtype(dt).name, *case) for dt in (np.float64, np.float32) for case in product_cases(dt)
    ]
    if args.fits:
        cases += [("", *case) for case in fit_cases()]
    summary: dict = {}
    for dtype, kind, layout, shape, fn in cases:
        same = _same(_on(1, fn), _on(2, fn))
        entry = summary.setdefault((kind, dtype, layout), [0, []])
        entry[0] += 1
        if not same:
            entry[1].append(shape)
    print(
        f"\n{'what':<10} {'dtype':<8} {'layout':<46} {'cases':>5} {'differ':>6}  "
        "shapes that differ (n[l] x n[l-1] x columns)"
    )
    for (kind, dtype, layout), (n, diff) in summary.items():
        shapes = ", ".join("x".join(map(str, s)) for s in diff[:8])
        shapes += " ..." if len(diff) > 8 else ""
        print(f"{kind:<10} {dtype:<8} {layout:<46} {n:>5} {len(diff):>6}  {shapes}")


if __name__ == "__main__":
    main()
