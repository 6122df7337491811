"""Checkers for chapter 2 (joint fusion): the linear probe's standardisation, concat fusion's unimodal head."""
import torch

from ... import diagnostics
from ...models import ConcatFusion
from . import close_problem, report, shape_problem, stub_safe


@stub_safe("Exercise 2.1")
def check_standardize(standardize):
    """Exercise 2.1: `standardize(z_train, z_test)` -> `(z_train, z_test)` scaled with training statistics."""
    name = "Exercise 2.1 standardize"
    g = torch.Generator().manual_seed(0)
    z_train = 3 + 2 * torch.randn(200, 16, generator=g)
    z_test = 5 + 4 * torch.randn(50, 16, generator=g)
    answer = standardize(z_train.clone(), z_test.clone())
    if not (isinstance(answer, tuple) and len(answer) == 2):
        return report(name, [f"expected a tuple (z_train, z_test), got {type(answer).__name__}"])
    problems = [shape_problem("z_train", answer[0], (200, 16)), shape_problem("z_test", answer[1], (50, 16))]
    if any(problems):
        return report(name, problems)
    expected = diagnostics.standardize(z_train, z_test)
    problems = [close_problem("z_train", answer[0], expected[0], atol=1e-4),
                close_problem("z_test", answer[1], expected[1], atol=1e-4)]
    own = (z_test - z_test.mean(0)) / (z_test.std(0) + 1e-6)
    if problems[1] and torch.allclose(answer[1], own, atol=1e-3):
        problems[1] = "z_test was standardised with its own mean and std; use the training split's statistics"
    per_sample = (z_train - z_train.mean(1, keepdim=True)) / z_train.std(1, keepdim=True)
    if problems[0] and torch.allclose(answer[0], per_sample, atol=1e-3):
        problems[0] = "z_train was standardised per sample (dim 1); standardise each feature over samples (dim 0)"
    return report(name, problems)


@stub_safe("Exercise 2.2")
def check_concat_alone(concat_alone):
    """Exercise 2.2: `concat_alone(weight, bias, features, modality)` -> `(batch, classes)` logits of concat
    fusion's head `weight` `(classes, sum of dims)`, `bias` `(classes,)` with only `modality`'s features."""
    name = "Exercise 2.2 concat_alone"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        fusion = ConcatFusion({"audio": 24, "visual": 40}, num_classes=10)
        features = {"audio": torch.randn(8, 24), "visual": torch.randn(8, 40)}
    weight, bias = fusion.fc_out.weight.detach(), fusion.fc_out.bias.detach()
    problems = []
    for m in features:
        answer = concat_alone(weight, bias, features, m)
        problem = shape_problem(f"logits of {m} alone", answer, (8, 10))
        expected = fusion(features, alone=m).detach()
        problem = problem or close_problem(f"logits of {m} alone", answer, expected, atol=1e-5)
        if problem and not shape_problem("", answer, (8, 10)) and torch.allclose(answer + bias, expected, atol=1e-5):
            problem = f"logits of {m} alone: the bias b is missing (concat alone is W_m z_m + b)"
        problems.append(problem)
    return report(name, problems)
