"""The three-modality Gaussian toy: what each modality carries, and that the label needs all three."""
import json

import pytest
import torch

import minidgl
from minidgl.__main__ import main
from minidgl.data import load_dataset, make_gaussian_trio


def test_each_modality_carries_its_own_part_of_the_label():
    data = make_gaussian_trio(content_classes=4, noise=1.0, signal=(1e3, 1e3, 1e3), n=240)
    assert data.modalities == ["a", "b", "c"] and data.num_classes == 8
    assert data.train.class_names == ["0-", "0+", "1-", "1+", "2-", "2+", "3-", "3+"]
    split = data.train
    for name, part in (("a", split.labels // 2), ("b", split.labels // 2), ("c", split.labels % 2)):
        x = split.inputs[name]
        same = torch.cdist(x, x) < 100  # means ~1000 apart, noise ~8: close exactly when the part is equal
        assert torch.equal(same, part[:, None] == part[None, :]), name


def test_bad_signal_is_a_clear_error():
    with pytest.raises(ValueError, match="three numbers, got \\(5.0, 2.0\\)"):
        make_gaussian_trio(signal=(5.0, 2.0))


def _test_accuracy(data, modalities):
    torch.manual_seed(0)
    selected = data.select(*modalities)
    model = minidgl.build_model(selected, seed=0)
    minidgl.fit(model, selected, "joint", epochs=2, progress=False)
    return minidgl.evaluate(model, selected.test)["fused_acc"]


def test_every_modality_alone_is_below_the_three_and_dropping_the_third_costs_accuracy():
    """Measured (seed 0, MLP encoders, concat, 2 epochs): a 0.492, b 0.374, c 0.167, a+b 0.492, all three 0.989.
    Alone, a and b cannot tell the attribute (at most 1/2) and c cannot tell the content (at most 1/6)."""
    torch.set_num_threads(1)
    data = load_dataset("gaussian-trio")
    accuracy = {m: _test_accuracy(data, m) for m in (("a",), ("b",), ("c",), ("a", "b"), ("a", "b", "c"))}
    together = accuracy[("a", "b", "c")]
    assert together > 0.9
    assert accuracy[("a",)] <= 0.52 and accuracy[("b",)] <= 0.52 and accuracy[("c",)] <= 1 / 6 + 0.02
    assert accuracy[("a", "b")] <= 0.52 < together - 0.4


def test_the_command_line_trains_and_compares_on_it(tmp_path, capsys):
    torch.set_num_threads(1)
    main(["train", "--dataset", "gaussian-trio", "--fusion", "gated:c", "--method", "dgl", "--epochs", "2",
          "--quiet", "--json", str(tmp_path / "h.json")])
    assert "dgl: test accuracy" in capsys.readouterr().out
    assert json.loads((tmp_path / "h.json").read_text())["method"] == "dgl"
    main(["compare", "--dataset", "gaussian-trio", "--fusion", "bilinear", "--methods", "dgl", "ogm-ge",
          "--seeds", "0", "--epochs", "2", "--quiet", "--json", str(tmp_path / "c.json")])
    report = json.loads((tmp_path / "c.json").read_text())
    assert list(report["results"]) == ["dgl", "ogm-ge"]
    assert set(report["results"]["dgl"]["unimodal_test_acc"]) == {"a", "b", "c"}
