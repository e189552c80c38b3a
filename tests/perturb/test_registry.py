"""--perturb parsing: groups expand, names are checked before any model loads."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vrprobe.config import RunConfig, format_validation_error
from vrprobe.perturb import registry
from vrprobe.sweep import SweepConfig, SweepError, expand


def test_groups_expand_with_none_first_and_no_duplicates():
    cfg = RunConfig(perturb=("blur", "mask-top", "blur-k5", "blank"))
    assert cfg.perturb[0] == "none"
    assert cfg.perturb[1:9] == tuple(f"blur-k{k}" for k in (1, 5, 9, 15, 21, 31, 45, 61))
    assert cfg.perturb[9:] == ("mask-top-pixels", "mask-top-embed", "mask-top-keys", "blank")
    assert RunConfig(perturb=("highlight",)).perturb[1:] == registry.HIGHLIGHT_VARIANTS


def test_bad_value_names_itself_and_the_allowed_values():
    with pytest.raises(ValidationError) as info:
        RunConfig(perturb=("blur", "blurr"))
    msg = format_validation_error(info.value)
    assert msg.startswith("perturb.1:") and "'blurr'" in msg
    assert "allowed: none, blur, blank, mask-top, highlight" in msg


def test_perturbations_do_not_change_the_fingerprint():
    # the perturbation is part of each item key, so adding one resumes the run folder
    assert RunConfig(perturb=("blur",)).fingerprint() == RunConfig().fingerprint()


def test_sweep_perturbations_axis(tmp_path):
    (cell,) = expand(SweepConfig(models=["demo"], perturbations=["blank"]), tmp_path)
    assert cell.config.perturb == ("none", "blank")
    with pytest.raises(SweepError, match=r"perturbations\.0: .*'nope'"):
        expand(SweepConfig(models=["demo"], perturbations=["nope"]), tmp_path)


def test_family_of_every_name():
    assert {registry.family(n) for n in registry.NAMES} == {
        "none",
        "blur",
        "blank",
        "mask",
        "highlight",
    }
