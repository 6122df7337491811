"""Checkpoints rebuild the network without the data and resume training exactly where it stopped."""
import re

import pytest
import torch

import minidgl
from minidgl import checkpoint


def _setup(toy, seed=0):
    torch.manual_seed(seed)
    model = minidgl.build_model(toy, feature_dim=8)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [2], gamma=0.1)
    return model, optimizer, scheduler


def _train(model, optimizer, scheduler, toy, method, epochs, start=0):
    """Epochs `start` .. `epochs - 1` of OGM-GE-style training (its noise draws from the global generator)."""
    for epoch in range(start, epochs):
        for inputs, labels in toy.train.batches(64):
            minidgl.train_step(model, method, optimizer, inputs, labels, epoch)
        scheduler.step()


def test_a_checkpoint_rebuilds_the_network_without_the_data(toy, tmp_path):
    model, optimizer, scheduler = _setup(toy)
    _train(model, optimizer, scheduler, toy, minidgl.DGL(), epochs=1)
    path = minidgl.save_checkpoint(tmp_path / "run.pt", model, optimizer, scheduler, step=7, epoch=1, best_score=0.5,
                                   train_config=minidgl.TrainConfig(epochs=1))
    rebuilt = minidgl.load_model(path)
    assert rebuilt.config == model.config and rebuilt.config.modalities == toy.modalities
    inputs, _ = next(toy.test.batches(32))
    torch.testing.assert_close(rebuilt(inputs).fused_logits, model(inputs).fused_logits, rtol=0, atol=0)
    state = minidgl.load_checkpoint(path)
    assert (state["step"], state["epoch"], state["best_score"]) == (7, 1, 0.5)
    assert state["train_config"]["epochs"] == 1 and state["versions"]["torch"] == torch.__version__
    assert minidgl.ModelConfig.from_dict(state["model_config"]) == model.config


def test_resuming_from_a_checkpoint_equals_training_straight_through(toy, tmp_path):
    method = minidgl.OGMGE()
    straight = _setup(toy)
    torch.manual_seed(123)
    _train(*straight, toy, method, epochs=3)

    first = _setup(toy)
    torch.manual_seed(123)
    _train(*first, toy, method, epochs=1)
    minidgl.save_checkpoint(tmp_path / "run.pt", *first, epoch=1)
    torch.manual_seed(999)  # the generators move on in between: restore must put them back
    resumed = _setup(toy, seed=5)
    _, epoch, _ = minidgl.restore(minidgl.load_checkpoint(tmp_path / "run.pt"), *resumed)
    _train(*resumed, toy, method, epochs=3, start=epoch)
    for (name, p), q in zip(straight[0].named_parameters(), resumed[0].parameters()):
        torch.testing.assert_close(q, p, rtol=0, atol=0, msg=lambda m: f"{name}: {m}")


def test_missing_corrupt_or_unbuildable_checkpoints_are_clear_errors(toy, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        minidgl.load_checkpoint(tmp_path / "none.pt")
    model = minidgl.build_model(toy, feature_dim=8)
    path = minidgl.save_checkpoint(tmp_path / "run.pt", model)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a readable minidgl checkpoint"):
        minidgl.load_model(path)
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a minidgl checkpoint"):
        minidgl.load_checkpoint(tmp_path / "other.pt")
    by_hand = minidgl.MultimodalNet(dict(model.encoders), model.fusion, model.input_shapes)
    with pytest.raises(ValueError, match="no ModelConfig"):
        minidgl.save_checkpoint(tmp_path / "x.pt", by_hand)
    weights_only = minidgl.save_checkpoint(tmp_path / "weights.pt", model)
    with pytest.raises(ValueError, match="no optimizer state"):
        minidgl.restore(minidgl.load_checkpoint(weights_only), model, torch.optim.SGD(model.parameters(), lr=0.1))


def test_an_interrupted_save_leaves_the_previous_checkpoint(toy, tmp_path, monkeypatch):
    model = minidgl.build_model(toy, feature_dim=8)
    path = minidgl.save_checkpoint(tmp_path / "run.pt", model, step=1)

    def interrupted(state, target):
        open(target, "wb").write(b"partial")
        raise KeyboardInterrupt
    monkeypatch.setattr(checkpoint.torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        minidgl.save_checkpoint(path, model, step=2)
    monkeypatch.undo()
    assert minidgl.load_checkpoint(path)["step"] == 1 and [p.name for p in tmp_path.iterdir()] == ["run.pt"]


def _fit(toy, method, epochs, seed=0, **options):
    torch.manual_seed(seed)
    model = minidgl.build_model(toy, feature_dim=8)
    history = minidgl.fit(model, toy, method, epochs=epochs, lr_milestones=(2,), progress=False, **options)
    return model, history


@pytest.mark.parametrize("method,amp", [("dgl", False), ("ogm-ge", False), ("mmpareto", False), ("joint", "float16")])
def test_fit_resumed_after_two_epochs_equals_four_epochs_straight(toy, tmp_path, method, amp):
    """The issue's check: 4 epochs straight and 2 + resume 2 give identical parameters, histories and test
    accuracy (OGM-GE draws noise from the global generator; float16 keeps a gradient scaler's state)."""
    straight, straight_history = _fit(toy, method, 4, amp=amp)
    path = tmp_path / "run.pt"
    _fit(toy, method, 2, amp=amp, checkpoint=path)
    assert minidgl.load_checkpoint(path)["epoch"] == 2
    resumed, resumed_history = _fit(toy, method, 4, seed=123, amp=amp, checkpoint=path, resume=path)
    for (name, p), q in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(q, p, rtol=0, atol=0, msg=lambda m: f"{name}: {m}")
    assert resumed_history.to_dict() == straight_history.to_dict()
    state = minidgl.load_checkpoint(path)
    assert state["epoch"] == 4 and state["step"] == len(straight_history.step_loss)
    best = minidgl.load_model(path, best=True)
    torch.testing.assert_close(best.state_dict(), straight.state_dict(), rtol=0, atol=0)  # fit restored the best


def test_resume_refuses_another_model_method_or_settings(toy, tmp_path):
    path = tmp_path / "run.pt"
    _fit(toy, "dgl", 1, checkpoint=path)
    with pytest.raises(ValueError, match="other settings: lr=0.05 \\(now 0.1\\)"):
        _fit(toy, "dgl", 2, lr=0.1, resume=path)
    with pytest.raises(ValueError, match="another method or other method settings"):
        _fit(toy, minidgl.DGL(alpha=2.0), 2, resume=path)
    other = minidgl.build_model(toy, feature_dim=16)
    with pytest.raises(ValueError, match="checkpoint of another model"):
        minidgl.fit(other, toy, "dgl", epochs=2, resume=path, progress=False)
    longer = tmp_path / "two_epochs.pt"
    _fit(toy, "dgl", 2, checkpoint=longer)
    with pytest.raises(ValueError, match="already trained 2 epochs, more than epochs=1"):
        _fit(toy, "dgl", 1, resume=longer)
    with pytest.raises(ValueError, match="holds no training state"):
        _fit(toy, "dgl", 2, resume=minidgl.save_checkpoint(tmp_path / "weights.pt", other))
    with pytest.raises(ValueError, match="holds no validation-selected weights"):
        minidgl.load_model(tmp_path / "weights.pt", best=True)


def test_a_checkpoint_target_is_checked_before_training(toy, tmp_path):
    for target in (tmp_path, tmp_path / "missing" / "run.pt"):
        with pytest.raises(ValueError, match="cannot write a checkpoint"):
            _fit(toy, "dgl", 50, checkpoint=target)


def test_the_command_line_resumes_to_the_same_result(tmp_path):
    from minidgl.__main__ import main

    common = ["train", "--dataset", "gaussian-toy", "--quiet"]
    main(common + ["--epochs", "3", "--json", str(tmp_path / "straight.json")])
    main(common + ["--epochs", "1", "--checkpoint", str(tmp_path / "run.pt")])
    main(common + ["--epochs", "3", "--resume", str(tmp_path / "run.pt"), "--json", str(tmp_path / "resumed.json")])
    assert (tmp_path / "resumed.json").read_text() == (tmp_path / "straight.json").read_text()


@pytest.mark.parametrize("option,target,message", [
    ("--resume", "missing.pt", "--resume .*missing.pt: no checkpoint at"),
    ("--checkpoint", "no/such/folder/run.pt", "cannot write a checkpoint"),
])
def test_the_command_line_checks_checkpoint_paths_before_training(tmp_path, capsys, option, target, message):
    from minidgl.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--dataset", "gaussian-toy", "--quiet", option, str(tmp_path / target)])
    assert exit_info.value.code == 2
    assert re.search(message, capsys.readouterr().err)
