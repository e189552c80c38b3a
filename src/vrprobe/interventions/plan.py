"""Plan `vrprobe intervene RUN --kind ...`: everything decided before any model loads.

Reads the run's manifest (model, task, split, data, limit, seed, generation budget), re-creates
the same samples, reads the model's geometry from its config (no weights), checks every flag
against it, picks the dims layer and ranking from the run's stored hidden states, lists one work
item per (sample, setting) keyed with ``item_key`` (setting in the perturbation slot), and opens
the intervention store ``RUN/interventions/<kind>/`` (resumed: only missing items are pending).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vrprobe.config import RunConfig
from vrprobe.exec.items import WorkItem, work_items
from vrprobe.interventions import ranking, settings
from vrprobe.interventions.settings import Geometry, SettingError
from vrprobe.models.loading import model_revision, resolve_model_source
from vrprobe.provenance import environment
from vrprobe.runner import DEFAULT_LIMIT
from vrprobe.store.run import RunStore
from vrprobe.tasks.registry import resolve_task

FOLDER = "interventions"


@dataclass(frozen=True)
class Request:
    """The `vrprobe intervene` flags (None = the documented default)."""

    kind: str
    layer: int | None = None
    fractions: str = settings.DEFAULT_FRACTIONS
    ks: str | None = None
    seeds: int = settings.DEFAULT_SEEDS
    layers: str | None = None
    ranges: str | None = None
    donor: str | None = None
    source: str = "blank"
    positions: str = "image"
    limit: int | None = None
    flush_every: int = 16
    retry_errors: bool = False


@dataclass
class Plan:
    """What an intervention sweep will do and what is already stored."""

    run_dir: Path
    request: Request
    config: RunConfig
    geometry: Geometry
    settings: list[str]
    items: list[WorkItem]
    store: RunStore
    pending: list[WorkItem] = field(default_factory=list)
    dims: ranking.DimsChoice | None = None
    task: Any = None
    limit: int | None = None


def read_run(run_dir: Path) -> tuple[dict, RunConfig]:
    """The run's manifest and its configuration; a clear error for a folder that is no run."""
    path = Path(run_dir) / "manifest.json"
    if not path.is_file():
        raise SettingError(f"RUN_DIR {run_dir} is not a run folder (no manifest.json)")
    manifest = json.loads(path.read_text())
    cfg = {k: v for k, v in manifest.get("config", {}).items() if k in RunConfig.model_fields}
    return manifest, RunConfig(**cfg)


def _text_config(spec: str) -> Any:
    from transformers import AutoConfig

    source, _ = resolve_model_source(spec)
    config = AutoConfig.from_pretrained(source)
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def geometry(spec: str) -> Geometry:
    """Decoder layers, residual width and query heads from the model's config (no weights)."""
    text = _text_config(spec)
    return Geometry(
        int(text.num_hidden_layers), int(text.hidden_size), int(text.num_attention_heads)
    )


ARCH_FIELDS = (
    "model_type",
    "num_hidden_layers",
    "hidden_size",
    "intermediate_size",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
)


def check_donor(model: str, donor: str | None) -> str:
    """The donor's revision when its config has the model's architecture, else an error naming
    the first field that differs (checked from config.json, before any weights load)."""
    if donor is None:
        raise SettingError(
            "--kind replace needs --donor PATH (a checkpoint of the same architecture)"
        )
    mine, theirs = _text_config(model), _text_config(donor)
    for name in ARCH_FIELDS:
        a, b = getattr(mine, name, None), getattr(theirs, name, None)
        if a != b:
            raise SettingError(
                f"--donor {donor}: mismatched architecture, {name} is {b!r} in the donor and "
                f"{a!r} in the run's model {model} (a donor must have the same architecture)"
            )
    return model_revision(donor)


def _settings(req: Request, geo: Geometry, run_dir: Path) -> tuple[list[str], Any]:
    if req.kind == "dims":
        ks = None
        if req.ks is not None:
            try:
                ks = [int(p) for p in req.ks.split(",") if p.strip()]
            except ValueError:
                raise SettingError(f"--k {req.ks!r}: expected comma-separated integers") from None
        counts = settings.dims_counts(settings.parse_fractions(req.fractions), ks, geo.width)
        if req.layer is not None:
            settings.check_layer(req.layer, geo)
        choice = ranking.choose(run_dir, req.layer, need_ranking=max(counts) > 0)
        return settings.dims_settings(choice.layer, counts, req.seeds), choice
    if req.kind == "heads":
        return settings.heads_settings(settings.parse_layers(req.layers, geo), geo), None
    ranges = settings.parse_ranges(req.ranges, geo)
    if req.kind == "replace":
        return settings.range_settings("replace", ranges), None
    prefix = f"{settings.check_source(req.source)}-{settings.check_positions(req.positions)}"
    return settings.range_settings("patch", ranges, prefix), None


def plan(run_dir: Path, req: Request) -> Plan:
    """Check the flags, list the items, open (or resume) ``RUN/interventions/<kind>/``."""
    run_dir = Path(run_dir)
    settings.check_kind(req.kind)
    if req.limit is not None and req.limit < 1:
        raise SettingError(f"--limit {req.limit} must be >= 1")
    manifest, config = read_run(run_dir)
    geo = geometry(config.model)
    donor_revision = check_donor(config.model, req.donor) if req.kind == "replace" else None
    names, dims = _settings(req, geo, run_dir)
    task = resolve_task(config.task, config.split, config.data)
    revision = manifest.get("model_revision") or model_revision(config.model, config.revision)
    run_fp = manifest.get("fingerprint") or config.fingerprint()
    blob = json.dumps([run_fp, "intervene", req.kind, donor_revision]).encode()
    fingerprint = hashlib.sha256(blob).hexdigest()[:16]
    limit = req.limit or config.limit or DEFAULT_LIMIT.get(config.task)
    items = work_items(
        task.name,
        task.samples(limit),
        names,
        model_revision=revision,
        seed=config.seed,
        sampled=0,
        fingerprint=fingerprint,
    )
    info = {
        "fingerprint": fingerprint,
        "run": str(run_dir),
        "run_fingerprint": run_fp,
        "kind": req.kind,
        "request": {**req.__dict__, "limit": limit},
        "run_config": config.model_dump(mode="json"),
        "model_revision": revision,
        "task": task.name,
        "seed": config.seed,
        "settings": names,
        "geometry": geo.__dict__,
        "dims": dims.describe() if dims is not None else None,
        "donor": {"path": req.donor, "revision": donor_revision} if req.donor else None,
        "generation": {"greedy": True, "max_new_tokens": config.max_new_tokens},
        "attn_implementation": config.attn_implementation,
        "batch_size": config.batch_size,
        "environment": environment(),
    }
    store = RunStore.open(run_dir / FOLDER / req.kind, info, flush_every=req.flush_every)
    done = store.done_keys()
    if req.retry_errors:
        done -= store.error_keys()
    pending = [it for it in items if it.key not in done]
    return Plan(run_dir, req, config, geo, names, items, store, pending, dims, task, limit)
