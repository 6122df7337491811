"""Automatic checkers for the course's exercises, one module per chapter (`minidgl.exercises.ch04`, ...).

A checker takes the student's answer, prints `[PASS] name` or `[FAIL] name: <what is wrong, precisely>`
(the one place the package prints: the notebook reader is the audience), and returns True or False.
"""
import torch


def report(name, problems):
    """Print `[PASS] name`, or `[FAIL] name: ...` listing `problems` (strings; `None` entries are ignored)."""
    problems = [p for p in problems if p]
    if problems:
        print(f"[FAIL] {name}: " + "; ".join(problems))
        return False
    print(f"[PASS] {name}")
    return True


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
