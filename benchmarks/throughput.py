"""Can the data pipeline keep the trainer busy? Clips/s of the loader against clips/s of ResNet-18 training steps.

    python benchmarks/throughput.py                                   # a synthetic CREMA-D-shaped folder, CPU
    python benchmarks/throughput.py --data-root prepared/crema-d --device cuda --amp bfloat16 --workers 8

Loader: the training split of a prepared folder (`data_scripts/`; without `--data-root`, a synthetic one with
CREMA-D's shapes is written to a temporary folder) read through `minidgl.data.clips` with its augmentation
(random crop and flip, ImageNet normalisation), DataLoader workers and pinned memory, batches moved to the
device: clips per second over `--batches` batches after one warm-up batch.
Training: `train_step` of joint training and of DGL on ResNet-18 encoders (audio 1 x 257 x 188, visual
3 x frames x 224 x 224, 6 classes) on a batch already on the device: median seconds per step over
`--repeats`, interleaved (`minidgl.timing`).
The loader keeps up when its clips/s is at least steps/s x batch size; DGL / joint is the cost of DGL's step.
"""
import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # data_scripts/ of this checkout
import minidgl  # noqa: E402
from minidgl import timing  # noqa: E402
from minidgl.data.clips import FORMAT_VERSION, load_crema_d  # noqa: E402

CLASSES = ["NEU", "HAP", "SAD", "FEA", "DIS", "ANG"]


def synthetic_crema_d(out, clips, seconds=3, size=(480, 360), seed=0):
    """A prepared CREMA-D folder of `clips` clips with CREMA-D's sizes (JPEG frames of 480 x 360 at 1 fps, log-STFT
    features 257 x 188) and random contents, written as `data_scripts/` writes one; all clips in the train part
    of the `actor` split (the benchmark reads only that). Returns `out`."""
    import numpy as np
    from PIL import Image

    from data_scripts.media import Summary, finish_folder

    rng = np.random.default_rng(seed)
    records = []
    for i in range(clips):
        name = f"{1001 + i % 91}_SYN_{CLASSES[i % 6]}_{i:04d}"
        (out / "frames" / name).mkdir(parents=True)
        for second in range(seconds):
            pixels = rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
            Image.fromarray(pixels).save(out / "frames" / name / f"{second:05d}.jpg", quality=95)
        (out / "audio").mkdir(exist_ok=True)
        np.save(out / "audio" / f"{name}.npy", rng.standard_normal((257, 188), dtype=np.float32))
        records.append({"clip": name, "actor": name[:4], "label": CLASSES[i % 6], "frames": seconds,
                        "feature_shape": "257x188", "source_sha256": "synthetic"})
    info = {"dataset": "crema-d", "format_version": FORMAT_VERSION, "created_by": "benchmarks/throughput.py",
            "front_end": "log-stft", "feature_shape": [257, 188], "fps": 1}
    names = [r["clip"] for r in records]
    finish_folder(out, info, records, Summary(clips, 0, clips, []), CLASSES,
                  {"actor": ({"train": names, "val": names[:1], "test": names[:1]}, "synthetic: every clip in train")})
    return out


def loader_clips_per_second(train, device, batches):
    """Clips per second of `train` (an iterable of `(inputs, labels)` batches) moved to `device`."""
    iterator = iter(train)
    next(iterator)  # warm-up: starts the workers
    timing.sync(device)
    start, clips = time.perf_counter(), 0
    for _ in range(batches):
        try:
            inputs, labels = next(iterator)
        except StopIteration:
            break
        inputs, labels = minidgl.train.to_device(inputs, labels, device)
        clips += len(labels)
    timing.sync(device)
    return clips / (time.perf_counter() - start)


def step_seconds(config, batch_size, device, amp, compile, repeats):
    """Median seconds of one training step of joint and DGL on the model `config` describes: `{method: s}`."""
    torch.manual_seed(0)
    model = minidgl.build_model(config).to(device)
    g = torch.Generator().manual_seed(1)
    inputs = {m: torch.randn(batch_size, *s, generator=g).to(device) for m, s in config.input_shapes.items()}
    labels = torch.randint(0, config.num_classes, (batch_size,), generator=g).to(device)
    steps = {}
    for name in ("joint", "dgl"):
        copy_ = copy.deepcopy(model)
        method = minidgl.get_method(name)
        optimizer = torch.optim.SGD(copy_.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)
        forward = torch.compile(copy_) if compile else copy_
        scaler = torch.amp.GradScaler(device.type) if amp == "float16" else None
        steps[name] = (lambda x, y, m=copy_, f=forward, meth=method, o=optimizer, s=scaler:
                       minidgl.train_step(m, meth, o, x, y, amp=amp, forward=f, scaler=s))
    times = timing.time_steps(steps, inputs, labels, repeats=repeats, warmup=2 if compile else 1)
    return {name: r["seconds"] for name, r in timing.ratios(times).items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, help="a prepared folder (default: a synthetic CREMA-D-shaped one)")
    parser.add_argument("--clips", type=int, default=64, help="clips of the synthetic folder (default 64)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--frames", type=int, default=1, help="frames per clip (DGL's CREMA-D scripts: 1)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    parser.add_argument("--batches", type=int, default=8, help="timed loader batches")
    parser.add_argument("--repeats", type=int, default=20, help="timed training steps per method")
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--amp", choices=["bfloat16", "float16"], help="autocast dtype (default: none)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--threads", type=int, help="CPU threads of the training process")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    for option in ("clips", "batch_size", "frames", "batches", "repeats"):
        if getattr(args, option) < 1:
            parser.error(f"--{option.replace('_', '-')} must be at least 1, got {getattr(args, option)}")
    if args.workers < 0 or (args.threads is not None and args.threads < 1):
        parser.error("--workers must be >= 0 and --threads >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = minidgl.runtime.resolve_device(args.device)

    with tempfile.TemporaryDirectory() as scratch:
        root = args.data_root or synthetic_crema_d(Path(scratch) / "crema-d", args.clips)
        data = load_crema_d(root, split="actor", batch_size=args.batch_size, frames=args.frames, workers=args.workers)
        clips_per_second = loader_clips_per_second(data.train, device, args.batches)
    config = minidgl.ModelConfig(data.input_shapes, data.num_classes, encoder="resnet18")
    seconds = step_seconds(config, args.batch_size, device, args.amp, args.compile, args.repeats)
    needed = args.batch_size / seconds["dgl"]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"
    figures = {"device": name, "torch": torch.__version__, "batch_size": args.batch_size, "workers": args.workers,
               "amp": args.amp, "compile": args.compile,
               "input_shapes": {m: list(s) for m, s in config.input_shapes.items()},
               "loader_clips_per_s": clips_per_second, "joint_step_s": seconds["joint"], "dgl_step_s": seconds["dgl"],
               "training_clips_per_s": needed, "loader_keeps_up": clips_per_second >= needed,
               "dgl_over_joint": seconds["dgl"] / seconds["joint"]}
    print(f"{name}, torch {torch.__version__}, batch {args.batch_size}, {args.workers} worker(s), amp {args.amp}, "
          f"compile {args.compile}")
    print(f"loader:   {clips_per_second:8.1f} clips/s")
    verdict = "keeps up" if figures["loader_keeps_up"] else "is the bottleneck"
    print(f"training: {needed:8.1f} clips/s with DGL ({seconds['dgl'] * 1e3:.1f} ms per step; joint "
          f"{seconds['joint'] * 1e3:.1f} ms) -> the loader {verdict}")
    print(f"DGL / joint step: {figures['dgl_over_joint']:.3f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
