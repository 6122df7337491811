"""Chapter 6's helpers: toys as maps, pooled probes of map encoders, the grid study and its measurements, the
BatchNorm re-estimation (against statistics gathered by hand), and the exercises' checkers against wrong answers."""
import copy

import pytest
import torch
import torch.nn.functional as F

import minidgl
from minidgl.course import interaction
from minidgl.course.exercises import ch06
from minidgl.course.plots import interaction as interaction_plots
from minidgl.diagnostics import encode
from minidgl.errors import InvalidValue
from minidgl.models.fusion import Fusion, zero_others


@pytest.mark.parametrize("make", [minidgl.make_gaussian_toy, minidgl.make_gaussian_trio])
def test_toys_laid_out_as_maps_hold_the_same_numbers(make):
    flat, maps = make(dim=32, n=240), make(dim=32, n=240, shape=(8, 2, 2))
    for split in ("train", "val", "test"):
        a, b = getattr(flat, split), getattr(maps, split)
        assert torch.equal(a.labels, b.labels)
        for m in a.modalities:
            assert b.inputs[m].shape[1:] == (8, 2, 2)
            assert torch.equal(a.inputs[m].reshape(-1, 8, 2, 2), b.inputs[m])


@pytest.mark.parametrize("shape", [(4, 4), (2, 0, 16), (2.0, 16)])
def test_a_toy_shape_must_hold_dim_numbers(shape):
    with pytest.raises(InvalidValue, match="product is dim=32"):
        minidgl.make_gaussian_trio(dim=32, n=240, shape=shape)


def test_a_map_encoder_is_probed_on_its_maps_mean_which_is_the_pooled_encoder():
    data = minidgl.make_gaussian_toy(dim=32, n=120, shape=(8, 2, 2))
    maps = minidgl.build_model(data, encoder="cnn-maps", fusion="mmtm", seed=0)
    pooled = minidgl.build_model(data, encoder="cnn", fusion="concat", seed=1)
    pooled.encoders["a"].net.load_state_dict(maps.encoders["a"].net.state_dict())
    x = data.test.inputs["a"]
    with torch.no_grad():
        by_hand = maps.encoders["a"].eval()(x).mean(dim=(2, 3))
        assert torch.allclose(encode(maps, data.test, "a"), by_hand, atol=1e-6)
        assert torch.allclose(encode(pooled, data.test, "a"), by_hand, atol=1e-6)


def test_zero_others_keeps_one_modality_and_zeroes_the_rest():
    features = {"a": torch.randn(3, 2), "b": torch.randn(3, 4, 2, 2)}
    zeroed = zero_others(features, "b")
    assert list(zeroed) == ["a", "b"] and zeroed["b"] is features["b"]
    assert torch.equal(zeroed["a"], torch.zeros(3, 2)) and features["a"].any()


class LeakingFusion(Fusion):
    """A concat head whose "alone" pass is the fused pass: every modality leaks into every unimodal logit."""

    def __init__(self, feature_dims, num_classes):
        super().__init__(feature_dims, num_classes)
        self.fc_out = torch.nn.Linear(sum(feature_dims.values()), num_classes)

    def fuse(self, features):
        return self.fc_out(torch.cat([features[m] for m in self.modalities], 1))

    def fuse_alone(self, features, modality):
        return self.fuse(features)


def test_alone_dependence_is_zero_for_every_fusion_and_catches_a_leak():
    data = minidgl.make_gaussian_trio(dim=32, n=240, shape=(8, 2, 2))
    batch = {m: x[:6] for m, x in data.train.inputs.items()}
    for fusion, encoder in interaction.ENCODER_FOR.items():
        model = minidgl.build_model(data, encoder=encoder, fusion=fusion, seed=0)
        assert interaction.alone_dependence(model, batch) == {"a": 0.0, "b": 0.0, "c": 0.0}
    model = minidgl.build_model(data, encoder="cnn", seed=0)
    leaking = minidgl.models.MultimodalNet(dict(model.encoders), LeakingFusion({m: 64 for m in "abc"}, 12),
                                           model.input_shapes)
    assert all(v > 1e-3 for v in interaction.alone_dependence(leaking, batch).values())


def test_dgl_through_dense_fusion_matches_the_authors_two_backwards():
    data = minidgl.make_gaussian_trio(dim=32, n=240, shape=(8, 2, 2))
    inputs, labels = {m: x[:16] for m, x in data.train.inputs.items()}, data.train.labels[:16]
    for fusion in ("attention", "mmtm"):
        model = minidgl.build_model(data, encoder=interaction.ENCODER_FOR[fusion], fusion=fusion, seed=0)
        before = copy.deepcopy(model.state_dict())
        gap = interaction.authors_gradient_gap(model, inputs, labels, alpha=2.0)
        assert gap["max_gap"] < 1e-6 and gap["same_without_gradient"]
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.fixture(scope="module")
def small_grid():
    datasets = {"trio": minidgl.make_gaussian_trio(dim=32, n=240, shape=(8, 2, 2))}
    return interaction.fusion_grid(datasets, fusions=("concat", "mmtm"), methods=("joint", "dgl"), seeds=(0, 1),
                                   epochs=1, progress=False)


def test_the_grid_reports_every_fusion_and_method_with_per_seed_differences(small_grid):
    reports = small_grid["reports"]["trio"]
    assert list(reports) == ["concat", "mmtm"]
    assert reports["mmtm"]["config"]["encoder"] == "cnn-maps" and reports["concat"]["config"]["encoder"] == "cnn"
    for report in reports.values():
        assert list(report["results"]) == ["joint", "dgl"]
        assert set(report["results"]["dgl"]["probe_acc"]) == {"a", "b", "c"}
    dgl = interaction.grid_value(small_grid, "trio", "mmtm", "dgl", "probe_acc", "b")["per_seed"]
    joint = interaction.grid_value(small_grid, "trio", "mmtm", "joint", "probe_acc", "b")["per_seed"]
    difference = interaction.grid_difference(small_grid, "trio", "mmtm", "dgl", what="probe_acc", modality="b")
    assert difference["per_seed"] == pytest.approx([d - j for d, j in zip(dgl, joint)])
    table = interaction.grid_table(small_grid, "trio")
    assert table.count("\n") == 1 + 4 and "intermediate (MMTM) | dgl" in table and "c probe" in table


def test_learning_signal_is_the_ratio_of_the_two_encoder_gradients(small_grid):
    signal = interaction.learning_signal(small_grid, "trio", samples=64)
    model, _ = small_grid["runs"]["trio"]["concat"]["joint"][1]
    split = small_grid["datasets"]["trio"].train
    inputs, labels = {m: x[:64] for m, x in split.inputs.items()}, split.labels[:64]
    copy_ = copy.deepcopy(model).train()
    out = copy_(inputs)
    params = list(copy_.encoders["b"].parameters())
    norm = lambda loss: torch.cat([g.flatten() for g in torch.autograd.grad(loss, params, retain_graph=True)]).norm()
    ratio = norm(F.cross_entropy(out.fused_logits, labels)) / norm(F.cross_entropy(out.unimodal_logits["b"], labels))
    assert signal["concat"]["b"]["per_seed"][1] == pytest.approx(ratio.item(), rel=1e-4)
    assert set(signal) == {"concat", "mmtm"} and set(signal["mmtm"]) == {"a", "b", "c"}


def test_batchnorm_reestimation_averages_the_batches_the_fusion_saw(small_grid):
    model, _ = small_grid["runs"]["trio"]["mmtm"]["dgl"][0]
    train = small_grid["datasets"]["trio"].train
    norm = model.fusion.blocks[0]["a"][1]
    conv = model.fusion.blocks[0]["a"][0]
    expected = {False: [], True: []}
    frozen = copy.deepcopy(model).eval()
    with torch.no_grad():
        for inputs, _ in train.batches(64):
            real = conv(frozen.encoders["a"](inputs["a"])).mean(dim=(0, 2, 3))
            zero = conv.bias
            expected[False].append(real)
            expected[True] += [real, real, zero, zero]  # fused pass, a alone, then b and c alone (a's stream zero)
    for unimodal in (False, True):
        estimated = interaction._reestimated(model, train, 64, unimodal)
        running = estimated.fusion.blocks[0]["a"][1].running_mean
        assert torch.allclose(running, torch.stack(expected[unimodal]).mean(0), atol=1e-5)
    assert norm.momentum == 0.1 and model.fusion.training == model.training
    study = interaction.batchnorm_statistics_study(model, small_grid["datasets"]["trio"])
    assert list(study) == ["as trained", "fused passes only", "fused and unimodal passes"]
    assert study["as trained"] == minidgl.evaluate(model, small_grid["datasets"]["trio"].test)["fused_acc"]


def test_the_chapters_figures_draw_every_panel(small_grid):
    alone = {"trio": {"mean": 0.3, "std": 0.01, "per_seed": [0.3]}}
    fig = interaction_plots.grid_figure(small_grid, probed={"trio": "b"}, alone=alone)
    assert len(fig.axes) == 2 and len(fig.axes[1].patches) == 4
    fig = interaction_plots.signal_figure({"trio": interaction.learning_signal(small_grid, "trio", samples=32)})
    assert len(fig.axes) == 1 and len(fig.axes[0].patches) == 6


def test_checker_6_1_fails_plausible_wrong_answers(capsys):
    def zeroes_the_kept_one(features, modality):
        return {m: torch.zeros_like(z) if m == modality else z for m, z in features.items()}

    def in_place(features, modality):
        for m, z in features.items():
            if m != modality:
                z.zero_()
        return features

    def drops_the_others(features, modality):
        return {modality: features[modality]}

    for wrong, message in ((zeroes_the_kept_one, "zeroed the modality that stays"), (in_place, "in place"),
                           (drops_the_others, "keys")):
        ok, out = ch06.check_zero_others(wrong), capsys.readouterr().out
        assert ok is False and "[FAIL]" in out and message in out


def test_checker_6_2_fails_plausible_wrong_answers(capsys):
    def plain(fusion, features, modality):
        return fusion(features, alone=modality)

    def in_eval_mode(fusion, features, modality):
        fusion.eval()
        logits = fusion(features, alone=modality)
        fusion.train()
        return logits

    def without_gradient(fusion, features, modality):
        saved = copy.deepcopy(fusion.state_dict())
        with torch.no_grad():
            logits = fusion(features, alone=modality)
        fusion.load_state_dict(saved)
        return logits

    for wrong, message in ((plain, "changed the buffers"), (in_eval_mode, "running statistics"),
                           (without_gradient, "carry no gradient")):
        ok, out = ch06.check_unimodal_logits_keeping_statistics(wrong), capsys.readouterr().out
        assert ok is False and "[FAIL]" in out and message in out
