"""A check's outputs pinned against two references that share none of its capture shortcuts.

- the full capture path (every hidden row tapped, the attention switch done from scratch by
  ``set_attn_implementation``, the global seed set): answer, risk, veto, grid and every raw
  signal must be *identical*, bit for bit;
- an independent recomputation from an eager ``generate`` of the same answer
  (``output_attentions`` / ``output_hidden_states`` / ``output_logits``): equal within float
  rounding of sdpa vs eager attention.

Both references go through the same post-processing (``Monitor._judge``) as the check, so a
difference can only come from what the fast capture recorded.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.monitor.fake_monitor_run import make_monitor_run
from vrprobe.capture import engine
from vrprobe.capture.engine import CaptureRequest, CaptureResult, generate_with_capture
from vrprobe.cli_check import DEFAULT_DEMO_CALIBRATION
from vrprobe.models.loading import load_model
from vrprobe.models.prepare import prepare
from vrprobe.monitor import Monitor
from vrprobe.monitor.calibration import PROBE
from vrprobe.tasks.shapes import ShapesTask


@pytest.fixture(scope="module")
def demo():
    return load_model("demo")


@pytest.fixture(scope="module", params=["shipped", "fitted"])
def monitor(request, demo, tmp_path_factory):
    if request.param == "shipped":  # what `vrprobe check --model demo` and the bench use
        return Monitor.load(DEFAULT_DEMO_CALIBRATION, model=demo)
    return Monitor.calibrate(demo, make_monitor_run(tmp_path_factory.mktemp("run")))


@pytest.fixture(scope="module")
def samples():
    return list(ShapesTask("test").samples(limit=4))


def _judge(monitor, prep, result, image, task_type):
    return monitor._judge(prep, result, [], task_type, 0, "text", (), image=image, start=0.0)


def _max_new(monitor) -> int:
    return int(monitor.calibration.generation.get("max_new_tokens") or 8)


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def test_check_identical_to_the_full_capture_path(monitor, demo, samples):
    for s in samples:
        image = s.load_image()
        fast = monitor.check(image, s.question, s.task_type, probe_signal=True)
        prep = prepare(demo, fast.image, s.question)
        engine._PLANS.clear()  # the next switch walks the model and calls set_attn_implementation
        torch.manual_seed(0)
        request = CaptureRequest(prep.layout.positions, prep.sections, hidden=True)
        with torch.inference_mode():
            full = generate_with_capture(
                demo.model, prep.inputs, request, max_new_tokens=_max_new(monitor), do_sample=False
            )
        ref = _judge(monitor, prep, full, fast.image, s.task_type)
        assert fast.answer == ref.answer
        assert fast.risk == ref.risk and fast.accepted == ref.accepted
        assert fast.veto == ref.veto
        assert fast.p_error_interaction == ref.p_error_interaction
        assert fast.imputed == ref.imputed
        np.testing.assert_array_equal(fast.evidence_grid, ref.evidence_grid)
        assert fast.signals.keys() == ref.signals.keys()
        for name, value in ref.signals.items():
            assert _same(fast.signals[name], value), (name, fast.signals[name], value)
        if monitor.calibration.probe is not None:
            assert isinstance(fast.signals["probe_logit"], float)


def test_probe_tapped_only_when_read(monitor, samples, monkeypatch):
    """Without ``probe_signal`` the hidden state is tapped only if the risk model reads the
    probe (the fitted calibration does, the shipped one does not); nothing else changes."""
    taps = []
    tap = engine.HiddenTaps
    monkeypatch.setattr(engine, "HiddenTaps", lambda *a, **k: taps.append(1) or tap(*a, **k))
    reads = PROBE in monitor.calibration.risk_model(0).features
    s = samples[0]
    lean = monitor.check(s.load_image(), s.question, s.task_type)
    assert len(taps) == int(reads)
    full = monitor.check(s.load_image(), s.question, s.task_type, probe_signal=True)
    assert len(taps) == int(reads) + 1
    assert (lean.answer, lean.risk, lean.veto, lean.accepted, lean.imputed) == (
        full.answer,
        full.risk,
        full.veto,
        full.accepted,
        full.imputed,
    )
    assert isinstance(full.signals["probe_logit"], float)
    assert lean.signals["probe_logit"] == (full.signals["probe_logit"] if reads else None)
    assert lean.signals.keys() == full.signals.keys()
    for name, value in full.signals.items():
        assert name == "probe_logit" or _same(lean.signals[name], value), name


@pytest.fixture(scope="module")
def eager():
    return load_model("demo", attn_implementation="eager")


def _from_eager(loaded, prep, max_new: int) -> CaptureResult:
    """What the capture should record, recomputed from eager ``generate`` outputs."""
    lm = loaded.model.get_decoder()
    raw_last: list[torch.Tensor] = []  # residual stream after the last layer, before the norm
    hook = lm.layers[-1].register_forward_hook(lambda m, a, out: raw_last.append(out[0, -1]))
    try:
        with torch.inference_mode():
            out = loaded.model.generate(
                **prep.inputs,
                do_sample=False,
                max_new_tokens=max_new,
                output_attentions=True,
                output_hidden_states=True,
                output_logits=True,
                return_dict_in_generate=True,
            )
    finally:
        hook.remove()
    p, img = prep.prompt_len, prep.layout.positions
    new = out.sequences[0, p:]
    rows = [torch.stack([a[0, :, -1, :].double().mean(0) for a in step]) for step in out.attentions]
    shares = {name: np.stack([r[:, pos].sum(-1).numpy() for r in rows])
              for name, pos in prep.sections.items()}  # fmt: skip
    shares["generated"] = np.stack([r[:, p:].sum(-1).numpy() for r in rows])
    logp = [torch.log_softmax(lg[0].double(), -1) for lg in out.logits]
    chosen = [float(lp[tok]) for lp, tok in zip(logp, new, strict=True)]

    def hidden(t: int) -> np.ndarray:
        states = [h[0, -1] for h in out.hidden_states[t][:-1]] + [raw_last[t]]
        return torch.stack(states).numpy()

    return CaptureResult(
        new_tokens=new.numpy().astype(np.int64),
        image_attention=np.stack([r[:, img].numpy() for r in rows]).astype(np.float32),
        section_shares={k: v.astype(np.float32) for k, v in shares.items()},
        token_entropy=np.array([float(-(lp.exp() * lp).sum()) for lp in logp], np.float32),
        token_logprob=np.array(chosen, np.float32),
        hidden_prompt=hidden(0),
        hidden_last=hidden(len(out.attentions) - 1),
    )


def test_check_matches_an_eager_recomputation(monitor, eager, samples):
    for s in samples:
        fast = monitor.check(s.load_image(), s.question, s.task_type, probe_signal=True)
        prep = prepare(eager, fast.image, s.question)
        ref = _judge(monitor, prep, _from_eager(eager, prep, _max_new(monitor)), fast.image,
                     s.task_type)  # fmt: skip
        assert fast.answer == ref.answer and fast.veto.vetoed == ref.veto.vetoed
        assert fast.risk == pytest.approx(ref.risk, abs=1e-5)
        np.testing.assert_allclose(fast.evidence_grid, ref.evidence_grid, atol=1e-5)
        for name, value in ref.signals.items():
            if isinstance(value, float) and not isinstance(value, bool):
                assert fast.signals[name] == pytest.approx(value, rel=1e-4, abs=1e-5), name
            else:
                assert fast.signals[name] == value, name
