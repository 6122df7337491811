"""Chapter 7's demonstration and figures: DGL on two gloo processes, one backward against the authors' two."""
import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from minidgl.course.plots import scale as scale_plots  # noqa: E402
from minidgl.course.scale import PROCEDURES, replica_drift  # noqa: E402


def test_one_backward_keeps_the_processes_identical_and_two_backwards_do_not(tmp_path, monkeypatch):
    """About 10 s: two processes start and import torch (once: the second call reads the cache)."""
    monkeypatch.setenv("MINIDGL_CACHE", str(tmp_path))
    drift = replica_drift(steps=3, batch_size=16)
    monkeypatch.setattr(torch.multiprocessing, "spawn", lambda *args, **kwargs: pytest.fail("measured again"))
    assert replica_drift(steps=3, batch_size=16) == drift
    one, two = drift[PROCEDURES[0]], drift[PROCEDURES[1]]
    assert one == {"fusion": 0.0, "encoders": 0.0, "vs_one_process": one["vs_one_process"]}
    assert one["vs_one_process"] < 1e-6
    assert two["encoders"] == 0.0 and two["fusion"] > 1e-3 and two["vs_one_process"] > 1e-3
    assert len(scale_plots.drift_figure(drift).axes[0].patches) == 6


def test_exercise_checkers_fail_plausible_wrong_answers(capsys):
    from minidgl.course.exercises import ch07

    clips_not_actors = lambda train, test: sorted(set(train) & set(test))
    unsorted = lambda train, test: sorted({c.split("_")[0] for c in train} & {c.split("_")[0] for c in test},
                                          reverse=True)
    assert not ch07.check_leaked_actors(clips_not_actors)
    assert "the first field of the name" in capsys.readouterr().out
    assert not ch07.check_leaked_actors(unsorted) and "[FAIL]" in capsys.readouterr().out
    plain_mean = lambda grads, sizes: sum(grads) / len(grads)
    assert not ch07.check_global_gradient(plain_mean)
    assert "right only when the shares are equal" in capsys.readouterr().out
    summed = lambda grads, sizes: sum(grads)
    assert not ch07.check_global_gradient(summed) and "[FAIL]" in capsys.readouterr().out
