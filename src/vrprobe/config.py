"""Run configuration: validated before anything loads, fingerprinted for work-item keys."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from vrprobe.perturb import registry as perturb_registry

SignalGroup = Literal["spatial", "grounding", "evidence", "uncertainty", "hidden"]
SIGNAL_GROUPS: tuple[SignalGroup, ...] = (
    "spatial",
    "grounding",
    "evidence",
    "uncertainty",
    "hidden",
)

# Fields that do not change what a record contains: they stay out of the fingerprint, so a
# run can be resumed with another --limit, output folder or progress setting.
# `perturb` is left out too: each item's key holds its perturbation, so adding perturbations
# to a run folder resumes it and computes only the new items.
NON_SEMANTIC_FIELDS = frozenset(
    {"limit", "out", "progress", "retry_errors", "flush_every", "perturb", "highlight_profile"}
)
PerturbName = Annotated[str, AfterValidator(perturb_registry.check_name)]
DEVICE = re.compile(r"cpu|mps|(cuda|xpu)(:\d+)?")


class RunConfig(BaseModel):
    """Everything that defines a run. Unknown fields are errors that name the field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field("demo", description="'demo', a local model folder, or a hub id")
    revision: str = Field("main", description="hub revision (ignored for local folders)")
    task: str = Field("shapes", description="a registered task name or a path (.jsonl, folder)")
    split: str = Field("test", description="split of a generated task")
    data: str | None = Field(None, description="a benchmark's local copy (path) or hub id")
    limit: int | None = Field(None, ge=1, description="run at most this many samples")
    seed: int = Field(0, ge=0, description="base seed; each item derives its own from its key")
    max_new_tokens: int = Field(8, ge=1, le=4096)
    samples: int = Field(0, ge=0, le=256, description="K sampled answers for self-consistency")
    temperature: float = Field(0.7, gt=0.0, le=5.0)
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    signals: tuple[SignalGroup, ...] = Field(
        SIGNAL_GROUPS, min_length=1, description="signal groups to record (default: all)"
    )
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    device: str = "cpu"
    batch_size: Literal[1] = Field(1, description="items per forward pass (1 for now)")
    attn_implementation: Literal["sdpa", "eager"] = "sdpa"
    perturb: tuple[PerturbName, ...] = Field(
        ("none",),
        min_length=1,
        description="image perturbations (groups expand: blur, mask-top, highlight); one item "
        "per sample and perturbation; 'none' always runs (docs/perturbations.md)",
    )
    highlight_profile: Path | None = Field(
        None, description="reuse another run's highlight layer profile (its folder or JSON file)"
    )
    out: Path | None = None
    progress: bool = True
    retry_errors: bool = False
    flush_every: int = Field(16, ge=1, description="write a shard every this many records")

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        if not DEVICE.fullmatch(value):
            raise ValueError(
                f"unknown device {value!r} (allowed: cpu, cuda, cuda:N, mps, xpu, xpu:N)"
            )
        if value != "cpu":
            import torch  # only for a non-CPU device: option checks stay light

            kind = value.split(":")[0]
            backend = getattr(torch, kind, None)
            if backend is None or not backend.is_available():
                raise ValueError(f"device {value!r} is not available here (use cpu)")
        return value

    @field_validator("highlight_profile")
    @classmethod
    def _check_profile(cls, value: Path | None) -> Path | None:
        if value is None:
            return value
        path = perturb_registry.profile_file(value)
        if not path.is_file():
            raise ValueError(
                f"no highlight profile at {path} (give a run folder holding "
                f"{perturb_registry.PROFILE_FILE} or the JSON file itself)"
            )
        return value

    @field_validator("perturb", mode="after")
    @classmethod
    def _expand_perturb(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return perturb_registry.expand(value)

    def fingerprint(self) -> str:
        """Short hash of the fields that change records.

        >>> RunConfig().fingerprint() == RunConfig(limit=5, out=Path("x")).fingerprint()
        True
        >>> RunConfig().fingerprint() == RunConfig(seed=1).fingerprint()
        False
        """
        fields = self.model_dump(mode="json", exclude=set(NON_SEMANTIC_FIELDS))
        blob = json.dumps(fields, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def format_validation_error(exc: ValidationError) -> str:
    """One line per bad field: `field: message (got value)`.

    >>> try:
    ...     RunConfig(samples=-1)
    ... except ValidationError as e:
    ...     print(format_validation_error(e))
    samples: Input should be greater than or equal to 0 (got -1)
    """
    errors = exc.errors()
    locs = [tuple(map(str, e["loc"])) for e in errors]
    lines = []
    for err, loc in zip(errors, locs, strict=True):
        if any(other[: len(loc)] == loc and other != loc for other in locs):
            continue  # a container's error that only repeats its element's (e.g. perturb.0)
        where = ".".join(loc) or "config"
        lines.append(f"{where}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)
