"""Checkers for chapter 7 (DGL at scale): the actors a train/test split shares, and the global gradient that
data-parallel processes must agree on."""
import torch

from . import close_problem, report, stub_safe


def _split_cases():
    """`[(description, train clips, test clips, actors in both)]` with CREMA-D clip names."""
    clip = lambda actor, emotion, sentence="DFA": f"{actor}_{sentence}_{emotion}_XX"
    return [
        ("a split by clips (the authors' kind)", [clip(1001, "ANG"), clip(1002, "HAP"), clip(1003, "SAD")],
         [clip(1001, "NEU"), clip(1003, "ANG", "IEO")], ["1001", "1003"]),
        ("an actor-disjoint split", [clip(1001, "ANG"), clip(1001, "HAP")], [clip(1002, "ANG"), clip(1002, "HAP")],
         []),
        ("one actor, unsorted input", [clip(1091, "FEA"), clip(1010, "DIS"), clip(1010, "NEU")],
         [clip(1010, "FEA"), clip(1091, "DIS")], ["1010", "1091"]),
    ]


@stub_safe("Exercise 7.1")
def check_leaked_actors(student_fn):
    """Exercise 7.1: `student_fn(train_clips, test_clips)` -> the sorted list of actor ids (strings, e.g. "1001")
    that appear in both lists of CREMA-D clip names `AAAA_SSS_EEE_LL`."""
    name, problems = "Exercise 7.1: actors in both splits", []
    for what, train, test, expected in _split_cases():
        got = student_fn(list(train), list(test))
        if not isinstance(got, list) or got != expected:
            problems.append(f"{what}: expected {expected}, got {got!r}"
                            + (" (an actor is the first field of the name, before the first '_')"
                               if got == [] and expected else ""))
    return report(name, problems)


def _gradient_case(sizes, seed):
    """A linear classifier and a batch cut into shares of `sizes`: `(share gradients, global gradient)`, each the
    gradient `(4, 3)` of the *mean* cross-entropy over its samples."""
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    x = torch.randn(sum(sizes), 3, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (sum(sizes),), generator=g)
    grad = lambda xs, ys: torch.autograd.grad(torch.nn.functional.cross_entropy(xs @ weight.T, ys), weight)[0]
    shares = [grad(xs, ys) for xs, ys in zip(x.split(sizes), y.split(sizes))]
    return shares, grad(x, y)


@stub_safe("Exercise 7.2")
def check_global_gradient(student_fn):
    """Exercise 7.2: `student_fn(share_grads, share_sizes)` -> the gradient of the mean loss over the whole batch,
    from each process's gradient of the mean loss over its share (`share_grads`, tensors of one shape) and the
    share sizes. Checked against autograd on the whole batch, with equal and unequal shares."""
    name, problems = "Exercise 7.2: the global gradient from the processes' gradients", []
    for sizes, seed in (([8, 8], 0), ([8, 8, 8, 8], 1), ([8, 5], 2), ([10, 1, 3], 3)):
        shares, expected = _gradient_case(sizes, seed)
        got = student_fn([g.clone() for g in shares], list(sizes))
        problem = close_problem(f"shares of {sizes}", got, expected, atol=1e-10, rtol=1e-8)
        if problem and len(set(sizes)) > 1 and close_problem("", got, torch.stack(shares).mean(0)) is None:
            problem += " (a plain average of the shares' gradients is right only when the shares are equal)"
        problems.append(problem)
    return report(name, problems)
