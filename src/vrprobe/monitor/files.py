"""A calibration on disk: ``calibration.json`` (everything but the probe) + ``probe.safetensors``.

Plain files only (no pickles): the JSON is readable, the probe's scaler and coefficients are
float64 arrays. Writes go through a temporary name and a rename.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from vrprobe.analysis.analyze import jsonable
from vrprobe.monitor.calibration import Calibration, RiskModel
from vrprobe.monitor.linear import LinearScorer

FORMAT, VERSION = "vrprobe-monitor-calibration", 1
JSON_NAME, PROBE_NAME = "calibration.json", "probe.safetensors"


class CalibrationNotFound(FileNotFoundError):
    """The calibration folder or one of its files is missing or unreadable."""


def save_calibration(cal: Calibration, folder: Path) -> Path:
    """Write ``folder/calibration.json`` (+ ``probe.safetensors`` with a probe); return folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "format": FORMAT,
        "version": VERSION,
        "model": cal.model,
        "run": cal.run,
        "generation": cal.generation,
        "signals": cal.signals,
        "risk": [r.to_json() for r in cal.risk],
        "probe": cal.probe,
        "interaction": cal.interaction,
        "veto": cal.veto,
        "accept": cal.accept,
    }
    if cal.probe_scorer is not None:
        tmp = folder / (PROBE_NAME + ".tmp")
        save_file(cal.probe_scorer.to_arrays("probe"), str(tmp), metadata={"format": FORMAT})
        os.replace(tmp, folder / PROBE_NAME)
    else:
        (folder / PROBE_NAME).unlink(missing_ok=True)
    tmp = folder / (JSON_NAME + ".tmp")
    tmp.write_text(json.dumps(jsonable(data), indent=1, sort_keys=True) + "\n")
    os.replace(tmp, folder / JSON_NAME)
    return folder


def load_calibration(folder: Path) -> Calibration:
    """Read a folder written by :func:`save_calibration`; errors name the missing/bad file."""
    folder = Path(folder)
    path = folder / JSON_NAME
    if not folder.is_dir():
        raise CalibrationNotFound(f"calibration folder {folder} does not exist")
    if not path.is_file():
        raise CalibrationNotFound(f"{folder} has no {JSON_NAME}: not a monitor calibration")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalibrationNotFound(f"cannot read {path}: {exc}") from exc
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise CalibrationNotFound(
            f"{path}: format {data.get('format')!r} v{data.get('version')}, "
            f"expected {FORMAT!r} v{VERSION}"
        )
    scorer = None
    if data.get("probe") is not None:
        probe_path = folder / PROBE_NAME
        if not probe_path.is_file():
            raise CalibrationNotFound(
                f"{folder} has no {PROBE_NAME} but the calibration has a probe"
            )
        arrays: dict[str, np.ndarray] = load_file(str(probe_path))
        scorer = LinearScorer.from_arrays(arrays, "probe")
    return Calibration(
        model=data["model"],
        run=data["run"],
        generation=data["generation"],
        signals=data["signals"],
        risk=[RiskModel.from_json(r) for r in data["risk"]],
        probe=data["probe"],
        probe_scorer=scorer,
        interaction=data["interaction"],
        veto=data["veto"],
        accept=data.get("accept", {}),
    )
