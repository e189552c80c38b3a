"""write_report: a self-contained HTML file with every section, and it renders in Chromium."""

from __future__ import annotations

import base64
import importlib.util
import io
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from tests.report.fake_run import make_fake_run
from vrprobe.report import write_report
from vrprobe.store.shards import read_shards, write_shard

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "screenshot_report.py"
SECTIONS = ("provenance", "accuracy", "signals", "guards", "figures", "gallery", "unavailable")
FIGURES = (
    "fig-entropy",
    "fig-rapt",
    "fig-layer-grounding",
    "fig-evidence-steps",
    "fig-risk-coverage",
    "fig-probes",
    "fig-truth-margin",
    "fig-reliability",
    "fig-blur",
    "fig-masking",
    "fig-highlight",
)
IMG = re.compile(r'<img\b[^>]*\bsrc="([^"]*)"')


def _loader(record: dict) -> Image.Image:
    return Image.new("RGB", (int(record["image_width"]), int(record["image_height"])), "olive")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    run = make_fake_run(tmp_path_factory.mktemp("rep") / "run", n=150, blur=True, perturb=True)
    (run / "analysis").mkdir()
    probes = pd.DataFrame(
        [
            {"layer": layer, "position": pos, "probe": probe, "auroc": 0.5 + 0.07 * layer}
            for layer in range(6)
            for pos in ("prompt", "last")
            for probe in ("logistic", "mlp")
        ]
    )
    probes.to_parquet(run / "analysis" / "probes.parquet")  # written by the probes helper
    return write_report(run, image_loader=_loader, n_boot=10)


def test_report_is_self_contained_and_complete(report):
    html = report.read_text()
    assert report.name == "report.html" and (report.parent / "analysis/summary.json").exists()
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)
    assert "http://" not in html and "https://" not in html
    for sid in (*SECTIONS, *FIGURES):
        assert f'id="{sid}"' in html, sid
    srcs = IMG.findall(html)
    n_cards = html.count('class="card"')
    assert n_cards >= 4 and len(srcs) == len(FIGURES) + n_cards  # one <img> per figure
    assert all(s.startswith("data:image/png;base64,") and len(s) > 500 for s in srcs)
    png = Image.open(io.BytesIO(base64.b64decode(srcs[0].split(",", 1)[1])))
    assert png.format == "PNG" and png.width > 100
    assert "not drawn" not in html and "map over the image" in html
    assert not list(report.parent.glob("*.tmp"))


def test_report_content(report):
    html = report.read_text()
    for text in ("fake-vlm", "sha256:feedface", "0123456789abcdef", "sdpa", "2025-01-02"):
        assert text in html  # provenance
    assert "1.000 [1.000, 1.000]" in html  # sc_share AUROC with its CI
    assert "arithmetic" in html and "3 error records excluded" in html
    assert "Most confident errors" in html and "Confident but blind" in html
    assert "no sampled answers" in html or "column absent" in html  # unavailable section


def test_undefined_and_missing_everything(tmp_path):
    run = make_fake_run(tmp_path / "ok", n=40, all_correct=True)
    html = write_report(run, n_boot=5).read_text()
    assert "undefined: single class (every label is 1)" in html
    assert "analysis/probes.parquet not found" in html and "no blur perturbations" in html
    assert "none to show" in html  # no errors to show
    # a run without attention maps and without a manifest
    bare = make_fake_run(tmp_path / "bare", n=30)
    table = read_shards(bare / "records")
    for p in (bare / "records").glob("*.parquet"):
        p.unlink()
    write_shard(bare / "records", table.drop_columns(["mean_map"]).to_pylist())
    (bare / "manifest.json").unlink()
    html = write_report(bare, n_boot=5).read_text()
    assert "no mean_map recorded" in html and 'id="unavailable"' in html
    assert len(IMG.findall(html)) == html.count("<img")


def test_image_loader_failure_does_not_stop_the_report(tmp_path):
    run = make_fake_run(tmp_path / "r", n=60)

    def broken(record):
        raise FileNotFoundError(record["sample_id"])

    html = write_report(run, image_loader=broken, n_boot=5).read_text()
    assert "image loader failed: FileNotFoundError" in html
    html = write_report(run, n_boot=5).read_text()
    assert "map only (no image loader)" in html


def _script():
    spec = importlib.util.spec_from_file_location("screenshot_report", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dom_check_flags_problems():
    check = _script().check_dom
    good = "".join(f'<section id="{s}"></section>' for s in SECTIONS)
    ok_img = '<img src="data:image/png;base64,' + "A" * 200 + '">'
    assert check(f"<html>{good}{ok_img}</html>") == []
    bad = '<html><img src=""><a href="https://example.org">x</a></html>'
    problems = check(bad)
    assert any("embedded PNG" in p for p in problems)
    assert any("external" in p for p in problems)
    assert any("provenance" in p for p in problems)


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="chromium not installed")
def test_renders_in_headless_chromium(report, tmp_path):
    out = tmp_path / "shot.png"
    res = subprocess.run(
        [sys.executable, str(SCRIPT), str(report), str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "0 problems" in res.stdout
    assert Image.open(out).size == (1280, 4000)
