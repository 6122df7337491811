"""Data-parallel training over several processes, `torchrun --nproc_per_node N -m minidgl train ...`: the process
group, which rank does what, each rank's share of the data, and the collectives the methods need.

Without a process group every helper is a no-op that returns its input, so single-process training is untouched.
With one, N ranks on B / N samples each take exactly the step one process takes on the batch of B: the ranks
slice the same globally shuffled batches (same seed everywhere), `DistributedDataParallel` averages the
gradients of one backward, and the methods that read gradients or scores themselves (MMPareto, OGM-GE) average
or sum them here before their rule.
"""
import os

import torch
import torch.distributed as dist

from .errors import InvalidValue
from .models import Output
from .runtime import resolve_device

# DistributedDataParallel (find_unused_parameters=True) reads a forward's output tensors through pytree: with
# `Output` registered it lets the logits no loss uses (unimodal training's other modalities) go without a
# gradient; unregistered, the next step fails with "Expected to have finished reduction in the prior iteration".
torch.export.register_dataclass(Output, serialized_type_name="minidgl.Output")


def launched_by_torchrun():
    """Whether torchrun (or another launcher) started this process: `RANK` and `WORLD_SIZE` are set."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup(device=None):
    """Join the process group torchrun describes, if it does; returns this process's device.

    `device`: `"cpu"`, `"cuda"` or None (cuda when available). Under torchrun a CUDA device becomes
    `cuda:LOCAL_RANK` with the nccl backend; the CPU uses gloo. Without torchrun, `resolve_device(device)`.
    """
    device = resolve_device(device)
    if not launched_by_torchrun():
        return device
    if device.type == "cuda":
        local_rank, gpus = int(os.environ.get("LOCAL_RANK", 0)), torch.cuda.device_count()
        if local_rank >= gpus:
            fix = f"run --nproc_per_node {gpus} or fewer" if gpus else "train with --device cpu"
            raise InvalidValue(f"process {local_rank} on this machine has no GPU of its own ({gpus} visible); {fix}")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def destroy():
    """Leave the process group (a no-op without one)."""
    if is_initialized():
        dist.destroy_process_group()


def is_initialized():
    return dist.is_available() and dist.is_initialized()


def world_size():
    """Number of processes training together (1 without a process group)."""
    return dist.get_world_size() if is_initialized() else 1


def rank():
    """This process's index among them (torchrun's `RANK` before the group is joined, 0 without torchrun)."""
    return dist.get_rank() if is_initialized() else int(os.environ.get("RANK", 0))


def is_main():
    """Whether this process prints, writes results and shows progress: rank 0."""
    return rank() == 0


def wrap(model, find_unused_parameters=False):
    """`model` in `DistributedDataParallel` under a process group, else `model` itself.

    `find_unused_parameters=True` for a method that leaves some parameters without a gradient (unimodal
    training); every other method sends a gradient to every parameter, and DDP then skips that search.
    """
    if not is_initialized():
        return model
    device = next(model.parameters()).device
    return torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[device] if device.type == "cuda" else None, find_unused_parameters=find_unused_parameters)


def share(inputs, labels):
    """This rank's equal share of a global batch `({m: (batch, ...)}, (batch,))`: `batch // world_size()`
    consecutive samples; the last `batch % world_size()` samples go to no rank. As given without a process group."""
    if not is_initialized():
        return inputs, labels
    size = len(labels) // world_size()
    part = slice(rank() * size, (rank() + 1) * size)
    return {m: x[part] for m, x in inputs.items()}, labels[part]


class RankShare:
    """An in-memory split as one rank trains on it: `batches` slices the same global batches as the whole split
    (the same shuffle on every rank) and yields this rank's `share` of each (a batch too small to share is
    skipped)."""

    def __init__(self, split):
        self.split = split

    def batches(self, batch_size, shuffle=False, generator=None):
        for inputs, labels in self.split.batches(batch_size, shuffle=shuffle, generator=generator):
            if len(labels) >= world_size():
                yield share(inputs, labels)


def training_split(split, batch_size):
    """The training split as this rank sees it: `RankShare(split)` for an in-memory split under a process group
    (`batch_size` is the global batch, refused unless every rank gets the same share of it), `split` itself
    otherwise (an iterable of batches delivers this rank's batches, e.g. a DataLoader over a DistributedSampler)."""
    world = world_size()
    if world == 1 or not hasattr(split, "batches"):
        return split
    if batch_size % world:
        raise InvalidValue(f"the batch size {batch_size} is the global batch, shared evenly by {world} processes; "
                           f"use a multiple of {world}")
    if len(split) < world:
        raise InvalidValue(f"the training split has {len(split)} samples, fewer than the {world} processes that "
                           f"share it; run fewer processes (torchrun --nproc_per_node) or use more data")
    return RankShare(split)


def evaluation_split(split):
    """This rank's part of a split to evaluate: consecutive samples of an in-memory split (every sample goes to
    exactly one rank, shares may differ by one), `split` itself otherwise or without a process group."""
    if world_size() == 1 or not hasattr(split, "subset"):
        return split
    index = torch.arange(len(split), device=split.labels.device).tensor_split(world_size())[rank()]
    return split.subset(index)


def set_epoch(split, epoch):
    """Tell a split (or its sampler, e.g. a `DistributedSampler`) which epoch starts, so that it reshuffles."""
    for owner in (split, getattr(split, "sampler", None)):
        if hasattr(owner, "set_epoch"):
            owner.set_epoch(epoch)
            return


def summed(values):
    """`values` (a list of 0-d tensors or numbers) summed over every rank in one all-reduce, each returned as
    its own type (a number as a Python number); the list as given without a process group."""
    values = list(values)
    if not is_initialized() or not values:
        return values
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    stacked = torch.stack([torch.as_tensor(v, dtype=torch.float64, device=device) for v in values])
    dist.all_reduce(stacked)
    return [stacked[i].to(v.dtype).to(v.device) if isinstance(v, torch.Tensor) else type(v)(stacked[i].item())
            for i, v in enumerate(values)]


def averaged(tensors):
    """`tensors` (a list; `None` entries stay `None`) averaged over every rank in one all-reduce, as
    `DistributedDataParallel` averages gradients; the list as given without a process group."""
    tensors = list(tensors)
    if not is_initialized():
        return tensors
    present = [t for t in tensors if t is not None]
    if not present:
        return tensors
    flat = torch.cat([t.flatten() for t in present]) / world_size()
    dist.all_reduce(flat)
    parts = iter(flat.split([t.numel() for t in present]))
    return [None if t is None else next(parts).view_as(t) for t in tensors]
