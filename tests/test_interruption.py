"""SIGKILL fault injection for `vrprobe analyze RUN` and `vrprobe report RUN`.

Each command is killed at seeded random points of a run on a synthetic run folder (no model).
After every kill no output in the folder may be half-written: each Parquet file reads, each
JSON parses and ``report.html`` is absent, the previous page or a complete one; a stray
``*.tmp`` is allowed (the next writer sweeps or replaces it) but it is never an output name.
An uninterrupted re-run then gives exactly the files of a never-interrupted reference run.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.killing import finish, kill_after, vrprobe
from tests.report.fake_run import make_fake_run

N_BOOT = "50"  # the bootstrap is the slow part; 50 resamples keep each command a few seconds


def _timed(args: list[str]) -> float:
    start = time.monotonic()
    finish(args)
    return time.monotonic() - start


def _outputs(run: Path) -> list[Path]:
    """Every file the commands write, relative to `run` (records/ and the manifest excluded)."""
    found = [*(run / "analysis").glob("*"), *run.glob("report.html*")]
    return sorted(p.relative_to(run) for p in found if p.is_file())


def _assert_whole(run: Path) -> None:
    """No output is partial; temporaries exist only under their own ``.tmp`` names."""
    for rel in _outputs(run):
        path = run / rel
        if path.name.endswith(".tmp"):
            continue
        if path.suffix == ".parquet":
            pq.read_table(path)  # raises on a truncated file
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.name == "report.html":
            assert path.read_text(encoding="utf-8").rstrip().endswith("</html>"), path
        else:
            raise AssertionError(f"unexpected output {rel}")


def _canonical_summary(path: Path) -> str:
    summary = json.loads(path.read_text())
    summary.pop("run", None)  # the run folder's absolute path: the only field that differs
    return json.dumps(summary, sort_keys=True)


def _assert_killed_state(got: Path, want: Path) -> None:
    """After a kill: every output is whole and each one present equals the reference's."""
    _assert_whole(got)
    _assert_equal(got, want, {p for p in _outputs(got) if not p.name.endswith(".tmp")})


def _assert_same_outputs(got: Path, want: Path, names: set[Path]) -> None:
    """The outputs named `names` are equal in both runs; no temporary is left in `got`."""
    assert not [p for p in _outputs(got) if p.name.endswith(".tmp")]
    _assert_equal(got, want, names)


def _assert_equal(got: Path, want: Path, names: set[Path]) -> None:
    assert names <= set(_outputs(got)) and names <= set(_outputs(want))
    for rel in sorted(names):
        if rel.suffix == ".parquet":
            pd.testing.assert_frame_equal(pd.read_parquet(got / rel), pd.read_parquet(want / rel))
        elif rel.name == "summary.json":
            assert _canonical_summary(got / rel) == _canonical_summary(want / rel)
        else:
            assert (got / rel).read_bytes() == (want / rel).read_bytes(), rel


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """An analysed and reported reference run, and an untouched copy of its records."""
    root = tmp_path_factory.mktemp("interrupt")
    reference = make_fake_run(root / "reference" / "run", blur=True)
    victim = root / "killed" / "run"  # same folder name: the report shows it
    shutil.copytree(reference, victim)
    return reference, victim


def test_killed_analyze_and_report_leave_whole_files_and_resume(runs):
    reference, victim = runs
    analyze = ["analyze", "--n-boot", N_BOOT]
    report = ["report", "--n-boot", N_BOOT]
    t_analyze = _timed(vrprobe(*analyze, str(reference)))
    t_report = _timed(vrprobe(*report, str(reference)))
    rng = random.Random(11)

    analysis = {p for p in _outputs(reference) if p.parts[0] == "analysis"}
    assert Path("analysis/summary.json") in analysis and len(analysis) > 5

    landed = 0  # analyze: killed mid-run three times, then run to the end
    for _ in range(3):
        landed += kill_after(vrprobe(*analyze, str(victim)), rng.uniform(0.3, 0.9) * t_analyze)
        _assert_killed_state(victim, reference)
    assert landed >= 1, "every analyze finished before it could be killed"
    finish(vrprobe(*analyze, str(victim)))
    _assert_same_outputs(victim, reference, analysis)
    assert not (victim / "report.html").exists()

    landed = 0  # report: killed twice before any page exists, then run to the end
    for _ in range(2):
        landed += kill_after(vrprobe(*report, str(victim)), rng.uniform(0.3, 0.9) * t_report)
        _assert_killed_state(victim, reference)
    assert landed >= 1, "every report finished before it could be killed"
    finish(vrprobe(*report, str(victim)))
    page = Path("report.html")
    _assert_same_outputs(victim, reference, {page, *analysis})

    previous = (victim / page).read_bytes()  # a killed re-report keeps the previous page
    assert kill_after(vrprobe(*report, str(victim)), rng.uniform(0.3, 0.9) * t_report)
    _assert_killed_state(victim, reference)
    assert (victim / page).read_bytes() == previous
