"""Where one W1 training step goes, in milliseconds a batch, against its matrix products.

Run: ``python benchmarks/breakdown.py [float32] [--threads K]``.

Trains the W1 network (784-256-128-10, relu, adam, batch 200) for one epoch
with the engine's own functions, timing each part of every step: gathering
the shuffled batch, the forward pass, the cost, the backward pass and the
Adam step. Then it times the same step's matrix products alone (the GEMM
bound of ``bench.py``) and each of Adam's nine passes over the parameters,
on buffers of the same sizes. The difference between a step and its
products is what the engine adds; the Adam passes show which part of that
is element-wise arithmetic no numpy code can avoid.
"""

import argparse
import time
from collections import defaultdict

import numpy as np
from threadpoolctl import threadpool_limits

from scratchmlp._initializers import initialize
from scratchmlp._network import Network, Workspace, backward, blas_axpy, cost, forward
from scratchmlp._optimizers import Adam
from scratchmlp._training import TrainingData, iter_batches, shuffled

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("dtype", nargs="?", default="float64", choices=["float64", "float32"])
parser.add_argument("--threads", type=int, default=1)
args = parser.parse_args()
dtype = np.dtype(args.dtype)

m, batch, sizes = 20000, 200, [784, 256, 128, 10]
rng = np.random.RandomState(0)
X = rng.randn(m, sizes[0]).astype(dtype)
y = rng.randint(0, sizes[-1], m)
Y = np.zeros((sizes[-1], m), dtype=bool)
Y[y, np.arange(m)] = True
net = Network(sizes, "relu", "log_loss", dtype=dtype)
initialize(net, rng)
workspace = Workspace.for_network(net, batch)
optimizer = Adam(net.theta)
data = TrainingData(X.T, Y)
n_batches = m // batch


def median_ms(fn, repeats=200):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


parts = defaultdict(float)
with threadpool_limits(args.threads):
    order = shuffled(np.arange(m), rng)
    for idx in iter_batches(m, batch, order):
        clock = time.perf_counter()
        A0, Yb, _ = data.batch(idx, workspace)
        parts["gather the batch"] += time.perf_counter() - clock
        clock = time.perf_counter()
        cache = forward(net, A0, workspace.cache(batch))
        parts["forward"] += time.perf_counter() - clock
        clock = time.perf_counter()
        cost(net, cache, Yb, None, 1e-4)
        parts["cost"] += time.perf_counter() - clock
        clock = time.perf_counter()
        grad = backward(net, cache, Yb, None, 1e-4, workspace.grad, workspace.deltas(batch))
        parts["backward"] += time.perf_counter() - clock
        clock = time.perf_counter()
        optimizer.step(net.theta, grad.flat)
        parts["adam step"] += time.perf_counter() - clock

    # The same step's products alone, on buffers of the same shapes.
    L = len(sizes) - 1
    W = [None] + [rng.randn(sizes[l], sizes[l - 1]).astype(dtype) for l in range(1, L + 1)]
    A = [rng.randn(batch, sizes[0]).astype(dtype).T] + [
        np.empty((sizes[l], batch), dtype) for l in range(1, L + 1)
    ]
    D = [None] + [rng.randn(sizes[l], batch).astype(dtype) for l in range(1, L + 1)]
    dW = [None] + [np.empty_like(W[l]) for l in range(1, L + 1)]

    def products():
        for l in range(1, L + 1):
            np.matmul(W[l], A[l - 1], out=A[l])
        for l in range(L, 0, -1):
            np.matmul(D[l], A[l - 1].T, out=dW[l])
            if l > 1:
                np.matmul(W[l].T, D[l], out=D[l - 1])

    gemm = median_ms(products, repeats=50)

    # Adam's nine passes, one by one, on vectors of the parameters' size.
    # (Each pass writes a scratch vector where the real step overwrites g,
    # so that repeating it keeps the values, and the timings, ordinary.)
    n = net.theta.size
    theta, g, mom, v, scratch = (rng.rand(n).astype(dtype) + 0.5 for _ in range(5))
    axpy = blas_axpy(dtype)
    passes = {
        "m *= beta_1": lambda: np.multiply(mom, 0.9, out=mom),
        "m += (1 - beta_1) g (axpy)": lambda: axpy(g, mom, a=0.1),
        "g = g^2": lambda: np.square(g, out=scratch),
        "v *= beta_2": lambda: np.multiply(v, 0.999, out=v),
        "v += (1 - beta_2) g (axpy)": lambda: axpy(g, v, a=0.001),
        "g = sqrt(v)": lambda: np.sqrt(v, out=scratch),
        "g += epsilon": lambda: np.add(g, 1e-8, out=scratch),
        "g = m / g": lambda: np.divide(mom, g, out=scratch),
        "theta -= step g (axpy)": lambda: axpy(g, theta, a=-1e-7),
    }
    adam_passes = {name: median_ms(fn) for name, fn in passes.items()}

total = sum(parts.values()) / n_batches * 1e3
print(
    f"W1 step, {dtype.name}, {args.threads} BLAS thread(s), {net.theta.size} parameters: "
    f"ms a batch (medians of whole epochs)"
)
for name, seconds in parts.items():
    print(f"  {name:30s} {seconds / n_batches * 1e3:7.3f}")
print(f"  {'total':30s} {total:7.3f}")
print(f"  {'the products alone (GEMM)':30s} {gemm:7.3f}   step / GEMM = {total / gemm:.2f}")
print(f"Adam's passes over {n} parameters (hot in cache), ms:")
for name, ms in adam_passes.items():
    print(f"  {name:30s} {ms:7.3f}")
print(f"  {'sum':30s} {sum(adam_passes.values()):7.3f}")
