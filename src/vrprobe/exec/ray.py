"""The Ray executor: work items answered by Ray Core actors, one model per actor.

The driver plans the runs (which keys are missing is decided there, from the stored records,
so resuming works whatever the number of workers), cuts the pending items into batches grouped
by model and hands each idle actor a batch of the model it already holds (it loads another
model only when none of its model's batches are left). The actor answers the batch with
`answer_item` and writes the records itself, as one shard in the run's `records/` folder named
after the batch's keys (`shard-<hash of keys>.parquet`, written atomically): a batch retried
after its actor died writes the same name again, so no key is ever stored twice.

An actor that dies (killed process, lost node, out of memory) is replaced and its batch is put
back in the queue. After `max_attempts` deaths a batch is split into single items, each tried
once more; a single item that still kills its worker becomes an error record, so a sample that
crashes the process deterministically cannot stall the run. Multi-node clusters need the run
folder on a file system every node sees.
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vrprobe.config import RunConfig
from vrprobe.exec.items import WorkItem
from vrprobe.exec.serial import LoadKey, load_key
from vrprobe.runner import ProgressFactory, RunPlan, finish_run
from vrprobe.store.shards import write_shard
from vrprobe.summary import RunSummary


def shard_name(items: tuple[WorkItem, ...]) -> str:
    """The shard a batch is stored in: named after its keys, so a retry overwrites it.

    >>> from vrprobe.tasks.base import SampleError
    >>> a, b = (WorkItem(k, "t", SampleError(k, "x")) for k in ("k1", "k2"))
    >>> shard_name((a, b)) == shard_name((b, a)) != shard_name((a,))
    True
    """
    digest = hashlib.sha256("\n".join(sorted(it.key for it in items)).encode())
    return f"shard-{digest.hexdigest()[:24]}.parquet"


@dataclass(frozen=True)
class Batch:
    """Items of one run (`plan` indexes the run list) answered and stored together."""

    plan: int
    items: tuple[WorkItem, ...]
    attempts: int = 0

    @property
    def name(self) -> str:
        return shard_name(self.items)


def make_batches(plans: list[RunPlan], size: int) -> dict[LoadKey, deque[Batch]]:
    """Pending items cut into batches of at most `size`, queued per model."""
    queues: dict[LoadKey, deque[Batch]] = {}
    for i, plan in enumerate(plans):
        queue = queues.setdefault(load_key(plan.config), deque())
        for start in range(0, len(plan.pending), size):
            queue.append(Batch(i, tuple(plan.pending[start : start + size])))
    return {k: q for k, q in queues.items() if q}


class Worker:
    """The actor: holds one loaded model, answers batches, writes their shards."""

    def __init__(self, threads: int = 1):
        import torch

        torch.set_num_threads(threads)
        self.key: LoadKey | None = None
        self.loaded: Any = None

    def pid(self) -> int:
        return os.getpid()

    def answer(self, batch: Batch, config: RunConfig, records_dir: str) -> int:
        from vrprobe.exec.answer import answer_item
        from vrprobe.exec.serial import load_for

        if self.key != load_key(config):
            self.loaded, self.key = None, None  # free the old model before loading the next
            self.loaded, self.key = load_for(config), load_key(config)
        records = [answer_item(self.loaded, item, config) for item in batch.items]
        write_shard(Path(records_dir), records, name=batch.name)
        return len(records)


@dataclass
class Slot:
    handle: Any
    pid_ref: Any
    key: LoadKey | None = None
    busy: Batch | None = None


@dataclass
class RayExecutor:
    """Answers the pending items of several runs on Ray actors; see the module docstring.

    `workers` defaults to what the cluster holds (GPUs / `gpus_per_worker` when the models
    run on CUDA, else CPUs / `cpus_per_worker`); `batch_size` defaults to the runs'
    `flush_every`, smaller when there are few items per worker. With `keep_actors` the actors
    (and the models they hold) outlive `run` and serve the next runs, until `close()`; an
    executor may also be handed the `slots` list of another to share its actors."""

    workers: int | None = None
    address: str | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float | None = None
    batch_size: int | None = None
    max_attempts: int = 3
    deaths: int = 0
    retried: list[Batch] = field(default_factory=list)
    keep_actors: bool = False
    slots: list[Slot] = field(default_factory=list)

    def busy_pids(self) -> list[int]:
        """Process ids of the actors answering a batch right now."""
        import ray

        return [ray.get(s.pid_ref) for s in self.slots if s.busy is not None]

    def _gpus(self, plans: list[RunPlan]) -> float:
        import ray

        if self.gpus_per_worker is not None:
            return self.gpus_per_worker
        cuda = any(p.config.device.startswith("cuda") for p in plans)
        return 1.0 if cuda and ray.cluster_resources().get("GPU", 0) >= 1 else 0.0

    def _count(self, gpus: float, n_batches: int) -> int:
        import ray

        res = ray.cluster_resources()
        if gpus:
            fits = int(res.get("GPU", 0) // gpus)
        else:
            fits = int(res.get("CPU", 1) // self.cpus_per_worker)
        return max(1, min(self.workers or fits, fits, n_batches))

    def _local_cpus(self) -> int | None:
        """CPUs a local cluster needs so that `workers` actors fit."""
        return int(self.workers * self.cpus_per_worker + 0.999) if self.workers else None

    def _spawn(self, gpus: float) -> Slot:
        import ray

        cls = ray.remote(Worker).options(
            num_cpus=self.cpus_per_worker, num_gpus=gpus, max_restarts=0
        )
        handle = cls.remote(max(1, int(self.cpus_per_worker)))
        return Slot(handle, handle.pid.remote())

    def run(self, plans: list[RunPlan]) -> Iterator[WorkItem]:
        """Answer every pending item; yields items as their records are stored."""
        import ray

        n_items = sum(len(p.pending) for p in plans)
        if not n_items:
            return
        started = connect(self.address, self._local_cpus())
        inflight: dict[Any, int] = {}  # result ref -> index of the slot answering it
        try:
            gpus = self._gpus(plans)
            n_guess = self.workers or int(ray.cluster_resources().get("CPU", 1))
            size = self.batch_size or max(
                1, min(min(p.config.flush_every for p in plans), -(-n_items // (4 * n_guess)))
            )
            queues = make_batches(plans, size)
            n_batches = sum(len(q) for q in queues.values())
            n_workers = self._count(gpus, n_batches)
            self.slots.extend(self._spawn(gpus) for _ in range(n_workers - len(self.slots)))
            while queues or inflight:
                for i, slot in enumerate(self.slots[:n_workers]):
                    if slot.busy is None and queues:
                        slot.busy = _take(queues, slot)
                        cfg = plans[slot.busy.plan].config
                        records = str(plans[slot.busy.plan].store.records_dir)
                        inflight[slot.handle.answer.remote(slot.busy, cfg, records)] = i
                (ref,), _ = ray.wait(list(inflight), num_returns=1)
                i = inflight.pop(ref)
                batch, self.slots[i].busy = self.slots[i].busy, None
                assert batch is not None
                try:
                    ray.get(ref)
                except ray.exceptions.RayActorError as exc:
                    ray.kill(self.slots[i].handle)
                    self.slots[i] = self._spawn(gpus)
                    yield from self._died(batch, exc, plans, queues)
                    continue
                except ray.exceptions.RayTaskError as exc:  # e.g. ModelLoadError: stop the run
                    cause = getattr(exc, "cause", None)
                    raise (cause if isinstance(cause, Exception) else exc) from None
                yield from batch.items
        finally:
            for slot in self.slots:
                slot.busy = None
            if inflight or not self.keep_actors:  # an aborted run must not write on
                self.close()
            if started and not self.keep_actors:
                ray.shutdown()

    def close(self) -> None:
        """End the actors (a `keep_actors` executor keeps them, and their models, between
        runs until this is called)."""
        import ray

        for slot in self.slots:
            ray.kill(slot.handle)
        self.slots.clear()

    def _died(
        self,
        batch: Batch,
        exc: Exception,
        plans: list[RunPlan],
        queues: dict[LoadKey, deque[Batch]],
    ) -> Iterator[WorkItem]:
        """Requeue (or split, or record as errors) the batch of an actor that died."""
        from vrprobe.exec.answer import error_record

        self.deaths += 1
        store = plans[batch.plan].store
        if (store.records_dir / batch.name).exists():  # died after storing the batch
            yield from batch.items
            return
        key = load_key(plans[batch.plan].config)
        attempts = batch.attempts + 1
        if attempts < self.max_attempts:
            retry = [replace(batch, attempts=attempts)]
        elif len(batch.items) > 1:
            retry = [Batch(batch.plan, (it,), self.max_attempts - 1) for it in batch.items]
        else:
            message = (
                f"the worker process died {attempts} times while answering this item "
                f"({type(exc).__name__}); not retried again (--retry-errors tries it anew)"
            )
            write_shard(store.records_dir, [error_record(batch.items[0], message)], batch.name)
            yield from batch.items
            return
        self.retried.extend(retry)
        queues.setdefault(key, deque()).extendleft(reversed(retry))


def _take(queues: dict[LoadKey, deque[Batch]], slot: Slot) -> Batch:
    """The next batch for an actor: of the model it holds, else from the longest queue."""
    key = slot.key if slot.key in queues else max(queues, key=lambda k: len(queues[k]))
    batch = queues[key].popleft()
    if not queues[key]:
        del queues[key]
    slot.key = key
    return batch


def connect(address: str | None, num_cpus: int | None = None) -> bool:
    """Join the cluster at `address`, or start a local one with at least `num_cpus` CPUs;
    True if this call started Ray (and so should shut it down)."""
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        cpus = max(os.cpu_count() or 1, num_cpus or 0)
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    return True


def run_ray(
    plans: list[RunPlan], executor: RayExecutor, progress: ProgressFactory | None = None
) -> list[RunSummary]:
    """Execute the plans on Ray, feeding `progress` with completed items; then summarise."""
    total = sum(len(p.pending) for p in plans)
    done = executor.run(plans)
    for _ in progress(done, total) if progress else done:
        pass
    return [finish_run(plan, computed=len(plan.pending)) for plan in plans]
