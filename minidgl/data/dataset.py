"""A multimodal dataset: named modality tensors plus labels, and its train/validation/test splits."""
from dataclasses import dataclass

import torch

from ..errors import InvalidType, InvalidValue, UnknownKey


class MultimodalDataset(torch.utils.data.Dataset):
    """Samples held in memory as `{modality: (n, *shape)}` tensors and `(n,)` integer labels.

    Indexing returns `({modality: (*shape)}, label)`, so it also works with a plain `DataLoader`.
    """

    def __init__(self, inputs, labels, class_names=None):
        if not inputs:
            raise InvalidValue("a MultimodalDataset needs at least one modality, got an empty dict")
        labels = torch.as_tensor(labels, dtype=torch.long)
        if labels.ndim != 1:
            raise InvalidValue(f"labels must have shape (n,), got {tuple(labels.shape)}")
        for name, x in inputs.items():
            if not isinstance(x, torch.Tensor):
                raise InvalidType(f"modality '{name}' must be a torch.Tensor, got {type(x).__name__}")
            if len(x) != len(labels):
                raise InvalidValue(f"modality '{name}' has {len(x)} samples but there are {len(labels)} labels")
        self.inputs = dict(inputs)
        self.labels = labels
        n_classes = int(labels.max()) + 1 if len(labels) else 0
        self.class_names = list(class_names) if class_names is not None else [str(k) for k in range(n_classes)]

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
        return MultimodalDataset({m: x[index] for m, x in self.inputs.items()}, self.labels[index], self.class_names)

    def select(self, *modalities):
        """The same samples with only the named modalities."""
        self._check_names(modalities)
        return MultimodalDataset({m: self.inputs[m] for m in modalities}, self.labels, self.class_names)

    def to(self, device):
        """A copy with every tensor on `device` (training then never copies batches)."""
        return MultimodalDataset({m: x.to(device) for m, x in self.inputs.items()}, self.labels.to(device),
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

    Deterministic for a given `seed`; each index tensor is sorted.
    """
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise InvalidValue(f"need 0 < val_fraction, test_fraction and their sum < 1; "
                           f"got {val_fraction}, {test_fraction}")
    generator = torch.Generator().manual_seed(seed)
    parts = ([], [], [])
    for label in torch.unique(labels):
        index = torch.nonzero(labels == label).flatten()
        index = index[torch.randperm(len(index), generator=generator)]
        n_test = round(test_fraction * len(index))
        n_val = round(val_fraction * len(index))
        parts[2].append(index[:n_test])
        parts[1].append(index[n_test:n_test + n_val])
        parts[0].append(index[n_test + n_val:])
    return tuple(torch.sort(torch.cat(p)).values for p in parts)


def stratified_split(dataset, val_fraction=0.2, test_fraction=0.2, seed=0):
    """Split `dataset` into train/val/test `Splits` with every class in the same proportions in each split."""
    parts = stratified_indices(dataset.labels, val_fraction, test_fraction, seed)
    return Splits(*(dataset.subset(index) for index in parts))
