"""The benchmark's workloads: the data, the estimators' settings, and their description.

W1 to W5 are timed (fit or predict_proba); W6 measures only peak memory, at
scale. ``build_workloads(tiny=True)`` gives a small version of each kind,
for the test suite's smoke test.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

# A huge n_iter_no_change: with tol=0 the stopping rule never fires, so every
# fit runs exactly max_iter epochs.
NO_STOP = 10**9
SEED = 0


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------
def make_blobs_classification(n, d, n_classes, dtype, seed=SEED, sep=4.0, clusters_per_class=2):
    """Gaussian blobs, ``clusters_per_class`` per class (so not linearly separable).

    Centers are random with expected pairwise distance about ``sep`` in units of
    the unit-variance noise, so the classes overlap a little and the training
    loss stays meaningful (well above 0, well below log(n_classes)).
    """
    rng = np.random.RandomState(seed)
    n_centers = n_classes * clusters_per_class
    centers = rng.randn(n_centers, d) * (sep / math.sqrt(2 * d))
    center_of = rng.randint(n_centers, size=n)
    y = center_of % n_classes
    X = np.empty((n, d), dtype=dtype)
    chunk = 20000  # generate in float64 chunks to bound the temporary memory
    for s in range(0, n, chunk):
        e = min(s + chunk, n)
        X[s:e] = centers[center_of[s:e]] + rng.randn(e - s, d)
    return X, y


def make_regression_teacher(n, d, dtype, seed=SEED, width=16, noise=0.1):
    """y from a random one-hidden-layer tanh teacher plus noise, standardised."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    U = rng.randn(d, width) / math.sqrt(d)
    v = rng.randn(width)
    y = np.tanh(2.0 * X @ U) @ v + 0.3 * (X[:, 0] * X[:, 1]) + noise * rng.randn(n)
    y = (y - y.mean()) / y.std()
    return X.astype(dtype), y.astype(dtype)


# ---------------------------------------------------------------------------
# Workloads
# ---------------------------------------------------------------------------
@dataclass
class Workload:
    name: str
    description: str
    task: str  # "clf" or "reg"
    n: int
    d: int
    n_out: int  # classes for clf, outputs for reg
    hidden: tuple
    params: dict
    dtype: type
    kind: str = "fit"  # "fit", "predict", or "memory" (peak memory only)
    predict_n: int = 0  # rows of the predict_proba matrix (kind == "predict")
    fit_subset: int = 0  # rows used for the brief fit (kind "predict" / "memory")
    fit_memory: bool = False  # also measure peak memory of fit
    extra: dict = field(default_factory=dict)

    @property
    def layer_sizes(self):
        return [self.d, *self.hidden, self.n_out]

    def estimator_params(self):
        p = dict(
            hidden_layer_sizes=self.hidden,
            random_state=SEED,
            tol=0.0,
            n_iter_no_change=NO_STOP,
            shuffle=True,
        )
        p.update(self.params)
        return p


def tiny_workloads():
    """One small workload of each kind (fit with memory, lbfgs, predict, memory): seconds in all."""
    adam = dict(activation="relu", solver="adam", batch_size=50, max_iter=1)
    return [
        Workload(
            name="T1",
            description="tiny fit",
            task="clf",
            n=600,
            d=20,
            n_out=3,
            hidden=(16,),
            params=adam,
            dtype=np.float32,
        ),
        Workload(
            name="T2",
            description="tiny lbfgs fit",
            task="reg",
            n=300,
            d=10,
            n_out=1,
            hidden=(8,),
            params=dict(activation="tanh", solver="lbfgs", max_iter=5),
            dtype=np.float64,
        ),
        Workload(
            name="T3",
            description="tiny predict_proba",
            task="clf",
            n=600,
            d=20,
            n_out=3,
            hidden=(16,),
            params=adam,
            dtype=np.float32,
            kind="predict",
            predict_n=2000,
            fit_subset=300,
        ),
        Workload(
            name="T4",
            description="tiny peak memory",
            task="clf",
            n=3000,
            d=10,
            n_out=3,
            hidden=(8,),
            params=adam,
            dtype=np.float32,
            kind="memory",
            fit_subset=300,
            extra=dict(cases=[("fit adam", "fit", {})]),
        ),
    ]


def build_workloads(quick: bool, tiny: bool = False):
    if tiny:
        return tiny_workloads()
    ep1 = 1 if quick else 3
    ep3 = 3 if quick else 10
    lbfgs_iter = 20 if quick else 50
    W = []
    for dt, tag in ((np.float64, "f64"), (np.float32, "f32")):
        W.append(
            Workload(
                name=f"W1-{tag}",
                description="MNIST-shaped fit",
                task="clf",
                n=20000,
                d=784,
                n_out=10,
                hidden=(256, 128),
                params=dict(activation="relu", solver="adam", batch_size=200, max_iter=ep1),
                dtype=dt,
                fit_memory=True,
            )
        )
    W.append(
        Workload(
            name="W2",
            description="small-batch fit (per-batch overhead)",
            task="clf",
            n=20000,
            d=64,
            n_out=10,
            hidden=(100,),
            params=dict(activation="relu", solver="adam", batch_size=32, max_iter=ep1),
            dtype=np.float64,
        )
    )
    W.append(
        Workload(
            name="W3",
            description="regression, sgd + nesterov",
            task="reg",
            n=5000,
            d=20,
            n_out=1,
            hidden=(64, 64),
            params=dict(
                activation="tanh",
                solver="sgd",
                momentum=0.9,
                nesterovs_momentum=True,
                learning_rate_init=0.01,
                batch_size=64,
                max_iter=ep3,
            ),
            dtype=np.float64,
        )
    )
    W.append(
        Workload(
            name="W4",
            description="lbfgs full-batch fit",
            task="clf",
            n=2000,
            d=64,
            n_out=10,
            hidden=(100,),
            params=dict(activation="relu", solver="lbfgs", max_iter=lbfgs_iter),
            dtype=np.float64,
        )
    )
    W.append(
        Workload(
            name="W5",
            description="predict_proba, 784 -> (256,128) -> 10, float32",
            task="clf",
            n=20000,
            d=784,
            n_out=10,
            hidden=(256, 128),
            params=dict(activation="relu", solver="adam", batch_size=200, max_iter=1),
            dtype=np.float32,
            kind="predict",
            predict_n=50000 if quick else 200000,
            fit_subset=5000,
        )
    )
    # Memory only, the same size with or without --quick (which leaves it out
    # unless named): each case runs in a fresh subprocess that generates the
    # data itself (not counted in the peak).
    W.append(
        Workload(
            name="W6",
            description="peak memory at scale: fit (adam, early stopping, lbfgs), predict_proba",
            task="clf",
            n=1_000_000,
            d=100,
            n_out=10,
            hidden=(64,),
            params=dict(
                activation="relu", solver="adam", batch_size=200, max_iter=1, early_stopping=False
            ),
            dtype=np.float32,
            kind="memory",
            fit_subset=5000,
            extra=dict(
                cases=[
                    # (label, operation, parameters changed from ``params``)
                    ("fit adam", "fit", {}),
                    ("fit adam early_stopping", "fit", dict(early_stopping=True)),
                    ("fit lbfgs max_iter=2", "fit", dict(solver="lbfgs", max_iter=2)),
                    ("predict_proba", "predict_proba", {}),
                ]
            ),
        )
    )
    return W


#: Left out of the default list with --quick (W6 alone takes about 2 minutes);
#: still run when named in --workloads.
NOT_IN_QUICK = ("W6",)


def workload_data(w: Workload):
    if w.task == "clf":
        return make_blobs_classification(w.n, w.d, w.n_out, w.dtype)
    return make_regression_teacher(w.n, w.d, w.dtype)


def predict_data(w: Workload):
    X, _ = make_blobs_classification(w.predict_n, w.d, w.n_out, w.dtype, seed=SEED + 1)
    return X


def estimator_classes(task):
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    from scratchmlp import ScratchMLPClassifier, ScratchMLPRegressor

    if task == "clf":
        return ScratchMLPClassifier, MLPClassifier
    return ScratchMLPRegressor, MLPRegressor


def describe(w: Workload):
    p = w.params
    parts = [
        f"n={w.n}",
        f"d={w.d}",
        (f"classes={w.n_out}" if w.task == "clf" else "outputs=1"),
        f"hidden={w.hidden}",
        p.get("activation", "relu"),
        p["solver"],
    ]
    if p["solver"] == "sgd":
        parts.append(
            f"momentum={p.get('momentum')} nesterov={p.get('nesterovs_momentum')} "
            f"lr={p.get('learning_rate_init')}"
        )
    if p["solver"] != "lbfgs":
        parts.append(f"batch={p['batch_size']} epochs={p['max_iter']}")
    else:
        parts.append(f"max_iter={p['max_iter']} tol=0")
    parts.append(np.dtype(w.dtype).name)
    if w.kind == "predict":
        parts = [
            f"predict_proba on {w.predict_n}x{w.d} {np.dtype(w.dtype).name}",
            f"model fitted {p['max_iter']} epoch on {w.fit_subset} rows",
            f"hidden={w.hidden}",
        ]
    if w.kind == "memory":
        parts.append(
            f"predict_proba with a model fitted {p['max_iter']} epoch on the "
            f"first {w.fit_subset} rows"
        )
    return ", ".join(parts)


def fit_quiet(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on max_iter is the point
        est.fit(X, y)
    return est
