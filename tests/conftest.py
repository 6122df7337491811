import os

import pytest
import torch

import minidgl


@pytest.fixture(autouse=True)
def _few_threads():
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits():
    return minidgl.make_av_digits()


@pytest.fixture(scope="session")
def toy():
    """A small, easy two-modality toy that trains in well under a second."""
    return minidgl.make_gaussian_toy({"a": 5.0, "b": 2.0}, num_classes=4, dim=8, n=400)


CHAPTERS_CACHE = os.environ.get("MINIDGL_CACHE")  # the results cache the chapters use (book/setup.md)


@pytest.fixture(autouse=True)
def _no_result_cache(monkeypatch):
    """Tests compute everything; tests of the cache point it at a folder of their own."""
    monkeypatch.setenv("MINIDGL_CACHE", "off")


@pytest.fixture(scope="session")
def crema_raw(tmp_path_factory):
    """A raw CREMA-D tree of tiny real media (4 actors x 6 emotions, 2.5-s FLV and WAV files) and the names."""
    from tiny_media import write_crema_d

    root = tmp_path_factory.mktemp("crema-raw")
    return root, write_crema_d(root)


@pytest.fixture(scope="session")
def crema_lists(crema_raw, tmp_path_factory):
    """A folder with train.csv / test.csv in the authors' format: actor 1004's clips are the test list."""
    _, names = crema_raw
    folder = tmp_path_factory.mktemp("crema-lists")
    for part, keep in (("train", lambda n: not n.startswith("1004")), ("test", lambda n: n.startswith("1004"))):
        (folder / f"{part}.csv").write_text("".join(f"{n},{n.split('_')[2]}\r\n" for n in names if keep(n)))
    return folder


@pytest.fixture(scope="session")
def crema_prepared(crema_raw, crema_lists, tmp_path_factory):
    """The tiny CREMA-D tree prepared with the log-STFT front-end and both splits (in this process)."""
    from data_scripts import crema_d

    out = tmp_path_factory.mktemp("crema-prepared") / "out"
    crema_d.main(["--raw", str(crema_raw[0]), "--out", str(out), "--authors-split", str(crema_lists),
                  "--val-fraction", "0.25", "--workers", "0", "--quiet"])
    return out
