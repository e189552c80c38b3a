"""Report figures of ``analysis/interventions.parquet``: one per intervention kind present.

- dims: accuracy vs fraction of the layer's width zeroed, top-k by probe weight vs random-k
  (mean over seeds, band = min–max over seeds), clean accuracy dotted (SPEC §1 causal scaling);
- heads: change in accuracy vs clean, heatmap layer × head;
- replace / patch: accuracy per layer range [i, j) with its bootstrap CI, one series per patch
  source and positions.

A run without intervention records gets a row in the report's "Unavailable" table saying how to
make them (:func:`missing_note`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vrprobe.report.plots import figure, to_data_uri

NONE_NOTE = (
    "no model-space interventions in this run "
    "(vrprobe intervene RUN --kind dims|heads|replace|patch; docs/interventions.md)"
)


def _clean_line(ax, part: pd.DataFrame) -> None:
    clean = part["clean_accuracy"].astype(float)
    if clean.notna().any():
        ax.axhline(float(clean.mean()), color="grey", lw=0.8, ls=":", label="clean")


def dims_curve(table: pd.DataFrame) -> str | None:
    """Accuracy vs fraction destroyed: top-k line, random-k mean line and min–max band."""
    part = table[table["kind"] == "dims"]
    if part.empty:
        return None
    fig, (ax,) = figure()
    for layer, by_layer in part.groupby("layer", sort=True):
        top = by_layer[by_layer["rank"] == "top"].sort_values("fraction")
        name = f"top-k by probe weight (L{int(layer)})"
        ax.plot(top["fraction"], top["accuracy"], marker="o", label=name)
        rnd = by_layer[by_layer["rank"] == "random"]
        if not rnd.empty:
            k0 = top[top["k"] == 0]
            stats = rnd.groupby("fraction")["accuracy"].agg(["mean", "min", "max"]).reset_index()
            if not k0.empty:  # k = 0 zeroes nothing: the random arm starts at the same point
                a = float(k0["accuracy"].iloc[0])
                stats = pd.concat(
                    [pd.DataFrame({"fraction": [0.0], "mean": [a], "min": [a], "max": [a]}), stats]
                )
            n_seeds = rnd["seed"].nunique()
            ax.plot(
                stats["fraction"],
                stats["mean"],
                ls="--",
                marker=".",
                label=f"random-k, mean of {n_seeds} seeds (L{int(layer)})",
            )
            ax.fill_between(stats["fraction"], stats["min"], stats["max"], alpha=0.2, lw=0)
    _clean_line(ax, part)
    ax.set(
        xlabel="fraction of the layer's hidden dims zeroed", ylabel="accuracy", ylim=(-0.02, 1.02)
    )
    ax.legend(fontsize=7)
    return to_data_uri(fig)


def heads_heatmap(table: pd.DataFrame) -> str | None:
    """Δ accuracy vs clean when one head is ablated: layers × heads."""
    part = table[table["kind"] == "heads"]
    if part.empty:
        return None
    grid = part.pivot_table(index="layer", columns="head", values="delta_accuracy", aggfunc="mean")
    if grid.empty:
        return None
    values = grid.to_numpy(dtype=float)
    fig, (ax,) = figure(
        width=max(3.6, 0.5 * grid.shape[1] + 2.4), height=max(2.4, 0.4 * grid.shape[0] + 1.4)
    )
    span = max(float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 0.0, 0.05)
    im = ax.imshow(values, cmap="RdBu", vmin=-span, vmax=span, aspect="auto")
    ax.set_xticks(range(grid.shape[1]), [str(int(h)) for h in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [str(int(v)) for v in grid.index])
    ax.set(xlabel="head", ylabel="decoder layer")
    for (r, c), v in np.ndenumerate(values):
        if np.isfinite(v):
            colour = "white" if abs(v) > 0.6 * span else "black"
            ax.text(c, r, f"{v:+.2f}", ha="center", va="center", fontsize=6, color=colour)
    fig.colorbar(im, ax=ax, label="Δ accuracy vs clean")
    return to_data_uri(fig)


def range_accuracy(table: pd.DataFrame, kind: str) -> str | None:
    """Accuracy (bootstrap CI) per layer range, one series per patch source/positions."""
    part = table[table["kind"] == kind]
    if part.empty:
        return None
    part = part.assign(
        label=[f"[{int(a)}, {int(b)})" for a, b in zip(part["start"], part["stop"], strict=True)]
    )
    order = list(dict.fromkeys(part.sort_values(["stop", "start"])["label"]))
    fig, (ax,) = figure(width=max(4.4, 0.55 * len(order) + 2))
    series = (
        part.groupby(["source", "positions"], dropna=False) if kind == "patch" else [(None, part)]
    )
    for name, s in series:
        x = np.array([order.index(v) for v in s["label"]], dtype=float)
        acc = s["accuracy"].astype(float).to_numpy()
        err = np.vstack(
            [acc - s["accuracy_lo"].astype(float), s["accuracy_hi"].astype(float) - acc]
        )
        label = "from " + " / ".join(map(str, name)) if name is not None else "donor layers"
        ax.errorbar(x, acc, yerr=np.clip(err, 0, None), fmt="o", capsize=3, label=label)
    _clean_line(ax, part)
    ax.set_xticks(range(len(order)), order, fontsize=7)
    what = "swapped in from the donor" if kind == "replace" else "patched from the counterfactual"
    ax.set(xlabel=f"decoder layers [i, j) {what}", ylabel="accuracy", ylim=(-0.02, 1.02))
    ax.legend(fontsize=7)
    return to_data_uri(fig)


def figures(table: pd.DataFrame) -> list[dict]:
    """Report figure entries (id, title, src, missing) for the kinds present in ``table``."""
    if table.empty or "kind" not in table:
        return []
    specs = {
        "dims": (
            "Causal scaling: accuracy vs fraction of hidden dims zeroed, top-k vs random-k",
            lambda: dims_curve(table),
        ),
        "heads": ("Head ablation: Δ accuracy vs clean, layer × head", lambda: heads_heatmap(table)),
        "replace": (
            "Layer replacement: accuracy per swapped layer range",
            lambda: range_accuracy(table, "replace"),
        ),
        "patch": (
            "Hidden-state patching: accuracy per patched layer range",
            lambda: range_accuracy(table, "patch"),
        ),
    }
    present = set(table["kind"])
    return [
        {
            "id": f"fig-intervene-{kind}",
            "title": title,
            "src": make(),
            "missing": f"no drawable {kind} interventions",
        }
        for kind, (title, make) in specs.items()
        if kind in present
    ]


def missing_note(table: pd.DataFrame) -> tuple[str, str] | None:
    """("Model-space interventions", how to make them) when ``table`` is empty, else None."""
    return ("Model-space interventions", NONE_NOTE) if table.empty else None
