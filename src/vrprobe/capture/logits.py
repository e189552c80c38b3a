"""Per-step token entropy and chosen-token log-probability, computed while generating.

Why not a LogitsProcessor alone: ``generate`` appends custom processors *after* its own
(min-new-tokens, temperature, top-k/p...), so a processor sees warped scores, not the model's
distribution. Instead a forward hook on the model keeps the raw ``logits`` of the last position
(after any final soft-capping the model applies, before any processor; by reference when the
output is that one position, else a copy of it), and a block of such rows is reduced in one
batched pass, in float32:

- ``entropy[t] = -sum_v p_t(v) ln p_t(v)`` in nats over the full vocabulary;
- ``logprob[t] = ln p_t(token_t)``.

A :class:`~transformers.StoppingCriteria` that never stops, called by ``generate`` right after
token t is appended, counts the tokens and reduces the block when it is full (it then knows the
block's tokens); :meth:`LogitStats.finish` reduces the rest. When every step's logits fit one
block (``vocab`` given: max_steps x vocab <= BLOCK_FLOATS, e.g. a short answer) nothing is
reduced before the end and the criterion is left out (``needs_criterion``): generate calls it
every step. Why batched: per-step reductions
were ~8 small tensor ops a step, a tenth of a short answer's check overhead; the block is
sized to hold at most ~16 MiB of logits (one row for huge vocabularies), so memory stays bounded.
Step t is the forward that produces generated token t (0-based). No ``output_logits`` is kept.
"""

from __future__ import annotations

import torch
from transformers import StoppingCriteria

BLOCK_FLOATS = 1 << 22  # logits kept before a reduction: 16 MiB of float32


class LogitStats(StoppingCriteria):
    """Forward hook (on the whole model) + never-stopping criterion filling two (T,) buffers.

    >>> stats = LogitStats(max_steps=2)
    >>> class Out:  # anything with `.logits` (batch, positions, vocab)
    ...     logits = torch.tensor([[[0.0, 0.0]]])
    >>> stats.hook(None, (), Out())
    >>> bool(stats(torch.tensor([[5, 1]]), None)[0])
    False
    >>> stats.finish(torch.tensor([1]))
    >>> round(float(stats.entropy[0]), 4), round(float(stats.logprob[0]), 4)
    (0.6931, -0.6931)
    """

    def __init__(
        self, max_steps: int, device: torch.device | str = "cpu", vocab: int | None = None
    ):
        self.needs_criterion = vocab is None or max_steps * vocab > BLOCK_FLOATS
        self.entropy = torch.zeros(max_steps, dtype=torch.float32, device=device)
        self.logprob = torch.zeros(max_steps, dtype=torch.float32, device=device)
        self._max_steps = max_steps
        self._held: list[torch.Tensor] = []  # (vocab,) raw logits of the unreduced steps
        self._block = 0  # steps per reduction, from the vocabulary size at the first step
        self._start = 0  # step of _held[0]
        self._false: torch.Tensor | None = None
        self.n_logits = 0
        self.n_chosen = 0

    def hook(self, module: object, args: tuple, output: object) -> None:
        """Forward hook: keep the last position's raw next-token logits."""
        logits = output.logits if hasattr(output, "logits") else output[0]  # type: ignore[index]
        row = logits[0, -1]
        if not self._block:
            self._block = max(1, min(self._max_steps, BLOCK_FLOATS // max(1, row.numel())))
        # a one-position output is held as is (generate copies what it uses, never writes it);
        # the last row of a longer one is copied, not the whole prefill's logits held
        self._held.append(row if logits.shape[1] == 1 else row.clone())
        self.n_logits += 1

    def __call__(
        self, input_ids: torch.LongTensor, scores: object, **kwargs: object
    ) -> torch.Tensor:
        """Stopping-criterion call after token t is appended: reduce the block once it is full."""
        self.n_chosen += 1
        if self._block and self.n_chosen - self._start == self._block:
            self._reduce(input_ids[0, -self._block :])
        if self._false is None or self._false.shape[0] != input_ids.shape[0]:
            self._false = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        return self._false

    def chosen(self, n_tokens: int) -> int:
        """Tokens whose choice was seen: the criterion's count, or all ``n_tokens`` of the
        generation when it was left out (``needs_criterion`` False)."""
        return self.n_chosen if self.needs_criterion else n_tokens

    def finish(self, new_tokens: torch.Tensor) -> None:
        """Reduce the steps still in the block; ``new_tokens`` are all generated ids (T,)."""
        n = min(self.chosen(len(new_tokens)), self.n_logits, len(new_tokens))
        if self._held and n > self._start:
            self._reduce(new_tokens[self._start : n])

    def _reduce(self, tokens: torch.Tensor) -> None:
        """Entropy and chosen log-prob of the block's first ``len(tokens)`` rows (NaN for a row
        holding a NaN or +inf logit; -inf logits are masked tokens and add 0)."""
        k, s = len(tokens), self._start
        rows, self._held = torch.stack(self._held[:k]), self._held[k:]
        logp = torch.log_softmax(rows, dim=-1, dtype=torch.float32)
        # entr(p) = -p ln p is 0 at p = 0 (a masked -inf logit) and NaN at NaN: a NaN or +inf
        # logit (an overflowed forward: its log_softmax is NaN) gives entropy NaN, not the
        # "fully confident" 0 a NaN-dropping sum would report.
        index = tokens.to(device=logp.device, dtype=torch.long).view(-1, 1)
        entropy, logprob = self.entropy[s : s + k], self.logprob[s : s + k]
        if logp.device == entropy.device:  # straight into the buffers
            torch.sum(torch.special.entr(logp.exp()), dim=-1, out=entropy)
            torch.gather(logp, 1, index, out=logprob.view(-1, 1))
        else:  # an LM head on another device: move the 2k reduced values, not (k, vocab)
            entropy.copy_(torch.special.entr(logp.exp()).sum(dim=-1))
            logprob.copy_(logp.gather(1, index).view(-1))
        self._start = s + k
