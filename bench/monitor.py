"""Check overhead of the live monitor: ``Monitor.check`` vs a plain greedy ``generate``.

Both sides do what a caller does for one question: build the inputs from (image, question),
generate greedily, decode. The check additionally records attention rows, section shares,
token entropies and (when the risk model reads the probe) the probe's hidden state in that same
generate pass (capture engine), computes the signals the verdict reads, the risk and the
veto. The other raw signals and the evidence grid are computed when first read
(``LazySignals``) and the overlay image only on request: the third mode, ``read_all``, is a
check with ``probe_signal=True`` followed by reading every raw signal and the grid
(``read_all_time_ratio``; the overlay image is never timed). Answers are asserted equal.

Models:
- ``demo``: the bundled demo VLM with its shipped calibration; 64 image tokens, one-word
  answers (2 generated tokens), questions cycling over the shapes test split;
- ``llava576``: a LLaVA-shaped random model (text hidden 512, 8 layers, 8 heads, 576 image
  tokens, as bench/capture.py) answering 100 tokens (EOS disabled), with a synthetic
  calibration of the right width (the numbers do not matter for cost).

``--reps`` processes per model; each loads once, warms up, then runs ``--rounds`` rounds; a
round times the pair (plain, check), then the pair (plain, read_all), each pair's order
alternating between rounds. Ratios are paired (check / plain of the same question and pair),
median over rounds and processes. Time is CPU
time (``process_time``; robust to other processes on a shared machine); wall-clock ratios are
also reported.
The last stdout line is one JSON object; ``check_time_ratio`` is the demo model's.

    python bench/monitor.py                     # ~2-4 min
    python bench/monitor.py --reps 1 --rounds 2 --models demo   # smoke run
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def synthetic_calibration(width: int, layers: int):
    """A calibration with every part (risk model with probe, interaction, veto) for ``width``."""
    import numpy as np

    from vrprobe.monitor.calibration import PROBE, Calibration, RiskModel
    from vrprobe.monitor.linear import LinearScorer

    rng = np.random.default_rng(0)
    probe = LinearScorer(np.zeros(width), np.ones(width), rng.normal(0, 0.01, width), 0.0)
    feats = ("mean_logprob", "full_entropy", "vam", PROBE)
    risk = RiskModel(feats, LinearScorer(np.zeros(4), np.ones(4), np.array([-1, 1, -1, -1.0]), 0))
    return Calibration(
        model={"name": "llava576", "revision": None, "hidden_size": width},
        run={"path": "synthetic"},
        generation={"max_new_tokens": 100, "temperature": 0.7, "top_p": 0.9},
        signals=[],
        risk=[risk],
        probe={"position": "prompt", "layer": layers // 2, "cv_auroc": 0.5,
               "layer_aurocs": [0.5] * (layers + 1)},
        probe_scorer=probe,
        interaction={"visual": {"H": "full_entropy", "V": "vam", "beta": [0, 1, -1, 0.5],
                                "scaling": [1, 1, 0.5, 0.1], "n": 1, "reason": None}},
        veto={"visual": {"kind": "visual", "V": "vam", "tau_v": 0.1, "tau_conf": -1.0}},
        accept={"coverage": 0.9, "risk_threshold": 0.5},
    )  # fmt: skip


def build(name: str):
    """(monitor, [(image, question)], max_new_tokens)."""
    import numpy as np
    import torch
    from PIL import Image

    from vrprobe.models.loading import LoadedModel, load_model
    from vrprobe.monitor import Monitor

    torch.set_num_threads(1)
    if name == "demo":
        from vrprobe.cli_check import DEFAULT_DEMO_CALIBRATION
        from vrprobe.tasks.shapes import ShapesTask

        monitor = Monitor.load(DEFAULT_DEMO_CALIBRATION, model=load_model("demo"))
        items = [(s.load_image(), s.question) for s in ShapesTask("test").samples(limit=8)]
        return monitor, items, int(monitor.calibration.generation["max_new_tokens"])
    from vrprobe.models.tiny import tiny_llava

    model, processor = tiny_llava(image_size=96, patch_size=4, hidden=512, layers=8, heads=8,
                                  kv_heads=8, vision_hidden=32, vision_layers=1,
                                  attn_implementation="sdpa")  # fmt: skip
    model.generation_config.eos_token_id = None  # always 100 new tokens
    loaded = LoadedModel(model, processor, "llava576", "sdpa")
    monitor = Monitor(synthetic_calibration(512, 8), loaded)
    image = Image.fromarray(np.random.RandomState(0).randint(0, 255, (300, 400, 3), np.uint8))
    return monitor, [(image, "Which shape is left of the blue circle, and what colour?")], 100


def plain(monitor, image, question: str, max_new_tokens: int) -> str:
    import torch

    loaded = monitor.loaded
    with torch.inference_mode():
        inputs = loaded.inputs(image, question)
        out = loaded.model.generate(**inputs, do_sample=False, max_new_tokens=max_new_tokens)
    return loaded.decode(out[0, inputs["input_ids"].shape[1] :])


def read_all(monitor, image, question: str) -> str:
    """A check asked for every raw signal (the probe's too), all of them and the evidence grid
    then read (the lazy parts too)."""
    result = monitor.check(image, question, probe_signal=True)
    dict(result.signals)
    result.evidence_grid  # noqa: B018 (computed on access)
    return result.answer


MODES = ("plain", "check", "read_all")
# each timed mode is paired with its own plain run of the same question, order alternating
PAIRS = {"check": "plain", "read_all": "plain_for_read_all"}


def worker(name: str, rounds: int) -> dict:
    monitor, items, max_new = build(name)
    for image, question in items[:2]:  # warm-up, off the clock
        plain(monitor, image, question, max_new)
        read_all(monitor, image, question)
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in (*PAIRS, *PAIRS.values())}
    for r in range(rounds):
        image, question = items[r % len(items)]
        answers = set()
        for mode, base in PAIRS.items():
            for key in (base, mode) if r % 2 == 0 else (mode, base):
                start, cpu = time.perf_counter(), time.process_time()
                if key == base:
                    answers.add(plain(monitor, image, question, max_new))
                elif key == "check":
                    answers.add(monitor.check(image, question).answer)
                else:
                    answers.add(read_all(monitor, image, question))
                times[key].append((time.process_time() - cpu, time.perf_counter() - start))
        assert len(answers) == 1, answers
    return {"model": name, "times": times}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3, help="processes per model")
    ap.add_argument("--rounds", type=int, default=16, help="rounds of the two pairs")
    ap.add_argument("--models", nargs="+", default=["demo", "llava576"])
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]))))
        return
    summary: dict[str, float] = {}
    for name in args.models:
        rounds = args.rounds if name == "demo" else max(2, args.rounds // 4)
        # (mode, 0 = cpu / 1 = wall) -> paired ratios to plain
        ratios: dict[tuple[str, int], list[float]] = {(m, c): [] for m in MODES[1:] for c in (0, 1)}
        medians: dict[str, list[float]] = {mode: [] for mode in MODES}
        for rep in range(args.reps):
            cmd = [sys.executable, __file__, "--worker", name, str(rounds)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            t = json.loads(out.strip().splitlines()[-1])["times"]
            for mode, col in ratios:
                pairs = zip(t[PAIRS[mode]], t[mode], strict=True)
                ratios[mode, col] += [c[col] / p[col] for p, c in pairs]
            for mode in medians:
                medians[mode].append(statistics.median(x[0] for x in t[mode]))
            print(f"{name} rep {rep}: median cpu " + ", ".join(
                f"{m} {medians[m][-1] * 1e3:.1f} ms" for m in MODES), flush=True)  # fmt: skip
        key = "" if name == "demo" else f"_{name}"
        summary[f"check_time_ratio{key}"] = round(statistics.median(ratios["check", 0]), 4)
        summary[f"check_wall_time_ratio{key}"] = round(statistics.median(ratios["check", 1]), 4)
        summary[f"read_all_time_ratio{key}"] = round(statistics.median(ratios["read_all", 0]), 4)
        for mode in MODES:
            summary[f"{mode}_ms{key}"] = round(statistics.median(medians[mode]) * 1e3, 2)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
