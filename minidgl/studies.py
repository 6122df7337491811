"""Multi-run studies the chapters plot: accuracy across a data knob, and linear probes of trained encoders."""
from .data import make_av_digits
from .diagnostics import linear_probe
from .experiments import compare, expand_methods, run, summarize, summarize_histories


def sweep(param, values, methods=("unimodal",), seeds=(0,), data_options=None, **overrides):
    """`compare` on AV-Digits rebuilt with `param` (e.g. `"snr_db"`, `"image_noise"`) set to each of `values`.

    Returns `{"param", "values", "reports": [compare report per value]}`; `overrides` go to `fit`.
    """
    reports = []
    for value in values:
        data = make_av_digits(**{**(data_options or {}), param: value})
        reports.append(compare(data, methods, seeds, **overrides))
    return {"param": param, "values": list(values), "reports": reports}


def sweep_means(study, label):
    """Mean test accuracy of run `label` (e.g. `"unimodal:audio"`) at each swept value: a list of floats."""
    return [report["results"][label]["test_acc"]["mean"] for report in study["reports"]]


def probe_compare(data, methods=("unimodal", "joint"), seeds=(0, 1, 2), fusion="concat", **overrides):
    """Train every method on every seed, then probe each trained encoder with `linear_probe` on
    (`data.train`, `data.val`). Unimodal runs probe only the encoder they trained.

    Returns `{label: {"test_acc": summary, "unimodal_test_acc": {m: summary}, "probe_acc": {m: summary}}}`,
    each summary `{"mean", "std", "per_seed"}` as in `compare`.
    """
    results = {}
    for label, method in expand_methods(methods, data.modalities):
        trained = [run(data, method, seed, fusion=fusion, **overrides) for seed in seeds]
        probed = [label.partition(":")[2]] if label.startswith("unimodal:") else data.modalities
        results[label] = {
            **summarize_histories([h for _, h in trained]),
            "probe_acc": {m: summarize([linear_probe(model, m, data.train, data.val) for model, _ in trained])
                          for m in probed},
        }
    return results
