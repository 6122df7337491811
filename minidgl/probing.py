"""Linear probes of trained encoders across methods and seeds: what each encoder holds, beside its accuracy."""
from .diagnostics import PROBE_LR, PROBE_SEED, PROBE_STEPS, linear_probe
from .errors import InvalidValue
from .experiments import (expand_methods, format_summary, initial_model, markdown_table, report_config, run,
                          summarize, summarize_histories)
from .methods import Unimodal
from .methods.dgl import DEFAULT_ALPHA
from .runtime import resolve_device
from .train import History, evaluate, make_config

PROBE_PROTOCOL = {
    "classifier": "linear, Adam on the full batch with fixed settings (nothing is tuned)",
    "features": "frozen encoder outputs, standardized with the training split's mean and std",
    "fit_split": "train",
    "score_split": "test",
    "checkpoint": "trained rows: the epoch chosen on validation accuracy; random_init: the seed's model "
                  "before any training",
    "steps": PROBE_STEPS,
    "lr": PROBE_LR,
    "probe_seed": PROBE_SEED,
}


def trained_modalities(method, modalities):
    """The encoders `method` trains: its own modality for unimodal training, else all of `modalities`."""
    return [method.modality] if isinstance(method, Unimodal) else list(modalities)


def untrained_history(model, data):
    """A `History` with no epochs: `model`'s test accuracies as it is, before any training."""
    test = evaluate(model, data.test.to(next(model.parameters()).device))
    return History("random_init", model.modalities, test_acc=test["fused_acc"], test_fused_acc=test["fused_acc"],
                   test_unimodal_acc=test["unimodal_acc"])


def probe_row(data, models, histories, modalities):
    """A `compare` row over seeds (`models`, `histories`: one per seed) plus `"probe_acc": {m: summary}`,
    a linear probe of each encoder in `modalities`, fit on `data.train` and scored on `data.test`."""
    probes = {m: summarize([linear_probe(model, m, data.train, data.test) for model in models]) for m in modalities}
    return {**summarize_histories(histories), "probe_acc": probes}


def random_init_row(data, seeds, encoder="mlp", fusion="concat", device=None):
    """The `probe_row` of the untrained models `run` starts from for `seeds`: every encoder probed, and the
    untrained models' test accuracies."""
    initial = [initial_model(data, seed, encoder, fusion).to(resolve_device(device)) for seed in seeds]
    return probe_row(data, initial, [untrained_history(model, data) for model in initial], data.modalities)


def probe_compare(data, methods=("unimodal", "joint"), seeds=(0, 1, 2), encoder="mlp", fusion="concat", alpha=None,
                  config=None, random_init=True, **overrides):
    """Train every method on every seed (as `compare`), then linear-probe each trained encoder.

    Probe protocol (recorded in `config["probe"]`): a linear classifier with fixed settings on the frozen,
    standardized features, fit on the training split and scored on the test split; the trained model is the
    epoch chosen on validation, as `fit` restores it. Unimodal rows probe only the encoder they trained.

    The extra row `"random_init"` probes every encoder of the untrained models, built for each seed exactly
    as `run` builds them; its `test_acc`/`unimodal_test_acc` are those untrained models' test accuracies.
    `random_init=False` leaves that row out (and its probes' cost).

    Returns the `compare` JSON structure with a `"probe_acc": {modality: summary}` in every row:
    `{"results": {"random_init" | label: {"test_acc", "unimodal_test_acc", "probe_acc"}}, "config": {...}}`,
    each summary `{"mean", "std", "per_seed"}`.
    """
    return probe_compare_with_runs(data, methods, seeds, encoder, fusion, alpha, config, random_init,
                                   **overrides)[0]


def probe_compare_with_runs(data, methods=("unimodal", "joint"), seeds=(0, 1, 2), encoder="mlp", fusion="concat",
                            alpha=None, config=None, random_init=True, **overrides):
    """`probe_compare`, also returning what it trained: `(report, {label: [(model, History) per seed]})`, the
    models at the epoch chosen on validation, so that a chapter can read training curves or reuse a trained
    model without training it again. The report is exactly `probe_compare`'s."""
    cfg = make_config(config, **overrides)
    runs = expand_methods(methods, data.modalities, alpha)
    results = {"random_init": random_init_row(data, seeds, encoder, fusion, cfg.device)} if random_init else {}
    trained_runs = {}
    for label, method in runs:
        trained = trained_runs[label] = [run(data, method, seed, encoder, fusion, cfg) for seed in seeds]
        results[label] = probe_row(data, [model for model, _ in trained], [history for _, history in trained],
                                   trained_modalities(method, data.modalities))
    config = {"methods": list(methods), "alpha": DEFAULT_ALPHA if alpha is None else alpha,
              **report_config(data, seeds, encoder, fusion, cfg), "probe": PROBE_PROTOCOL}
    return {"results": results, "config": config}, trained_runs


def probe_runs(data, runs, seeds=(0, 1, 2), encoder="mlp", fusion="concat", config=None, **overrides):
    """`probe_compare` for models trained already (e.g. to plot or inspect them too), without training again.

    `runs` `{label: [(model, History) per seed]}`, each pair as `run(data, method, seed, encoder, fusion,
    config, **overrides)` returned it, one per seed of `seeds` in that order (`config` and `overrides` are
    only recorded, and name the device). Probes exactly as `probe_compare`: a `random_init` row first (the
    models `run` starts from for `seeds`), then one row per label; a unimodal run probes only its own encoder.
    Returns the same structure: `{"results": {"random_init" | label: row}, "config"}`.
    """
    cfg = make_config(config, **overrides)
    wrong = {label: len(pairs) for label, pairs in runs.items() if len(pairs) != len(seeds)}
    if wrong:
        raise InvalidValue(f"need one (model, History) per seed {list(seeds)}; got {wrong} runs")
    results = {"random_init": random_init_row(data, seeds, encoder, fusion, cfg.device)}
    for label, pairs in runs.items():
        own = [m for m in data.modalities if pairs[0][1].method == f"unimodal:{m}"]
        results[label] = probe_row(data, [model for model, _ in pairs], [history for _, history in pairs],
                                   own or data.modalities)
    config = {"methods": list(runs), **report_config(data, seeds, encoder, fusion, cfg), "probe": PROBE_PROTOCOL}
    return {"results": results, "config": config}


def format_probe_table(report):
    """A markdown table of a `probe_compare` report: test accuracy and linear-probe accuracy per modality,
    mean ± std ("—" for an encoder the row did not train), followed by a note on what the rows mean."""
    modalities = report["config"]["modalities"]
    header = ["method", "test acc"] + [f"{m} probe" for m in modalities]
    rows = []
    for label, row in report["results"].items():
        name = "random_init (untrained)" if label == "random_init" else label
        probes = [format_summary(row["probe_acc"][m]) if m in row["probe_acc"] else "—" for m in modalities]
        rows.append([name, format_summary(row["test_acc"])] + probes)
    note = ("test acc: fused (unimodal rows: their own head). Probe: a linear classifier on frozen, standardized "
            "features, fit on train, scored on test.")
    if "random_init" in report["results"]:
        note += " random_init: the same seeds' models before any training."
    return markdown_table(header, rows) + "\n\n" + note
