"""Datasets as dicts of modality tensors plus labels, their splits, and the built-in data."""
from ..errors import InvalidValue
from .av_digits import make_av_digits
from .dataset import MultimodalDataset, Splits, stratified_split
from .toy import make_gaussian_toy

DATASETS = {"av-digits": make_av_digits, "gaussian-toy": make_gaussian_toy}


def load_dataset(name, **options):
    """Build a built-in dataset by name (see `DATASETS`); `options` go to its builder."""
    if name not in DATASETS:
        raise InvalidValue(f"unknown dataset '{name}'; choose one of {sorted(DATASETS)}")
    return DATASETS[name](**options)


__all__ = ["DATASETS", "MultimodalDataset", "Splits", "load_dataset", "make_av_digits", "make_gaussian_toy",
           "stratified_split"]
