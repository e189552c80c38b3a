"""Where the captured attention rows go: reduced per row and layer into preallocated buffers.

The attention function (``attention``) hands a layer's call to the active recorder. A layer
whose keys are the whole prefix (full attention, dynamic cache) is *queued*: its queries wait
and their rows are computed many steps at once (``rows``). Any other layer (sliding window,
static cache, more than one sequence) gets its row computed in the step and :meth:`record`ed;
those rows are reduced once per step for all such layers, when the forward ends
(:meth:`AttentionRecorder.advance`). :meth:`AttentionRecorder.flush` computes what is queued.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import torch

from vrprobe.capture.rows import FLUSH_STEPS, QueuedRows, take_rows

_ACTIVE: ContextVar[AttentionRecorder | None] = ContextVar("vrprobe_recorder", default=None)


@contextmanager
def active_recorder(recorder: AttentionRecorder) -> Iterator[AttentionRecorder]:
    """Make ``recorder`` receive attention rows inside the ``with`` block (context-local)."""
    token = _ACTIVE.set(recorder)
    try:
        yield recorder
    finally:
        _ACTIVE.reset(token)


class AttentionRecorder:
    """Receives attention rows (or queries to compute them from); keeps reduced views.

    Per row (one forward) and layer: the head-averaged weights (or per head) on the image
    positions, and head-averaged sums over the named prompt sections plus "generated" (keys
    after the prompt). Buffers are preallocated for ``max_rows`` rows on ``device``.
    ``queue=False`` computes every row in its step (the reference path).
    """

    def __init__(
        self,
        layer_of: dict[int, int],
        n_heads: int,
        image_positions: np.ndarray,
        sections: dict[str, np.ndarray],
        per_head: bool,
        prompt_len: int,
        max_rows: int,
        row_output: bool = True,
        device: torch.device | str = "cpu",
        queue: bool = True,
    ) -> None:
        names = [*sections, "generated"]
        if "generated" in sections:
            raise ValueError('section name "generated" is reserved (keys after the prompt)')
        img = _positions(image_positions, prompt_len, "image_positions")
        self.layer_of, self.prompt_len, self.names = layer_of, prompt_len, names
        self.n_layers = len(set(layer_of.values()))
        heads, f32 = ((n_heads,) if per_head else ()), {"dtype": torch.float32, "device": device}
        self.image = torch.empty(max_rows, self.n_layers, *heads, len(img), **f32)
        self.shares = torch.empty(max_rows, self.n_layers, len(names), **f32)
        # keys x sections indicator: a prefix slice covers the keys of any step
        sec = np.zeros((prompt_len + max_rows, len(names)), dtype=np.float32)  # numpy: cheaper
        for j, name in enumerate(sections):
            pos = sections[name]  # the image section is usually the image positions, checked
            sec[img if pos is image_positions else _positions(pos, prompt_len, name), j] = 1.0
        sec[prompt_len:, -1] = 1.0
        self.device = torch.device(device)
        self.sec_t = torch.from_numpy(sec)
        self.image_idx = torch.from_numpy(img)
        if self.device.type != "cpu":
            self.sec_t, self.image_idx = self.sec_t.to(device), self.image_idx.to(device)
        # the row (forward) being recorded: 0 = the prefill; `advance` after each forward
        self.per_head, self.row_output, self.row, self.calls = per_head, row_output, 0, 0
        self.queue_rows = queue
        self.queued: dict[int, QueuedRows] = {}  # layer -> its queued steps
        self._in_step: set[int] = set()  # layers whose rows are computed in the step
        self._step: list[tuple[int, torch.Tensor]] = []  # (layer, row) of the current step
        self._all_layers = tuple(range(self.n_layers))

    # -- queued layers ----------------------------------------------------------------------

    def queue(
        self,
        layer: int,
        query: torch.Tensor,
        key: torch.Tensor,
        mask: object,
        scaling: float | None,
        softcap: float | None,
        sliding_window: object = None,
    ) -> bool:
        """Queue this call's query if ``layer`` is (and stays) a full-attention layer; False
        means: compute the row now and :meth:`record` it. A layer is queued from its first
        call on or never, so each layer's rows all come from one path."""
        n_keys = self.prompt_len + self.row
        queued = self.queued.get(layer)
        if queued is None:
            if layer in self._in_step or not self.queue_rows:
                return False
            if key.shape[0] != 1 or key.shape[2] != n_keys or sliding_window is not None:
                self._in_step.add(layer)
                return False
            queued = self.queued[layer] = QueuedRows(scaling, softcap)
        elif key.shape[2] != n_keys:
            raise RuntimeError(
                f"layer {layer} was handed {key.shape[2]} keys at step {self.row}, expected "
                f"all {n_keys}: its cache stopped growing (capture with queue_rows=False)"
            )
        queued.add(self.row, query, key, mask)
        self.calls += 1
        return True

    def flush(self) -> None:
        """Compute every queued row and store its reductions (stacked per layer group); called
        every FLUSH_STEPS steps and once generation has ended."""
        groups: dict[tuple, list[tuple[int, QueuedRows]]] = {}
        for layer, queued in self.queued.items():
            if queued.queries:
                groups.setdefault(queued.group(), []).append((layer, queued))
        for members in groups.values():
            for layers, first, probs in take_rows(members):
                if probs.device != self.device:
                    probs = probs.to(self.device)
                self._store(layers, first, probs)

    def _store(self, layers: tuple[int, ...], first: int, probs: torch.Tensor) -> None:
        """Reduce (layers, H, t, K) probabilities of rows ``first..`` into the buffers."""
        last, n_keys = first + probs.shape[2], probs.shape[-1]
        means = probs.mean(dim=1).transpose(0, 1)  # (t, layers, K), heads averaged
        index = list(layers)
        if layers == self._all_layers:
            if not self.per_head:
                torch.index_select(means, 2, self.image_idx, out=self.image[first:last])
            torch.matmul(means, self.sec_t[:n_keys], out=self.shares[first:last])
        else:
            if not self.per_head:
                self.image[first:last, index] = means[..., self.image_idx]
            self.shares[first:last, index] = means @ self.sec_t[:n_keys]
        if self.per_head:  # (t, layers, H, n_image)
            self.image[first:last, index] = probs[..., self.image_idx].permute(2, 0, 1, 3)

    # -- rows computed in the step -----------------------------------------------------------

    def record(self, layer: int, probs: torch.Tensor) -> None:
        """Keep the row of ``layer`` for the step's reduction (per head: gathered now)."""
        row, n_keys = self.row, self.prompt_len + self.row
        if probs.shape[-1] > n_keys:
            probs = probs[..., :n_keys]  # static cache: trailing slots are masked (zero weight)
        elif probs.shape[-1] < n_keys:
            probs = window_to_absolute(probs, n_keys)
        if probs.device != self.device:  # layers spread over devices
            probs = probs.to(self.device)
        self._step.append((layer, probs))
        if self.per_head:
            torch.index_select(probs[0], 1, self.image_idx, out=self.image[row, layer])
        self.calls += 1

    def advance(self) -> None:
        """A forward of the language model finished: reduce its recorded rows (one head mean,
        one image gather and one section product for all of them); the next row starts."""
        if self._step:
            layers, rows = zip(*self._step, strict=True)
            self._step = []
            means = torch.stack(rows).mean(dim=(1, 2))  # (layers, keys)
            row, n_keys = self.row, means.shape[-1]
            if layers == self._all_layers:
                if not self.per_head:
                    torch.index_select(means, 1, self.image_idx, out=self.image[row])
                torch.mm(means, self.sec_t[:n_keys], out=self.shares[row])
            else:
                index = list(layers)
                if not self.per_head:
                    self.image[row, index] = means[:, self.image_idx]
                self.shares[row, index] = means @ self.sec_t[:n_keys]
        self.row += 1
        if self.queued and self.row - next(iter(self.queued.values())).first_row >= FLUSH_STEPS:
            self.flush()


def window_to_absolute(probs: torch.Tensor, n_keys: int) -> torch.Tensor:
    """A sliding-window layer's row over its ``k`` cached keys, placed on all ``n_keys``.

    A windowed cache (``DynamicSlidingWindowLayer``) hands the attention only the trailing
    ``k`` keys, i.e. absolute positions ``n_keys - k .. n_keys - 1``; keys before the window get
    weight 0, which is exactly what the layer attends to them.

    >>> window_to_absolute(torch.tensor([[[0.25, 0.75]]]), 4).tolist()
    [[[0.0, 0.0, 0.25, 0.75]]]
    """
    k = probs.shape[-1]
    if k > n_keys:
        raise ValueError(f"a window of {k} keys cannot lie inside {n_keys} keys")
    full = probs.new_zeros(*probs.shape[:-1], n_keys)
    full[..., n_keys - k :] = probs
    return full


def _positions(values: np.ndarray, prompt_len: int, name: str) -> np.ndarray:
    arr = np.ascontiguousarray(values, dtype=np.int64).reshape(-1)
    if arr.size and (arr.min() < 0 or arr.max() >= prompt_len):
        raise ValueError(f"{name}: positions must lie in [0, {prompt_len}) (the prompt)")
    return arr
