"""Template context for the report: number formatting, provenance rows, signal-table rows."""

from __future__ import annotations

import numpy as np


def num(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "—"
    return f"{x:.{digits}g}" if abs(x) < 1e-3 and x != 0 else f"{x:.{digits}f}"


def ci(value, lo, hi, reason=None) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return f"undefined: {reason}" if reason else "—"
    return num(value) + (f" [{num(lo)}, {num(hi)}]" if lo is not None and lo == lo else "")


def provenance(manifest: dict) -> list[tuple[str, str]]:
    """(label, value) rows describing where the run came from."""
    cfg, env = manifest.get("config", {}), manifest.get("environment", {})
    versions = env.get("versions") or {}
    seeds = {
        k: v
        for k, v in {
            "seed": manifest.get("seed", cfg.get("seed")),
            "samples K": cfg.get("samples"),
            "temperature": cfg.get("temperature"),
            "top-p": cfg.get("top_p"),
        }.items()
        if v is not None
    }
    rows = [
        ("model", cfg.get("model", manifest.get("model"))),
        ("model revision", manifest.get("model_revision")),
        ("task", manifest.get("task", cfg.get("task"))),
        ("split", cfg.get("split")),
        ("seeds and sampling", ", ".join(f"{k} {v}" for k, v in seeds.items())),
        (
            "attention implementation",
            manifest.get("attn_implementation", cfg.get("attn_implementation")),
        ),
        ("batch size", manifest.get("batch_size", cfg.get("batch_size"))),
        ("dtype / device", " / ".join(str(cfg[k]) for k in ("dtype", "device") if k in cfg)),
        ("configuration fingerprint", manifest.get("fingerprint")),
        ("created", manifest.get("created")),
        ("sessions", ", ".join(map(str, manifest.get("sessions", [])))),
        ("versions", ", ".join(f"{k} {v}" for k, v in versions.items() if v)),
        ("python / platform", " / ".join(str(env[k]) for k in ("python", "platform") if k in env)),
        ("command line", " ".join(map(str, env.get("argv", [])))),
    ]
    return [(k, "—" if v in (None, "") else str(v)) for k, v in rows]


def signal_rows(summary: dict) -> list[dict]:
    rows = []
    for r in sorted(summary.get("signals", []), key=lambda r: -(r["auroc"] or -1.0)):
        rows.append(
            {
                "signal": r["signal"],
                "orientation": "higher" if r["higher_is_reliable"] else "lower",
                "n": f"{r['n']}" + (f" ({r['n_missing']} null)" if r["n_missing"] else ""),
                "auroc": ci(r["auroc"], r["auroc_lo"], r["auroc_hi"], r["reason"]),
                "r_pb": ci(r["r_pb"], r["r_pb_lo"], r["r_pb_hi"], r["reason"]),
                "p": num(r["r_pb_p"]),
                "aurc": num(r["aurc"]),
                "risk90": num(r["risk_at_90"]),
                "risk80": num(r["risk_at_80"]),
                "undefined": r["auroc"] is None,
            }
        )
    return rows


def evidence_skip_note(df, task: str | None) -> tuple[str, str] | None:
    """("Evidence signals", why) when the records hold an `evidence_boxes` column and no
    answered record has a box, naming the task and the signals skipped for that reason; None
    when some record has boxes or the column is absent (nothing known).

    >>> import pandas as pd
    >>> what, why = evidence_skip_note(pd.DataFrame({"evidence_boxes": [[], []]}), "pope")
    >>> why.split(":")[0]
    'task pope has no evidence boxes (docs/tasks.md), so these signals were skipped'
    >>> evidence_skip_note(pd.DataFrame({"evidence_boxes": [[[0, 0, 1, 1]]]}), "vstar") is None
    True
    """
    from vrprobe.analysis.records import EVIDENCE, SIGNALS

    if "evidence_boxes" not in df or any(b is not None and len(b) for b in df["evidence_boxes"]):
        return None
    skipped = ", ".join(name for name, (_, why) in SIGNALS.items() if why == EVIDENCE)
    return (
        "Evidence signals",
        f"task {task or '?'} has no evidence boxes (docs/tasks.md), so these signals were "
        f"skipped: {skipped}; also the per-layer evidence curves and the evidence-mass figure",
    )
