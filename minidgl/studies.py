"""Studies the chapters plot: accuracy across a data knob, linear probes of trained encoders, and the
attenuation argument measured while a joint model trains."""
from .data import make_av_digits
from .diagnostics import attenuation_measurements, linear_probe, loss_gradient_norms
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


def attenuation_during_training(data, epochs=15, checkpoints=(1, 5, 15), seed=0, fusion="concat", **overrides):
    """Train a joint model on `data` and, after every epoch, measure at the parameters reached, on the whole
    training split: each encoder's gradient norm from the fused loss and from its own unimodal loss
    (`loss_gradient_norms`), and at the epochs in `checkpoints` the per-sample `attenuation_measurements`.

    Returns `{"norms": {m: {"fused": [per epoch], "unimodal": [per epoch]}},
    "checkpoints": {epoch: {m: measurements}}, "history": History}`; `overrides` go to `fit`.
    """
    norms = {m: {"fused": [], "unimodal": []} for m in data.modalities}
    measured = {}

    def measure(epoch, model):
        train = data.train.to(next(model.parameters()).device)
        for m in data.modalities:
            for loss, norm in loss_gradient_norms(model, train.inputs, train.labels, m).items():
                norms[m][loss].append(norm)
        if epoch in checkpoints:
            measured[epoch] = {m: attenuation_measurements(model, train.inputs, train.labels, m)
                               for m in data.modalities}

    _, history = run(data, "joint", seed, fusion=fusion, epochs=epochs, on_epoch_end=measure, **overrides)
    return {"norms": norms, "checkpoints": measured, "history": history}
