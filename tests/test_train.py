import pytest
import torch

import minidgl
from minidgl.experiments import run


def test_fit_records_curves_and_restores_the_validation_selected_epoch(toy):
    model, history = run(toy, "dgl", epochs=6, lr=0.05, progress=False)
    assert len(history.train_loss) == len(history.val_acc) == 6
    assert set(history.grad_norm) == {"a", "b"} and all(len(v) == 6 for v in history.grad_norm.values())
    assert history.val_acc[history.best_epoch] == max(history.val_acc)
    assert minidgl.evaluate(model, toy.val)["fused_acc"] == pytest.approx(max(history.val_acc))
    assert minidgl.evaluate(model, toy.test)["fused_acc"] == pytest.approx(history.test_acc)


def test_on_epoch_end_sees_every_epoch_and_the_parameters_reached(toy):
    seen = []
    model = minidgl.build_model(toy)
    minidgl.fit(model, toy, "joint", epochs=3, progress=False,
                on_epoch_end=lambda epoch, m: seen.append((epoch, m.fusion.fc_out.bias.detach().clone())))
    assert [epoch for epoch, _ in seen] == [1, 2, 3]
    assert not torch.equal(seen[0][1], seen[2][1])


def test_fit_records_every_step_and_the_epoch_means_agree(toy):
    _, history = run(toy, "dgl", epochs=3, batch_size=64, progress=False)
    steps = -(-len(toy.train) // 64)
    assert len(history.step_loss) == len(history.step_acc) == 3 * steps
    for epoch in range(3):
        window = slice(epoch * steps, (epoch + 1) * steps)
        assert history.train_loss[epoch] == pytest.approx(sum(history.step_loss[window]) / steps)
        for m in toy.modalities:
            assert len(history.step_grad_norm[m]) == 3 * steps
            assert history.grad_norm[m][epoch] == pytest.approx(sum(history.step_grad_norm[m][window]) / steps)
    assert all(0 <= a <= 1 for a in history.step_acc)
    first = history.step_acc[:steps]
    assert history.train_acc[0] == pytest.approx(
        sum(a * min(64, len(toy.train) - 64 * i) for i, a in enumerate(first)) / len(toy.train))


def test_unimodal_training_selects_and_reports_its_own_modality(toy):
    model, history = run(toy, "unimodal:b", epochs=4, progress=False)
    assert history.method == "unimodal:b"
    assert history.test_acc == history.test_unimodal_acc["b"]
    assert history.val_unimodal_acc["b"][history.best_epoch] == max(history.val_unimodal_acc["b"])
    assert all(norm == 0 for norm in history.grad_norm["a"])


def test_training_learns_the_toy(toy):
    for method in ("joint", "uniform", "dgl", "unimodal:a"):
        assert run(toy, method, epochs=8, progress=False)[1].test_acc > 0.8, method


def test_fit_is_reproducible_for_a_seed(toy):
    first = run(toy, "joint", seed=3, epochs=3, progress=False)[1]
    second = run(toy, "joint", seed=3, epochs=3, progress=False)[1]
    assert first.train_loss == second.train_loss and first.test_acc == second.test_acc


def test_no_host_sync_inside_the_training_step(toy, monkeypatch):
    """Host reads are per epoch: doubling the steps in an epoch must not add a single one."""
    calls = []
    for name in ("item", "tolist", "__bool__", "__int__", "__float__", "cpu", "numpy"):
        original = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name, lambda self, *a, _o=original, _n=name, **k: calls.append(_n) or _o(self, *a, **k))
    counts = []
    for batch_size in (64, 32):
        model = minidgl.build_model(toy)
        calls.clear()
        minidgl.fit(model, toy, "dgl", epochs=1, batch_size=batch_size, progress=False)
        counts.append(len(calls))
    assert counts[0] == counts[1], f"host reads grew with the number of steps: {counts}"


def test_nan_loss_stops_naming_epoch_and_step(toy, monkeypatch):
    broken = minidgl.MultimodalDataset({m: x.clone() for m, x in toy.train.inputs.items()}, toy.train.labels)
    broken.inputs["a"][100] = float("nan")
    data = minidgl.Splits(broken, toy.val, toy.test)
    in_order = minidgl.MultimodalDataset.batches
    monkeypatch.setattr(minidgl.MultimodalDataset, "batches",
                        lambda self, batch_size, shuffle=False, generator=None: in_order(self, batch_size))
    with pytest.raises(FloatingPointError, match=r"the joint loss became NaN or infinite at epoch 0, step 1 "):
        minidgl.fit(minidgl.build_model(data), data, "joint", epochs=2, batch_size=64, progress=False)


def test_bad_options_are_named(toy):
    model = minidgl.build_model(toy)
    with pytest.raises(ValueError, match="alpha weighs the unimodal losses and must be >= 0, got -1"):
        minidgl.DGL(alpha=-1)
    with pytest.raises(ValueError, match=r"unknown method 'dgll'; choose one of \[.*'dgl'.*\]"):
        minidgl.fit(model, toy, "dgll")
    with pytest.raises(TypeError, match=r"unknown training option\(s\) \['epoch'\]"):
        minidgl.fit(model, toy, "joint", epoch=3)
    with pytest.raises(KeyError, match=r"unimodal training of 'c', but the model has modalities \['a', 'b'\]"):
        minidgl.fit(model, toy, "unimodal:c")
    with pytest.raises(KeyError, match=r"the data has modalities \['a'\] but the model was built for \['a', 'b'\]"):
        minidgl.fit(model, toy.select("a"), "joint")


def test_amp_runs_with_bfloat16_autocast(toy):
    assert run(toy, "dgl", epochs=2, amp=True, progress=False)[1].test_acc > 0.5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_amp_and_compile(toy):
    history = run(toy, "dgl", epochs=3, device="cuda", amp=True, compile=True, progress=False)[1]
    assert history.test_acc > 0.8
