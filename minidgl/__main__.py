"""Command line: `python -m minidgl train|compare|probe ...` (see `--help`); on several processes,
`torchrun --nproc_per_node N -m minidgl train|compare ...` (rank 0 prints and writes)."""
import argparse
import json
import pathlib
import sys

import torch

from . import distributed
from .data import CLIP_DATASETS, DATASETS, load_dataset
from .data.clips import FRONT_ENDS
from .errors import InvalidValue, MinidglError
from .experiments import compare, format_table, run
from .methods import METHODS
from .methods.dgl import DEFAULT_ALPHA
from .models import ENCODERS, FUSIONS
from .probing import format_probe_table, probe_compare
from .train import TrainConfig

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
    if options and args.dataset != "av-digits":
        raise InvalidValue(f"--image-noise, --snr-db and --copies apply to av-digits only, not '{args.dataset}'")
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


def _write_json(path, payload):
    if path and distributed.is_main():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2))


def cmd_train(args):
    data = _data(args)
    method = args.method if args.method != "dgl" else METHODS["dgl"](alpha=args.dgl_alpha)
    _, history = run(data, method, args.seed, args.encoder, args.fusion, checkpoint=args.checkpoint or args.resume,
                     resume=args.resume, **_config(args))
    if distributed.is_main():
        print(f"{history.method}: test accuracy {history.test_acc:.3f} (epoch {history.best_epoch} chosen on "
              f"validation); unimodal logits: "
              + ", ".join(f"{m} {acc:.3f}" for m, acc in history.test_unimodal_acc.items()))
    _write_json(args.json, history.to_dict())


def _report(args, study, table):
    """Run `study` (`compare` or `probe_compare`) over `args.methods` and `args.seeds`, print it, write JSON."""
    report = study(_data(args), args.methods, args.seeds, args.encoder, args.fusion, args.dgl_alpha, **_config(args))
    report["config"]["dataset"] = args.dataset
    if distributed.is_main():
        print(table(report))
    _write_json(args.json, report)


def cmd_compare(args):
    _report(args, compare, format_table)


def cmd_probe(args):
    _report(args, probe_compare, format_probe_table)


def _add_methods_and_seeds(parser, methods):
    parser.add_argument("--methods", nargs="+", default=methods,
                        help=f"from {sorted(METHODS)}; 'unimodal' runs each modality alone "
                             f"(default: {' '.join(methods)})")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m minidgl", description=__doc__)
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
    train.set_defaults(func=cmd_train)
    comp = commands.add_parser("compare", help="compare methods over seeds: mean ± std test accuracy")
    _add_common(comp)
    _add_methods_and_seeds(comp, ["unimodal", "joint", "uniform", "dgl"])
    comp.set_defaults(func=cmd_compare)
    probe = commands.add_parser("probe", help="compare methods over seeds, then linear-probe their frozen encoders "
                                "(fit on train, scored on test) against the untrained models")
    _add_common(probe)
    _add_methods_and_seeds(probe, ["unimodal", "joint", "dgl"])
    probe.set_defaults(func=cmd_probe)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    launched = distributed.launched_by_torchrun()
    try:
        if launched:
            args.device = str(distributed.setup(args.device))
        args.func(args)
    except MinidglError as error:  # a problem with what was asked, its fix in the message; anything else is a bug
        if args.debug:
            raise
        sys.exit(f"error: {error}" if distributed.is_main() else 1)
    finally:
        if launched:
            distributed.destroy()


if __name__ == "__main__":
    main()
