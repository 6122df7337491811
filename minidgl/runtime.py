"""Seeding and device choice: the only global state minidgl touches, and only when asked."""
import random

import numpy as np
import torch


def seed_everything(seed):
    """Seed Python, NumPy and PyTorch (CPU and every CUDA device)."""
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


def default_device():
    """`cuda` when a GPU is visible, else `cpu`."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(name=None):
    """`torch.device(name)`, or `default_device()` when `name` is None (`TrainConfig.device`'s rule)."""
    return torch.device(name) if name else default_device()
