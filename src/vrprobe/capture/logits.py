"""Per-step token entropy and chosen-token log-probability, computed while generating.

Why not a LogitsProcessor alone: ``generate`` appends custom processors *after* its own
(min-new-tokens, temperature, top-k/p...), so a processor sees warped scores, not the model's
distribution. Instead a forward hook on the model reads the raw ``logits`` of the last position
(after any final soft-capping the model applies, before any processor) and computes, in float32,

- ``entropy[t] = -sum_v p_t(v) ln p_t(v)`` in nats over the full vocabulary, and keeps
  ``log_softmax`` of that row;

and a :class:`~transformers.StoppingCriteria` that never stops, called by ``generate`` right after
token t is appended, reads ``logprob[t] = ln p_t(token_t)`` from the kept row. Step t is the
forward that produces generated token t (0-based). No ``output_logits`` (T x V floats) is kept.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from transformers import StoppingCriteria


class LogitStats(StoppingCriteria):
    """Forward hook (on the whole model) + never-stopping criterion filling two (T,) buffers.

    >>> stats = LogitStats(max_steps=2, step=lambda: 0)
    >>> class Out:  # anything with `.logits` (batch, positions, vocab)
    ...     logits = torch.tensor([[[0.0, 0.0]]])
    >>> stats.hook(None, (), Out())
    >>> bool(stats(torch.tensor([[5, 1]]), None)[0])
    False
    >>> round(float(stats.entropy[0]), 4), round(float(stats.logprob[0]), 4)
    (0.6931, -0.6931)
    """

    def __init__(self, max_steps: int, step: Callable[[], int], device: torch.device | str = "cpu"):
        self.entropy = torch.zeros(max_steps, dtype=torch.float32, device=device)
        self.logprob = torch.zeros(max_steps, dtype=torch.float32, device=device)
        self._step = step
        self._logp: torch.Tensor | None = None
        self.n_logits = 0
        self.n_chosen = 0

    def hook(self, module: object, args: tuple, output: object) -> None:
        """Forward hook: entropy of the last position's raw next-token distribution (NaN when
        the logits hold a NaN or +inf; -inf logits are masked tokens and add 0)."""
        logits = output.logits if hasattr(output, "logits") else output[0]  # type: ignore[index]
        logp = torch.log_softmax(logits[0, -1].float(), dim=-1)
        # nansum drops the 0·(-inf) = NaN terms of masked (-inf) logits; a NaN or +inf logit
        # (an overflowed forward: every logp is then NaN) gives entropy NaN, not the "fully
        # confident" 0 the nansum alone would report.
        ent = -(logp.exp() * logp).nansum()
        self.entropy[self._step()] = torch.where(logp.isnan().any(), torch.nan, ent)
        self._logp = logp
        self.n_logits += 1

    def __call__(
        self, input_ids: torch.LongTensor, scores: object, **kwargs: object
    ) -> torch.Tensor:
        """Stopping-criterion call after token t is appended: record its log-probability."""
        if self._logp is not None:
            self.logprob[self._step()] = self._logp[input_ids[0, -1]]
            self.n_chosen += 1
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
