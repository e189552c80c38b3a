"""Progressive visual decay (SPEC §4): Gaussian blur with OpenCV's kernel-size → σ rule.

Kernel ``k`` (odd, pixels) has radius ``(k - 1) / 2`` and ``σ = 0.3·((k-1)/2 - 1) + 0.8``
(OpenCV's ``getGaussianKernel`` default); the image is convolved separably with the sampled,
normalised kernel, borders mirrored without repeating the edge pixel (OpenCV's default
``BORDER_REFLECT_101``, scipy's ``mode="mirror"``). ``k = 1`` is the identity. The blur is
applied at the image's native resolution unless ``resolution`` (the shorter side, pixels) asks
for a resize first; records carry the resolution used (``perturb_resolution``).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from vrprobe.perturb.registry import BLUR_KERNELS


def blur_sigma(kernel: int) -> float:
    """σ of a ``kernel``×``kernel`` Gaussian (OpenCV's rule).

    >>> [round(blur_sigma(k), 2) for k in (1, 5, 61)]
    [0.5, 1.1, 9.5]
    """
    check_kernel(kernel)
    return 0.3 * ((kernel - 1) / 2 - 1) + 0.8


def check_kernel(kernel: int) -> None:
    if not isinstance(kernel, int) or kernel < 1 or kernel % 2 == 0:
        raise ValueError(f"blur kernel must be a positive odd integer, got {kernel!r}")


def gaussian_kernel(kernel: int) -> np.ndarray:
    """The normalised 1-D taps, length ``kernel``.

    >>> gaussian_kernel(1).tolist()
    [1.0]
    >>> w = gaussian_kernel(5); bool(abs(w.sum() - 1) < 1e-12 and w[2] == w.max())
    True
    """
    sigma, r = blur_sigma(kernel), (kernel - 1) // 2
    x = np.arange(-r, r + 1, dtype=np.float64)
    w = np.exp(-(x**2) / (2 * sigma**2))
    return w / w.sum()


def blur_array(pixels: np.ndarray, kernel: int) -> np.ndarray:
    """Blur an (H, W) or (H, W, C) float array along its two spatial axes (float64 out).

    >>> a = np.zeros((5, 5)); a[2, 2] = 1.0
    >>> bool(np.array_equal(blur_array(a, 1), a)), round(float(blur_array(a, 3).sum()), 6)
    (True, 1.0)
    """
    out = np.asarray(pixels, dtype=np.float64)
    w = gaussian_kernel(kernel)
    r = len(w) // 2
    if r == 0:
        return out.copy()
    for axis in (0, 1):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (r, r)
        padded = np.pad(out, pad, mode="reflect")  # numpy 'reflect' = edge not repeated
        n = out.shape[axis]
        acc = np.zeros_like(out)
        for i, wi in enumerate(w):
            acc += wi * np.take(padded, np.arange(i, i + n), axis=axis)
        out = acc
    return out


def blur_image(image: Image.Image, kernel: int, resolution: int | None = None) -> Image.Image:
    """``image`` blurred with a ``kernel``×``kernel`` Gaussian (8-bit RGB in and out).

    ``resolution`` resizes the shorter side to that many pixels first (bicubic); None keeps
    the native size. Kernel 1 returns an identical copy.

    >>> img = Image.new("RGB", (8, 6), (10, 20, 30))
    >>> blur_image(img, 1).tobytes() == img.tobytes(), blur_image(img, 61).getpixel((0, 0))
    (True, (10, 20, 30))
    """
    check_kernel(kernel)
    image = image.convert("RGB")
    if resolution is not None:
        w, h = image.size
        scale = resolution / min(w, h)
        image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BICUBIC)
    if kernel == 1:
        return image.copy()
    out = blur_array(np.asarray(image, dtype=np.float64), kernel)
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), "RGB")


def blank_image(image: Image.Image, colour: tuple[int, int, int] = (128, 128, 128)) -> Image.Image:
    """An RGB image of ``image``'s size in one ``colour``: no visual content (the limit of the
    decay, and the "no information" counterfactual of hidden-state patching).

    >>> blank_image(Image.new("L", (4, 3)), (1, 2, 3)).getpixel((3, 2)), blank_image(
    ...     Image.new("RGB", (2, 2))).size
    ((1, 2, 3), (2, 2))
    """
    return Image.new("RGB", image.size, colour)


def schedule() -> tuple[tuple[int, float], ...]:
    """(kernel, σ) of the 8 levels, identity first.

    >>> schedule()[0], schedule()[-1]
    ((1, 0.5), (61, 9.5))
    """
    return tuple((k, round(blur_sigma(k), 6)) for k in BLUR_KERNELS)
