"""Cost of one training step per method, as a ratio to joint training on the same model and batch.

    python benchmarks/step_cost.py                 # AV-Digits MLP/CNN and CREMA-D-shaped ResNet-18, CPU
    python benchmarks/step_cost.py --quick --json step_cost.json --device cuda

A step is `fit`'s `train_step` (forward, losses, zero_grad, the method's backward, gradient norms, SGD step). Besides minidgl's methods it
times the reference implementations of the authors' steps (`minidgl.reference`): DGL with two backward passes,
the name-based wipe, clipping and per-step `.item()` logging; MMPareto with four backward passes. The timing
loop is `minidgl.timing` (methods interleaved in a rotated order, each on its own copy of the model). Reported: median (or, with
`--stat min`, fastest) seconds per step and the ratio to joint; the JSON keeps every timed step.
"""
import argparse
import copy

import torch

import minidgl
from minidgl import timing
from minidgl.jsonfile import check_writable, write_json
from minidgl.models import MultimodalNet, build_encoder, build_fusion
from minidgl.reference import authors_dgl_step, authors_mmpareto_step
from minidgl.runtime import resolve_device

CASES = {
    # name: (encoder, {modality: per-sample shape}, classes, feature_dim, batch); the CNN and ResNet batches
    # are small so that the default run stays within about three minutes on two shared CPU cores
    "av-digits mlp": ("mlp", {"audio": (1, 65, 32), "visual": (1, 8, 8)}, 10, 64, 64),
    "av-digits cnn": ("cnn", {"audio": (1, 65, 32), "visual": (1, 8, 8)}, 10, 64, 16),
    "crema-d resnet18": ("resnet18", {"audio": (1, 257, 188), "visual": (3, 224, 224)}, 6, 512, 2),
}
METHODS = ["joint", "uniform", "dgl", "ogm", "ogm-ge", "mmpareto", "authors-dgl", "authors-mmpareto"]


def build(encoder, shapes, classes, feature_dim, seed=0):
    torch.manual_seed(seed)
    encoders = {m: build_encoder(encoder, s, feature_dim) for m, s in shapes.items()}
    return MultimodalNet(encoders, build_fusion("concat", {m: e.out_dim for m, e in encoders.items()}, classes),
                         shapes)


def make_step(name, model):
    """A function `step(inputs, labels)` running one training step of method `name` on `model`."""
    if name == "authors-dgl":
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)
        log = []
        return lambda inputs, labels: authors_dgl_step(model, inputs, labels, optimizer, alpha=1.0, log=log)
    if name == "authors-mmpareto":
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)
        return lambda inputs, labels: authors_mmpareto_step(model, inputs, labels, optimizer)
    return timing.make_step(name, model)


def time_case(case, device, repeats, warmup, stat="median"):
    encoder, shapes, classes, feature_dim, batch = CASES[case]
    base = build(encoder, shapes, classes, feature_dim).to(device)
    g = torch.Generator().manual_seed(1)
    inputs = {m: torch.randn(batch, *s, generator=g).to(device) for m, s in shapes.items()}
    labels = torch.randint(0, classes, (batch,), generator=g).to(device)
    steps = {name: make_step(name, copy.deepcopy(base)) for name in METHODS}
    return timing.ratios(timing.time_steps(steps, inputs, labels, repeats, warmup), stat)


def markdown(results):
    lines = ["| case | " + " | ".join(METHODS) + " | minidgl/authors DGL | minidgl/authors MMPareto |",
             "|---|" + "---|" * (len(METHODS) + 2)]
    for case, r in results.items():
        cells = [f"{r[m]['ratio_to_joint']:.2f}" for m in METHODS]
        cells[0] = f"1.00 ({r['joint']['seconds'] * 1e3:.1f} ms)"
        dgl = r["dgl"]["seconds"] / r["authors-dgl"]["seconds"]
        mmp = r["mmpareto"]["seconds"] / r["authors-mmpareto"]["seconds"]
        lines.append(f"| {case} | " + " | ".join(cells) + f" | {dgl:.2f} | {mmp:.2f} |")
    return "\n".join(lines)


def at_least(minimum):
    """An argparse type: an integer >= `minimum` (anything else is a usage error naming the value)."""
    def parse(text):
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"need an integer >= {minimum}, got {value}")
        return value
    return parse


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--repeats", type=at_least(1), default=None,
                        help="timed steps per method (default 30 MLP, 8 CNN, 3 ResNet)")
    parser.add_argument("--warmup", type=at_least(0), default=1)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (10 MLP, 3 CNN, 2 ResNet)")
    parser.add_argument("--stat", choices=["median", "min"], default="median",
                        help="per-method statistic; 'min' resists load from other processes on a shared machine")
    parser.add_argument("--threads", type=at_least(1), default=1, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    args = parser.parse_args(argv)
    try:
        device = resolve_device(args.device)
        if args.json:
            check_writable(args.json)
    except minidgl.errors.MinidglError as error:
        parser.error(str(error))

    torch.set_num_threads(args.threads)
    results = {}
    for case in args.cases:
        quick, full = {"mlp": (10, 30), "cnn": (3, 8), "resnet18": (2, 3)}[CASES[case][0]]
        repeats = args.repeats if args.repeats is not None else (quick if args.quick else full)
        results[case] = time_case(case, device, repeats, args.warmup, args.stat)
    print(f"Step time relative to joint training ({args.stat} of repeats; device {device}, "
          f"{torch.get_num_threads()} CPU thread(s), torch {torch.__version__})\n")
    print(markdown(results))
    if args.json:
        write_json(args.json, {"device": str(device), "torch": torch.__version__, "stat": args.stat,
                               "threads": torch.get_num_threads(), "results": results})


if __name__ == "__main__":
    main()
