"""Seeding and device choice: the only global state minidgl touches, and only when asked."""
import random

import numpy as np
import torch


def seed_everything(seed):
    """Seed Python, NumPy and PyTorch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def default_device():
    """`cuda` when a GPU is visible, else `cpu`."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(name=None):
    """`torch.device(name)`, or `default_device()` when `name` is None (`TrainConfig.device`'s rule)."""
    return torch.device(name) if name else default_device()
