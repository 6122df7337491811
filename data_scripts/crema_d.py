"""Prepare CREMA-D for minidgl: `python data_scripts/crema_d.py --raw DIR --out DIR [--front-end log-stft|fbank]`.

`--raw` is the CREMA-D repository as downloaded (https://github.com/CheyneyComputerScience/CREMA-D, cloned with
Git LFS), read only: `VideoFlash/<clip>.flv` and `AudioWAV/<clip>.wav`, clip names `AAAA_SSS_EEE_LL` (actor,
sentence, emotion, level), e.g. `1001_DFA_ANG_XX`. `--out` receives frames at 1 fps, one audio feature per clip,
a manifest and the splits (layout: `media.py`, `README.md`).

Splits, never mixed in one table:
- `actor`: actor-disjoint train/val/test (actors shuffled with `--seed`, 20 % test, 10 % validation): the
  honest one, always written.
- `authors`: the 6,698/744 `train.csv`/`test.csv` of OGM-GE and DGL (`--authors-split DIR`), for comparing with
  their tables; every actor is in both, and a stratified `--val-fraction` of train is held out as validation.
Class order: `--class-order ogm` (OGM/DGL/BalanceBenchmark: NEU HAP SAD FEA DIS ANG, the default) or
`alphabetical` (MMPareto: ANG DIS FEA HAP NEU SAD).
"""
import argparse
import pathlib
import re
import sys

if __package__ in (None, ""):  # run as `python data_scripts/crema_d.py`: import from this checkout
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from data_scripts import media  # noqa: E402
from minidgl.errors import InvalidValue, MissingFile  # noqa: E402

CLASS_ORDERS = {"ogm": ["NEU", "HAP", "SAD", "FEA", "DIS", "ANG"],
                "alphabetical": ["ANG", "DIS", "FEA", "HAP", "NEU", "SAD"]}
CLIP_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")
LFS_POINTER = b"version https://git-lfs"
FBANK_FRAMES = 300  # 3 s of 10-ms frames: the span the log-STFT front-end keeps (no published CREMA-D value)
TEST_ACTORS, VAL_ACTORS = 0.2, 0.1
EXPECTED = ("the raw CREMA-D repository (github.com/CheyneyComputerScience/CREMA-D, cloned with Git LFS): "
            "VideoFlash/<clip>.flv and AudioWAV/<clip>.wav, clip names like 1001_DFA_ANG_XX")


def find_clips(raw):
    """The `media.Clip`s of the raw CREMA-D folder `raw`, sorted; a clear error when it is not one."""
    raw = pathlib.Path(raw)
    videos, audios = raw / "VideoFlash", raw / "AudioWAV"
    if not (videos.is_dir() and audios.is_dir()):
        raise MissingFile(f"{raw} is not a CREMA-D folder: no VideoFlash/ and AudioWAV/ folders in it; expected "
                          f"{EXPECTED}")
    video_names = {p.stem: p for p in videos.glob("*.flv")}
    audio_names = {p.stem: p for p in audios.glob("*.wav")}
    if not video_names:
        raise MissingFile(f"{videos} holds no .flv file; expected {EXPECTED}")
    odd = sorted(name for name in {*video_names, *audio_names} if not CLIP_NAME.match(name))
    if odd:
        raise InvalidValue(f"{len(odd)} file(s) with names that are not CREMA-D clip names, e.g. {odd[:3]}; "
                           f"expected {EXPECTED}")
    for path in [*video_names.values(), *audio_names.values()]:
        if path.stat().st_size < 1024 and path.read_bytes().startswith(LFS_POINTER):
            raise InvalidValue(f"{path} is a Git LFS pointer, not media: fetch the files with `git lfs pull` "
                               f"inside {raw}")
    for have, lack, kind in ((video_names, audio_names, "audio AudioWAV/{}.wav"),
                             (audio_names, video_names, "video VideoFlash/{}.flv")):
        missing = sorted(set(have) - set(lack))
        if missing:
            raise MissingFile(f"{len(missing)} clip(s) have no {kind.format(missing[0])} (first of them); the "
                              f"download is incomplete: fetch it again (`git lfs pull` inside {raw})")
    clips = []
    for name in sorted(video_names):
        actor, _, emotion, _ = CLIP_NAME.match(name).groups()
        if emotion not in CLASS_ORDERS["ogm"]:
            raise InvalidValue(f"clip {name} has emotion {emotion!r}, not one of {CLASS_ORDERS['ogm']}")
        clips.append(media.Clip(name, emotion, video_names[name], audio_names[name], {"actor": actor}))
    return clips


def read_authors_split(folder):
    """`{"train": [(clip, label)], "test": [...]}` from the authors' `train.csv` and `test.csv` in `folder`."""
    folder = pathlib.Path(folder)
    lists = {}
    for part in ("train", "test"):
        path = folder / f"{part}.csv"
        if not path.is_file():
            raise MissingFile(f"no {path}: --authors-split takes the folder holding the authors' train.csv and "
                              f"test.csv (OGM-GE data/CREMAD/ or GDL dataset/data/CREMAD/)")
        rows = [line.split(",") for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
        if any(len(row) != 2 or not CLIP_NAME.match(row[0].strip()) for row in rows):
            raise InvalidValue(f"{path} is not an authors' CREMA-D list: expected lines 'clip_id,LABEL' with no "
                               f"header, e.g. '1001_DFA_ANG_XX,ANG'")
        lists[part] = [(clip.strip(), label.strip()) for clip, label in rows]
    return lists


def authors_parts(lists, records, val_fraction, seed):
    """The authors' train/test lists restricted to the prepared clips, a stratified `val_fraction` of train
    held out as validation. Returns `(parts, listed_but_missing)`."""
    label_of = {r["clip"]: r["label"] for r in records}
    kept = {}
    missing = 0
    for part, rows in lists.items():
        for clip, label in rows:
            if clip in label_of and label_of[clip] != label:
                raise InvalidValue(f"the authors' {part}.csv labels {clip} {label}, its name says "
                                   f"{label_of[clip]}: is it the CREMA-D list of OGM-GE/DGL?")
        kept[part] = [clip for clip, _ in rows if clip in label_of]
        missing += len(rows) - len(kept[part])
    parts = media.stratified_parts(kept["train"], [label_of[c] for c in kept["train"]], val_fraction, 0.0, seed)
    return {"train": parts["train"], "val": parts["val"], "test": kept["test"]}, missing


def build_parser():
    parser = argparse.ArgumentParser(prog="python data_scripts/crema_d.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw", type=pathlib.Path, required=True, help="the downloaded CREMA-D folder (read only)")
    media.add_run_arguments(parser)
    parser.add_argument("--front-end", default="log-stft", choices=["log-stft", "fbank"],
                        help="audio feature: log-stft (DGL/OGM, 257x188; default) or fbank (MMPareto/BalanceBenchmark "
                             "Kaldi fbank, 128 x --fbank-frames)")
    parser.add_argument("--fbank-frames", type=int, default=FBANK_FRAMES,
                        help=f"fbank: frames kept, zero-padded or cut (default {FBANK_FRAMES}: 3 s)")
    parser.add_argument("--authors-split", type=pathlib.Path,
                        help="folder with the authors' train.csv and test.csv; without it only the actor split is "
                             "written")
    parser.add_argument("--class-order", default="ogm", choices=sorted(CLASS_ORDERS),
                        help="ogm: NEU HAP SAD FEA DIS ANG (OGM/DGL, default); alphabetical (MMPareto)")
    parser.add_argument("--val-fraction", type=float, default=0.1,
                        help="authors' split: stratified share of train held out as validation (default 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the actor split and the validation part")
    return parser


def prepare(args):
    """Prepare `args.raw` into `args.out`; returns `(prepared.json content, media.Summary)`."""
    if not 0 < args.val_fraction < 1:
        raise InvalidValue(f"--val-fraction must be between 0 and 1, got {args.val_fraction}")
    front = media.front_end(args.front_end, args.fbank_frames if args.front_end == "fbank" else None)
    clips = find_clips(args.raw)
    lists = read_authors_split(args.authors_split) if args.authors_split else None
    info = media.start_folder(args.out, args.raw, "crema-d", front, "data_scripts/crema_d.py")
    out = args.out.resolve()
    records, summary = media.prepare_all(clips, out, front, args.workers, progress=not args.quiet)
    if not records:
        raise InvalidValue(f"no clip of {args.raw} could be prepared (see {out / 'skipped.csv'})")
    actor = media.group_parts([r["clip"] for r in records], [r["actor"] for r in records], VAL_ACTORS, TEST_ACTORS,
                              args.seed)
    splits = {"actor": (actor, f"actor-disjoint: actors shuffled with seed {args.seed}, {TEST_ACTORS:.0%} of them "
                               f"test, {VAL_ACTORS:.0%} validation, the rest train; the honest split")}
    not_written = {}
    if lists:
        parts, missing = authors_parts(lists, records, args.val_fraction, args.seed)
        splits["authors"] = (parts, f"OGM-GE/DGL train.csv/test.csv (every actor in both; for comparison with "
                                    f"their tables), {args.val_fraction:.0%} of train (stratified, seed "
                                    f"{args.seed}) held out as validation; {missing} listed clip(s) not prepared")
    else:
        not_written["authors"] = ("prepared without --authors-split: pass the folder with the authors' train.csv "
                                  "and test.csv to write it")
    info["class_order"] = args.class_order
    final = media.finish_folder(out, info, records, summary, CLASS_ORDERS[args.class_order], splits, not_written)
    return final, summary


def main(argv=None):
    media.main(prepare, build_parser().parse_args(argv),
               lambda info: f"CREMA-D, {info['front_end']} {tuple(info['feature_shape'])}")


if __name__ == "__main__":
    main()
