"""Cost of one training step per method, as a ratio to joint training on the same model and batch.

    python benchmarks/step_cost.py                 # AV-Digits MLP/CNN, CREMA-D-shaped ResNet-18, dense fusions
    python benchmarks/step_cost.py --quick --json step_cost.json --device cuda

A step is `fit`'s `train_step` (forward, losses, zero_grad, the method's backward, gradient norms, SGD step).
Besides minidgl's methods it times the reference implementations of the authors' steps (`minidgl.reference`):
DGL with two backward passes, the name-based wipe, clipping and per-step `.item()` logging; MMPareto with four
backward passes. The dense-fusion cases (attention, MMTM) time joint and DGL beside DGL's extra work alone and
report DGL / joint next to the floor that work implies (`time_case`). The timing loop is `minidgl.timing`
(methods interleaved in a rotated order, each on its own copy of the model). Reported: median (or, with
`--stat min`, fastest) seconds per step and the ratio to joint; the JSON keeps every timed step.
"""
import argparse
import copy
import ctypes
import ctypes.util

import torch
import torch.nn.functional as F

import minidgl
from minidgl import timing
from minidgl.files import check_writable, write_json
from minidgl.models import MultimodalNet, Tokens, build_encoder, build_fusion
from minidgl.reference import authors_dgl_step, authors_mmpareto_step
from minidgl.routing import dgl_routing
from minidgl.runtime import resolve_device

DGL = dgl_routing()  # the unimodal passes depend on the routing's detaches only, not on alpha
AV_DIGITS = {"audio": (1, 65, 32), "visual": (1, 8, 8)}
CASES = {
    # name: (encoder, fusion, {modality: per-sample shape}, classes, feature_dim, batch); the CNN and ResNet
    # batches are small so that the default run stays within a few minutes on two shared CPU cores
    "av-digits mlp": ("mlp", "concat", AV_DIGITS, 10, 64, 64),
    "av-digits cnn": ("cnn", "concat", AV_DIGITS, 10, 64, 16),
    "crema-d resnet18": ("resnet18", "concat", {"audio": (1, 257, 188), "visual": (3, 224, 224)}, 6, 512, 2),
    # dense fusions: 2080 + 64 tokens per sample into the transformer; 64-channel maps into the MMTM streams
    "av-digits attention": ("cnn-tokens", "attention", AV_DIGITS, 10, 64, 4),
    "av-digits mmtm": ("cnn-maps", "mmtm", AV_DIGITS, 10, 64, 16),
}
METHODS = ["joint", "uniform", "dgl", "ogm", "ogm-ge", "mmpareto", "authors-dgl", "authors-mmpareto"]
DENSE_METHODS = ["joint", "dgl", "unimodal-fwd", "unimodal-fwd-bwd"]
QUICK_FULL_REPEATS = {"mlp": (10, 30), "cnn": (3, 8), "resnet18": (2, 3), "cnn-tokens": (5, 10), "cnn-maps": (5, 10)}


def build(encoder, fusion, shapes, classes, feature_dim, seed=0):
    torch.manual_seed(seed)
    encoders = {m: build_encoder(encoder, s, feature_dim) for m, s in shapes.items()}
    return MultimodalNet(encoders, build_fusion(fusion, {m: e.out_dim for m, e in encoders.items()}, classes),
                         shapes)


def is_dense(case):
    return CASES[case][1] != "concat"


def unimodal_passes(model, inputs, backward):
    """What DGL adds to a joint step: a function `step(inputs, labels)` running the M unimodal passes through
    `model.fusion` with the code `MultimodalNet.forward` runs under DGL (`model.unimodal_logits`: detached
    fusion parameters, cloned buffers, train mode) and their cross-entropy; with `backward`, that loss
    back-propagated into the encoder outputs (the gradient DGL sends to the encoders; no parameter gets one).
    The encoder outputs are computed once, here, and reused."""
    with torch.no_grad():
        features = {m: encoder(inputs[m]) for m, encoder in model.encoders.items()}
    features = {m: Tokens(z.values.requires_grad_(), z.mask) if isinstance(z, Tokens) else z.requires_grad_()
                for m, z in features.items()}
    leaves = [z.values if isinstance(z, Tokens) else z for z in features.values()]

    def step(inputs, labels):
        loss = sum(F.cross_entropy(logits, labels) for logits in model.unimodal_logits(features, DGL).values())
        if backward:
            torch.autograd.grad(loss, leaves)
    return step


def make_step(name, model, inputs, unimodal=True):
    """A function `step(inputs, labels)` running one training step of method `name` on `model`, or DGL's extra
    work alone (`unimodal-fwd`, `unimodal-fwd-bwd`: see `unimodal_passes`)."""
    if name.startswith("unimodal-fwd"):
        return unimodal_passes(model, inputs, backward=name == "unimodal-fwd-bwd")
    if name == "authors-dgl":
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)
        log = []
        return lambda inputs, labels: authors_dgl_step(model, inputs, labels, optimizer, alpha=1.0, log=log)
    if name == "authors-mmpareto":
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)
        return lambda inputs, labels: authors_mmpareto_step(model, inputs, labels, optimizer)
    return timing.make_step(name, model, unimodal)


def time_case(case, device, repeats, warmup, stat="median"):
    """`timing.ratios` of the case's methods. A dense case times joint and DGL steps that compute no unimodal
    logits they do not need (joint: none), DGL's extra work alone in the same interleaved loop, and adds
    `dgl_floor` = (T_joint + T_unimodal-fwd-bwd) / T_joint, the M unimodal forward passes and their backward
    into the encoder outputs: DGL cannot cost less than joint plus that."""
    encoder, fusion, shapes, classes, feature_dim, batch = CASES[case]
    base = build(encoder, fusion, shapes, classes, feature_dim).to(device)
    g = torch.Generator().manual_seed(1)
    inputs = {m: torch.randn(batch, *s, generator=g).to(device) for m, s in shapes.items()}
    labels = torch.randint(0, classes, (batch,), generator=g).to(device)
    methods = DENSE_METHODS if is_dense(case) else METHODS
    steps = {name: make_step(name, copy.deepcopy(base), inputs, unimodal=not is_dense(case)) for name in methods}
    results = timing.ratios(timing.time_steps(steps, inputs, labels, repeats, warmup), stat)
    if is_dense(case):
        results["dgl_floor"] = 1 + results["unimodal-fwd-bwd"]["ratio_to_joint"]
    return results


def dense_markdown(results):
    lines = ["| case | joint | M unimodal fwd | their bwd into the encoders | DGL / joint | floor | DGL / floor |",
             "|---|---|---|---|---|---|---|"]
    for case, r in results.items():
        ms = {name: r[name]["seconds"] * 1e3 for name in DENSE_METHODS}
        lines.append(f"| {case} | {ms['joint']:.1f} ms | {ms['unimodal-fwd']:.1f} ms | "
                     f"{ms['unimodal-fwd-bwd'] - ms['unimodal-fwd']:.1f} ms | {r['dgl']['ratio_to_joint']:.2f} | "
                     f"{r['dgl_floor']:.2f} | {r['dgl']['ratio_to_joint'] / r['dgl_floor']:.3f} |")
    return "\n".join(lines)


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


def keep_freed_memory():
    """Ask glibc's malloc to keep freed memory mapped (no trimming, no per-tensor mmap), as PyTorch's CUDA
    caching allocator does on a GPU. Without it, a step that holds more activations at once (DGL's M unimodal
    graphs) pays page faults on every step that a measurement of its parts in isolation does not. Returns
    whether it applied (glibc only)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    if not hasattr(libc, "mallopt"):
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    return all(libc.mallopt(option, value) == 1 for option, value in
               [(m_mmap_threshold, 32 << 20), (m_trim_threshold, 1 << 30), (m_top_pad, 256 << 20)])


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
                        help="timed steps per method (default 30 MLP, 8 CNN, 3 ResNet, 10 dense)")
    parser.add_argument("--warmup", type=at_least(0), default=1)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (10 MLP, 3 CNN, 2 ResNet, 5 dense)")
    parser.add_argument("--stat", choices=["median", "min"], default="median",
                        help="per-method statistic; 'min' resists load from other processes on a shared machine")
    parser.add_argument("--threads", type=at_least(1), default=1, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    parser.add_argument("--system-malloc", action="store_true",
                        help="leave glibc's malloc as it is (default: keep freed memory mapped, see keep_freed_memory)")
    args = parser.parse_args(argv)
    try:
        device = resolve_device(args.device)
        if args.json:
            check_writable(args.json)
    except minidgl.errors.MinidglError as error:
        parser.error(str(error))

    torch.set_num_threads(args.threads)
    malloc_kept = not args.system_malloc and keep_freed_memory()
    results = {}
    for case in args.cases:
        quick, full = QUICK_FULL_REPEATS[CASES[case][0]]
        repeats = args.repeats if args.repeats is not None else (quick if args.quick else full)
        results[case] = time_case(case, device, repeats, args.warmup, args.stat)
    print(f"Step time relative to joint training ({args.stat} of repeats; device {device}, "
          f"{torch.get_num_threads()} CPU thread(s), torch {torch.__version__}, "
          f"malloc keeps freed memory: {malloc_kept})\n")
    late = {case: r for case, r in results.items() if not is_dense(case)}
    dense = {case: r for case, r in results.items() if is_dense(case)}
    print("\n\n".join(([markdown(late)] if late else []) + ([dense_markdown(dense)] if dense else [])))
    if args.json:
        write_json(args.json, {"device": str(device), "torch": torch.__version__, "stat": args.stat,
                               "threads": torch.get_num_threads(), "malloc_kept": malloc_kept, "results": results})


if __name__ == "__main__":
    main()
