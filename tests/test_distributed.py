"""DistributedDataParallel: two gloo processes on CPU, each on half of a batch, against one process on the whole
batch (the authors' steps where they exist); the authors' two-backward DGL step under DDP; `torchrun` on the CLI."""
import json
import os
import pathlib
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import ddp_worker
import minidgl
from ddp_worker import MODALITIES, NOISE_SEED
from minidgl import distributed
from minidgl.reference import authors_dgl_step, authors_mmpareto_step, authors_ogm_coefficients
from minidgl.train import train_step

ROOT = pathlib.Path(__file__).parent.parent


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """What each of the two ranks of `ddp_worker.main` saved. Slow (about 5-8 s, mostly two processes importing
    torch), so the whole module shares one spawn."""
    folder = tmp_path_factory.mktemp("ddp")
    torch.multiprocessing.spawn(ddp_worker.main, args=(str(folder),), nprocs=ddp_worker.WORLD)
    return [torch.load(folder / f"rank{r}.pt", weights_only=False) for r in range(ddp_worker.WORLD)]


def _joint(model, optimizer, inputs, labels):
    F.cross_entropy(model(inputs).fused_logits, labels).backward()
    optimizer.step()


def _uniform(model, optimizer, inputs, labels):
    out = model(inputs)
    (F.cross_entropy(out.fused_logits, labels) + sum(F.cross_entropy(z, labels) for z in out.unimodal_logits.values())
     ).backward()
    optimizer.step()


def _unimodal_audio(model, optimizer, inputs, labels):
    F.cross_entropy(model(inputs).unimodal_logits["audio"], labels).backward()
    optimizer.step()


def _ogm(model, optimizer, inputs, labels):
    """Joint backward, then the authors' coefficients on the concat head's halves scale the encoders' weights."""
    out = model(inputs)
    F.cross_entropy(out.fused_logits, labels).backward()
    halves = [model.fusion.contribution(out.features, m).detach() for m in MODALITIES]
    k_audio, k_visual, _ = authors_ogm_coefficients(*halves, labels, 0.8)
    for m, k in zip(MODALITIES, (k_audio, k_visual)):
        for p in model.encoders[m].parameters():
            if p.ndim >= 2:
                p.grad *= k
    optimizer.step()


def _ogm_ge(model, optimizer, inputs, labels):
    """minidgl's own single-process step (its noise: the same draws of the same generator)."""
    train_step(model, minidgl.OGMGE(strength=0.8), optimizer, inputs, labels)


ONE_PROCESS = {
    "joint": _joint, "joint, 2 micro-batches": _joint, "uniform": _uniform, "unimodal:audio": _unimodal_audio,
    "dgl": lambda model, opt, x, y: authors_dgl_step(model, x, y, opt, alpha=0.5, log=[]),
    "mmpareto": lambda model, opt, x, y: authors_mmpareto_step(model, x, y, opt),
    "ogm": _ogm, "ogm-ge": _ogm_ge}


# OGM-GE's scores are float32 softmaxes (for autocast) even in a float64 model; the reference's are float64
TOLERANCE = {"ogm": dict(rtol=1e-6, atol=1e-9), "ogm-ge": dict(rtol=1e-6, atol=1e-9)}


def one_process_step(label):
    """The parameters after one step of `label` in one process on the whole batch."""
    model = ddp_worker.float64_model()
    inputs, labels = ddp_worker.global_batch()
    torch.manual_seed(NOISE_SEED)
    ONE_PROCESS[label](model, ddp_worker.optimizer(model), inputs, labels)
    return model.state_dict()


def assert_states_close(actual, expected, rtol=1e-9, atol=1e-12):
    for name, value in expected.items():
        torch.testing.assert_close(actual[name], value, rtol=rtol, atol=atol, msg=f"parameter {name} differs")


@pytest.mark.parametrize("label", list(ONE_PROCESS))
def test_one_step_on_two_ranks_equals_one_process_on_the_whole_batch(ranks, label):
    first, second = (r["steps"][label] for r in ranks)
    assert all(torch.equal(first[name], second[name]) for name in first), "the ranks' parameters differ"
    before = ddp_worker.float64_model().state_dict()
    assert any(not torch.equal(first[name], before[name]) for name in first), "the step changed nothing"
    assert_states_close(first, one_process_step(label), **TOLERANCE.get(label, {}))


def test_unimodal_training_leaves_the_other_encoder_alone_on_every_rank(ranks):
    before = ddp_worker.float64_model().state_dict()
    for r in ranks:
        assert all(torch.equal(v, before[n]) for n, v in r["steps"]["unimodal:audio"].items() if ".visual." in n)


def test_ogm_statistics_come_from_the_scores_of_the_whole_batch(ranks):
    model = ddp_worker.float64_model()
    inputs, labels = ddp_worker.global_batch()
    out = model(inputs)
    halves = [model.fusion.contribution(out.features, m).detach() for m in MODALITIES]
    k_audio, k_visual, rho_visual = authors_ogm_coefficients(*halves, labels, 0.8)
    assert min(k_audio, k_visual) < 1, "no modality was damped: the batch does not test the modulation"
    half = slice(0, len(labels) // 2)
    assert authors_ogm_coefficients(*(h[half] for h in halves), labels[half], 0.8)[2] != pytest.approx(
        rho_visual, rel=1e-3), "a rank's half alone gives the same ratio: the batch does not test the sum"
    for r in ranks:  # float32 scores, as in one process
        stats = r["stats"]["ogm"]
        assert float(stats["rho"]["visual"]) == pytest.approx(rho_visual, rel=1e-6)
        assert [float(stats["k"][m]) for m in MODALITIES] == pytest.approx([k_audio, k_visual], rel=1e-6)


def test_authors_two_backward_dgl_step_leaves_the_ranks_fusion_heads_apart(ranks):
    """Their second backward (L_mm into the fusion) runs after DDP has reduced the first: each rank keeps the
    fusion gradient of its own half. The encoders, reduced in the first backward, still agree."""
    first, second = (r["authors dgl"] for r in ranks)
    expected = one_process_step("dgl")
    for name in first:
        if name.startswith("fusion."):
            assert (first[name] - second[name]).abs().max() > 1e-3, f"{name} agrees across ranks"
        else:
            assert torch.equal(first[name], second[name])
            torch.testing.assert_close(first[name], expected[name], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("method", ddp_worker.FIT_METHODS)
def test_fit_on_two_ranks_equals_one_process(ranks, method):
    data = ddp_worker.make_splits()
    model = ddp_worker.fit_model(data)
    history = minidgl.fit(model, data, method, **ddp_worker.FIT_OPTIONS).to_dict()
    for r in ranks:
        assert_states_close(r["fit"][method], model.state_dict(), **TOLERANCE.get(method, {}))
        theirs = r["history"][method]
        for key in ("val_acc", "train_acc", "step_acc", "train_unimodal_acc", "best_epoch", "test_acc",
                    "test_unimodal_acc"):
            assert theirs[key] == history[key], key
        for key in ("train_loss", "step_loss"):
            assert theirs[key] == pytest.approx(history[key], rel=1e-6), key
        for key in ("method_stats", "method_steps"):
            assert theirs[key].keys() == history[key].keys()
            for name, per_modality in history[key].items():
                for m, values in per_modality.items():
                    assert theirs[key][name][m] == pytest.approx(values, rel=1e-6), (key, name, m)


def test_a_batch_or_split_the_ranks_cannot_share_is_refused(ranks):
    for r in ranks:
        assert r["errors"]["odd batch"] == ("InvalidValue: the batch size 15 is the global batch, shared evenly by "
                                            "2 processes; use a multiple of 2")
        assert r["errors"]["one sample"].startswith("InvalidValue: the training split has 1 samples, fewer than "
                                                    "the 2 processes")


def test_without_a_process_group_every_helper_returns_its_input():
    inputs, labels = ddp_worker.global_batch()
    values = [torch.tensor(2.0), 3]
    assert distributed.world_size() == 1 and distributed.rank() == 0 and distributed.is_main()
    assert distributed.share(inputs, labels) == (inputs, labels)
    assert distributed.summed(values)[0] is values[0] and distributed.averaged([labels, None])[0] is labels
    model = ddp_worker.float64_model()
    assert distributed.wrap(model) is model


def torchrun(*args, tmp_path):
    """`python -m minidgl ...` under torchrun, two gloo processes, one epoch of gaussian-toy. Slow (about 5-8 s:
    the launcher and two processes each import torch), hence only two such tests."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "minidgl", *args, "--dataset", "gaussian-toy", "--device", "cpu", "--epochs", "1",
                           "--threads", "1", "--quiet"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)


def test_torchrun_train_prints_and_writes_once(tmp_path):
    result = torchrun("train", "--method", "dgl", "--json", "h.json", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("dgl: test accuracy") == 1
    history = json.loads((tmp_path / "h.json").read_text())
    assert history["method"] == "dgl" and len(history["val_acc"]) == 1


def test_torchrun_with_a_batch_the_ranks_cannot_share_fails_with_one_message(tmp_path):
    result = torchrun("train", "--batch-size", "63", tmp_path=tmp_path)
    assert result.returncode != 0
    assert result.stderr.count("error: the batch size 63 is the global batch, shared evenly by 2 processes; "
                               "use a multiple of 2") == 1
