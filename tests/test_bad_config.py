"""Every bad flag or config field of every command fails with exit code 2 before any model
loads, and the message names the field and, where the field has a fixed set, the allowed values.

One table per command (issue 10 item 4). Each row runs the typer app in-process with every
model loader replaced by one that raises, so a row whose check comes after loading fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import transformers
import yaml
from PIL import Image
from typer.testing import CliRunner

from vrprobe.cli import app

LOADED = "model loaded"
#: every place a model is loaded, as imported by its caller (grep load_model / from_pretrained)
LOADERS = (
    "vrprobe.models.loading.load_model",
    "vrprobe.runner.load_model",
    "vrprobe.exec.serial.load_model",
    "vrprobe.monitor.monitor.load_model",
    "vrprobe.interventions.run.load_model",
)
BOX = str.maketrans("│╭╮╰╯─", "      ")
DTYPES = "'float32', 'bfloat16' or 'float16'"
SIGNALS = "'spatial', 'grounding', 'evidence', 'uncertainty' or 'hidden'"


@pytest.fixture(autouse=True)
def no_loading(monkeypatch):
    def loader(*args, **kwargs):
        raise AssertionError(LOADED)

    for name in LOADERS:
        monkeypatch.setattr(name, loader)
    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", loader)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def invoke(args: list[str], expected: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    # rich boxes and wraps long lines on narrow terminals: compare the words only
    output = " ".join(result.output.translate(BOX).split())
    assert LOADED not in repr(result.exception), f"the model loaded for {args}"
    assert result.exit_code == 2, output + repr(result.exception)
    for text in expected:
        assert text in output, f"{text!r} not in: {output}"


RUN_CASES = [
    (["--samples", "-1"], ["samples:", "greater than or equal to 0", "(got -1)"]),
    (["--samples", "999"], ["samples:", "less than or equal to 256"]),
    (["--samples", "many"], ["Invalid value for '--samples'", "valid integer"]),
    (["--dtype", "float64"], ["dtype:", DTYPES, "(got 'float64')"]),
    (["--top-p", "1.5"], ["top_p:", "less than or equal to 1"]),
    (["--top-p", "0"], ["top_p:", "greater than 0"]),
    (["--temperature", "0"], ["temperature:", "greater than 0"]),
    (["--temperature", "9"], ["temperature:", "less than or equal to 5"]),
    (["--max-new-tokens", "0"], ["max_new_tokens:", "greater than or equal to 1"]),
    (["--perturb", "none,smudge"], ["unknown perturbation 'smudge'", "allowed: none"]),
    (["--signals", "spatial,colour"], ["signals.1:", SIGNALS, "(got 'colour')"]),
    (["--limit", "0"], ["limit:", "greater than or equal to 1"]),
    (["--seed", "-3"], ["seed:", "greater than or equal to 0"]),
    (["--flush-every", "0"], ["flush_every:", "greater than or equal to 1"]),
    (["--task", "no-such-task"], ["unknown task", "no-such-task"]),
    (["--split", "hardest"], ["split 'hardest'", "choose one of"]),
    (["--model", "./no/such/dir"], ["model folder ./no/such/dir does not exist"]),
    (["--executor", "dask"], ["executor", "'dask'", "serial | ray"]),
    (["--workers", "2"], ["--workers", "need --executor ray"]),
    (
        ["--executor", "ray", "--workers", "0"],
        ["Invalid value for '--workers'", "than or equal to 1"],
    ),
    (["--device", "tpu"], ["device:", "unknown device 'tpu'", "allowed: cpu, cuda, cuda:N, mps"]),
    (
        ["--perturb", "highlight", "--highlight-profile", "no/such/run"],
        ["highlight_profile:", "no highlight profile at no/such/run", "perturb/highlight_profile"],
    ),
]


@pytest.mark.parametrize(("args", "expected"), RUN_CASES, ids=[" ".join(c[0]) for c in RUN_CASES])
def test_run(args, expected, tmp_path):
    out = tmp_path / "out"
    invoke(["run", *args, "--out", str(out), "--no-progress", "--no-report"], expected)
    assert not out.exists()


def test_run_on_a_device_this_machine_lacks(tmp_path, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    invoke(
        ["run", "--device", "cuda:1", "--out", str(tmp_path / "o")], ["'cuda:1' is not available"]
    )


def test_one_bad_element_gives_one_message(tmp_path):
    result = CliRunner().invoke(app, ["run", "--perturb", "smudge", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "'smudge'" in result.output
    assert "at least 1 item" not in result.output  # the tuple's echo of its element's error


SWEEP_CASES = [
    ({"models": ["demo"], "dtypes": ["float32"]}, ["dtypes: Extra inputs"]),
    ({"models": ["demo"], "seeds": ["zero"]}, ["seeds.0:", "valid integer"]),
    ({"models": ["demo"], "top_p": 2}, ["top_p", "less than or equal to 1"]),
    ({"models": [{"model": "demo", "dtype": "half"}]}, ["models.0.dtype", DTYPES]),
    ({"models": ["demo"], "signals": ["spatial", "colour"]}, ["signals", SIGNALS]),
    ({"models": ["demo"], "tasks": ["no-such-task"]}, ["unknown task", "no-such-task"]),
]


@pytest.mark.parametrize(("data", "expected"), SWEEP_CASES, ids=[str(c[0]) for c in SWEEP_CASES])
def test_sweep(data, expected, tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    invoke(["run", "--config", str(path), "--out", str(tmp_path / "o"), "--no-report"], expected)


def test_sweep_flags_that_belong_in_the_file(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"models": ["demo"]}))
    invoke(["run", "--config", str(path), "--samples", "2"], ["--samples", "in the sweep file"])
    invoke(["run", "--config", str(tmp_path / "none.yaml")], ["cannot read", "none.yaml"])


@pytest.fixture()
def not_a_run(tmp_path) -> Path:
    folder = tmp_path / "not-a-run"
    folder.mkdir()
    return folder


ANALYSIS_CASES = [
    (["analyze", "{dir}"], ["{dir} is not a run folder (no manifest.json)"]),
    (["analyze", "{dir}/missing"], ["{dir}/missing is not a run folder"]),
    (
        ["analyze", "{dir}", "--n-boot", "5"],
        ["Invalid value for '--n-boot'", "greater than or equal to 10"],
    ),
    (["analyze", "{dir}", "--seed", "x"], ["Invalid value for '--seed'", "valid integer"]),
    (["report", "{dir}"], ["{dir} is not a run folder (no manifest.json)"]),
    (
        ["report", "{dir}", "--n-boot", "0"],
        ["Invalid value for '--n-boot'", "greater than or equal to 10"],
    ),
]


@pytest.mark.parametrize(
    ("args", "expected"), ANALYSIS_CASES, ids=[" ".join(c[0]) for c in ANALYSIS_CASES]
)
def test_analyze_and_report(args, expected, not_a_run):
    def fill(texts: list[str]) -> list[str]:
        return [t.replace("{dir}", str(not_a_run)) for t in texts]

    invoke(fill(args), fill(expected))


@pytest.fixture()
def image(tmp_path) -> Path:
    path = tmp_path / "img.png"
    Image.new("RGB", (32, 32), (255, 0, 0)).save(path)
    return path


CHECK_CASES = [
    (["{tmp}/missing.png", "what colour?"], ["cannot read image", "missing.png"]),
    (["{tmp}/not-an-image.png", "what colour?"], ["image", "not-an-image.png"]),
    (["{img}", "   "], ["question is empty"]),
    (["{img}", "what?", "--task-type", "colour"], ["unknown task type 'colour'", "knows: "]),
    (["{img}", "what?", "--samples", "-1"], ["samples must be >= 0, got -1"]),
    (["{img}", "what?", "--calibration", "{tmp}/nocal"], ["calibration folder", "does not exist"]),
    (["{img}", "what?", "--calibration", "{tmp}"], ["has no calibration.json"]),
    (["{img}", "what?", "--model", "other/model"], ["--calibration DIR is needed", "other/model"]),
]


@pytest.mark.parametrize(
    ("args", "expected"), CHECK_CASES, ids=[" ".join(c[0]) for c in CHECK_CASES]
)
def test_check(args, expected, image, tmp_path):
    (tmp_path / "not-an-image.png").write_text("no pixels here")

    def fill(texts: list[str]) -> list[str]:
        return [t.replace("{img}", str(image)).replace("{tmp}", str(tmp_path)) for t in texts]

    invoke(["check", *fill(args)], fill(expected))


# tests/interventions/test_flags.py has the range checks; these are the parse errors
INTERVENE_CASES = [
    ([], ["Missing option '--kind'"]),
    (["--kind", "dims", "--layer", "0", "--k", "two"], ["--k", "'two'"]),
    (["--kind", "dims", "--layer", "0", "--fractions", "half"], ["--fractions: 'half'", "a/b"]),
    (["--kind", "dims", "--layer", "0", "--seeds", "-1"], ["--seeds -1 must be >= 0"]),
    (["--kind", "dims", "--layer", "-1"], ["--layer -1 out of range", "allowed 0.."]),
    (["--kind", "heads", "--layers", "0,x"], ["--layers '0,x'", "comma-separated integers"]),
    (["--kind", "patch", "--ranges", "3"], ["--ranges: '3' is not i:j"]),
    (["--kind", "patch", "--ranges", "2:1"], ["[2, 1)", "out of range"]),
    (["--kind", "dims", "--layer", "0", "--limit", "0"], ["--limit", "0"]),
]


@pytest.mark.parametrize(
    ("args", "expected"),
    INTERVENE_CASES,
    ids=[" ".join(c[0]) or "no kind" for c in INTERVENE_CASES],
)
def test_intervene(args, expected, manifest_only_run):
    invoke(["intervene", str(manifest_only_run), *args], expected)
    assert not (manifest_only_run / "interventions").exists()
