"""Generation with capture: one ``generate`` pass records attention rows, hidden taps, logit stats.

Row alignment (every per-step array has T rows for T generated tokens, 0-based ``new_tokens``):
row t is the forward that *produces* ``new_tokens[t]``; its query sits at the last prompt token
for t == 0 and at ``new_tokens[t-1]`` for t >= 1 (the last row's query is the second-to-last
generated token; the last generated token is never a query). Keys of row t are the prompt plus
``new_tokens[:t]``; the share on keys after the prompt is the section "generated".

Inside :class:`Capture` the language model's attention is switched to the registered "vrprobe"
function (:func:`attention_switched`; the vision tower keeps its own) and hooks are added;
on exit all of it is undone, so a later plain ``generate`` is unchanged. Full-attention layers
queue their queries and get their rows computed many steps at once (``queue_rows``, see
``rows``; their outputs are sdpa's); other layers get the row in the step, and their decode
outputs are finished from it as eager attention does (``row_output``, see ``attention``).
``queue_rows=False`` computes every row in its step (the reference path).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from weakref import WeakKeyDictionary

import numpy as np
import torch
from transformers import PreTrainedModel, StoppingCriteriaList

from vrprobe.capture import attention
from vrprobe.capture.attention import AttentionRecorder, active_recorder
from vrprobe.capture.hidden import HiddenTaps
from vrprobe.capture.logits import LogitStats
from vrprobe.capture.prefill import CACHE_KWARG, use_cache_positions
from vrprobe.models.roles import decoder_attention


class EmptyCaptureError(RuntimeError):
    """Nothing (or not everything) was recorded: never return zeros or uniform maps instead."""


@dataclass
class CaptureRequest:
    """What to record: image-token positions and named prompt position sets (0-based)."""

    image_positions: np.ndarray
    sections: dict[str, np.ndarray]
    per_head: bool = False
    hidden: bool = True
    # hidden-state rows to tap (0 = embeddings, l = output of layer l-1); None = all, others NaN
    hidden_rows: tuple[int, ...] | None = None


@dataclass
class CaptureResult:
    """Per-step records of one generation (see module docstring for the row alignment)."""

    new_tokens: np.ndarray  # (T,) generated ids
    image_attention: np.ndarray  # (T, L, n_image) float32, or (T, L, H, n_image) per head
    section_shares: dict[str, np.ndarray]  # name -> (T, L), head-averaged; has "generated"
    token_entropy: np.ndarray  # (T,) nats, full vocabulary, raw logits
    token_logprob: np.ndarray  # (T,) log-probability of new_tokens[t] under the raw logits
    hidden_prompt: np.ndarray | None  # (L+1, d) residual stream at the last prompt token
    hidden_last: np.ndarray | None  # (L+1, d) at the query of the last row (untapped rows NaN)


def _all_configs(model: PreTrainedModel) -> dict[int, object]:
    seen: dict[int, object] = {}
    stack = [m.config for m in model.modules() if isinstance(m, PreTrainedModel)]
    while stack:
        cfg = stack.pop()
        if id(cfg) not in seen:
            seen[id(cfg)] = cfg
            stack.extend(getattr(cfg, k) for k in cfg.sub_configs if getattr(cfg, k, None))
    return seen


_IMPL = "_attn_implementation_internal"  # where a config keeps its attention implementation
# model -> (decoder, ((config __dict__, value before, value while switched), ...)): the switch's
# result, replayed on later captures of the same model (see `attention_switched`)
_PLANS: WeakKeyDictionary[PreTrainedModel, tuple[torch.nn.Module, tuple]] = WeakKeyDictionary()


def _switch(model: PreTrainedModel, name: str, lm: torch.nn.Module) -> list[tuple[dict, object]]:
    """Route ``lm`` to ``name``; return every config's ``__dict__`` and previous value (to put
    back on exit).

    The first switch of a model goes through ``set_attn_implementation`` (its checks, and a walk
    over all modules twice: ~0.5 ms, a few % of a short generation) and records the values it
    set; later switches from the same starting values replay them. A changed decoder or any
    config holding another value than recorded (someone switched it meanwhile) redoes the walk.
    """
    plan = _PLANS.get(model)
    if plan is not None and plan[0] is lm:
        steps = plan[1]  # each config's __dict__, kept: attribute access on configs is slow
        if all(attrs.get(_IMPL) == before for attrs, before, _ in steps):
            for attrs, _, during in steps:
                attrs[_IMPL] = during
            return [(attrs, before) for attrs, before, _ in steps]
    saved = [(vars(c), c._attn_implementation_internal) for c in _all_configs(model).values()]
    key = next((k for k in model.config.sub_configs if getattr(model.config, k) is lm.config), None)
    try:
        model.set_attn_implementation({key: name} if key else name)
    except BaseException:
        _restore(saved)
        raise
    _PLANS[model] = (lm, tuple((a, b, a[_IMPL]) for a, b in saved))
    return saved


def _restore(saved: list[tuple[dict, object]]) -> None:
    for attrs, impl in saved:
        attrs[_IMPL] = impl  # a value the config held before: no validation needed


# decoder -> ((its layers, their attention modules), (layers, {id(attention): layer}, heads,
# hidden size))
_STRUCTURES: WeakKeyDictionary[torch.nn.Module, tuple[tuple, tuple]] = WeakKeyDictionary()


def _structure(lm: torch.nn.Module) -> tuple[tuple, dict[int, int], int, int]:
    """The decoder's layers, which layer each attention module is, heads and hidden size; kept
    while the layers and their attention modules are the same objects (module and config reads
    are slow, and a check reads them every time)."""
    layers, attn = decoder_attention(lm)
    known = _STRUCTURES.get(lm)
    if known is not None and known[0] == (layers, attn):
        return known[1]
    cfg = lm.config
    found = (layers, {id(a): i for i, a in enumerate(attn)}, cfg.num_attention_heads,  # type: ignore[union-attr]
             cfg.hidden_size)  # fmt: skip
    _STRUCTURES[lm] = ((layers, attn), found)
    return found


@contextmanager
def attention_switched(model: PreTrainedModel) -> Iterator[torch.nn.Module]:
    """Route the language model's attention to "vrprobe" and yield the language model.

    Uses the dict form of ``set_attn_implementation`` keyed by the sub-config that *is* the
    language model's config, so the vision tower keeps its own implementation; on exit every
    config's previous value is put back. The switch mutates config objects: one shared with
    another model (``from_config`` without a deep copy) is switched for both meanwhile. Later
    switches of the same model replay the first one's result (:func:`_switch`).
    """
    name, lm = attention.register(), model.get_decoder()
    saved = _switch(model, name, lm)
    try:
        if lm.config._attn_implementation != name:
            raise EmptyCaptureError(f"could not route {type(lm).__name__} attention to {name!r}")
        yield lm
    finally:
        _restore(saved)


class Capture:
    """Context manager: attention switch, recorder and hooks for one generation; all undone."""

    def __init__(
        self,
        model: PreTrainedModel,
        request: CaptureRequest,
        *,
        prompt_len: int,
        max_steps: int,
        row_output: bool = True,
        queue_rows: bool = True,
    ) -> None:
        self.model, self.request = model, request
        self.limits = (prompt_len, max_steps, row_output, queue_rows)
        self._stack = ExitStack()

    def __enter__(self) -> Capture:
        with ExitStack() as stack:
            lm = stack.enter_context(attention_switched(self.model))
            layers, layer_of, heads, hidden_size = _structure(lm)
            prompt_len, max_steps, row_output, queue_rows = self.limits
            dev = lm.get_input_embeddings().weight.device
            self.n_layers, req = len(layers), self.request
            self.attn = AttentionRecorder(
                layer_of,
                heads,
                req.image_positions,
                req.sections,
                req.per_head,
                prompt_len,
                max_steps,
                row_output,
                dev,
                queue_rows,
            )
            head = getattr(self.model.get_output_embeddings(), "weight", None)
            vocab = None if head is None else int(head.shape[0])
            self.logits = LogitStats(max_steps, dev, vocab)
            stack.callback(self.model.register_forward_hook(self._forward_done).remove)
            self.hidden = None
            if self.request.hidden:
                rows = self.request.hidden_rows
                self.hidden = HiddenTaps(layers, hidden_size, self._row, dev, rows)
                stack.callback(self.hidden.remove)
            stack.enter_context(active_recorder(self.attn))
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _row(self) -> int:
        return self.attn.row

    def _forward_done(self, module: object, args: tuple, output: object) -> None:
        """Forward hook on the model: keep the step's logits, then start the next row (one
        hook for both: a hooked module's call costs more than a plain one, every step)."""
        self.logits.hook(module, args, output)
        self.attn.advance()

    def result(self, new_tokens: torch.Tensor) -> CaptureResult:
        """Check completeness and convert the buffers to numpy, once."""
        n, a = int(new_tokens.shape[0]), self.attn
        if a.calls == 0:
            raise EmptyCaptureError(
                "no attention rows were recorded: the language model did not dispatch to the "
                "'vrprobe' attention function (custom attention code or an unsupported family?)"
            )
        chosen = self.logits.chosen(n)
        if a.row != n or a.calls != n * self.n_layers or chosen != n:
            raise EmptyCaptureError(
                f"incomplete capture: {n} tokens, {a.row} forwards, {a.calls} attention rows "
                f"for {self.n_layers} layers, {chosen} chosen-token log-probs"
            )
        a.flush()
        self.logits.finish(new_tokens)
        hidden = self.hidden.result(n) if self.hidden is not None else (None, None)
        shares = _rows(a.shares)[:n]  # (T, L, sections), split into compact copies below
        return CaptureResult(
            new_tokens=new_tokens.cpu().numpy().astype(np.int64),
            image_attention=_rows(a.image, n),
            section_shares={k: shares[:, :, j].copy() for j, k in enumerate(a.names)},
            token_entropy=_rows(self.logits.entropy, n),
            token_logprob=_rows(self.logits.logprob, n),
            hidden_prompt=None if hidden[0] is None else _rows(hidden[0]),
            hidden_last=None if hidden[1] is None else _rows(hidden[1]),
        )


def _rows(buffer: torch.Tensor, n: int | None = None) -> np.ndarray:
    """The first ``n`` rows (default all) of a capture buffer as numpy: a view of the whole
    buffer, else a compact copy (a long ``max_new_tokens`` must not keep its whole buffer)."""
    if buffer.device.type != "cpu":
        return buffer[:n].cpu().numpy()
    arr = buffer.detach().numpy()
    return arr if n is None or n == len(arr) else arr[:n].copy()


def generate_with_capture(
    model: PreTrainedModel,
    inputs: dict,
    request: CaptureRequest,
    *,
    max_new_tokens: int,
    past_key_values: object = None,
    row_output: bool = True,
    queue_rows: bool = True,
    **generate_kwargs: object,
) -> CaptureResult:
    """``model.generate(**inputs, ...)`` for one sequence, recording as it goes.

    ``past_key_values`` may hold the prompt minus its last token (shared prefill; then leave
    ``pixel_values`` out of ``inputs``): row 0 is still the last prompt token. ``row_output``,
    ``queue_rows``: see the module docstring. Raises :class:`EmptyCaptureError` if the capture
    is empty or incomplete (never returns zeros).
    """
    batch, prompt_len = (int(n) for n in inputs["input_ids"].shape)
    if batch != 1:
        raise ValueError(f"generate_with_capture takes one sequence, got batch {batch}")
    user_stops = list(generate_kwargs.pop("stopping_criteria", None) or [])  # type: ignore[call-overload]
    if past_key_values is not None:
        use_cache_positions(model, past_key_values)  # M-RoPE deltas kept with the cache
        generate_kwargs[CACHE_KWARG] = past_key_values
    limits = {"prompt_len": prompt_len, "max_steps": max_new_tokens, "row_output": row_output,
              "queue_rows": queue_rows}  # fmt: skip
    with Capture(model, request, **limits) as cap:
        stops = [*user_stops, cap.logits] if cap.logits.needs_criterion else user_stops
        if stops:
            generate_kwargs["stopping_criteria"] = StoppingCriteriaList(stops)
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, **generate_kwargs)
    sequences = out if isinstance(out, torch.Tensor) else out.sequences
    return cap.result(sequences[0, prompt_len:])
