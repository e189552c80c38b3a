"""Calibration from a run: ranking, probe, risk model, veto thresholds; save → load round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import expit

from tests.monitor.fake_monitor_run import make_monitor_run
from vrprobe.analysis.selective import vision_veto
from vrprobe.monitor.calibration import PROBE, CalibrationError, fit_calibration
from vrprobe.monitor.decide import UnknownTaskType, decide
from vrprobe.monitor.evaluate import score_run
from vrprobe.monitor.files import CalibrationNotFound, load_calibration, save_calibration
from vrprobe.monitor.linear import LinearScorer, fit_logistic, logistic
from vrprobe.store.run import write_json_atomic


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_monitor_run(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def cal(run):
    return fit_calibration(run, json.loads((run / "manifest.json").read_text()))


def test_ranks_planted_signal_and_finds_probe_layer(cal):
    assert cal.signals[0]["signal"] in {"full_entropy", "answer_entropy", "mean_logprob"}
    assert cal.signals[0]["auroc"] > 0.8
    assert cal.probe["position"] == "prompt" and cal.probe["layer"] == 2
    assert cal.probe["cv_auroc"] > 0.8
    # near-duplicates (full/answer entropy, mean log-prob) enter the risk model once
    feats = cal.risk[0].features
    assert feats[-1] == PROBE and len({"full_entropy", "answer_entropy"} & set(feats)) <= 1
    assert cal.risk[0].samples == 0 and len(cal.risk) == 1


def test_veto_thresholds_match_vision_veto(run, cal):
    from vrprobe.monitor.calibration import load_clean

    df = load_clean(run)
    vis = (df["task_type"] == "visual").to_numpy()
    conf, v, y = -df["full_entropy"].to_numpy(), df["vam"].to_numpy(), df["correct"].to_numpy()
    ref = vision_veto(conf, v, y, vis, calibration_mask=vis)  # thresholds: all visual items
    assert cal.veto["visual"]["tau_v"] == pytest.approx(ref.tau_v)
    assert cal.veto["visual"]["tau_conf"] == pytest.approx(ref.tau_conf)
    assert cal.veto["symbolic"]["tau_v"] is None
    assert (
        "never vetoed"
        in decide(cal, {"full_entropy": 0.0, "vam": 0.0}, 0.0, "symbolic").veto.reason
    )


def test_linear_scorer_equals_sklearn():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3)) * [1, 10, 0.1] + [0, 5, 1]
    y = (x[:, 0] + rng.normal(size=60) > 0).astype(int)
    pipe, scorer = fit_logistic(x, y)
    np.testing.assert_allclose(scorer.proba(x), pipe.predict_proba(x)[:, 1], rtol=1e-10)
    one_by_one = [scorer.proba_one(row.tolist()) for row in x]  # the live check's path
    np.testing.assert_allclose(one_by_one, pipe.predict_proba(x)[:, 1], rtol=1e-12)
    with pytest.raises(ValueError, match="expected 3 features"):
        scorer.proba_one([1.0, 2.0])


def test_linear_scorer_refuses_unusable_arrays():
    with pytest.raises(ValueError, match="scale must be positive"):
        LinearScorer(np.zeros(2), np.array([1.0, 0.0]), np.ones(2), 0.0)
    with pytest.raises(ValueError, match="one length"):
        LinearScorer(np.zeros(2), np.ones(3), np.ones(2), 0.0)
    coef = np.array([1.0, -1.0])
    scorer = LinearScorer(np.zeros(2), np.ones(2), coef, 0.0)
    coef[0] = 5.0  # the scorer keeps its own read-only copy
    assert scorer.proba_one([1.0, 0.0]) == pytest.approx(float(scorer.proba([1.0, 0.0])))
    assert scorer.proba_one([1.0, 0.0]) == pytest.approx(logistic(1.0))
    with pytest.raises(ValueError, match="read-only"):
        scorer.coef[0] = 5.0


def test_logistic_equals_scipy_expit():
    z = np.concatenate([np.linspace(-800, 800, 401), [-1e-300, 0.0, 1e-300, 36.7, -745.2]])
    got = [logistic(float(v)) for v in z]
    np.testing.assert_allclose(got, expit(z), rtol=1e-14, atol=1e-300)  # scipy flushes subnormals


def test_round_trip_same_outputs(run, cal, tmp_path):
    folder = save_calibration(cal, tmp_path / "cal")
    assert sorted(p.name for p in folder.iterdir()) == ["calibration.json", "probe.safetensors"]
    back = load_calibration(folder)
    a, b = score_run(cal, run), score_run(back, run)
    np.testing.assert_array_equal(a["risk"].to_numpy(), b["risk"].to_numpy())
    np.testing.assert_array_equal(a["vetoed"].to_numpy(), b["vetoed"].to_numpy())
    assert back.veto == cal.veto and back.probe == cal.probe
    assert ((a["risk"] >= 0) & (a["risk"] <= 1)).all()


def test_sampled_risk_model(tmp_path):
    run = make_monitor_run(tmp_path / "k", samples=5)
    cal = fit_calibration(run, json.loads((run / "manifest.json").read_text()))
    assert [r.samples for r in cal.risk] == [0, 5] and "sc_share" in cal.risk[1].features
    assert cal.risk_model(5) is cal.risk[1] and cal.risk_model(0) is cal.risk[0]


def test_bad_inputs(run, cal, tmp_path):
    with pytest.raises(UnknownTaskType, match=r"'ocr'.*symbolic, visual"):
        decide(cal, {}, None, "ocr")
    with pytest.raises(CalibrationNotFound, match="does not exist"):
        load_calibration(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CalibrationNotFound, match=r"no calibration\.json"):
        load_calibration(tmp_path / "empty")
    with pytest.raises(CalibrationError, match="not a run folder"):
        fit_calibration(tmp_path / "empty", {})
    tiny = make_monitor_run(tmp_path / "tiny", n=10)
    with pytest.raises(CalibrationError, match="needs >= 20"):
        fit_calibration(tiny, {})
    write_json_atomic(tmp_path / "empty" / "calibration.json", {"format": "other"})
    with pytest.raises(CalibrationNotFound, match="expected 'vrprobe-monitor-calibration'"):
        load_calibration(tmp_path / "empty")


def test_missing_feature_is_imputed(cal):
    v = decide(cal, {"vam": 0.7}, None, "visual")
    assert 0 <= v.risk <= 1 and PROBE in v.imputed
