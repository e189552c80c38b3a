"""Perturbation names: what ``--perturb`` accepts, how groups expand, and what each name does.

A *group* given on the command line expands into its members, each its own work item:
``blur`` → ``blur-k1 … blur-k61`` (the 8 kernels of SPEC §4), ``mask-top`` → its three
mechanisms, ``highlight`` → the method, its four ablations and the instruction-only variant.
Members may also be named one by one. ``none`` (the clean answer) is always run first: every
perturbation metric compares with it. This module imports no torch (configs validate with it).
"""

from __future__ import annotations

from pathlib import Path

BLUR_KERNELS: tuple[int, ...] = (1, 5, 9, 15, 21, 31, 45, 61)
MASK_MECHANISMS: tuple[str, ...] = ("pixels", "embed", "keys")
MASK_FRACTION = 0.3
HIGHLIGHT_ALPHA = 0.5  # new pixel = (alpha + (1 - alpha) * e) * pixel
HIGHLIGHT_LAMBDA = 10.0  # denoise: a cell above lambda x its neighbours' max is a spike
HIGHLIGHT_SIGMA = 0.5  # smoothing: <= 1 relative to the shorter side, > 1 pixels
PROFILE_SAMPLES = 100  # samples with boxes the highlight layers are profiled on
PROFILE_TOP_FRACTION = 0.1  # share of layers kept (ceil, at least one)
PROFILE_FILE = Path("perturb") / "highlight_profile.json"  # where a run keeps its profile
HIGHLIGHT_VARIANTS: tuple[str, ...] = (
    "highlight",
    "highlight-no-denoise",
    "highlight-no-smooth",
    "highlight-all-layers",
    "highlight-no-prompt",
    "highlight-instruction-only",
)

GROUPS: dict[str, tuple[str, ...]] = {
    "none": ("none",),
    "blur": tuple(f"blur-k{k}" for k in BLUR_KERNELS),
    "blank": ("blank",),
    "mask-top": tuple(f"mask-top-{m}" for m in MASK_MECHANISMS),
    "highlight": HIGHLIGHT_VARIANTS,
}
NAMES: tuple[str, ...] = tuple(dict.fromkeys(n for members in GROUPS.values() for n in members))


class UnknownPerturbation(ValueError):
    """A ``--perturb`` value that is neither a group nor a perturbation name."""


def allowed() -> str:
    """The accepted values, for error messages and ``--help``.

    >>> allowed().split(", ")[:5]
    ['none', 'blur', 'blank', 'mask-top', 'highlight']
    """
    members = [n for n in NAMES if n not in GROUPS]
    return ", ".join([*GROUPS, *members])


def check_name(value: str) -> str:
    """``value`` if it is a group or a perturbation name, else an error naming it.

    >>> check_name("blur-k15")
    'blur-k15'
    >>> check_name("blurr")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vrprobe.perturb.registry.UnknownPerturbation: unknown perturbation 'blurr' (allowed: none, ...)
    """
    if value not in GROUPS and value not in NAMES:
        raise UnknownPerturbation(f"unknown perturbation {value!r} (allowed: {allowed()})")
    return value


def expand(values: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Groups replaced by their members, ``none`` first, duplicates dropped, order kept.

    >>> expand(["mask-top", "blank"])
    ('none', 'mask-top-pixels', 'mask-top-embed', 'mask-top-keys', 'blank')
    >>> len(expand(["blur", "blur-k5"]))
    9
    """
    names = ["none"]
    for value in values:
        names += GROUPS.get(check_name(value), (value,))
    return tuple(dict.fromkeys(names))


def parse(text: str) -> tuple[str, ...]:
    """A comma-separated ``--perturb`` value, split and stripped (not yet expanded).

    >>> parse("blur, mask-top")
    ('blur', 'mask-top')
    """
    return tuple(v.strip() for v in text.split(",") if v.strip())


def blur_kernel(name: str) -> int | None:
    """The kernel of a ``blur-kN`` name, None for anything else.

    >>> blur_kernel("blur-k45"), blur_kernel("blank")
    (45, None)
    """
    if name.startswith("blur-k") and name[6:].isdigit():
        return int(name[6:])
    return None


def family(name: str) -> str:
    """Which kind of perturbation a name is: none, blur, blank, mask or highlight.

    >>> [family(n) for n in ("none", "blur-k5", "blank", "mask-top-keys", "highlight-no-prompt")]
    ['none', 'blur', 'blank', 'mask', 'highlight']
    """
    if name == "none" or name == "blank":
        return name
    if blur_kernel(name) is not None:
        return "blur"
    if name.startswith("mask-top-"):
        return "mask"
    if name in HIGHLIGHT_VARIANTS:
        return "highlight"
    raise UnknownPerturbation(f"unknown perturbation {name!r} (allowed: {allowed()})")


def parameters(names: tuple[str, ...]) -> dict:
    """The settings behind ``names`` (recorded in the run manifest).

    >>> sorted(parameters(("none", "blur-k5", "mask-top-keys")))
    ['blur', 'mask-top']
    """
    kinds = {family(n) for n in names}
    out: dict = {}
    if "blur" in kinds:
        out["blur"] = {
            "kernels": [k for n in names if (k := blur_kernel(n)) is not None],
            "sigma": "0.3 * ((k - 1) / 2 - 1) + 0.8",
            "border": "mirror (reflect-101)",
            "resolution": "native",
        }
    if "mask" in kinds:
        out["mask-top"] = {
            "fraction": MASK_FRACTION,
            "ranking": "clean pass, heads x layers x generated steps averaged",
            "pixel_fill": "processor image_mean",
        }
    if "blank" in kinds:
        out["blank"] = {"fill": "processor image_mean"}
    if "highlight" in kinds:
        out["highlight"] = {
            "alpha": HIGHLIGHT_ALPHA,
            "lambda": HIGHLIGHT_LAMBDA,
            "sigma": HIGHLIGHT_SIGMA,
            "profile_samples": PROFILE_SAMPLES,
            "top_fraction": PROFILE_TOP_FRACTION,
        }
    return out


def profile_file(source: Path) -> Path:
    """A highlight profile's path from a run folder or a JSON file (``--highlight-profile``).

    >>> profile_file(Path("no/such.json")).as_posix()
    'no/such.json'
    """
    source = Path(source)
    return source / PROFILE_FILE if source.is_dir() else source
