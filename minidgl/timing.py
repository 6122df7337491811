"""Cost of one training step per method (wall-clock or CPU time), as a ratio to joint training on the same model and batch.

A step is `fit`'s `train_step`: forward, losses, zero_grad, the method's backward, the encoders' gradient
norms and an SGD step. Methods are interleaved within
each repeat, in an order rotated from one repeat to the next, so a load change on a shared machine hits them
all alike; each method gets its own copy of the model. `benchmarks/step_cost.py` uses these functions with
more cases and the authors' reference steps.
"""
import copy
import statistics
import time

import torch

from .errors import InvalidValue
from .methods import get_method
from .train import train_step


def make_step(method, model, unimodal=True):
    """A function `step(inputs, labels)` running `fit`'s training step (`train_step`, SGD) of `method` (a name
    or `Method`) on `model`; `unimodal=False` skips the unimodal logits that the method does not need (`fit`
    with `track_unimodal=False`)."""
    method = get_method(method)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)

    def step(inputs, labels):
        train_step(model, method, optimizer, inputs, labels, unimodal=unimodal)
    return step


def sync(device):
    """Wait for queued CUDA work on `device` (a no-op on CPU), so that a timer measures finished steps."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time, "thread": time.thread_time}


def time_steps(steps, inputs, labels, repeats=10, warmup=1, clock="wall"):
    """Seconds of every timed call: `{name: [seconds] * repeats}` for `steps` `{name: step(inputs, labels)}`.

    `inputs` `{modality: (batch, ...)}`, `labels` `(batch,)`, on the device the steps run on. The first
    `warmup` rounds are run but not kept. `clock`: `"wall"` (elapsed time; needed on a GPU), `"cpu"` (this
    process's CPU time: on a CPU shared with other programs it leaves out the time the process waits for a
    core, so ratios stay stable under load) or `"thread"` (the calling thread's CPU time: also leaves out
    other threads of the process, e.g. a Jupyter kernel's; complete only when torch computes on the calling
    thread, i.e. after `torch.set_num_threads(1)`, on a CPU).
    """
    if clock not in CLOCKS:
        raise InvalidValue(f"clock must be one of {sorted(CLOCKS)}, got {clock!r}")
    if clock != "wall" and labels.device.type != "cpu":
        raise InvalidValue(f"the {clock} clock does not see work queued on {labels.device}; use clock='wall'")
    names, device, now = list(steps), labels.device, CLOCKS[clock]
    times = {name: [] for name in names}
    for r in range(warmup + repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            sync(device)
            start = now()
            steps[name](inputs, labels)
            sync(device)
            if r >= warmup:
                times[name].append(now() - start)
    return times


def ratios(times, stat="median", baseline="joint"):
    """`{name: {"seconds", "ratio_to_joint", "all_seconds"}}` from `time_steps` output; `stat` is "median" or
    "min" (the fastest repeat resists load from other processes)."""
    reduce = statistics.median if stat == "median" else min
    seconds = {name: reduce(t) for name, t in times.items()}
    return {name: {"seconds": seconds[name], "ratio_to_joint": seconds[name] / seconds[baseline],
                   "all_seconds": times[name]} for name in times}


def step_cost(model, data, methods=("joint", "uniform", "dgl", "ogm-ge", "mmpareto"), batch_size=64, repeats=10,
              warmup=1, stat="min", clock="wall"):
    """Time one training step of each of `methods` (names; must include "joint") on copies of `model`, with the
    first `batch_size` samples of `data.train`; `clock` as in `time_steps`. Returns `ratios` output, keyed by
    method name."""
    inputs, labels = next(data.train.batches(batch_size))
    device = next(model.parameters()).device
    inputs, labels = {m: x.to(device) for m, x in inputs.items()}, labels.to(device)
    steps = {name: make_step(name, copy.deepcopy(model)) for name in methods}
    return ratios(time_steps(steps, inputs, labels, repeats, warmup, clock), stat)
