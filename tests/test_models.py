import re

import pytest
import torch
import torch.nn.functional as F

import minidgl
from minidgl.models import MultimodalNet, ResNet18Encoder, Tokens, build_encoder, build_fusion


@pytest.mark.parametrize("encoder", ["mlp", "cnn"])
@pytest.mark.parametrize("fusion", ["concat", "sum", "gated:audio", "film:visual", "bilinear", "attention"])
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
    film = build_fusion("film:y", {"x": 3, "y": 2}, num_classes=4)
    x, y = torch.randn(5, 3), torch.randn(5, 2)
    gamma, beta = F.linear(y, film.film.weight, film.film.bias).chunk(2, dim=1)
    torch.testing.assert_close(film({"x": x, "y": y}), F.linear(gamma * x + beta, film.fc_out.weight, film.fc_out.bias))


@pytest.mark.parametrize("fusion", ["gated:a", "film:a", "bilinear"])
def test_interacting_fusions_refuse_a_single_modality(fusion):
    with pytest.raises(ValueError, match="combines 2 or more modalities, got 1 \\(a\\); use 'concat', 'sum'"):
        build_fusion(fusion, {"a": 4}, num_classes=3)


def _linear(layer, x):
    return F.linear(x, layer.weight, layer.bias)


def test_three_modality_gated_fusion_gates_the_sum_of_the_others():
    torch.manual_seed(0)
    head = build_fusion("gated:b", {"a": 3, "b": 2, "c": 4}, num_classes=4)
    a, b, c = torch.randn(5, 3), torch.randn(5, 2), torch.randn(5, 4)
    gate = torch.sigmoid(_linear(head.fc["b"], b))
    expected = _linear(head.fc_out, gate * _linear(head.fc["a"], a) + gate * _linear(head.fc["c"], c))
    torch.testing.assert_close(head({"a": a, "b": b, "c": c}), expected)
    h = _linear(head.fc["b"], b)
    torch.testing.assert_close(head({"a": a, "b": b, "c": c}, alone="b"), _linear(head.fc_out, torch.sigmoid(h) * h))


def test_three_modality_film_conditions_every_other_modality():
    torch.manual_seed(0)
    head = build_fusion("film:b", {"a": 3, "b": 2, "c": 4}, num_classes=4)
    a, b, c = torch.randn(5, 3), torch.randn(5, 2), torch.randn(5, 4)
    assert head.film.weight.shape == (2 * (3 + 4), 2) and head.fc_out.weight.shape == (4, 3 + 4)
    modulation = _linear(head.film, b)
    gamma_a, gamma_c, beta_a, beta_c = modulation[:, :3], modulation[:, 3:7], modulation[:, 7:10], modulation[:, 10:]
    expected = _linear(head.fc_out, torch.cat([gamma_a * a + beta_a, gamma_c * c + beta_c], dim=1))
    torch.testing.assert_close(head({"a": a, "b": b, "c": c}), expected)


def test_three_modality_bilinear_sums_every_pair_outer_product():
    torch.manual_seed(0)
    head = build_fusion("bilinear", {"a": 3, "b": 3, "c": 3}, num_classes=4)
    a, b, c = torch.randn(5, 3), torch.randn(5, 3), torch.randn(5, 3)
    pairs = sum(x[:, :, None] * y[:, None, :] for x, y in [(a, b), (a, c), (b, c)])
    expected = _linear(head.fc_out, _linear(head.fc, pairs.reshape(5, 9)))
    torch.testing.assert_close(head({"a": a, "b": b, "c": c}), expected)
    torch.testing.assert_close(head({"a": a, "b": b, "c": c}, alone="c"),
                               _linear(head.fc_out, _linear(head.fc, (c[:, :, None] * c[:, None, :]).reshape(5, 9))))
    with pytest.raises(ValueError, match="needs equal feature widths"):
        build_fusion("bilinear", {"a": 3, "b": 3, "c": 4}, num_classes=4)


def test_resnet18_encoder_takes_spectrograms_and_frame_stacks():
    audio = ResNet18Encoder((1, 64, 48)).eval()
    assert audio(torch.randn(2, 1, 64, 48)).shape == (2, 512)
    video = ResNet18Encoder((3, 2, 32, 32)).eval()
    frames = torch.randn(2, 3, 2, 32, 32)
    per_frame = torch.stack([video.net(frames[:, :, t]) for t in range(2)], dim=1).mean(1)
    torch.testing.assert_close(video(frames), per_frame, atol=1e-5, rtol=1e-4)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown fusion 'late'; choose one of \['attention', 'bilinear', 'concat', 'film', 'gated', 'mmtm', 'sum'\]"):
        build_fusion("late", {"a": 2}, 3)
    with pytest.raises(ValueError, match=r"unknown encoder 'vit'; choose one of \['cnn', 'cnn-maps', 'cnn-tokens', 'mlp', 'resnet18'\]"):
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


@pytest.mark.parametrize("name,message", [("gated", "gated fusion needs the modality that plays its gate"),
                                          ("film:z", "the condition must be one of the modalities"),
                                          ("concat:x", "only ['film', 'gated'] fusion name a modality")])
def test_roles_are_named_never_taken_from_dict_order(name, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build_fusion(name, {"x": 3, "y": 3}, num_classes=4)


def test_the_named_modality_plays_the_role_whatever_the_dict_order():
    torch.manual_seed(0)
    first = build_fusion("gated:y", {"x": 3, "y": 3}, num_classes=4)
    second = build_fusion("gated:y", {"y": 3, "x": 3}, num_classes=4)
    second.load_state_dict(first.state_dict())
    features = {"x": torch.randn(5, 3), "y": torch.randn(5, 3)}
    torch.testing.assert_close(first(features), second(features))
    expected = first.fc_out(torch.sigmoid(first.fc["y"](features["y"])) * first.fc["x"](features["x"]))
    torch.testing.assert_close(first(features), expected)


@pytest.mark.parametrize("fusion", ["concat", "sum", "gated:a", "gated:b", "film:a", "film:b", "bilinear", "attention"])
@pytest.mark.parametrize("modalities", [["a", "b"], ["a", "b", "c"]])
def test_a_modality_alone_does_not_depend_on_the_others(fusion, modalities):
    """The contract MMPareto's two-pass identity needs: modality n's unimodal logits ignore every other
    modality's features."""
    torch.manual_seed(0)
    head = build_fusion(fusion, {m: 4 for m in modalities}, num_classes=3)
    features = {m: torch.randn(6, 4, requires_grad=True) for m in modalities}
    for n in modalities:
        alone = head(features, alone=n)
        grads = torch.autograd.grad(alone.sum(), [features[m] for m in modalities], allow_unused=True)
        for m, grad in zip(modalities, grads):
            if m != n:
                assert grad is None or not grad.any(), f"{fusion}: {n} alone depends on {m}"
        other = {m: f if m == n else torch.randn_like(f) for m, f in features.items()}
        torch.testing.assert_close(head(other, alone=n), alone)


def _tokens(batch, n, dim, real):
    """Random `Tokens` `(batch, n, dim)` whose first `real[i]` tokens are real in sample i."""
    values = torch.randn(batch, n, dim)
    return Tokens(values, torch.arange(n)[None, :] < torch.tensor(real)[:, None])


def test_attention_reads_tokens_and_ignores_padding():
    torch.manual_seed(0)
    head = build_fusion("attention", {"a": 4, "b": 4}, num_classes=3).eval()
    features = {"a": _tokens(2, 5, 4, [5, 2]), "b": torch.randn(2, 4)}
    garbage = Tokens(features["a"].values.clone(), features["a"].mask)
    garbage.values[1, 2:] = 1e3
    torch.testing.assert_close(head(features), head({**features, "a": garbage}))
    for m in ("a", "b"):
        torch.testing.assert_close(head(features, alone=m), head({**features, "a": garbage}, alone=m))
    assert head(features).shape == (2, 3)


def test_alone_under_attention_is_a_mask_not_zeros():
    """A zero token still takes softmax mass: zeroing the other modality changes the logits, masking it does
    not, and `alone` is the masked version."""
    torch.manual_seed(0)
    head = build_fusion("attention", {"a": 4, "b": 4}, num_classes=3).eval()
    a, b = torch.randn(6, 4), torch.randn(6, 4)
    zeroed = head({"a": a, "b": torch.zeros_like(b)})
    masked = head({"a": a, "b": Tokens(b[:, None], torch.zeros(6, 1, dtype=torch.bool))})
    torch.testing.assert_close(head({"a": a, "b": b}, alone="a"), masked)
    assert not torch.allclose(zeroed, masked)


def test_linear_fusions_refuse_tokens_with_a_clear_message():
    head = build_fusion("concat", {"a": 4, "b": 4}, num_classes=3)
    with pytest.raises(TypeError, match="takes pooled features .* use fusion 'attention'"):
        head({"a": _tokens(2, 3, 4, [3, 3]), "b": torch.randn(2, 4)})


def test_token_encoders_train_through_attention(digits):
    model = minidgl.build_model(digits.select("visual"), encoder="cnn-tokens", fusion="attention", feature_dim=8)
    inputs, labels = next(digits.train.select("visual").batches(8))
    tokens = model.encoders["visual"](inputs["visual"])
    assert isinstance(tokens, Tokens) and tokens.values.shape == (8, 64, 8)
    out = model(inputs, minidgl.DGL().routing)
    minidgl.routed_loss(out, labels, minidgl.DGL().routing).total.backward()
    assert all(p.grad is not None for p in model.encoders["visual"].parameters())


class _Frames(torch.nn.Module):
    """A clip encoder: `(batch, frames, 4)` -> one token per frame."""

    out_dim = 4

    def forward(self, x):
        return Tokens(x, torch.ones(x.shape[:2], dtype=torch.bool))


def test_a_none_dimension_takes_clips_of_any_length():
    head = build_fusion("attention", {"clip": 4, "tone": 4}, num_classes=3)
    model = MultimodalNet({"clip": _Frames(), "tone": torch.nn.Linear(2, 4)}, head, {"clip": (None, 4), "tone": (2,)})
    for frames in (3, 7):
        assert model({"clip": torch.randn(5, frames, 4), "tone": torch.randn(5, 2)}).fused_logits.shape == (5, 3)
    with pytest.raises(ValueError, match=r"the model expects \(batch, any, 4\)"):
        model({"clip": torch.randn(5, 3, 5), "tone": torch.randn(5, 2)})
