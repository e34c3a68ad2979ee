"""Where a W1-shaped fit spends its time, by function (CPU time, one BLAS thread).

Run: ``python benchmarks/profile_fit.py [float32]``. The matrix products are
inside ``dense_forward`` and ``dense_backward``; everything else is overhead.
"""

import cProfile
import pstats
import sys
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from scratchmlp import ScratchMLPClassifier

warnings.simplefilter("ignore")
dtype = np.float32 if "float32" in sys.argv else np.float64
rng = np.random.RandomState(0)
X = rng.randn(20000, 784).astype(dtype)
y = rng.randint(0, 10, 20000)
model = ScratchMLPClassifier(
    (256, 128), batch_size=200, max_iter=2, tol=0, n_iter_no_change=10**9, random_state=0
)
with threadpool_limits(1):
    profiler = cProfile.Profile(time.process_time)
    profiler.runcall(model.fit, X, y)
pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
