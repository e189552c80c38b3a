"""What a check returns: answer, risk, veto, evidence map (grid + overlay image), raw signals."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from PIL import Image

from vrprobe.models.layout import Tile
from vrprobe.monitor.decide import Veto


def _colormap(values: np.ndarray) -> np.ndarray:
    """(h, w) in [0, 1] -> (h, w, 3) uint8 through matplotlib's "inferno"."""
    from matplotlib import colormaps

    return (colormaps["inferno"](values)[..., :3] * 255).astype(np.uint8)


def overlay_image(grid: np.ndarray, image: Image.Image, tile: Tile, alpha: float = 0.5):
    """The grid's heat map (min-max normalised, bilinear) blended over ``image`` (RGB).

    The grid covers the model-input canvas of ``tile``; it is mapped back to the original
    image through the tile's scale and offset (so crops and pads land where the model saw them).
    """
    g = np.asarray(grid, dtype=np.float64)
    span = np.ptp(g)
    norm = (g - g.min()) / span if span > 0 else np.zeros_like(g)
    h, w = tile.size_hw
    heat = Image.fromarray(_colormap(norm)).resize((w, h), Image.Resampling.BILINEAR)
    (sx, sy), (ox, oy) = tile.scale_xy, tile.offset_xy
    heat = heat.transform(
        image.size,
        Image.Transform.AFFINE,
        (sx, 0, ox, 0, sy, oy),
        resample=Image.Resampling.BILINEAR,
    )
    return Image.blend(image.convert("RGB"), heat, alpha)


SignalGroup = Mapping[str, Any] | Callable[[], Mapping[str, Any]]


class LazySignals(Mapping[str, Any]):
    """A check's raw scalar signals, each group computed on its first access.

    Why: the verdict needs a few signals (the risk features, the veto's), the raw signals are
    many (sink search, answer span, spatial maps) and cost as much as the capture itself on a
    short answer; computing them on access keeps a check cheap without dropping any. ``groups``
    are dicts or zero-argument callables returning dicts, in display order; arrays are dropped
    (only scalars and None are signals). A group's error surfaces when it is first read.

    >>> calls = []
    >>> signals = LazySignals([{"a": 1.0}, lambda: calls.append("b") or {"b": 2.0, "v": [1]}])
    >>> signals["a"], calls
    (1.0, [])
    >>> dict(signals), calls
    ({'a': 1.0, 'b': 2.0}, ['b'])
    """

    def __init__(self, groups: Sequence[SignalGroup]) -> None:
        self._groups: list[SignalGroup] = list(groups)

    def _group(self, i: int) -> Mapping[str, Any]:
        group = self._groups[i]
        if callable(group):
            group = self._groups[i] = {
                k: v for k, v in group().items() if v is None or np.isscalar(v)
            }
        return group  # type: ignore[return-value]

    def __getitem__(self, key: str) -> Any:
        for group in self._groups:  # what is already known first
            if not callable(group) and key in group:
                return group[key]
        for i, group in enumerate(self._groups):
            if callable(group) and key in self._group(i):
                return self._groups[i][key]  # type: ignore[index]
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        for i in range(len(self._groups)):
            yield from self._group(i)

    def __len__(self) -> int:
        return sum(len(self._group(i)) for i in range(len(self._groups)))


@dataclass(eq=False)
class CheckResult:
    """One checked answer.

    ``risk`` is the calibrated P(error) in [0, 1]; ``veto`` the vision-veto decision with its
    reason; ``accepted`` = risk within the calibration's 90%-coverage threshold and not vetoed.
    ``evidence_grid`` is the attention over the image tokens (mean over layers and generated
    steps, summing to 1) on the model's grid for the first tile, ``(rows, cols)``; ``overlay()``
    draws it on the image. ``signals`` holds the raw signal values (a read-only
    :class:`LazySignals`: the signals the verdict did not need, like the grid, are computed on
    first access); ``samples`` = K sampled answers behind the self-consistency signals (0 =
    none) and ``risk_model_samples`` the K the risk model was calibrated with.
    """

    answer: str
    risk: float
    veto: Veto
    accepted: bool
    task_type: str
    evidence_source: Callable[[], np.ndarray] = field(repr=False)
    signals: Mapping[str, Any]
    samples: int
    risk_model_samples: int
    p_error_interaction: float | None
    risk_features: tuple[str, ...]
    imputed: tuple[str, ...]
    image: Image.Image = field(repr=False)
    tile: Tile = field(repr=False)
    sampled_answers: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @cached_property
    def evidence_grid(self) -> np.ndarray:
        """The evidence map on the first tile's grid (computed once, on first access)."""
        return self.evidence_source()

    def overlay(self, alpha: float = 0.5) -> Image.Image:
        """The evidence map blended over the checked image (a new RGB PIL image)."""
        return overlay_image(self.evidence_grid, self.image, self.tile, alpha)

    def summary(self) -> dict[str, Any]:
        """Plain-JSON summary (no arrays, no image)."""
        return {
            "answer": self.answer,
            "risk": self.risk,
            "accepted": self.accepted,
            "vetoed": self.veto.vetoed,
            "veto_reason": self.veto.reason,
            "task_type": self.task_type,
            "samples": self.samples,
            "p_error_interaction": self.p_error_interaction,
            "grid": list(self.evidence_grid.shape),
            "signals": {k: v for k, v in self.signals.items() if np.isscalar(v) or v is None},
        }
