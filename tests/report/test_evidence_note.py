"""The report names the signals skipped because the task has no evidence boxes."""

from __future__ import annotations

from tests.report.fake_run import make_fake_run
from vrprobe.report import write_report
from vrprobe.store.shards import read_shards, write_shard

NOTE = "task fake-task has no evidence boxes (docs/tasks.md), so these signals were skipped"


def _with_boxes(run, boxes):
    table = read_shards(run / "records")
    for p in (run / "records").glob("*.parquet"):
        p.unlink()
    write_shard(run / "records", [{**r, "evidence_boxes": boxes} for r in table.to_pylist()])
    return run


def test_report_lists_signals_skipped_for_lack_of_boxes(tmp_path):
    run = _with_boxes(make_fake_run(tmp_path / "none", n=30), [])
    html = write_report(run, n_boot=5).read_text()
    assert NOTE in html and "evidence_mass, evidence_overlap" in html
    run = _with_boxes(make_fake_run(tmp_path / "some", n=30), [[0.0, 0.0, 4.0, 4.0]])
    assert NOTE not in write_report(run, n_boot=5).read_text()
