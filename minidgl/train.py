"""fit / evaluate / History: the training loop every chapter uses, device-agnostic and free of host syncs per step."""
from dataclasses import asdict, dataclass, field, fields, replace

import torch
from tqdm.auto import tqdm

from .diagnostics import encoder_grad_norms
from .methods import get_method
from .runtime import resolve_device, seed_everything


@dataclass
class TrainConfig:
    """Training settings. Defaults suit the built-in data; the papers' values are cited beside each."""

    epochs: int = 2                 # AV-Digits: 2 passes over 20 noisy copies of each image; DGL code: 100
    batch_size: int = 64            # DGL, MMPareto and OGM-GE code: 64
    lr: float = 0.05                # AV-Digits MLPs; DGL and MMPareto code use 0.002 on CREMA-D (ResNet-18)
    momentum: float = 0.9           # all three authors' code
    weight_decay: float = 1e-4      # all three authors' code
    lr_milestones: tuple = ()       # DGL code: (70,), lr x0.1 there
    clip_grad_norm: float = None    # DGL code clips the global gradient norm at 40; None: no clipping
    amp: bool = False               # bfloat16 autocast (meant for CUDA; also runs on CPU)
    compile: bool = False           # torch.compile the model
    device: str = None              # None: cuda when available, else cpu
    seed: int = 0
    eval_batch_size: int = 512
    progress: bool = True           # a tqdm bar over epochs


@dataclass
class History:
    """Per-epoch curves of one run plus the test metrics of the checkpoint chosen on validation.

    `grad_norm[m]` is the mean over an epoch's steps of the L2 norm of encoder `m`'s whole gradient;
    `step_grad_norm[m]`, `step_loss` and `step_acc` (the fused accuracy on the batch) are the same
    quantities at every step, all epochs in order.
    `method_stats[key]` is the per-epoch mean of a statistic the method records each step (e.g. OGM-GE's
    `rho:<m>`), `method_steps[key]` the same statistic at every step, all epochs in order.
    `test_acc` is the method's headline accuracy (fused; the modality's own for unimodal training).
    """

    method: str
    modalities: list
    train_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    train_unimodal_acc: dict = field(default_factory=dict)
    val_acc: list = field(default_factory=list)
    val_unimodal_acc: dict = field(default_factory=dict)
    grad_norm: dict = field(default_factory=dict)
    step_loss: list = field(default_factory=list)
    step_acc: list = field(default_factory=list)
    step_grad_norm: dict = field(default_factory=dict)
    method_stats: dict = field(default_factory=dict)
    method_steps: dict = field(default_factory=dict)
    best_epoch: int = -1
    test_acc: float = float("nan")
    test_fused_acc: float = float("nan")
    test_unimodal_acc: dict = field(default_factory=dict)

    def __post_init__(self):
        for curves in (self.train_unimodal_acc, self.val_unimodal_acc, self.grad_norm, self.step_grad_norm):
            for m in self.modalities:
                curves.setdefault(m, [])

    def to_dict(self):
        return asdict(self)


def make_config(config=None, **overrides):
    """A `TrainConfig` from `config` (or the defaults) with `overrides` applied; unknown keys are an error."""
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"unknown training option(s) {unknown}; valid options are {sorted(known)}")
    return replace(config or TrainConfig(), **overrides)


def _check_data(model, data):
    if data.modalities != model.modalities:
        raise KeyError(f"the data has modalities {data.modalities} but the model was built for {model.modalities}; "
                       f"build the model from this data or select its modalities with data.select(...)")


@torch.no_grad()
def evaluate(model, dataset, batch_size=512):
    """Accuracy and loss of `model` on `dataset`: `{"fused_acc", "unimodal_acc": {m: acc}, "loss"}`.

    Batches are moved to the model's device as they come (a no-op for a dataset already there).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = torch.zeros((), device=device)
    unimodal_correct = {m: torch.zeros_like(correct) for m in model.modalities}
    loss = torch.zeros_like(correct)
    for inputs, labels in dataset.batches(batch_size):
        inputs, labels = {m: x.to(device) for m, x in inputs.items()}, labels.to(device)
        out = model(inputs)
        correct += (out.fused_logits.argmax(1) == labels).sum()
        loss += torch.nn.functional.cross_entropy(out.fused_logits.float(), labels, reduction="sum")
        for m, logits in out.unimodal_logits.items():
            unimodal_correct[m] += (logits.argmax(1) == labels).sum()
    model.train(was_training)
    n = len(dataset)
    return {"fused_acc": correct.item() / n, "unimodal_acc": {m: c.item() / n for m, c in unimodal_correct.items()},
            "loss": loss.item() / n}


def _score(method, metrics):
    return metrics["fused_acc"] if method.score == "fused" else metrics["unimodal_acc"][method.score]


def fit(model, data, method="joint", config=None, on_epoch_end=None, **overrides):
    """Train `model` on `data.train` with `method`, select the epoch with the best `data.val` accuracy,
    restore it and evaluate `data.test` once. Returns a `History`.

    `method`: a name (`"joint"`, `"uniform"`, `"dgl"`, `"unimodal:audio"`), a `Routing`, or a `Method`.
    `on_epoch_end(epoch, model)`, if given, is called after each epoch's last step (epoch counted from 1),
    e.g. to measure gradients at the parameters training has reached.
    `overrides` set `TrainConfig` fields, e.g. `fit(model, data, "dgl", epochs=20, lr=0.02)`.
    """
    cfg = make_config(config, **overrides)
    method = get_method(method)
    method.check(model)
    _check_data(model, data)
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    model.to(device)
    data = data.to(device)
    step_model = torch.compile(model) if cfg.compile else model
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(cfg.lr_milestones), gamma=0.1)
    shuffle = torch.Generator().manual_seed(cfg.seed)
    history = History(method.name, model.modalities)
    best_score, best_state = -1.0, None

    for epoch in tqdm(range(cfg.epochs), desc=method.name, disable=not cfg.progress, leave=False):
        model.train()
        steps = {"loss": [], "correct": [], "size": []}
        steps.update({f"correct:{m}": [] for m in model.modalities})
        steps.update({f"grad:{m}": [] for m in model.modalities})
        for inputs, labels in data.train.batches(cfg.batch_size, shuffle=True, generator=shuffle):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp):
                out = step_model(inputs, method.routing)
                losses = method.losses(out, labels)
            optimizer.zero_grad(set_to_none=True)
            method.backward(model, out, losses, epoch)
            for m, norm in encoder_grad_norms(model).items():
                steps[f"grad:{m}"].append(norm)
            if cfg.clip_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
            optimizer.step()
            steps["loss"].append(losses.total.detach().float())
            steps["correct"].append((out.fused_logits.argmax(1) == labels).sum())
            steps["size"].append(len(labels))
            for m, logits in out.unimodal_logits.items():
                steps[f"correct:{m}"].append((logits.argmax(1) == labels).sum())
        scheduler.step()

        bad = torch.nonzero(~torch.isfinite(torch.stack(steps["loss"])))
        if len(bad):
            raise FloatingPointError(
                f"the {method.name} loss became NaN or infinite at epoch {epoch}, step {int(bad[0, 0])} "
                f"(lr {cfg.lr}); lower the learning rate, set clip_grad_norm, or check the inputs for NaN")
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, model)
        host = {k: v if k == "size" else torch.stack(v).tolist() for k, v in steps.items()}
        n = len(data.train)
        history.step_loss += host["loss"]
        history.step_acc += [c / size for c, size in zip(host["correct"], host["size"])]
        history.train_loss.append(sum(host["loss"]) / len(host["loss"]))
        history.train_acc.append(sum(host["correct"]) / n)
        for m in model.modalities:
            history.train_unimodal_acc[m].append(sum(host[f"correct:{m}"]) / n)
            history.grad_norm[m].append(sum(host[f"grad:{m}"]) / len(host[f"grad:{m}"]))
            history.step_grad_norm[m] += host[f"grad:{m}"]
        for key, value in method.epoch_stats().items():
            history.method_stats.setdefault(key, []).append(value)
        for key, values in method.step_stats().items():
            history.method_steps.setdefault(key, []).extend(values)

        val = evaluate(model, data.val, cfg.eval_batch_size)
        history.val_acc.append(val["fused_acc"])
        for m, acc in val["unimodal_acc"].items():
            history.val_unimodal_acc[m].append(acc)
        if _score(method, val) > best_score:
            best_score, history.best_epoch = _score(method, val), epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    if best_state is not None:
        model.load_state_dict(best_state)
    test = evaluate(model, data.test, cfg.eval_batch_size)
    history.test_acc = _score(method, test)
    history.test_fused_acc = test["fused_acc"]
    history.test_unimodal_acc = test["unimodal_acc"]
    return history
