"""Synthetic `vrprobe intervene` records for a run folder (every kind, planted accuracies)."""

from __future__ import annotations

from pathlib import Path

from vrprobe.interventions.settings import parse_setting
from vrprobe.store.shards import write_shard

WIDTH = 128


def add_interventions(run: Path, correct: dict[str, dict[str, bool]], kind: str) -> None:
    """Write ``{setting: {sample_id: correct}}`` as records under ``RUN/interventions/<kind>``;
    the extracted answer is "red" when correct, else "blue"."""
    rows = []
    for setting, per_sample in correct.items():
        params = parse_setting(setting)
        for sid, ok in per_sample.items():
            rows.append(
                {
                    "item_key": f"{setting}-{sid}",
                    "sample_id": sid,
                    "perturbation": setting,
                    "setting": setting,
                    "error": None,
                    "prediction": "red" if ok else "blue",
                    "extracted": "red" if ok else "blue",
                    "correct": ok,
                    **{k: v for k, v in params.items()},
                    "fraction": params["k"] / WIDTH if params["k"] is not None else None,
                }
            )
    write_shard(Path(run) / "interventions" / kind / "records", rows)
