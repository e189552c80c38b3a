"""The Ray executor on a local two-CPU cluster (one `ray.init` for the module)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import time
from pathlib import Path

import cloudpickle
import pyarrow.parquet as pq
import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
import ray

from vrprobe.config import RunConfig
from vrprobe.exec.ray import RayExecutor, run_ray
from vrprobe.runner import execute, plan_run
from vrprobe.tasks.base import Sample

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers need not import tests/

DEMO = {"model": "demo", "task": "shapes", "samples": 2, "max_new_tokens": 4}
N = 8


POOL: list = []  # the actors, shared by the tests' executors (each start imports torch)


@pytest.fixture(scope="module", autouse=True)
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    RayExecutor(slots=POOL).close()
    ray.shutdown()


def executor(**kw) -> RayExecutor:
    return RayExecutor(keep_actors=True, slots=POOL, **kw)


def physical_rows(out: Path) -> list[dict]:
    rows = []
    for path in sorted((out / "records").glob("shard-*.parquet")):
        rows.extend(pq.read_table(path).to_pylist())
    return rows


def canonical(rows: list[dict]) -> dict[str, str]:
    """Rows by key as JSON without timing; fails if a key is stored twice."""
    keys = [r["item_key"] for r in rows]
    assert len(keys) == len(set(keys)), "a key is stored more than once"
    return {
        r["item_key"]: json.dumps({k: v for k, v in r.items() if k != "elapsed_s"}, sort_keys=True)
        for r in rows
    }


@pytest.fixture(scope="module")
def serial_reference(tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("serial") / "run"
    execute(plan_run(RunConfig(**DEMO, limit=N, out=out)))
    return canonical(physical_rows(out))


def counting(seen: list):
    def progress(items, total):
        for item in items:
            seen.append(item.key)
            yield item

    return progress


def test_ray_gives_the_serial_records(serial_reference, tmp_path):
    plan = plan_run(RunConfig(**DEMO, limit=N, out=tmp_path / "run"))
    seen: list[str] = []
    ex = executor(workers=2, batch_size=3)
    (summary,) = run_ray([plan], ex, counting(seen))
    assert summary.items == summary.computed == N and summary.errors == 0
    assert sorted(seen) == sorted(serial_reference)
    assert canonical(physical_rows(plan.out)) == serial_reference
    assert len(list((plan.out / "records").glob("shard-*.parquet"))) == 3  # 3 + 3 + 2
    assert ex.deaths == 0 and plan_run(plan.config).pending == []


@dataclasses.dataclass(frozen=True)
class SlowFirstTime(Sample):
    """A sample whose first load takes long (a marker file says it happened)."""

    marker: str = ""

    def load_image(self):
        if not os.path.exists(self.marker):
            Path(self.marker).touch()
            time.sleep(2.0)
        return super().load_image()


@dataclasses.dataclass(frozen=True)
class KillsItsWorker(Sample):
    def load_image(self):
        os._exit(7)


def swap_sample(plan, index: int, cls, **extra) -> str:
    item = plan.pending[index]
    fields = {f.name: getattr(item.sample, f.name) for f in dataclasses.fields(Sample)}
    plan.pending[index] = dataclasses.replace(item, sample=cls(**fields, **extra))
    return item.key


def test_a_killed_actor_loses_nothing_and_duplicates_nothing(serial_reference, tmp_path):
    plan = plan_run(RunConfig(**DEMO, limit=N, out=tmp_path / "run"))
    slow = swap_sample(plan, 1, SlowFirstTime, marker=str(tmp_path / "marker"))
    ex = executor(workers=2, batch_size=1)
    killed: list[int] = []

    def kill_the_slow_item(items, total):
        for item in items:
            for slot in ex.slots:
                if not killed and slot.busy and slot.busy.items[0].key == slow:
                    while not (tmp_path / "marker").exists():  # make sure it is mid-item
                        time.sleep(0.05)
                    killed.append(ray.get(slot.pid_ref))
                    os.kill(killed[-1], signal.SIGKILL)
            yield item

    (summary,) = run_ray([plan], ex, kill_the_slow_item)
    assert killed and ex.deaths == 1
    assert [b.items[0].key for b in ex.retried] == [slow]
    assert summary.items == N and summary.errors == 0
    assert canonical(physical_rows(plan.out)) == serial_reference


def test_an_item_that_always_kills_its_worker_becomes_an_error_record(tmp_path):
    plan = plan_run(RunConfig(**DEMO, limit=3, out=tmp_path / "run"))
    poison = swap_sample(plan, 0, KillsItsWorker)
    ex = executor(workers=2, batch_size=1, max_attempts=2)
    (summary,) = run_ray([plan], ex)
    assert ex.deaths == 2 and summary.items == 3 and summary.errors == 1
    rows = {r["item_key"]: r for r in physical_rows(plan.out)}
    assert len(rows) == 3 and "died 2 times" in rows[poison]["error"]
    assert all(r["error"] is None for k, r in rows.items() if k != poison)


def test_resuming_with_another_worker_count_adds_only_what_is_missing(serial_reference, tmp_path):
    out = tmp_path / "run"
    first = plan_run(RunConfig(**DEMO, limit=3, out=out))
    run_ray([first], executor(workers=1))
    shards_before = {p.name for p in (out / "records").glob("shard-*.parquet")}
    plan = plan_run(RunConfig(**DEMO, limit=N, out=out))
    assert len(plan.pending) == N - 3
    seen: list[str] = []
    (summary,) = run_ray([plan], executor(workers=2, batch_size=2), counting(seen))
    assert summary.computed == N - 3 and len(seen) == N - 3
    assert shards_before <= {p.name for p in (out / "records").glob("shard-*.parquet")}
    assert canonical(physical_rows(out)) == serial_reference
