"""PyTorch as a peer in bench.py, where it is installed: a straightforward ``torch.nn`` loop.

The same architecture (Linear layers with relu between them), the same
optimizer (Adam, scikit-learn's defaults: lr 1e-3, betas 0.9/0.999, eps
1e-8), the same L2 penalty (``alpha / batch_size`` weight decay on the
weights, which is the gradient of scikit-learn's ``alpha / (2 m) ||W||^2``
term of each batch), batch size, number of epochs and dtype, a new shuffle
each epoch, cross-entropy on the logits. Its threads are set with
``torch.set_num_threads`` to the count of the timing. Nothing else: no
compilation, no channels-last, no data loader; it is what a user would write.

torch is never a dependency of scratchmlp or of its tests; without it
``make_job`` returns None and bench.py leaves the column empty.
"""

from __future__ import annotations

import numpy as np

#: The workloads with a torch peer.
PEERED = ("W1-f64", "W1-f32", "W2")


def torch_version() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    return torch.__version__


def warm(job) -> None:
    """One untimed epoch-sized call: torch's first call loads kernels and builds its pools."""
    job(epochs=1)


def make_job(workload, X, y, threads: int, device: str = "cpu"):
    """A function training the torch peer of ``workload`` and returning its last epoch's loss.

    None when torch is not installed or the workload has no peer. ``device``:
    where the data (copied there once, here) and the model live.
    """
    if workload.name not in PEERED or torch_version() is None:
        return None
    import torch

    params = workload.estimator_params()
    batch, epochs = params["batch_size"], params["max_iter"]
    lr, alpha = params.get("learning_rate_init", 1e-3), params.get("alpha", 1e-4)
    dtype = torch.float32 if np.dtype(workload.dtype) == np.float32 else torch.float64
    Xt = torch.from_numpy(np.ascontiguousarray(X)).to(device)
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64)).to(device)
    sizes = workload.layer_sizes

    def job(epochs: int = epochs) -> float:
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        step = make_step(sizes, dtype, lr, alpha, batch, device)
        n = Xt.shape[0]
        for _ in range(epochs):
            order = torch.randperm(n, device=device)
            total = 0.0
            for start in range(0, n, batch):
                idx = order[start : start + batch]
                total += step(Xt[idx], yt[idx]) * len(idx)
        return total / n

    return job


def make_step(sizes, dtype, lr: float, alpha: float, batch: int, device: str = "cpu"):
    """A new model and its Adam, as ``step(X_batch, y_batch) -> loss``: one training step.

    The model is ``Linear`` layers of ``sizes`` with relu between them; the
    weights (not the biases) get ``alpha / batch`` weight decay.
    """
    import torch

    layers = []
    for i in range(1, len(sizes)):
        layers.append(torch.nn.Linear(sizes[i - 1], sizes[i], dtype=dtype, device=device))
        if i < len(sizes) - 1:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    weights = [p for p in model.parameters() if p.dim() > 1]
    biases = [p for p in model.parameters() if p.dim() == 1]
    optimizer = torch.optim.Adam(
        [{"params": weights, "weight_decay": alpha / batch}, {"params": biases}],
        lr=lr,
        betas=(0.9, 0.999),
        eps=1e-8,
    )
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(Xb, yb) -> float:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(Xb), yb)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step
