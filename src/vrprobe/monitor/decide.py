"""From one answer's signals to the monitor's verdict: risk, interaction P(error), veto, accept.

Pure numpy on a :class:`~vrprobe.monitor.calibration.Calibration`: the live check and the
offline evaluation on a run's records both call :func:`decide`, so the evaluation measures
exactly what a check returns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from vrprobe.monitor.calibration import PROBE, Calibration
from vrprobe.monitor.linear import logistic


class UnknownTaskType(ValueError):
    """The task type is not one the calibration knows."""


@dataclass(frozen=True)
class Veto:
    """The vision-veto decision and why (thresholds from the calibration run)."""

    vetoed: bool
    reason: str
    tau_v: float | None = None
    tau_conf: float | None = None


@dataclass(frozen=True)
class Verdict:
    """Risk = calibrated P(error) in [0, 1]; ``accepted`` = risk within the calibration's
    90%-coverage threshold and not vetoed; ``imputed`` = features missing on this answer,
    replaced by their calibration mean; ``risk_model_samples`` = the K of the self-consistency
    features the risk model used (0 = none)."""

    risk: float
    p_error_interaction: float | None
    veto: Veto
    accepted: bool
    risk_features: tuple[str, ...]
    imputed: tuple[str, ...]
    risk_model_samples: int


def check_task_type(cal: Calibration, task_type: str) -> None:
    """Raise :class:`UnknownTaskType` naming the known types."""
    if task_type not in cal.veto:
        known = ", ".join(sorted(cal.veto))
        raise UnknownTaskType(f"unknown task type {task_type!r}; this calibration knows: {known}")


def _finite(x: object) -> float | None:
    try:
        f = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _veto(cal: Calibration, task_type: str, signals: Mapping[str, object]) -> Veto:
    entry = cal.veto[task_type]
    if entry.get("tau_v") is None:
        return Veto(False, entry.get("reason") or "no veto thresholds for this task type")
    tau_v, tau_c = float(entry["tau_v"]), float(entry["tau_conf"])
    h, v = _finite(signals.get("full_entropy")), _finite(signals.get(entry["V"]))
    if h is None or v is None:
        return Veto(False, f"full_entropy or {entry['V']} unavailable: not vetoed", tau_v, tau_c)
    confident, blind = -h >= tau_c, v < tau_v
    if confident and blind:
        why = (
            f"vetoed: confident (entropy {h:.3f} <= {-tau_c:.3f}) but not looking "
            f"({entry['V']} {v:.3f} < tau_V {tau_v:.3f})"
        )
    elif not confident:
        why = f"not vetoed: entropy {h:.3f} > {-tau_c:.3f} (not a confident answer)"
    else:
        why = f"not vetoed: {entry['V']} {v:.3f} >= tau_V {tau_v:.3f} (looked at the image)"
    return Veto(bool(confident and blind), why, tau_v, tau_c)


def _interaction(cal: Calibration, task_type: str, signals: Mapping[str, object]):
    entry = cal.interaction.get(task_type) or {}
    h, v = _finite(signals.get(entry.get("H", ""))), _finite(signals.get(entry.get("V", "")))
    if entry.get("beta") is None or h is None or v is None:
        return None
    mh, sh, mv, sv = entry["scaling"]
    zh, zv = (h - mh) / sh, (v - mv) / sv
    b0, bh, bv, bhv = (float(b) for b in entry["beta"])
    return logistic(b0 + bh * zh + bv * zv + bhv * zh * zv)


def decide(
    cal: Calibration,
    signals: Mapping[str, object],
    probe_logit: float | None,
    task_type: str,
    samples: int = 0,
) -> Verdict:
    """The verdict for one answer's ``signals`` (name -> value) and probe decision value
    (plain float arithmetic: one answer per call, numpy's per-call overhead would dominate)."""
    check_task_type(cal, task_type)
    model = cal.risk_model(samples)
    x, imputed = [], []
    for i, name in enumerate(model.features):
        value = _finite(probe_logit) if name == PROBE else _finite(signals.get(name))
        if value is None:
            imputed.append(name)
            value = float(model.scorer.mean[i])
        x.append(value)
    risk = min(max(model.scorer.proba_one(x), 0.0), 1.0)
    veto = _veto(cal, task_type, signals)
    threshold = cal.accept.get("risk_threshold")
    accepted = (threshold is None or risk <= threshold) and not veto.vetoed
    return Verdict(
        risk=risk,
        p_error_interaction=_interaction(cal, task_type, signals),
        veto=veto,
        accepted=bool(accepted),
        risk_features=model.features,
        imputed=tuple(imputed),
        risk_model_samples=model.samples,
    )
