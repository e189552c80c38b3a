"""Scenes of coloured shapes for the synthetic `shapes` task: layout, rendering, patch labels.

A `Scene` is plain data (shapes with integer pixel boxes, a background colour, a noise level);
`render` turns it into a 64×64 RGB image drawn at 4× and box-downsampled, so edges are
anti-aliased while every shape stays exactly inside its box. `patch_labels` gives dense
per-patch targets (colour, kind) used to pretrain the demo model's vision tower.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

IMAGE_SIZE = 64
SCALE = 4
KINDS: tuple[str, ...] = ("square", "circle", "triangle")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 40, 40),
    "green": (45, 165, 65),
    "blue": (45, 85, 220),
    "yellow": (230, 205, 40),
    "purple": (145, 60, 190),
    "orange": (245, 140, 30),
}
COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)
SMALL_SIZES = (5, 8)  # inclusive range of small shapes' side, in pixels
LARGE_SIZES = (10, 16)
GAP = 2  # minimum free pixels between two shapes' boxes
MARGIN = 1  # minimum free pixels between a shape and the image border
COLOUR_JITTER = 18


@dataclass(frozen=True)
class Shape:
    """One shape: `kind`, colour name, top-left pixel `(x0, y0)`, side `size`, drawn `rgb`.

    >>> s = Shape("circle", "red", 10, 20, 6, (215, 40, 40))
    >>> s.box, s.small
    ((10.0, 20.0, 16.0, 26.0), True)
    """

    kind: str
    colour: str
    x0: int
    y0: int
    size: int
    rgb: tuple[int, int, int]

    @property
    def box(self) -> tuple[float, float, float, float]:
        """The exact bounding box `(x0, y0, x1, y1)` in pixels (x1, y1 exclusive)."""
        return (
            float(self.x0),
            float(self.y0),
            float(self.x0 + self.size),
            float(self.y0 + self.size),
        )

    @property
    def small(self) -> bool:
        """True for the small shapes (side ≤ 8 px)."""
        return self.size <= SMALL_SIZES[1]

    def to_dict(self) -> dict:
        """JSON-friendly description (kind, colour, box, small, rgb).

        >>> Shape("square", "blue", 1, 2, 10, (0, 0, 0)).to_dict()["box"]
        [1.0, 2.0, 11.0, 12.0]
        """
        return {
            "kind": self.kind,
            "colour": self.colour,
            "box": list(self.box),
            "small": self.small,
            "rgb": list(self.rgb),
        }


@dataclass(frozen=True)
class Scene:
    """Shapes on a uniform background, plus the std of the pixel noise added when rendering."""

    shapes: tuple[Shape, ...]
    background: tuple[int, int, int]
    noise: float


def _jitter(rng: np.random.Generator, rgb: tuple[int, int, int], amount: int) -> tuple[int, ...]:
    delta = rng.integers(-amount, amount + 1, size=3)
    return tuple(int(v) for v in np.clip(np.asarray(rgb) + delta, 0, 255))


def _free(x0: int, y0: int, size: int, placed: list[Shape]) -> bool:
    for s in placed:
        if (
            x0 < s.x0 + s.size + GAP
            and s.x0 < x0 + size + GAP
            and y0 < s.y0 + s.size + GAP
            and s.y0 < y0 + size + GAP
        ):
            return False
    return True


def random_scene(
    rng: np.random.Generator, easy: bool = False, n_shapes: int | None = None
) -> Scene:
    """Draw a scene: 2–5 shapes (1–2 big ones and low noise when `easy`), non-overlapping.

    About a third of the shapes after the first copy the colour, and another third the kind, of
    a shape already placed, so scenes carry confusable distractors.

    >>> scene = random_scene(np.random.default_rng(0))
    >>> 2 <= len(scene.shapes) <= 5
    True
    """
    while True:
        n = (
            n_shapes
            if n_shapes is not None
            else int(rng.integers(1, 3) if easy else rng.integers(2, 6))
        )
        placed: list[Shape] = []
        for _ in range(n):
            lo, hi = LARGE_SIZES if easy or rng.random() >= 0.3 else SMALL_SIZES
            size = int(rng.integers(lo, hi + 1))
            u = rng.random()
            if placed and u < 0.35:
                other = placed[int(rng.integers(len(placed)))]
                colour = other.colour
                kind = KINDS[int(rng.integers(len(KINDS)))]
            elif placed and u < 0.7:
                other = placed[int(rng.integers(len(placed)))]
                kind = other.kind
                colour = COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))]
            else:
                kind = KINDS[int(rng.integers(len(KINDS)))]
                colour = COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))]
            for _attempt in range(100):
                x0 = int(rng.integers(MARGIN, IMAGE_SIZE - MARGIN - size + 1))
                y0 = int(rng.integers(MARGIN, IMAGE_SIZE - MARGIN - size + 1))
                if _free(x0, y0, size, placed):
                    rgb = _jitter(rng, COLOURS[colour], COLOUR_JITTER)
                    placed.append(Shape(kind, colour, x0, y0, size, rgb))
                    break
            else:
                break
        if len(placed) == n:
            break
    grey = int(rng.integers(175, 246))
    background = _jitter(rng, (grey, grey, grey), 10)
    noise = float(rng.uniform(0.0, 2.0) if easy else rng.uniform(0.0, 8.0))
    return Scene(tuple(placed), background, noise)


def _draw(draw: ImageDraw.ImageDraw, kind: str, x0: int, y0: int, size: int, fill) -> None:
    """Draw one shape at 4× scale, filling exactly the hi-res pixels of its box's footprint."""
    a, b = x0 * SCALE, y0 * SCALE
    c, d = (x0 + size) * SCALE - 1, (y0 + size) * SCALE - 1
    if kind == "square":
        draw.rectangle((a, b, c, d), fill=fill)
    elif kind == "circle":
        draw.ellipse((a, b, c, d), fill=fill)
    elif kind == "triangle":
        mid = a + size * SCALE // 2
        draw.polygon([(mid - 1, b), (mid, b), (c, d), (a, d)], fill=fill)
    else:
        raise ValueError(f"unknown shape kind {kind!r}")


def render(scene: Scene, rng: np.random.Generator | None = None) -> Image.Image:
    """The scene as a 64×64 RGB image; noise is added only when `rng` is given.

    >>> scene = Scene((Shape("square", "red", 4, 4, 10, (215, 40, 40)),), (240, 240, 240), 0.0)
    >>> img = render(scene)
    >>> img.size, img.getpixel((8, 8)), img.getpixel((30, 30))
    ((64, 64), (215, 40, 40), (240, 240, 240))
    """
    big = Image.new("RGB", (IMAGE_SIZE * SCALE, IMAGE_SIZE * SCALE), scene.background)
    draw = ImageDraw.Draw(big)
    for s in scene.shapes:
        _draw(draw, s.kind, s.x0, s.y0, s.size, s.rgb)
    img = big.reduce(SCALE)
    if rng is not None and scene.noise > 0:
        arr = np.asarray(img, dtype=np.float32)
        arr = arr + rng.normal(0.0, scene.noise, size=arr.shape)
        img = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "RGB")
    return img


def _box_int(box: Iterable[float]) -> tuple[int, int, int]:
    x0, y0, x1, _y1 = (round(v) for v in box)
    return x0, y0, x1 - x0


def coverage(shapes: Iterable[dict], grid: int = 8) -> np.ndarray:
    """Fraction of each grid cell covered by each shape: array `(n_shapes, grid, grid)`.

    `shapes` are `Shape.to_dict()` records (as in `Sample.meta["shapes"]`).

    >>> cov = coverage([{"kind": "square", "box": [0, 0, 8, 8]}])
    >>> float(cov[0, 0, 0]), float(cov[0, 0, 1])
    (1.0, 0.0)
    """
    shapes = list(shapes)
    side = IMAGE_SIZE * SCALE
    out = np.zeros((len(shapes), grid, grid), dtype=np.float32)
    cell = side // grid
    for i, s in enumerate(shapes):
        mask = Image.new("L", (side, side), 0)
        x0, y0, size = _box_int(s["box"])
        _draw(ImageDraw.Draw(mask), s["kind"], x0, y0, size, 1)
        arr = np.asarray(mask, dtype=np.float32).reshape(grid, cell, grid, cell)
        out[i] = arr.mean(axis=(1, 3))
    return out


def patch_labels(shapes: Iterable[dict], grid: int = 8, min_cover: float = 0.1) -> tuple:
    """Per-patch targets, row-major: colour ids (0 = background, 1 + index in `COLOUR_NAMES`)
    and kind ids (0 = background, 1 + index in `KINDS`) of the shape covering most of each
    patch, if it covers at least `min_cover` of it.

    >>> colour, kind = patch_labels([{"kind": "square", "colour": "blue", "box": [0, 0, 8, 8]}])
    >>> int(colour[0]), int(kind[0]), int(colour[1])
    (3, 1, 0)
    """
    shapes = list(shapes)
    colour = np.zeros(grid * grid, dtype=np.int64)
    kind = np.zeros(grid * grid, dtype=np.int64)
    if not shapes:
        return colour, kind
    cov = coverage(shapes, grid).reshape(len(shapes), -1)
    best = cov.argmax(axis=0)
    hit = cov.max(axis=0) >= min_cover
    for p in np.flatnonzero(hit):
        s = shapes[int(best[p])]
        colour[p] = 1 + COLOUR_NAMES.index(s["colour"])
        kind[p] = 1 + KINDS.index(s["kind"])
    return colour, kind
