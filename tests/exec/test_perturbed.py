"""Perturbed work items on the demo model: keys, records, and effects on accuracy."""

from __future__ import annotations

import pytest

from vrprobe.config import RunConfig
from vrprobe.runner import execute, plan_run
from vrprobe.store.shards import read_shards

N = 40  # a small fixed subset of the shapes test split keeps this fast


@pytest.fixture(scope="module")
def demo_records(tmp_path_factory):
    out = tmp_path_factory.mktemp("perturbed") / "run"
    cfg = RunConfig(
        limit=N,
        perturb=("blur-k61", "blank", "mask-top"),
        signals=("uncertainty",),
        max_new_tokens=3,
        out=out,
    )
    plan = plan_run(cfg)
    execute(plan)
    return plan, read_shards(out / "records").to_pandas()


def test_one_item_per_sample_and_perturbation(demo_records):
    plan, df = demo_records
    names = ["none", "blur-k61", "blank", "mask-top-pixels", "mask-top-embed", "mask-top-keys"]
    assert [it.perturbation for it in plan.items[:6]] == names
    assert len(plan.items) == 6 * N and len({it.key for it in plan.items}) == 6 * N
    assert df.groupby("perturbation").size().to_dict() == dict.fromkeys(names, N)
    assert df["error"].isna().all()
    blurred = df[df["perturbation"] == "blur-k61"]
    assert all(list(r) == [64, 64] for r in blurred["perturb_resolution"])


def test_demo_accuracy_falls_under_full_blur_and_blank(demo_records):
    _, df = demo_records
    acc = df.groupby("perturbation")["correct"].mean()
    assert acc["blur-k61"] < acc["none"] - 0.1
    assert acc["blank"] < acc["none"] - 0.1


def test_demo_accuracy_falls_under_mask_top(demo_records):
    _, df = demo_records
    acc = df.groupby("perturbation")["correct"].mean()
    for mechanism in ("pixels", "embed", "keys"):
        assert acc[f"mask-top-{mechanism}"] < acc["none"] - 0.05, mechanism
    masked = df[df["perturbation"].str.startswith("mask-top")]
    assert all(len(t) == 20 for t in masked["perturb_tokens"])  # ceil(0.3 * 64) tokens
    # the three mechanisms remove the same tokens: one clean ranking per sample
    by_sample = masked.groupby("sample_id")["perturb_tokens"].apply(lambda s: {tuple(t) for t in s})
    assert all(len(v) == 1 for v in by_sample)


def test_resume_with_more_perturbations_adds_only_those(demo_records):
    plan, _ = demo_records
    more = plan.config.model_copy(update={"perturb": (*plan.config.perturb, "blur-k5")})
    again = plan_run(more)
    assert {it.perturbation for it in again.pending} == {"blur-k5"}
    assert len(again.pending) == N
