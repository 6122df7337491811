"""A multimodal dataset: named modality tensors plus labels, and its train/validation/test splits."""
import math
import numbers
from dataclasses import dataclass

import torch

from ..errors import InvalidType, InvalidValue, NotFinite, UnknownKey
from ..runtime import check_seed


class MultimodalDataset(torch.utils.data.Dataset):
    """Samples held in memory as `{modality: (n, *shape)}` tensors and `(n,)` integer labels.

    Indexing returns `({modality: (*shape)}, label)`, so it also works with a plain `DataLoader`.
    Checked here, once: modality names are non-empty strings a module can be named (no `.`), inputs are tensors
    with one row per label and only finite values, labels are integers from 0 to K - 1 with K = the number of
    `class_names` (default: the largest label + 1), and K >= 2. Integer and bool inputs are converted to float32
    (`torch.get_default_dtype()`), values unchanged (scale images yourself); floating inputs keep their dtype,
    which `fit` requires to be the model's (float32 unless you convert the model, e.g. `model.double()`).
    """

    def __init__(self, inputs, labels, class_names=None):
        if not isinstance(inputs, dict) or not inputs:
            raise InvalidValue(f"a MultimodalDataset needs a dict {{modality name: tensor}} with at least one "
                               f"modality, got {inputs!r:.80}")
        for name in inputs:
            check_modality_name(name)
        labels = _as_labels(labels)
        if not len(labels):
            raise InvalidValue("a MultimodalDataset needs at least one sample, got 0 labels")
        inputs = {name: _as_input(name, x, len(labels)) for name, x in inputs.items()}
        class_names = list(class_names) if class_names is not None else [str(k) for k in range(int(labels.max()) + 1)]
        if len(class_names) < 2:
            raise InvalidValue(f"a classification dataset needs at least 2 classes, got {len(class_names)} "
                               f"({class_names}); give class_names for every class, or labels of two classes or more")
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= len(class_names):
            raise InvalidValue(f"labels must be class indices from 0 to {len(class_names) - 1} (one per class name), "
                               f"got values from {low} to {high}; give class_names for every class")
        self.inputs, self.labels, self.class_names = inputs, labels, class_names

    @classmethod
    def _checked(cls, inputs, labels, class_names):
        """A dataset of tensors taken from a checked one (a subset, a selection, a copy): not checked again."""
        dataset = cls.__new__(cls)
        dataset.inputs, dataset.labels, dataset.class_names = dict(inputs), labels, list(class_names)
        return dataset

    @property
    def modalities(self):
        """Modality names, in the order the model sees them."""
        return list(self.inputs)

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def input_shapes(self):
        """Per-sample shape of each modality, e.g. `{"audio": (1, 65, 32), "visual": (1, 8, 8)}`."""
        return {m: tuple(x.shape[1:]) for m, x in self.inputs.items()}

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {m: x[i] for m, x in self.inputs.items()}, self.labels[i]

    def subset(self, index):
        """The samples at `index` (a `(k,)` index tensor), as a new dataset."""
        return self._checked({m: x[index] for m, x in self.inputs.items()}, self.labels[index], self.class_names)

    def select(self, *modalities):
        """The same samples with only the named modalities."""
        self._check_names(modalities)
        return self._checked({m: self.inputs[m] for m in modalities}, self.labels, self.class_names)

    def to(self, device):
        """A copy with every tensor on `device` (training then never copies batches)."""
        return self._checked({m: x.to(device) for m, x in self.inputs.items()}, self.labels.to(device),
                             self.class_names)

    def batches(self, batch_size, shuffle=False, generator=None):
        """Yield `(inputs, labels)` mini-batches by slicing the in-memory tensors (no worker processes)."""
        n = len(self)
        order = torch.randperm(n, generator=generator).to(self.labels.device) if shuffle else None
        for start in range(0, n, batch_size):
            index = order[start:start + batch_size] if shuffle else slice(start, start + batch_size)
            yield {m: x[index] for m, x in self.inputs.items()}, self.labels[index]

    def loader(self, batch_size=64, shuffle=False, seed=0, num_workers=0):
        """A `torch.utils.data.DataLoader` over this dataset, reproducible through `seed`."""
        generator = torch.Generator().manual_seed(seed)
        return torch.utils.data.DataLoader(self, batch_size=batch_size, shuffle=shuffle, generator=generator,
                                           num_workers=num_workers)

    def _check_names(self, names):
        unknown = [m for m in names if m not in self.inputs]
        if unknown or not names:
            raise UnknownKey(f"unknown modality {unknown or '(none given)'}; this dataset has {self.modalities}")

    def __repr__(self):
        shapes = ", ".join(f"{m}: {s}" for m, s in self.input_shapes.items())
        return f"MultimodalDataset({len(self)} samples, {self.num_classes} classes, {shapes})"


def check_number(name, value, minimum=None, maximum=None, integer=False):
    """Raise a clear error unless `value` is a finite number (an integer if `integer`) from `minimum` to `maximum`
    (either None: no bound); for data knobs."""
    kinds = numbers.Integral if integer else numbers.Real
    if (isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value)
            or (minimum is not None and value < minimum) or (maximum is not None and value > maximum)):
        what = ("an integer" if integer else "a finite number") + (f" >= {minimum}" if minimum is not None else "") \
            + (f" and <= {maximum}" if maximum is not None else "")
        raise InvalidValue(f"{name} must be {what}, got {value!r}")


def check_modality_name(name):
    """Raise a clear error unless `name` can name a modality: a non-empty string a module can be named (no `.`,
    not an attribute `torch.nn.ModuleDict` already has)."""
    if not isinstance(name, str) or not name or "." in name or hasattr(torch.nn.ModuleDict(), name):
        raise InvalidValue(f"modality names must be non-empty strings without '.' that are not attributes of a "
                           f"torch module (such as 'training' or 'keys'), got {name!r}; rename it, e.g. 'audio'")


def _as_labels(labels):
    """`labels` as a `(n,)` int64 tensor, or a clear error for anything that is not integer class indices."""
    try:
        labels = torch.as_tensor(labels)
    except (TypeError, ValueError, RuntimeError) as error:
        raise InvalidType(f"labels must be integer class indices (a tensor, array or list of ints), got "
                          f"{type(labels).__name__} ({error}); map class names to 0 .. K - 1 first") from error
    if labels.numel() and (labels.dtype == torch.bool or labels.is_floating_point() or labels.is_complex()):
        raise InvalidType(f"labels must be integer class indices, got {labels.dtype} (a float label such as 0.2 "
                          f"would be truncated); map them to 0 .. K - 1, or use .long() if they are whole numbers")
    if labels.ndim != 1:
        raise InvalidValue(f"labels must have shape (n,), got {tuple(labels.shape)}")
    return labels.long()


def _as_input(name, x, n):
    """Modality `name`'s tensor `(n, *shape)` as float32, or a clear error (wrong type, rows, NaN or inf)."""
    if not isinstance(x, torch.Tensor):
        raise InvalidType(f"modality '{name}' must be a torch.Tensor, got {type(x).__name__}; "
                          f"convert it with torch.as_tensor")
    if x.ndim < 2:
        raise InvalidValue(f"modality '{name}' must have shape (n, *per-sample shape), e.g. (n, dim), got "
                           f"{tuple(x.shape)}; for one value per sample use x[:, None]")
    if len(x) != n:
        raise InvalidValue(f"modality '{name}' has {len(x)} samples but there are {n} labels")
    if x.is_complex():
        raise InvalidType(f"modality '{name}' is complex ({x.dtype}); give real values, e.g. x.abs() or "
                          f"torch.view_as_real(x)")
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    finite = torch.isfinite(x).flatten(1).all(1)
    if not finite.all():
        bad = torch.nonzero(~finite).flatten()
        raise NotFinite(f"modality '{name}' has NaN or infinite values in {len(bad)} of its {n} samples (the first "
                        f"is sample {int(bad[0])}); remove those samples or replace the values")
    return x


@dataclass
class Splits:
    """The three splits of one dataset. Select on `val`; report `test` once."""

    train: MultimodalDataset
    val: MultimodalDataset
    test: MultimodalDataset

    @property
    def modalities(self):
        return self.train.modalities

    @property
    def num_classes(self):
        return self.train.num_classes

    @property
    def input_shapes(self):
        return self.train.input_shapes

    def select(self, *modalities):
        """The same splits with only the named modalities."""
        return Splits(*(s.select(*modalities) for s in (self.train, self.val, self.test)))

    def to(self, device):
        """The in-memory splits moved to `device`; a split given as an iterable of batches stays as it is."""
        return Splits(*(s.to(device) if hasattr(s, "to") else s for s in (self.train, self.val, self.test)))

    def __repr__(self):
        return f"Splits(train={len(self.train)}, val={len(self.val)}, test={len(self.test)}; {self.train!r})"


def stratified_indices(labels, val_fraction=0.2, test_fraction=0.2, seed=0):
    """Disjoint `(train, val, test)` index tensors covering `labels` `(n,)`, each class in the same proportions.

    Each class gives `round(fraction * count)` samples, at least 1, to validation and to test, and at least 1
    remains for training; a class too small for that, or fewer than 2 classes, is a clear error naming the
    counts. Deterministic for a given `seed`; each index tensor is sorted.
    """
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise InvalidValue(f"need 0 < val_fraction, test_fraction and their sum < 1; "
                           f"got {val_fraction}, {test_fraction}")
    check_seed(seed)
    classes, counts = torch.unique(labels, return_counts=True)
    sizes = {int(c): (max(1, round(test_fraction * int(n))), max(1, round(val_fraction * int(n))), int(n))
             for c, n in zip(classes, counts)}
    too_small = {c: n for c, (n_test, n_val, n) in sizes.items() if n_test + n_val >= n}
    if len(classes) < 2 or too_small:
        raise InvalidValue(f"a stratified split needs at least 2 classes, each with a sample for train, validation "
                           f"and test; the samples per class are {dict(zip(classes.tolist(), counts.tolist()))}"
                           + (f", too few in classes {sorted(too_small)}" if too_small else "")
                           + "; give more samples per class (at least 3) or remove the small classes")
    generator = torch.Generator().manual_seed(seed)
    parts = ([], [], [])
    for label in classes:
        index = torch.nonzero(labels == label).flatten()
        index = index[torch.randperm(len(index), generator=generator)]
        n_test, n_val, _ = sizes[int(label)]
        parts[2].append(index[:n_test])
        parts[1].append(index[n_test:n_test + n_val])
        parts[0].append(index[n_test + n_val:])
    return tuple(torch.sort(torch.cat(p)).values for p in parts)


def stratified_split(dataset, val_fraction=0.2, test_fraction=0.2, seed=0):
    """Split `dataset` into train/val/test `Splits` with every class in the same proportions in each split
    (see `stratified_indices` for the rounding and what it refuses)."""
    parts = stratified_indices(dataset.labels, val_fraction, test_fraction, seed)
    return Splits(*(dataset.subset(index) for index in parts))
