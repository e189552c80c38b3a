"""A small synthetic run folder shaped like a demo run (hidden states (5, 128)) for the monitor.

Planted: ``full_entropy`` predicts errors (AUROC well above 0.5); dimension 0 of the hidden
state at the last prompt token, layer 2, carries correctness; ``vam`` is noise; two task types
(visual, symbolic). Written in well under a second, so tests need no model run to calibrate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vrprobe.store.run import write_json_atomic
from vrprobe.store.shards import write_shard

LAYERS, WIDTH = 5, 128


def make_monitor_run(root: Path, n: int = 120, seed: int = 0, samples: int = 0) -> Path:
    """Write ``root/manifest.json`` and one record shard; return ``root``."""
    rng = np.random.default_rng(seed)
    correct = rng.random(n) < 0.7
    records = []
    for i in range(n):
        c = bool(correct[i])
        h = float(rng.normal(0.3 if c else 0.6, 0.15))
        hidden = rng.normal(0, 1, (LAYERS, WIDTH)).astype(np.float32)
        hidden[2, 0] += 1.5 if c else -1.5
        rec = {
            "item_key": f"k{i}",
            "sample_id": f"s{i}",
            "task": "shapes",
            "perturbation": "none",
            "question": "q",
            "task_type": "visual" if i % 5 else "symbolic",
            "correct": c,
            "error": None,
            "full_entropy": h,
            "answer_entropy": h,
            "mean_logprob": -h / 2 + float(rng.normal(0, 0.05)),
            "vam": float(rng.normal(0.7, 0.05)),
            "vam_top_half": float(rng.normal(0.7, 0.05)),
            "spatial_entropy": float(rng.normal(3.5, 0.2)),
            "hidden_prompt": hidden,
        }
        if samples:
            rec["sc_share"] = float(min(1.0, max(0.2, rng.normal(0.9 if c else 0.6, 0.1))))
        records.append(rec)
    write_shard(Path(root) / "records", records)
    manifest = {
        "config": {
            "model": "demo",
            "task": "shapes",
            "split": "validation",
            "samples": samples,
            "max_new_tokens": 8,
            "temperature": 0.7,
            "top_p": 0.9,
        },
        "fingerprint": "fake",
        "model_revision": None,
    }
    write_json_atomic(Path(root) / "manifest.json", manifest)
    return Path(root)
