"""Report figures as self-contained PNG data URIs (matplotlib, Agg canvas, no pyplot state).

Each function takes analysis tables and returns ``data:image/png;base64,...``, or None when
there is nothing to draw (the report then says why instead of showing an empty plot).
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve

DPI = 80
COLOURS = {"right": "tab:blue", "wrong": "tab:red"}
STYLES = {"right": "-", "wrong": "--"}


def figure(width: float = 6.4, height: float = 3.6, ncols: int = 1):
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def to_data_uri(fig: Figure) -> str:
    """PNG bytes of ``fig`` as a base64 data URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _right_wrong(ax, df: pd.DataFrame, metric: str, x: str, label: str = "", colour=None):
    drawn = False
    for group in ("right", "wrong"):
        part = df[(df["metric"] == metric) & (df["group"] == group)].sort_values(x)
        if part.empty or not np.isfinite(part["mean"].to_numpy(dtype=float)).any():
            continue
        mean = part["mean"].to_numpy(dtype=float)
        sem = part["sem"].to_numpy(dtype=float)
        name = f"{label} {group}".strip() + f" (n≤{int(part['n'].max())})"
        c = colour or COLOURS[group]
        ax.plot(part[x], mean, STYLES[group], color=c, marker=".", label=name)
        ax.fill_between(part[x], mean - sem, mean + sem, color=c, alpha=0.15, linewidth=0)
        drawn = True
    return drawn


def layer_curves(layers: pd.DataFrame, metrics: list[str], ylabel: str) -> str | None:
    """Per-layer means for right (solid) vs wrong (dashed) answers, one colour per metric."""
    fig, (ax,) = figure()
    colours = iter(["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown"])
    drawn = False
    for metric in metrics:
        label = metric.removeprefix("layer_").removeprefix("rapt_")
        colour = next(colours) if len(metrics) > 1 else None
        drawn |= _right_wrong(
            ax, layers, metric, "layer", label if len(metrics) > 1 else "", colour
        )
    if not drawn:
        return None
    ax.set(xlabel="decoder layer", ylabel=ylabel)
    if len(metrics) > 1:
        fig.legend(loc="outside lower center", ncol=4, fontsize=6)
    else:
        ax.legend(fontsize=7)
    return to_data_uri(fig)


def small_multiples(layers: pd.DataFrame, metrics: list[str]) -> str | None:
    """One panel per per-layer metric, right vs wrong."""
    metrics = [m for m in metrics if (layers["metric"] == m).any()]
    if not metrics:
        return None
    fig, axes = figure(width=3.2 * min(len(metrics), 3), height=2.8, ncols=min(len(metrics), 3))
    for ax, metric in zip(axes, metrics[:3], strict=False):
        _right_wrong(ax, layers, metric, "layer")
        ax.set(title=metric, xlabel="layer")
        ax.legend(fontsize=6)
    return to_data_uri(fig)


def step_curve(steps: pd.DataFrame, metric: str) -> str | None:
    """A per-token signal averaged in 10 relative-position bins of the reply."""
    fig, (ax,) = figure()
    if not _right_wrong(ax, steps, metric, "bin"):
        return None
    ax.set(xlabel="relative position in the reply (10 bins)", ylabel=metric)
    ax.legend(fontsize=7)
    return to_data_uri(fig)


def risk_coverage(rc: pd.DataFrame, signals: list[str], error_rate: float) -> str | None:
    """Selective risk vs coverage for the given signals."""
    signals = [s for s in signals if (rc["signal"] == s).any()]
    if not signals:
        return None
    fig, (ax,) = figure()
    for s in signals:
        part = rc[rc["signal"] == s]
        ax.plot(part["coverage"], part["risk"], label=s)
    ax.axhline(error_rate, color="grey", lw=0.8, ls=":", label="no selection")
    ax.set(xlabel="coverage", ylabel="selective risk (error rate)", xlim=(0, 1))
    ax.legend(fontsize=7)
    return to_data_uri(fig)


def probe_auroc(probes: pd.DataFrame | None) -> str | None:
    """Cross-validated probe AUROC by layer, one line per (position, probe)."""
    need = {"layer", "position", "probe", "auroc"}
    if probes is None or probes.empty or not need <= set(probes.columns):
        return None
    fig, (ax,) = figure()
    for (pos, probe), part in probes.groupby(["position", "probe"], sort=True):
        part = part.sort_values("layer")
        ax.plot(part["layer"], part["auroc"], marker=".", label=f"{probe} @ {pos}")
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set(xlabel="layer", ylabel="probe AUROC (correctness)", ylim=(0.3, 1.02))
    ax.legend(fontsize=7)
    return to_data_uri(fig)


def reliability(p: np.ndarray, correct: np.ndarray, label: str, bins: int = 10) -> str | None:
    """Reliability diagram: observed accuracy per bin of predicted P(correct)."""
    have = np.isfinite(p)
    if have.sum() < 2 or len(set(correct[have])) < 2:
        return None
    acc, conf = calibration_curve(correct[have].astype(int), np.clip(p[have], 0, 1), n_bins=bins)
    fig, (ax,) = figure(width=4.4, height=4.0)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":", label="perfect calibration")
    ax.plot(conf, acc, marker="o", label=label)
    ax.set(xlabel="predicted P(correct)", ylabel="observed accuracy", xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=7)
    return to_data_uri(fig)


def blur_decay(pert: pd.DataFrame) -> str | None:
    """Accuracy and agreement with the clean answer per blur kernel size."""
    blur = pert[pert["kernel"].notna()].sort_values("kernel") if not pert.empty else pert
    if len(blur) < 2:
        return None
    fig, (ax,) = figure()
    ax.plot(blur["kernel"], blur["accuracy"], marker="o", label="accuracy")
    agree = blur["agreement"].astype(float)
    if agree.notna().any():
        ax.plot(blur["kernel"], agree, marker="s", ls="--", label="same answer as clean (E_k)")
    ax.set(xlabel="Gaussian blur kernel (px)", ylabel="share", ylim=(0, 1.02))
    ax.legend(fontsize=7)
    return to_data_uri(fig)


def overlay(mean_map, rows: int, cols: int, cells, image=None, size=None, title: str = ""):
    """The headline attention map upsampled over the image (or alone), evidence cells boxed."""
    from matplotlib.patches import Rectangle

    m = np.asarray(mean_map, dtype=float).reshape(rows, cols)
    w, h = (image.width, image.height) if image is not None else (size or (cols, rows))
    fig, (ax,) = figure(width=3.0, height=3.0 * h / w if w else 3.0)
    if image is not None:
        ax.imshow(np.asarray(image.convert("RGB")), extent=(0, w, h, 0))
    ax.imshow(
        m,
        extent=(0, w, h, 0),
        cmap="inferno",
        interpolation="bilinear",
        alpha=0.5 if image is not None else 1.0,
    )
    for cell in cells if cells is not None else []:
        r, c = divmod(int(cell), cols)
        ax.add_patch(
            Rectangle(
                (c * w / cols, r * h / rows),
                w / cols,
                h / rows,
                fill=False,
                edgecolor="cyan",
                lw=1.2,
            )
        )
    ax.set(xlim=(0, w), ylim=(h, 0), xticks=[], yticks=[])
    ax.set_title(title, fontsize=7)
    return to_data_uri(fig)


def perturbation_deltas(pert: pd.DataFrame, family: str, bars: dict[str, str]) -> str | None:
    """Paired changes vs the clean answer (and vs instruction-only) for one perturbation family:
    one group of bars per perturbation, one bar per column of ``bars`` ({column: label})."""
    if pert.empty or "family" not in pert:
        return None
    part = pert[pert["family"] == family]
    bars = {c: lab for c, lab in bars.items() if c in part and part[c].astype(float).notna().any()}
    if part.empty or not bars:
        return None
    fig, (ax,) = figure(width=max(4.4, 1.3 * len(part) + 2))
    x, width = np.arange(len(part)), 0.8 / len(bars)
    for j, (col, label) in enumerate(bars.items()):
        ax.bar(x + (j - (len(bars) - 1) / 2) * width, part[col].astype(float), width, label=label)
    ax.axhline(0, color="grey", lw=0.8)
    names = [f"{p}\n(n={n})" for p, n in zip(part["perturbation"], part["n_paired"], strict=True)]
    ax.set_xticks(x, names, fontsize=6)
    ax.set(ylabel="paired change (share)")
    ax.legend(fontsize=7)
    return to_data_uri(fig)
