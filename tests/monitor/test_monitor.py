"""Live check on the demo model: same answer as plain greedy generate, risk, grid, errors, CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from tests.monitor.fake_monitor_run import make_monitor_run
from vrprobe.models.loading import load_model
from vrprobe.monitor import CalibrationNotFound, CheckInputError, Monitor, UnknownTaskType
from vrprobe.tasks.shapes import ShapesTask


@pytest.fixture(scope="module")
def demo():
    return load_model("demo")


@pytest.fixture(scope="module")
def monitor(demo, tmp_path_factory):
    run = make_monitor_run(tmp_path_factory.mktemp("run"))
    return Monitor.calibrate(demo, run)


@pytest.fixture(scope="module")
def samples():
    return list(ShapesTask("test").samples(limit=4))


def plain_answer(loaded, image, question, max_new_tokens=8):
    with torch.inference_mode():
        inputs = loaded.inputs(image, question)
        out = loaded.model.generate(**inputs, do_sample=False, max_new_tokens=max_new_tokens)
    return loaded.decode(out[0, inputs["input_ids"].shape[1] :])


def test_check_matches_plain_generate(monitor, demo, samples):
    for s in samples:
        image = s.load_image()
        r = monitor.check(image, s.question, s.task_type)
        assert r.answer == plain_answer(demo, image, s.question)
        assert 0.0 <= r.risk <= 1.0 and r.samples == 0
        assert (
            r.evidence_grid.shape
            == (8, 8)
            == demo.adapter.layout(
                demo.inputs(image, s.question)["input_ids"][0].numpy(),
                demo.processor,
                demo.model.config,
                image.size,
                {},
            ).grids[0]
        )
        assert r.evidence_grid.sum() == pytest.approx(1.0, abs=1e-5)
        assert r.veto.reason and r.signals["full_entropy"] >= 0
        assert set(r.risk_features) <= set(r.signals) | {"probe"}


def test_round_trip_same_check(monitor, demo, samples, tmp_path):
    back = Monitor.load(monitor.save(tmp_path / "cal"), model=demo)
    s = samples[0]
    a, b = monitor.check(s.load_image(), s.question), back.check(s.load_image(), s.question)
    assert (a.answer, a.risk, a.veto) == (b.answer, b.risk, b.veto)
    np.testing.assert_array_equal(a.evidence_grid, b.evidence_grid)


def test_overlay_and_samples(monitor, samples):
    s = samples[1]
    image = s.load_image().resize((96, 80))
    r = monitor.check(image, s.question, samples=3)
    assert r.samples == 3 and len(r.sampled_answers) == 3 and "sc_share" in r.signals
    ov = r.overlay()
    assert ov.size == image.size and ov.mode == "RGB"


def test_bad_inputs(monitor, samples, tmp_path):
    image = samples[0].load_image()
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(CheckInputError, match=r"bad\.png"):
        monitor.check(bad, "what colour is the circle ?")
    with pytest.raises(CheckInputError, match=r"missing\.png"):
        monitor.check(tmp_path / "missing.png", "what colour is the circle ?")
    with pytest.raises(CheckInputError, match="question is empty"):
        monitor.check(image, "  ")
    with pytest.raises(UnknownTaskType, match="'ocr'"):
        monitor.check(image, "what colour is the circle ?", task_type="ocr")
    with pytest.raises(CalibrationNotFound, match="does not exist"):
        Monitor.load(tmp_path / "no-calibration", model="demo")


def test_cli_check_writes_overlay(samples, tmp_path):
    image = tmp_path / "img.png"
    samples[0].load_image().save(image)
    out = tmp_path / "ov.png"
    cmd = [
        sys.executable,
        "-m",
        "vrprobe.cli",
        "check",
        str(image),
        samples[0].question,
        "--overlay",
        str(out),
        "--json",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert 0 <= res["risk"] <= 1 and res["grid"] == [8, 8] and isinstance(res["vetoed"], bool)
    assert Image.open(out).size == (64, 64)
    bad = subprocess.run(
        [*cmd[:4], str(tmp_path / "nope.png"), "q"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "nope.png" in bad.stderr
    cal = [*cmd[:4], str(image), "q", "--calibration", str(tmp_path / "no-cal")]
    missing = subprocess.run(cal, capture_output=True, text=True)
    assert missing.returncode == 2 and "no-cal does not exist" in missing.stderr


def test_check_signals_equal_the_run_records(monitor, demo, samples, tmp_path):
    """A live check computes what `vrprobe run` recorded for the same item (same pass)."""
    from vrprobe.analysis.records import load_records
    from vrprobe.config import RunConfig
    from vrprobe.runner import execute, plan_run

    config = RunConfig(model="demo", task="shapes", limit=3, out=tmp_path / "run", progress=False)
    execute(plan_run(config), loaded=demo)
    records = load_records(tmp_path / "run", extra=("mean_map",)).set_index("sample_id")
    for s in samples[:3]:
        r = monitor.check(s.load_image(), s.question, s.task_type)
        rec = records.loc[s.id]
        assert r.answer == rec["prediction"]
        for name in ("full_entropy", "mean_logprob", "vam", "vam_top_half", "vam_sink_robust"):
            assert r.signals[name] == pytest.approx(rec[name], rel=1e-5, abs=1e-6), name
        np.testing.assert_allclose(r.evidence_grid.reshape(-1), rec["mean_map"], atol=1e-6)
