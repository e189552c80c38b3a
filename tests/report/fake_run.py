"""A synthetic run folder with the documented record columns and planted relations.

Planted: ``sc_share`` equals correctness (AUROC 1); ``spatial_entropy`` and ``cluster_count``
are independent noise (AUROC ≈ 0.5); errors follow
``logit P(error) = -0.3 + 0.8·z(H) - 0.4·z(V) + beta_ev·z(H)·z(V)`` with H = ``full_entropy``
and V = ``evidence_overlap_late`` (visual items) or ``vam`` (symbolic items, which have no
evidence boxes); per-layer evidence RAPT and evidence mass are higher for right answers in
the deep half; evidence mass decays along the reply, faster for wrong answers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.special import expit

from vrprobe.store.run import write_json_atomic
from vrprobe.store.shards import write_shard

L, ROWS, COLS, T = 6, 4, 4, 12
TYPES = {"colour": "visual", "shape": "visual", "arithmetic": "symbolic"}


def manifest(model: str = "fake-vlm", task: str = "fake-task", seed: int = 0) -> dict:
    return {
        "config": {
            "model": model,
            "task": task,
            "seed": seed,
            "samples": 10,
            "batch_size": 1,
            "attn_implementation": "sdpa",
            "max_new_tokens": 16,
        },
        "fingerprint": "0123456789abcdef",
        "model_revision": "sha256:feedface",
        "task": task,
        "seed": seed,
        "attn_implementation": "sdpa",
        "batch_size": 1,
        "environment": {
            "versions": {"vrprobe": "0.1.0", "numpy": "2.x"},
            "python": "3.11",
            "platform": "linux",
            "torch_threads": 1,
            "argv": ["vrprobe", "run"],
        },
        "created": "2025-01-01T00:00:00+00:00",
        "sessions": ["2025-01-01T00:00:00+00:00", "2025-01-02T00:00:00+00:00"],
    }


def _record(
    i: int,
    rng: np.random.Generator,
    qtype: str,
    correct: bool,
    h: float,
    v: float,
    perturbation: str = "none",
) -> dict:
    visual = TYPES[qtype] == "visual"
    sign = 1.0 if correct else -1.0
    deep = np.arange(L) >= L // 2
    cells = [5, 6, 9, 10] if visual else None
    mean_map = rng.random(ROWS * COLS)
    if visual and correct:
        mean_map[cells] += 2.0
    mean_map /= mean_map.sum()
    em_start = 0.5 + 0.1 * sign
    steps = np.linspace(em_start, em_start * (0.7 if correct else 0.2), T) + rng.normal(0, 0.02, T)
    ans = "red" if correct else "blue"
    return {
        "item_key": f"key-{i}-{perturbation}",
        "sample_id": f"s{i}",
        "task": "fake-task",
        "perturbation": perturbation,
        "question": f"question {i}?",
        "answers": ["red"],
        "question_type": qtype,
        "task_type": TYPES[qtype],
        "answer_kind": "text",
        "prediction": ans,
        "extracted": ans,
        "correct": bool(correct),
        "f1": float(correct),
        "n_new_tokens": T,
        "image_width": 64,
        "image_height": 48,
        "elapsed_s": 0.01,
        "error": None,
        "spatial_entropy": float(rng.normal(2.5, 0.3)),
        "cluster_count": float(rng.integers(0, 4)),
        "full_entropy": h,
        "answer_entropy": h + float(rng.normal(0, 1.0)),
        "mean_logprob": -abs(h) / 3 + 0.3 * sign + float(rng.normal(0, 0.3)),
        "vam": v if not visual else float(rng.normal(0.3, 0.05)),
        "evidence_overlap_late": v if visual else None,
        "evidence_mass": (0.4 + 0.1 * sign + float(rng.normal(0, 0.1))) if visual else None,
        "sc_share": float(correct),
        "sc_distinct": float(rng.integers(1, 5)),
        "layer_entropy": 3.0 - 0.3 * np.arange(L) - 0.2 * sign + rng.normal(0, 0.05, L),
        "layer_rapt_image": 0.5 + 0.2 * np.arange(L) + rng.normal(0, 0.05, L),
        "layer_truth_margin": np.arange(L + 1) * (0.5 + sign),  # no rng draw: keeps the others
        "layer_rapt_question": 2.0 - 0.2 * np.arange(L) + rng.normal(0, 0.05, L),
        "layer_rapt_evidence": (1 + deep * (1.0 + 0.5 * sign) + rng.normal(0, 0.05, L))
        if visual
        else None,
        "layer_evidence_mass": (0.2 + deep * (0.2 + 0.1 * sign) + rng.normal(0, 0.02, L))
        if visual
        else None,
        "step_entropy": rng.random(T) + (0.0 if correct else 0.5),
        "step_evidence_mass": steps if visual else None,
        "mean_map": mean_map,
        "grid_rows": ROWS,
        "grid_cols": COLS,
        "evidence_cells": cells,
    }


def make_fake_run(
    root: Path,
    n: int = 300,
    *,
    seed: int = 0,
    beta_ev: float = 1.5,
    all_correct: bool = False,
    n_errors: int = 3,
    blur: bool = False,
    perturb: bool = False,
) -> Path:
    """Write a run folder at ``root`` (manifest + two record shards) and return it."""
    rng = np.random.default_rng(seed)
    qtypes = list(TYPES)
    H, V = rng.normal(1.0, 0.5, n), rng.normal(0.5, 0.15, n)
    zh, zv = (H, V) if n == 0 else ((H - H.mean()) / H.std(), (V - V.mean()) / V.std())
    p_err = expit(-0.3 + 0.8 * zh - 0.4 * zv + beta_ev * zh * zv)
    correct = np.ones(n, bool) if all_correct else rng.random(n) >= p_err
    records = [
        _record(i, rng, qtypes[i % 3], correct[i], float(H[i]), float(V[i])) for i in range(n)
    ]
    for j in range(n_errors):
        records.append(
            {
                "item_key": f"err-{j}",
                "sample_id": f"bad{j}",
                "task": "fake-task",
                "perturbation": "none",
                "question_type": "colour",
                "task_type": "visual",
                "prediction": None,
                "correct": None,
                "error": "unreadable image: bad.png",
            }
        )
    if blur:
        for k, keep in ((5, 0.8), (15, 0.5), (61, 0.2)):
            for i in range(0, n, 2):
                ok = bool(correct[i] and rng.random() < keep)
                records.append(
                    _record(
                        i,
                        rng,
                        qtypes[i % 3],
                        ok,
                        float(H[i]),
                        float(V[i]),
                        perturbation=f"blur-k{k}",
                    )
                )
    if perturb:  # mask-top and highlight records (another rng: the records above stay put)
        prng = np.random.default_rng(seed + 1)
        keep = {"mask-top-pixels": 0.6, "mask-top-keys": 0.8, "highlight": 1.0}
        keep["highlight-instruction-only"] = 0.9
        for label, p in keep.items():
            for i in range(0, n, 3):
                ok = bool(correct[i] and prng.random() < p)
                records.append(_record(i, prng, qtypes[i % 3], ok, float(H[i]), float(V[i]), label))
    root.mkdir(parents=True, exist_ok=True)
    write_json_atomic(root / "manifest.json", manifest(seed=seed))
    half = len(records) // 2
    write_shard(root / "records", records[:half])
    write_shard(root / "records", records[half:])
    return root
