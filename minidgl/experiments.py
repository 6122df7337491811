"""Compare methods over seeds: validation-selected test accuracy, mean and spread, as a table or JSON."""
import statistics
from typing import NamedTuple

from . import cache
from .methods import get_method
from .methods.dgl import DEFAULT_ALPHA
from .models import build_model
from .runtime import resolve_device, rng_state, seed_everything, set_rng_state
from .train import fit, make_config


def expand_methods(names, modalities, alpha=None):
    """Method names as `compare` runs them: `"unimodal"` becomes one `"unimodal:<m>"` per modality,
    `"dgl"` gets weight `alpha`. Returns `[(label, Method)]`."""
    runs = []
    for name in names:
        if name == "unimodal":
            runs += [(f"unimodal:{m}", get_method(f"unimodal:{m}")) for m in modalities]
        elif name == "dgl":
            runs.append((name, get_method("dgl", alpha=alpha)))
        else:
            runs.append((name, get_method(name)))
    return runs


def summarize(values):
    """`{"mean", "std", "per_seed"}` of a list of accuracies (std over seeds with n - 1; 0 for one seed)."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "per_seed": list(values)}


def summarize_histories(histories):
    """`{"test_acc": summary, "unimodal_test_acc": {m: summary}}` over the seeds' `History` objects."""
    modalities = histories[0].modalities
    return {"test_acc": summarize([h.test_acc for h in histories]),
            "unimodal_test_acc": {m: summarize([h.test_unimodal_acc[m] for h in histories]) for m in modalities}}


def initial_model(data, seed=0, encoder="mlp", fusion="concat"):
    """The untrained model `run` starts from for `seed`: `build_model` right after `seed_everything(seed)`."""
    seed_everything(seed)
    return build_model(data, encoder=encoder, fusion=fusion)


class Run(NamedTuple):
    """What `run` returns: the trained `model` (at the epoch chosen on validation) and its `history`."""

    model: object
    history: object


def run(data, method, seed=0, encoder="mlp", fusion="concat", config=None, checkpoint=None, resume=None, **overrides):
    """Build a fresh model (initialised from `seed`) and `fit` it with `method`. Returns a `Run(model, history)`
    (a named pair: `model, history = run(...)` or `run(...).history`).

    A run `minidgl.cache` holds (same data, method, seed, model, settings, torch, device, threads and minidgl
    source) is read back instead of trained: the same weights and `History`, and the random generators left
    in the state training leaves them in. `checkpoint` and `resume` go to `fit` (a run that writes or reads
    checkpoints always trains).
    """
    cfg = make_config(config, seed=seed, **overrides)
    method = get_method(method)
    model = initial_model(data, seed, encoder, fusion)
    def train():
        history = fit(model, data, method, cfg, checkpoint=checkpoint, resume=resume, restore_rng=False)
        return {"model": model.state_dict(), "history": history, "rng": rng_state()}

    key = cache.training_key("run", data, cfg, method=method, encoder=encoder, fusion=fusion)
    enabled = cache.cacheable(method) and checkpoint is None and resume is None
    stored = cache.computed(key, train, enabled=enabled)
    model.load_state_dict(stored["model"])
    set_rng_state(stored["rng"])
    return Run(model.to(resolve_device(cfg.device)), stored["history"])


def compare(data, methods=("unimodal", "joint", "uniform", "dgl"), seeds=(0, 1, 2), encoder="mlp",
            fusion="concat", alpha=None, config=None, **overrides):
    """Train every method on every seed; return the `compare` JSON structure:

    `{"results": {label: {"test_acc": summary, "unimodal_test_acc": {m: summary}}}, "config": {...}}`,
    each summary `{"mean", "std", "per_seed"}`; `test_acc` is the fused accuracy (the modality's own for
    unimodal rows), always of the epoch chosen on validation.
    """
    return compare_with_histories(data, methods, seeds, encoder, fusion, alpha, config, **overrides)[0]


def compare_with_histories(data, methods=("unimodal", "joint", "uniform", "dgl"), seeds=(0, 1, 2), encoder="mlp",
                           fusion="concat", alpha=None, config=None, **overrides):
    """`compare`, also returning what it trained: `(report, {label: [History per seed]})`, so that per-epoch
    curves (e.g. `method_stats`) can be plotted without training the same models again."""
    cfg = make_config(config, **overrides)
    results, histories = {}, {}
    for label, method in expand_methods(methods, data.modalities, alpha):
        histories[label] = [run(data, method, seed, encoder, fusion, cfg).history for seed in seeds]
        results[label] = summarize_histories(histories[label])
    config = {"methods": list(methods), "alpha": DEFAULT_ALPHA if alpha is None else alpha,
              **report_config(data, seeds, encoder, fusion, cfg)}
    return {"results": results, "config": config}, histories


def report_config(data, seeds, encoder, fusion, cfg):
    """The settings every multi-seed report records: seeds, model, training options (`cfg`, a `TrainConfig`),
    the checkpoint selection rule, modalities and split sizes. A dict ready for JSON."""
    return {"seeds": list(seeds), "encoder": encoder, "fusion": fusion, "epochs": cfg.epochs, "lr": cfg.lr,
            "batch_size": cfg.batch_size, "momentum": cfg.momentum, "weight_decay": cfg.weight_decay,
            "selection": "validation accuracy", "modalities": data.modalities,
            "split_sizes": [len(data.train), len(data.val), len(data.test)]}


def format_summary(summary):
    """`"mean ± std"` of a `summarize` result, three decimals."""
    return f"{summary['mean']:.3f} ± {summary['std']:.3f}"


def markdown_table(header, rows):
    """A markdown table: `header` a list of column titles, `rows` lists of cell strings."""
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def format_table(report):
    """A markdown table of a `compare` report: mean ± std test accuracy, fused and per modality."""
    modalities = report["config"]["modalities"]
    header = ["method", "test acc"] + [f"{m} (unimodal logits)" for m in modalities]
    rows = [[label, format_summary(row["test_acc"])] + [format_summary(row["unimodal_test_acc"][m]) for m in modalities]
            for label, row in report["results"].items()]
    return markdown_table(header, rows)
