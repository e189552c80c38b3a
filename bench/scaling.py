"""Throughput of the executors on the demo: serial, Ray with 1 worker, Ray with 2 workers.

Each repetition answers the same `--items` shapes questions into a fresh run folder with each
executor, in rotating order (interleaved), and times the answering only: the Ray actors are
started and their models loaded once in a warm-up run (they are kept between runs), and the
serial model is loaded once too. One thread per worker and for the serial run. Cold start
(actor start + model load) is reported separately. The last stdout line is one JSON object:
`ray_2w_speedup` = Ray 1-worker time / Ray 2-worker time, `ray_1w_overhead` = Ray 1-worker
time / serial time.

    python bench/scaling.py                 # ~1-2 min on two free cores
    python bench/scaling.py --items 24 --reps 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from vrprobe.config import RunConfig
from vrprobe.exec.ray import RayExecutor, run_ray
from vrprobe.exec.serial import load_for
from vrprobe.runner import execute, plan_run

MODES = ("serial", "ray_1w", "ray_2w")


def config(items: int, out: Path) -> RunConfig:
    return RunConfig(model="demo", task="shapes", limit=items, max_new_tokens=8, out=out)


def timed_run(mode: str, items: int, out: Path, loaded, pool: list) -> float:
    """Wall seconds to answer and store `items` demo questions with one executor."""
    plan = plan_run(config(items, out))
    assert len(plan.pending) == items
    start = time.perf_counter()
    if mode == "serial":
        summary = execute(plan, loaded=loaded)
    else:
        workers = 1 if mode == "ray_1w" else 2
        (summary,) = run_ray([plan], RayExecutor(workers=workers, keep_actors=True, slots=pool))
    elapsed = time.perf_counter() - start
    assert summary.computed == items and summary.errors == 0, summary
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=48, help="questions per run")
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions")
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    pool: list = []
    root = Path(tempfile.mkdtemp(prefix="vrprobe-scaling-"))
    try:
        start = time.perf_counter()
        loaded = load_for(config(args.items, root))
        cold = {"serial_load_s": time.perf_counter() - start}
        execute(plan_run(config(4, root / "warm-serial")), loaded=loaded)  # first-call costs
        start = time.perf_counter()  # warm-up: starts both actors and loads their models
        run_ray(
            [plan_run(config(4, root / "warm"))],
            RayExecutor(workers=2, batch_size=2, keep_actors=True, slots=pool),
        )
        cold["ray_2w_start_s"] = time.perf_counter() - start
        times: dict[str, list[float]] = {m: [] for m in MODES}
        for rep in range(args.reps):
            order = MODES[rep % 3 :] + MODES[: rep % 3]
            for mode in order:
                times[mode].append(
                    timed_run(mode, args.items, root / f"{mode}-{rep}", loaded, pool)
                )
    finally:
        RayExecutor(slots=pool).close()
        ray.shutdown()
    med = {m: statistics.median(ts) for m, ts in times.items()}
    for mode in MODES:
        runs = " ".join(f"{t:.2f}" for t in times[mode])
        print(f"{mode:7s} median {med[mode]:.2f} s = {args.items / med[mode]:.1f} items/s ({runs})")
    print(
        f"cold start: serial model load {cold['serial_load_s']:.1f} s, "
        f"2 Ray actors started + models loaded + 4 items {cold['ray_2w_start_s']:.1f} s"
    )
    result = {
        "items": args.items,
        "reps": args.reps,
        "items_per_s": {m: round(args.items / med[m], 2) for m in MODES},
        "ray_2w_speedup": round(med["ray_1w"] / med["ray_2w"], 3),
        "ray_1w_overhead": round(med["ray_1w"] / med["serial"], 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
