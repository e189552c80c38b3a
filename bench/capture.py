"""Capture overhead: plain sdpa generate vs generate with capture vs eager + output_attentions.

LLaVA-shaped random model (text hidden 512, 8 layers, 8 heads, tiny vision tower), 100 forced
new tokens (``min_new_tokens``), 1 thread, at 576 (24x24) and 2,304 (48x48) image tokens.

- modes: ``plain`` (sdpa ``generate``), ``capture`` (``generate_with_capture``: full-attention
  layers queue their queries and get their rows many steps at once), ``capture_step``
  (``queue_rows=False``: every row computed in its step, the reference path) and ``eager``
  (``output_attentions=True``).
- time (``*_time_ratio_*``): ``--reps`` processes per size; each builds the model once and runs
  ``--rounds`` rounds of plain, capture and capture_step generate, order rotating, and one eager
  generate. Ratios are paired within a round (capture / plain of the same round; eager / the
  process's median plain), median over rounds and processes. Time is CPU time
  (``time.process_time``): equal to wall time on an idle core, robust to other processes sharing
  the CPU; wall-clock ratios are reported as ``*_wall_time_ratio_*``. Back-to-back pairs cancel
  the slow drifts of a shared machine that made separate-process timings scatter by +-20% here.
- memory (``*_rss_ratio_*``): peak RSS (``ru_maxrss``) of one process per mode, ``--rss-reps``
  interleaved repetitions, median. These run with glibc's mmap threshold pinned
  (``MALLOC_MMAP_THRESHOLD_=65536``): big buffers go back to the system when freed, so the peak
  is the live peak and repeats agree to ~0.1 MB; with the default dynamic threshold the peak also
  counts freed heap the allocator kept, +-5% between identical runs here.

The last stdout line is one JSON object.

    python bench/capture.py        # full run: ~14 min on an idle core
    python bench/capture.py --reps 1 --rss-reps 1 --rounds 1 --grids 24   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

MODES = ("plain", "capture", "capture_step", "eager")
PAIRED = ("plain", "capture", "capture_step")  # timed in every round, order rotating
NEW_TOKENS = 100


def build(grid: int):
    """Model, inputs and a capture request for a ``grid x grid`` image-token prompt."""
    import numpy as np
    import torch
    from PIL import Image

    from vrprobe.capture.engine import CaptureRequest
    from vrprobe.models.tiny import tiny_llava

    torch.set_num_threads(1)
    patch = 4
    model, processor = tiny_llava(
        image_size=grid * patch,
        patch_size=patch,
        hidden=512,
        layers=8,
        heads=8,
        kv_heads=8,
        vision_hidden=32,
        vision_layers=1,
        attn_implementation="sdpa",
    )
    image = Image.fromarray(np.random.RandomState(0).randint(0, 255, (300, 400, 3), np.uint8))
    question = "Which shape is left of the blue circle, and what colour is it?"
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}
    ]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    inputs = processor(images=image, text=text, return_tensors="pt")
    ids = inputs["input_ids"][0].numpy()
    img = np.flatnonzero(ids == model.config.image_token_id)
    rest = np.setdiff1d(np.arange(len(ids)), img)
    request = CaptureRequest(image_positions=img, sections={"image": img, "text": rest})
    with torch.no_grad():  # warm-up on a short text-only prompt
        warm = processor.tokenizer("USER: hello ASSISTANT:", return_tensors="pt")
        model.generate(**warm, do_sample=False, max_new_tokens=3)
    return model, inputs, request


def run_mode(mode: str, model, inputs: dict, request) -> tuple[float, float]:
    """One 100-token generate in ``mode``: (cpu seconds, wall seconds)."""
    import torch

    from vrprobe.capture.engine import generate_with_capture

    gen = {"do_sample": False, "max_new_tokens": NEW_TOKENS, "min_new_tokens": NEW_TOKENS}
    prompt = inputs["input_ids"].shape[1]
    if mode == "eager":
        model.set_attn_implementation({"text_config": "eager"})
    with torch.no_grad():
        start, cpu = time.perf_counter(), time.process_time()
        if mode in ("capture", "capture_step"):
            queue = mode == "capture"
            n = len(
                generate_with_capture(model, inputs, request, queue_rows=queue, **gen).new_tokens
            )
        elif mode == "eager":
            out = model.generate(
                **inputs, output_attentions=True, return_dict_in_generate=True, **gen
            )
            assert len(out.attentions[0]) > 0
            n = out.sequences.shape[1] - prompt
            del out
        else:
            n = model.generate(**inputs, **gen).shape[1] - prompt
        cpu, wall = time.process_time() - cpu, time.perf_counter() - start
    if mode == "eager":
        model.set_attn_implementation({"text_config": "sdpa"})
    assert n == NEW_TOKENS, (mode, n)
    return cpu, wall


def worker_time(grid: int, rounds: int, modes: list[str]) -> dict:
    """Paired timings in one process: a full-prompt warm-up, ``rounds`` x (plain, capture,
    capture_step) with the order rotating, then eager once."""
    import torch

    model, inputs, request = build(grid)
    with torch.no_grad():  # first touch of prompt-sized buffers (page faults) off the clock
        model.generate(**inputs, do_sample=False, max_new_tokens=2)
    times: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
    pair = [m for m in PAIRED if m in modes]
    for r in range(rounds):
        k = r % len(pair)
        for mode in pair[k:] + pair[:k]:
            times[mode].append(run_mode(mode, model, inputs, request))
    if "eager" in modes:
        times["eager"].append(run_mode("eager", model, inputs, request))
    return {"grid": grid, "image_tokens": len(request.image_positions), "times": times}


def worker_rss(mode: str, grid: int) -> dict:
    """Peak RSS of a process that builds the model and runs one generate in ``mode``."""
    model, inputs, request = build(grid)
    cpu, _ = run_mode(mode, model, inputs, request)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"mode": mode, "grid": grid, "rss_mb": rss, "cpu": cpu}


def spawn(args: list[str], fixed_malloc: bool) -> dict:
    env = {**os.environ, **({"MALLOC_MMAP_THRESHOLD_": "65536"} if fixed_malloc else {})}
    cmd = [sys.executable, __file__, "--worker", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def time_ratios(runs: list[dict], mode: str, col: int) -> list[float]:
    """Per-round paired ratios to plain (eager: to the process's median plain)."""
    out = []
    for run in runs:
        plain = [t[col] for t in run["times"]["plain"]]
        other = [t[col] for t in run["times"][mode]]
        if mode == "eager":
            out += [o / statistics.median(plain) for o in other]
        else:
            out += [o / p for o, p in zip(other, plain, strict=True)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3, help="timing processes per size")
    ap.add_argument(
        "--rounds", type=int, default=3,
        help="rounds of the paired modes per process (a multiple of 3: each mode takes each "
        "place in the order once)",
    )  # fmt: skip
    ap.add_argument("--rss-reps", type=int, default=3, help="RSS processes per mode and size")
    ap.add_argument("--grids", type=int, nargs="+", default=[24, 48])
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "time":
            res = worker_time(int(rest[0]), int(rest[1]), rest[2].split(","))
        else:
            res = worker_rss(rest[0], int(rest[1]))
        print(json.dumps(res))
        return
    modes = ["plain", *[m for m in args.modes if m != "plain"]]
    summary: dict[str, float] = {}
    for grid in args.grids:
        n = grid * grid
        runs, rss = [], {m: [] for m in modes}
        for rep in range(max(args.reps, args.rss_reps)):
            if rep < args.reps:
                runs.append(spawn(["time", str(grid), str(args.rounds), ",".join(modes)], False))
                t = runs[-1]["times"]
                cells = [f"{m} " + "/".join(f"{c:.2f}" for c, _ in t[m]) + " s" for m in modes]
                print(f"{n} time rep {rep}: cpu " + ", ".join(cells), flush=True)
            if rep < args.rss_reps:
                k = rep % len(modes)
                for mode in modes[k:] + modes[:k]:
                    rss[mode].append(spawn(["rss", mode, str(grid)], True)["rss_mb"])
                cells = [f"{m} {rss[m][-1]:.1f} MB" for m in modes]
                print(f"{n} rss  rep {rep}: peak " + ", ".join(cells), flush=True)
        med = {m: statistics.median(v) for m, v in rss.items() if v}
        cpu = {m: statistics.median(c for r in runs for c, _ in r["times"][m]) for m in modes}
        print(f"{n} medians: cpu s {cpu}  peak RSS MB {med}", flush=True)
        for m in modes[1:]:
            for key, col in (("time", 0), ("wall_time", 1)):
                ratios = time_ratios(runs, m, col)
                if ratios:
                    summary[f"{m}_{key}_ratio_{n}"] = round(statistics.median(ratios), 4)
            if m in med:
                summary[f"{m}_rss_ratio_{n}"] = round(med[m] / med["plain"], 4)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
