"""Intervention settings: the names `vrprobe intervene` gives its work items, and the sweeps.

A *setting* is one way of changing the model (one context manager call); each (sample, setting)
is a work item whose key holds the setting string in the perturbation slot (``exec.items``).
Names, one family per ``--kind``:

- ``dims-L{l}-top-k{k}``: zero the k hidden dims of decoder layer l's output with the largest
  probe-weight magnitude (SPEC §1 causal scaling); ``dims-L{l}-random-s{s}-k{k}``: k dims drawn
  at random with seed s (the control). k = 0 is the clean model (one ``top`` setting, no random).
- ``heads-L{l}-h{h}``: ablate head h of decoder layer l.
- ``replace-L{i}-{j}``: decoder layers [i, j) taken from the donor checkpoint.
- ``patch-{source}-{positions}-L{i}-{j}``: the residual stream entering layers [i, j) replaced,
  in the prefill, by the counterfactual input's (source ``blank`` or ``blur-kN``; positions
  ``all`` or ``image``).

Everything here is checked against the model's geometry (read from its config, no weights), so
a bad flag fails before any model loads. No torch import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from vrprobe.perturb.registry import blur_kernel

KINDS: tuple[str, ...] = ("dims", "heads", "replace", "patch")
DEFAULT_FRACTIONS = "0,1/64,1/16,1/8,1/4,1/2,1"
DEFAULT_SEEDS = 3
POSITIONS: tuple[str, ...] = ("all", "image")


class SettingError(ValueError):
    """A flag value that cannot make intervention settings; the message names it."""


@dataclass(frozen=True)
class Geometry:
    """What the settings are checked against: decoder layers, residual width, query heads."""

    n_layers: int
    width: int
    n_heads: int


def check_kind(kind: str) -> str:
    """``kind`` if it is an intervention kind, else an error naming the allowed ones.

    >>> check_kind("heads")
    'heads'
    >>> check_kind("neurons")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vrprobe.interventions.settings.SettingError: --kind 'neurons' unknown (allowed: dims, ...)
    """
    if kind not in KINDS:
        raise SettingError(f"--kind {kind!r} unknown (allowed: {', '.join(KINDS)})")
    return kind


def check_layer(layer: int, geo: Geometry, flag: str = "--layer") -> int:
    """``layer`` if it is a decoder layer index of the model, else an error naming the range."""
    if not 0 <= layer < geo.n_layers:
        raise SettingError(
            f"{flag} {layer} out of range: the model has {geo.n_layers} decoder layers "
            f"(allowed 0..{geo.n_layers - 1})"
        )
    return layer


def parse_fractions(text: str) -> list[Fraction]:
    """Comma-separated fractions of the width (``1/64`` or ``0.25``), each in [0, 1].

    >>> [str(f) for f in parse_fractions("0, 1/64, 0.5,1")]
    ['0', '1/64', '1/2', '1']
    """
    out = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            value = Fraction(part)
        except (ValueError, ZeroDivisionError):
            raise SettingError(f"--fractions: {part!r} is not a number or a/b") from None
        if not 0 <= value <= 1:
            raise SettingError(f"--fractions: {part} out of range (allowed: 0 to 1 of the width)")
        out.append(value)
    if not out:
        raise SettingError("--fractions is empty (e.g. 0,1/16,1/4,1)")
    return out


def dims_counts(fractions: list[Fraction], ks: list[int] | None, width: int) -> list[int]:
    """Sorted distinct k: explicit ``ks`` (each ≤ width), else round(fraction × width).

    >>> dims_counts(parse_fractions(DEFAULT_FRACTIONS), None, 128)
    [0, 2, 8, 16, 32, 64, 128]
    """
    if ks is not None:
        bad = [k for k in ks if not 0 <= k <= width]
        if bad:
            raise SettingError(
                f"--k {bad[0]} out of range: layer width is {width} (allowed 0..{width})"
            )
        return sorted(set(ks))
    return sorted({round(f * width) for f in fractions})


def dims_settings(layer: int, counts: list[int], seeds: int) -> list[str]:
    """Top-k for every k, and random-k for every k > 0 and seed 0..seeds-1.

    >>> dims_settings(2, [0, 8], 2)
    ['dims-L2-top-k0', 'dims-L2-top-k8', 'dims-L2-random-s0-k8', 'dims-L2-random-s1-k8']
    """
    if seeds < 0:
        raise SettingError(f"--seeds {seeds} must be >= 0")
    out = []
    for k in counts:
        out.append(f"dims-L{layer}-top-k{k}")
        if k > 0:
            out += [f"dims-L{layer}-random-s{s}-k{k}" for s in range(seeds)]
    return out


def parse_layers(text: str | None, geo: Geometry) -> list[int]:
    """``--layers 0,2`` (default: every layer), each checked.

    >>> parse_layers("1,0", Geometry(4, 128, 4)), parse_layers(None, Geometry(2, 8, 2))
    ([0, 1], [0, 1])
    """
    if text is None:
        return list(range(geo.n_layers))
    try:
        layers = sorted({int(p) for p in text.split(",") if p.strip()})
    except ValueError:
        raise SettingError(f"--layers {text!r}: expected comma-separated integers") from None
    return [check_layer(v, geo, "--layers") for v in layers]


def heads_settings(layers: list[int], geo: Geometry) -> list[str]:
    """One setting per head of every chosen layer.

    >>> heads_settings([1], Geometry(2, 8, 2))
    ['heads-L1-h0', 'heads-L1-h1']
    """
    return [f"heads-L{layer}-h{h}" for layer in layers for h in range(geo.n_heads)]


def default_ranges(n_layers: int) -> list[tuple[int, int]]:
    """Each single layer, then the first half, the second half and all layers.

    >>> default_ranges(4)
    [(0, 1), (1, 2), (2, 3), (3, 4), (0, 2), (2, 4), (0, 4)]
    """
    half = n_layers // 2
    spans = [(i, i + 1) for i in range(n_layers)] + [(0, half), (half, n_layers), (0, n_layers)]
    return list(dict.fromkeys(s for s in spans if s[0] < s[1]))


def parse_ranges(text: str | None, geo: Geometry) -> list[tuple[int, int]]:
    """``--ranges 0:1,2:4`` (half-open [i, j)), default :func:`default_ranges`.

    >>> parse_ranges("0:2, 3:4", Geometry(4, 128, 4))
    [(0, 2), (3, 4)]
    """
    if text is None:
        return default_ranges(geo.n_layers)
    out = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        m = re.fullmatch(r"(\d+):(\d+)", part)
        if not m:
            raise SettingError(f"--ranges: {part!r} is not i:j (layers [i, j), e.g. 0:2)")
        i, j = int(m[1]), int(m[2])
        if not 0 <= i < j <= geo.n_layers:
            raise SettingError(
                f"--ranges: [{i}, {j}) out of range: the model has {geo.n_layers} decoder "
                f"layers (allowed 0 <= i < j <= {geo.n_layers})"
            )
        out.append((i, j))
    if not out:
        raise SettingError("--ranges is empty (e.g. 0:1,0:4)")
    return list(dict.fromkeys(out))


def check_source(source: str) -> str:
    """``blank`` or ``blur-kN`` (odd N ≥ 1), else an error naming the allowed values."""
    k = blur_kernel(source)
    if source != "blank" and (k is None or k < 1 or k % 2 == 0):
        raise SettingError(f"--source {source!r} unknown (allowed: blank, blur-kN with odd N)")
    return source


def check_positions(positions: str) -> str:
    if positions not in POSITIONS:
        raise SettingError(f"--positions {positions!r} unknown (allowed: {', '.join(POSITIONS)})")
    return positions


def range_settings(kind: str, ranges: list[tuple[int, int]], prefix: str = "") -> list[str]:
    """``replace-L{i}-{j}`` or ``patch-{source}-{positions}-L{i}-{j}`` per range.

    >>> range_settings("patch", [(0, 4)], "blank-all")
    ['patch-blank-all-L0-4']
    """
    head = f"{kind}-{prefix}-" if prefix else f"{kind}-"
    return [f"{head}L{i}-{j}" for i, j in ranges]


_PATTERNS = {
    "dims": re.compile(r"dims-L(?P<layer>\d+)-(?P<rank>top|random)(-s(?P<seed>\d+))?-k(?P<k>\d+)"),
    "heads": re.compile(r"heads-L(?P<layer>\d+)-h(?P<head>\d+)"),
    "replace": re.compile(r"replace-L(?P<start>\d+)-(?P<stop>\d+)"),
    "patch": re.compile(
        r"patch-(?P<source>blank|blur-k\d+)-(?P<positions>all|image)-L(?P<start>\d+)-(?P<stop>\d+)"
    ),
}
PARAMETERS = ("layer", "rank", "seed", "k", "head", "start", "stop", "source", "positions")


def parse_setting(name: str) -> dict:
    """The parameters of a setting name (absent ones None); an error for an unknown name.

    >>> p = parse_setting("dims-L2-random-s1-k8")
    >>> p["kind"], p["layer"], p["rank"], p["seed"], p["k"], p["head"]
    ('dims', 2, 'random', 1, 8, None)
    >>> parse_setting("patch-blur-k15-image-L0-2")["source"]
    'blur-k15'
    """
    kind = name.split("-", 1)[0]
    m = _PATTERNS[kind].fullmatch(name) if kind in _PATTERNS else None
    if m is None:
        raise SettingError(f"unknown intervention setting {name!r}")
    out: dict = {"kind": kind, **dict.fromkeys(PARAMETERS)}
    for key, value in m.groupdict().items():
        if key in PARAMETERS and value is not None:
            out[key] = value if key in ("rank", "source", "positions") else int(value)
    return out
