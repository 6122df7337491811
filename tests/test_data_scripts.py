"""data_scripts/: the audio front-ends against independent references, decoding, and the preparation of tiny
CREMA-D and Kinetics-Sounds trees in the real formats (resuming, corrupt clips, bad input)."""
import csv
import hashlib
import json
import shutil

import numpy as np
import pytest
import torch

from data_scripts import crema_d, kinetics_sounds, media
from data_scripts.tiny_media import (ACTORS, EMOTIONS, KS_CLASSES, SAMPLE_RATE, VIDEO_FPS, tone, write_flv,
                        write_kinetics_sounds, write_wav)


def numpy_log_stft(wave):
    """The DGL/OGM spectrogram written out in NumPy: tile x3, cut to 66,150, clip, centre with reflect padding,
    periodic Hann frames of 512 every 353 samples, log(|rfft| + 1e-7)."""
    x = np.clip(np.tile(wave, 3)[:66150], -1, 1).astype(np.float64)
    x = np.pad(x, 256, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(512) / 512)
    frames = np.stack([x[i * 353:i * 353 + 512] * window for i in range(1 + 66150 // 353)])
    return np.log(np.abs(np.fft.rfft(frames, axis=1)).T + 1e-7)  # (257, 188)


def test_log_stft_equals_a_numpy_stft():
    rng = np.random.default_rng(0)
    wave = (0.5 * np.sin(2 * np.pi * 440 * np.arange(30000) / 22050) + 0.3 * rng.standard_normal(30000))
    feature = media.log_stft(wave.astype(np.float32))
    assert feature.shape == (257, 188) and feature.dtype == np.float32
    np.testing.assert_allclose(feature, numpy_log_stft(wave.astype(np.float32)), atol=2e-3)
    assert np.argmax(feature[:, 100]) == round(440 / 22050 * 512)  # the tone's bin


def test_log_stft_pads_a_clip_shorter_than_a_third_of_its_window():
    feature = media.log_stft(np.full(10000, 0.5, np.float32))  # 3 tiles = 30,000 samples, then zeros
    assert feature.shape == (257, 188)
    assert feature[:, 120:160].max() == pytest.approx(np.log(1e-7), abs=1e-6)  # silence far from the signal


def test_fbank_equals_the_authors_kaldi_call():
    import torchaudio

    wave = tone(1000, 1.5)
    params = media.front_end("fbank", 200).params
    feature = media.kaldi_fbank(wave, params)
    x = torch.from_numpy(wave)[None]
    reference = torchaudio.compliance.kaldi.fbank(
        x - x.mean(), htk_compat=True, sample_frequency=16000, use_energy=False, window_type="hanning",
        num_mel_bins=128, dither=0.0, frame_shift=10)  # GeWu process_audio.py
    assert len(reference) == 1 + (24000 - 400) // 160  # 25-ms frames every 10 ms
    reference = torch.cat([reference, torch.zeros(200 - len(reference), 128)])
    reference = (reference + 4.503877) / (2 * 5.141276)
    assert feature.shape == (128, 200)
    np.testing.assert_allclose(feature, reference.T.numpy(), atol=1e-5)
    assert feature[:, -1] == pytest.approx(4.503877 / (2 * 5.141276))  # zero padding, normalised


def test_fbank_peaks_in_the_mel_band_of_the_tone():
    mel = lambda hz: 1127 * np.log(1 + hz / 700)
    centres = np.linspace(mel(20), mel(8000), 130)[1:-1]  # Kaldi: 128 triangles from 20 Hz to Nyquist
    hz = 700 * (np.exp(centres[50] / 1127) - 1)  # a tone at the centre of band 50
    feature = media.kaldi_fbank(tone(hz, 1.0), media.front_end("fbank", 90).params)
    assert np.argmax(feature[:, 40]) == 50


def test_resample_keeps_a_tone_and_the_duration():
    wave = tone(440, 2.0)
    out = media.resample(wave, 16000, 22050)
    assert len(out) == 44100
    spectrum = np.abs(np.fft.rfft(out))
    assert np.argmax(spectrum) * 22050 / len(out) == pytest.approx(440, abs=0.5)


def test_frames_are_the_ones_on_screen_at_each_second(tmp_path):
    write_flv(tmp_path / "v.flv", 2.5, (10, 200, 10))
    frames = media.decode_frames(tmp_path / "v.flv")
    assert len(frames) == 3 and frames[0].size == (64, 48)
    for second, image in enumerate(frames):
        row = np.asarray(image)[24].astype(int).sum(axis=1)  # brightness along the middle row
        assert np.argmax(row) == (4 * VIDEO_FPS * second) % 64  # the bar of frame 15 * second
        assert np.asarray(image)[5, 40, 1] == pytest.approx(200, abs=12)


def test_audio_decodes_to_the_written_wave(tmp_path):
    wave = tone(700, 1.0)
    write_wav(tmp_path / "a.wav", wave)
    pcm = (wave * 32767).astype("<i2")  # what write_wav stores; a decoder reads int16 / 32768
    np.testing.assert_array_equal(media.decode_audio(tmp_path / "a.wav", SAMPLE_RATE), pcm / np.float32(32768))


def read_manifest(folder):
    with open(folder / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def snapshot(folder):
    return {p.relative_to(folder): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_crema_d_prepared_folder(crema_raw, crema_lists, crema_prepared):
    raw, names = crema_raw
    info = json.loads((crema_prepared / "prepared.json").read_text())
    assert info["dataset"] == "crema-d" and info["front_end"] == "log-stft" and info["feature_shape"] == [257, 188]
    assert info["class_names"] == EMOTIONS and info["fps"] == 1 and info["clips"] == 24
    rows = read_manifest(crema_prepared)
    assert [r["clip"] for r in rows] == sorted(names)
    assert list(rows[0]) == ["clip", "actor", "label", "frames", "feature_shape", "source_sha256"]
    for row in rows:
        assert row["actor"] == row["clip"][:4] and row["label"] == row["clip"].split("_")[2]
        assert row["frames"] == "3" and row["feature_shape"] == "257x188"
        files = (raw / "VideoFlash" / f"{row['clip']}.flv").read_bytes() + (raw / "AudioWAV" / f"{row['clip']}.wav"
                                                                            ).read_bytes()
        assert row["source_sha256"] == hashlib.sha256(files).hexdigest()
        assert sorted(p.name for p in (crema_prepared / "frames" / row["clip"]).iterdir()) == \
            ["00000.jpg", "00001.jpg", "00002.jpg"]
    wave = media.resample(media.decode_audio(raw / "AudioWAV" / f"{names[0]}.wav", 16000), 16000, 22050)
    magnitude, reference = np.exp(np.load(crema_prepared / "audio" / f"{names[0]}.npy")), np.exp(numpy_log_stft(wave))
    np.testing.assert_allclose(magnitude, reference, atol=1e-5 * reference.max())  # float32 vs float64 STFT
    split = lambda name, part: (crema_prepared / "splits" / name / f"{part}.txt").read_text().split()
    actors = {part: {clip[:4] for clip in split("actor", part)} for part in ("train", "val", "test")}
    assert [len(a) for a in actors.values()] == [2, 1, 1] and set().union(*actors.values()) == set(ACTORS)
    assert {k: v for k, v in info["splits"]["actor"].items() if k != "description"} == \
        {"train": 12, "val": 6, "test": 6}
    assert split("authors", "test") == sorted(n for n in names if n.startswith("1004"))
    train, val = split("authors", "train"), split("authors", "val")
    assert len(val) == 6 and sorted(c.split("_")[2] for c in val) == sorted(EMOTIONS)  # 25 % of 3 per class
    assert sorted(train + val) == sorted(n for n in names if not n.startswith("1004"))
    assert (crema_prepared / "classes.txt").read_text().split() == EMOTIONS
    assert (crema_prepared / "skipped.csv").read_text() == "clip,reason\n"


def test_class_order_and_fbank_front_end(crema_raw, tmp_path, capsys):
    raw, _ = crema_raw
    before = snapshot(raw)
    crema_d.main(["--raw", str(raw), "--out", str(tmp_path / "out"), "--front-end", "fbank", "--class-order",
                  "alphabetical", "--workers", "2", "--quiet"])
    info = json.loads((tmp_path / "out" / "prepared.json").read_text())
    assert info["class_names"] == sorted(EMOTIONS) and info["feature_shape"] == [128, 300]
    assert info["front_end_params"]["frames"] == 300 and list(info["splits"]) == ["actor"]
    assert "--authors-split" in info["splits_not_written"]["authors"]
    assert np.load(tmp_path / "out" / "audio" / "1001_DFA_ANG_XX.npy").shape == (128, 300)
    assert snapshot(raw) == before  # nothing written into the raw folder
    assert "24 prepared now, 0 already done" in capsys.readouterr().out


def test_an_interrupted_run_resumes(crema_raw, crema_prepared, tmp_path, monkeypatch):
    raw, _ = crema_raw
    out = tmp_path / "out"
    real_log_stft, calls = media.log_stft, []

    def interrupted(wave, params=media.LOG_STFT):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real_log_stft(wave, params)

    monkeypatch.setattr(media, "log_stft", interrupted)
    with pytest.raises(SystemExit, match="run the same command again to resume"):
        crema_d.main(["--raw", str(raw), "--out", str(out), "--workers", "0", "--quiet"])
    assert len(list((out / "done").iterdir())) == 4 and not (out / "manifest.csv").exists()
    (out / "audio" / ".1004_DFA_SAD_XX.npy.tmp").write_bytes(b"half a file")  # a write cut short
    finished = {p.name: p.stat().st_mtime_ns for p in (out / "done").iterdir()}
    monkeypatch.setattr(media, "log_stft", real_log_stft)
    args = crema_d.build_parser().parse_args(["--raw", str(raw), "--out", str(out), "--workers", "0", "--quiet"])
    _, summary = crema_d.prepare(args)
    assert (summary.already_done, summary.prepared, summary.skipped) == (4, 20, [])
    assert {p.name: p.stat().st_mtime_ns for p in (out / "done").iterdir() if p.name in finished} == finished
    assert not list(out.rglob(".*.tmp"))
    assert (out / "manifest.csv").read_bytes() == (crema_prepared / "manifest.csv").read_bytes()
    for clip in ("1001_DFA_ANG_XX", "1004_DFA_SAD_XX"):
        assert (out / "audio" / f"{clip}.npy").read_bytes() == (crema_prepared / "audio" / f"{clip}.npy").read_bytes()
        assert (out / "frames" / clip / "00002.jpg").read_bytes() == \
            (crema_prepared / "frames" / clip / "00002.jpg").read_bytes()


def copy_raw(crema_raw, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(crema_raw[0], raw)
    return raw


def test_corrupt_and_truncated_clips_are_skipped_and_listed(crema_raw, tmp_path, capsys):
    raw = copy_raw(crema_raw, tmp_path)
    (raw / "VideoFlash" / "1001_DFA_ANG_XX.flv").write_bytes(np.random.default_rng(0).bytes(4000))
    video = raw / "VideoFlash" / "1002_DFA_HAP_XX.flv"
    video.write_bytes(video.read_bytes()[:video.stat().st_size // 3])
    audio = raw / "AudioWAV" / "1003_DFA_SAD_XX.wav"
    audio.write_bytes(audio.read_bytes()[:20])
    crema_d.main(["--raw", str(raw), "--out", str(tmp_path / "out"), "--workers", "2", "--quiet"])
    with open(tmp_path / "out" / "skipped.csv", newline="") as f:
        skipped = {clip: reason for clip, reason in list(csv.reader(f))[1:]}
    assert sorted(skipped) == ["1001_DFA_ANG_XX", "1002_DFA_HAP_XX", "1003_DFA_SAD_XX"]
    assert skipped["1001_DFA_ANG_XX"].startswith("cannot decode")
    assert skipped["1002_DFA_HAP_XX"].startswith("truncated: its video decodes to")
    assert skipped["1003_DFA_SAD_XX"].startswith("cannot decode")
    assert len(read_manifest(tmp_path / "out")) == 21 and not (tmp_path / "out" / "frames" / "1001_DFA_ANG_XX").exists()
    assert "21 prepared now, 0 already done (an earlier run), 3 skipped" in capsys.readouterr().out


def run_error(main, argv):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    return str(exit_.value.code)


def test_bad_input_gets_a_clear_error(crema_raw, crema_prepared, tmp_path):
    raw, _ = crema_raw
    (tmp_path / "empty").mkdir()
    assert "is not a CREMA-D folder: no VideoFlash/ and AudioWAV/" in \
        run_error(crema_d.main, ["--raw", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    assert "is inside the raw folder" in run_error(crema_d.main, ["--raw", str(raw), "--out", str(raw / "prepared")])
    assert "already holds a preparation with front_end 'log-stft' (asked 'fbank')" in \
        run_error(crema_d.main, ["--raw", str(raw), "--out", str(crema_prepared), "--front-end", "fbank"])
    copy = copy_raw(crema_raw, tmp_path)
    (copy / "AudioWAV" / "1002_DFA_FEA_XX.wav").unlink()
    assert "1 clip(s) have no audio AudioWAV/1002_DFA_FEA_XX.wav" in \
        run_error(crema_d.main, ["--raw", str(copy), "--out", str(tmp_path / "o")])
    (copy / "AudioWAV" / "1002_DFA_FEA_XX.wav").write_text("version https://git-lfs.github.com/spec/v1\noid x\n")
    assert "is a Git LFS pointer, not media: fetch the files with `git lfs pull`" in \
        run_error(crema_d.main, ["--raw", str(copy), "--out", str(tmp_path / "o")])
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "train.csv").write_text("1001_DFA_ANG_XX,NEU\n")
    (tmp_path / "lists" / "test.csv").write_text("1004_DFA_ANG_XX,ANG\n")
    assert "labels 1001_DFA_ANG_XX NEU, its name says ANG" in \
        run_error(crema_d.main, ["--raw", str(raw), "--out", str(crema_prepared), "--authors-split",
                                 str(tmp_path / "lists"), "--workers", "0", "--quiet"])
    (tmp_path / "lists" / "test.csv").unlink()
    assert "--authors-split takes the folder holding the authors' train.csv and test.csv" in \
        run_error(crema_d.main, ["--raw", str(raw), "--out", str(tmp_path / "o"), "--authors-split",
                                 str(tmp_path / "lists")])
    assert not (tmp_path / "o").exists()  # an error in the input stops the run before anything is written


@pytest.fixture(scope="module")
def ks_raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("ks-raw")
    return root, write_kinetics_sounds(root, clips_per_class=4, seconds=2.0)


def test_kinetics_sounds_with_the_gewu_lists(ks_raw, tmp_path, capsys):
    raw, labels = ks_raw
    order = [KS_CLASSES[2], KS_CLASSES[0], KS_CLASSES[1]]  # the lists' label indices, not sorted names
    (tmp_path / "lists").mkdir()
    for part, keep in (("train", lambda clip: "x3_" not in clip), ("test", lambda clip: "x3_" in clip)):
        (tmp_path / "lists" / f"my_{part}.txt").write_text(
            "".join(f"{clip},10,{order.index(name)}\n" for clip, name in labels.items() if keep(clip)))
    out = tmp_path / "out"
    kinetics_sounds.main(["--raw", str(raw), "--out", str(out), "--split", str(tmp_path / "lists"),
                          "--val-fraction", "0.25", "--workers", "0", "--quiet"])
    info = json.loads((out / "prepared.json").read_text())
    assert info["class_names"] == order and (out / "classes.txt").read_text().split() == order
    assert info["front_end"] == "fbank" and info["feature_shape"] == [128, 1024]
    assert {k: v for k, v in info["splits"]["authors"].items() if k != "description"} == \
        {"train": 6, "val": 3, "test": 3}
    assert {k: v for k, v in info["splits"]["stratified"].items() if k != "description"} == \
        {"train": 6, "val": 3, "test": 3}
    rows = read_manifest(out)
    assert len(rows) == 12 and {r["frames"] for r in rows} == {"2"} and rows[0]["label"] == labels[rows[0]["clip"]]
    feature = np.load(out / "audio" / f"{rows[0]['clip']}.npy")
    wave = media.decode_audio(raw / rows[0]["label"] / f"{rows[0]['clip']}.mp4", 16000)
    np.testing.assert_allclose(feature, media.kaldi_fbank(wave, media.front_end("fbank", 1024).params))
    assert "3 classes (the GeWu lists' label indices" in capsys.readouterr().out
    from minidgl.__main__ import main  # the prepared folder trains from the command line, on either split
    for split in ("authors", "stratified"):
        main(["train", "--dataset", "kinetics-sounds", "--data-root", str(out), "--split", split, "--encoder", "mlp",
              "--method", "dgl", "--epochs", "1", "--batch-size", "3", "--workers", "0", "--quiet"])
        assert capsys.readouterr().out.startswith("dgl: test accuracy ")
    (tmp_path / "lists" / "my_test.txt").write_text(f"{next(iter(labels))},10,0\n")  # label 0 is tapping_pen
    assert "gives yt0x0_000000_000010 label 0, but it lies in the folder playing_bagpipes, class 1" in \
        run_error(kinetics_sounds.main, ["--raw", str(raw), "--out", str(tmp_path / "o"), "--split",
                                         str(tmp_path / "lists")])
    assert "holds no video clip in a class folder" in \
        run_error(kinetics_sounds.main, ["--raw", str(tmp_path / "lists"), "--out", str(tmp_path / "o")])
