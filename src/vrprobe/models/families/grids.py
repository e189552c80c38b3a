"""Small layout builders shared by the family adapters: image-token runs and row-major cells."""

from __future__ import annotations

import numpy as np

# What the adapters in this package implement and test on tiny models: capture (rows equal eager
# attentions), sampling (shared prefill) and evidence (box projection). Image perturbations
# (highlight, mask-top) and ablation do not exist in vrprobe yet.
TESTED = frozenset({"capture", "sampling", "evidence"})


def image_token_positions(
    input_ids: object, token_id: int, expected: int, family: str
) -> np.ndarray:
    """Sequence positions of ``token_id``; a clear error when there are not ``expected``.

    >>> image_token_positions([5, 9, 9, 1, 9], 9, 3, "x").tolist()
    [1, 2, 4]
    """
    ids = np.asarray(input_ids).reshape(-1)
    positions = np.flatnonzero(ids == token_id)
    if len(positions) != expected:
        raise ValueError(
            f"{family}: found {len(positions)} image tokens (id {token_id}), expected {expected} "
            "for one image (several images in the prompt, or a processor/config mismatch?)"
        )
    return positions


def row_major_cells(tile: int, rows: int, cols: int) -> np.ndarray:
    """(rows * cols, 3) array of (tile, row, col), row by row.

    >>> row_major_cells(1, 2, 2).tolist()
    [[1, 0, 0], [1, 0, 1], [1, 1, 0], [1, 1, 1]]
    """
    rr, cc = np.divmod(np.arange(rows * cols), cols)
    return np.stack([np.full_like(rr, tile), rr, cc], axis=1)
