"""Rows of many steps at once (``rows.attention_rows``) vs one ``attention_row`` per step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vrprobe.capture.attention import attention_row
from vrprobe.capture.recorder import AttentionRecorder
from vrprobe.capture.rows import attention_rows


@pytest.mark.parametrize("softcap", [None, 5.0])
@pytest.mark.parametrize("mask", [None, "bool", "additive"])
def test_rows_match_one_row_per_step(softcap, mask):
    torch.manual_seed(0)
    layers, heads, kv_heads, steps, first, dim = 2, 6, 3, 4, 5, 8
    queries = torch.randn(layers, heads, steps, dim)
    key = torch.randn(layers, kv_heads, first + steps - 1, dim)
    masks, step_masks = [], {}
    for b in range(layers):
        for t in range(steps):
            n = first + t
            if mask == "bool":
                row = torch.rand(1, n) > 0.3
                row[..., -1] = True  # a row always sees its own key
            elif mask == "additive":
                row = torch.randn(heads, n)
            else:
                continue
            masks.append((b, t, row))
            step_masks[b, t] = row
    got = attention_rows(queries, key, first, 0.3, softcap, masks)
    assert got.shape == (layers, heads, steps, first + steps - 1)
    for b in range(layers):
        for t in range(steps):
            n = first + t
            m = step_masks.get((b, t))
            full = None if m is None else m[None, :, None, :]  # (1, 1|H, 1, n)
            want = attention_row(
                queries[b : b + 1, :, t : t + 1], key[b : b + 1, :, :n], full, 0.3, softcap
            )
            torch.testing.assert_close(got[b : b + 1, :, t, :n], want, atol=1e-6, rtol=0)
            assert float(got[b, :, t, n:].abs().sum()) == 0.0  # keys not yet there


def test_keys_that_stop_growing_are_an_error():
    """A queued layer later handed fewer keys than the whole prefix must not be silently
    misread (its earlier keys would be gone)."""
    rec = AttentionRecorder({1: 0}, 2, np.arange(2), {"image": np.arange(2)}, False, 4, 3)
    q = torch.randn(1, 2, 4, 8)
    assert rec.queue(0, q, torch.randn(1, 2, 4, 8), None, None, None)
    rec.advance()
    with pytest.raises(RuntimeError, match="handed 3 keys at step 1, expected all 5"):
        rec.queue(0, q[:, :, -1:], torch.randn(1, 2, 3, 8), None, None, None)


def test_sliding_window_layers_take_the_step_path():
    rec = AttentionRecorder({1: 0}, 2, np.arange(2), {"image": np.arange(2)}, False, 4, 3)
    key = torch.randn(1, 2, 4, 8)
    assert not rec.queue(0, torch.randn(1, 2, 4, 8), key, None, None, None, sliding_window=2)
    assert not rec.queued  # and stays on it: a layer's rows all come from one path
    rec.advance()
    assert not rec.queue(0, torch.randn(1, 2, 1, 8), torch.randn(1, 2, 5, 8), None, None, None)
