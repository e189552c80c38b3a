"""The report draws one figure per intervention kind present, and a note when there is none."""

from __future__ import annotations

import re

import numpy as np

from tests.analysis.fake_interventions import add_interventions
from tests.report.fake_run import make_fake_run
from vrprobe.report import write_report
from vrprobe.report.interventions import NONE_NOTE

KINDS = ("dims", "heads", "replace", "patch")


def _figure(html: str, fig_id: str) -> str:
    m = re.search(rf'<figure id="{fig_id}">(.*?)</figure>', html, re.S)
    assert m, fig_id
    return m.group(1)


def test_report_without_interventions_says_so(tmp_path):
    run = make_fake_run(tmp_path / "run", n=30)
    html = write_report(run, n_boot=5).read_text()
    unavailable = html[html.index('id="unavailable"') :]
    assert f"<td>Model-space interventions</td><td>{NONE_NOTE}</td>" in unavailable
    assert not any(f"fig-intervene-{k}" in html for k in KINDS)


def test_report_draws_every_present_kind(tmp_path):
    run = make_fake_run(tmp_path / "run", n=30)
    sids = [f"s{i}" for i in range(30)]
    rng = np.random.default_rng(0)

    def draw(p: float) -> dict[str, bool]:
        return {s: bool(rng.random() < p) for s in sids}

    dims = {"dims-L1-top-k0": draw(0.7)}
    for k in (8, 32, 128):
        dims[f"dims-L1-top-k{k}"] = draw(0.7 - k / 256)
        dims.update({f"dims-L1-random-s{s}-k{k}": draw(0.7 - k / 512) for s in range(2)})
    add_interventions(run, dims, "dims")
    add_interventions(
        run, {f"heads-L{i}-h{h}": draw(0.5) for i in range(2) for h in range(3)}, "heads"
    )
    add_interventions(run, {"replace-L0-1": draw(0.6), "replace-L0-4": draw(0.2)}, "replace")
    patch = {f"patch-blank-{pos}-L0-{j}": draw(0.4) for pos in ("all", "image") for j in (1, 4)}
    add_interventions(run, patch, "patch")
    html = write_report(run, n_boot=5).read_text()
    for kind in KINDS:
        assert "<img" in _figure(html, f"fig-intervene-{kind}"), kind
    assert "Model-space interventions</td>" not in html
    assert "top-k vs random-k" in html and "layer × head" in html
