"""The command line end to end on the bundled demo model (one process per command)."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from vrprobe.store.shards import read_shards


def vrprobe(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "vrprobe.cli", *args], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    proc = vrprobe("run", "--limit", "60", "--samples", "3", "--out", str(out), "--no-progress")
    return out, proc


def test_run_writes_records_summary_and_report(demo_run):
    out, proc = demo_run
    assert "overall" in proc.stdout and "report.html" in proc.stderr
    records = read_shards(out / "records")
    assert records.num_rows == 60
    rows = records.to_pylist()
    assert all(r["error"] is None for r in rows)
    assert {r["question_type"] for r in rows} >= {"colour", "count", "exists"}
    visual = [r for r in rows if r["task_type"] == "visual" and r["evidence_boxes"]]
    assert visual and all(r["evidence_mass"] is not None for r in visual)
    assert all(len(r["sc_answers"]) == 3 for r in rows)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["summary"]["items"] == 60
    html = (out / "report.html").read_text()
    assert "<img" in html and "http://" not in html and "https://" not in html


def test_analyze_writes_tables_and_prints_the_headline(demo_run):
    out, _ = demo_run
    proc = vrprobe("analyze", str(out), "--n-boot", "50")
    assert "AUROC" in proc.stdout and "full_entropy" in proc.stdout
    signals = pq.read_table(out / "analysis" / "signals.parquet").to_pylist()
    assert {"full_entropy", "vam", "sc_share"} <= {r["signal"] for r in signals}
    probes = pq.read_table(out / "analysis" / "probes.parquet")
    assert probes.num_rows > 0


def test_report_command_rewrites_the_page(demo_run):
    out, _ = demo_run
    (out / "report.html").unlink()
    vrprobe("report", str(out))
    html = (out / "report.html").read_text()
    assert len(html) > 10_000 and "most predictive layer" in html and "fig-truth-margin" in html


def test_analyze_names_a_folder_that_is_no_run(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "vrprobe.cli", "analyze", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "not a run folder" in proc.stderr
