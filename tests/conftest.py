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
