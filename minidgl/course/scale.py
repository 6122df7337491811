"""Chapter 7's demonstration at scale: DGL's step under DistributedDataParallel, on two CPU processes (gloo).

Each process takes its half of the same global batches. minidgl's one-backward DGL step gives every process the
gradients averaged over both halves, so the two copies of the model stay identical and equal to one process on
the whole batches. The authors' two-backward step (`minidgl.reference.authors_dgl_step`) does not: its second
backward reaches the fusion head after DistributedDataParallel has averaged the first, so each process keeps the
fusion gradient of its own half and the copies drift apart, with no error.
"""
import tempfile

import torch

from .. import cache, distributed
from ..data import make_gaussian_toy
from ..methods import DGL
from ..models import build_model
from ..reference import authors_dgl_step
from ..train import train_step

PROCEDURES = ("one backward (minidgl)", "two backwards (authors)")


def _data(steps, batch_size):
    """`steps` global batches `[({m: (batch_size, 8)}, (batch_size,))]` of a two-modality Gaussian toy."""
    toy = make_gaussian_toy({"audio": 3.0, "visual": 1.5}, num_classes=4, dim=8, n=steps * batch_size * 2)
    return list(toy.train.batches(batch_size))[:steps], toy


def _train(model, procedure, batches, alpha, forward=None):
    """Run `procedure` on `batches` (each already this process's share); returns the model's final state."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for inputs, labels in batches:
        if procedure == PROCEDURES[0]:
            train_step(model, DGL(alpha=alpha), optimizer, inputs, labels, clip_grad_norm=40.0, forward=forward)
        else:
            authors_dgl_step(model, inputs, labels, optimizer, alpha=alpha, log=[], forward=forward)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _rank(rank, folder, steps, batch_size, alpha):
    """One of the two processes: both procedures from the same initial model, on this rank's half of each batch."""
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=2)
    batches, toy = _data(steps, batch_size)
    half = slice(rank * batch_size // 2, (rank + 1) * batch_size // 2)
    shares = [({m: x[half] for m, x in inputs.items()}, labels[half]) for inputs, labels in batches]
    states = {}
    for procedure in PROCEDURES:
        model = build_model(toy, seed=0)
        states[procedure] = _train(model, procedure, shares, alpha, forward=distributed.wrap(model))
    torch.save(states, f"{folder}/rank{rank}.pt")
    torch.distributed.destroy_process_group()


def _max_gap(a, b, part):
    return max((a[k] - b[k]).abs().max().item() for k in a if k.startswith(part))


def replica_drift(steps=5, batch_size=32, alpha=1.0):
    """Train one MLP model with DGL for `steps` steps on two gloo processes (each half of every global batch of
    `batch_size`), with both procedures, and on one process with the whole batches.

    Returns `{procedure: {"fusion", "encoders": max |process 0 - process 1| over those parameters,
    "vs_one_process": max |process 0 - one process on the whole batches| over all parameters}}`.
    Takes a few seconds (two processes start and import torch), once: the results cache (`minidgl.cache`) then
    returns it.
    """
    key = cache.key("replica-drift", "cpu", steps=steps, batch_size=batch_size, alpha=alpha)
    return cache.computed(key, lambda: _measure_drift(steps, batch_size, alpha))


def _measure_drift(steps, batch_size, alpha):
    with tempfile.TemporaryDirectory() as folder:
        torch.multiprocessing.spawn(_rank, args=(folder, steps, batch_size, alpha), nprocs=2)
        ranks = [torch.load(f"{folder}/rank{r}.pt") for r in range(2)]
    batches, toy = _data(steps, batch_size)
    drift = {}
    for procedure in PROCEDURES:
        alone = _train(build_model(toy, seed=0), procedure, batches, alpha)
        first, second = ranks[0][procedure], ranks[1][procedure]
        drift[procedure] = {"fusion": _max_gap(first, second, "fusion."),
                            "encoders": _max_gap(first, second, "encoders."),
                            "vs_one_process": _max_gap(first, alone, "")}
    return drift
