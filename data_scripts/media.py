"""What the preparation scripts share: decode a clip (frames at 1 fps, audio), compute its audio feature with
one of two front-ends, write the outputs atomically, run the clips in parallel and resumably, write the folder.

Decoding uses PyAV (`av`, pinned in the `data` extra): a maintained binding to FFmpeg whose wheel bundles
FFmpeg's libraries, so FLV (CREMA-D), MP4/WebM/MKV (Kinetics-Sounds) and WAV decode with no system ffmpeg, no
OpenCV and no librosa, with exact timestamps and errors raised as exceptions (a corrupt clip is skipped, not a
crash). Sample-rate conversion is `torchaudio.functional.resample` with the Kaiser-windowed sinc that torchaudio
documents as librosa's `kaiser_best` (the authors' `librosa.load(sr=...)` resampled with it before librosa 0.10;
librosa >= 0.10 uses soxr, so no run of theirs is matched to the last bit either way).

The prepared folder (`OUT`), format `minidgl.data.clips.FORMAT_VERSION`:

    prepared.json           dataset, format version, front-end and its parameters, feature shape, fps,
                            class names in index order, the splits and their sizes, library versions
    manifest.csv            one row per prepared clip: clip, [actor,] label, frames, feature_shape, source_sha256
    classes.txt             the class names, one per line, in index order
    skipped.csv             clip, reason: the clips this run could not prepare (re-tried by the next run)
    frames/<clip>/00000.jpg the frame on screen at second 0, 00001.jpg at second 1, ... (JPEG, original size)
    audio/<clip>.npy        the audio feature, float32 (frequency, time)
    done/<clip>.json        the clip's manifest row, written last: a clip with one is finished and not redone
    splits/<name>/{train,val,test}.txt   clip names, one per line

Every file is written under a temporary name and renamed, so an interrupted run leaves no half-written output
under a final name; the next run removes the temporary ones and does the unfinished clips only.
"""
import concurrent.futures
import csv
import hashlib
import json
import os
import pathlib
import random
import shutil
import sys
from dataclasses import dataclass, field

import numpy as np

from minidgl.data.clips import FORMAT_VERSION
from minidgl.errors import InvalidValue, MinidglError
from minidgl.files import write_atomically

FPS = 1
JPEG_QUALITY = 95                # OpenCV's default, which the authors' frame extraction used
TRUNCATION_TOLERANCE_S = 1.0     # a stream that decodes this much shorter than its header declares is truncated
LOG_STFT = {"sample_rate": 22050, "tile": 3, "samples": 66150, "clip": 1.0, "n_fft": 512, "hop": 353,
            "window": "hann (periodic)", "center": True, "pad_mode": "reflect", "log_offset": 1e-7}
FBANK = {"sample_rate": 16000, "num_mel_bins": 128, "frame_shift_ms": 10, "frame_length_ms": 25,
         "window_type": "hanning", "dither": 0.0, "htk_compat": True, "use_energy": False, "remove_mean": True,
         "norm_mean": -4.503877, "norm_std": 5.141276}
KAISER_BEST = {"lowpass_filter_width": 64, "rolloff": 0.9475937167399596, "resampling_method": "sinc_interp_kaiser",
               "beta": 14.769656459379492}


class ClipError(Exception):
    """A clip that cannot be prepared (the reason is the message): it is skipped and listed, the run goes on."""


@dataclass(frozen=True)
class Clip:
    """One clip to prepare: its `name`, class `label` (a name), the files to read its `video` and `audio`
    from (the same file for a video with sound) and extra manifest columns `fields` (e.g. the actor)."""

    name: str
    label: str
    video: pathlib.Path
    audio: pathlib.Path
    fields: dict = field(default_factory=dict)


@dataclass(frozen=True)
class FrontEnd:
    """An audio front-end: its `name` and `params` (recorded in prepared.json); `shape` of its feature."""

    name: str
    params: dict

    @property
    def shape(self):
        """`(frequency, time)` of the feature."""
        if self.name == "log-stft":
            p = self.params
            return (p["n_fft"] // 2 + 1, 1 + p["samples"] // p["hop"])
        return (self.params["num_mel_bins"], self.params["frames"])

    def __call__(self, wave):
        """The feature `(frequency, time)` float32 of a mono `wave` `(samples,)` at `params["sample_rate"]`."""
        return log_stft(wave, self.params) if self.name == "log-stft" else kaldi_fbank(wave, self.params)


def front_end(name, fbank_frames=None):
    """The front-end `name`: "log-stft" (the DGL/OGM CREMA-D loader's, 257 x 188) or "fbank" (the Kaldi fbank
    of MMPareto / BalanceBenchmark / GeWu, 128 mel bins x `fbank_frames`)."""
    if name == "log-stft":
        return FrontEnd(name, dict(LOG_STFT))
    if name == "fbank":
        if not (isinstance(fbank_frames, int) and fbank_frames >= 1):
            raise InvalidValue(f"the fbank front-end needs a fixed number of frames >= 1, got {fbank_frames!r}")
        return FrontEnd(name, {**FBANK, "frames": fbank_frames})
    raise InvalidValue(f"unknown audio front-end {name!r}; choose 'log-stft' or 'fbank'")


def log_stft(wave, params=LOG_STFT):
    """DGL/OGM CREMA-D spectrogram `(257, 188)` of `wave` `(samples,)` at 22,050 Hz: tiled 3 times, cut to
    66,150 samples (zero-padded if still shorter), clipped to [-1, 1], `log(|STFT| + 1e-7)` with n_fft 512,
    hop 353, periodic Hann window, centred frames with reflect padding (librosa's `stft` before 0.10)."""
    import torch

    x = np.tile(np.asarray(wave, dtype=np.float32), params["tile"])[:params["samples"]]
    x = np.clip(np.pad(x, (0, params["samples"] - len(x))), -params["clip"], params["clip"])
    window = torch.hann_window(params["n_fft"])  # periodic, as scipy's get_window("hann", n) that librosa uses
    spectrum = torch.stft(torch.from_numpy(x), params["n_fft"], params["hop"], window=window, center=params["center"],
                          pad_mode=params["pad_mode"], return_complex=True)
    return torch.log(spectrum.abs() + params["log_offset"]).numpy().astype(np.float32)  # (257, 188)


def kaldi_fbank(wave, params):
    """Kaldi log-mel fbank `(128, frames)` of `wave` `(samples,)` at 16 kHz, as the GeWu / MMPareto code makes it:
    mean removed from the wave, `torchaudio.compliance.kaldi.fbank` (128 bins, 25-ms Hanning frames every 10 ms,
    no dither, HTK-compatible, no energy), zero-padded or cut to `frames`, normalised `(x + 4.503877) / (2 *
    5.141276)`. Stored transposed to (frequency, time), like the log-STFT; the authors' tensors are (time, 128)."""
    import torch
    import torchaudio

    samples = int(params["sample_rate"] * params["frame_length_ms"] / 1000)
    if len(wave) < samples:
        raise ClipError(f"audio of {len(wave)} samples is shorter than one {params['frame_length_ms']}-ms frame")
    x = torch.as_tensor(np.asarray(wave, dtype=np.float32))[None]
    x = x - x.mean() if params["remove_mean"] else x
    fbank = torchaudio.compliance.kaldi.fbank(
        x, htk_compat=params["htk_compat"], sample_frequency=params["sample_rate"], use_energy=params["use_energy"],
        window_type=params["window_type"], num_mel_bins=params["num_mel_bins"], dither=params["dither"],
        frame_shift=params["frame_shift_ms"], frame_length=params["frame_length_ms"])  # (time, 128)
    fbank = torch.nn.functional.pad(fbank, (0, 0, 0, max(0, params["frames"] - len(fbank))))[:params["frames"]]
    fbank = (fbank - params["norm_mean"]) / (2 * params["norm_std"])
    return fbank.T.contiguous().numpy().astype(np.float32)  # (128, frames)


def resample(wave, from_rate, to_rate):
    """`wave` `(samples,)` converted from `from_rate` to `to_rate` Hz (torchaudio, librosa's `kaiser_best`)."""
    if from_rate == to_rate:
        return wave
    import torch
    import torchaudio

    x = torchaudio.functional.resample(torch.from_numpy(wave), from_rate, to_rate, **KAISER_BEST)
    return x.numpy()


def _check_complete(container, decoded_s, what):
    declared = container.duration / 1e6 if container.duration else None
    if declared is not None and decoded_s < declared - TRUNCATION_TOLERANCE_S:
        raise ClipError(f"truncated: its {what} decodes to {decoded_s:.2f} s of the {declared:.2f} s its header "
                        f"declares")


def decode_frames(path):
    """The frames of the video `path` at 1 fps as PIL RGB images at their original size: image k is the frame
    on screen at k seconds (the last one whose timestamp is <= k), for k = 0 ... the last frame's second.

    The authors' extraction keeps the first frame of every second by frame count; for constant-rate video both
    rules pick the same frames.
    """
    import av

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ClipError("no video stream")
        stream = container.streams.video[0]
        rate = float(stream.average_rate or 25)
        kept, previous, previous_t, start = [], None, 0.0, None
        for i, frame in enumerate(container.decode(stream)):
            t = frame.time if frame.time is not None else i / rate
            start = t if start is None else start
            t -= start
            if previous is not None and len(kept) < t:
                image = previous.to_image()
                while len(kept) < t:  # second len(kept) ends before this frame: `previous` is on screen then
                    kept.append(image)
            previous, previous_t = frame, t
        if previous is None:
            raise ClipError("no video frames could be decoded")
        image = previous.to_image()
        while len(kept) <= previous_t:
            kept.append(image)
        _check_complete(container, previous_t + 1 / rate, "video")
    return kept


def decode_audio(path, sample_rate):
    """The first audio stream of `path` as a mono float32 wave `(samples,)` at `sample_rate` Hz (channels
    averaged, as `librosa.load(mono=True)`; values in [-1, 1] for integer PCM)."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise ClipError("no audio stream")
        stream = container.streams.audio[0]
        to_float = av.AudioResampler(format="fltp")  # sample format only: the rate and channels are kept
        chunks = [f.to_ndarray() for frame in container.decode(stream) for f in to_float.resample(frame)]
        chunks += [f.to_ndarray() for f in to_float.resample(None)]
        if not chunks:
            raise ClipError("no audio samples could be decoded")
        wave = np.concatenate(chunks, axis=1).mean(axis=0).astype(np.float32)  # (samples,)
        _check_complete(container, len(wave) / stream.rate, "audio")
    return resample(wave, stream.rate, sample_rate)


def source_sha256(paths):
    """SHA-256 of the bytes of the distinct files `paths`, in order (identifies the raw clip a row came from)."""
    digest = hashlib.sha256()
    for path in dict.fromkeys(paths):
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _save_npy(path, array):
    with open(path, "wb") as f:  # a file object: np.save would add ".npy" to the temporary name
        np.save(f, array)


def write_text(path, text):
    write_atomically(path, lambda p: p.write_text(text))


def prepare_clip(clip, out, front):
    """Decode `clip`, write its frames and its `front` feature under `out`, then its record `done/<clip>.json`.
    Returns the record (its manifest row). Raises `ClipError` (or PyAV's error) before writing anything when
    the clip cannot be decoded."""
    import av

    try:
        frames = decode_frames(clip.video)
        feature = front(decode_audio(clip.audio, front.params["sample_rate"]))
    except av.error.FFmpegError as error:
        raise ClipError(f"cannot decode: {error}") from None
    folder = out / "frames" / clip.name
    temporary = folder.with_name(f".{clip.name}.tmp")  # the frames, written as a folder renamed in one step
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    for second, image in enumerate(frames):
        image.save(temporary / f"{second:05d}.jpg", quality=JPEG_QUALITY)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(temporary, folder)
    write_atomically(out / "audio" / f"{clip.name}.npy", lambda p: _save_npy(p, feature))
    record = {"clip": clip.name, **clip.fields, "label": clip.label, "frames": len(frames),
              "feature_shape": "x".join(map(str, feature.shape)),
              "source_sha256": source_sha256([clip.video, clip.audio])}
    write_text(out / "done" / f"{clip.name}.json", json.dumps(record))
    return record


def _prepare_or_skip(clip, out, front):
    """`(record, None)` for a prepared clip, `(None, reason)` for one that cannot be."""
    try:
        return prepare_clip(clip, out, front), None
    except ClipError as error:
        return None, str(error)


def _one_thread():
    import torch

    torch.set_num_threads(1)


@dataclass
class Summary:
    """What a run did: clips `total`, `already_done` by an earlier run, `prepared` now, `skipped` [(clip, reason)]."""

    total: int
    already_done: int
    prepared: int
    skipped: list

    def __str__(self):
        text = (f"{self.total} clips: {self.prepared} prepared now, {self.already_done} already done (an earlier "
                f"run), {len(self.skipped)} skipped")
        return text + "".join(f"\n  skipped {clip}: {reason}" for clip, reason in self.skipped[:20]) + \
            (f"\n  ... and {len(self.skipped) - 20} more" if len(self.skipped) > 20 else "")


def prepare_all(clips, out, front, workers=0, progress=True):
    """Prepare every clip of `clips` under `out` that has no `done/` record yet, on `workers` processes (0: in
    this process), with a progress bar. Returns `(records, summary)`: the records of every finished clip, the
    earlier runs' included, sorted by clip name, and a `Summary`."""
    from tqdm.auto import tqdm

    todo = [clip for clip in clips if not (out / "done" / f"{clip.name}.json").exists()]
    skipped = []
    bar = tqdm(total=len(todo), desc="clips", unit="clip", disable=not progress)
    if workers == 0:
        results = (_prepare_or_skip(clip, out, front) for clip in todo)
        for clip, (record, reason) in zip(todo, results):
            skipped += [(clip.name, reason)] if reason else []
            bar.update()
    else:
        with concurrent.futures.ProcessPoolExecutor(workers, initializer=_one_thread) as pool:
            futures = {pool.submit(_prepare_or_skip, clip, out, front): clip for clip in todo}
            try:
                for future in concurrent.futures.as_completed(futures):
                    record, reason = future.result()
                    skipped += [(futures[future].name, reason)] if reason else []
                    bar.update()
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    bar.close()
    records = [json.loads((out / "done" / f"{clip.name}.json").read_text()) for clip in clips
               if (out / "done" / f"{clip.name}.json").exists()]
    summary = Summary(len(clips), len(clips) - len(todo), len(todo) - len(skipped), sorted(skipped))
    return sorted(records, key=lambda r: r["clip"]), summary


def versions():
    """Versions of the libraries whose output the prepared folder depends on."""
    import av
    import torch
    import torchaudio

    return {"av": av.__version__, "libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
            "torch": torch.__version__, "torchaudio": torchaudio.__version__, "numpy": np.__version__}


def start_folder(out, raw, dataset, front, script):
    """Check that `out` may receive this preparation and set it up; returns its initial prepared.json content.

    `out` must not lie inside `raw` (nothing is written into the raw folder); an `out` holding a preparation
    with another dataset, format version or front-end is refused; temporary files of an interrupted run go.
    """
    raw, out = pathlib.Path(raw).resolve(), pathlib.Path(out).resolve()
    if out == raw or raw in out.parents:
        raise InvalidValue(f"--out {out} is inside the raw folder {raw}; nothing is written into the raw folder, "
                           f"choose an --out outside it")
    info = {"dataset": dataset, "format_version": FORMAT_VERSION, "created_by": script, "front_end": front.name,
            "front_end_params": front.params, "feature_shape": list(front.shape),
            "feature_layout": "audio/<clip>.npy, float32, (frequency, time)", "fps": FPS,
            "frames": "frames/<clip>/<second:05d>.jpg, the frame on screen at that second, original size",
            "versions": versions()}
    existing = out / "prepared.json"
    if existing.exists():
        old = json.loads(existing.read_text())
        asked = {k: info[k] for k in ("dataset", "format_version", "front_end")}
        asked.update({f"front-end parameter {k}": v for k, v in front.params.items()})
        found = {k: old.get(k) for k in ("dataset", "format_version", "front_end")}
        found.update({f"front-end parameter {k}": v for k, v in old.get("front_end_params", {}).items()})
        diff = [f"{k} {found.get(k)!r} (asked {v!r})" for k, v in asked.items() if found.get(k) != v]
        if diff:
            raise InvalidValue(f"{out} already holds a preparation with {diff[0]}; choose a new --out, or ask "
                               f"for the same to resume it")
    for sub in ("frames", "audio", "done"):
        (out / sub).mkdir(parents=True, exist_ok=True)
        for leftover in (out / sub).glob(".*.tmp"):
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    if not existing.exists():
        write_text(existing, json.dumps({**info, "splits": {}}, indent=2))
    return info


def finish_folder(out, info, records, summary, class_names, splits, not_written=None):
    """Write manifest.csv, classes.txt, skipped.csv, `splits` `{name: ({part: [clips]}, description)}` and
    the final prepared.json (`info` plus the classes, counts and split sizes)."""
    for name, (parts, _) in splits.items():
        empty = [part for part, clips in parts.items() if not clips]
        if empty:
            raise InvalidValue(f"the {name} split has no {' and no '.join(empty)} clips "
                               f"({ {part: len(clips) for part, clips in parts.items()} }): too few clips for it")
    columns = list(records[0])

    def manifest(path):
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, columns)
            writer.writeheader()
            writer.writerows(records)

    def skipped(path):
        with open(path, "w", newline="") as f:
            csv.writer(f).writerows([("clip", "reason"), *summary.skipped])

    write_atomically(out / "manifest.csv", manifest)
    write_atomically(out / "skipped.csv", skipped)
    write_text(out / "classes.txt", "".join(f"{name}\n" for name in class_names))
    sizes = {}
    for name, (parts, description) in splits.items():
        (out / "splits" / name).mkdir(parents=True, exist_ok=True)
        for part, clips in parts.items():
            write_text(out / "splits" / name / f"{part}.txt", "".join(f"{clip}\n" for clip in sorted(clips)))
        sizes[name] = {**{part: len(clips) for part, clips in parts.items()}, "description": description}
    final = {**info, "class_names": list(class_names), "clips": len(records), "skipped": len(summary.skipped),
             "splits": sizes, "splits_not_written": not_written or {}}
    write_text(out / "prepared.json", json.dumps(final, indent=2))
    return final


def stratified_parts(clips, labels, val_fraction, test_fraction, seed):
    """`{"train", "val", "test": [clips]}`: each class's clips shuffled with `seed`, then `test_fraction` and
    `val_fraction` of them (rounded) go to test and validation, the rest to train."""
    parts = {"train": [], "val": [], "test": []}
    by_class = {}
    for clip, label in zip(clips, labels):
        by_class.setdefault(label, []).append(clip)
    rng = random.Random(seed)
    for label in sorted(by_class):
        members = sorted(by_class[label])
        rng.shuffle(members)
        n_test, n_val = round(test_fraction * len(members)), round(val_fraction * len(members))
        parts["test"] += members[:n_test]
        parts["val"] += members[n_test:n_test + n_val]
        parts["train"] += members[n_test + n_val:]
    return parts


def group_parts(clips, groups, val_fraction, test_fraction, seed):
    """`{"train", "val", "test": [clips]}` with no group (e.g. actor) in two parts: the sorted groups are
    shuffled with `seed`; `test_fraction` and `val_fraction` of them (rounded, at least one each) hold the test
    and validation clips. Needs at least three groups."""
    names = sorted(set(groups))
    if len(names) < 3:
        raise InvalidValue(f"a group-disjoint train/val/test split needs at least 3 groups (actors), got {names}")
    random.Random(seed).shuffle(names)
    n_test = max(1, round(test_fraction * len(names)))
    n_val = max(1, round(val_fraction * len(names)))
    part_of = {g: "test" if k < n_test else "val" if k < n_test + n_val else "train" for k, g in enumerate(names)}
    parts = {"train": [], "val": [], "test": []}
    for clip, group in zip(clips, groups):
        parts[part_of[group]].append(clip)
    return parts


def add_run_arguments(parser):
    """The options both scripts share: `--out` (the prepared folder), `--workers` and `--quiet`."""
    parser.add_argument("--out", type=pathlib.Path, required=True, help="the prepared folder to write (or resume)")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1),
                        help="decoding processes (0: in this process)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def main(prepare, args, heading):
    """What each script's `main` does: `prepare(args)` -> `(prepared.json content, Summary)`, then a report that
    starts with `heading(info)`. User errors and Ctrl-C end in one line (finished clips are kept)."""
    try:
        info, summary = prepare(args)
    except MinidglError as error:
        sys.exit(f"error: {error}")
    except KeyboardInterrupt:
        sys.exit("interrupted: finished clips are kept; run the same command again to resume")
    print(f"{heading(info)}: {summary}")
    print("splits: " + "; ".join(f"{name} " + "/".join(str(s[p]) for p in ("train", "val", "test"))
                                 for name, s in info["splits"].items()) + " (train/val/test)")
    for name, reason in info["splits_not_written"].items():
        print(f"split {name} not written: {reason}")
    print(f"written to {args.out}")
