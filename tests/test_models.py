import pytest
import torch
import torch.nn.functional as F

import minidgl
from minidgl.models import MultimodalNet, ResNet18Encoder, build_encoder, build_fusion


@pytest.mark.parametrize("encoder", ["mlp", "cnn"])
@pytest.mark.parametrize("fusion", ["concat", "sum", "gated", "film", "bilinear"])
def test_every_encoder_and_fusion_gives_logits_for_fused_and_each_modality(digits, encoder, fusion):
    model = minidgl.build_model(digits, encoder=encoder, fusion=fusion)
    inputs, labels = next(digits.train.batches(7))
    out = model(inputs)
    assert out.fused_logits.shape == (7, 10)
    assert {m: z.shape for m, z in out.unimodal_logits.items()} == {"audio": (7, 10), "visual": (7, 10)}
    assert {m: z.shape for m, z in out.features.items()} == {"audio": (7, 64), "visual": (7, 64)}


def test_concat_unimodal_logits_are_the_zero_padded_head(digits):
    model = minidgl.build_model(digits)
    out = model(next(digits.train.batches(5))[0])
    W, b = model.fusion.fc_out.weight, model.fusion.fc_out.bias
    torch.testing.assert_close(out.unimodal_logits["audio"], F.linear(out.features["audio"], W[:, :64], b))
    torch.testing.assert_close(out.unimodal_logits["visual"], F.linear(out.features["visual"], W[:, 64:], b))


def test_film_is_feature_wise_modulation():
    film = build_fusion("film", {"x": 3, "y": 2}, num_classes=4)
    x, y = torch.randn(5, 3), torch.randn(5, 2)
    gamma, beta = F.linear(y, film.film.weight, film.film.bias).chunk(2, dim=1)
    torch.testing.assert_close(film({"x": x, "y": y}), F.linear(gamma * x + beta, film.fc_out.weight, film.fc_out.bias))


@pytest.mark.parametrize("fusion", ["gated", "film", "bilinear"])
def test_pairwise_fusions_refuse_three_modalities(fusion):
    with pytest.raises(ValueError, match="combines exactly 2 modalities, got 3 .*use 'concat' or 'sum'"):
        build_fusion(fusion, {"a": 4, "b": 4, "c": 4}, num_classes=3)


def test_resnet18_encoder_takes_spectrograms_and_frame_stacks():
    audio = ResNet18Encoder((1, 64, 48)).eval()
    assert audio(torch.randn(2, 1, 64, 48)).shape == (2, 512)
    video = ResNet18Encoder((3, 2, 32, 32)).eval()
    frames = torch.randn(2, 3, 2, 32, 32)
    per_frame = torch.stack([video.net(frames[:, :, t]) for t in range(2)], dim=1).mean(1)
    torch.testing.assert_close(video(frames), per_frame, atol=1e-5, rtol=1e-4)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown fusion 'late'; choose one of \['bilinear', 'concat', 'film', 'gated', 'sum'\]"):
        build_fusion("late", {"a": 2}, 3)
    with pytest.raises(ValueError, match=r"unknown encoder 'vit'; choose one of \['cnn', 'mlp', 'resnet18'\]"):
        build_encoder("vit", (3,))
    with pytest.raises(ValueError, match="encoder 'cnn' needs \\(channels, height, width\\) inputs, got per-sample shape \\(8,\\)"):
        build_encoder("cnn", (8,))


def test_wrong_modality_names_are_named(digits):
    model = minidgl.build_model(digits)
    inputs, _ = next(digits.train.batches(4))
    with pytest.raises(KeyError, match=r"expects \['audio', 'visual'\]; missing \['visual'\], unexpected \['video'\]"):
        model({"audio": inputs["audio"], "video": inputs["visual"]})


def test_wrong_shapes_name_the_modality_and_the_expected_shape(digits):
    model = minidgl.build_model(digits)
    inputs, _ = next(digits.train.batches(4))
    with pytest.raises(ValueError, match=r"modality 'visual' has shape \(4, 64\); the model expects \(batch, 1, 8, 8\)"):
        model({"audio": inputs["audio"], "visual": inputs["visual"].flatten(1)})
    with pytest.raises(ValueError, match="same batch size"):
        model({"audio": inputs["audio"], "visual": inputs["visual"][:3]})


def test_model_and_fusion_must_agree_on_modalities():
    encoders = {"a": build_encoder("mlp", (3,))}
    with pytest.raises(ValueError, match="encoders \\['a'\\] and fusion modalities \\['b'\\] differ"):
        MultimodalNet(encoders, build_fusion("concat", {"b": 64}, 2), {"a": (3,)})
