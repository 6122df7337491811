"""The intermediate (MMTM) fusion: its computation, its unimodal convention, and how it pairs with encoders."""
import copy

import pytest
import torch
import torch.nn.functional as F

from minidgl.models import MMTMFusion, ModelConfig, MultimodalNet, SmallCNNEncoder, build_fusion, build_model
from minidgl.reference import method_gradients
from minidgl.routing import dgl_routing, routed_loss

SHAPES = {"audio": (1, 8, 8), "visual": (2, 6, 6), "text": (1, 4, 4)}


def maps(modalities, batch=5, channels=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {m: torch.randn(batch, channels, *SHAPES[m][1:], generator=g) for m in modalities}


def mmtm_by_hand(head, features):
    """The MMTM fusion written out with tensor algebra on `head`'s parameters (train-mode BatchNorm)."""
    names = list(features)
    x = dict(features)
    for blocks, mmtm in zip(head.blocks, head.mmtm):
        for m in names:
            conv, _, _ = blocks[m]
            y = torch.nn.functional.conv2d(x[m], conv.weight, conv.bias, padding=1)
            mean, var = y.mean(dim=(0, 2, 3), keepdim=True), y.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
            bn = blocks[m][1]
            x[m] = torch.relu((y - mean) / torch.sqrt(var + bn.eps) * bn.weight[:, None, None] + bn.bias[:, None, None])
        squeezed = torch.cat([x[m].mean(dim=(2, 3)) for m in names], dim=1)
        hidden = torch.relu(squeezed @ mmtm.joint[0].weight.T + mmtm.joint[0].bias)
        for m in names:
            gate = torch.sigmoid(hidden @ mmtm.excite[m].weight.T + mmtm.excite[m].bias)
            x[m] = x[m] * gate[:, :, None, None]
    pooled = torch.cat([x[m].mean(dim=(2, 3)) for m in names], dim=1)
    return pooled @ head.fc_out.weight.T + head.fc_out.bias


@pytest.mark.parametrize("modalities", [["audio", "visual"], ["audio", "visual", "text"]])
def test_mmtm_fusion_matches_its_definition_and_zeroes_the_others_alone(modalities):
    torch.manual_seed(0)
    head = build_fusion("mmtm", {m: 3 for m in modalities}, num_classes=4)
    features = maps(modalities)
    torch.testing.assert_close(head(features), mmtm_by_hand(head, features))
    for m in modalities:
        zeroed = {k: f if k == m else torch.zeros_like(f) for k, f in features.items()}
        torch.testing.assert_close(head(features, alone=m), mmtm_by_hand(head, zeroed))
    assert head(features).shape == (5, 4)


@pytest.mark.parametrize("modalities", [["audio", "visual"], ["audio", "visual", "text"]])
def test_a_modality_alone_under_mmtm_ignores_the_others(modalities):
    torch.manual_seed(0)
    head = build_fusion("mmtm", {m: 3 for m in modalities}, num_classes=4)
    features = {m: f.requires_grad_() for m, f in maps(modalities).items()}
    for n in modalities:
        alone = head(features, alone=n)
        grads = torch.autograd.grad(alone.sum(), list(features.values()), allow_unused=True)
        for m, grad in zip(modalities, grads):
            assert (grad is None or not grad.any()) if m != n else grad.abs().sum() > 0
        other = {m: f if m == n else torch.randn_like(f) for m, f in features.items()}
        torch.testing.assert_close(head(other, alone=n), alone)


def test_mmtm_exchanges_information_between_streams():
    """Each MMTM gate reads every stream: changing the audio map changes how the visual map is gated, and the
    visual map itself passes through unchanged up to that gate."""
    torch.manual_seed(0)
    head = build_fusion("mmtm", {"audio": 3, "visual": 3}, num_classes=4)
    mmtm = head.mmtm[0]
    a, v = maps(["audio", "visual"], channels=32).values()
    a2 = maps(["audio", "visual"], channels=32, seed=1)["audio"]
    gated, gated2 = mmtm({"audio": a, "visual": v})["visual"], mmtm({"audio": a2, "visual": v})["visual"]
    assert (gated - gated2).abs().max() > 1e-3
    ratio = gated / v
    torch.testing.assert_close(ratio, ratio[:, :, :1, :1].expand_as(ratio))


def test_cnn_maps_encoders_pair_with_mmtm_only():
    shapes = {"audio": (1, 8, 8), "visual": (1, 8, 8)}
    model = build_model(ModelConfig(shapes, 4, "cnn-maps", "mmtm", 6))
    assert model.encoders["audio"](torch.randn(2, 1, 8, 8)).shape == (2, 6, 8, 8)
    with pytest.raises(ValueError, match="fusion 'mmtm' takes feature maps and encoder 'cnn' \\(audio\\) returns "
                                         "pooled features; use encoder 'cnn-maps'"):
        build_model(ModelConfig(shapes, 4, "cnn", "mmtm", 6))
    for fusion in ("concat", "attention"):
        with pytest.raises(ValueError, match="encoder 'cnn-maps' \\(audio\\) returns feature maps, which only an "
                                             "intermediate fusion reads; use fusion 'mmtm'"):
            build_model(ModelConfig(shapes, 4, "cnn-maps", fusion, 6))


def test_mmtm_refuses_pooled_features_and_concat_refuses_maps():
    with pytest.raises(TypeError, match="MMTMFusion takes feature maps .* 'audio' gives Tensor of shape \\(2, 3\\); "
                                        "use a map encoder such as 'cnn-maps'"):
        build_fusion("mmtm", {"audio": 3, "visual": 3}, 4)({"audio": torch.randn(2, 3), "visual": torch.randn(2, 3)})
    with pytest.raises(TypeError, match="ConcatFusion takes pooled features"):
        build_fusion("concat", {"audio": 3, "visual": 3}, 4)(maps(["audio", "visual"]))


def conv_model(modalities, seed=0):
    """`cnn-maps` encoders `(1, 8, 8) -> (4, 8, 8)` and an MMTM fusion of width 4 over 5 classes."""
    torch.manual_seed(seed)
    encoders = {m: SmallCNNEncoder((1, 8, 8), out_dim=4, width=4, output="maps") for m in modalities}
    fusion = MMTMFusion({m: 4 for m in modalities}, 5, width=4)
    return MultimodalNet(encoders, fusion, {m: (1, 8, 8) for m in modalities})


def conv_batch(modalities, n=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    return {m: torch.randn(n, 1, 8, 8, generator=g) for m in modalities}, torch.randint(0, 5, (n,), generator=g)


@pytest.mark.parametrize("method", ["dgl", "joint", "uniform"])
@pytest.mark.parametrize("modalities", [["audio", "visual"], ["audio", "visual", "text"]])
def test_unimodal_passes_leave_batchnorm_statistics_to_the_fused_pass(method, modalities):
    """After a training step, every running statistic equals the one a single fused forward pass leaves."""
    model = conv_model(modalities)
    fused_only = copy.deepcopy(model)
    inputs, labels = conv_batch(modalities)
    fused_only.fusion({m: fused_only.encoders[m](x) for m, x in inputs.items()})
    step = method_gradients(model, method, inputs, labels)[1]
    assert set(step.losses.unimodal) == set(modalities)
    expected = dict(fused_only.named_buffers())
    for name, buffer in model.named_buffers():
        torch.testing.assert_close(buffer, expected[name], atol=0, rtol=0, msg=lambda m: f"{name}: {m}")
    assert model.fusion.blocks[0]["audio"][1].num_batches_tracked == 1


def authors_two_backward_grads(model, inputs, labels, alpha):
    """The authors' DGL step, written independently of `MultimodalNet.forward`: unimodal logits = the fusion
    re-run (through `functional_call`, on copies of its buffers) with the other maps replaced by zeros,
    `(alpha * sum_m L_m).backward(retain_graph=True)`, the fusion's gradients wiped, then `L_mm` of the fusion
    on detached maps `.backward()`. Returns `{name: gradient or None}`."""
    model.zero_grad(set_to_none=True)
    z = {m: model.encoders[m](x) for m, x in inputs.items()}
    params = dict(model.fusion.named_parameters())
    unimodal = 0
    for m in z:
        buffers = {name: b.clone() for name, b in model.fusion.named_buffers()}
        zeroed = {k: f if k == m else torch.zeros_like(f) for k, f in z.items()}
        logits = torch.func.functional_call(model.fusion, {**params, **buffers}, (zeroed,))
        unimodal = unimodal + F.cross_entropy(logits, labels)
    (alpha * unimodal).backward(retain_graph=True)
    for p in model.fusion.parameters():
        p.grad = None
    F.cross_entropy(model.fusion({m: f.detach() for m, f in z.items()}), labels).backward()
    return {name: p.grad for name, p in model.named_parameters()}


@pytest.mark.parametrize("alpha", [1.0, 4.0])
@pytest.mark.parametrize("modalities", [["audio", "visual"], ["audio", "visual", "text"]])
def test_dgl_one_backward_equals_the_authors_two_backward_under_mmtm(modalities, alpha):
    model = conv_model(modalities)
    inputs, labels = conv_batch(modalities)
    expected = authors_two_backward_grads(copy.deepcopy(model), inputs, labels, alpha)
    actual = method_gradients(model, dgl_routing(alpha), inputs, labels)[0]
    assert actual.keys() == expected.keys()
    for name, e in expected.items():
        assert (actual[name] is None) == (e is None), name
        if e is not None:
            assert e.abs().sum() > 0, name
            torch.testing.assert_close(actual[name], e, atol=1e-6, rtol=1e-5, msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("modalities", [["audio", "visual"], ["audio", "visual", "text"]])
def test_dgl_under_mmtm_routes_each_loss_to_its_side(modalities):
    """No encoder parameter gets a gradient from L_mm; no fusion parameter from the unimodal losses."""
    model = conv_model(modalities)
    inputs, labels = conv_batch(modalities)
    losses = routed_loss(model(inputs, dgl_routing()), labels, dgl_routing())
    encoder_params, fusion_params = list(model.encoders.parameters()), list(model.fusion.parameters())
    from_fused = torch.autograd.grad(losses.fused, encoder_params, retain_graph=True, allow_unused=True)
    assert all(g is None for g in from_fused)
    from_unimodal = torch.autograd.grad(sum(losses.unimodal.values()), fusion_params + encoder_params,
                                        allow_unused=True)
    assert all(g is None for g in from_unimodal[:len(fusion_params)])
    assert all(g is not None and g.abs().sum() > 0 for g in from_unimodal[len(fusion_params):])
