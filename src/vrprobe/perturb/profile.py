"""Highlight layer profiling (SPEC §3): which layers' attention finds the evidence.

On up to :data:`PROFILE_SAMPLES` (100) samples of the run's task that have evidence boxes
(the first ones in task order, scanning at most 10× that many), the clean prompt is answered
for one token with capture on; per layer, the last prompt token's attention over image tokens
is scored against the boxes' cells (patch-level AUROC, ``signals.grounding``); layers are
ranked by mean AUROC and the top 10% kept (``ceil``, at least one).

The profile is stored as ``RUN/perturb/highlight_profile.json`` and reused: on resume, by
every worker (a file lock makes one build it while the others wait), and by other runs given
``--highlight-profile RUN_OR_FILE`` (copied into their folder).
"""

from __future__ import annotations

import fcntl
import json
import math
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vrprobe.capture.engine import CaptureRequest, generate_with_capture
from vrprobe.perturb import registry
from vrprobe.signals.grounding import patch_evidence_scores

PROFILE_SAMPLES = registry.PROFILE_SAMPLES
TOP_FRACTION = registry.PROFILE_TOP_FRACTION
FILE = registry.PROFILE_FILE
profile_file = registry.profile_file


class ProfileError(ValueError):
    """The highlight profile cannot be built or reused; the message says why."""


def select_layers(mean_auroc: np.ndarray, fraction: float = TOP_FRACTION) -> list[int]:
    """The top ``ceil(fraction · L)`` layers by mean evidence AUROC (NaN last), ascending.

    >>> select_layers(np.array([0.5, 0.9, np.nan, 0.7] + [0.1] * 6))
    [1]
    >>> select_layers(np.array([0.6, 0.8, 0.7]), 0.5)
    [1, 2]
    """
    a = np.asarray(mean_auroc, dtype=np.float64)
    k = max(1, math.ceil(fraction * a.size - 1e-9))
    order = np.argsort(-np.where(np.isfinite(a), a, -np.inf), kind="stable")
    return sorted(int(i) for i in order[:k])


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read(path: Path, n_layers: int) -> dict:
    try:
        profile = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ProfileError(f"cannot read highlight profile {path}: {exc}") from None
    if len(profile.get("layer_auroc", [])) != n_layers:
        raise ProfileError(
            f"highlight profile {path} has {len(profile.get('layer_auroc', []))} layers, the "
            f"model has {n_layers}"
        )
    return profile


def build_profile(loaded: Any, samples: list, n_layers: int) -> dict:
    """Profile ``samples`` (with boxes) on ``loaded``: per-layer mean AUROC, selected layers."""
    from vrprobe.exec.measure import evidence_cells
    from vrprobe.models.prepare import prepare

    scores, used = [], []
    for sample in samples:
        prep = prepare(loaded, sample.load_image(), sample.question)
        ev = evidence_cells(prep.layout, sample.evidence_boxes)
        if not len(ev):
            continue
        req = CaptureRequest(prep.layout.positions, prep.sections, hidden=False)
        with torch.inference_mode():
            res = generate_with_capture(loaded.model, prep.inputs, req, max_new_tokens=1)
        scores.append([patch_evidence_scores(row, ev).auroc for row in res.image_attention[0]])
        used.append(sample.id)
    if not scores:
        raise ProfileError("no sample with evidence boxes to profile the highlight layers on")
    with np.errstate(all="ignore"):
        mean = np.nanmean(np.array(scores, dtype=np.float64), axis=0)
    return {
        "layer_auroc": [None if not np.isfinite(v) else float(v) for v in mean],
        "layers": select_layers(mean),
        "top_fraction": TOP_FRACTION,
        "n_samples": len(used),
        "sample_ids": used,
    }


def _samples_with_boxes(config: Any) -> list:
    from vrprobe.tasks.base import Sample
    from vrprobe.tasks.registry import resolve_task

    task = resolve_task(config.task, config.split, config.data)
    found = []
    for i, s in enumerate(task.samples(None)):
        if i >= 10 * PROFILE_SAMPLES or len(found) >= PROFILE_SAMPLES:
            break
        if isinstance(s, Sample) and s.evidence_boxes:
            found.append(s)
    return found


def highlight_profile(loaded: Any, config: Any) -> dict:
    """The run's profile: read from ``RUN/perturb/``, else copied from
    ``config.highlight_profile``, else built and stored (under a file lock)."""
    if config.out is None:
        raise ProfileError("highlight needs a run folder to store its layer profile")
    n_layers = len(loaded.model.get_decoder().layers)
    path = Path(config.out) / FILE
    with _locked(path):
        if path.exists():
            profile = _read(path, n_layers)
            given = config.highlight_profile
            if (
                given is not None
                and _read(profile_file(given), n_layers)["layers"] != profile["layers"]
            ):
                raise ProfileError(
                    f"{path} already holds another highlight profile than {given}; use another "
                    "--out to apply a different one"
                )
            return profile
        if config.highlight_profile is not None:
            source = profile_file(config.highlight_profile)
            _read(source, n_layers)
            shutil.copyfile(source, path)
            return _read(path, n_layers)
        profile = {
            "model": config.model,
            "task": config.task,
            "split": config.split,
            **build_profile(loaded, _samples_with_boxes(config), n_layers),
        }
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(profile, indent=2))
        tmp.replace(path)
        return profile
