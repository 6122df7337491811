"""Chapter 1 helpers: exercise 1.3 refuses unsolved predictions, probes of models trained already, copies grid."""
import matplotlib.pyplot as plt
import pytest
import torch

import minidgl
from minidgl import probing
from minidgl.experiments import run
from minidgl.course.exercises import ch01
from minidgl.course.plots import curves, data as data_plots

CEILINGS = {-16: {"audio": 0.57, "visual": 0.75}, -12: {"audio": 0.94, "visual": 0.75}}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_dominant_modality_refuses_unsolved_predictions(capsys):
    assert not ch01.check_dominant_modality(NotImplemented, CEILINGS)
    out = capsys.readouterr().out
    assert out.startswith("[FAIL] Exercise 1.3 dominant modality: not solved yet") and "[-16, -12]" in out
    assert not ch01.check_dominant_modality({-16: "visual", -12: NotImplemented}, CEILINGS)
    assert "not solved yet: replace NotImplemented by 'audio' or 'visual' for snr_db=-12," in capsys.readouterr().out
    assert not ch01.check_dominant_modality(["visual", "audio"], CEILINGS)
    assert "expected a dict" in capsys.readouterr().out


def test_dominant_modality_names_wrong_and_unknown_predictions(capsys):
    assert ch01.check_dominant_modality({-16: "visual", -12: "audio"}, CEILINGS)
    assert capsys.readouterr().out == "[PASS] Exercise 1.3 dominant modality\n"
    assert not ch01.check_dominant_modality({-16: "Visual", -12: "visual"}, CEILINGS)
    out = capsys.readouterr().out
    assert "snr_db=-16: predicted 'Visual'; name one of ['audio', 'visual']" in out
    assert "snr_db=-12: predicted 'visual', but audio is stronger (audio 0.940, visual 0.750)" in out


def test_dominant_modality_over_settings_of_both_knobs(capsys):
    grid = {(-16, 0.25): {"audio": 0.57, "visual": 0.93}, (-14, 0.5): {"audio": 0.82, "visual": 0.75}}
    assert ch01.check_dominant_modality({(-16, 0.25): "visual", (-14, 0.5): "audio"}, grid)
    capsys.readouterr()
    assert not ch01.check_dominant_modality({(-16, 0.25): "audio", (-14, 0.5): NotImplemented}, grid)
    assert "for snr_db=-14, image_noise=0.5, before you run" in capsys.readouterr().out
    assert not ch01.check_dominant_modality({(-16, 0.25): "audio"}, grid)
    out = capsys.readouterr().out
    assert "snr_db=-16, image_noise=0.25: predicted 'audio', but visual is stronger" in out
    assert "snr_db=-14, image_noise=0.5: no prediction" in out


def test_probe_runs_equals_probe_compare(toy):
    seeds = (0, 1)
    runs = {f"unimodal:{m}": [run(toy, f"unimodal:{m}", seed, epochs=1, device="cpu", progress=False)
                              for seed in seeds] for m in toy.modalities}
    probed = probing.probe_runs(toy, runs, seeds, epochs=1, device="cpu")
    expected = probing.probe_compare(toy, ("unimodal",), seeds, epochs=1, device="cpu", progress=False)
    assert probed["results"] == expected["results"]
    assert list(probed["results"]["unimodal:a"]["probe_acc"]) == ["a"]
    assert probed["config"]["probe"] == expected["config"]["probe"] and probed["config"]["epochs"] == 1
    assert "| random_init (untrained) |" in probing.format_probe_table(probed)
    with pytest.raises(ValueError, match="one \\(model, History\\) per seed"):
        probing.probe_runs(toy, runs, (0, 1, 2))


def test_copies_grid_shows_the_copies_of_one_image():
    data = minidgl.make_av_digits(copies=2)
    images, labels = data.train.inputs["visual"], data.train.labels
    fig = data_plots.copies_grid(images, labels, copies=2, shown=2)
    assert len(fig.axes) == 30 and fig.axes[2].get_title() == "mean of 2"
    n_images = len(images) // 2
    first_seven = int(torch.nonzero(labels == 7)[0])
    shown = [torch.as_tensor(ax.images[0].get_array().data) for ax in fig.axes[21:24]]
    copy = [images[first_seven + j * n_images, 0] for j in range(2)]
    assert torch.equal(shown[0], copy[0]) and torch.equal(shown[1], copy[1])
    assert torch.allclose(shown[2], (copy[0] + copy[1]) / 2)
    assert fig.axes[0].images[0].get_clim() == (-0.5, 1.5) and fig.axes[2].images[0].get_clim() == (0, 1)
    assert len(data_plots.copies_grid(images, labels, copies=2, shown=1, mean_column=False).axes) == 10
    with pytest.raises(ValueError, match="not whole images"):
        data_plots.copies_grid(images[:-1], labels[:-1], copies=2)
    with pytest.raises(ValueError, match="labels differ between copies"):
        data_plots.copies_grid(images, torch.cat([labels[:n_images], labels[:n_images].flip(0)]), copies=2,
                              shown=2)


def test_probe_bars_groups_by_encoder():
    s = {"mean": 0.5, "std": 0.1, "per_seed": [0.4, 0.5, 0.6]}
    report = {"config": {"modalities": ["a", "b"]},
              "results": {"random_init": {"probe_acc": {"a": s, "b": s}}, "unimodal:a": {"probe_acc": {"a": s}},
                          "unimodal:b": {"probe_acc": {"b": s}}}}
    fig = curves.probe_bars(report, chance=0.1)
    ax = fig.axes[0]
    assert len(ax.patches) == 4 and [t.get_text() for t in ax.get_xticklabels()] == ["a encoder", "b encoder"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == \
        ["chance", "random_init (untrained)", "unimodal:a", "unimodal:b"]


def test_each_modality_depends_only_on_its_own_knob():
    """Chapter 1's sweep reuses the default data's visual ceiling at every SNR (and the audio at every noise)."""
    default = minidgl.make_av_digits(copies=1)
    noisier_audio = minidgl.make_av_digits(copies=1, snr_db=-18)
    noisier_images = minidgl.make_av_digits(copies=1, image_noise=1.0)
    for split in ("train", "val", "test"):
        assert torch.equal(getattr(default, split).inputs["visual"], getattr(noisier_audio, split).inputs["visual"])
        assert torch.equal(getattr(default, split).inputs["audio"], getattr(noisier_images, split).inputs["audio"])
