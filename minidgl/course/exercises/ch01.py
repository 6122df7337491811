"""Checkers for chapter 1 (unimodal training): per-class accuracy, mean ± std over seeds."""
import statistics

import torch

from . import close_problem, report, shape_problem, stub_safe


def reference_per_class_accuracy(logits, labels, num_classes):
    """Accuracy of `logits` `(n, num_classes)` on each class of `labels` `(n,)`: a `(num_classes,)` float
    tensor, NaN for a class with no samples."""
    correct = (logits.argmax(1) == labels).float()
    counts = torch.bincount(labels, minlength=num_classes).float()
    hits = torch.bincount(labels, weights=correct, minlength=num_classes)
    return hits / counts.where(counts > 0, torch.tensor(float("nan")))


def reference_mean_std(values):
    """`(mean, std)` of a list of numbers, the std over seeds with n - 1 (`statistics.stdev`)."""
    return statistics.fmean(values), statistics.stdev(values)


def _example(num_classes=10, n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, num_classes, generator=g), torch.randint(0, num_classes, (n,), generator=g)


@stub_safe("Exercise 1.1")
def check_per_class_accuracy(per_class_accuracy):
    """Exercise 1.1: `per_class_accuracy(logits, labels, num_classes)` -> `(num_classes,)` accuracies."""
    name = "Exercise 1.1 per_class_accuracy"
    logits, labels = _example()
    answer = per_class_accuracy(logits, labels, 10)
    problem = shape_problem("per-class accuracy", answer, (10,))
    if problem:
        return report(name, [problem])
    expected = reference_per_class_accuracy(logits, labels, 10)
    problems = [close_problem("per-class accuracy", answer, expected, atol=1e-6)]
    if problems[0] and torch.allclose(answer.double(), expected.double() * torch.bincount(labels, minlength=10)
                                      .double() / len(labels), atol=1e-6):
        problems.append("each class must be divided by its own count of samples, not by the total n")
    return report(name, problems)


@stub_safe("Exercise 1.2")
def check_mean_std(mean_std):
    """Exercise 1.2: `mean_std(values)` -> `(mean, std)` with the sample std (divide by n - 1)."""
    name = "Exercise 1.2 mean_std"
    values = [0.62, 0.70, 0.67]
    answer = mean_std(values)
    if not (isinstance(answer, tuple) and len(answer) == 2):
        return report(name, [f"expected a tuple (mean, std), got {answer!r}"])
    mean, std = (float(a) for a in answer)
    expected_mean, expected_std = reference_mean_std(values)
    problems = [close_problem("mean", mean, expected_mean), close_problem("std", std, expected_std)]
    if problems[1] and abs(std - statistics.pstdev(values)) < 1e-9:
        problems[1] = (f"std: got {std:.4f}, the population std (divide by n); over a few seeds use the "
                       f"sample std (divide by n - 1): {expected_std:.4f}")
    return report(name, problems)


def _setting(key):
    """How a message names a setting: an SNR in dB, or an `(snr_db, image_noise)` pair."""
    return f"snr_db={key[0]}, image_noise={key[1]}" if isinstance(key, tuple) else f"snr_db={key}"


def check_dominant_modality(predictions, ceilings):
    """Exercise 1.3: `predictions` `{setting: "audio" | "visual"}` against the measured `ceilings`
    `{setting: {"audio": acc, "visual": acc}}`, a setting being an SNR in dB or an `(snr_db, image_noise)`
    pair; every prediction must name the modality with the higher accuracy.

    Predictions still `NotImplemented` (the whole dict, or an entry) are refused as "not solved yet".
    """
    name = "Exercise 1.3 dominant modality"
    if predictions is NotImplemented:
        return report(name, [f"not solved yet: predict 'audio' or 'visual' for every setting {list(ceilings)}, "
                             "before you run the measurement"])
    if not isinstance(predictions, dict):
        return report(name, [f"expected a dict {{setting: 'audio' or 'visual'}}, got {type(predictions).__name__}"])
    unsolved = [key for key in ceilings if predictions.get(key) is NotImplemented]
    if unsolved:
        return report(name, [f"not solved yet: replace NotImplemented by 'audio' or 'visual' for "
                             f"{'; '.join(_setting(key) for key in unsolved)}, before you run the measurement"])
    problems = [f"{_setting(key)}: no prediction" for key in ceilings if key not in predictions]
    for key, accs in ceilings.items():
        if key in predictions:
            best = max(accs, key=accs.get)
            if predictions[key] not in accs:
                problems.append(f"{_setting(key)}: predicted {predictions[key]!r}; name one of {sorted(accs)}")
            elif predictions[key] != best:
                problems.append(f"{_setting(key)}: predicted {predictions[key]!r}, but {best} is stronger "
                                f"({', '.join(f'{m} {a:.3f}' for m, a in accs.items())})")
    return report(name, problems)
