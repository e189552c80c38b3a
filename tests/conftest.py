"""Shared fixtures: a saved tiny random LLaVA and a small JSONL task on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A random-weight LLaVA saved with its processor, loadable by `--model PATH`."""
    from vrprobe.models.tiny import tiny_llava

    path = tmp_path_factory.mktemp("tiny-llava")
    model, processor = tiny_llava()
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def write_task(folder: Path, rows: list[dict], images: dict[str, Image.Image]) -> Path:
    """Write images and a `task.jsonl` manifest (rows may be dicts or raw strings)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, img in images.items():
        img.save(folder / name)
    manifest = folder / "task.jsonl"
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


@pytest.fixture()
def small_task(tmp_path) -> Path:
    """Six good rows over two images (one non-square)."""
    images = {"a.png": Image.new("RGB", (40, 30), (255, 0, 0)), "b.png": Image.new("RGB", (32, 32))}
    rows = [
        {
            "id": f"s{i}",
            "image": "a.png" if i % 2 else "b.png",
            "question": f"what colour is thing {i} ?",
            "answers": ["red"],
            "evidence_boxes": [[1, 2, 10, 12]],
        }
        for i in range(6)
    ]
    return write_task(tmp_path / "task", rows, images)


@pytest.fixture()
def manifest_only_run(tmp_path) -> Path:
    """A run folder with a manifest only (demo model, shapes, 2 samples; no records): enough
    for the commands that must refuse bad flags before reading records or loading a model."""
    run = tmp_path / "run"
    run.mkdir()
    config = {"model": "demo", "task": "shapes", "limit": 2}
    (run / "manifest.json").write_text(json.dumps({"config": config, "fingerprint": "f"}))
    return run
