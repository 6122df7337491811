"""Prepare Kinetics-Sounds for minidgl: `python data_scripts/kinetics_sounds.py --raw DIR --out DIR`.

`--raw` holds one folder per class with that class's clips, each a video with its sound (.mp4, .mkv, .webm,
.avi, .mov or .flv), e.g. `DIR/playing_bagpipes/abc123_000010_000020.mp4`; it is read only. `--out` receives
frames at 1 fps, the audio as a Kaldi fbank at 16 kHz (the GeWu/OGM-GE `process_audio.py` setting: 128 mel
bins x 1024 frames), a manifest, the class-name table it used (`classes.txt`) and the splits.

Class order: `--classes FILE` (one name per line, index order); else, with `--split`, the order the GeWu lists'
labels give (label k = the folder of the clips listed with label k); else the sorted folder names. No index ->
name table for the GeWu lists is published, so the one used is always written out.

Splits, never mixed in one table:
- `stratified`: each class's clips shuffled with `--seed`, 20 % test, 10 % validation; always written.
- `authors`: the GeWu `my_train.txt` / `my_test.txt` (`--split DIR`; lines `<clip>,10,<label>`), a stratified
  `--val-fraction` of train held out as validation.
The DGL authors' own Kinetics-Sounds loader (log-STFT of a random 5-s crop, drawn at every load) cannot be
computed once ahead of training, so it is not offered.
"""
import argparse
import pathlib
import sys

if __package__ in (None, ""):  # run as `python data_scripts/kinetics_sounds.py`: import from this checkout
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from data_scripts import media  # noqa: E402
from minidgl.errors import InvalidValue, MissingFile  # noqa: E402

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".flv")
FBANK_FRAMES = 1024  # GeWu / OGM-GE process_audio.py: 10.24 s of 10-ms frames
TEST_FRACTION, VAL_FRACTION = 0.2, 0.1
EXPECTED = ("one folder per class holding that class's video clips with sound (e.g. RAW/playing_bagpipes/"
            "abc123_000010_000020.mp4)")


def find_clips(raw):
    """`{clip: media.Clip}` of the per-class folders of `raw` (labels are the folder names); a clear error when
    there are none or two clips share a name."""
    raw = pathlib.Path(raw)
    if not raw.is_dir():
        raise MissingFile(f"no folder {raw}; expected {EXPECTED}")
    clips = {}
    for folder in sorted(p for p in raw.iterdir() if p.is_dir()):
        for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS):
            if path.stem in clips:
                raise InvalidValue(f"two clips named {path.stem}: {clips[path.stem].video} and {path}; clip names "
                                   f"must be unique")
            clips[path.stem] = media.Clip(path.stem, folder.name, path, path)
    if not clips:
        raise MissingFile(f"{raw} holds no video clip in a class folder; expected {EXPECTED}")
    return clips


def read_gewu_split(folder):
    """`{"train": [(clip, label index)], "test": [...]}` from GeWu's `my_train.txt` and `my_test.txt`."""
    lists = {}
    for part in ("train", "test"):
        path = pathlib.Path(folder) / f"my_{part}.txt"
        if not path.is_file():
            raise MissingFile(f"no {path}: --split takes the folder holding GeWu's my_train.txt and my_test.txt "
                              f"(OGM-GE data/KineticSound/)")
        rows = [line.strip().split(",") for line in path.read_text().splitlines() if line.strip()]
        if any(len(row) != 3 or not row[2].strip().isdigit() for row in rows):
            raise InvalidValue(f"{path} is not a GeWu list: expected lines '<clip>,10,<label index>'")
        lists[part] = [(row[0].strip(), int(row[2])) for row in rows]
    return lists


def class_table(clips, classes_file=None, lists=None):
    """The class names in index order (see the module docstring), checked against `lists` when given."""
    folders = sorted({clip.label for clip in clips.values()})
    if classes_file:
        names = [line.strip() for line in pathlib.Path(classes_file).read_text().splitlines() if line.strip()]
    elif lists:
        folder_of = {}
        for clip, label in (row for rows in lists.values() for row in rows):
            if clip in clips:
                folder_of.setdefault(label, clips[clip].label)
        gaps = [k for k in range(max(folder_of, default=-1) + 1) if k not in folder_of]
        if gaps:
            raise InvalidValue(f"the GeWu lists' label(s) {gaps} have no clip in --raw, so their class names are "
                               f"unknown; pass --classes FILE with the names in index order")
        names = [folder_of[k] for k in range(len(folder_of))]
    else:
        return folders
    unknown = sorted(set(folders) - set(names))
    if unknown or len(set(names)) != len(names):
        raise InvalidValue(f"the class table does not match the folders: folders not in it {unknown}, names "
                           f"repeated {sorted({n for n in names if names.count(n) > 1})}")
    if lists:
        for part, rows in lists.items():
            for clip, label in rows:
                if clip in clips and (label >= len(names) or names[label] != clips[clip].label):
                    raise InvalidValue(f"my_{part}.txt gives {clip} label {label}, but it lies in the folder "
                                       f"{clips[clip].label}, class {names.index(clips[clip].label)} of the table "
                                       f"used; check --classes or the folders")
    return names


def build_parser():
    parser = argparse.ArgumentParser(prog="python data_scripts/kinetics_sounds.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw", type=pathlib.Path, required=True, help="one folder of clips per class (read only)")
    media.add_run_arguments(parser)
    parser.add_argument("--fbank-frames", type=int, default=FBANK_FRAMES,
                        help=f"fbank frames kept, zero-padded or cut (default {FBANK_FRAMES}, GeWu)")
    parser.add_argument("--classes", type=pathlib.Path, help="class names in index order, one per line")
    parser.add_argument("--split", type=pathlib.Path, help="folder with GeWu's my_train.txt and my_test.txt")
    parser.add_argument("--val-fraction", type=float, default=VAL_FRACTION,
                        help="stratified share held out as validation (default 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the stratified split and the validation part")
    return parser


def prepare(args):
    """Prepare `args.raw` into `args.out`; returns `(prepared.json content, media.Summary)`."""
    if not 0 < args.val_fraction < 1 - TEST_FRACTION:
        raise InvalidValue(f"--val-fraction must be between 0 and {1 - TEST_FRACTION}, got {args.val_fraction}")
    front = media.front_end("fbank", args.fbank_frames)
    clips = find_clips(args.raw)
    lists = read_gewu_split(args.split) if args.split else None
    names = class_table(clips, args.classes, lists)
    info = media.start_folder(args.out, args.raw, "kinetics-sounds", front, "data_scripts/kinetics_sounds.py")
    out = args.out.resolve()
    records, summary = media.prepare_all(list(clips.values()), out, front, args.workers, progress=not args.quiet)
    if not records:
        raise InvalidValue(f"no clip of {args.raw} could be prepared (see {out / 'skipped.csv'})")
    labels = [r["label"] for r in records]
    stratified = media.stratified_parts([r["clip"] for r in records], labels, args.val_fraction, TEST_FRACTION,
                                        args.seed)
    splits = {"stratified": (stratified, f"each class shuffled with seed {args.seed}: {TEST_FRACTION:.0%} test, "
                                         f"{args.val_fraction:.0%} validation, the rest train")}
    not_written = {}
    if lists:
        prepared = {r["clip"]: r["label"] for r in records}
        train = [clip for clip, _ in lists["train"] if clip in prepared]
        parts = media.stratified_parts(train, [prepared[c] for c in train], args.val_fraction, 0.0, args.seed)
        parts["test"] = [clip for clip, _ in lists["test"] if clip in prepared]
        missing = len(lists["train"]) + len(lists["test"]) - len(train) - len(parts["test"])
        splits["authors"] = (parts, f"GeWu my_train.txt/my_test.txt, {args.val_fraction:.0%} of train (stratified, "
                                    f"seed {args.seed}) held out as validation; {missing} listed clip(s) not prepared")
    else:
        not_written["authors"] = "prepared without --split: pass the folder with GeWu's my_train.txt and my_test.txt"
    info["class_order"] = ("--classes file" if args.classes else "the GeWu lists' label indices" if lists
                           else "sorted folder names")
    final = media.finish_folder(out, info, records, summary, names, splits, not_written)
    return final, summary


def main(argv=None):
    media.main(prepare, build_parser().parse_args(argv),
               lambda info: f"Kinetics-Sounds, {info['front_end']} {tuple(info['feature_shape'])}, "
                            f"{len(info['class_names'])} classes ({info['class_order']}; table in classes.txt)")


if __name__ == "__main__":
    main()
