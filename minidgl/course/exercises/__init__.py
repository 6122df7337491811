"""Automatic checkers for the course's exercises, one module per chapter (`minidgl.exercises.ch04`, ...).

A checker takes the student's answer, prints `[PASS] name` or `[FAIL] name: <what is wrong, precisely>`
(the one place the package prints: the notebook reader is the audience), and returns True or False. An
exercise's stub raises `NotImplementedError`; its checker then prints "not solved yet" and returns False, so
that "Run all" goes on through a notebook whose exercises are not done yet.
"""
import functools

import torch


def report(name, problems):
    """Print `[PASS] name`, or `[FAIL] name: ...` listing `problems` (strings; `None` entries are ignored)."""
    problems = [p for p in problems if p]
    if problems:
        print(f"[FAIL] {name}: " + "; ".join(problems))
        return False
    print(f"[PASS] {name}")
    return True


def stub_safe(exercise):
    """Decorate the checker of `exercise` (e.g. `"Exercise 1.1"`): when the student's function still raises
    `NotImplementedError` (the stub), print `[FAIL] <exercise>: not solved yet ...` and return False instead of
    a traceback. Any other error in the student's code is raised as it is, with its traceback."""
    def decorate(check):
        @functools.wraps(check)
        def checked(student_fn, *args, **kwargs):
            try:
                return check(student_fn, *args, **kwargs)
            except NotImplementedError:
                fn = getattr(student_fn, "__name__", "your function")
                return report(exercise, [f"not solved yet: `{fn}` still raises NotImplementedError; replace its "
                                         f"body with your code and run this cell again"])
        return checked
    return decorate


def shape_problem(what, tensor, expected):
    """`None` if `tensor` has shape `expected`, else a message such as 'logits: expected shape (64, 10), got (64, 5)'."""
    if not isinstance(tensor, torch.Tensor):
        return f"{what}: expected a torch.Tensor, got {type(tensor).__name__}"
    if tuple(tensor.shape) != tuple(expected):
        return f"{what}: expected shape {tuple(expected)}, got {tuple(tensor.shape)}"
    return None


def close_problem(what, actual, expected, atol=1e-6, rtol=1e-5):
    """`None` if `actual` matches `expected` (tensors or numbers), else where and by how much they differ."""
    actual, expected = torch.as_tensor(actual, dtype=torch.float64), torch.as_tensor(expected, dtype=torch.float64)
    if actual.shape != expected.shape:
        return f"{what}: expected shape {tuple(expected.shape)}, got {tuple(actual.shape)}"
    if torch.allclose(actual, expected, atol=atol, rtol=rtol):
        return None
    gap = (actual - expected).abs()
    return f"{what}: off by up to {gap.max().item():.3g} (at index {tuple(int(i) for i in torch.nonzero(gap == gap.max())[0])})"
