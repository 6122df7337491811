import contextlib
import copy

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
        assert run(toy, method, epochs=8, progress=False).history.test_acc > 0.8, method


def test_fit_is_reproducible_for_a_seed(toy):
    first = run(toy, "joint", seed=3, epochs=3, progress=False).history
    second = run(toy, "joint", seed=3, epochs=3, progress=False).history
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
    with pytest.raises(ValueError, match="alpha weighs the unimodal losses and must be a finite number >= 0, got -1"):
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
    assert run(toy, "dgl", epochs=2, amp=True, progress=False).history.test_acc > 0.5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_amp_and_compile(toy):
    history = run(toy, "dgl", epochs=3, device="cuda", amp=True, compile=True, progress=False).history
    assert history.test_acc > 0.8


class _Stream(torch.utils.data.IterableDataset):
    """Batches of a dataset as a stream: no length, no indexing, a fresh order each pass."""

    def __init__(self, dataset, batch_size, seed=0):
        self.dataset, self.batch_size, self.generator = dataset, batch_size, torch.Generator().manual_seed(seed)

    def __iter__(self):
        yield from self.dataset.batches(self.batch_size, shuffle=True, generator=self.generator)


def test_fit_and_evaluate_take_any_iterable_of_batches(toy):
    """A DataLoader or a stream trains through the same `fit`; `evaluate` counts samples as they arrive."""
    model = minidgl.build_model(toy, feature_dim=8)
    reference = minidgl.evaluate(model, toy.test)
    for other in (minidgl.evaluate(model, toy.test.loader(batch_size=7)), minidgl.evaluate(model, _Stream(toy.test, 13))):
        assert other["fused_acc"] == reference["fused_acc"] and other["unimodal_acc"] == reference["unimodal_acc"]
        assert other["loss"] == pytest.approx(reference["loss"], rel=1e-6)
    streamed = minidgl.Splits(_Stream(toy.train, 32), toy.val.loader(batch_size=50), toy.test.loader(batch_size=50))
    history = minidgl.fit(model, streamed, "dgl", epochs=2, progress=False)
    assert len(history.step_loss) == 2 * -(-len(toy.train) // 32)
    assert history.train_loss[1] < history.train_loss[0] and history.test_acc > 0.5
    loader = minidgl.Splits(toy.train.loader(batch_size=32, shuffle=True), toy.val, toy.test)
    assert minidgl.fit(minidgl.build_model(toy, feature_dim=8), loader, "joint", epochs=1, progress=False).test_acc > 0.4


def test_an_empty_split_is_a_clear_error(toy):
    model = minidgl.build_model(toy, feature_dim=8)
    with pytest.raises(ValueError, match="no samples"):
        minidgl.evaluate(model, [])
    with pytest.raises(ValueError, match="training split gave no batches"):
        minidgl.fit(model, minidgl.Splits([], toy.val, toy.test), epochs=1, progress=False)


def test_train_step_is_one_step_of_fit(toy):
    """`fit` over 64 samples in one batch of 64 and a bare `train_step` on them leave the same parameters."""
    torch.manual_seed(0)
    model = minidgl.build_model(toy, feature_dim=8)
    twin = copy.deepcopy(model)
    sixty_four = toy.train.subset(torch.arange(64))
    minidgl.fit(model, minidgl.Splits(sixty_four, toy.val, toy.test), "dgl", epochs=1, batch_size=64, lr=0.1,
                progress=False)
    optimizer = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    step = minidgl.train_step(twin, minidgl.DGL(), optimizer, *next(sixty_four.batches(64)))
    assert set(step.grad_norm) == set(toy.modalities) and step.stats == {}
    for (name, p), q in zip(model.named_parameters(), twin.parameters()):
        torch.testing.assert_close(p, q, msg=lambda m: f"{name}: {m}")


def test_steps_skip_the_unimodal_logits_only_where_nothing_needs_them(toy, monkeypatch):
    """Joint training with `track_unimodal=False` never runs the fusion on one modality alone, and trains the
    same parameters; DGL, whose loss needs them, still computes them."""
    torch.manual_seed(0)
    tracked = minidgl.build_model(toy, feature_dim=8)
    untracked = copy.deepcopy(tracked)
    minidgl.fit(tracked, toy, "joint", epochs=1, progress=False)
    calls = []
    original = type(untracked.fusion).forward
    monkeypatch.setattr(type(untracked.fusion), "forward",
                        lambda self, features, alone=None: calls.append(alone) or original(self, features, alone))
    model = copy.deepcopy(untracked)
    history = minidgl.fit(untracked, toy, "joint", epochs=1, track_unimodal=False, progress=False)
    trained_calls = calls[:len(history.step_loss)]
    assert trained_calls and set(trained_calls) == {None}, "a joint step computed unimodal logits"
    assert history.train_unimodal_acc == {m: [] for m in toy.modalities} and history.val_unimodal_acc["a"]
    for p, q in zip(tracked.parameters(), untracked.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    calls.clear()
    minidgl.fit(model, toy, "dgl", epochs=1, track_unimodal=False, progress=False)
    assert set(calls[:3]) == {None, *toy.modalities}


@pytest.mark.parametrize("method", ["joint", "dgl", "ogm", "mmpareto"])
def test_a_grad_scaler_changes_nothing_but_the_scale(toy, method):
    """With a GradScaler the method back-propagates scaled losses; unscaled before the step, the update is the
    one without it (each method's backward is linear in its losses)."""
    torch.manual_seed(0)
    plain = minidgl.build_model(toy, feature_dim=8)
    scaled = copy.deepcopy(plain)
    inputs, labels = next(toy.train.batches(64))
    for model, scaler in ((plain, None), (scaled, torch.amp.GradScaler("cpu", init_scale=1024.0))):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for _ in range(2):
            step = minidgl.train_step(model, minidgl.get_method(method), optimizer, inputs, labels, scaler=scaler)
    assert float(step.losses.total.detach()) < 10, "the Step reports the unscaled loss"
    for (name, p), q in zip(plain.named_parameters(), scaled.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-6, msg=lambda m: f"{name}: {m}")


def test_float16_autocast_trains_with_a_scaler(toy):
    history = minidgl.fit(minidgl.build_model(toy, feature_dim=8), toy, "dgl", epochs=2, amp="float16",
                          progress=False)
    assert history.test_acc > 0.5
    with pytest.raises(ValueError, match="amp must be False, True, 'bfloat16' or 'float16'"):
        minidgl.fit(minidgl.build_model(toy, feature_dim=8), toy, "dgl", epochs=1, amp="fp8", progress=False)


@pytest.mark.parametrize("method", ["joint", "uniform", "dgl", "unimodal:a"])
def test_accumulating_parts_of_a_batch_equals_the_whole_batch(toy, method):
    torch.manual_seed(0)
    whole = minidgl.build_model(toy, feature_dim=8)
    parts = copy.deepcopy(whole)
    inputs, labels = next(toy.train.batches(60))
    steps = {}
    for model, k in ((whole, 1), (parts, 4)):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for _ in range(2):
            steps[k] = minidgl.train_step(model, minidgl.get_method(method), optimizer, inputs, labels,
                                          micro_batches=k)
    torch.testing.assert_close(steps[4].losses.total, steps[1].losses.total.detach())
    torch.testing.assert_close(steps[4].output.fused_logits, steps[1].output.fused_logits)
    for (name, p), q in zip(whole.named_parameters(), parts.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-6, msg=lambda m: f"{name}: {m}")


def test_accumulation_synchronises_once_and_refuses_nonlinear_methods(toy):
    """Under DistributedDataParallel (any `forward` with `no_sync`) every part but the last skips the
    gradient all-reduce; OGM-GE and MMPareto read each batch's gradients whole and cannot accumulate."""
    model = minidgl.build_model(toy, feature_dim=8)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    inputs, labels = next(toy.train.batches(60))
    skipped = []

    class Wrapped(torch.nn.Module):
        def __init__(self, module):
            super().__init__()
            self.module = module

        def forward(self, *args, **kwargs):
            return self.module(*args, **kwargs)

        def no_sync(self):
            skipped.append(True)
            return contextlib.nullcontext()

    minidgl.train_step(model, minidgl.DGL(), optimizer, inputs, labels, forward=Wrapped(model), micro_batches=3)
    assert len(skipped) == 2
    for method in (minidgl.OGMGE(), minidgl.MMPareto()):
        with pytest.raises(ValueError, match="combines each batch's gradients nonlinearly"):
            minidgl.train_step(model, method, optimizer, inputs, labels, micro_batches=2)
    with pytest.raises(ValueError, match="micro_batches must be an integer from 1 to the batch size 60"):
        minidgl.train_step(model, minidgl.DGL(), optimizer, inputs, labels, micro_batches=0)


def test_fit_accumulates_when_asked(toy):
    histories = []
    for k in (1, 2):
        torch.manual_seed(0)
        histories.append(minidgl.fit(minidgl.build_model(toy, feature_dim=8), toy, "dgl", epochs=1, micro_batches=k,
                                     progress=False))
    assert histories[1].step_loss == pytest.approx(histories[0].step_loss, rel=1e-4)
