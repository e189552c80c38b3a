"""`vrprobe run --perturb ...` end to end on the demo (one process per command)."""

from __future__ import annotations

import re
import subprocess
import sys

from vrprobe.store.shards import read_shards

PERTURB = "blur,mask-top"


def vrprobe(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "vrprobe.cli", *args], capture_output=True, text=True
    )
    return proc


def _figure(html: str, fig_id: str) -> str:
    m = re.search(rf'<figure id="{fig_id}">(.*?)</figure>', html, re.S)
    assert m, fig_id
    return m.group(1)


def test_run_with_perturbations_writes_records_report_and_resumes(tmp_path):
    out = tmp_path / "run"
    args = ["run", "--perturb", PERTURB, "--limit", "4", "--max-new-tokens", "3"]
    proc = vrprobe(*args, "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    df = read_shards(out / "records").to_pandas()
    masks = {"mask-top-pixels", "mask-top-embed", "mask-top-keys"}
    names = {"none", *masks, *(f"blur-k{k}" for k in (1, 5, 9, 15, 21, 31, 45, 61))}
    assert set(df["perturbation"]) == names and len(df) == 4 * len(names)
    assert df["error"].isna().all()
    html = (out / "report.html").read_text()
    assert "<img" in _figure(html, "fig-blur") and "<img" in _figure(html, "fig-masking")
    assert "not drawn" in _figure(html, "fig-highlight")
    again = vrprobe(*args, "--out", str(out), "--no-progress", "--no-report")
    assert again.returncode == 0, again.stderr
    assert "0 computed now" in again.stderr
    assert len(read_shards(out / "records")) == len(df)


def test_bad_perturbation_fails_before_loading():
    proc = vrprobe("run", "--perturb", "blur,smudge", "--limit", "2")
    assert proc.returncode == 2
    assert "'smudge'" in proc.stderr and "allowed: none, blur" in proc.stderr
