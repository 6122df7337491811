"""minidgl.data.clips: the clip dataset over a prepared folder, its batches, and training on it from the command
line (prepared from tiny real-format media by data_scripts/crema_d.py)."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import minidgl
from minidgl.__main__ import main
from minidgl.data.clips import ClipDataset, frame_indices, load_crema_d, load_prepared
from minidgl.errors import InvalidValue, MissingFile

ROOT = pathlib.Path(__file__).resolve().parents[1]
MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def test_frame_indices_sample_segments_in_time_order():
    assert frame_indices(10, 3, train=False).tolist() == [1, 5, 8]  # the middle of each third
    assert frame_indices(3, 1, train=False).tolist() == [1]
    assert frame_indices(2, 3, train=False).tolist() == [0, 1, 1]  # fewer frames than asked: repeats
    torch.manual_seed(0)
    for _ in range(20):
        index = frame_indices(10, 3, train=True).tolist()
        assert 0 <= index[0] <= 3 and 3 <= index[1] <= 6 and 6 <= index[2] <= 9


def reference_test_frame(path):
    """The authors' test transform written with PIL and NumPy: resize to 224 x 224, scale, ImageNet-normalise."""
    image = np.asarray(Image.open(path).convert("RGB").resize((224, 224), Image.BILINEAR)) / 255.0
    return torch.from_numpy(((image - MEAN) / STD).transpose(2, 0, 1)).float()  # (3, 224, 224)


def test_a_test_sample_is_the_stored_audio_and_the_middle_frames(crema_prepared):
    clip = "1002_DFA_HAP_XX"
    data = ClipDataset(crema_prepared, [clip], [1], [3], frames=2, train=False)
    inputs, label = data[0]
    assert label == 1 and inputs["visual"].shape == (3, 2, 224, 224) and inputs["visual"].dtype == torch.float32
    stored = np.load(crema_prepared / "audio" / f"{clip}.npy")
    assert torch.equal(inputs["audio"], torch.from_numpy(stored)[None]) and inputs["audio"].shape == (1, 257, 188)
    for k, second in enumerate(frame_indices(3, 2, train=False).tolist()):  # seconds 0 and 2
        expected = reference_test_frame(crema_prepared / "frames" / clip / f"{second:05d}.jpg")
        torch.testing.assert_close(inputs["visual"][:, k], expected, atol=0.05, rtol=0)  # PIL vs torchvision resize


def test_training_samples_are_random_crops(crema_prepared):
    data = ClipDataset(crema_prepared, ["1001_DFA_NEU_XX"], [0], [3], frames=1, train=True)
    torch.manual_seed(0)
    first, again = data[0][0]["visual"], data[0][0]["visual"]
    assert first.shape == again.shape == (3, 1, 224, 224) and not torch.equal(first, again)
    torch.manual_seed(0)
    assert torch.equal(data[0][0]["visual"], first)  # the global generator (a worker's, in a DataLoader) decides


def test_splits_build_a_resnet_and_feed_it(crema_prepared):
    splits = load_crema_d(crema_prepared, batch_size=4, workers=0)
    assert splits.modalities == ["audio", "visual"] and splits.num_classes == 6
    assert splits.train.class_names == ["NEU", "HAP", "SAD", "FEA", "DIS", "ANG"]
    assert splits.input_shapes == {"audio": (1, 257, 188), "visual": (3, 1, 224, 224)}
    assert (len(splits.train), len(splits.val), len(splits.test)) == (3, 2, 2)  # 12 / 6 / 6 clips in fours
    assert splits.to("cpu") == splits  # batches move to the device as they come
    model = minidgl.build_model(splits, encoder="resnet18").eval()
    inputs, labels = next(iter(splits.test))
    assert labels.dtype == torch.long and labels.shape == (4,)
    with torch.no_grad():
        assert model(inputs).fused_logits.shape == (4, 6)


def epoch_labels(batches):
    return [labels.tolist() for _, labels in batches]


def test_the_training_order_is_seeded(crema_prepared):
    order = lambda seed, workers: epoch_labels(load_crema_d(crema_prepared, batch_size=4, workers=workers,
                                                            seed=seed, split="authors").train)
    assert order(0, 0) == order(0, 2)
    assert order(0, 0) != order(1, 0)
    test_order = epoch_labels(load_crema_d(crema_prepared, batch_size=4, workers=0).test)
    clips = (crema_prepared / "splits" / "actor" / "test.txt").read_text().split()
    names = ["NEU", "HAP", "SAD", "FEA", "DIS", "ANG"]
    assert sum(test_order, []) == [names.index(clip.split("_")[2]) for clip in clips]  # test: list order


def test_an_epochs_order_depends_on_the_seed_and_epoch_alone(crema_prepared):
    """What an exact resume needs: epoch 2's order (and augmentations, here with workers) is the same whether the
    loader went through epochs 0 and 1 first or starts at epoch 2."""
    def epoch(e, loader):
        loader.set_epoch(e)
        torch.manual_seed(e)  # the main process's generator, which a checkpoint restores
        return [(labels.tolist(), inputs["visual"].sum().item()) for inputs, labels in loader]
    straight = load_crema_d(crema_prepared, batch_size=4, workers=1, split="authors").train
    [epoch(e, straight) for e in (0, 1)]
    resumed = load_crema_d(crema_prepared, batch_size=4, workers=1, split="authors").train
    assert epoch(2, straight) == epoch(2, resumed)
    assert epoch(1, resumed) != epoch(2, resumed)


def test_a_process_group_shards_the_training_split(crema_prepared, tmp_path):
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        splits = load_crema_d(crema_prepared, batch_size=12, workers=0)
        sampler = splits.train.sampler
        assert isinstance(sampler, torch.utils.data.distributed.DistributedSampler) and sampler.seed == 0
        first = epoch_labels(splits.train)
        assert epoch_labels(splits.train) == first
        splits.train.set_epoch(1)
        assert epoch_labels(splits.train) != first and sorted(sum(epoch_labels(splits.train), [])) == \
            sorted(sum(first, []))
        assert splits.val.sampler is None and splits.test.sampler is None
    finally:
        torch.distributed.destroy_process_group()


def test_a_wrong_folder_gets_a_clear_error(crema_prepared, tmp_path):
    with pytest.raises(MissingFile, match="no prepared crema-d folder at .*; make it with `python data_scripts/"):
        load_crema_d(tmp_path / "nowhere")
    with pytest.raises(InvalidValue, match="was prepared for 'crema-d', not 'kinetics-sounds'"):
        load_prepared(crema_prepared, "kinetics-sounds")
    with pytest.raises(InvalidValue, match="holds audio from the 'log-stft' front-end, not 'fbank'"):
        load_crema_d(crema_prepared, front_end="fbank")
    with pytest.raises(InvalidValue, match=r"has the splits \['actor', 'authors'\], not 'speaker'"):
        load_crema_d(crema_prepared, split="speaker")
    info = json.loads((crema_prepared / "prepared.json").read_text())
    for change, message in (({"format_version": 0}, "format version 0, this minidgl reads version 1"),
                            ({"splits": {}}, "did not finish .* run the same")):
        (tmp_path / "old").mkdir(exist_ok=True)
        (tmp_path / "old" / "prepared.json").write_text(json.dumps({**info, **change}))
        with pytest.raises(InvalidValue, match=message):
            load_crema_d(tmp_path / "old")


def test_prepare_then_train_from_the_command_line(crema_raw, tmp_path, capsys):
    """The whole pipeline as a user runs it: the preparation script as a subprocess from the repository root,
    then `python -m minidgl train` (its `main`, in this process: a second interpreter would add seconds of
    imports). Slow for a unit test (about 5 s: it decodes 24 clips and trains once) because it is the only test
    of the two commands together. The model uses MLP encoders, not ResNet-18, which takes about 1.5 s per step
    of 4 clips on one CPU thread; test_splits_build_a_resnet_and_feed_it covers ResNet-18 on these batches."""
    env = {**os.environ, "MINIDGL_CACHE": "off"}
    out = tmp_path / "prepared"
    prepare = subprocess.run([sys.executable, "data_scripts/crema_d.py", "--raw", str(crema_raw[0]), "--out",
                              str(out), "--workers", "2", "--quiet"], cwd=ROOT, env=env, capture_output=True,
                             text=True)
    assert prepare.returncode == 0, prepare.stderr
    assert "24 clips: 24 prepared now" in prepare.stdout and "splits: actor 12/6/6" in prepare.stdout
    main(["train", "--dataset", "crema-d", "--data-root", str(out), "--encoder", "mlp", "--method", "joint",
          "--epochs", "1", "--batch-size", "4", "--workers", "1", "--quiet"])
    assert capsys.readouterr().out.startswith("joint: test accuracy ")


@pytest.mark.parametrize("argv,message", [
    (["--dataset", "crema-d"], "pass --data-root DIR"),
    (["--dataset", "crema-d", "--data-root", "x", "--snr-db", "3"], "apply to av-digits only"),
    (["--dataset", "gaussian-toy", "--data-root", "x", "--frames", "2"],
     "--data-root, --frames are for real clips (crema-d, kinetics-sounds), not the built-in 'gaussian-toy'"),
])
def test_command_line_refuses_mixed_options(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", *argv, "--epochs", "1"])
    assert exit_.value.code == 2 and message in capsys.readouterr().err  # a usage error, before any training


def test_command_line_names_a_missing_prepared_folder(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--dataset", "kinetics-sounds", "--data-root", str(tmp_path)])
    assert exit_.value.code == 2 and "no prepared kinetics-sounds folder" in capsys.readouterr().err
