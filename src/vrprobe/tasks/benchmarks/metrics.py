"""Dataset-level native metrics (pure functions): accuracy by group, HallusionBench's
aAcc / fAcc / qAcc, and mean exact match / token F1. POPE's acc / P / R / F1 / yes-ratio is
`vrprobe.tasks.scoring_yesno.pope_metrics`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence


def accuracy_by(correct: Sequence[bool], groups: Sequence[Hashable]) -> dict[str, float]:
    """Accuracy overall ("all") and per group label.

    >>> accuracy_by([True, False, True, True], ["a", "a", "b", "b"])
    {'all': 0.75, 'a': 0.5, 'b': 1.0}
    """
    if len(correct) != len(groups):
        raise ValueError(f"{len(correct)} verdicts but {len(groups)} group labels")
    per: dict[str, list[bool]] = defaultdict(list)
    for ok, g in zip(correct, groups, strict=True):
        per[str(g)].append(bool(ok))
    out = {"all": sum(map(bool, correct)) / len(correct) if correct else 0.0}
    out.update({g: sum(v) / len(v) for g, v in sorted(per.items())})
    return out


def all_correct_rate(correct: Sequence[bool], keys: Sequence[Hashable]) -> float:
    """Share of key groups whose members are all correct (HallusionBench's fAcc / qAcc).

    >>> all_correct_rate([True, True, True, False, True], [1, 1, 2, 2, 3])
    0.6666666666666666
    """
    groups: dict[Hashable, bool] = {}
    for ok, key in zip(correct, keys, strict=True):
        groups[key] = groups.get(key, True) and bool(ok)
    return sum(groups.values()) / len(groups) if groups else 0.0


def hallusion_metrics(rows: Sequence[dict]) -> dict[str, float | int]:
    """HallusionBench: aAcc (all questions), fAcc (figures: every question about one figure
    right, key category/subcategory/set_id/figure_id), qAcc (questions: one question right on
    every figure it is asked about, key category/subcategory/set_id/question_id).

    `rows` hold those five fields and `correct`.

    >>> r = [dict(category="VS", subcategory="chart", set_id="0", figure_id=f, question_id=q,
    ...           correct=c) for f, q, c in [("0", "0", 1), ("0", "1", 1), ("1", "0", 0),
    ...                                        ("1", "1", 1)]]
    >>> m = hallusion_metrics(r); m["aAcc"], m["fAcc"], m["qAcc"]
    (0.75, 0.5, 0.5)
    """
    correct = [bool(r["correct"]) for r in rows]

    def key(r: dict, last: str) -> tuple:
        return (r["category"], r["subcategory"], str(r["set_id"]), str(r[last]))

    return {
        "n": len(rows),
        "aAcc": sum(correct) / len(correct) if correct else 0.0,
        "fAcc": all_correct_rate(correct, [key(r, "figure_id") for r in rows]),
        "qAcc": all_correct_rate(correct, [key(r, "question_id") for r in rows]),
    }


def em_f1(em: Sequence[bool], f1: Sequence[float], groups: Sequence[Hashable]) -> dict:
    """Mean exact match and token F1, overall and per group (VisualCoT subsets).

    >>> em_f1([True, False], [1.0, 0.5], ["textvqa", "docvqa"])["all"]
    {'n': 2, 'em': 0.5, 'f1': 0.75}
    """
    per: dict[str, list[tuple[bool, float]]] = defaultdict(list)
    for e, f, g in zip(em, f1, groups, strict=True):
        per["all"].append((bool(e), float(f)))
        per[str(g)].append((bool(e), float(f)))
    return {
        g: {"n": len(v), "em": sum(e for e, _ in v) / len(v), "f1": sum(f for _, f in v) / len(v)}
        for g, v in per.items()
    }
