"""Checkers for chapter 3 (gradient attenuation): the softmax identity, the hand-derived encoder gradient and the
exact condition for `p_y >= q_y`."""
import torch
import torch.nn.functional as F

from ...diagnostics import fused_at_least_as_sure
from . import close_problem, report, shape_problem, stub_safe


def _random_logits(batch, classes, seed, other_scale=3.0):
    """Unimodal logits `f1` (std 3) and other-modality logits `u` (std `other_scale`), each `(batch, classes)`."""
    g = torch.Generator().manual_seed(seed)
    return 3 * torch.randn(batch, classes, generator=g), other_scale * torch.randn(batch, classes, generator=g)


@stub_safe("Exercise 3.1")
def check_fused_probs(student_fn, batch=64, classes=10, seed=0):
    """Exercise 3.1: `student_fn(q, u)` with `q = softmax(f1)` `(batch, classes)` and the other modality's
    logits `u` `(batch, classes)` must return `p = softmax(f1 + u)` as `q_k e^{u_k} / sum_j q_j e^{u_j}`.
    """
    f1, u = _random_logits(batch, classes, seed)
    q = f1.softmax(1)
    p = student_fn(q, u)
    problem = shape_problem("p", p, (batch, classes))
    if problem is None:
        problem = close_problem("p vs softmax(f1 + u)", p, (f1 + u).softmax(1), atol=1e-5)
    return report("Exercise 3.1: fused probabilities from q and u", [problem])


@stub_safe("Exercise 3.2")
def check_feature_gradient(student_fn, batch=64, dim=16, classes=10, seed=0):
    """Exercise 3.2: `student_fn(fused_logits, labels, W1)` must return dL_mm/dz_1 `(batch, dim)` for concat
    fusion `f = W1 z1 + W2 z2 + b`, `L_mm` the batch-mean cross-entropy, `W1` `(classes, dim)`, by hand:
    the student's function runs with autograd off, and one that calls it fails with a message.
    """
    name = "Exercise 3.2: encoder-feature gradient of the fused loss"
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(batch, dim, generator=g, requires_grad=True)
    z2 = torch.randn(batch, dim, generator=g)
    W1, W2 = torch.randn(classes, dim, generator=g), torch.randn(classes, dim, generator=g)
    labels = torch.randint(0, classes, (batch,), generator=g)
    logits = z1 @ W1.T + z2 @ W2.T
    (expected,) = torch.autograd.grad(F.cross_entropy(logits, labels), z1)
    try:
        with torch.no_grad():  # the exercise: the gradient by hand, without autograd
            grad = student_fn(logits.detach(), labels, W1)
    except RuntimeError as error:
        if "grad" not in str(error):
            raise
        return report(name, [f"autograd is off in this exercise ({error}); compute the gradient by hand: "
                             "(softmax(f) - onehot(y)) / batch, times W1"])
    problem = shape_problem("dL/dz1", grad, (batch, dim))
    if problem is None:
        problem = close_problem("dL/dz1 vs autograd", grad, expected, atol=1e-5)
        if problem and torch.allclose(torch.as_tensor(grad) / batch, expected, atol=1e-5):
            problem = (f"dL/dz1 is {batch} times too large: L_mm is the mean over the batch, "
                       f"divide by the batch size")
    return report(name, [problem])


def _condition_problem(student_fn, other_scale, batch, classes, seed):
    """`None` if `student_fn(f1, u, labels)` says exactly where `p_y >= q_y` on random logits, else what is wrong."""
    f1, u = _random_logits(batch, classes, seed, other_scale)
    labels = torch.randint(0, classes, (batch,), generator=torch.Generator().manual_seed(seed + 1))
    holds = student_fn(f1, u, labels)
    problem = shape_problem("condition", holds, (batch,))
    if problem is None and holds.dtype != torch.bool:
        problem = f"condition: expected a bool tensor, got {holds.dtype}"
    if problem is None:
        wrong = int((holds != fused_at_least_as_sure(f1.double() + u.double(), f1, labels)).sum())
        if wrong:
            problem = f"disagrees with p_y >= q_y on {wrong} of {batch} samples with u of std {other_scale:g}"
    return problem


@stub_safe("Exercise 3.3")
def check_attenuation_condition(student_fn, batch=256, classes=10, seed=0):
    """Exercise 3.3: `student_fn(f1, u, labels)`, with unimodal logits `f1` and other-modality logits `u`, both
    `(batch, classes)` float32, and `labels` `(batch,)`, must return the `(batch,)` bool condition
    `e^{u_y} >= sum_j q_j e^{u_j}` (`q = softmax(f1)`), which holds exactly where `p_y >= q_y`. It is tried on
    ordinary logits, then with large `u`, where `exp` overflows in float32.
    """
    problem = _condition_problem(student_fn, 3.0, batch, classes, seed)
    if problem is None:
        problem = _condition_problem(student_fn, 100.0, batch, classes, seed)
        if problem:
            problem += ": exp overflows there; compare in log space, u_y >= logsumexp_j(log q_j + u_j)"
    return report("Exercise 3.3: the exact condition for p_y >= q_y", [problem])
