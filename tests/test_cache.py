"""The result cache: a cached run or probe is exactly what computing it gives, and anything that could change
the result changes the key."""
import multiprocessing
import os
import time

import pytest
import torch

import minidgl
from minidgl import cache, diagnostics, experiments


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDGL_CACHE", str(tmp_path / "results"))
    return tmp_path / "results"


@pytest.fixture
def count_fits(monkeypatch):
    """How many times `run` really trained."""
    calls = []
    real_fit = experiments.fit

    def counting_fit(*args, **kwargs):
        calls.append(args[2])
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(experiments, "fit", counting_fit)
    return calls


def run_twice(data, method, count_fits, **overrides):
    model, history = experiments.run(data, method, seed=1, epochs=2, progress=False, **overrides)
    after_training = torch.rand(3)
    again, history_again = experiments.run(data, method, seed=1, epochs=2, progress=False, **overrides)
    return (model, history, after_training), (again, history_again, torch.rand(3))


def test_a_cached_run_is_the_run_it_stores(toy, cache_dir, count_fits):
    (model, history, rand), (again, history_again, rand_again) = run_twice(toy, "dgl", count_fits)
    assert len(count_fits) == 1, "the second run should be read from the cache"
    assert history_again.to_dict() == history.to_dict()
    for name, value in model.state_dict().items():
        assert torch.equal(again.state_dict()[name], value), name
    assert torch.equal(rand_again, rand), "the random generators should be left as training leaves them"
    assert any(cache_dir.rglob("*.pt"))


def test_cache_off_recomputes_and_writes_nothing(toy, cache_dir, count_fits, monkeypatch):
    monkeypatch.setenv("MINIDGL_CACHE", "off")
    run_twice(toy, "joint", count_fits)
    assert len(count_fits) == 2 and not cache_dir.exists()


def test_methods_defined_outside_minidgl_are_never_cached(toy, cache_dir, count_fits):
    class MyJoint(minidgl.Joint):
        pass

    run_twice(toy, MyJoint(), count_fits)
    assert len(count_fits) == 2


def test_a_key_reads_tensors_by_digest_and_dicts_in_any_order(monkeypatch):
    weights = {"layer.weight": torch.randn(64, 64), "layer.bias": torch.randn(64)}
    reordered = dict(reversed(weights.items()))
    monkeypatch.setattr(torch.Tensor, "__repr__", lambda self: pytest.fail("a key printed a tensor"))
    assert cache.key("probe", "cpu", weights=weights) == cache.key("probe", "cpu", weights=reordered)
    assert cache.key("probe", "cpu", weights=weights) != cache.key("probe", "cpu", weights={**weights, "x": 1})
    assert cache.describe({1: "a"}) != cache.describe({"1": "a"})


def test_everything_a_run_depends_on_changes_its_key(toy):
    def run_key(data=toy, method=minidgl.DGL(0.5), **settings):
        return cache.key("run", "cpu", data=data, method=method, settings={"epochs": 2, **settings})

    base = run_key()
    assert run_key() == base
    assert run_key(method=minidgl.DGL(0.25)) != base
    assert run_key(method=minidgl.Uniform()) != base
    assert run_key(epochs=3) != base
    assert run_key(data=toy.select("a")) != base
    changed = minidgl.Splits(toy.train.subset(torch.arange(len(toy.train))), toy.val, toy.test)
    assert run_key(data=changed) == base, "the same values are the same data"
    changed.train.inputs["a"][0, 0] += 1.0
    assert run_key(data=changed) != base, "an in-place edit of a tensor changes the key"
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads + 1)
        assert run_key() != base, "float sums depend on the thread count"
    finally:
        torch.set_num_threads(threads)


def test_a_corrupt_entry_is_recomputed(toy, cache_dir, count_fits):
    experiments.run(toy, "joint", seed=0, epochs=1, progress=False)
    (entry,) = cache_dir.rglob("*.pt")
    entry.write_bytes(b"not a checkpoint")
    model, history = experiments.run(toy, "joint", seed=0, epochs=1, progress=False)
    assert len(count_fits) == 2 and len(history.val_acc) == 1


def test_a_cached_probe_equals_the_probe_and_follows_the_weights(toy, cache_dir):
    model = experiments.initial_model(toy, seed=0)
    computed = diagnostics.linear_probe(model, "a", toy.train, toy.test, steps=20)
    assert diagnostics.linear_probe(model, "a", toy.train, toy.test, steps=20) == computed
    assert len(list(cache_dir.rglob("*.pt"))) == 1
    with torch.no_grad():
        next(model.encoders["a"].parameters()).mul_(-1.0)
    diagnostics.linear_probe(model, "a", toy.train, toy.test, steps=20)
    assert len(list(cache_dir.rglob("*.pt"))) == 2, "new weights are a new probe"


def test_only_the_newest_source_versions_are_kept(cache_dir, monkeypatch):
    for n in range(cache.KEEP_VERSIONS + 2):
        monkeypatch.setattr(cache, "source_version", lambda n=n: f"version{n}")
        cache.save("entry", {"n": n})
    kept = sorted(p.name for p in cache_dir.iterdir())
    assert len(kept) == cache.KEEP_VERSIONS and f"version{cache.KEEP_VERSIONS + 1}" in kept
    assert cache.load("entry") == {"n": cache.KEEP_VERSIONS + 1}


def test_the_command_line_and_the_library_share_runs_at_the_same_thread_count(cache_dir, count_fits):
    from minidgl.__main__ import main
    main(["train", "--dataset", "gaussian-toy", "--method", "unimodal:a", "--epochs", "2", "--threads", "1",
          "--quiet"])
    assert torch.get_num_threads() == 1 and len(count_fits) == 1
    experiments.run(minidgl.load_dataset("gaussian-toy"), "unimodal:a", 0, epochs=2, progress=False)
    assert len(count_fits) == 1, "the library should read back the run the command line trained"
    torch.set_num_threads(2)
    experiments.run(minidgl.load_dataset("gaussian-toy"), "unimodal:a", 0, epochs=2, progress=False)
    assert len(count_fits) == 2, "another thread count is another computation"


def test_a_cached_attenuation_study_is_the_study(toy, cache_dir, monkeypatch):
    from minidgl.course import studies
    first = studies.attenuation_during_training(toy, epochs=2, checkpoints=(0, 2), samples=50)
    after = torch.rand(2)
    monkeypatch.setattr(studies, "fit", lambda *args, **kwargs: pytest.fail("the study should be read back"))
    again = studies.attenuation_during_training(toy, epochs=2, checkpoints=(0, 2), samples=50)
    assert again["norms"] == first["norms"] and again["history"].to_dict() == first["history"].to_dict()
    for m, measured in first["checkpoints"][2].items():
        for name, value in measured.items():
            assert torch.equal(torch.as_tensor(again["checkpoints"][2][m][name]), torch.as_tensor(value)), name
    assert torch.equal(torch.rand(2), after)


def test_av_digits_is_built_once_per_set_of_knobs_and_read_back_bit_for_bit(cache_dir, monkeypatch):
    from minidgl.data import av_digits
    builds = []
    real_build = av_digits.build_av_digits
    monkeypatch.setattr(av_digits, "build_av_digits", lambda **knobs: builds.append(knobs) or real_build(**knobs))
    first = minidgl.make_av_digits(copies=1)
    again = minidgl.make_av_digits(copies=1)
    assert len(builds) == 1, "the second call should read the dataset back"
    for split in ("train", "val", "test"):
        built, read = getattr(first, split), getattr(again, split)
        assert torch.equal(read.labels, built.labels) and read.class_names == built.class_names
        for m in ("audio", "visual"):
            assert torch.equal(read.inputs[m], built.inputs[m]), (split, m)
    assert cache.describe(again) == cache.describe(first), "the same runs should be read back for it"
    minidgl.make_av_digits(copies=1, snr_db=-8.0)
    assert len(builds) == 2 and builds[1]["snr_db"] == -8.0, "other knobs are another dataset"


def _ask_for_a_slow_entry(log):
    """In a child process: ask the cache for an entry that takes 1 s to compute (and, while computing it, for
    another one), logging each computation."""
    def compute(name, value):
        with open(log, "a") as file:
            file.write(f"{name} {os.getpid()}\n")
        time.sleep(1.0)
        return value

    entry = cache.computed("slow", lambda: {"inner": cache.computed("inner", lambda: compute("inner", 7)),
                                            "value": compute("slow", 42)})
    assert entry == {"inner": 7, "value": 42}


@pytest.mark.skipif(cache.fcntl is None, reason="no file locks on this system: both processes compute")
def test_a_process_waits_for_the_entry_another_is_computing(cache_dir, tmp_path):
    log = tmp_path / "computations.log"
    fork = multiprocessing.get_context("fork")
    children = [fork.Process(target=_ask_for_a_slow_entry, args=(log,)) for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=60)
    assert [child.exitcode for child in children] == [0, 0]
    assert sorted(line.split()[0] for line in log.read_text().splitlines()) == ["inner", "slow"], \
        "each entry should be computed once, by one of the two processes"
    assert not list(cache_dir.rglob("*.lock")), "the lock files should be gone with the computations"
