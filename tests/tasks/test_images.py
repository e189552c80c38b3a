"""Image-reading policy (vrprobe.tasks.images): pixel modes, orientation, size limit, formats.

Expected pixels are written out by hand from the definitions (16-bit v -> round(v·255/65535);
transparent -> white; EXIF 6 = displayed rotated 90° clockwise), not taken from the code.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.conftest import write_task
from vrprobe.tasks import images
from vrprobe.tasks.base import Sample, SampleError
from vrprobe.tasks.files import FileTask


def sample_for(path) -> Sample:
    return Sample(id="s", image=path, question="q ?", answers=("a",))


def rgb(path) -> np.ndarray:
    return np.asarray(sample_for(path).load_image())


def test_grayscale_and_bilevel_become_equal_channel_rgb(tmp_path):
    Image.fromarray(np.array([[0, 77, 255]], np.uint8), "L").save(tmp_path / "g.png")
    assert rgb(tmp_path / "g.png").tolist() == [[[0, 0, 0], [77, 77, 77], [255, 255, 255]]]
    bits = Image.new("1", (2, 1))
    bits.putpixel((1, 0), 1)
    bits.save(tmp_path / "b.png")
    assert rgb(tmp_path / "b.png").tolist() == [[[0, 0, 0], [255, 255, 255]]]


def test_sixteen_bit_grayscale_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 1000, 32768, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "w.png")
    assert Image.open(tmp_path / "w.png").mode.startswith("I")
    got = rgb(tmp_path / "w.png")
    assert got[0, :, 0].tolist() == [0, 1, 4, 128, 255]  # round(v * 255 / 65535)
    assert (got[..., 0] == got[..., 1]).all() and (got[..., 1] == got[..., 2]).all()


def test_alpha_is_composited_over_white(tmp_path):
    rgba = np.array([[[255, 0, 0, 255], [0, 0, 255, 0], [0, 255, 0, 128]]], np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    got = rgb(tmp_path / "a.png").astype(int)
    assert got[0, 0].tolist() == [255, 0, 0] and got[0, 1].tolist() == [255, 255, 255]
    assert np.abs(got[0, 2] - [127, 255, 127]).max() <= 1  # 128/255 green over white
    la = Image.fromarray(np.array([[[10, 255], [10, 0]]], np.uint8), "LA")
    la.save(tmp_path / "la.png")
    assert rgb(tmp_path / "la.png").tolist() == [[[10, 10, 10], [255, 255, 255]]]


def test_palette_with_and_without_transparency(tmp_path):
    pal = Image.new("P", (2, 1))
    pal.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    pal.putpixel((1, 0), 1)
    pal.save(tmp_path / "p.png")
    assert rgb(tmp_path / "p.png").tolist() == [[[255, 0, 0], [0, 0, 255]]]
    pal.save(tmp_path / "pt.png", transparency=0)  # index 0 (red) is transparent
    assert rgb(tmp_path / "pt.png").tolist() == [[[255, 255, 255], [0, 0, 255]]]


def test_float_images_are_refused():
    img = Image.fromarray(np.ones((2, 2), np.float32))
    with pytest.raises(SampleError, match="floating-point"):
        Sample(id="f", image=img, question="q", answers=("a",)).load_image()


def test_exif_orientation_is_applied_and_boxes_use_the_displayed_size(tmp_path):
    stored = np.zeros((2, 4, 3), np.uint8)  # 4 wide, 2 tall; top-left pixel red
    stored[0, 0] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90° clockwise
    Image.fromarray(stored).save(tmp_path / "rot.png", exif=exif)
    shown = rgb(tmp_path / "rot.png")
    assert shown.shape == (4, 2, 3)  # displayed: 2 wide, 4 tall
    assert shown[0, 1].tolist() == [255, 0, 0]  # stored top-left -> displayed top-right
    assert shown.sum() == 255
    rows = [
        {"id": "in", "image": "rot.png", "question": "q ?", "answers": ["a"],
         "evidence_boxes": [[0, 0, 2, 4]]},
        {"id": "out", "image": "rot.png", "question": "q ?", "answers": ["a"],
         "evidence_boxes": [[0, 0, 4, 2]]},
    ]  # fmt: skip
    manifest = write_task(tmp_path, rows, {})
    ok, bad = FileTask(manifest).samples()
    assert isinstance(ok, Sample)
    assert isinstance(bad, SampleError) and "outside the 2x4 image" in bad.message


def test_format_comes_from_content_not_extension(tmp_path):
    Image.new("RGB", (3, 2), (1, 2, 3)).save(tmp_path / "real.png")
    (tmp_path / "png.jpg").write_bytes((tmp_path / "real.png").read_bytes())
    assert rgb(tmp_path / "png.jpg").tolist() == [[[1, 2, 3]] * 3] * 2
    (tmp_path / "text.png").write_text("this is not an image\n")
    with pytest.raises(SampleError, match=r"cannot read image .*text\.png"):
        sample_for(tmp_path / "text.png").load_image()


def test_one_pixel_image_loads(tmp_path):
    Image.new("RGB", (1, 1), (9, 8, 7)).save(tmp_path / "one.png")
    assert rgb(tmp_path / "one.png").tolist() == [[[9, 8, 7]]]


def test_oversized_image_is_refused_from_its_header(tmp_path, monkeypatch):
    Image.new("RGB", (40, 30)).save(tmp_path / "big.png")
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 1199)
    with pytest.raises(SampleError, match=r"40x30 = 1200 pixels, more than the limit of 1199"):
        sample_for(tmp_path / "big.png").load_image()
    rows = [{"id": "big", "image": "big.png", "question": "q ?", "answers": ["a"]}]
    (err,) = FileTask(write_task(tmp_path, rows, {})).samples()
    assert isinstance(err, SampleError) and "decompression-bomb" in err.message
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 1200)
    assert rgb(tmp_path / "big.png").shape == (30, 40, 3)


def test_pil_bomb_warning_is_an_error_not_ignored(tmp_path, monkeypatch):
    # Above PIL's own limit (but within ours) PIL only warns; the warning must not pass.
    Image.new("RGB", (40, 30)).save(tmp_path / "warn.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # PIL warns above 1000, errs > 2000
    with pytest.raises(SampleError, match=r"refused: .*decompression-bomb guard"):
        sample_for(tmp_path / "warn.png").load_image()


def test_policy_is_set_on_pil():
    assert Image.MAX_IMAGE_PIXELS == images.MAX_IMAGE_PIXELS


def test_pil_images_are_copied_only_when_the_policy_changes_them():
    """An RGB PIL image without orientation is returned as is (a live check's fast path);
    one the policy changes comes back as a new image and the caller's is left untouched."""
    plain = Image.new("RGB", (3, 2), (10, 20, 30))
    assert images.read_rgb(plain) is plain
    rgba = Image.new("RGBA", (3, 2), (255, 0, 0, 0))
    out = images.read_rgb(rgba)
    assert out is not rgba and out.mode == "RGB" and rgba.mode == "RGBA"
    rotated = Image.new("RGB", (3, 2))
    exif = rotated.getexif()
    exif[0x0112] = 6  # rotate 90: width and height swap
    rotated.info["exif"] = exif.tobytes()
    rotated.format = "JPEG"
    out = images.read_rgb(rotated)
    assert out.size == (2, 3) and rotated.size == (3, 2)
