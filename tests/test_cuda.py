"""The CUDA paths: no host sync in any method's step, autocast in bfloat16 and float16 (with its gradient scaler),
torch.compile, and exact resume from a checkpoint. Skipped without a GPU (`benchmarks/gpu_check.sh` runs them)."""
import pytest
import torch

import minidgl

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

METHODS = ["joint", "uniform", "dgl", "ogm-ge", "mmpareto", "unimodal:a"]


@pytest.fixture
def cuda_toy(toy):
    return toy.to("cuda")


@pytest.mark.parametrize("amp", [False, "bfloat16"])
@pytest.mark.parametrize("method", METHODS)
def test_a_training_step_never_waits_for_the_gpu(cuda_toy, method, amp):
    """CUDA's sync debug mode raises on any host sync (an `.item()`, a `bool(tensor)`, a blocking copy)."""
    torch.manual_seed(0)
    model = minidgl.build_model(cuda_toy, encoder="mlp", feature_dim=16).cuda()
    method = minidgl.get_method(method)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    inputs, labels = next(cuda_toy.train.batches(64))
    minidgl.train_step(model, method, optimizer, inputs, labels, amp=amp, clip_grad_norm=40.0)  # warm-up
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        step = minidgl.train_step(model, method, optimizer, inputs, labels, epoch=1, amp=amp, clip_grad_norm=40.0)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert torch.isfinite(step.losses.total)


@pytest.mark.parametrize("amp", ["bfloat16", "float16"])
def test_autocast_trains_on_cuda(toy, amp):
    history = minidgl.experiments.run(toy, "dgl", epochs=3, device="cuda", amp=amp, progress=False).history
    assert history.test_acc > 0.8 and all(loss == loss for loss in history.train_loss)


def test_compiled_model_trains_like_the_eager_one(toy):
    eager = minidgl.experiments.run(toy, "dgl", epochs=2, device="cuda", progress=False).history
    compiled = minidgl.experiments.run(toy, "dgl", epochs=2, device="cuda", compile=True, progress=False).history
    assert compiled.test_acc == pytest.approx(eager.test_acc, abs=0.02)
    assert compiled.train_loss == pytest.approx(eager.train_loss, rel=1e-3)


@pytest.mark.parametrize("amp", [False, "float16"])
def test_resume_on_cuda_equals_training_straight_through(toy, tmp_path, amp):
    def train(epochs, **options):
        torch.manual_seed(0)
        model = minidgl.build_model(toy, feature_dim=16)
        history = minidgl.fit(model, toy, "dgl", epochs=epochs, device="cuda", amp=amp, progress=False, **options)
        return model, history
    straight, straight_history = train(4)
    train(2, checkpoint=tmp_path / "run.pt")
    resumed, resumed_history = train(4, checkpoint=tmp_path / "run.pt", resume=tmp_path / "run.pt")
    torch.testing.assert_close(resumed.state_dict(), straight.state_dict(), rtol=0, atol=0)
    assert resumed_history.to_dict() == straight_history.to_dict()


def test_resnet18_encoders_train_on_crema_d_shapes_with_bfloat16():
    """The authors' model on CREMA-D's shapes: a 1-channel spectrogram and RGB frames, one step of each method."""
    config = minidgl.ModelConfig({"audio": (1, 257, 188), "visual": (3, 2, 224, 224)}, 6, encoder="resnet18")
    g = torch.Generator().manual_seed(0)
    inputs = {m: torch.randn(8, *s, generator=g).cuda() for m, s in config.input_shapes.items()}
    labels = torch.randint(0, 6, (8,), generator=g).cuda()
    for name in ("joint", "dgl", "mmpareto", "ogm-ge"):
        torch.manual_seed(0)
        model = minidgl.build_model(config).cuda()
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        step = minidgl.train_step(model, minidgl.get_method(name), optimizer, inputs, labels, amp="bfloat16")
        assert torch.isfinite(step.losses.total) and step.output.fused_logits.dtype == torch.bfloat16
