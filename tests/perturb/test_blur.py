"""The blur schedule against scipy.ndimage (an independent implementation)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from vrprobe.perturb import blur
from vrprobe.perturb.registry import BLUR_KERNELS


def _image(w: int = 37, h: int = 29) -> Image.Image:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    a[5:15, 5:20] = (255, 0, 0)  # a planted square
    return Image.fromarray(a, "RGB")


def test_kernel_one_is_the_identity():
    img = _image()
    assert blur.blur_image(img, 1).tobytes() == img.tobytes()


@pytest.mark.parametrize("k", BLUR_KERNELS[1:])
def test_matches_scipy_gaussian_filter(k):
    a = np.asarray(_image(), dtype=np.float64)
    sigma, r = blur.blur_sigma(k), (k - 1) // 2
    ref = ndimage.gaussian_filter(a, sigma=sigma, radius=r, mode="mirror", axes=(0, 1))
    np.testing.assert_allclose(blur.blur_array(a, k), ref, atol=1e-9)
    out = np.asarray(blur.blur_image(_image(), k), dtype=np.float64)
    assert np.abs(out - ref).max() <= 0.5 + 1e-9  # rounded to 8 bits


def test_known_values_and_monotone_decay():
    a = np.zeros((21, 21))
    a[10, 10] = 1.0
    # the centre tap of the separable 5x5 kernel is w0**2 with w0 from the sampled Gaussian
    x = np.arange(-2, 3)
    w = np.exp(-(x**2) / (2 * 1.1**2))
    assert blur.blur_array(a, 5)[10, 10] == pytest.approx((w[2] / w.sum()) ** 2)
    peaks = [blur.blur_array(a, k)[10, 10] for k in BLUR_KERNELS]
    assert all(p1 > p2 for p1, p2 in itertools.pairwise(peaks))


def test_resolution_and_bad_kernels():
    img = _image(40, 20)
    assert blur.blur_image(img, 5, resolution=10).size == (20, 10)
    for bad in (0, 4, -3):
        with pytest.raises(ValueError, match="positive odd"):
            blur.blur_image(img, bad)
