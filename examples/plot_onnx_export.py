"""
Export a ScratchMLPClassifier to ONNX and run it in onnxruntime
===============================================================

Run from the repository root (after ``pip install ".[onnx]"``)::

    python examples/plot_onnx_export.py

What it does:

1. fits ``Pipeline(StandardScaler(), ScratchMLPClassifier(...))`` on a
   synthetic 3-class problem with 64 features, in float32;
2. exports the whole pipeline with ``skl2onnx.to_onnx`` (scratchmlp
   registered its converters when skl2onnx was imported), with a float32
   input and ``zipmap=False`` so that the probabilities come out as one array;
3. runs the ONNX model in onnxruntime on held-out rows and checks it against
   ``predict`` (labels: exactly equal) and ``predict_proba`` (rtol 1e-5,
   atol 1e-6 in float32, see docs/onnx.md);
4. times onnxruntime against scratchmlp's own ``predict_proba`` on a batch of
   100,000 x 64 rows and prints the ratio.

It is seeded and takes a few seconds. Both sides use their default threads.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scratchmlp import ScratchMLPClassifier

try:
    import onnxruntime as ort
    from skl2onnx import to_onnx
except ImportError:
    sys.exit('This example needs skl2onnx and onnxruntime: pip install ".[onnx]"')

RTOL, ATOL = 1e-5, 1e-6  # float32 agreement, as in docs/onnx.md


def best_time(f, repeat=2):
    f()  # warm up (onnxruntime allocates its buffers on the first run)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    # 1. Fit, in float32 (the network then computes in float32, like ONNX below).
    X, y = make_classification(
        n_samples=3000, n_features=64, n_informative=24, n_classes=3, random_state=0
    )
    X = X.astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    model = make_pipeline(
        StandardScaler(),
        ScratchMLPClassifier(
            hidden_layer_sizes=(64, 32), solver="lbfgs", max_iter=60, alpha=1.0, random_state=0
        ),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    print(f"test accuracy: {model.score(X_test, y_test):.3f}")

    # 2. Export: a one-row float32 sample fixes the input type (float) and width.
    onx = to_onnx(model, X_train[:1], options={ScratchMLPClassifier: {"zipmap": False}})
    print(
        f"ONNX model: {len(onx.SerializeToString()) / 1024:.1f} KiB, outputs "
        f"{[o.name for o in onx.graph.output]}"
    )

    # 3. Run and compare.
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    label, proba = session.run(None, {input_name: X_test})
    np.testing.assert_array_equal(label, model.predict(X_test))
    np.testing.assert_allclose(proba, model.predict_proba(X_test), rtol=RTOL, atol=ATOL)
    print(
        f"labels equal predict; probabilities within rtol={RTOL:g}, atol={ATOL:g} "
        f"(max |difference| {np.abs(proba - model.predict_proba(X_test)).max():.1e})"
    )

    # 4. Time a large batch (the best of two runs after a warm-up).
    X_big = np.random.RandomState(1).randn(100_000, 64).astype(np.float32)
    t_onnx = best_time(lambda: session.run(["probabilities"], {input_name: X_big}))
    t_ours = best_time(lambda: model.predict_proba(X_big))
    print(f"predict_proba on {X_big.shape[0]:,} x {X_big.shape[1]} float32 rows:")
    print(f"  onnxruntime  {t_onnx * 1e3:8.1f} ms")
    print(f"  scratchmlp   {t_ours * 1e3:8.1f} ms")
    print(f"  ratio scratchmlp / onnxruntime: {t_ours / t_onnx:.2f}")


if __name__ == "__main__":
    main()
