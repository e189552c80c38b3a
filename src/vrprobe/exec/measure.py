"""Record columns from one capture: the glue between capture/ output and signals/ functions.

Column names and shapes are documented in docs/records.md. Row 0 of every per-step array is
the last prompt token's forward (it produces the first generated token); the per-layer
"at the last prompt token" columns read that row.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from vrprobe.capture.engine import CaptureResult
from vrprobe.models.layout import ImageLayout
from vrprobe.signals import sections, spatial, steps, uncertainty
from vrprobe.signals._arrays import nanmean
from vrprobe.signals.grounding import patch_evidence_scores, sink_tokens
from vrprobe.signals.layers import top_layers

LATE_FRACTION = 0.2


def evidence_cells(layout: ImageLayout, boxes: tuple) -> np.ndarray:
    """Image-token indices covered by any evidence box (rule "any")."""
    if not boxes:
        return np.array([], dtype=np.int64)
    return np.unique(np.concatenate([layout.box_to_cells(b, "any") for b in boxes]))


def _grid(layout: ImageLayout) -> tuple[tuple[int, int], np.ndarray]:
    """The first tile's grid and each image token's (row, col) on it (-1 off the tile)."""
    grid = layout.grids[0]
    rc = layout.cells[:, 1:].copy()
    rc[layout.cells[:, 0] != 0] = -1
    return grid, rc


def spatial_columns(result: CaptureResult, layout: ImageLayout) -> dict[str, Any]:
    """Spatial entropy, clusters and their layer-wise evolution (SPEC §1).

    A map with zero mass on the image is a layer that cannot see it (a sliding-window layer
    whose window has moved past the image, Gemma 3): it is left out of the headline map, and
    its per-layer entropy and cluster count are NaN; the entropy trend is read over the layers
    that see the image (None when fewer than two do). An empty capture raises before this.
    """
    grid, rc = _grid(layout)
    if not np.isfinite(result.image_attention).all():
        raise ValueError("the captured image attention holds NaN or inf (a broken forward)")
    maps = sections.grid_maps(result.image_attention, rc, grid).reshape(-1, *grid)
    seen = maps.sum(axis=(1, 2)) > 0
    if not seen.any():
        raise ValueError("no layer at any step put attention on the image tokens")
    headline = spatial.mean_map(maps[seen])
    first = sections.grid_maps(result.image_attention[0], rc, grid)  # (L, rows, cols)
    sees = first.sum(axis=(1, 2)) > 0
    per_layer = np.full(len(first), np.nan)
    clusters = np.full(len(first), np.nan)
    if sees.any():
        per_layer[sees] = np.asarray(spatial.spatial_entropy(first[sees])).reshape(-1)
        clusters[sees] = [spatial.cluster_count(m) for m in first[sees]]
    trend = per_layer[sees]
    flags: dict[str, Any] = dict.fromkeys(
        ("early_entropy_drop", "late_entropy_rise", "early_lock", "late_diffusion")
    )
    if trend.size >= 2:
        flags = {
            "early_entropy_drop": spatial.early_entropy_drop(trend),
            "late_entropy_rise": spatial.late_entropy_rise(trend),
            "early_lock": bool(spatial.early_lock(trend)),
            "late_diffusion": bool(spatial.late_diffusion(trend)),
        }
    return {
        "grid_rows": grid[0],
        "grid_cols": grid[1],
        "layer_maps": result.image_attention[0],
        "mean_map": headline.reshape(-1),
        "spatial_entropy": float(spatial.spatial_entropy(headline)),
        "cluster_count": int(spatial.cluster_count(headline)),
        "layer_entropy": per_layer,
        "layer_delta_entropy": np.concatenate([[np.nan], np.diff(per_layer)]),
        "layer_clusters": clusters,
        **flags,
    }


def visual_mass(result: CaptureResult) -> dict[str, float]:
    """The scalar visual attention mass (SPEC §1): mean share on the image over steps and
    layers, and over the deep layers only (the monitor's usual vision signal)."""
    vam = result.section_shares["image"].astype(np.float64)  # (T, L)
    deep = vam[:, top_layers(vam.shape[1])]  # means as sums over counts: np.mean's wrapper is slow
    return {"vam": float(vam.sum()) / vam.size, "vam_top_half": float(deep.sum()) / deep.size}


def attention_mass_columns(
    result: CaptureResult, prompt_len: int, n_sections: dict[str, int]
) -> dict[str, Any]:
    """Visual attention mass per step and layer and RAPT per section (cheap: no sink search)."""
    vam = result.section_shares["image"].astype(np.float64)  # (T, L)
    cols: dict[str, Any] = {
        **visual_mass(result),
        "layer_vam": vam.mean(axis=0),
        "step_vam": vam.mean(axis=1),
        "step_layer_vam": vam,
    }
    for name, size in n_sections.items():
        share = result.section_shares[name][0]
        cols[f"layer_rapt_{name}"] = sections.rapt_from_share(share, size, 1.0, prompt_len)
    return cols


def sink_columns(result: CaptureResult) -> dict[str, Any]:
    """The visual mass with attention-sink image tokens left out, and how many sinks."""
    vam = result.section_shares["image"].astype(np.float64)
    sinks = sink_tokens(result.image_attention[0], np.arange(result.image_attention.shape[-1]))
    robust = sections.sink_robust_mass(vam, result.image_attention, sinks)
    return {
        "vam_sink_robust": float(nanmean(robust)) if np.isfinite(robust).any() else None,
        "n_sink_tokens": len(sinks),
    }


def visual_columns(result: CaptureResult, prompt_len: int, n_sections: dict[str, int]) -> dict:
    """Visual attention mass per step and layer, its sink-robust variant, RAPT per section."""
    mass = attention_mass_columns(result, prompt_len, n_sections)
    head = {k: mass.pop(k) for k in ("vam", "vam_top_half")}
    return {**head, **sink_columns(result), **mass}


def reasoning_steps(text: str, offsets: np.ndarray) -> np.ndarray:
    """Per generated token, its reasoning step (-1 for think tags and the final answer)."""
    return steps.segment_steps(text, offsets).step_ids


def _reasoning_axis(step_em: np.ndarray, step_ids: np.ndarray) -> dict[str, Any]:
    """Collapse and normalised AUC of evidence mass over reasoning tokens (answer excluded);
    None when the reply has fewer than two reasoning tokens (e.g. a one-word answer)."""
    on = step_ids >= 0
    if on.sum() < 2:
        return {"collapse_ratio": None, "evidence_auc": None}
    curve = step_em[on]
    collapse = steps.collapse_ratio(curve)
    return {
        "collapse_ratio": None if math.isnan(collapse) else collapse,
        "evidence_auc": steps.normalized_auc(curve),
    }


def evidence_columns(
    result: CaptureResult, ev: np.ndarray, prompt_len: int, correct: bool, step_ids: np.ndarray
) -> dict[str, Any]:
    """Evidence mass/overlap per step and layer, collapse, RAPT and patch AUROC (SPEC §2–3)."""
    img = result.image_attention
    n_img = img.shape[-1]
    vam = result.section_shares["image"].astype(np.float64)
    em = sections.column_mass(img, ev)  # (T, L)
    overlap = sections.safe_ratio(em, vam)
    deep = top_layers(em.shape[1])
    late = max(1, math.ceil(LATE_FRACTION * em.shape[0]))
    label = np.zeros(n_img, dtype=bool)
    label[ev] = True
    scores = [patch_evidence_scores(row, label) for row in img[0]]
    rapt_ev = sections.rapt_from_share(em[0], len(ev), 1.0, prompt_len)
    non = n_img - len(ev)
    rapt_non = (
        sections.rapt_from_share(vam[0] - em[0], non, 1.0, prompt_len)
        if non
        else np.full(em.shape[1], np.nan)
    )
    step_em = em.mean(axis=1)
    ev_deep, non_deep = float(nanmean(rapt_ev[deep])), float(nanmean(rapt_non[deep]))
    return {
        "evidence_cells": ev.tolist(),
        "evidence_mass": float(em.mean()),
        "evidence_overlap": float(nanmean(overlap)),
        "evidence_overlap_late": float(nanmean(overlap[-late:])),
        **_reasoning_axis(step_em, step_ids),
        "layer_evidence_mass": em.mean(axis=0),
        "layer_evidence_overlap": nanmean(overlap, axis=0),
        "step_evidence_mass": step_em,
        "step_layer_evidence_mass": em,
        "layer_rapt_evidence": rapt_ev,
        "layer_rapt_nonevidence": rapt_non,
        "layer_evidence_auroc": np.array([s.auroc for s in scores]),
        "layer_evidence_auprc": np.array([s.auprc for s in scores]),
        "layer_evidence_ndcg": np.array([s.ndcg for s in scores]),
        "evidence_auroc_deep": float(nanmean([scores[i].auroc for i in deep])),
        "rapt_evidence_deep": ev_deep,
        "rapt_nonevidence_deep": non_deep,
        "seeing_not_believing": bool(not correct and ev_deep > non_deep),
    }


def response_confidence(result: CaptureResult) -> dict[str, float]:
    """Full-response entropy and mean chosen-token log-probability (SPEC §2)."""
    return {
        "full_entropy": uncertainty.full_response_entropy(result.token_entropy),
        "mean_logprob": uncertainty.mean_logprob(result.token_logprob),
    }


def response_spread(result: CaptureResult) -> dict[str, float]:
    """Perplexity and the largest token entropy of the reply (SPEC §2)."""
    return {
        "perplexity": uncertainty.perplexity(result.token_logprob),
        "max_entropy": uncertainty.max_entropy(result.token_entropy),
    }


def entropy_columns(result: CaptureResult) -> dict[str, Any]:
    """Full-response entropy and chosen-token confidence (SPEC §2); needs no decoded text."""
    ent, lp = result.token_entropy.astype(np.float64), result.token_logprob.astype(np.float64)
    return {
        **response_confidence(result),
        **response_spread(result),
        "step_entropy": ent,
        "step_logprob": lp,
    }


def answer_span_columns(
    result: CaptureResult, text: str, offsets: np.ndarray, step_ids: np.ndarray
) -> dict[str, Any]:
    """Answer-span entropy (SPEC §2) and which tokens are the answer / which reasoning step."""
    mask = uncertainty.answer_span_mask(text, offsets)
    answer = uncertainty.answer_span_entropy(result.token_entropy.astype(np.float64), mask)
    return {
        "answer_entropy": None if math.isnan(answer) else answer,
        "step_is_answer": mask.tolist(),
        "step_reasoning_id": step_ids.tolist(),
    }


def uncertainty_columns(
    result: CaptureResult, text: str, offsets: np.ndarray, step_ids: np.ndarray
) -> dict[str, Any]:
    """Full-response and answer-span entropy, chosen-token confidence (SPEC §2)."""
    full, span = entropy_columns(result), answer_span_columns(result, text, offsets, step_ids)
    head = {"full_entropy": full.pop("full_entropy"), "answer_entropy": span.pop("answer_entropy")}
    return {**head, **full, **span}


def token_offsets(tokenizer: Any, token_ids: np.ndarray) -> tuple[str, np.ndarray]:
    """Decoded reply and each generated token's [start, end) character range in it."""
    text, spans = "", []
    for i in range(len(token_ids)):
        prefix = tokenizer.decode(token_ids[: i + 1], skip_special_tokens=True)
        spans.append((min(len(text), len(prefix)), len(prefix)))
        text = prefix
    return text, np.array(spans, dtype=np.int64).reshape(-1, 2)
