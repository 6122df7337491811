"""Checkers for chapter 3 (gradient attenuation): the softmax identity and the hand-derived encoder gradient."""
import torch
import torch.nn.functional as F

from . import close_problem, report, shape_problem


def _random_logits(batch, classes, seed):
    g = torch.Generator().manual_seed(seed)
    return 3 * torch.randn(batch, classes, generator=g), 3 * torch.randn(batch, classes, generator=g)


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


def check_feature_gradient(student_fn, batch=64, dim=16, classes=10, seed=0):
    """Exercise 3.2: `student_fn(fused_logits, labels, W1)` must return dL_mm/dz_1 `(batch, dim)` for concat
    fusion `f = W1 z1 + W2 z2 + b`, `L_mm` the batch-mean cross-entropy, `W1` `(classes, dim)`.
    """
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(batch, dim, generator=g, requires_grad=True)
    z2 = torch.randn(batch, dim, generator=g)
    W1, W2 = torch.randn(classes, dim, generator=g), torch.randn(classes, dim, generator=g)
    labels = torch.randint(0, classes, (batch,), generator=g)
    logits = z1 @ W1.T + z2 @ W2.T
    (expected,) = torch.autograd.grad(F.cross_entropy(logits, labels), z1)
    grad = student_fn(logits.detach(), labels, W1)
    problem = shape_problem("dL/dz1", grad, (batch, dim))
    if problem is None:
        problem = close_problem("dL/dz1 vs autograd", grad, expected, atol=1e-5)
        if problem and torch.allclose(torch.as_tensor(grad) / batch, expected, atol=1e-5):
            problem = (f"dL/dz1 is {batch} times too large: L_mm is the mean over the batch, "
                       f"divide by the batch size")
    return report("Exercise 3.2: encoder-feature gradient of the fused loss", [problem])
