"""Linear-Gaussian toys: each modality is a class mean plus Gaussian noise, with its own signal strength; in the
three-modality toy each modality sees its own part of the label."""
import math

import torch

from ..errors import InvalidValue
from .dataset import MultimodalDataset, check_number, stratified_split


def make_gaussian_toy(signal=None, num_classes=6, dim=32, noise=3.0, n=5000, seed=0,
                      val_fraction=0.2, test_fraction=0.2, shape=None):
    """Sample a toy where modality `m` is `mu_m[y] + N(0, noise^2 I)` in `dim` dimensions.

    `signal` maps modality name -> strength `s`; class means have per-dimension std `noise * s / sqrt(dim)`,
    so `s` is the distance between two class means in units of the noise std (roughly). Default: a strong
    modality `a` (s=5) and a weak one `b` (s=2).
    Returns `Splits` with inputs of shape `(dim,)`, or `shape`: the same `dim`
    numbers laid out as a map, e.g. `(8, 2, 2)`, for conv, token and intermediate-fusion encoders.
    """
    signal = dict(signal or {"a": 5.0, "b": 2.0})
    for name, strength in signal.items():
        check_number(f"the signal strength of '{name}'", strength, minimum=0)
    check_number("num_classes", num_classes, minimum=2, integer=True)
    check_number("dim", dim, minimum=1, integer=True)
    check_number("noise", noise, minimum=0)
    shape = _sample_shape(dim, shape)
    check_number("n", n, minimum=3 * num_classes, integer=True)
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % num_classes
    inputs = {name: _noisy_means(labels, num_classes, strength, noise, shape, generator)
              for name, strength in signal.items()}
    dataset = MultimodalDataset(inputs, labels)
    return stratified_split(dataset, val_fraction, test_fraction, seed=seed)


def make_gaussian_trio(content_classes=6, dim=32, noise=1.0, signal=(5.0, 2.0, 3.0), n=6000, seed=0,
                       val_fraction=0.2, test_fraction=0.2, shape=None):
    """Sample a three-modality toy whose label needs all three: `y = 2 * content + attribute`.

    The label pairs a content class (`content_classes` of them) with a binary attribute, `2 * content_classes`
    classes in all. Each modality is a mean plus `N(0, noise^2 I)` in `dim` dimensions, with the strengths of
    `make_gaussian_toy` (`signal` = `(s_a, s_b, s_c)`, in units of the noise std; unit noise by default, so that
    the inputs are of order 1 and the products of bilinear and FiLM fusion stay tame):
      `a`: the content, strongly (s=5 by default): alone it cannot tell the attribute, at most half the labels;
      `b`: the content again, weakly (s=2): a weaker, redundant view of `a`'s part (the imbalance of two
           modalities);
      `c`: the attribute only (s=3), information that `a` and `b` lack: alone at most one label in
           `content_classes`, and without it `a` and `b` together stay at or below half.
    Returns `Splits` with inputs `{a, b, c}` of shape `(dim,)`, or `shape` (a map, as
    in `make_gaussian_toy`).
    """
    if len(signal) != 3:
        raise InvalidValue(f"signal gives the strengths of modalities a, b, c: three numbers, got {signal!r}")
    for name, strength in zip("abc", signal):
        check_number(f"the signal strength of '{name}'", strength, minimum=0)
    check_number("content_classes", content_classes, minimum=2, integer=True)
    check_number("dim", dim, minimum=1, integer=True)
    check_number("noise", noise, minimum=0)
    shape = _sample_shape(dim, shape)
    num_classes = 2 * content_classes
    check_number("n", n, minimum=3 * num_classes, integer=True)
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % num_classes
    parts = {"a": labels // 2, "b": labels // 2, "c": labels % 2}
    inputs = {name: _noisy_means(part, int(part.max()) + 1, strength, noise, shape, generator)
              for (name, part), strength in zip(parts.items(), signal)}
    class_names = [f"{content}{'+' if attribute else '-'}" for content in range(content_classes)
                   for attribute in range(2)]
    return stratified_split(MultimodalDataset(inputs, labels, class_names), val_fraction, test_fraction, seed=seed)


def _noisy_means(part, parts, strength, noise, shape, generator):
    """One modality: `parts` random means (per-dimension std `noise * strength / sqrt(dim)`, `dim` the numbers in
    `shape`), the mean of each sample's `part` `(n,)` plus `N(0, noise^2 I)`, as `(n, *shape)`. The means are
    drawn before the noise, from `generator`."""
    n, dim = len(part), math.prod(shape)
    means = torch.randn(parts, dim, generator=generator) * noise * strength / math.sqrt(dim)
    return (means[part] + noise * torch.randn(n, dim, generator=generator)).reshape(n, *shape)


def _sample_shape(dim, shape):
    """The per-sample shape of a toy's inputs: `(dim,)` by default, or `shape`, the same `dim` numbers laid out
    as a map, e.g. `(2, 4, 4)` (channels, height, width) for `dim=32`, so that conv encoders, token encoders and
    intermediate fusion can read them. Which number goes where is arbitrary: the class means have no spatial
    structure, and every layout holds the same information."""
    if shape is None:
        return (dim,)
    shape = tuple(shape)
    if not shape or not all(isinstance(s, int) and s >= 1 for s in shape) or math.prod(shape) != dim:
        raise InvalidValue(f"shape must be positive integers whose product is dim={dim}, got {shape!r}; "
                           f"e.g. (2, 4, 4) for dim=32")
    return shape
