"""Time per epoch of a W1-shaped fit, ours and scikit-learn's, without the fixed cost of a fit.

Run: ``python benchmarks/per_epoch.py [float32] [--threads K] [--repeats N]``.

Each estimator is fitted for 1 and for 3 epochs, alternating, ``N`` times;
the difference of the medians over 2 is the time of one epoch, and the rest
of the 1-epoch time is the fixed cost (validation, encoding, set-up). The
ratio per epoch is the steady-state speed that a long fit approaches.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from scratchmlp import ScratchMLPClassifier

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("dtype", nargs="?", default="float64", choices=["float64", "float32"])
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--repeats", type=int, default=5)
args = parser.parse_args()

rng = np.random.RandomState(0)
X = rng.randn(20000, 784).astype(args.dtype)
y = rng.randint(0, 10, 20000)
batches = 20000 // 200
estimators = {"scratchmlp": ScratchMLPClassifier, "scikit-learn": MLPClassifier}
times = {(name, epochs): [] for name in estimators for epochs in (1, 3)}
warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter is the point
with threadpool_limits(args.threads):
    for _ in range(args.repeats):
        for epochs in (1, 3):
            for name, Estimator in estimators.items():
                model = Estimator(
                    (256, 128),
                    batch_size=200,
                    max_iter=epochs,
                    tol=0,
                    n_iter_no_change=10**9,
                    random_state=0,
                )
                start = time.perf_counter()
                model.fit(X, y)
                times[name, epochs].append(time.perf_counter() - start)

per_epoch = {}
for name in estimators:
    one, three = np.median(times[name, 1]), np.median(times[name, 3])
    per_epoch[name] = (three - one) / 2
    print(
        f"{name:13s} {args.dtype}, {args.threads} thread(s): per epoch {per_epoch[name]:.3f} s "
        f"({per_epoch[name] / batches * 1e3:.2f} ms a batch), fixed cost "
        f"{one - per_epoch[name]:.3f} s"
    )
ratio = per_epoch["scratchmlp"] / per_epoch["scikit-learn"]
print(f"ratio per epoch ours / scikit-learn: {ratio:.3f}")
