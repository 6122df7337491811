"""Seeding: `build_model(seed=)` and `fit(seed=)` reproduce in any process, `fit` leaves the caller's generators
alone, and `experiments.run` (what the chapters' asserted numbers come from) draws exactly what it always has."""
import os
import pathlib
import re
import subprocess
import sys

import pytest
import torch

import minidgl
from minidgl.experiments import run

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small_toy():
    return minidgl.make_gaussian_toy(n=300, dim=8, num_classes=3, seed=0)


def test_run_draws_what_it_did_before_the_seeding_changes(small_toy):
    """Pinned values: computed by running this exact code with minidgl at main 2914de6, before `fit` restored the
    caller's generators (1 thread, torch 2.14.1 CPU). The losses and the next draw after each run must not move:
    the chapters assert numbers that `run` produces."""
    expected = {"joint": ([0.46202851831912994, 0.03034720810986376], 0.004263520240783691),
                "ogm-ge": ([0.46205412472287816, 0.025879146647639573], 0.5753457546234131)}
    for method, (losses, next_draw) in expected.items():
        _, history = run(small_toy, method, seed=3, epochs=2, batch_size=32, progress=False)
        assert history.train_loss == losses
        assert torch.rand(1).item() == next_draw  # run leaves the generators where training left them, as before


def test_fit_gives_the_caller_its_generators_back(small_toy):
    model = minidgl.build_model(small_toy)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    minidgl.fit(model, small_toy, "ogm-ge", epochs=1, seed=7, progress=False)
    assert torch.equal(torch.rand(3), expected)


def test_restarts_in_a_loop_start_from_different_weights(small_toy):
    """`fit` used to reseed the global generator, so models built after it in a loop were identical."""
    minidgl.fit(minidgl.build_model(small_toy), small_toy, epochs=1, seed=7, progress=False)
    firsts = []
    for _ in range(2):
        model = minidgl.build_model(small_toy)
        firsts.append(next(model.parameters()).detach().clone())
        minidgl.fit(model, small_toy, epochs=1, seed=7, progress=False)
    assert not torch.equal(*firsts)


def test_build_model_seed_is_run_initial_model_and_keeps_the_callers_state(small_toy):
    torch.manual_seed(5)
    expected_next = torch.rand(2)
    torch.manual_seed(5)
    seeded = minidgl.build_model(small_toy, seed=3)
    assert torch.equal(torch.rand(2), expected_next)
    reference = minidgl.experiments.initial_model(small_toy, 3)
    for (name, a), (_, b) in zip(seeded.state_dict().items(), reference.state_dict().items()):
        assert torch.equal(a, b), name


def test_the_readme_example_prints_the_same_number_in_two_processes(tmp_path):
    """The README's one-screen example, taken from the README, run in two fresh processes (at once, ~15 s: it
    builds AV-Digits and trains 2 epochs, as a reader would)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The package in one screen", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "seed=" in code and "print(" in code
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    runs = []
    for i in range(2):
        folder = tmp_path / str(i)
        folder.mkdir()
        runs.append(subprocess.Popen([sys.executable, "-c", code], cwd=folder, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    outputs = [process.communicate(timeout=300) for process in runs]
    assert [process.returncode for process in runs] == [0, 0], [err[-2000:] for _, err in outputs]
    first, second = (out.strip() for out, _ in outputs)
    assert first == second and re.match(r"0\.\d+ \{'audio': 0\.\d+, 'visual': 0\.\d+\}$", first)
