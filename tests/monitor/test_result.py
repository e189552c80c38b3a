"""LazySignals: groups computed once, on demand, in display order; arrays dropped."""

from __future__ import annotations

import numpy as np
import pytest

from vrprobe.monitor.result import LazySignals


def _counting(calls: list[str], name: str, values: dict):
    def group() -> dict:
        calls.append(name)
        return values

    return group


def test_reading_one_signal_computes_only_the_groups_up_to_it():
    calls: list[str] = []
    signals = LazySignals([
        _counting(calls, "a", {"x": 1.0, "arr": np.zeros(3)}),
        _counting(calls, "b", {"y": None}),
        _counting(calls, "c", {"z": 3}),
        {"known": 4.0},
    ])  # fmt: skip
    assert signals["known"] == 4.0 and calls == []
    assert signals["y"] is None and calls == ["a", "b"]
    assert signals.get("x") == 1.0 and calls == ["a", "b"]  # computed once
    assert list(signals) == ["x", "y", "z", "known"] and calls == ["a", "b", "c"]
    assert len(signals) == 4 and "arr" not in signals
    with pytest.raises(KeyError, match="missing"):
        signals["missing"]
    assert calls == ["a", "b", "c"]


def test_a_failing_group_fails_on_first_read_and_the_others_still_answer():
    def broken() -> dict:
        raise ValueError("the captured image attention holds NaN")

    signals = LazySignals([{"x": 1.0}, broken])
    assert signals["x"] == 1.0
    with pytest.raises(ValueError, match="NaN"):
        dict(signals)
