"""Print-ready rows of the headline table (`vrprobe analyze` prints them with rich)."""

from __future__ import annotations

from pathlib import Path


def _fmt(x: float | None, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def headline_rows(summary: dict) -> list[dict[str, str]]:
    """Print-ready rows (run, signal, orientation, AUROC [95% CI], r_pb, AURC, risk@90%, n),
    best AUROC first, then the combined model; undefined statistics say why."""
    rows = []
    ordered = sorted(summary.get("signals", []), key=lambda r: -(r["auroc"] or -1.0))
    for r in ordered:
        auroc = (
            f"undefined: {r['reason']}"
            if r["auroc"] is None
            else (f"{r['auroc']:.3f} [{_fmt(r['auroc_lo'])}, {_fmt(r['auroc_hi'])}]")
        )
        rows.append(
            {
                "run": Path(summary["run"]).name,
                "signal": r["signal"],
                "higher is reliable": "yes" if r["higher_is_reliable"] else "no",
                "AUROC [95% CI]": auroc,
                "r_pb": _fmt(r["r_pb"]),
                "AURC": _fmt(r["aurc"]),
                "risk@90%": _fmt(r["risk_at_90"]),
                "n": str(r["n"]),
            }
        )
    comb = summary.get("combined") or {}
    if comb:
        value = (
            _fmt(comb.get("auroc"))
            if comb.get("auroc") is not None
            else (f"undefined: {comb.get('reason')}")
        )
        rows.append(
            {
                "run": Path(summary["run"]).name,
                "signal": "combined (logistic, 5-fold CV)",
                "higher is reliable": "yes",
                "AUROC [95% CI]": value,
                "r_pb": "—",
                "AURC": "—",
                "risk@90%": "—",
                "n": str(comb.get("n", "—")),
            }
        )
    return rows
