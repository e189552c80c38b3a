"""Record columns from a capture (exec.measure) on captures whose answer is known by
construction: attention only on a non-image token, and a broken (NaN) forward."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from vrprobe.capture.engine import CaptureResult
from vrprobe.exec import measure
from vrprobe.models.layout import ImageLayout, Tile

T, L, ROWS, COLS = 3, 4, 2, 2
N_IMG, PROMPT = ROWS * COLS, 10


def layout() -> ImageLayout:
    cells = np.array([[0, r, c] for r in range(ROWS) for c in range(COLS)])
    return ImageLayout(
        np.arange(1, 1 + N_IMG), cells, (Tile(ROWS, COLS, (32, 32), (1, 1)),), (32, 32)
    )


def capture(image_attention: np.ndarray) -> CaptureResult:
    vam = image_attention.sum(axis=-1)
    return CaptureResult(
        new_tokens=np.arange(T),
        image_attention=image_attention.astype(np.float32),
        section_shares={"image": vam, "template": 1.0 - vam, "generated": np.zeros((T, L))},
        token_entropy=np.full(T, 0.5),
        token_logprob=np.full(T, -0.1),
        hidden_prompt=None,
        hidden_last=None,
    )


def test_no_attention_on_the_image_gives_nan_overlap_without_warnings():
    result = capture(np.zeros((T, L, N_IMG)))  # every row on a template token (e.g. BOS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cols = measure.evidence_columns(result, np.array([0, 1]), PROMPT, False, np.zeros(T))
    assert cols["evidence_mass"] == 0.0
    assert np.isnan(cols["evidence_overlap"]) and np.isnan(cols["evidence_overlap_late"])
    assert np.isnan(cols["layer_evidence_overlap"]).all()


def test_evidence_on_the_box_gives_overlap_one():
    att = np.zeros((T, L, N_IMG))
    att[..., 1] = 0.4  # all image attention on cell 1, inside the box {0, 1}
    cols = measure.evidence_columns(capture(att), np.array([0, 1]), PROMPT, True, np.zeros(T))
    assert cols["evidence_overlap"] == pytest.approx(1.0)
    assert cols["evidence_mass"] == pytest.approx(0.4)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_broken_forward_is_named_not_read_as_a_blind_layer(bad):
    att = np.full((T, L, N_IMG), 0.1)
    att[0, 2, 1] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        measure.spatial_columns(capture(att), layout())
    att[0, 2, 1] = 0.1
    assert measure.spatial_columns(capture(att), layout())["spatial_entropy"] == pytest.approx(
        np.log(N_IMG)
    )
