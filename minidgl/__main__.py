"""Command line: `python -m minidgl train|compare|probe ...` (see `--help`)."""
import argparse
import inspect
import pathlib
import sys

import torch

from . import distributed
from .checkpoint import check_target, load_checkpoint
from .data import CLIP_DATASETS, DATASETS, load_dataset
from .data.av_digits import check_options as check_av_digits_options
from .data.clips import FRONT_ENDS
from .errors import InvalidValue, MinidglError
from .experiments import check_seeds, compare, expand_methods, format_table, report_config, run
from .files import check_writable, read_json, write_json
from .methods import METHODS, get_method
from .methods.dgl import DEFAULT_ALPHA
from .models import ENCODERS, FUSIONS, build_model
from .probing import format_probe_table, probe_compare
from .runtime import check_seed, resolve_device
from .train import TrainConfig, make_config

DEFAULTS = TrainConfig()


def _add_common(parser):
    parser.add_argument("--dataset", default="av-digits", choices=sorted(DATASETS),
                        help=f"built-in dataset, or real clips prepared by data_scripts/ ({', '.join(CLIP_DATASETS)})")
    parser.add_argument("--image-noise", type=float, help="av-digits: pixel noise std (default 0.5)")
    parser.add_argument("--snr-db", type=float, help="av-digits: audio SNR in dB (default -14)")
    parser.add_argument("--copies", type=int, help="av-digits: noisy copies of each image (default 20)")
    parser.add_argument("--data-seed", type=int, default=0,
                        help="seed of the data and its split; for real clips, of the training order (default 0)")
    real = parser.add_argument_group("real clips (--dataset crema-d or kinetics-sounds; see data_scripts/README.md)")
    real.add_argument("--data-root", type=pathlib.Path, help="the folder data_scripts/ prepared (required for them)")
    real.add_argument("--split", help="crema-d: actor (actor-disjoint, default) or authors (OGM/DGL lists); "
                                      "kinetics-sounds: stratified (default) or authors (GeWu lists)")
    real.add_argument("--frames", type=int, help="video frames per clip (default 1)")
    real.add_argument("--workers", type=int, help="DataLoader worker processes (default 4)")
    real.add_argument("--front-end", choices=list(FRONT_ENDS),
                      help="the audio front-end the folder must have been prepared with (default: the folder's)")
    parser.add_argument("--encoder", default="mlp", choices=sorted(ENCODERS), help="encoder for every modality")
    parser.add_argument("--fusion", default="concat",
                        help=f"fusion module, one of {sorted(FUSIONS)}; gated and film name the modality with the "
                             f"distinct role, e.g. gated:audio (audio gates), film:visual (visual conditions)")
    parser.add_argument("--dgl-alpha", type=float, help=f"DGL's unimodal loss weight (default {DEFAULT_ALPHA})")
    parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
    parser.add_argument("--lr", type=float, default=DEFAULTS.lr)
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size,
                        help=f"the global batch; under torchrun each of the N processes takes batch-size / N "
                             f"samples of it (default {DEFAULTS.batch_size})")
    parser.add_argument("--clip-grad-norm", type=float, help="clip the global gradient norm (DGL code: 40)")
    parser.add_argument("--micro-batches", type=int, default=1,
                        help="gradient accumulation: back-propagate each batch in this many parts (default 1)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available); under torchrun "
                                         "cuda means each process's own GPU, cuda:LOCAL_RANK")
    parser.add_argument("--amp", nargs="?", const="bfloat16", default=False, choices=["bfloat16", "float16"],
                        help="autocast: bfloat16 (the default when given alone) or float16 (with a gradient scaler)")
    parser.add_argument("--threads", type=int,
                        help="CPU threads for torch (default: torch's choice); the chapters train on 1, and runs "
                             "are read back from the results cache only at the same thread count")
    parser.add_argument("--json", type=pathlib.Path, help="also write the results to this JSON file")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error, not just its message")


def _checked(flag, value, check):
    """`check(value)`; a minidgl error in it becomes one naming the command-line option and the value given."""
    try:
        return check(value)
    except MinidglError as error:
        shown = " ".join(map(str, value)) if isinstance(value, list) else value
        raise InvalidValue(f"{flag} {shown}: {error}") from error


DATA_OPTIONS = {"image_noise": "--image-noise", "snr_db": "--snr-db", "copies": "--copies"}
CLIP_OPTIONS = ("data_root", "split", "frames", "workers", "front_end")
TRAIN_OPTIONS = {"epochs": "--epochs", "lr": "--lr", "batch_size": "--batch-size",
                 "clip_grad_norm": "--clip-grad-norm", "micro_batches": "--micro-batches", "amp": "--amp"}


def _data_record(args):
    """The dataset's name, seed and options (defaults filled in), as the JSON records keep them."""
    options = {k: getattr(args, k) for k in (*DATA_OPTIONS, *CLIP_OPTIONS) if getattr(args, k) is not None}
    options = {k: str(v) if isinstance(v, pathlib.Path) else v for k, v in options.items()}
    if args.dataset == "av-digits":
        defaults = inspect.signature(DATASETS["av-digits"]).parameters
        options = {k: options.get(k, defaults[k].default) for k in DATA_OPTIONS}
    return {"dataset": args.dataset, "data": {"seed": args.data_seed, **options}}


def _clip_data(args):
    if args.data_root is None:
        raise InvalidValue(f"--dataset {args.dataset} reads a prepared folder: pass --data-root DIR (made by "
                           f"data_scripts/, see data_scripts/README.md)")
    options = {k: v for k, v in (("frames", args.frames), ("workers", args.workers), ("front_end", args.front_end))
               if v is not None}
    return load_dataset(args.dataset, root=args.data_root, split=args.split, batch_size=args.batch_size,
                        seed=args.data_seed, **options)


def _data(args):
    options = {k: v for k, v in (("image_noise", args.image_noise), ("snr_db", args.snr_db), ("copies", args.copies))
               if v is not None}
    if args.dataset in CLIP_DATASETS:
        return _clip_data(args)
    real = [flag for flag, v in (("--data-root", args.data_root), ("--split", args.split), ("--frames", args.frames),
                                 ("--workers", args.workers), ("--front-end", args.front_end)) if v is not None]
    if real:
        raise InvalidValue(f"{', '.join(real)} {'is' if len(real) == 1 else 'are'} for real clips "
                           f"({', '.join(CLIP_DATASETS)}), not the built-in '{args.dataset}'")
    return load_dataset(args.dataset, seed=args.data_seed, **options)


def _config(args):
    return dict(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, clip_grad_norm=args.clip_grad_norm,
                micro_batches=args.micro_batches, device=args.device, amp=args.amp, progress=not args.quiet)


def _check_common(args):
    """Check every option all commands share, before any data is made or model trained; build the data (after
    joining a torchrun process group, so that real clips are sharded across the ranks) and return it."""
    if args.threads is not None and args.threads < 1:
        raise InvalidValue(f"--threads {args.threads}: need an integer >= 1 (or leave it unset)")
    _checked("--data-seed", args.data_seed, check_seed)
    options = {k: getattr(args, k) for k in DATA_OPTIONS if getattr(args, k) is not None}
    if options and args.dataset != "av-digits":
        raise InvalidValue(f"--image-noise, --snr-db and --copies apply to av-digits only, not '{args.dataset}'")
    for name, value in options.items():
        _checked(DATA_OPTIONS[name], value, lambda v: check_av_digits_options(**{name: v}))
    for name, flag in TRAIN_OPTIONS.items():
        _checked(flag, getattr(args, name), lambda v: make_config(**{name: v}))
    _checked("--device", args.device, resolve_device)
    if args.dgl_alpha is not None:
        _checked("--dgl-alpha", args.dgl_alpha, lambda alpha: METHODS["dgl"](alpha=alpha))
    if args.json is not None:
        _checked("--json", args.json, check_writable)
    data = _data(args)
    args.model = _checked("--encoder/--fusion", f"{args.encoder}/{args.fusion}",
                          lambda _: build_model(data, args.encoder, args.fusion, seed=0))
    return data


def _interrupted(what):
    """Stop after Ctrl-C with one line saying what was saved (exit status 130, as a shell reports SIGINT)."""
    print(f"interrupted: {what}", file=sys.stderr)
    sys.exit(130)


def check_train(args):
    """Check `train`'s options; return the training to run."""
    _checked("--seed", args.seed, check_seed)
    method = _checked("--method", args.method, get_method)
    data = _check_common(args)
    _checked("--method", args.method, lambda _: method.check(args.model))
    if args.dgl_alpha is not None:
        if args.method != "dgl":
            raise InvalidValue(f"--dgl-alpha {args.dgl_alpha}: DGL's weight, but --method is {args.method}; "
                               f"leave it out or train dgl")
        method = METHODS["dgl"](alpha=args.dgl_alpha)
    if args.resume is not None:
        _checked("--resume", args.resume, load_checkpoint)
    if args.checkpoint or args.resume:
        _checked("--checkpoint", args.checkpoint or args.resume, lambda path: check_target(path, args.model))

    def train():
        checkpoint, config = args.checkpoint or args.resume, _config(args)
        try:
            _, history = run(data, method, args.seed, args.encoder, args.fusion, checkpoint=checkpoint,
                             resume=args.resume, **config)
        except KeyboardInterrupt:
            saved = checkpoint is not None and checkpoint.is_file()
            _interrupted(f"the last finished epoch is saved in {checkpoint}; continue with --resume {checkpoint}"
                         if saved else "nothing was saved (--checkpoint keeps every epoch)")
        if not distributed.is_main():
            return
        print(f"{history.method}: test accuracy {history.test_acc:.3f} (epoch {history.best_epoch} chosen on "
              f"validation); unimodal logits: "
              + ", ".join(f"{m} {acc:.3f}" for m, acc in history.test_unimodal_acc.items()))
        if args.json:
            record = {"method": repr(method), "seed": args.seed, "encoder": args.encoder, "fusion": args.fusion,
                      **report_config(data, [args.seed], args.encoder, args.fusion, make_config(**config))}
            del record["seeds"]
            write_json(args.json, {**history.to_dict(), "config": {**record, **_data_record(args)}})
    return train


def _check_study(args):
    """Check the options `compare` and `probe` share; returns the data."""
    _checked("--seeds", args.seeds, check_seeds)
    if args.dgl_alpha is not None and "dgl" not in args.methods:
        raise InvalidValue(f"--dgl-alpha {args.dgl_alpha}: DGL's weight, but --methods {' '.join(args.methods)} do "
                           f"not include dgl; leave it out or add dgl")
    for name in set(args.methods) - {"unimodal"}:
        _checked("--methods", args.methods, lambda _: get_method(name))
    data = _check_common(args)
    for _, method in _checked("--methods", args.methods,
                              lambda names: expand_methods(names, data.modalities, args.dgl_alpha)):
        _checked("--methods", args.methods, lambda _: method.check(args.model))
    return data


def check_compare(args):
    """Check `compare`'s options; return the comparison to run (each finished run saved to --json as it ends)."""
    data = _check_study(args)
    if args.resume is not None:
        _checked("--resume", args.resume, read_json)
        _checked("--resume", args.resume, check_writable)
    save = args.json or args.resume

    def study():
        try:
            report = compare(data, args.methods, args.seeds, args.encoder, args.fusion, args.dgl_alpha, save=save,
                             resume=args.resume, record=_data_record(args), **_config(args))
        except KeyboardInterrupt:
            saved = len(read_json(save)["runs"]) if save is not None and save.is_file() else 0
            _interrupted(f"{saved} finished run(s) are saved in {save}; continue with --resume {save}" if save
                         else "nothing was saved (--json keeps every finished run)")
        if distributed.is_main():
            print(format_table(report))
    return study


def check_probe(args):
    """Check `probe`'s options; return the study to run."""
    data = _check_study(args)

    def study():
        report = probe_compare(data, args.methods, args.seeds, args.encoder, args.fusion, args.dgl_alpha,
                               **_config(args))
        report["config"].update(_data_record(args))
        if not distributed.is_main():
            return
        print(format_probe_table(report))
        if args.json:
            write_json(args.json, report)
    return study


def _add_methods_and_seeds(parser, methods):
    parser.add_argument("--methods", nargs="+", default=methods,
                        help=f"from {sorted(METHODS)}; 'unimodal' runs each modality alone "
                             f"(default: {' '.join(methods)})")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])


class _Parser(argparse.ArgumentParser):
    """argparse's parser with its usage errors in one line (and the exit status 2 it always gives them)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    parser = _Parser(prog="python -m minidgl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train one method once and report validation-selected test accuracy")
    _add_common(train)
    train.add_argument("--method", default="dgl",
                       help=f"one of {sorted(METHODS)}; unimodal as unimodal:<modality> (default dgl)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--checkpoint", type=pathlib.Path,
                       help="save the whole training state to this file after every epoch (atomically)")
    train.add_argument("--resume", type=pathlib.Path,
                       help="continue exactly from a --checkpoint file, with the same options (--epochs may grow); "
                            "it is updated after every further epoch unless --checkpoint names another file")
    train.set_defaults(check=check_train)
    comp = commands.add_parser("compare", help="compare methods over seeds: mean ± std test accuracy")
    _add_common(comp)
    _add_methods_and_seeds(comp, ["unimodal", "joint", "uniform", "dgl"])
    comp.add_argument("--resume", type=pathlib.Path,
                      help="continue a comparison saved with --json (interrupted, e.g. by Ctrl-C): its finished runs "
                           "are kept, the others trained; it is updated unless --json names another file")
    comp.set_defaults(check=check_compare)
    probe = commands.add_parser("probe", help="compare methods over seeds, then linear-probe their frozen encoders "
                                "(fit on train, scored on test) against the untrained models")
    _add_common(probe)
    _add_methods_and_seeds(probe, ["unimodal", "joint", "dgl"])
    probe.set_defaults(check=check_probe)
    return parser


def main(argv=None):
    """Run a command. Exit status 2 for a usage error (every option and the data are checked before any
    training), 1 for an error found later (e.g. a NaN loss); `--debug` shows the traceback instead. Under
    torchrun, the process group is joined first; rank 0 alone reports."""
    args = build_parser().parse_args(argv)
    launched = distributed.launched_by_torchrun()
    try:
        try:
            if launched:
                args.device = str(_checked("--device", args.device, distributed.setup))
            job = args.check(args)
        except MinidglError as error:
            if args.debug:
                raise
            if distributed.is_main():
                print(f"python -m minidgl {args.command}: error: {error}", file=sys.stderr)
            sys.exit(2)
        if args.threads is not None:
            torch.set_num_threads(args.threads)
        try:
            job()
        except MinidglError as error:  # a problem with what was asked, its fix in the message; anything else is a bug
            if args.debug:
                raise
            sys.exit(f"error: {error}" if distributed.is_main() else 1)
    finally:
        if launched:
            distributed.destroy()


if __name__ == "__main__":
    main()
