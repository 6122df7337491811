"""Seeding and device choice: the only global state minidgl touches, and only when asked."""
import contextlib
import numbers
import random

import numpy as np
import torch

from .errors import InvalidValue


MAX_SEED = 2**32 - 1  # NumPy's limit, the narrowest of the three


def check_seed(seed, name="seed"):
    """Raise a clear error unless `seed` is an integer every generator accepts (0 to `MAX_SEED`)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= MAX_SEED:
        raise InvalidValue(f"{name} must be an integer from 0 to {MAX_SEED}, got {seed!r}")


def seed_everything(seed):
    """Seed Python, NumPy and PyTorch (CPU and every CUDA device)."""
    check_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state():
    """The state of every generator `seed_everything` seeds (Python, NumPy, PyTorch CPU and CUDA), in types
    `torch.load(weights_only=True)` reads back (NumPy's key as a list, not an array)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"python": random.getstate(), "numpy": [name, keys.tolist(), pos, has_gauss, cached],
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state):
    """Restore generators to a `rng_state()` (CUDA ones only where as many devices are visible)."""
    random.setstate(state["python"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def seeded(seed, restore=True):
    """A `with` block that runs with every generator seeded from `seed` and, on leaving it (also by an exception),
    gives the caller's generators back their states (`restore=False`: left where the block leaves them)."""
    saved = rng_state()
    seed_everything(seed)
    try:
        yield
    finally:
        if restore:
            set_rng_state(saved)


def default_device():
    """`cuda` when a GPU is visible, else `cpu`."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(name=None):
    """`torch.device(name)`, or `default_device()` when `name` is None (`TrainConfig.device`'s rule); a device this
    machine does not have is a clear error."""
    if not name:
        return default_device()
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as error:
        raise InvalidValue(f"unknown device {name!r}: use cpu, cuda or cuda:<index>") from error
    count = {"cpu": 1, "cuda": torch.cuda.device_count(),
             "mps": int(torch.backends.mps.is_available())}.get(device.type, 0)
    if count == 0 or (device.index or 0) >= count:
        gpus = torch.cuda.device_count()
        raise InvalidValue(f"device {name!r} is not available on this machine, which has cpu"
                           + (f" and cuda:0 to cuda:{gpus - 1}" if gpus else "")
                           + (" and mps" if torch.backends.mps.is_available() else "")
                           + " (leave the device unset to use cuda when available, else cpu)")
    return device
