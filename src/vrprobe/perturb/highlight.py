"""Evidence highlighting (SPEC §3, VEA): make the evidence the model already attends to explicit.

Steps, each a pure function: the evidence map ``e`` = mean of the selected layers' attention
rows (last prompt token, heads averaged) on the image grid; :func:`denoise` (a cell above
λ = 10 × the max of its 8 neighbours becomes their mean; edge padding; grids under 3×3
untouched); :func:`paint` onto the image through the layout's pixel mapping; :func:`smooth`
(Gaussian, σ = 0.5 × the shorter side: σ ≤ 1 is relative, > 1 pixels); :func:`normalise`
(min-max; a constant map becomes all ones, i.e. no change); :func:`blend` ``(α + (1-α)·e) ·
pixel`` with α = 0.5 (the background is dimmed, never blacked out). The question gets
:data:`INSTRUCTION` appended. α = 1 is the identity.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from vrprobe.models.layout import ImageLayout, Tile
from vrprobe.perturb.registry import HIGHLIGHT_ALPHA, HIGHLIGHT_LAMBDA, HIGHLIGHT_SIGMA

INSTRUCTION = (
    "Only use words from the picture, especially those in the highlighted region, to answer "
    "the question."
)
ALPHA, LAMBDA, SIGMA = HIGHLIGHT_ALPHA, HIGHLIGHT_LAMBDA, HIGHLIGHT_SIGMA


def denoise(grid: np.ndarray, lam: float = LAMBDA) -> np.ndarray:
    """Replace isolated spikes: a cell > ``lam`` × max of its 8 neighbours → their mean.

    >>> g = np.full((3, 3), 0.01); g[1, 1] = 1.0
    >>> float(denoise(g)[1, 1]), float(denoise(np.array([[1.0, 0.0]]))[0, 0])
    (0.01, 1.0)
    """
    g = np.asarray(grid, dtype=np.float64)
    if g.ndim != 2 or g.shape[0] < 3 or g.shape[1] < 3:
        return g.copy()
    p = np.pad(g, 1, mode="edge")
    rows, cols = g.shape
    shifts = [
        p[1 + dr : 1 + dr + rows, 1 + dc : 1 + dc + cols]
        for dr in (-1, 0, 1)
        for dc in (-1, 0, 1)
        if (dr, dc) != (0, 0)
    ]
    neigh = np.stack(shifts)
    spike = g > lam * neigh.max(axis=0)
    return np.where(spike, neigh.mean(axis=0), g)


def paint(grid: np.ndarray, tile: Tile, size_wh: tuple[int, int]) -> np.ndarray:
    """(H, W) map over the original image: each pixel takes the value of the grid cell its
    centre falls in on the model-input canvas (clipped to the grid for cropped-away pixels).

    >>> t = Tile(2, 2, (4, 4), (0.5, 0.5))  # an 8x8 image shown at 4x4
    >>> paint(np.array([[1.0, 2.0], [3.0, 4.0]]), t, (8, 8))[[0, 0, 7], [0, 7, 0]].tolist()
    [1.0, 2.0, 3.0]
    """
    w, h = size_wh
    (sx, sy), (ox, oy), (ch, cw) = tile.scale_xy, tile.offset_xy, tile.size_hw
    xc = (np.arange(w) + 0.5) * sx + ox
    yc = (np.arange(h) + 0.5) * sy + oy
    c = np.clip(np.floor(xc * tile.cols / cw).astype(int), 0, tile.cols - 1)
    r = np.clip(np.floor(yc * tile.rows / ch).astype(int), 0, tile.rows - 1)
    return np.asarray(grid, dtype=np.float64)[np.ix_(r, c)]


def smooth(pixels: np.ndarray, sigma: float = SIGMA) -> np.ndarray:
    """Gaussian smoothing; ``sigma`` ≤ 1 is a fraction of the shorter side, > 1 pixels.

    >>> m = np.zeros((9, 9)); m[4, 4] = 1.0
    >>> s = smooth(m, 0.2); bool(s[4, 4] == s.max() and s[0, 0] > 0)
    True
    """
    m = np.asarray(pixels, dtype=np.float64)
    s = sigma * min(m.shape) if sigma <= 1 else sigma
    return ndimage.gaussian_filter(m, sigma=s, mode="nearest")


def normalise(pixels: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1]; a constant map becomes all ones (nothing to highlight).

    >>> normalise(np.array([2.0, 4.0, 3.0])).tolist(), normalise(np.array([5.0, 5.0])).tolist()
    ([0.0, 1.0, 0.5], [1.0, 1.0])
    """
    m = np.asarray(pixels, dtype=np.float64)
    lo, hi = float(m.min()), float(m.max())
    return np.ones_like(m) if hi - lo <= 0 else (m - lo) / (hi - lo)


def blend(image: Image.Image, emap: np.ndarray, alpha: float = ALPHA) -> Image.Image:
    """``(α + (1-α)·e) · pixel`` per channel, rounded to 8 bits (α = 1 is the identity).

    >>> img = Image.new("RGB", (2, 1), (200, 100, 50))
    >>> out = blend(img, np.array([[0.0, 1.0]]))
    >>> out.getpixel((0, 0)), out.getpixel((1, 0)), blend(img, np.zeros((1, 2)), 1.0) == img
    ((100, 50, 25), (200, 100, 50), True)
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    px = np.asarray(image.convert("RGB"), dtype=np.float64)
    e = np.asarray(emap, dtype=np.float64)
    if e.shape != px.shape[:2]:
        raise ValueError(f"map shape {e.shape} does not match the image {px.shape[:2]}")
    out = (alpha + (1 - alpha) * e)[..., None] * px
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), "RGB")


def evidence_grid(rows: np.ndarray, layers: list[int], layout: ImageLayout) -> np.ndarray:
    """Mean of ``rows[layers]`` ((L, n_image) attention over image tokens) on tile 0's grid."""
    tile = layout.tiles[0]
    mean = np.asarray(rows, dtype=np.float64)[list(layers)].mean(axis=0)
    grid = np.zeros((tile.rows, tile.cols))
    on = layout.cells[:, 0] == 0
    on &= layout.cells[:, 1] >= 0
    grid[layout.cells[on, 1], layout.cells[on, 2]] = mean[on]
    return grid


def highlight_image(
    image: Image.Image,
    grid: np.ndarray,
    tile: Tile,
    *,
    alpha: float = ALPHA,
    lam: float | None = LAMBDA,
    sigma: float | None = SIGMA,
) -> Image.Image:
    """The highlighted image from an evidence ``grid`` (``lam``/``sigma`` None skip a step)."""
    g = denoise(grid, lam) if lam is not None else np.asarray(grid, dtype=np.float64)
    m = paint(g, tile, image.size)
    if sigma is not None:
        m = smooth(m, sigma)
    return blend(image, normalise(m), alpha)
