"""Which layer and which hidden dimensions `--kind dims` zeroes (SPEC §1 "causal scaling").

The layer defaults to the most predictive one: the decoder layer whose output at the last prompt
token (the run's stored ``hidden_prompt``, index l+1 for decoder layer l) gives the highest
cross-validated correctness-probe AUROC (``analysis.probes``), over the run's clean answered
records. Dimensions are ranked by the magnitude of a logistic probe's weights on that layer
(``probe_weights`` + ``top_dimensions``); the random control takes the first k of a seeded
permutation, so random sets are nested in k as top sets are. A run recorded without the
``hidden`` signal group has no stored states: then ``--layer`` is required and the states at
that layer are recomputed once per clean sample after the model loads (``run.layer_states``).
No torch import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vrprobe.analysis.probes import (
    layer_probe_auroc,
    most_predictive_layer,
    probe_undefined_reason,
    probe_weights,
    top_dimensions,
)
from vrprobe.interventions.settings import SettingError
from vrprobe.store.shards import read_shards

MAX_FOLDS = 5


@dataclass
class DimsChoice:
    """The layer, how it was chosen, and the probe weights that rank its dimensions."""

    layer: int
    layer_source: str  # "most predictive (stored hidden states)" or "--layer"
    weights: np.ndarray | None = None  # (d,), None until fitted
    aurocs: list[float] = field(default_factory=list)  # per decoder layer, when chosen here
    n_records: int = 0
    ranking_source: str = "stored hidden_prompt"

    def top(self, k: int) -> list[int]:
        if k == 0:
            return []
        if self.weights is None:
            raise RuntimeError("probe weights not fitted yet")
        return top_dimensions(self.weights, k).tolist()

    @staticmethod
    def random(k: int, seed: int, layer: int, width: int) -> list[int]:
        """The first k of a permutation of the width seeded by (seed, layer)."""
        return np.random.default_rng((seed, layer)).permutation(width)[:k].tolist()

    def describe(self) -> dict:
        """The manifest entry: how the layer and the ranking were chosen."""
        order = top_dimensions(self.weights, 16).tolist() if self.weights is not None else None
        return {
            "layer": self.layer,
            "layer_source": self.layer_source,
            "probe_auroc_per_layer": self.aurocs,
            "n_records": self.n_records,
            "ranking": "|logistic probe weight| on standardised features, all clean records",
            "ranking_source": self.ranking_source,
            "top16": order,
            "random": "first k of numpy default_rng((seed, layer)).permutation(width)",
        }


def clean_hidden(run_dir: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """(n, L+1, d) ``hidden_prompt`` and (n,) correctness of the run's clean answered records,
    or None when the run stored no hidden states."""
    table = read_shards(Path(run_dir) / "records", ["correct", "hidden_prompt", "perturbation"])
    if "hidden_prompt" not in table.column_names or table.num_rows == 0:
        return None
    rows = [
        (h, c)
        for h, c, e, p in zip(
            *(
                table.column(n).to_pylist()
                for n in ("hidden_prompt", "correct", "error", "perturbation")
            ),
            strict=True,
        )
        if h is not None and c is not None and e is None and p in (None, "none")
    ]
    if not rows:
        return None
    return np.array([h for h, _ in rows], np.float32), np.array([c for _, c in rows], bool)


def fit_weights(choice: DimsChoice, hidden_layer: np.ndarray, correct: np.ndarray) -> None:
    """Fit the ranking probe on (n, d) states; a clear error when it is undefined."""
    reason = probe_undefined_reason(correct, folds=1)
    if reason:
        raise SettingError(
            f"cannot rank layer {choice.layer}'s dimensions by probe weight: the run's "
            f"{len(correct)} clean answers are a {reason} (top-k needs right and wrong answers; "
            "--fractions 0 or a larger run)"
        )
    choice.weights = probe_weights(hidden_layer, correct)
    choice.n_records = len(correct)


def choose(run_dir: Path, layer: int | None, *, need_ranking: bool, seed: int = 0) -> DimsChoice:
    """The dims layer (given, or the most predictive) and, from stored states, its ranking."""
    stored = clean_hidden(run_dir)
    if stored is None:
        if layer is None:
            raise SettingError(
                f"run {run_dir} has no stored hidden states (recorded without the 'hidden' "
                "signal group), so the most predictive layer is unknown: pass --layer L"
            )
        return DimsChoice(layer, "--layer", ranking_source="recomputed at --layer after loading")
    hidden, correct = stored
    choice = DimsChoice(layer if layer is not None else -1, "--layer", n_records=len(correct))
    if layer is None:
        counts = np.unique(correct, return_counts=True)[1]
        folds = int(min(MAX_FOLDS, counts.min())) if len(counts) == 2 else 0
        why = probe_undefined_reason(correct, max(folds, 2))
        if why:
            raise SettingError(
                f"cannot pick the most predictive layer from {len(correct)} clean records: "
                f"{why}; pass --layer L"
            )
        aurocs = layer_probe_auroc(hidden, correct, folds=folds, seed=seed)[1:]
        choice.layer = most_predictive_layer(aurocs)
        choice.layer_source = f"most predictive (stored hidden states, {folds}-fold probe AUROC)"
        choice.aurocs = [float(a) for a in aurocs]
    if need_ranking:
        fit_weights(choice, hidden[:, choice.layer + 1], correct)
    return choice
