"""train_step / fit / evaluate / History: the training loop every chapter uses, device-agnostic and free of host
syncs per step, over in-memory splits or any iterable of batches (a DataLoader, a stream)."""
import contextlib
import math
import numbers
from dataclasses import asdict, dataclass, field, fields, replace

import torch
from tqdm.auto import tqdm

from . import distributed
from .cache import describe
from .checkpoint import check_target, load_checkpoint, restore, save_checkpoint
from .errors import InvalidType, InvalidValue, NotFinite, UnknownKey
from .methods import get_method
from .models import Output, Tokens
from .routing import Losses
from .runtime import check_seed, resolve_device, seeded


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
    micro_batches: int = 1          # gradient accumulation: each batch back-propagated in this many parts
    amp: object = False             # autocast: True or "bfloat16", or "float16" (with a GradScaler); for CUDA,
                                    # also runs on CPU
    compile: bool = False           # torch.compile the model
    device: str = None              # None: cuda when available, else cpu
    seed: int = 0
    eval_batch_size: int = 512
    track_unimodal: bool = True     # record the unimodal heads' training accuracy; False skips the unimodal
                                    # logits on the steps of methods that do not need them (joint: M passes less)
    progress: bool = True           # a tqdm bar over epochs

    def __post_init__(self):
        """Refuse a setting training cannot use, naming it, its value and what is valid."""
        for name, (valid, what) in CONFIG_RULES.items():
            value = getattr(self, name)
            if not valid(value):
                raise InvalidValue(f"{name} must be {what}, got {value!r}")
        check_seed(self.seed)


def _integer(value, low=1):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low


def _positive(value, allow_zero=False):
    return (isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
            and (value >= 0 if allow_zero else value > 0))


CONFIG_RULES = {  # TrainConfig field: (test of a valid value, what is valid)
    "epochs": (_integer, "an integer >= 1"),
    "batch_size": (_integer, "an integer >= 1"),
    "lr": (lambda v: _positive(v) and v <= 1e6, "a number > 0 and <= 1e6"),
    "momentum": (lambda v: _positive(v, allow_zero=True), "a finite number >= 0"),
    "weight_decay": (lambda v: _positive(v, allow_zero=True), "a finite number >= 0"),
    "lr_milestones": (lambda v: isinstance(v, (tuple, list)) and all(_integer(e) for e in v),
                      "a tuple of epochs (integers >= 1)"),
    "clip_grad_norm": (lambda v: v is None or _positive(v), "None (no clipping) or a finite number > 0"),
    "micro_batches": (_integer, "an integer >= 1"),
    "amp": (lambda v: v is False or v is True or v in ("bfloat16", "float16"), "False, True, 'bfloat16' or 'float16'"),
    "compile": (lambda v: isinstance(v, bool), "True or False"),
    "device": (lambda v: v is None or isinstance(v, (str, torch.device)), "None, a device name or a torch.device"),
    "eval_batch_size": (_integer, "an integer >= 1"),
    "track_unimodal": (lambda v: isinstance(v, bool), "True or False"),
    "progress": (lambda v: isinstance(v, bool), "True or False"),
}


@dataclass
class History:
    """Per-epoch curves of one run plus the test metrics of the checkpoint chosen on validation.

    `grad_norm[m]` is the mean over an epoch's steps of the L2 norm of encoder `m`'s whole gradient;
    `step_grad_norm[m]`, `step_loss` and `step_acc` (the fused accuracy on the batch) are the same
    quantities at every step, all epochs in order.
    `method_stats[name][m]` is the per-epoch mean of a statistic the method reports each step for modality m
    (e.g. OGM-GE's `["rho"]["audio"]`), `method_steps[name][m]` the same statistic at every step, all epochs
    in order.
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
        raise InvalidType(f"unknown training option(s) {unknown}; valid options are {sorted(known)}")
    return replace(config or TrainConfig(), **overrides)


def _check_data(model, data):
    modalities = getattr(data, "modalities", None)
    if modalities is not None and modalities != model.modalities:
        raise UnknownKey(f"the data has modalities {modalities} but the model was built for {model.modalities}; "
                         f"build the model from this data or select its modalities with data.select(...)")
    for name in ("train", "val", "test"):
        split = getattr(data, name, None)
        labels = getattr(split, "labels", None)
        if labels is None:
            continue  # an iterable of batches: its samples are counted as they come
        if not len(labels):
            raise InvalidValue(f"the {name} split is empty; split the data so that every split has samples")
        classes = getattr(getattr(model, "config", None), "num_classes", None)
        if classes is not None and int(labels.max()) >= classes:
            raise InvalidValue(f"the {name} split has label {int(labels.max())} but the model has {classes} classes; "
                               f"build the model from this data")
        parameter = next(model.parameters())
        wrong = {m: x.dtype for m, x in getattr(split, "inputs", {}).items() if x.dtype != parameter.dtype}
        if wrong:
            raise InvalidType(f"the {name} split's inputs {wrong} are not of the model's dtype {parameter.dtype}; "
                              f"convert one of them (e.g. x.float() for the data, or model.double())")


def _check_classes(split):
    """Refuse an in-memory training split of one class (a classifier needs two)."""
    labels = getattr(split, "labels", None)
    if labels is not None and len(torch.unique(labels)) < 2:
        raise InvalidValue(f"the training split holds one class only ({int(labels[0])}); a classifier needs "
                           f"samples of at least 2 classes")


def batches(split, batch_size, shuffle=False, generator=None):
    """`(inputs, labels)` batches of `split`: an in-memory `MultimodalDataset` is sliced (`batch_size`, `shuffle`
    and `generator` apply); any other iterable of batches (a DataLoader, a stream) is iterated as it is."""
    if hasattr(split, "batches"):
        return split.batches(batch_size, shuffle=shuffle, generator=generator)
    return iter(split)


def to_device(inputs, labels, device):
    """A batch moved to `device` (a no-op for tensors already there; asynchronous from pinned memory)."""
    return {m: x.to(device, non_blocking=True) for m, x in inputs.items()}, labels.to(device, non_blocking=True)


@torch.no_grad()
def evaluate(model, dataset, batch_size=512):
    """Accuracy and loss of `model` on `dataset`: `{"fused_acc", "unimodal_acc": {m: acc}, "loss"}`.

    `dataset`: a `MultimodalDataset` or any iterable of `(inputs, labels)` batches. Batches are moved to the
    model's device as they come; samples are counted as they arrive. Under a process group every rank must call
    it: each evaluates its part of an in-memory split (an iterable delivers each rank's part itself), and the
    counts and losses are summed over the ranks.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = torch.zeros((), device=device)
    unimodal_correct = {m: torch.zeros_like(correct) for m in model.modalities}
    loss = torch.zeros_like(correct)
    n = 0
    for inputs, labels in batches(distributed.evaluation_split(dataset), batch_size):
        inputs, labels = to_device(inputs, labels, device)
        out = model(inputs)
        correct += (out.fused_logits.argmax(1) == labels).sum()
        loss += torch.nn.functional.cross_entropy(out.fused_logits.float(), labels, reduction="sum")
        for m, logits in out.unimodal_logits.items():
            unimodal_correct[m] += (logits.argmax(1) == labels).sum()
        n += len(labels)
    model.train(was_training)
    correct, loss, n, *unimodal = distributed.summed([correct, loss, n, *unimodal_correct.values()])
    unimodal_correct = dict(zip(unimodal_correct, unimodal))
    if n == 0:
        raise InvalidValue("evaluate got no samples: the split (or its iterable of batches) is empty")
    return {"fused_acc": correct.item() / n, "unimodal_acc": {m: c.item() / n for m, c in unimodal_correct.items()},
            "loss": loss.item() / n}


def encoder_grad_norms(model):
    """L2 norm of each encoder's whole current `.grad`, as `{modality: 0-dim tensor}` (0 where there is none)."""
    norms = {}
    for m, encoder in model.encoders.items():
        grads = [p.grad for p in encoder.parameters() if p.grad is not None]
        norms[m] = torch.nn.utils.get_total_norm(grads) if grads else \
            torch.zeros((), device=next(encoder.parameters()).device)
    return norms


@dataclass
class Step:
    """What one training step leaves: the forward `output`, the `losses`, each encoder's gradient norm
    `{m: 0-d tensor}` (before clipping) and the method's statistics `{name: {m: 0-d tensor}}`."""

    output: object
    losses: object
    grad_norm: dict
    stats: dict


AMP_DTYPES = {True: torch.bfloat16, "bfloat16": torch.bfloat16, "float16": torch.float16}


def train_step(model, method, optimizer, inputs, labels, epoch=0, clip_grad_norm=None, amp=False, forward=None,
               unimodal=True, scaler=None, micro_batches=1):
    """One optimisation step of `method` on the batch `inputs` `{m: (batch, ...)}`, `labels` `(batch,)`, already
    on the model's device: forward under the method's routing (autocast with `amp`: True or "bfloat16", or
    "float16"), the method's losses and backward, gradient norms, optional clipping of the global norm,
    `optimizer.step()`. No host sync. Returns a `Step` (its losses unscaled, averaged over the batch).

    `forward` replaces `model` for the forward pass: its `torch.compile`d version, or the model wrapped in
    `DistributedDataParallel`. `unimodal=False` skips the unimodal logits unless the method needs them.
    `scaler`, a `torch.amp.GradScaler` (what float16 needs): the method back-propagates the scaled losses, the
    gradients are unscaled before they are measured and clipped, and the scaler steps the optimizer (skipping
    a step whose gradients overflowed). `micro_batches=k` (gradient accumulation) runs the batch in k parts,
    one after the other, their gradients adding up to the whole batch's; only for methods whose gradient is a
    sum over samples (`Method.accumulates`), and under DistributedDataParallel the gradients are synchronised
    once, with the last part (the others run in `forward.no_sync()`).
    """
    forward = model if forward is None else forward
    if micro_batches != 1 and not method.accumulates:
        raise InvalidValue(f"{method.name} combines each batch's gradients nonlinearly, so accumulating parts of a "
                           f"batch would change the method; use micro_batches=1 (a smaller batch if memory is short)")
    if not (isinstance(micro_batches, int) and 1 <= micro_batches <= len(labels)):
        raise InvalidValue(f"micro_batches must be an integer from 1 to the batch size {len(labels)}, "
                           f"got {micro_batches!r}")
    if clip_grad_norm is not None and not _positive(clip_grad_norm):
        raise InvalidValue(f"clip_grad_norm must be None (no clipping) or a finite number > 0, got {clip_grad_norm!r}")
    optimizer.zero_grad(set_to_none=True)
    parts = [(inputs, labels)] if micro_batches == 1 else [
        (dict(zip(inputs, split)), part_labels) for *split, part_labels in
        zip(*(x.tensor_split(micro_batches) for x in inputs.values()), labels.tensor_split(micro_batches))]
    outputs, losses = [], []
    for i, (part, part_labels) in enumerate(parts):
        last = i == len(parts) - 1
        with contextlib.nullcontext() if last or not hasattr(forward, "no_sync") else forward.no_sync():
            with torch.autocast(labels.device.type, dtype=AMP_DTYPES.get(amp, torch.bfloat16), enabled=bool(amp)):
                output = forward(part, method.routing, unimodal=unimodal or method.needs_unimodal_logits)
                part_losses = method.losses(output, part_labels)
            if len(parts) > 1:
                share = len(part_labels) / len(labels)
                part_losses = _map_losses(part_losses, lambda loss: loss * share)
            backward_losses = part_losses if scaler is None else _map_losses(part_losses, scaler.scale)
            stats = method.backward(model, output, backward_losses, part_labels, epoch)
        outputs.append(output)
        losses.append(part_losses)
    if scaler is not None:
        scaler.unscale_(optimizer)
    grad_norm = encoder_grad_norms(model)
    if clip_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
    if scaler is None:
        optimizer.step()
    else:
        scaler.step(optimizer)
        scaler.update()
    if len(parts) == 1:
        return Step(outputs[0], losses[0], grad_norm, stats)
    return Step(_joined(outputs), _summed(losses), grad_norm, stats)


def _map_losses(losses, fn):
    """`losses` with `fn` applied to each scalar (every method's backward is linear in its losses)."""
    return Losses(fn(losses.total), fn(losses.fused), {m: fn(loss) for m, loss in losses.unimodal.items()})


def _summed(parts):
    """The batch's losses from its parts' (each already weighted by its share of the batch), detached."""
    total = lambda get: sum(get(p).detach() for p in parts)
    return Losses(total(lambda p: p.total), total(lambda p: p.fused),
                  {m: total(lambda p: p.unimodal[m]) for m in parts[0].unimodal})


def _joined(outputs):
    """One `Output` for the whole batch from its parts' (logits and features concatenated along the batch)."""
    def cat(values):
        if isinstance(values[0], Tokens):
            return Tokens(torch.cat([v.values for v in values]), torch.cat([v.mask for v in values]))
        return torch.cat(values)
    first = outputs[0]
    return Output(cat([o.fused_logits for o in outputs]),
                  {m: cat([o.unimodal_logits[m] for o in outputs]) for m in first.unimodal_logits},
                  {m: cat([o.features[m] for o in outputs]) for m in first.features})


def _score(method, metrics):
    metric = method.selection_metric
    return metrics["fused_acc"] if metric == "fused" else metrics["unimodal_acc"][metric]


def fit(model, data, method="joint", config=None, on_epoch_end=None, checkpoint=None, resume=None, restore_rng=True,
        **overrides):
    """Train `model` on `data.train` with `method`, select the epoch with the best `data.val` accuracy,
    restore it and evaluate `data.test` once. Returns a `History`.

    `data`: `Splits`, or any object with `train`, `val` and `test`, each a `MultimodalDataset` (sliced in
    memory, shuffled with the seed) or an iterable of `(inputs, labels)` batches that can be iterated once per
    epoch (e.g. a `DataLoader`, which shuffles itself). Batches go to the device as they come.
    `method`: a name (`"joint"`, `"uniform"`, `"dgl"`, `"unimodal:audio"`), a `Routing`, or a `Method`.
    `on_epoch_end(epoch, model)`, if given, is called after each epoch's last step (epoch counted from 1),
    e.g. to measure gradients at the parameters training has reached.
    `checkpoint`: a file path; after every epoch, the whole training state is saved there atomically (see
    `minidgl.checkpoint`; by rank 0 alone under a process group). `resume`: a checkpoint path written that way,
    to continue from its epoch exactly as if training had not stopped (the same model, method and settings;
    only `epochs` may grow).
    `overrides` set `TrainConfig` fields, e.g. `fit(model, data, "dgl", epochs=20, lr=0.02)`.
    Every random generator is seeded from `seed` for the training, and the caller's generators get their states
    back afterwards (`restore_rng=False` leaves them where training left them, as `experiments.run` does), so a
    model from `build_model(data, seed=s)` trained with `seed=s` gives the same result in any process.

    Under a process group (`minidgl.distributed`, e.g. started by torchrun) every rank calls `fit` with the same
    arguments: the model is wrapped in `DistributedDataParallel`, `batch_size` is the global batch, each rank
    trains on its share of the same shuffled batches of an in-memory split (a split with `set_epoch` is told
    each epoch) and the recorded metrics are those of the global batches.
    """
    cfg = make_config(config, **overrides)
    with seeded(cfg.seed, restore=restore_rng):
        return _fit(model, data, get_method(method), cfg, on_epoch_end, checkpoint, resume)


def _fit(model, data, method, cfg, on_epoch_end, checkpoint, resume):
    """`fit`'s training, with the generators already seeded."""
    method.check(model)
    _check_data(model, data)
    if checkpoint is not None:
        check_target(checkpoint, model)
    device = resolve_device(cfg.device)
    model.to(device)
    if hasattr(data, "to"):
        data = data.to(device)
    step_model = distributed.wrap(model, find_unused_parameters=not method.trains_all_parameters)
    step_model = torch.compile(step_model) if cfg.compile else step_model
    train = distributed.training_split(data.train, cfg.batch_size)
    _check_classes(data.train)
    scaler = torch.amp.GradScaler(device.type) if cfg.amp == "float16" else None
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(cfg.lr_milestones), gamma=0.1)
    shuffle = torch.Generator().manual_seed(cfg.seed)
    history = History(method.name, model.modalities)
    best_score, best_state = -1.0, None
    if resume is not None:
        history, best_score, best_state = _resume(resume, model, method, cfg, optimizer, scheduler, scaler, shuffle)
    start = len(history.train_loss)

    for epoch in tqdm(range(start, cfg.epochs), desc=method.name, disable=not (cfg.progress and distributed.is_main()),
                      leave=False, initial=start, total=cfg.epochs):
        model.train()
        distributed.set_epoch(data.train, epoch)
        steps = _EpochRecord(model.modalities)
        for inputs, labels in batches(train, cfg.batch_size, shuffle=True, generator=shuffle):
            inputs, labels = to_device(inputs, labels, device)
            step = train_step(model, method, optimizer, inputs, labels, epoch, cfg.clip_grad_norm, cfg.amp,
                              step_model, cfg.track_unimodal, scaler, cfg.micro_batches)
            steps.add(step, labels)
        steps.sum_over_ranks()
        if not steps.size:
            raise InvalidValue("the training split gave no batches: it (or its iterable of batches) is empty")
        scheduler.step()

        bad = torch.nonzero(~torch.isfinite(torch.stack(steps.loss)))
        if len(bad):
            raise NotFinite(
                f"the {method.name} loss became NaN or infinite at epoch {epoch}, step {int(bad[0, 0])} "
                f"(lr {cfg.lr}); lower the learning rate, set clip_grad_norm, or check the inputs for NaN")
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, model)
        steps.write(history)

        val = evaluate(model, data.val, cfg.eval_batch_size)
        history.val_acc.append(val["fused_acc"])
        for m, acc in val["unimodal_acc"].items():
            history.val_unimodal_acc[m].append(acc)
        if _score(method, val) > best_score:
            best_score, history.best_epoch = _score(method, val), epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if checkpoint is not None and distributed.is_main():
            save_checkpoint(checkpoint, model, optimizer, scheduler, len(history.step_loss), epoch + 1, best_score, cfg,
                            training={"method": describe(method), "history": history.to_dict(),
                                      "best_model": best_state, "shuffle": shuffle.get_state(),
                                      "scaler": None if scaler is None else scaler.state_dict()})

    if best_state is not None:
        model.load_state_dict(best_state)
    test = evaluate(model, data.test, cfg.eval_batch_size)
    history.test_acc = _score(method, test)
    history.test_fused_acc = test["fused_acc"]
    history.test_unimodal_acc = test["unimodal_acc"]
    return history


RESUMABLE_CHANGES = {"epochs", "progress", "device", "eval_batch_size", "compile"}  # settings a resume may change


def _resume(path, model, method, cfg, optimizer, scheduler, scaler, shuffle):
    """Load the training state `fit(checkpoint=path)` saved into the objects a new `fit` call made.
    Returns `(history, best_score, best_state)`."""
    state = load_checkpoint(path)  # on the CPU: the generators' states must stay there; load_state_dict moves the rest
    training = state.get("training")
    if training is None:
        raise InvalidValue(f"{path} holds no training state to resume (it was not written by fit(checkpoint=...)); "
                           f"load its weights with minidgl.load_model instead")
    config = model.config.to_dict() if getattr(model, "config", None) else None
    if state["model_config"] != config:
        raise InvalidValue(f"{path} is a checkpoint of another model ({state['model_config']}), not of this one "
                           f"({config}); build the model with the same data, encoder and fusion")
    if training["method"] != describe(method):
        raise InvalidValue(f"{path} was trained with another method or other method settings than {method!r}; "
                           f"resume with the same method and settings")
    saved, now = state["train_config"], asdict(cfg)
    changed = sorted(k for k in now if k not in RESUMABLE_CHANGES and saved.get(k) != now[k])
    if changed:
        raise InvalidValue(f"{path} was trained with other settings: "
                           + ", ".join(f"{k}={saved.get(k)!r} (now {now[k]!r})" for k in changed)
                           + "; resume with the same settings (only epochs may change)")
    if state["epoch"] > cfg.epochs:
        raise InvalidValue(f"{path} has already trained {state['epoch']} epochs, more than epochs={cfg.epochs}")
    restore(state, model, optimizer, scheduler)
    shuffle.set_state(training["shuffle"])
    if scaler is not None:
        scaler.load_state_dict(training["scaler"])
    return History(**training["history"]), state["best_score"], training["best_model"]


class _EpochRecord:
    """One epoch's per-step values, kept on the device until `write` reads them (one host sync per epoch)."""

    def __init__(self, modalities):
        self.modalities = modalities
        self.loss, self.correct, self.sizes = [], [], []
        self.unimodal_correct = {m: [] for m in modalities}
        self.grad_norm = {m: [] for m in modalities}
        self.stats = {}

    @property
    def size(self):
        return sum(self.sizes)

    def add(self, step, labels):
        self.loss.append(step.losses.total.detach().float())
        self.correct.append((step.output.fused_logits.argmax(1) == labels).sum())
        self.sizes.append(len(labels))
        for m, logits in step.output.unimodal_logits.items():
            self.unimodal_correct[m].append((logits.argmax(1) == labels).sum())
        for m, norm in step.grad_norm.items():
            self.grad_norm[m].append(norm)
        for name, per_modality in (step.stats or {}).items():
            for m, value in per_modality.items():
                self.stats.setdefault(name, {}).setdefault(m, []).append(value.detach())

    def sum_over_ranks(self):
        """Turn each rank's per-step values into the global batch's: losses averaged over the ranks (each is the
        mean over an equal share of the batch), counts and sizes summed. A no-op without a process group."""
        world = distributed.world_size()
        if world == 1:
            return
        steps, modalities = len(self.loss), [m for m in self.modalities if self.unimodal_correct[m]]
        unimodal = [c for m in modalities for c in self.unimodal_correct[m]]
        values = distributed.summed(self.loss + self.correct + unimodal)
        self.loss = [loss / world for loss in values[:steps]]
        self.correct = values[steps:2 * steps]
        for i, m in enumerate(modalities, start=2):
            self.unimodal_correct[m] = values[i * steps:(i + 1) * steps]
        self.sizes = [size * world for size in self.sizes]

    def write(self, history):
        """Append this epoch's means and per-step values to `history`."""
        host = lambda values: torch.stack(values).float().tolist()
        loss, correct, n = host(self.loss), host(self.correct), self.size
        history.step_loss += loss
        history.step_acc += [c / size for c, size in zip(correct, self.sizes)]
        history.train_loss.append(sum(loss) / len(loss))
        history.train_acc.append(sum(correct) / n)
        for m in self.modalities:
            if self.unimodal_correct[m]:
                history.train_unimodal_acc[m].append(sum(host(self.unimodal_correct[m])) / n)
            norms = host(self.grad_norm[m])
            history.grad_norm[m].append(sum(norms) / len(norms))
            history.step_grad_norm[m] += norms
        for name, per_modality in self.stats.items():
            for m, values in per_modality.items():
                values = host(values)
                history.method_stats.setdefault(name, {}).setdefault(m, []).append(sum(values) / len(values))
                history.method_steps.setdefault(name, {}).setdefault(m, []).extend(values)
