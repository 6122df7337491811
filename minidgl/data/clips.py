"""Real audio-visual clips (CREMA-D, Kinetics-Sounds) streamed from a folder prepared by `data_scripts/`.

The prepared folder (written by `data_scripts/crema_d.py` or `data_scripts/kinetics_sounds.py`, described in
`data_scripts/README.md`) holds, per clip, its frames at 1 fps as `frames/<clip>/<second:05d>.jpg` and one
audio feature `audio/<clip>.npy` `(frequency, time)` float32, plus `manifest.csv`, `prepared.json` and split
lists `splits/<name>/{train,val,test}.txt`. Nothing here decodes media: the audio front-end ran once, at
preparation time.

A sample is `({"audio": (1, F, T), "visual": (3, frames, 224, 224)}, label)`, with the authors' image
transforms (DGL, OGM-GE, MMPareto code): train `RandomResizedCrop(224)` + horizontal flip, test
`Resize((224, 224))`, both ImageNet-normalised, each frame transformed on its own.
"""
import csv
import hashlib
import json
import pathlib

import torch

from ..errors import InvalidValue, MissingFile
from .dataset import Splits

FORMAT_VERSION = 1  # of the prepared folder's layout; data_scripts writes it, load_prepared refuses another
FRONT_ENDS = ("log-stft", "fbank")
DEFAULT_SPLIT = {"crema-d": "actor", "kinetics-sounds": "stratified"}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_SIZE = 224
PREPARE_COMMAND = {"crema-d": "python data_scripts/crema_d.py --raw RAW --out {root}",
                   "kinetics-sounds": "python data_scripts/kinetics_sounds.py --raw RAW --out {root}"}


def read_prepared(root, dataset, front_end=None):
    """`prepared.json` of the folder `root`, checked: made for `dataset`, in this `FORMAT_VERSION`, finished,
    and (when `front_end` is given) with that audio front-end. A clear error otherwise."""
    root = pathlib.Path(root)
    path = root / "prepared.json"
    if not path.is_file():
        raise MissingFile(f"no prepared {dataset} folder at {root} (no prepared.json); make it with "
                          f"`{PREPARE_COMMAND[dataset].format(root=root)}`")
    info = json.loads(path.read_text())
    if info.get("dataset") != dataset:
        raise InvalidValue(f"{root} was prepared for {info.get('dataset')!r}, not {dataset!r}; pass the folder "
                           f"prepared for {dataset} (or --dataset {info.get('dataset')})")
    if info.get("format_version") != FORMAT_VERSION:
        raise InvalidValue(f"{root} was prepared in format version {info.get('format_version')}, this minidgl "
                           f"reads version {FORMAT_VERSION}; prepare it again into a new folder with "
                           f"`{PREPARE_COMMAND[dataset].format(root='NEW')}`")
    if front_end is not None and info["front_end"] != front_end:
        raise InvalidValue(f"{root} holds audio from the {info['front_end']!r} front-end, not {front_end!r}; "
                           f"ask for {info['front_end']!r} or prepare a new folder with --front-end {front_end}")
    if not info.get("splits"):
        raise InvalidValue(f"the preparation of {root} did not finish (no splits written); run the same "
                           f"`{PREPARE_COMMAND[dataset].format(root=root)}` again: it resumes")
    return info


def frame_indices(count, frames, train):
    """Indices `(frames,)` of the frames to load from a clip of `count` frames, in time order.

    Segment sampling (MMPareto / BalanceBenchmark): the clip is cut into `frames` equal segments; training
    takes a random frame of each segment, evaluation its middle frame. A clip with fewer frames than asked
    repeats some.
    """
    position = torch.rand(frames) if train else torch.full((frames,), 0.5)
    index = ((torch.arange(frames) + position) * count / frames).long()
    return index.clamp(max=count - 1)


class ClipDataset(torch.utils.data.Dataset):
    """The clips `clips` of a prepared folder with integer `labels`, each `frame_counts` frames long.

    `dataset[i]` is `({"audio": (1, F, T), "visual": (3, frames, 224, 224)}, label)`; `train` chooses the
    random training transforms and frame choice, else the deterministic test ones.
    """

    def __init__(self, root, clips, labels, frame_counts, frames=1, train=False):
        from torchvision import transforms  # imported here: `import minidgl` stays light

        if not (isinstance(frames, int) and frames >= 1):
            raise InvalidValue(f"frames is how many frames to load per clip; need an integer >= 1, got {frames!r}")
        self.root = pathlib.Path(root)
        self.clips, self.labels, self.frame_counts = list(clips), list(labels), list(frame_counts)
        self.frames, self.train = frames, train
        resize = [transforms.RandomResizedCrop(IMAGE_SIZE), transforms.RandomHorizontalFlip()] if train else \
            [transforms.Resize((IMAGE_SIZE, IMAGE_SIZE))]
        self.transform = transforms.Compose([*resize, transforms.ToTensor(),
                                             transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])

    def __len__(self):
        return len(self.clips)

    def __getitem__(self, i):
        import numpy as np
        from PIL import Image

        clip = self.clips[i]
        audio = torch.from_numpy(np.load(self.root / "audio" / f"{clip}.npy")).unsqueeze(0)  # (1, F, T)
        images = []
        for second in frame_indices(self.frame_counts[i], self.frames, self.train).tolist():
            with Image.open(self.root / "frames" / clip / f"{second:05d}.jpg") as image:
                images.append(self.transform(image.convert("RGB")))  # (3, 224, 224)
        return {"audio": audio, "visual": torch.stack(images, dim=1)}, self.labels[i]  # visual: (3, frames, H, W)


class ClipBatches:
    """One split as an iterable of `({"audio": (batch, 1, F, T), "visual": (batch, 3, frames, 224, 224)},
    labels (batch,))` batches from a `DataLoader` (worker processes, pinned memory when CUDA is used), with
    what `build_model` and `fit` read from data: `modalities`, `num_classes`, `class_names`, `input_shapes`.

    The training split shuffles with `seed`: inside an initialised `torch.distributed` process group through a
    `DistributedSampler` (this rank's share), else with a `torch.Generator`. `set_epoch(epoch)` (which `fit`
    calls before each epoch) makes the epoch's order, and the random seeds of the workers' augmentations, a
    function of `(seed, epoch)` alone, so that a run resumed at any epoch continues exactly (with `workers=0`
    the augmentations draw from the main process's generator, which a checkpoint restores).
    `len()` is the number of batches.
    """

    def __init__(self, dataset, class_names, audio_shape, batch_size, workers=0, seed=0, fingerprint="", split=""):
        self.dataset, self.class_names, self.audio_shape = dataset, list(class_names), tuple(audio_shape)
        self.batch_size, self.workers, self.seed = batch_size, workers, seed
        self.fingerprint, self.split = fingerprint, split
        self.sampler = None
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        if dataset.train and distributed:
            self.sampler = torch.utils.data.distributed.DistributedSampler(dataset, shuffle=True, seed=seed)
        self.generator = torch.Generator().manual_seed(seed)
        self.loader = torch.utils.data.DataLoader(
            dataset, batch_size=batch_size, shuffle=dataset.train and self.sampler is None, sampler=self.sampler,
            num_workers=workers, pin_memory=torch.cuda.is_available(), generator=self.generator)

    @property
    def modalities(self):
        return ["audio", "visual"]

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def input_shapes(self):
        """Per-sample shapes: `{"audio": (1, F, T), "visual": (3, frames, 224, 224)}`."""
        return {"audio": (1, *self.audio_shape), "visual": (3, self.dataset.frames, IMAGE_SIZE, IMAGE_SIZE)}

    def set_epoch(self, epoch):
        """Seed the order and the workers of `epoch` from `(seed, epoch)` (and tell a `DistributedSampler`)."""
        self.generator.manual_seed(self.seed * 1_000_003 + epoch)
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)

    def __iter__(self):
        return iter(self.loader)

    def __len__(self):
        return len(self.loader)

    def __repr__(self):
        """Canonical (the results cache keys runs by it): the prepared data's fingerprint and every setting."""
        return (f"ClipBatches({self.split}, {len(self.dataset)} clips, frames={self.dataset.frames}, "
                f"train={self.dataset.train}, batch_size={self.batch_size}, workers={self.workers}, "
                f"seed={self.seed}, data={self.fingerprint})")


def read_manifest(root):
    """`{clip: row}` of `manifest.csv` (columns: clip, label, frames, feature_shape, source_sha256, ...)."""
    with open(pathlib.Path(root) / "manifest.csv", newline="") as f:
        return {row["clip"]: row for row in csv.DictReader(f)}


def load_prepared(root, dataset, split=None, frames=1, batch_size=64, workers=4, seed=0, front_end=None):
    """`Splits` of three `ClipBatches` (train, val, test) over the prepared folder `root` of `dataset`.

    `split`: a split the folder holds (`prepared.json` lists them; default `DEFAULT_SPLIT[dataset]`);
    `frames` per clip; `workers` DataLoader processes; `seed` shuffles the training split; `front_end`, when
    given, must be the one the folder was prepared with.
    """
    info = read_prepared(root, dataset, front_end)
    split = split or DEFAULT_SPLIT[dataset]
    if split not in info["splits"]:
        missing = info.get("splits_not_written", {}).get(split, "")
        raise InvalidValue(f"{root} has the splits {sorted(info['splits'])}, not {split!r}" +
                           (f" ({missing})" if missing else ""))
    root = pathlib.Path(root)
    manifest = read_manifest(root)
    class_index = {name: k for k, name in enumerate(info["class_names"])}
    fingerprint = hashlib.sha256((root / "prepared.json").read_bytes() + (root / "manifest.csv").read_bytes())
    parts = []
    for part in ("train", "val", "test"):
        clips = (root / "splits" / split / f"{part}.txt").read_text().split()
        rows = [manifest[clip] for clip in clips]
        data = ClipDataset(root, clips, [class_index[row["label"]] for row in rows],
                           [int(row["frames"]) for row in rows], frames, train=part == "train")
        parts.append(ClipBatches(data, info["class_names"], info["feature_shape"], batch_size, workers, seed,
                                 fingerprint.hexdigest()[:16], f"{dataset}/{split}/{part}"))
    return Splits(*parts)


def load_crema_d(root, split="actor", **options):
    """CREMA-D from a folder prepared by `data_scripts/crema_d.py`: `split` is "actor" (actor-disjoint
    train/val/test, the honest one) or "authors" (the OGM/DGL 6,698/744 lists, validation carved from train);
    `options` go to `load_prepared`."""
    return load_prepared(root, "crema-d", split, **options)


def load_kinetics_sounds(root, split="stratified", **options):
    """Kinetics-Sounds from a folder prepared by `data_scripts/kinetics_sounds.py`: `split` is "stratified"
    (random, class-stratified) or "authors" (the GeWu lists, validation carved from train); `options` go to
    `load_prepared`."""
    return load_prepared(root, "kinetics-sounds", split, **options)


CLIP_DATASETS = {"crema-d": load_crema_d, "kinetics-sounds": load_kinetics_sounds}
