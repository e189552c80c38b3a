"""Work items and their keys: what decides whether a piece of work is already done."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
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


def work_items(
    task: str,
    samples: Iterable[Sample | SampleError],
    settings: Iterable[str],
    *,
    model_revision: str,
    seed: int,
    sampled: int,
    fingerprint: str,
) -> list[WorkItem]:
    """One keyed item per (sample, setting), samples outermost: the plan of a run or a sweep.

    >>> from vrprobe.tasks.base import SampleError
    >>> bad = SampleError(sample_id="7", message="unreadable")
    >>> items = work_items("t", [bad], ["none", "blank"], model_revision="m", seed=0,
    ...                    sampled=0, fingerprint="f")
    >>> [(it.sample_id, it.perturbation) for it in items]
    [('7', 'none'), ('7', 'blank')]
    """
    names = list(settings)
    items = []
    for sample in samples:
        sid = sample.sample_id if isinstance(sample, SampleError) else sample.id
        for name in names:
            key = item_key(
                model_revision=model_revision,
                task=task,
                sample_id=sid,
                perturbation=name,
                seed=seed,
                samples=sampled,
                fingerprint=fingerprint,
            )
            items.append(WorkItem(key, task, sample, name))
    return items
