"""Helpers shared by the book tests: the repository root and the files listed in _toc.yml."""
from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


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
