"""Load a VLM and its processor from 'demo', a local folder, or a hub id.

Family-specific quirks live in per-family adapters (`models/families/`); this module only
resolves where the model comes from, picks the adapter from the config's `model_type`, and loads
the model with `AutoModelForImageTextToText` and the processor through the adapter.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from vrprobe.models.families import FamilyAdapter, adapter_for
from vrprobe.models.families.registry import UnsupportedFamilyError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class ModelLoadError(RuntimeError):
    """The model or its processor could not be loaded; the message says what to do."""


def resolve_model_source(spec: str) -> tuple[str, bool]:
    """Map a `--model` value to (path or hub id, is_local).

    >>> resolve_model_source("demo")[1]
    True
    >>> resolve_model_source("llava-hf/llava-1.5-7b-hf")
    ('llava-hf/llava-1.5-7b-hf', False)
    """
    if spec == "demo":
        from vrprobe.models.demo import DEMO_DIR

        return str(DEMO_DIR), True
    path = Path(spec).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"{path} has no config.json: not a saved model folder")
        return str(path.resolve()), True
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise ModelLoadError(f"model folder {spec} does not exist")
    return spec, False


def model_revision(spec: str, revision: str = "main") -> str:
    """A stable identity for work-item keys: a content hash for local folders, else the
    hub revision. Computed without loading the model."""
    source, local = resolve_model_source(spec)
    if not local:
        return f"{source}@{revision}"
    digest = hashlib.sha256()
    for path in sorted(Path(source).iterdir()):
        if path.is_file() and path.suffix in {".json", ".safetensors", ".bin", ".model"}:
            digest.update(path.name.encode())
            digest.update(path.read_bytes() if path.stat().st_size < 64 << 20 else b"")
            digest.update(str(path.stat().st_size).encode())
    return digest.hexdigest()[:16]


@dataclass
class LoadedModel:
    """A model, its processor, and how to turn (image, question) into model inputs."""

    model: Any
    processor: Any
    name: str
    attn_implementation: str
    adapter: FamilyAdapter = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.adapter is None:
            self.adapter = adapter_for(self.model.config)

    @property
    def image_token_id(self) -> int:
        return self.adapter.image_token_id(self.model.config)

    def prompt(self, question: str) -> str:
        return self.adapter.prompt(self.processor, question)

    def to_device(self, batch: dict) -> dict:
        """Tensors on the model's device; floating ones in the model's dtype."""
        device, dtype = self.model.device, self.model.dtype
        return {
            k: (v.to(device, dtype) if v.is_floating_point() else v.to(device))
            for k, v in batch.items()
        }

    def inputs(self, image: Image.Image, question: str) -> dict:
        batch = self.processor(images=image, text=self.prompt(question), return_tensors="pt")
        return self.adapter.generate_inputs(self.to_device(dict(batch)))

    def decode(self, token_ids: Any) -> str:
        return self.processor.tokenizer.decode(token_ids, skip_special_tokens=True).strip()


def load_model(
    spec: str,
    *,
    revision: str = "main",
    dtype: str = "float32",
    device: str = "cpu",
    attn_implementation: str = "sdpa",
) -> LoadedModel:
    """Load model and processor; errors say which source failed and why."""
    from transformers import AutoConfig, AutoModelForImageTextToText

    source, local = resolve_model_source(spec)
    kwargs: dict[str, Any] = {} if local else {"revision": revision}
    try:
        config = AutoConfig.from_pretrained(source, **kwargs)
        adapter = adapter_for(config)
        processor = adapter.load_processor(source, **kwargs)
        model = AutoModelForImageTextToText.from_pretrained(
            source, dtype=DTYPES[dtype], attn_implementation=attn_implementation, **kwargs
        )
    except UnsupportedFamilyError as exc:
        raise ModelLoadError(f"cannot run model {spec!r}: {exc}") from exc
    except OSError as exc:
        hint = "" if local else " (no network? pass a local folder with --model PATH)"
        raise ModelLoadError(f"cannot load model {spec!r} from {source}{hint}: {exc}") from exc
    if not hasattr(processor, "image_processor"):
        raise ModelLoadError(
            f"{spec!r}: AutoProcessor returned only a {type(processor).__name__}; its image "
            "processor is missing (video-capable families need torchvision or an image-only "
            "processor)"
        )
    model.to(device).eval()
    return LoadedModel(model, processor, spec, attn_implementation, adapter)
