"""Checkers for chapter 6 (dense fusion, three modalities): the zero-padded input of a unimodal pass, and a
unimodal pass that leaves the fusion's BatchNorm statistics as they were."""
import copy

import torch

from ...models.dense import MMTMFusion
from . import close_problem, report, stub_safe


def _feature_cases():
    """`[(description, features, modality)]`: pooled features and feature maps, two and three modalities."""
    g = torch.Generator().manual_seed(6)
    return [
        ("two modalities, pooled features (batch 4, dim 3)",
         {"a": torch.randn(4, 3, generator=g), "b": torch.randn(4, 5, generator=g)}, "a"),
        ("three modalities, feature maps (batch 2, 4 channels, 2 x 2)",
         {m: torch.randn(2, 4, 2, 2, generator=g) for m in "abc"}, "b"),
        ("three modalities, the last one kept", {m: torch.randn(3, 2, generator=g) for m in "abc"}, "c"),
    ]


@stub_safe("Exercise 6.1")
def check_zero_others(student_fn):
    """Exercise 6.1: `student_fn(features, modality)` -> a new dict with the same keys in the same order, where
    `modality` keeps its tensor and every other modality's tensor is replaced by zeros of its shape and dtype;
    the caller's tensors are not modified. Also checked through an MMTM fusion: its fused pass on the result
    must give its unimodal logits."""
    name, problems = "Exercise 6.1: zero the other modalities", []
    for what, features, keep in _feature_cases():
        original = {m: x.clone() for m, x in features.items()}
        got = student_fn(features, keep)
        if any(not torch.equal(features[m], original[m]) for m in features):
            problems.append(f"{what}: your function changed the caller's features in place; build new tensors "
                            f"(torch.zeros_like) instead of writing into the old ones")
            continue
        if not isinstance(got, dict) or list(got) != list(features):
            problems.append(f"{what}: expected a dict with keys {list(features)} in that order, got "
                            f"{list(got) if isinstance(got, dict) else type(got).__name__}")
            continue
        if not torch.equal(got[keep], features[keep]):
            problems.append(f"{what}: '{keep}' must keep its features"
                            + (" (you zeroed the modality that stays instead of the others)"
                               if not got[keep].any() else ""))
        for m in features:
            if m != keep and (got[m].shape != features[m].shape or got[m].dtype != features[m].dtype
                              or got[m].any()):
                problems.append(f"{what}: '{m}' must be zeros of shape {tuple(features[m].shape)}")
    if not problems:
        features = _feature_cases()[1][1]
        fusion = MMTMFusion({m: 4 for m in features}, num_classes=3, width=4, depth=1).eval()
        with torch.no_grad():
            problems.append(close_problem("MMTM's fused pass on your zeroed features against its unimodal pass",
                                          fusion(student_fn(features, "b")), fusion(features, alone="b")))
    return report(name, problems)


def _batchnorm_case(modalities):
    """An MMTM fusion in training mode with non-trivial running statistics, and feature maps that need grad."""
    g = torch.Generator().manual_seed(len(modalities))
    fusion = MMTMFusion({m: 4 for m in modalities}, num_classes=3, width=4, depth=2).train()
    with torch.no_grad():
        for name, buffer in fusion.named_buffers():
            if buffer.is_floating_point():
                buffer.copy_(torch.rand(buffer.shape, generator=g) + 0.5)
            else:
                buffer.fill_(7)
    features = {m: torch.randn(8, 4, 3, 3, generator=g).requires_grad_() for m in modalities}
    return fusion, features


@stub_safe("Exercise 6.2")
def check_unimodal_logits_keeping_statistics(student_fn):
    """Exercise 6.2: `student_fn(fusion, features, modality)` -> `modality`'s unimodal logits from `fusion`
    (a fusion with BatchNorm, in training mode), exactly those of `fusion(features, alone=modality)` in training
    mode (normalised with the batch's statistics) and differentiable with respect to the features, while every
    buffer of `fusion` (running means, variances, batch counts) and its training mode stay as they were."""
    name, problems = "Exercise 6.2: a unimodal pass that leaves the running statistics alone", []
    for modalities, keep in ((["a", "b"], "b"), (["a", "b", "c"], "a")):
        fusion, features = _batchnorm_case(modalities)
        expected = copy.deepcopy(fusion)(features, alone=keep)
        before = {n: b.clone() for n, b in fusion.named_buffers()}
        what = f"{len(modalities)} modalities, '{keep}' alone"
        got = student_fn(fusion, features, keep)
        if not fusion.training:
            problems.append(f"{what}: the fusion was left in eval mode; training goes on after the unimodal pass, "
                            f"so leave it in training mode")
        changed = [n for n, b in fusion.named_buffers() if not torch.equal(b, before[n])]
        if changed:
            problems.append(f"{what}: the pass changed the buffers {changed[:3]}"
                            + ("..." if len(changed) > 3 else "") + "; put them back (or never touch them)")
        if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
            problems.append(f"{what}: expected logits of shape {tuple(expected.shape)}, got "
                            f"{tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}")
            continue
        problem = close_problem(f"{what}: logits", got, expected)
        if problem:
            problem += (" (in eval mode BatchNorm normalises with the running statistics; the unimodal pass of a "
                        "training step normalises with the batch's, as the fused pass does)")
        problems.append(problem)
        if not got.requires_grad:
            problems.append(f"{what}: the logits carry no gradient; DGL back-propagates the unimodal loss into the "
                            f"encoder, so do not compute them under torch.no_grad()")
    return report(name, problems)
