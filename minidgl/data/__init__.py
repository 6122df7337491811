"""Datasets as dicts of modality tensors plus labels, their splits, the built-in data and real clips."""
from ..errors import InvalidValue
from .av_digits import make_av_digits
from .clips import CLIP_DATASETS, load_crema_d, load_kinetics_sounds, load_prepared
from .dataset import MultimodalDataset, Splits, stratified_split
from .toy import make_gaussian_toy, make_gaussian_trio

DATASETS = {"av-digits": make_av_digits, "gaussian-toy": make_gaussian_toy, "gaussian-trio": make_gaussian_trio,
            **CLIP_DATASETS}


def load_dataset(name, **options):
    """A dataset by name (see `DATASETS`): a built-in one, or real clips from a prepared folder (`root=...`);
    `options` go to its builder."""
    if name not in DATASETS:
        raise InvalidValue(f"unknown dataset '{name}'; choose one of {sorted(DATASETS)}")
    return DATASETS[name](**options)


__all__ = ["CLIP_DATASETS", "DATASETS", "MultimodalDataset", "Splits", "load_crema_d", "load_dataset",
           "load_kinetics_sounds", "load_prepared", "make_av_digits", "make_gaussian_toy", "make_gaussian_trio",
           "stratified_split"]
