"""What a run records about where it came from: versions, machine, command."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

PACKAGES = (
    "vrprobe",
    "torch",
    "transformers",
    "tokenizers",
    "numpy",
    "scipy",
    "scikit-learn",
    "pyarrow",
    "pillow",
    "pydantic",
)


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed versions (None where a package is absent).

    >>> package_versions(("numpy",))["numpy"] is not None
    True
    """
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def environment() -> dict:
    """Versions plus interpreter, platform, thread count and the command line."""
    import torch

    return {
        "versions": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "argv": sys.argv,
    }
