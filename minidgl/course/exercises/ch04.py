"""Checkers for chapter 4 (DGL): the two detaches written by hand, and the authors' two-backward step."""
import torch
import torch.nn.functional as F

from ...data import make_gaussian_toy
from ...models import build_model
from ...reference import gradient_mismatches, parameter_gradients, routed_gradients
from ...routing import dgl_routing
from . import close_problem, report, shape_problem, stub_safe


def _problem_setup(seed=0, batch=32):
    """A small two-modality model `(audio, visual)` and one batch `(inputs, labels)`."""
    data = make_gaussian_toy({"audio": 2.0, "visual": 5.0}, num_classes=4, dim=8, n=200, seed=seed)
    torch.manual_seed(seed)
    model = build_model(data, feature_dim=16)
    inputs, labels = next(data.train.batches(batch))
    return model, inputs, labels


def _routing_problems(model, inputs, labels, student_fn):
    """Which gradients leak (or are missing) in the student's logits, each as a readable message."""
    problems = []
    model.zero_grad(set_to_none=True)
    fused, _ = student_fn(model, inputs)
    F.cross_entropy(fused, labels).backward()
    problems += [f"encoder '{m}' received a gradient from L_mm" for m, e in model.encoders.items()
                 if any(p.grad is not None for p in e.parameters())]
    problems += [f"fusion parameter '{n}' received no gradient from L_mm" for n, p in model.fusion.named_parameters()
                 if p.grad is None]
    model.zero_grad(set_to_none=True)
    _, unimodal = student_fn(model, inputs)
    sum(F.cross_entropy(z, labels) for z in unimodal.values()).backward()
    problems += [f"fusion parameter '{n}' received a gradient from the unimodal losses"
                 for n, p in model.fusion.named_parameters() if p.grad is not None]
    problems += [f"encoder '{m}' received no gradient from its unimodal loss" for m, e in model.encoders.items()
                 if any(p.grad is None for p in e.parameters())]
    return problems


@stub_safe("Exercise 4.1")
def check_dgl_logits(student_fn, alpha=2.0):
    """Exercise 4.1: `student_fn(model, inputs)` -> `(fused_logits (batch, K), {modality: (batch, K)})` with
    DGL's two detaches: the fusion sees detached features; the unimodal logits use detached fusion parameters.
    """
    model, inputs, labels = _problem_setup()
    expected = model(inputs)
    fused, unimodal = student_fn(model, inputs)
    problems = [shape_problem("fused_logits", fused, tuple(expected.fused_logits.shape))]
    if set(unimodal) != set(expected.unimodal_logits):
        problems.append(f"unimodal logits: expected modalities {sorted(expected.unimodal_logits)}, got {sorted(unimodal)}")
    if any(problems):
        return report("Exercise 4.1: DGL's two detaches", problems)
    problems.append(close_problem("fused_logits", fused.detach(), expected.fused_logits.detach(), atol=1e-5))
    problems += [close_problem(f"unimodal logits '{m}'", unimodal[m].detach(), z.detach(), atol=1e-5)
                 for m, z in expected.unimodal_logits.items()]
    if not any(problems):
        problems += _routing_problems(model, inputs, labels, student_fn)
    if not any(problems):
        model.zero_grad(set_to_none=True)
        fused, unimodal = student_fn(model, inputs)
        (F.cross_entropy(fused, labels) + alpha * sum(F.cross_entropy(z, labels) for z in unimodal.values())).backward()
        actual = parameter_gradients(model)
        problems += gradient_mismatches(actual, routed_gradients(model, inputs, labels, dgl_routing(alpha)))
    return report("Exercise 4.1: DGL's two detaches", problems)


@stub_safe("Exercise 4.2")
def check_two_pass(student_fn, alpha=2.0):
    """Exercise 4.2: `student_fn(model, inputs, labels, alpha)` -> `{parameter name: gradient or None}` after the
    authors' two backward passes; must equal minidgl's one backward under `dgl_routing(alpha)`.
    """
    model, inputs, labels = _problem_setup(seed=1)
    actual = student_fn(model, inputs, labels, alpha)
    if not isinstance(actual, dict):
        return report("Exercise 4.2: the authors' two backward passes",
                      [f"expected a dict {{parameter name: gradient}}, got {type(actual).__name__}"])
    expected = routed_gradients(model, inputs, labels, dgl_routing(alpha))
    return report("Exercise 4.2: the authors' two backward passes", gradient_mismatches(actual, expected))
