"""Evidence highlighting: identities by construction, the stored layer profile and its reuse."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from vrprobe.config import RunConfig
from vrprobe.models.layout import Tile
from vrprobe.perturb import highlight, profile
from vrprobe.perturb.registry import HIGHLIGHT_VARIANTS
from vrprobe.runner import execute, plan_run
from vrprobe.store.shards import read_shards

TILE = Tile(8, 8, (64, 64), (64 / 48, 64 / 40))  # a 48x40 image shown on a 64x64 canvas


def _image() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(1, 256, (40, 48, 3), dtype=np.uint8), "RGB")


@pytest.mark.parametrize("lam", [highlight.LAMBDA, None])
@pytest.mark.parametrize("sigma", [highlight.SIGMA, 3.0, None])
def test_alpha_one_is_the_identity(lam, sigma):
    grid = np.random.default_rng(1).random((8, 8))
    img = _image()
    out = highlight.highlight_image(img, grid, TILE, alpha=1.0, lam=lam, sigma=sigma)
    assert out.tobytes() == img.tobytes()


def test_evidence_kept_background_dimmed_by_alpha():
    grid = np.zeros((8, 8))
    grid[2, 3] = 1.0
    img = Image.new("RGB", (48, 40), (200, 200, 200))
    out = np.asarray(highlight.highlight_image(img, grid, TILE, lam=None), dtype=float)[..., 0]
    # cell (2, 3) covers canvas x 24..32, y 16..24 -> image x 18..24, y 10..15
    assert out[12, 21] == out.max() and out.max() >= 199
    assert out.min() == pytest.approx(0.5 * 200, abs=0.5)  # never black: alpha = 0.5


def test_denoise_replaces_only_isolated_spikes():
    g = np.full((4, 5), 0.1)
    g[1, 2] = 5.0  # 50x its neighbours: a spike
    g[2, 0], g[3, 0] = 0.5, 0.5  # a small pair: not above 10x its neighbours
    d = highlight.denoise(g)
    assert d[1, 2] == pytest.approx(0.1)
    assert d[2, 0] == 0.5 and np.array_equal(np.delete(d.ravel(), 7), np.delete(g.ravel(), 7))
    small = np.array([[9.0, 0.0], [0.0, 0.0]])
    assert np.array_equal(highlight.denoise(small), small)  # under 3x3: untouched


def test_select_layers_top_ten_percent():
    auroc = np.linspace(0.5, 0.6, 32)
    auroc[[14, 15, 17, 19]] = 0.9
    assert profile.select_layers(auroc) == [14, 15, 17, 19]  # ceil(3.2) = 4 of 32 layers
    assert profile.select_layers(np.array([0.7, 0.8])) == [1]


def test_highlight_run_stores_its_profile_and_reuses_it(tmp_path, monkeypatch):
    monkeypatch.setattr(profile, "PROFILE_SAMPLES", 6)
    cfg = RunConfig(
        limit=3, perturb=("highlight",), signals=("uncertainty",), max_new_tokens=2,
        out=tmp_path / "a",
    )  # fmt: skip
    execute(plan_run(cfg))
    stored = json.loads((tmp_path / "a" / profile.FILE).read_text())
    assert stored["n_samples"] == 6 and len(stored["layer_auroc"]) == 4
    assert stored["layers"] == profile.select_layers(np.array(stored["layer_auroc"], float))
    df = read_shards(tmp_path / "a" / "records").to_pandas()
    assert df["error"].isna().all() and set(df["perturbation"]) == {"none", *HIGHLIGHT_VARIANTS}
    main = df[df["perturbation"] == "highlight"]
    assert all(list(v) == stored["layers"] for v in main["highlight_layers"])
    asked = df.set_index("perturbation")["question_asked"].groupby(level=0).first()
    assert asked["highlight"].endswith(highlight.INSTRUCTION)
    assert asked["highlight-instruction-only"].endswith(highlight.INSTRUCTION)
    assert asked.isna()["highlight-no-prompt"]

    def no_rebuild(*a, **k):
        raise AssertionError("the stored profile must be reused")

    monkeypatch.setattr(profile, "build_profile", no_rebuild)
    more = cfg.model_copy(update={"limit": 4})  # resume: one new sample, same profile
    execute(plan_run(more))
    assert read_shards(tmp_path / "a" / "records").num_rows == 4 * 7
    other = cfg.model_copy(update={"out": tmp_path / "b", "highlight_profile": tmp_path / "a"})
    execute(plan_run(other))
    assert json.loads((tmp_path / "b" / profile.FILE).read_text()) == stored
    assert read_shards(tmp_path / "b" / "records").to_pandas()["error"].isna().all()
