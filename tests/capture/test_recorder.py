"""AttentionRecorder's input checks: positions outside the prompt and reserved section names."""

from __future__ import annotations

import numpy as np
import pytest

from vrprobe.capture.recorder import AttentionRecorder


def _recorder(image: np.ndarray, sections: dict[str, np.ndarray], prompt_len: int = 6):
    return AttentionRecorder({1: 0}, 2, image, sections, False, prompt_len, 3)


@pytest.mark.parametrize("bad", [[-1, 2], [2, 6], [7]], ids=["negative", "at-end", "past-end"])
def test_image_positions_outside_the_prompt(bad):
    with pytest.raises(ValueError, match=r"image_positions: positions must lie in \[0, 6\)"):
        _recorder(np.array(bad), {})


def test_section_positions_outside_the_prompt_name_the_section():
    with pytest.raises(ValueError, match=r"question: positions must lie in \[0, 6\)"):
        _recorder(np.arange(2), {"image": np.arange(2), "question": np.array([4, 9])})


def test_generated_is_a_reserved_section_name():
    with pytest.raises(ValueError, match='"generated" is reserved'):
        _recorder(np.arange(2), {"generated": np.array([3])})


def test_sections_indicator_marks_each_section_and_the_generated_keys():
    image, question = np.array([1, 2]), np.array([4])
    rec = _recorder(image, {"image": image, "question": question})
    sec = rec.sec_t.numpy()  # (prompt_len + max_rows, sections + generated)
    assert rec.names == ["image", "question", "generated"]
    np.testing.assert_array_equal(np.flatnonzero(sec[:, 0]), image)
    np.testing.assert_array_equal(np.flatnonzero(sec[:, 1]), question)
    np.testing.assert_array_equal(np.flatnonzero(sec[:, 2]), np.arange(6, 9))
