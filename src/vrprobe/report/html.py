"""`vrprobe report`: one self-contained HTML file per run (figures embedded, works offline).

Reads ``RUN/manifest.json`` and ``RUN/analysis/`` (running the analysis first when
``summary.json`` is missing) and renders ``templates/report.html.j2`` with jinja2.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from vrprobe.analysis.analyze import ANALYSIS, SUMMARY, analyze_runs
from vrprobe.analysis.records import MAIN_SIGNALS, clean_subset, load_records, split_errors
from vrprobe.report import plots
from vrprobe.report.context import ci, evidence_skip_note, num, provenance, signal_rows
from vrprobe.report.gallery import MAP_COLUMNS, ImageLoader, gallery
from vrprobe.report.interventions import figures as intervention_figures
from vrprobe.report.interventions import missing_note as intervention_note

TEMPLATES = Path(__file__).parent / "templates"
REPORT = "report.html"
RAPT = ["layer_rapt_image", "layer_rapt_question", "layer_rapt_evidence", "layer_rapt_nonevidence"]
HIGHLIGHT_BARS = {
    "delta_accuracy": "Δ EM vs base",
    "delta_f1": "Δ F1 vs base",
    "delta_em_vs_instruction": "Δ EM vs instruction-only",
    "delta_f1_vs_instruction": "Δ F1 vs instruction-only",
}
OTHER_LAYERS = ["layer_vam", "layer_evidence_mass", "layer_evidence_auroc"]


def _table(folder: Path, name: str) -> pd.DataFrame:
    path = folder / name
    return pd.read_parquet(path) if path.exists() else pd.DataFrame()


def _best_probe_layer(probes: pd.DataFrame) -> str:
    """': most predictive layer L (AUROC a, probe @ position)', or '' without probes."""
    if probes.empty or not probes["auroc"].notna().any():
        return ""
    best = probes.loc[probes["auroc"].idxmax()]
    return (
        f": most predictive layer {int(best['layer'])} "
        f"(AUROC {best['auroc']:.3f}, {best['probe']} @ {best['position']})"
    )


def _blur_note(summary: dict) -> str:
    """': mean C c (n samples), answerable under k×k blur a', or '' without blur records."""
    b = summary.get("blur_decay") or {}
    if b.get("mean_C") is None:
        return ""
    k = b["full_blur_kernel"]
    return (
        f": same answer at every level C = {b['mean_C']:.2f} (n {b['n_samples']}), "
        f"answerable under {k}×{k} blur {b['answerable_full_blur']:.2f}"
    )


def _figures(folder: Path, summary: dict, df: pd.DataFrame) -> list[dict]:
    layers, steps = _table(folder, "layers.parquet"), _table(folder, "steps.parquet")
    rc, preds = _table(folder, "risk_coverage.parquet"), _table(folder, "predictions.parquet")
    pert, probes = _table(folder, "perturbations.parquet"), _table(folder, "probes.parquet")
    empty = pd.DataFrame({"metric": [], "layer": [], "bin": [], "group": []})
    layers, steps = (layers if not layers.empty else empty), (steps if not steps.empty else empty)
    acc = summary.get("accuracy")
    if not preds.empty and preds["p_combined"].notna().any():
        p, label = preds["p_combined"].to_numpy(float), "combined model (out-of-fold)"
    else:
        p = preds["p_logprob"].to_numpy(float) if not preds.empty else np.empty(0)
        label = "exp(mean log-prob)"
    y = preds["correct"].to_numpy(bool) if not preds.empty else np.empty(0, bool)
    main = [s for s in MAIN_SIGNALS if s in set(rc.get("signal", []))]
    specs = [
        (
            "fig-entropy",
            "Layer-wise spatial entropy, right vs wrong",
            lambda: plots.layer_curves(layers, ["layer_entropy"], "spatial entropy (nats)"),
            "no layer_entropy values (attention capture did not run)",
        ),
        (
            "fig-rapt",
            "RAPT per prompt section by layer, right vs wrong",
            lambda: plots.layer_curves(layers, RAPT, "RAPT (relative attention per token)"),
            "no layer_rapt_* values (attention capture did not run)",
        ),
        (
            "fig-layer-grounding",
            "Per-layer grounding signals, right vs wrong",
            lambda: plots.small_multiples(layers, OTHER_LAYERS),
            "no layer_vam / layer_evidence_* values",
        ),
        (
            "fig-evidence-steps",
            "Evidence mass along the reply (10 relative bins)",
            lambda: plots.step_curve(steps, "step_evidence_mass"),
            "no step_evidence_mass values (no evidence boxes, or capture did not run)",
        ),
        (
            "fig-risk-coverage",
            "Risk–coverage curves of the main signals",
            lambda: plots.risk_coverage(
                rc, main or list(rc.get("signal", []))[:5], 1 - acc if acc is not None else np.nan
            ),
            "no signal with a defined risk–coverage curve",
        ),
        (
            "fig-probes",
            f"Hidden-state probe AUROC by layer{_best_probe_layer(probes)}",
            lambda: plots.probe_auroc(probes),
            "analysis/probes.parquet not found (probes were not trained)",
        ),
        (
            "fig-truth-margin",
            "Logit-lens truth margin by layer (final norm applied), right vs wrong",
            lambda: plots.layer_curves(layers, ["layer_truth_margin"], "truth margin (logits)"),
            "no layer_truth_margin values (hidden states were not captured)",
        ),
        (
            "fig-reliability",
            f"Reliability diagram: {label}",
            lambda: plots.reliability(p, y, label) if p.size else None,
            "no combined-model probabilities and no mean_logprob, or a single class",
        ),
        (
            "fig-blur",
            "Blur decay: accuracy per Gaussian blur level" + _blur_note(summary),
            lambda: plots.blur_decay(pert),
            "no blur perturbations (blur-kN) in this run",
        ),
        (
            "fig-masking",
            "Top-30% attended patches removed: accuracy change vs clean, per mechanism",
            lambda: plots.perturbation_deltas(pert, "mask", {"delta_accuracy": "Δ accuracy"}),
            "no mask-top perturbations in this run (--perturb mask-top)",
        ),
        (
            "fig-highlight",
            "Evidence highlighting: EM / token-F1 change vs base prompt and vs instruction-only",
            lambda: plots.perturbation_deltas(pert, "highlight", HIGHLIGHT_BARS),
            "no highlight perturbations in this run (--perturb highlight)",
        ),
    ]
    drawn = [{"id": i, "title": t, "src": make(), "missing": why} for i, t, make, why in specs]
    return drawn + intervention_figures(_table(folder, "interventions.parquet"))


def write_report(
    run: Path,
    *,
    image_loader: ImageLoader | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    gallery_size: int = 4,
) -> Path:
    """Write ``RUN/report.html`` (atomically) and return its path.

    ``image_loader(record) -> PIL.Image | None`` reopens a record's image for the attention
    gallery; without it the maps are drawn alone.
    """
    run = Path(run)
    folder = run / ANALYSIS
    if not (folder / SUMMARY).exists():
        analyze_runs([run], n_boot=n_boot, seed=seed)
    summary = json.loads((folder / SUMMARY).read_text())
    manifest_path = run / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    df, _, _ = split_errors(load_records(run, extra=(*MAP_COLUMNS, "evidence_boxes")))
    df, _ = clean_subset(df)
    figures = _figures(folder, summary, df)
    preds = _table(folder, "predictions.parquet")
    cards = gallery(df, preds if not preds.empty else None, image_loader, gallery_size)
    missing = [(f["title"], f["missing"]) for f in figures if f["src"] is None]
    if "mean_map" not in df or not df["mean_map"].notna().any():
        why = "no mean_map recorded (attention capture did not run)"
        missing.append(("Attention gallery", why))
    if note := intervention_note(_table(folder, "interventions.parquet")):
        missing.append(note)
    no_boxes = evidence_skip_note(df, manifest.get("task"))
    if no_boxes:
        missing.insert(0, no_boxes)
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["j2"]))
    html = env.get_template("report.html.j2").render(
        run=run.name,
        summary=summary,
        provenance=provenance(manifest),
        signals=signal_rows(summary),
        figures=figures,
        gallery=cards,
        missing=missing,
        unavailable=sorted(summary.get("unavailable", {}).items()),
        fmt=num,
        ci=ci,
    )
    out = run / REPORT
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, out)
    return out
