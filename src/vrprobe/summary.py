"""The summary printed at the end of a run: accuracy overall and per question type, errors."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pyarrow as pa


@dataclass
class RunSummary:
    items: int
    computed: int
    answered: int
    correct: int
    errors: int
    accuracy: float | None
    by_question_type: dict[str, dict] = field(default_factory=dict)
    error_examples: list[str] = field(default_factory=list)
    native_metrics: dict = field(default_factory=dict)
    by_perturbation: dict[str, dict] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(table: pa.Table, keys: set[str], computed: int = 0) -> RunSummary:
    """Summarise the records whose key is in `keys` (the items of this run).

    >>> t = pa.table({"item_key": ["a", "b", "c"], "sample_id": ["1", "2", "3"],
    ...               "correct": [True, False, None], "error": [None, None, "bad image"],
    ...               "question_type": ["x", "x", None]})
    >>> s = summarize(t, {"a", "b", "c"})
    >>> s.accuracy, s.errors, s.by_question_type["x"]["n"], s.error_examples
    (0.5, 1, 2, ['3: bad image'])
    """
    rows = [r for r in table.to_pylist() if r["item_key"] in keys]
    ok = [r for r in rows if r.get("error") is None]
    errors = [r for r in rows if r.get("error") is not None]
    by_pert: dict[str, dict] = {}
    for r in ok:
        entry = by_pert.setdefault(r.get("perturbation") or "none", {"n": 0, "correct": 0})
        entry["n"] += 1
        entry["correct"] += bool(r.get("correct"))
    for entry in by_pert.values():
        entry["accuracy"] = entry["correct"] / entry["n"]
    # accuracy and question types describe the clean answers when a run also perturbs
    clean = [r for r in ok if (r.get("perturbation") or "none") == "none"] or ok
    n_correct = sum(bool(r.get("correct")) for r in clean)
    by_type: dict[str, dict] = {}
    for r in clean:
        entry = by_type.setdefault(r.get("question_type") or "all", {"n": 0, "correct": 0})
        entry["n"] += 1
        entry["correct"] += bool(r.get("correct"))
    for entry in by_type.values():
        entry["accuracy"] = entry["correct"] / entry["n"]
    return RunSummary(
        items=len(keys),
        computed=computed,
        answered=len(ok),
        correct=n_correct,
        errors=len(errors),
        accuracy=n_correct / len(clean) if clean else None,
        by_question_type=dict(sorted(by_type.items())),
        error_examples=[f"{r['sample_id']}: {r['error']}" for r in errors[:5]],
        by_perturbation=by_pert if len(by_pert) > 1 else {},
    )
