import math

import pytest
import torch

import minidgl
from minidgl.data.av_digits import DTMF_HZ, SAMPLE_RATE, dtmf_tones


def test_av_digits_shapes_and_split_sizes(digits):
    assert digits.modalities == ["audio", "visual"]
    assert digits.input_shapes == {"audio": (1, 65, 32), "visual": (1, 8, 8)}
    assert digits.num_classes == 10
    assert len(digits.train) + len(digits.val) + len(digits.test) == 20 * 1797
    assert abs(len(digits.test) / (20 * 1797) - 0.2) < 0.01


def test_av_digits_splits_by_image_and_redraws_the_noise():
    data = minidgl.make_av_digits(image_noise=0.0, copies=3)
    keys = [{tuple(x.flatten().tolist()) for x in split.inputs["visual"]} for split in (data.train, data.val, data.test)]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
    n = len(data.train) // 3
    assert torch.equal(data.train.inputs["visual"][:n], data.train.inputs["visual"][n:2 * n])
    noisy = minidgl.make_av_digits(copies=2)
    n = len(noisy.train) // 2
    assert torch.equal(noisy.train.labels[:n], noisy.train.labels[n:])
    assert not torch.allclose(noisy.train.inputs["visual"][:n], noisy.train.inputs["visual"][n:])
    assert not torch.allclose(noisy.train.inputs["audio"][:n], noisy.train.inputs["audio"][n:])
    with pytest.raises(ValueError, match="copies .noisy versions of each image. must be an integer >= 1, got 0"):
        minidgl.make_av_digits(copies=0)


def test_splits_are_disjoint_stratified_and_deterministic():
    data = minidgl.make_gaussian_toy(n=1000, num_classes=5)
    keys = [{tuple(x.tolist()) for x in split.inputs["a"]} for split in (data.train, data.val, data.test)]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
    for split, fraction in ((data.train, 0.6), (data.val, 0.2), (data.test, 0.2)):
        counts = torch.bincount(split.labels, minlength=5)
        assert torch.all((counts - fraction * 200).abs() <= 1)
    again = minidgl.make_gaussian_toy(n=1000, num_classes=5)
    assert torch.equal(again.test.inputs["b"], data.test.inputs["b"])
    other = minidgl.make_gaussian_toy(n=1000, num_classes=5, seed=1)
    assert not torch.equal(other.test.inputs["b"], data.test.inputs["b"])


def test_pairing_keeps_labels_aligned_with_both_modalities(digits):
    from sklearn.datasets import load_digits
    images = torch.as_tensor(load_digits().images, dtype=torch.float32) / 16
    clean = minidgl.make_av_digits(image_noise=0.0, copies=1)
    for i in range(0, len(clean.test), 37):
        match = (images - clean.test.inputs["visual"][i, 0]).abs().flatten(1).sum(1).argmin()
        assert int(load_digits().target[match]) == int(clean.test.labels[i])


@pytest.mark.parametrize("digit", range(10))
def test_dtmf_tones_carry_the_keypad_frequencies(digit):
    wave = dtmf_tones(torch.tensor([digit]), snr_db=40, generator=torch.Generator().manual_seed(0))[0]
    spectrum = torch.fft.rfft(wave).abs()
    freqs = torch.fft.rfftfreq(len(wave), 1 / SAMPLE_RATE)
    low, high = sorted(freqs[spectrum.topk(2).indices].tolist())
    assert (low, high) == pytest.approx(DTMF_HZ[digit], abs=4)


def test_dtmf_noise_power_follows_the_snr():
    g = torch.Generator().manual_seed(0)
    clean = dtmf_tones(torch.zeros(200, dtype=torch.long), snr_db=math.inf, generator=g)
    noisy = dtmf_tones(torch.zeros(200, dtype=torch.long), snr_db=-10, generator=torch.Generator().manual_seed(0))
    assert clean.pow(2).mean().item() == pytest.approx(1.0, rel=0.02)
    assert (noisy - clean).pow(2).mean().item() == pytest.approx(10.0, rel=0.05)


def test_select_loader_and_to(toy):
    only_a = toy.select("a")
    assert only_a.modalities == ["a"] and len(only_a.test) == len(toy.test)
    inputs, labels = next(iter(toy.train.loader(batch_size=16, shuffle=True)))
    assert inputs["a"].shape == (16, 8) and labels.shape == (16,)
    with pytest.raises(KeyError, match=r"unknown modality \['c'\]; this dataset has \['a', 'b'\]"):
        toy.select("c")


def test_dataset_rejects_mismatched_sizes():
    with pytest.raises(ValueError, match="modality 'b' has 3 samples but there are 4 labels"):
        minidgl.MultimodalDataset({"a": torch.zeros(4, 2), "b": torch.zeros(3, 2)}, torch.tensor([0, 1, 0, 1]))


def test_load_dataset_by_name():
    assert minidgl.load_dataset("gaussian-toy", n=100).modalities == ["a", "b"]
    with pytest.raises(ValueError, match=r"unknown dataset 'mnist'; choose one of "
                       r"\['av-digits', 'crema-d', 'gaussian-toy', 'gaussian-trio', 'kinetics-sounds'\]"):
        minidgl.load_dataset("mnist")
