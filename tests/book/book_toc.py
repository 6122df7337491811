"""Helpers shared by the book tests: the repository root, the files listed in _toc.yml, and what the browser
tests need (Chromium, or a skip that `make test` turns into a failure)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = os.environ.get("MINIDGL_REQUIRE_BOOK") == "1"  # set by `make test`: a missing tool is a failure


def unavailable(reason: str):
    """Skip the test for `reason`, or fail it under MINIDGL_REQUIRE_BOOK=1."""
    if REQUIRED:
        pytest.fail(f"{reason} (MINIDGL_REQUIRE_BOOK=1: `make test` builds the book and needs Chromium and "
                    f"Playwright)")
    pytest.skip(reason)


def chromium() -> str:
    """The path of a Chromium executable (Debian's in CI)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if exe := shutil.which(name):
            return exe
    unavailable("Chromium not found: `apt-get install -y chromium`")


def toc_files(toc: Path = ROOT / "_toc.yml") -> list[str]:
    """Every file of the TOC, root first, without extension (e.g. 'notebooks/04_dgl')."""
    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                yield node["file"]
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []):
                    yield from walk(child)
    spec = yaml.safe_load(toc.read_text())
    return [spec["root"], *walk(spec)]
