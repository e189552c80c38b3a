"""Hidden-state taps: the residual stream at one position per forward, every layer.

Why not ``output_hidden_states``: that keeps (L+1) x prompt-length x d floats for the prefill and
one more set per step; the probes need one vector per layer at two positions. Hooks on the
decoder layers copy only the last position of the current forward into a preallocated buffer.

Vectors kept, each (L+1, d) float32: index 0 is the input of decoder layer 0 (the embeddings,
image features merged in), index ``l`` the output of decoder layer ``l-1``. Unlike
transformers' ``hidden_states[-1]``, the last vector is the raw residual stream *before* the final
norm (apply the model's final norm yourself for a logit lens).

- ``prompt``: forward 0, last position = the last prompt token (the query that produces the first
  generated token).
- ``last``: the final forward's last position = the query that produced the last generated token,
  i.e. the position of generated token T-2 (of the last prompt token when T == 1). The last
  generated token itself is never run through the model by ``generate``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.utils.hooks import RemovableHandle


class HiddenTaps:
    """Forward hooks on ``layers`` that keep the last position of every forward.

    ``step`` is a zero-argument callable giving the index of the current forward (0 = prefill);
    the taps write into ``prompt`` on forward 0 and into ``last`` afterwards. ``rows`` taps only
    those rows (0 = embeddings, ``l`` = output of layer ``l-1``; default all): each hook costs
    Python work on every forward, and a monitor's probe reads one row. Rows not tapped are NaN.

    >>> layers = torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(3)])
    >>> taps = HiddenTaps(layers, hidden_size=2, step=lambda: 0)
    >>> x = torch.ones(1, 5, 2)
    >>> for layer in layers:
    ...     x = layer(x)
    >>> taps.remove()
    >>> taps.prompt.shape, bool(torch.equal(taps.prompt[3], x[0, -1]))
    (torch.Size([4, 2]), True)
    """

    def __init__(
        self,
        layers: Sequence[torch.nn.Module],
        hidden_size: int,
        step: Callable[[], int],
        device: torch.device | str = "cpu",
        rows: Sequence[int] | None = None,
    ) -> None:
        n = len(layers) + 1
        wanted = range(n) if rows is None else sorted(set(rows))
        if any(not 0 <= r < n for r in wanted):
            raise ValueError(f"hidden rows must lie in [0, {n}) (0 = embeddings), got {rows}")
        fill = 0.0 if rows is None else float("nan")  # rows not tapped are NaN, never zeros
        both = torch.full((2, n, hidden_size), fill, dtype=torch.float32, device=device)
        self.prompt, self.last = both[0], both[1]
        self._step = step
        self._handles: list[RemovableHandle] = []
        for r in wanted:
            if r == 0:
                hook = self._make_hook(0, pre=True)
                self._handles.append(layers[0].register_forward_pre_hook(hook, with_kwargs=True))
            else:
                self._handles.append(layers[r - 1].register_forward_hook(self._make_hook(r)))

    def _make_hook(self, index: int, pre: bool = False) -> Callable[..., None]:
        """A hook writing the last position into row ``index`` (views made once, not per call)."""
        first, later, step = self.prompt[index], self.last[index], self._step

        def hook(module: torch.nn.Module, args: tuple, out: object, *_: object) -> None:
            if pre:  # forward pre-hook with kwargs: (module, args, kwargs)
                out = args[0] if args else out["hidden_states"]  # type: ignore[index]
            elif isinstance(out, tuple):
                out = out[0]
            (first if step() == 0 else later).copy_(out[0, -1].detach())  # type: ignore[index]

        return hook

    def remove(self) -> None:
        """Detach all hooks (idempotent)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def result(self, n_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(prompt, last) after ``n_steps`` forwards; ``last`` is ``prompt`` when n_steps == 1."""
        return self.prompt, (self.prompt if n_steps <= 1 else self.last)
