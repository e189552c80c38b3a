"""Bad `vrprobe intervene` flags fail with a message naming the value and the allowed values,
before any model loads (the loader is replaced by one that fails the test if called)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from vrprobe.cli import app
from vrprobe.interventions.plan import geometry

GEO = geometry("demo")  # from the demo's config.json: the retrained demo may change it
L, W = GEO.n_layers, GEO.width


@pytest.fixture()
def no_loading(monkeypatch):
    calls = []

    def loader(*args, **kwargs):
        calls.append(args)
        raise AssertionError("the model must not load for a bad flag")

    monkeypatch.setattr("vrprobe.interventions.run.load_model", loader)
    monkeypatch.setattr("vrprobe.models.loading.load_model", loader)
    return calls


CASES = [
    (["--kind", "neurons"], ["'neurons'", "allowed: dims, heads, replace, patch"]),
    (["--kind", "dims", "--layer", f"{L + 5}"], [f"--layer {L + 5} out of range", f"0..{L - 1}"]),
    (["--kind", "dims", "--layer", "0", "--k", f"0,{W + 1}"], [f"--k {W + 1}", f"width is {W}"]),
    (["--kind", "dims", "--layer", "0", "--fractions", "0,2"], ["--fractions: 2", "0 to 1"]),
    (["--kind", "dims"], ["no stored hidden states", "--layer"]),
    (["--kind", "heads", "--layers", f"0,{L}"], [f"--layers {L} out of range", f"0..{L - 1}"]),
    (["--kind", "replace"], ["needs --donor"]),
    (["--kind", "patch", "--source", "smudge"], ["'smudge'", "allowed: blank, blur-kN"]),
    (["--kind", "patch", "--positions", "text"], ["'text'", "allowed: all, image"]),
    (["--kind", "patch", "--ranges", f"1:{L + 5}"], [f"[1, {L + 5}) out of range", f"j <= {L}"]),
    (["--kind", "replace", "--donor", "/nonexistent/model"], ["/nonexistent/model"]),
]


@pytest.mark.parametrize(("args", "expected"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_flag_fails_before_loading(manifest_only_run, no_loading, args, expected):
    result = CliRunner().invoke(app, ["intervene", str(manifest_only_run), *args])
    assert result.exit_code == 2, result.output + repr(result.exception)
    for text in expected:
        assert text in result.output
    assert not no_loading and not (manifest_only_run / "interventions").exists()


def test_donor_of_another_architecture_and_missing_run(
    manifest_only_run, no_loading, tiny_model_dir
):
    result = CliRunner().invoke(
        app,
        ["intervene", str(manifest_only_run), "--kind", "replace", "--donor", str(tiny_model_dir)],
    )
    assert result.exit_code == 2
    assert "mismatched architecture" in result.output and "num_hidden_layers is 2" in result.output
    missing = manifest_only_run.parent / "nope"
    result = CliRunner().invoke(app, ["intervene", str(missing), "--kind", "heads"])
    assert result.exit_code == 2 and f"{missing} is not a run folder" in result.output
    assert not no_loading
