"""Chapter 6's studies: DGL when the modalities interact inside the fusion (cross-attention, MMTM) and with three
modalities. The method x fusion grid with linear probes, each encoder's learning signal under joint training,
and the BatchNorm trap of the unimodal passes."""
import copy

import torch

from ..data import make_gaussian_toy, make_gaussian_trio
from ..diagnostics import encoder_loss_gradient_norms
from ..experiments import format_summary, markdown_table, summarize
from ..methods import get_method
from ..probing import probe_compare_with_runs
from ..reference import authors_two_pass_gradients, method_gradients
from ..train import evaluate

MAP_SHAPE = (8, 2, 2)
ENCODER_FOR = {"concat": "cnn", "attention": "cnn-tokens", "mmtm": "cnn-maps"}
FUSION_NAMES = {"concat": "late (concat)", "attention": "cross-attention", "mmtm": "intermediate (MMTM)"}


def interaction_datasets(pair_n=1200, trio_n=1800, seed=0):
    """The chapter's two datasets, every modality a `MAP_SHAPE` map (32 numbers) that a conv encoder reads:

    `"2 modalities"`: `make_gaussian_toy` with a stronger `a` (s=2.5) and a weaker `b` (s=1.5), 6 classes, each
    modality enough alone for part of the labels; `"3 modalities"`: `make_gaussian_trio` (`a` the content
    strongly, `b` weakly, `c` the attribute only; 12 classes), whose label needs `c`. Returns `{name: Splits}`.
    """
    return {"2 modalities": make_gaussian_toy({"a": 2.5, "b": 1.5}, dim=32, noise=1.0, n=pair_n, seed=seed,
                                              shape=MAP_SHAPE),
            "3 modalities": make_gaussian_trio(dim=32, n=trio_n, seed=seed, shape=MAP_SHAPE)}


def fusion_grid(datasets, fusions=tuple(ENCODER_FOR), methods=("joint", "uniform", "dgl"), seeds=(0, 1, 2),
                **overrides):
    """`probe_compare` of `methods` over `seeds` for every dataset and fusion, each fusion with the conv encoder
    that feeds it (`ENCODER_FOR`: pooled features, tokens or feature maps; the same conv stem). Trained models
    are the epochs chosen on validation; every encoder is linear-probed on its pooled features.

    Returns `{"reports": {name: {fusion: report}}, "runs": {name: {fusion: {method: [(model, History)]}}},
    "datasets": datasets}`.
    `overrides` go to `fit` (e.g. `epochs`).
    """
    reports, runs = {}, {}
    for name, data in datasets.items():
        reports[name], runs[name] = {}, {}
        for fusion in fusions:
            reports[name][fusion], runs[name][fusion] = probe_compare_with_runs(
                data, methods, seeds, ENCODER_FOR[fusion], fusion, random_init=False, **overrides)
    return {"reports": reports, "runs": runs, "datasets": dict(datasets)}


def grid_value(grid, name, fusion, method, what="test_acc", modality=None):
    """One summary `{"mean", "std", "per_seed"}` of a `fusion_grid`: the fused `"test_acc"`, or the
    `"probe_acc"` of `modality`'s encoder."""
    row = grid["reports"][name][fusion]["results"][method]
    return row[what] if modality is None else row[what][modality]


def grid_difference(grid, name, fusion, method, baseline="joint", what="test_acc", modality=None):
    """`method - baseline` per seed (same seeds, same data), summarized: `{"mean", "std", "per_seed"}`."""
    a = grid_value(grid, name, fusion, method, what, modality)["per_seed"]
    b = grid_value(grid, name, fusion, baseline, what, modality)["per_seed"]
    return summarize([x - y for x, y in zip(a, b)])


def grid_table(grid, name):
    """A markdown table of one dataset of a `fusion_grid`: per fusion and method, the fused test accuracy and
    each encoder's probe accuracy, mean ± std over the seeds."""
    reports = grid["reports"][name]
    first = next(iter(reports.values()))
    modalities = first["config"]["modalities"]
    header = ["fusion", "method", "fused test acc"] + [f"{m} probe" for m in modalities]
    rows = [[FUSION_NAMES.get(fusion, fusion), method, format_summary(row["test_acc"])]
            + [format_summary(row["probe_acc"][m]) for m in modalities]
            for fusion, report in reports.items() for method, row in report["results"].items()]
    return markdown_table(header, rows)


def learning_signal(grid, name, samples=512, method="joint"):
    """Each encoder's gradient from the fused loss against its own unimodal loss, in the models `method` trained
    (the epoch chosen on validation), per fusion: `{fusion: {m: summary of ||grad L_mm|| / ||grad L_m^uni||}}`
    over the seeds, on the first `samples` training samples, measured on a copy of each model in training mode
    (the copy's BatchNorm statistics absorb the measuring pass). Below 1, fusion passes the encoder less than
    its own loss would."""
    split = grid["datasets"][name].train
    inputs, labels = {m: x[:samples] for m, x in split.inputs.items()}, split.labels[:samples]
    signal = {}
    for fusion, runs in grid["runs"][name].items():
        ratios = {}
        for model, _ in runs[method]:
            norms = encoder_loss_gradient_norms(copy.deepcopy(model).train(), inputs, labels)
            for m, n in norms.items():
                ratios.setdefault(m, []).append(n["fused"] / n["unimodal"])
        signal[fusion] = {m: summarize(values) for m, values in ratios.items()}
    return signal


def batchnorm_statistics_study(model, data, batch_size=64):
    """What the unimodal passes would do to an intermediate fusion's BatchNorm running statistics.

    Re-estimates the running statistics of `model.fusion`'s BatchNorm layers over the training split (a plain
    average over its batches, the encoders frozen), once from the fused passes only (what `MultimodalNet` lets
    them see) and once from the fused pass followed by the M unimodal passes on zero-padded inputs (what a DGL
    step would feed them if its unimodal passes ran through the live buffers), then evaluates each copy on the
    test split. Returns `{"as trained": acc, "fused passes only": acc, "fused and unimodal passes": acc}`, the
    fused test accuracies.
    """
    results = {"as trained": evaluate(model, data.test)["fused_acc"]}
    for label, unimodal in (("fused passes only", False), ("fused and unimodal passes", True)):
        estimated = _reestimated(model, data.train, batch_size, unimodal)
        results[label] = evaluate(estimated, data.test)["fused_acc"]
    return results


@torch.no_grad()
def _reestimated(model, train, batch_size, unimodal):
    """A copy of `model` whose fusion BatchNorm statistics are the average over `train`'s batches of the fused
    pass, and of every unimodal pass too when `unimodal`."""
    model = copy.deepcopy(model).eval()
    norms = [module for module in model.fusion.modules() if isinstance(module, torch.nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
        norm.train()
    device = next(model.parameters()).device
    for inputs, _ in train.batches(batch_size):
        features = {m: encoder(inputs[m].to(device)) for m, encoder in model.encoders.items()}
        model.fusion(features)
        if unimodal:
            for m in features:
                model.fusion(features, alone=m)
    for norm in norms:
        norm.eval()
    return model


@torch.no_grad()
def alone_dependence(model, inputs, seed=0):
    """How much each modality's unimodal logits move when every *other* modality's input is replaced by fresh
    Gaussian noise of the same shape: `{m: max |change|}` (floats; 0.0 means they depend on `m` alone, as the
    fusion contract requires). Evaluated in eval mode, on a copy of `model`."""
    model = copy.deepcopy(model).eval()
    before = model(inputs).unimodal_logits
    generator = torch.Generator().manual_seed(seed)
    changes = {}
    for m in model.modalities:
        noisy = {k: x if k == m else torch.randn(x.shape, generator=generator).to(x) for k, x in inputs.items()}
        changes[m] = (model(noisy).unimodal_logits[m] - before[m]).abs().max().item()
    return changes


def authors_gradient_gap(model, inputs, labels, alpha=1.0):
    """minidgl's DGL step (one backward) against the authors' two backward passes, on copies of `model` (training
    mode): `{"max_gap": largest |difference| over every parameter's gradient, "same_without_gradient": whether
    exactly the same parameters get no gradient}`."""
    ours, _ = method_gradients(copy.deepcopy(model).train(), get_method("dgl", alpha=alpha), inputs, labels)
    theirs = authors_two_pass_gradients(copy.deepcopy(model).train(), inputs, labels, alpha)
    same_none = all((ours[n] is None) == (theirs[n] is None) for n in theirs)
    gaps = [(ours[n] - theirs[n]).abs().max().item() for n in theirs if ours[n] is not None and theirs[n] is not None]
    return {"max_gap": max(gaps), "same_without_gradient": same_none}
