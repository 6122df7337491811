"""Multi-run studies the chapters plot: accuracy across a data knob, the joint model's data regimes, DGL's alpha
chosen on validation, and the attenuation argument measured while a joint model trains."""
import torch

from .. import cache
from ..data import make_av_digits
from ..diagnostics import attenuation_measurements_per_encoder, attenuation_summary, encoder_loss_gradient_norms
from ..errors import InvalidValue
from ..experiments import (compare, format_summary, initial_model, markdown_table, report_config, run, summarize,
                           summarize_histories)
from ..methods import DGL
from ..probing import PROBE_PROTOCOL, probe_row
from ..runtime import rng_state, set_rng_state
from ..train import fit, make_config


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


def joint_regime_summary(report, runs):
    """What a data regime does to joint training, read from `probe_compare_with_runs(data, ("unimodal",
    "joint"), ...)`'s `report` and `runs`: `{"best_alone", "train_size", "epochs", "rows": {name: summary}}`,
    each summary `{"mean", "std", "per_seed"}` over the seeds.

    `best_alone` is the modality whose unimodal model has the best mean test accuracy. Rows, in order:
    `"<m> alone, test acc"`; `"joint, test acc"`; `"joint - best alone, test acc"` (per seed);
    `"<m> probe, alone - joint"` (per seed, linear probes on test); `"joint's fused training loss, last
    epoch"`; per modality `"joint's <m> head, training acc, last epoch"` (on the training batches as they were
    trained) and `"joint's <m> head, test acc"` (the epoch chosen on validation). A head far more accurate on
    its training samples than on test ones has memorised them.
    """
    results, modalities = report["results"], report["config"]["modalities"]
    joint, alone = results["joint"], {m: results[f"unimodal:{m}"] for m in modalities}
    best = max(modalities, key=lambda m: alone[m]["test_acc"]["mean"])
    histories = [history for _, history in runs["joint"]]

    def difference(a, b):
        return summarize([x - y for x, y in zip(a["per_seed"], b["per_seed"])])

    rows = {f"{m} alone, test acc": alone[m]["test_acc"] for m in modalities}
    rows["joint, test acc"] = joint["test_acc"]
    rows["joint - best alone, test acc"] = difference(joint["test_acc"], alone[best]["test_acc"])
    for m in modalities:
        rows[f"{m} probe, alone - joint"] = difference(alone[m]["probe_acc"][m], joint["probe_acc"][m])
    rows["joint's fused training loss, last epoch"] = summarize([h.train_loss[-1] for h in histories])
    for m in modalities:
        rows[f"joint's {m} head, training acc, last epoch"] = summarize([h.train_unimodal_acc[m][-1]
                                                                         for h in histories])
        rows[f"joint's {m} head, test acc"] = joint["unimodal_test_acc"][m]
    return {"best_alone": best, "train_size": report["config"]["split_sizes"][0],
            "epochs": report["config"]["epochs"], "rows": rows}


def format_regime_table(summaries):
    """A markdown table of `joint_regime_summary` results side by side, `summaries` `{regime name: summary}`:
    one row per quantity, one column per regime, mean ± std over seeds (losses with two significant digits;
    the best-alone row names the modality it subtracts)."""
    regimes = list(summaries.values())
    rows = [["training samples × epochs"] + [f"{s['train_size']:,} × {s['epochs']}" for s in regimes]]
    for name in regimes[0]["rows"]:
        cells = []
        for s in regimes:
            value = s["rows"][name]
            if "loss" in name:
                cells.append(f"{value['mean']:.2g} ± {value['std']:.1g}")
            else:
                cells.append(format_summary(value) + (f" (vs {s['best_alone']})" if name.startswith("joint - best") else ""))
        rows.append([name.replace(" - ", " − ")] + cells)
    seeds = len(regimes[0]["rows"]["joint, test acc"]["per_seed"])
    return markdown_table([f"mean ± std over {seeds} seeds"] + list(summaries), rows)


def alpha_sweep(data, alphas, seeds=(0, 1, 2), make_method=DGL, encoder="mlp", fusion="concat", config=None,
                probe=False, **overrides):
    """Train `make_method(alpha)` (default `DGL(alpha)`) for every alpha and seed; choose alpha on validation.

    Per alpha (lists in the order of `alphas`): `val_acc`, the summary over seeds of the validation accuracy
    at the epoch chosen on validation (`history.val_acc[history.best_epoch]`), and `test_acc` and
    `unimodal_test_acc` (`{modality: summary}`), the test accuracies of that epoch, reported but never used
    to choose.

    `probe`: `False`, `True` (every alpha) or a collection of alphas whose trained encoders are linear-probed
    as `probe_compare` probes them (`PROBE_PROTOCOL`: frozen, standardized features, fit on the training
    split, scored on the test split; reported, never used to choose). Adds `"probe_acc"`: per alpha
    `{modality: summary}`, or `None` for an alpha not probed. `sweep_row` turns one alpha into a
    `probe_compare` row.

    `best_alpha` has the best mean validation accuracy (ties: the first listed); `at_edge` says whether it is
    the smallest or largest alpha, i.e. whether the grid may not bracket the optimum. `chosen_alpha` applies
    the one-standard-error rule (Hastie, Tibshirani & Friedman, *Elements of Statistical Learning*, 7.10):
    the largest alpha whose mean validation accuracy is within one standard error (std / sqrt(seeds)) of the
    best mean. Alphas that validation cannot tell apart are tied; the largest gives the encoders the largest
    step (DGL's encoders learn from `alpha * sum_m L_m` alone).

    Returns `{"alphas", "val_acc": [summary], "test_acc": [summary], "unimodal_test_acc": [{m: summary}],
    "best_alpha", "threshold", "chosen_alpha", "at_edge", "config"}` (`threshold`: the validation accuracy the
    rule requires), plus `"probe_acc"` when `probe` is set.
    """
    if not alphas:
        raise InvalidValue("alpha_sweep needs at least one alpha")
    probed = set(alphas) if probe is True else set(probe or ())
    unknown = sorted(probed - set(alphas))
    if unknown:
        raise InvalidValue(f"probe names alphas {unknown} that are not in the sweep {list(alphas)}")
    cfg = make_config(config, **overrides)
    val_acc, test_acc, unimodal_test_acc, probe_acc = [], [], [], []
    for alpha in alphas:
        trained = [run(data, make_method(alpha), seed, encoder, fusion, cfg) for seed in seeds]
        histories = [history for _, history in trained]
        val_acc.append(summarize([h.val_acc[h.best_epoch] for h in histories]))
        row = summarize_histories(histories)
        test_acc.append(row["test_acc"])
        unimodal_test_acc.append(row["unimodal_test_acc"])
        probe_acc.append(probe_row(data, [model for model, _ in trained], histories, data.modalities)["probe_acc"]
                         if alpha in probed else None)
    best = max(range(len(alphas)), key=lambda i: val_acc[i]["mean"])
    threshold = val_acc[best]["mean"] - val_acc[best]["std"] / len(seeds) ** 0.5
    chosen = max(a for a, v in zip(alphas, val_acc) if v["mean"] >= threshold)
    config = {"method": make_method(chosen).name, **report_config(data, seeds, encoder, fusion, cfg),
              "alpha_selection": "one-standard-error rule on validation accuracy over seeds: the largest alpha "
                                 "within one standard error of the best mean; test accuracy is only reported"}
    study = {"alphas": list(alphas), "val_acc": val_acc, "test_acc": test_acc,
             "unimodal_test_acc": unimodal_test_acc, "best_alpha": alphas[best], "threshold": threshold,
             "chosen_alpha": chosen,
             "at_edge": alphas[best] in (min(alphas), max(alphas)), "config": config}
    if probed:
        study["probe_acc"] = probe_acc
        study["config"]["probe"] = PROBE_PROTOCOL
    return study


def sweep_row(study, alpha):
    """The `probe_compare` row (`{"test_acc", "unimodal_test_acc", "probe_acc"}`) of `alpha` in an
    `alpha_sweep(..., probe=...)` study that probed it: reuse the sweep's runs in a comparison table."""
    i = study["alphas"].index(alpha)
    if not study.get("probe_acc") or study["probe_acc"][i] is None:
        raise InvalidValue(f"alpha {alpha} was not probed; pass probe=True (or a list holding it) to alpha_sweep")
    return {"test_acc": study["test_acc"][i], "unimodal_test_acc": study["unimodal_test_acc"][i],
            "probe_acc": study["probe_acc"][i]}


def format_alpha_sweep(study):
    """A markdown table of an `alpha_sweep` study: per alpha, the validation accuracy that chooses (mean ± std),
    the test accuracy (reported only) and, where the study probed the encoders, each encoder's probe accuracy;
    the best and the chosen alpha are marked. A note states the rule and the threshold it applied."""
    modalities = study["config"]["modalities"]
    probes = study.get("probe_acc") or [None] * len(study["alphas"])
    header = ["α", "validation acc (chooses)", "test acc (reported)"] + [f"{m} probe (test)" for m in modalities]
    rows = []
    for alpha, val, test, probe in zip(study["alphas"], study["val_acc"], study["test_acc"], probes):
        marks = [mark for mark, a in (("best mean", study["best_alpha"]), ("chosen", study["chosen_alpha"]))
                 if a == alpha]
        name = f"{alpha:g}" + (f" ({', '.join(marks)})" if marks else "")
        rows.append([name, format_summary(val), format_summary(test)] +
                    [format_summary(probe[m]) if probe else "—" for m in modalities])
    best = study["val_acc"][study["alphas"].index(study["best_alpha"])]
    seeds = len(best["per_seed"])
    note = (f"Mean ± std over {seeds} seeds. Chosen: the largest α whose mean validation accuracy reaches the best "
            f"mean minus one standard error, {best['mean']:.4f} − {best['std']:.4f}/√{seeds} = "
            f"{study['threshold']:.4f}.")
    return markdown_table(header, rows) + "\n\n" + note


MEASURE_SEED = 0  # which training samples attenuation_during_training measures when given `samples`


def attenuation_during_training(data, epochs=15, checkpoints=(1, 5, 15), seed=0, fusion="concat", samples=None,
                                **overrides):
    """Train a joint model on `data` and, after every epoch, measure at the parameters reached, on the training
    split: each encoder's gradient norm from the fused loss and from its own unimodal loss
    (`loss_gradient_norms`), and at the epochs in `checkpoints` the per-sample `attenuation_measurements`.
    With `0` in `checkpoints` the untrained model is measured too, before the first step. `samples=None`
    measures on the whole training split; a number measures on that many of its samples, a random subset
    fixed by `MEASURE_SEED` (the same for every `seed`), to save time.

    Returns `{"epochs": [the epochs measured, in order], "norms": {m: {"fused": [per epoch], "unimodal":
    [per epoch]}}, "checkpoints": {epoch: {m: measurements}}, "samples": how many were measured,
    "history": History}`; the norms' lists are aligned with `"epochs"`. The model is trained exactly as
    `run(data, "joint", seed, fusion=fusion, epochs=epochs)`; `overrides` go to `fit`. A study
    `minidgl.cache` holds is read back instead of measured again.
    """
    cfg = make_config(seed=seed, epochs=epochs, **overrides)
    key = cache.training_key("attenuation", data, cfg, fusion=fusion, checkpoints=list(checkpoints), samples=samples)
    stored = cache.computed(key, lambda: {"study": _measure_attenuation(data, cfg, checkpoints, fusion, samples),
                                          "rng": rng_state()})
    set_rng_state(stored["rng"])
    return stored["study"]


def _measure_attenuation(data, cfg, checkpoints, fusion, samples):
    norms = {m: {"fused": [], "unimodal": []} for m in data.modalities}
    measured, measured_epochs = {}, []
    subset = data.train
    if samples is not None:
        if not 0 < samples <= len(data.train):
            raise InvalidValue(f"samples must be in 1..{len(data.train)} (the training split's size), got {samples}")
        order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(MEASURE_SEED))
        subset = data.train.subset(order[:samples])

    def measure(epoch, model):
        train = subset.to(next(model.parameters()).device)
        for m, per_loss in encoder_loss_gradient_norms(model, train.inputs, train.labels).items():
            for loss, norm in per_loss.items():
                norms[m][loss].append(norm)
        measured_epochs.append(epoch)
        if epoch in checkpoints:
            measured[epoch] = attenuation_measurements_per_encoder(model, train.inputs, train.labels)

    model = initial_model(data, cfg.seed, fusion=fusion)
    if 0 in checkpoints:
        measure(0, model)
    history = fit(model, data, "joint", cfg, on_epoch_end=measure)
    return {"epochs": measured_epochs, "norms": norms, "checkpoints": measured, "samples": len(subset),
            "history": history}


def attenuation_over_seeds(data, seeds=(0, 1, 2), epochs=4, checkpoints=(0, 1, 2, 4), samples=None, **overrides):
    """`attenuation_during_training` for every seed, and the summary over seeds at each checkpoint.

    Returns `{"seeds", "studies": {seed: study}, "summary": {epoch: {m: {key: {"mean", "std", "per_seed"}}}}}`,
    where the keys are those of `attenuation_summary` plus `gradient ratio`,
    `||grad_theta L_mm|| / ||grad_theta L_m^uni||` on the training split at that epoch.
    """
    studies = {seed: attenuation_during_training(data, epochs, checkpoints, seed=seed, samples=samples, **overrides)
               for seed in seeds}
    summary = {}
    for epoch in checkpoints:
        summary[epoch] = {}
        for m in data.modalities:
            per_seed = []
            for study in studies.values():
                row = attenuation_summary(study["checkpoints"][epoch][m])
                index = study["epochs"].index(epoch)
                row["gradient ratio"] = study["norms"][m]["fused"][index] / study["norms"][m]["unimodal"][index]
                per_seed.append(row)
            summary[epoch][m] = {key: summarize([row[key] for row in per_seed]) for key in per_seed[0]}
    return {"seeds": list(seeds), "studies": studies, "summary": summary}
