"""Checkers for chapter 5 (balancing methods): OGM-GE's coefficient, MMPareto's two-task weight, who gets slowed."""
import torch

from ..methods import OGMGE
from ..methods.mmpareto import pareto_weight
from . import close_problem, report, shape_problem

RHOS = torch.tensor([0.0, 0.25, 0.5, 0.99, 1.0, 1.01, 1.5, 2.0, 3.0, 10.0])


def _reference_k(rho, alpha):
    """OGM-GE's own `k` for each ratio in `rho` `(n,)`: scores `{a: 1, v: rho}` give `rho_v = rho`."""
    _, k = OGMGE(alpha=alpha).coefficients({"a": torch.ones_like(rho), "v": rho})
    return k["v"]


def check_ogm_coefficient(student_fn, alphas=(0.1, 0.8)):
    """Exercise 5.1: `student_fn(rho, alpha)` -> `k` `(n,)` for a tensor `rho` `(n,)`, compared with
    `minidgl.OGMGE.coefficients` at several ratios (including exactly 1) and `alphas`."""
    name = "Exercise 5.1: OGM-GE's coefficient k(rho)"
    for alpha in alphas:
        k = student_fn(RHOS.clone(), alpha)
        expected = _reference_k(RHOS, alpha)
        problem = shape_problem(f"k (alpha={alpha})", k, tuple(RHOS.shape))
        if problem:
            return report(name, [problem])
        wrong = [f"rho={r:g}: expected k={e:.4f}, got {a:.4f}" for r, e, a in zip(RHOS.tolist(), expected.tolist(),
                                                                             k.detach().tolist()) if abs(a - e) > 1e-5]
        if wrong:
            hint = " (only rho > 1 is damped; rho = 1 keeps k = 1)" if abs(k[RHOS == 1].item() - 1) > 1e-5 else ""
            return report(name, [f"alpha={alpha}: " + ", ".join(wrong[:3]) + hint])
    return report(name, [])


def _weight_cases():
    """`[(description, g_mm, g_uni)]`: an aligned pair, an orthogonal pair and random conflicting pairs `(n,)`."""
    g = torch.Generator().manual_seed(5)
    cases = [("aligned", torch.tensor([1.0, 2.0, 0.0]), torch.tensor([2.0, 1.0, 1.0])),
             ("orthogonal", torch.tensor([3.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]))]
    for i in range(4):
        a = torch.randn(50, generator=g, dtype=torch.float64)
        b = -0.5 * a * (i + 1) + torch.randn(50, generator=g, dtype=torch.float64)
        cases.append((f"conflicting #{i + 1}", a, b))
    return cases


def check_pareto_weight(student_fn):
    """Exercise 5.2: `student_fn(g_mm, g_uni)` -> weight `a1` of `g_mm` (a number or 0-d tensor) for two flat
    gradients `(n,)`: 0.5 when their cosine is positive, else the min-norm weight. Compared with
    `minidgl.methods.mmpareto.pareto_weight`."""
    problems = []
    for what, g_mm, g_uni in _weight_cases():
        a1 = student_fn(g_mm.clone(), g_uni.clone())
        expected, cos = pareto_weight(g_mm, g_uni)
        if torch.as_tensor(a1).numel() != 1:
            problems.append(f"{what}: expected one number, got shape {tuple(torch.as_tensor(a1).shape)}")
            continue
        problem = close_problem(f"{what} pair (cos {cos.item():+.2f}): a1", float(a1), expected.item(), atol=1e-6)
        if problem:
            problems.append(f"{problem}; expected {expected.item():.4f}, got {float(a1):.4f}")
    return report("Exercise 5.2: MMPareto's two-task weight", problems)


def check_damped(student_fn):
    """Exercise 5.3: `student_fn(scores)` -> the modality OGM-GE damps (k < 1) for two-modality `scores`
    `{modality: summed true-class probability}`, or `None` when neither is damped."""
    cases = [{"audio": 40.0, "visual": 12.0}, {"audio": 9.0, "visual": 30.0}, {"audio": 20.0, "visual": 20.0}]
    problems = []
    for scores in cases:
        _, k = OGMGE().coefficients({m: torch.tensor(s) for m, s in scores.items()})
        damped = [m for m, value in k.items() if value < 1]
        expected = damped[0] if damped else None
        answer = student_fn(dict(scores))
        if answer != expected:
            problems.append(f"scores {scores}: expected {expected!r}, got {answer!r}")
    return report("Exercise 5.3: which encoder does OGM-GE slow?", problems)
