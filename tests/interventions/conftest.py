"""Fixtures: a tiny random LLaVA wrapped as a LoadedModel, its inputs, and a state snapshot."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from vrprobe.models.loading import LoadedModel
from vrprobe.models.tiny import tiny_llava


def make_loaded(seed: int = 0) -> LoadedModel:
    model, processor = tiny_llava(seed=seed)
    return LoadedModel(model.eval(), processor, f"tiny-{seed}", "eager")


@pytest.fixture(scope="module")
def loaded() -> LoadedModel:
    return make_loaded(0)


@pytest.fixture(scope="module")
def image() -> Image.Image:
    g = torch.Generator().manual_seed(1)
    pixels = (torch.rand(32, 32, 3, generator=g) * 255).to(torch.uint8).numpy()
    return Image.fromarray(pixels)


@pytest.fixture(scope="module")
def inputs(loaded, image) -> dict:
    return loaded.inputs(image, "what colour is it?")


def logits(model, inputs) -> torch.Tensor:
    with torch.inference_mode():
        return model(**inputs).logits


def snapshot(model: torch.nn.Module) -> dict:
    """Every parameter and buffer (cloned), module identities and every hook dict."""
    state = {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()}
    hooks = {
        name: tuple(
            tuple(getattr(m, d).keys())
            for d in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks")
        )
        for name, m in model.named_modules()
    }
    modules = {name: id(m) for name, m in model.named_modules()}
    return {"state": state, "hooks": hooks, "modules": modules}


def assert_same(before: dict, after: dict) -> None:
    assert before["hooks"] == after["hooks"]
    assert before["modules"] == after["modules"]
    assert before["state"].keys() == after["state"].keys()
    for k, v in before["state"].items():
        assert torch.equal(v, after["state"][k]), k
