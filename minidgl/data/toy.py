"""A linear-Gaussian toy: each modality is a class mean plus Gaussian noise, with its own signal strength."""
import math

import torch

from .dataset import MultimodalDataset, check_number, stratified_split


def make_gaussian_toy(signal=None, num_classes=6, dim=32, noise=3.0, n=5000, seed=0,
                      val_fraction=0.2, test_fraction=0.2):
    """Sample a toy where modality `m` is `mu_m[y] + N(0, noise^2 I)` in `dim` dimensions.

    `signal` maps modality name -> strength `s`; class means have per-dimension std `noise * s / sqrt(dim)`,
    so `s` is the distance between two class means in units of the noise std (roughly). Default: a strong
    modality `a` (s=5) and a weak one `b` (s=2).
    Returns `Splits` with inputs of shape `(dim,)`.
    """
    signal = dict(signal or {"a": 5.0, "b": 2.0})
    for name, strength in signal.items():
        check_number(f"the signal strength of '{name}'", strength, minimum=0)
    check_number("num_classes", num_classes, minimum=2, integer=True)
    check_number("dim", dim, minimum=1, integer=True)
    check_number("noise", noise, minimum=0)
    check_number("n", n, minimum=3 * num_classes, integer=True)
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % num_classes
    inputs = {}
    for name, strength in signal.items():
        means = torch.randn(num_classes, dim, generator=generator) * noise * strength / math.sqrt(dim)
        inputs[name] = means[labels] + noise * torch.randn(n, dim, generator=generator)
    dataset = MultimodalDataset(inputs, labels)
    return stratified_split(dataset, val_fraction, test_fraction, seed=seed)
