"""What each of two gloo processes computes for tests/test_distributed.py, saved to `<folder>/rank<r>.pt`.

Every rank takes its half of the same global batch: one `train_step` of each method through
DistributedDataParallel, the authors' two-backward DGL step through it, short `fit` runs on a small in-memory
dataset, and the errors `fit` raises for a batch or a split that the ranks cannot share.
"""
import torch
import torch.distributed as dist

import minidgl
from minidgl import distributed
from minidgl.reference import authors_dgl_step
from minidgl.train import train_step
from tiny import make_batch, make_model

MODALITIES = ["audio", "visual"]
WORLD = 2
BATCH = 16
NOISE_SEED = 7  # the global generator's seed before each step: OGM-GE draws its noise from it
FIT_METHODS = ["dgl", "ogm-ge", "unimodal:audio"]
FIT_OPTIONS = dict(epochs=2, batch_size=16, lr=0.1, device="cpu", progress=False)


def step_methods():
    """`{label: (method, micro_batches)}`: the methods whose one step under DDP the tests compare."""
    return {"joint": (minidgl.Joint(), 1), "joint, 2 micro-batches": (minidgl.Joint(), 2),
            "uniform": (minidgl.Uniform(), 1), "dgl": (minidgl.DGL(alpha=0.5), 1),
            "mmpareto": (minidgl.MMPareto(), 1), "ogm": (minidgl.OGM(strength=0.8), 1),
            "ogm-ge": (minidgl.OGMGE(strength=0.8), 1), "unimodal:audio": (minidgl.Unimodal("audio"), 1)}


def float64_model():
    return make_model(MODALITIES).double()


def global_batch():
    """The batch both ranks share, `({m: (16, dim)}, (16,))` in float64."""
    inputs, labels = make_batch(MODALITIES, n=BATCH)
    return {m: x.double() for m, x in inputs.items()}, labels


def optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=1e-4)


def make_splits(n_train=40):
    """Small float64 `Splits` whose classes depend on both modalities (`n_train` training samples)."""
    g = torch.Generator().manual_seed(3)

    def split(n):
        inputs = {m: torch.randn(n, d, generator=g, dtype=torch.float64) for m, d in (("audio", 6), ("visual", 5))}
        labels = (inputs["audio"][:, :3].sum(1) > 0).long() * 2 + (inputs["visual"][:, 0] > 0).long()
        return minidgl.MultimodalDataset(inputs, labels)
    return minidgl.Splits(split(n_train), split(20), split(20))


def fit_model(data):
    torch.manual_seed(0)
    return minidgl.build_model(data, encoder="mlp").double()


def _error(fn):
    try:
        fn()
    except minidgl.errors.MinidglError as error:
        return f"{type(error).__name__}: {error}"
    return None


def main(rank, folder):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=WORLD)
    inputs, labels = global_batch()
    share = slice(rank * BATCH // WORLD, (rank + 1) * BATCH // WORLD)
    inputs, labels = {m: x[share] for m, x in inputs.items()}, labels[share]
    results = {"steps": {}, "stats": {}, "fit": {}, "history": {}}

    for label, (method, micro_batches) in step_methods().items():
        model = float64_model()
        ddp = distributed.wrap(model, find_unused_parameters=not method.trains_all_parameters)
        torch.manual_seed(NOISE_SEED)
        step = train_step(model, method, optimizer(model), inputs, labels, forward=ddp, micro_batches=micro_batches)
        results["steps"][label] = {k: v.clone() for k, v in model.state_dict().items()}
        results["stats"][label] = step.stats

    model = float64_model()
    authors_dgl_step(model, inputs, labels, optimizer(model), alpha=0.5, log=[], forward=distributed.wrap(model))
    results["authors dgl"] = {k: v.clone() for k, v in model.state_dict().items()}

    data = make_splits()
    for method in FIT_METHODS:
        model = fit_model(data)
        results["history"][method] = minidgl.fit(model, data, method, **FIT_OPTIONS).to_dict()
        results["fit"][method] = model.state_dict()

    results["errors"] = {
        "odd batch": _error(lambda: minidgl.fit(fit_model(data), data, "joint", **{**FIT_OPTIONS, "batch_size": 15})),
        "one sample": _error(lambda: minidgl.fit(fit_model(data), minidgl.Splits(
            data.train.subset(torch.tensor([0])), data.val, data.test), "joint", **FIT_OPTIONS))}
    torch.save(results, f"{folder}/rank{rank}.pt")
    dist.destroy_process_group()
