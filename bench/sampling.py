"""Shared prefill vs independent generation: greedy answer + K=10 samples (DESIGN decision 2).

*shared*: one prefill of the prompt (with pixels), then the greedy answer and the 10 samples as
two `generate` calls continuing from copies of that cache. *independent*: 11 `generate` calls
with pixel_values (1 greedy + 10 sampled, one seed each). 8 new tokens forced (min_new_tokens),
1 thread, the two modes interleaved, `--reps` repetitions (at least 10 on the demo), medians
and the speedup (independent / shared). Models: the bundled demo (skipped with a message if it
is not trained yet) and a LLaVA-shaped random model (text hidden 512, 8 layers, 8 heads, image
336 / patch 14 = 576 image tokens, tiny vision tower). The last stdout line is one JSON object.

    python bench/sampling.py            # ~1-2 min on one free core
    python bench/sampling.py --reps 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np
import torch
from PIL import Image

from vrprobe.capture.prefill import prefill
from vrprobe.capture.sampling import greedy_from_cache, sample_continuations

K = 10
NEW_TOKENS = 8
SAMPLING = {"temperature": 0.7, "top_p": 0.9, "top_k": 0}
QUESTION = "Which shape is left of the blue circle?"


def prompt(processor, question: str) -> str:
    """The processor's chat-template generation prompt for one image and `question`."""
    content = [{"type": "image"}, {"type": "text", "text": question}]
    messages = [{"role": "user", "content": content}]
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def build_576():
    """The LLaVA-shaped random model and its inputs (576 image tokens)."""
    from vrprobe.models.tiny import tiny_llava

    model, processor = tiny_llava(
        image_size=336, patch_size=14, hidden=512, layers=8, heads=8, kv_heads=8,
        vision_hidden=32, vision_layers=1, attn_implementation="sdpa",
    )  # fmt: skip
    image = Image.fromarray(np.random.RandomState(0).randint(0, 255, (300, 400, 3), np.uint8))
    return model, processor(images=image, text=prompt(processor, QUESTION), return_tensors="pt")


def build_demo():
    """The trained demo model and its inputs, or None (with a message) if it is absent."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from vrprobe.models.demo import DEMO_DIR

    if not (DEMO_DIR / "config.json").is_file():
        print(f"demo model absent ({DEMO_DIR}): skipped", file=sys.stderr)
        return None
    model = AutoModelForImageTextToText.from_pretrained(DEMO_DIR).eval()
    processor = AutoProcessor.from_pretrained(DEMO_DIR)
    size = processor.image_processor.crop_size["height"]
    image = Image.fromarray(np.random.RandomState(0).randint(0, 255, (size, size, 3), np.uint8))
    text = prompt(processor, "what colour is the circle ?")
    return model, processor(images=image, text=text, return_tensors="pt")


@torch.no_grad()
def shared(model, inputs) -> list[np.ndarray]:
    """Greedy + K samples from one prefill; returns the greedy answer first."""
    cache = prefill(model, inputs)
    force = {"max_new_tokens": NEW_TOKENS, "min_new_tokens": NEW_TOKENS}
    greedy = greedy_from_cache(model, inputs, cache, **force)
    samples = sample_continuations(model, inputs, cache, k=K, seed=0, **force, **SAMPLING)
    return [greedy, *samples]


@torch.no_grad()
def independent(model, inputs) -> list[np.ndarray]:
    """Greedy + K samples as 1 + K full `generate` calls, each with pixel_values."""
    force = {"max_new_tokens": NEW_TOKENS, "min_new_tokens": NEW_TOKENS}
    length = inputs["input_ids"].shape[1]
    outs = [model.generate(**inputs, do_sample=False, **force)]
    for seed in range(K):
        torch.manual_seed(seed)
        outs.append(model.generate(**inputs, do_sample=True, **force, **SAMPLING))
    return [out[0, length:].numpy() for out in outs]


def timed(fn, *args) -> tuple[tuple[float, float], list[np.ndarray]]:
    """(wall, process CPU) seconds of one call, and its result. With 1 thread the CPU time is
    a cross-check that is robust to other processes competing for the cores."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    return (time.perf_counter() - wall, time.process_time() - cpu), result


def measure(name: str, model, inputs, reps: int) -> dict:
    """Warm up both modes, then `reps` interleaved timings; medians and speedup."""
    _, a = timed(shared, model, inputs)
    _, b = timed(independent, model, inputs)
    assert a[0].tolist() == b[0].tolist(), "greedy answers differ between modes"
    assert all(len(x) == NEW_TOKENS for x in a + b), "min_new_tokens did not force 8 tokens"
    times: dict[str, list[float]] = {"shared": [], "independent": []}
    cpu: dict[str, list[float]] = {"shared": [], "independent": []}
    for rep in range(reps):
        order = ("shared", "independent") if rep % 2 == 0 else ("independent", "shared")
        for mode in order:
            fn = shared if mode == "shared" else independent
            (wall_s, cpu_s), _ = timed(fn, model, inputs)
            times[mode].append(wall_s)
            cpu[mode].append(cpu_s)
    med = {mode: statistics.median(ts) for mode, ts in times.items()}
    med_cpu = {mode: statistics.median(ts) for mode, ts in cpu.items()}
    speedup = med["independent"] / med["shared"]
    cpu_speedup = med_cpu["independent"] / med_cpu["shared"]
    prompt_len = int(inputs["input_ids"].shape[1])
    print(
        f"{name}: prompt {prompt_len} tokens; shared {med['shared']:.3f} s, independent "
        f"{med['independent']:.3f} s (wall medians of {reps}); speedup {speedup:.2f}x "
        f"(CPU time: {cpu_speedup:.2f}x)"
    )
    return {
        "prompt_tokens": prompt_len,
        "median_s": med,
        "times_s": times,
        "speedup": speedup,
        "cpu_median_s": med_cpu,
        "cpu_speedup": cpu_speedup,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results: dict[str, dict | None] = {}
    demo = build_demo()
    # The demo is tiny (< 1 s per repetition): more repetitions for a stable median.
    results["demo"] = measure("demo", *demo, max(args.reps, 10)) if demo else None
    results["576"] = measure("576 image tokens", *build_576(), args.reps)
    print(
        json.dumps(
            {
                "shared_prefill_speedup_demo": results["demo"] and results["demo"]["speedup"],
                "shared_prefill_speedup_576": results["576"]["speedup"],
                "k": K,
                "new_tokens": NEW_TOKENS,
                "reps": args.reps,
                "threads": 1,
                "torch": torch.__version__,
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
