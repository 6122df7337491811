"""Compare methods over seeds: validation-selected test accuracy, mean and spread, as a table or JSON."""
import hashlib
import json
import platform
import statistics
from typing import NamedTuple

import torch

from . import cache, distributed
from .errors import InvalidValue
from .files import check_writable, read_json, write_json
from .methods import get_method
from .methods.dgl import DEFAULT_ALPHA
from .models import build_model
from .runtime import check_seed, resolve_device, rng_state, seed_everything, set_rng_state
from .train import fit, make_config


def expand_methods(names, modalities, alpha=None):
    """Method names as `compare` runs them: `"unimodal"` becomes one `"unimodal:<m>"` per modality,
    `"dgl"` gets weight `alpha`. Returns `[(label, Method)]`. A method given twice, or an `alpha` without
    `"dgl"` among the names, is a clear error."""
    if isinstance(names, str) or not names:
        raise InvalidValue(f"methods must be a non-empty list of method names, got {names!r}")
    if alpha is not None and "dgl" not in names:
        raise InvalidValue(f"alpha is DGL's weight, but the methods {list(names)} do not include dgl; "
                           f"leave alpha unset or add dgl")
    runs = []
    for name in names:
        if name == "unimodal":
            runs += [(f"unimodal:{m}", get_method(f"unimodal:{m}")) for m in modalities]
        elif name == "dgl":
            runs.append((name, get_method("dgl", alpha=alpha)))
        else:
            runs.append((name, get_method(name)))
    labels = [label for label, _ in runs]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise InvalidValue(f"methods {list(names)} run {twice} more than once; give each method once")
    return runs


def check_seeds(seeds):
    """Raise a clear error unless `seeds` is a non-empty list of distinct valid seeds."""
    if isinstance(seeds, (str, int)) or not seeds:
        raise InvalidValue(f"seeds must be a non-empty list of integers, got {seeds!r}")
    for seed in seeds:
        check_seed(seed)
    twice = sorted({seed for seed in seeds if list(seeds).count(seed) > 1})
    if twice:
        raise InvalidValue(f"seeds {list(seeds)} repeat {twice}: the same seed twice is the same run twice, which "
                           f"would shrink the spread; give each seed once")


def summarize(values):
    """`{"mean", "std", "per_seed"}` of a list of accuracies (std over seeds with n - 1; 0 for one seed)."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "per_seed": list(values)}


def run_record(history, label=None, seed=None):
    """What a report keeps of one run: `{"method", "seed", "test_acc", "test_unimodal_acc", "best_epoch"}`."""
    return {"method": label or history.method, "seed": seed, "test_acc": history.test_acc,
            "test_unimodal_acc": dict(history.test_unimodal_acc), "best_epoch": history.best_epoch}


def summarize_runs(records):
    """`{"test_acc": summary, "unimodal_test_acc": {m: summary}}` over the seeds' `run_record`s."""
    modalities = list(records[0]["test_unimodal_acc"])
    return {"test_acc": summarize([r["test_acc"] for r in records]),
            "unimodal_test_acc": {m: summarize([r["test_unimodal_acc"][m] for r in records]) for m in modalities}}


def summarize_histories(histories):
    """`{"test_acc": summary, "unimodal_test_acc": {m: summary}}` over the seeds' `History` objects."""
    return summarize_runs([run_record(h) for h in histories])


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
    in the state training leaves them in. `checkpoint` and `resume` go to `fit`. Runs that write or read
    checkpoints always train, and so do runs of several processes (`minidgl.distributed`): every rank must
    train, and their sums differ from one process's in the last bits.
    """
    cfg = make_config(config, seed=seed, **overrides)
    method = get_method(method)
    model = initial_model(data, seed, encoder, fusion)
    def train():
        history = fit(model, data, method, cfg, checkpoint=checkpoint, resume=resume, restore_rng=False)
        return {"model": model.state_dict(), "history": history, "rng": rng_state()}

    key = cache.training_key("run", data, cfg, method=method, encoder=encoder, fusion=fusion)
    enabled = cache.cacheable(method) and checkpoint is None and resume is None and distributed.world_size() == 1
    stored = cache.computed(key, train, enabled=enabled)
    model.load_state_dict(stored["model"])
    set_rng_state(stored["rng"])
    return Run(model.to(resolve_device(cfg.device)), stored["history"])


def compare(data, methods=("unimodal", "joint", "uniform", "dgl"), seeds=(0, 1, 2), encoder="mlp",
            fusion="concat", alpha=None, config=None, save=None, resume=None, record=None, **overrides):
    """Train every method on every seed; return the `compare` JSON structure:

    `{"results": {label: {"test_acc": summary, "unimodal_test_acc": {m: summary}}}, "config": {...},
    "runs": [run_record per (method, seed)]}`, each summary `{"mean", "std", "per_seed"}`; `test_acc` is the
    fused accuracy (the modality's own for unimodal rows), always of the epoch chosen on validation.

    `save`: a JSON path, written atomically after every finished (method, seed) with the report so far (rows
    only for methods whose seeds are all done; by rank 0 alone under a process group). `resume`: a file `save`
    wrote: its finished runs are read back instead of trained again; the settings must be the same (the
    differences are named otherwise). `record`: more JSON-ready entries for the report's config (the command
    line records the dataset's name and options).
    """
    return compare_with_histories(data, methods, seeds, encoder, fusion, alpha, config, save, resume, record,
                                  **overrides)[0]


def compare_with_histories(data, methods=("unimodal", "joint", "uniform", "dgl"), seeds=(0, 1, 2), encoder="mlp",
                           fusion="concat", alpha=None, config=None, save=None, resume=None, record=None,
                           **overrides):
    """`compare`, also returning what it trained: `(report, {label: [History per seed]})`, so that per-epoch
    curves (e.g. `method_stats`) can be plotted without training the same models again (a run read back from
    `resume` has no History: None in its place)."""
    cfg = make_config(config, **overrides)
    check_seeds(seeds)
    runs = expand_methods(methods, data.modalities, alpha)
    config = {"methods": list(methods), "alpha": DEFAULT_ALPHA if alpha is None else alpha,
              **report_config(data, seeds, encoder, fusion, cfg), **(record or {})}
    finished = _finished_runs(resume, config) if resume is not None else {}
    if save is not None:
        check_writable(save)
    histories = {label: [] for label, _ in runs}
    for label, method in runs:
        for seed in seeds:
            history = None
            if (label, seed) not in finished:
                history = run(data, method, seed, encoder, fusion, cfg).history
                finished[(label, seed)] = run_record(history, label, seed)
                if save is not None and distributed.is_main():
                    write_json(save, _compare_report(runs, seeds, finished, config))
            histories[label].append(history)
    return _compare_report(runs, seeds, finished, config), histories


def _compare_report(runs, seeds, finished, config):
    """The `compare` report of the runs `finished` so far `{(label, seed): run_record}`, in the order they run."""
    records = [finished[label, seed] for label, _ in runs for seed in seeds if (label, seed) in finished]
    results = {label: summarize_runs([finished[label, seed] for seed in seeds]) for label, _ in runs
               if all((label, seed) in finished for seed in seeds)}
    return {"results": results, "config": config, "runs": records}


def _finished_runs(path, config):
    """`{(label, seed): run_record}` read from a report `compare(save=path)` wrote with the same `config`."""
    saved = read_json(path)
    if not isinstance(saved, dict) or "runs" not in saved or "config" not in saved:
        raise InvalidValue(f"{path} is not a report compare(save=...) wrote (no 'runs' and 'config'); give that file")
    now = json.loads(json.dumps(config))
    changed = sorted(k for k in set(now) | set(saved["config"]) if saved["config"].get(k) != now.get(k))
    if changed:
        raise InvalidValue(f"{path} was run with other settings: "
                           + "; ".join(f"{k}={saved['config'].get(k)!r} (now {now.get(k)!r})" for k in changed)
                           + "; resume with the same options, or start a new file")
    return {(r["method"], r["seed"]): r for r in saved["runs"]}


def report_config(data, seeds, encoder, fusion, cfg):
    """The settings every multi-seed report records: seeds, model, every training option (`cfg`, a `TrainConfig`,
    with the device it resolves to), the checkpoint selection rule, modalities, split sizes, a digest of the data
    and the versions of minidgl, torch and Python. A dict ready for JSON."""
    from . import __version__

    return {"seeds": list(seeds), "encoder": encoder, "fusion": fusion, "epochs": cfg.epochs, "lr": cfg.lr,
            "batch_size": cfg.batch_size, "momentum": cfg.momentum, "weight_decay": cfg.weight_decay,
            "lr_milestones": list(cfg.lr_milestones), "clip_grad_norm": cfg.clip_grad_norm,
            "micro_batches": cfg.micro_batches, "amp": cfg.amp, "compile": cfg.compile,
            "device": str(resolve_device(cfg.device)), "threads": torch.get_num_threads(),
            "selection": "validation accuracy", "modalities": data.modalities,
            "split_sizes": [len(data.train), len(data.val), len(data.test)],
            "data_digest": hashlib.sha256(cache.describe(data).encode()).hexdigest()[:16],
            "versions": {"minidgl": __version__, "torch": str(torch.__version__),
                         "python": platform.python_version()}}


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
