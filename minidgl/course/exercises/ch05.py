"""Checkers for chapter 5 (balancing methods): OGM-GE's coefficient, MMPareto's two-task weight, OGM-GE's
ratios and coefficients on a batch (who gets slowed)."""
import torch

from ...methods import OGMGE
from ...methods.mmpareto import pareto_weight
from . import close_problem, report, shape_problem, stub_safe

RHOS = torch.tensor([0.0, 0.25, 0.5, 0.99, 1.0, 1.01, 1.5, 2.0, 3.0, 10.0])


def _reference_k(rho, alpha):
    """OGM-GE's own `k` for each ratio in `rho` `(n,)`: scores `{a: 1, v: rho}` give `rho_v = rho`."""
    _, k = OGMGE(strength=alpha).coefficients({"a": torch.ones_like(rho), "v": rho})
    return k["v"]


@stub_safe("Exercise 5.1")
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


@stub_safe("Exercise 5.2")
def check_pareto_weight(student_fn):
    """Exercise 5.2: `student_fn(g_mm, g_uni)` -> weight `a1` of `g_mm` (a number or 0-d tensor) for two flat
    gradients `(n,)`: 0.5 when their cosine is positive, else the min-norm weight. Compared with
    `minidgl.methods.mmpareto.pareto_weight`."""
    name, problems = "Exercise 5.2: MMPareto's two-task weight", []
    for what, g_mm, g_uni in _weight_cases():
        a1 = student_fn(g_mm.clone(), g_uni.clone())
        expected, cos = pareto_weight(g_mm, g_uni)
        if torch.as_tensor(a1).numel() != 1:
            problems.append(f"{what}: expected one number, got shape {tuple(torch.as_tensor(a1).shape)}")
            continue
        problem = close_problem(f"{what} pair (cos {cos.item():+.2f}): a1", float(a1), expected.item(), atol=1e-6)
        if problem:
            problems.append(f"{problem}; expected {expected.item():.4f}, got {float(a1):.4f}")
    return report(name, problems)


# (scores, what the case tests); scores are summed true-class probabilities of a batch of 64 samples
RATIO_CASES = [({"audio": 40.0, "visual": 12.0}, "audio dominant"),
               ({"audio": 9.0, "visual": 30.0}, "visual dominant"),
               ({"audio": 20.0, "visual": 20.0}, "a tie"),
               ({"audio": 20.2, "visual": 20.0}, "audio barely ahead: the jump at rho = 1"),
               ({"audio": 31.4, "visual": 33.9}, "visual slightly ahead")]


def _float_dict(value, what, modalities):
    """`({m: float}, None)` if `value` maps every modality to a number, else `(None, problem)`."""
    if not isinstance(value, dict) or set(value) != set(modalities):
        got = sorted(value) if isinstance(value, dict) else type(value).__name__
        return None, f"{what}: expected a dict with keys {sorted(modalities)}, got {got}"
    try:
        return {m: float(v) for m, v in value.items()}, None
    except (TypeError, ValueError, RuntimeError):
        return None, f"{what}: expected a number per modality, got {value}"


@stub_safe("Exercise 5.3")
def check_ogm_ratios(student_fn, alpha=0.8):
    """Exercise 5.3: `student_fn(scores, alpha)` -> `(rho, k)` for two-modality `scores`
    `{modality: summed true-class probability on a batch}`; `rho` and `k` are `{modality: number}`.

    Compared with `minidgl.OGMGE(strength=alpha).coefficients` on the cases of `RATIO_CASES` (audio dominant, visual
    dominant, a tie, the jump just above rho = 1). On success, prints which modality OGM-GE damps in each case.
    """
    name = "Exercise 5.3: which encoder does OGM-GE slow?"
    problems, damped = [], []
    for scores, what in RATIO_CASES:
        answer = student_fn(dict(scores), alpha)
        if not (isinstance(answer, tuple) and len(answer) == 2):
            return report(name, [f"expected a pair (rho, k) of dicts, got {type(answer).__name__} {answer!r}"])
        rho_ref, k_ref = OGMGE(strength=alpha).coefficients({m: torch.tensor(s) for m, s in scores.items()})
        case = []
        rho, problem = _float_dict(answer[0], "rho", scores)
        if problem:
            return report(name, [f"{what} {scores}: {problem}"])
        k, problem = _float_dict(answer[1], "k", scores)
        if problem:
            return report(name, [f"{what} {scores}: {problem}"])
        for m in scores:
            r, kk = rho_ref[m].item(), k_ref[m].item()
            if abs(rho[m] - r) > 1e-4 * max(1.0, r):
                case.append(f"rho[{m!r}] should be s_{m} / s_other = {r:.4f}, got {rho[m]:.4f}")
            elif abs(k[m] - kk) > 1e-4:
                rule = (f"rho = {r:.3f} > 1: damped, k = 1 - tanh({alpha} * rho)" if r > 1
                        else f"rho = {r:.3f} <= 1: not damped, k = 1")
                case.append(f"k[{m!r}] should be {kk:.4f} ({rule}), got {k[m]:.4f}")
        if case:
            problems.append(f"{what} {scores}: " + ", ".join(case))
        else:
            slowed = [f"{m} (rho {rho[m]:.2f}, k {k[m]:.2f})" for m in scores if k[m] < 1]
            damped.append(f"{what}: " + (", ".join(slowed) if slowed else "neither"))
    if len(problems) > 2:
        problems = problems[:2] + [f"and {len(problems) - 2} more case(s)"]
    passed = report(name, problems)
    if passed:
        print("  damped: " + "; ".join(damped))
    return passed
    return False
