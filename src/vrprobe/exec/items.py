"""Work items and their keys: what decides whether a piece of work is already done."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from vrprobe.tasks.base import Sample, SampleError


def item_key(
    *,
    model_revision: str,
    task: str,
    sample_id: str,
    perturbation: str,
    seed: int,
    samples: int,
    fingerprint: str,
) -> str:
    """Hash of everything that identifies one unit of work (DESIGN.md, decision 4).

    >>> k = dict(model_revision="m", task="t", sample_id="1", perturbation="none", seed=0,
    ...          samples=0, fingerprint="f")
    >>> item_key(**k) == item_key(**k), item_key(**k) == item_key(**{**k, "seed": 1})
    (True, False)
    """
    blob = json.dumps(
        [model_revision, task, sample_id, perturbation, seed, samples, fingerprint]
    ).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def item_seed(key: str) -> int:
    """A per-item seed derived from its key, so a resumed run samples exactly as before.

    >>> item_seed("0000000a" + "f" * 16)
    10
    """
    return int(key[:8], 16)


@dataclass(frozen=True)
class WorkItem:
    key: str
    task: str
    sample: Sample | SampleError
    perturbation: str = "none"

    @property
    def sample_id(self) -> str:
        return self.sample.sample_id if isinstance(self.sample, SampleError) else self.sample.id
