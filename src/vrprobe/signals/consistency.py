"""Answer-distribution signals over K sampled answers: self-consistency and its relatives.

Why: SPEC 1 reports self-consistency `S_SC = max_y (1/K) Σ_k 1[y_k = y]` as a strong
correctness signal (R_pb 0.43, AUROC 0.78–0.81), unlike spatial attention metrics. These are
pure functions over answers that are *already normalised* (lowercased, task-aware extraction:
`vrprobe.tasks.scoring`), so they stay numpy/stdlib only.

Tie rule (used everywhere here): among equally frequent answers, the majority is the one that
occurs first in the given order. Samples come from a seeded batch, so the order — and therefore
the majority — is reproducible; to prefer the greedy answer in a tie, put it first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np


def answer_counts(answers: Sequence[str]) -> Counter[str]:
    """Counts per distinct answer, in first-occurrence order (Counter keeps insertion order).

    >>> list(answer_counts(["b", "a", "b"]).items())
    [('b', 2), ('a', 1)]
    """
    if len(answers) == 0:
        raise ValueError("need at least one answer")
    return Counter(answers)


def self_consistency(answers: Sequence[str]) -> tuple[float, str]:
    """`(share, majority)`: the most frequent answer's share of the K answers, and that answer.

    Ties go to the answer seen first (see module docstring). Range: 1/K (all distinct) to 1.

    >>> self_consistency(["yes", "no", "yes", "yes"])
    (0.75, 'yes')
    >>> self_consistency(["b", "a", "a", "b"])
    (0.5, 'b')
    """
    counts = answer_counts(answers)
    # max() returns the first maximal item, and the Counter iterates in first-occurrence order.
    majority, top = max(counts.items(), key=lambda item: item[1])
    return top / len(answers), majority


def distinct_answers(answers: Sequence[str]) -> int:
    """Number of different answers among the K.

    >>> distinct_answers(["3", "3", "4"])
    2
    """
    return len(answer_counts(answers))


def answer_entropy(answers: Sequence[str]) -> float:
    """Entropy (nats) of the empirical answer distribution: 0 if unanimous, ln K if all differ.

    >>> answer_entropy(["a", "a"])
    0.0
    >>> round(answer_entropy(["a", "b", "c", "d"]), 6) == round(float(np.log(4)), 6)
    True
    """
    counts = np.fromiter(answer_counts(answers).values(), dtype=np.float64)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0


def majority_correct(majority: str, correct_fn: Callable[[str], bool]) -> bool:
    """Whether the majority answer is correct under the task's scorer `correct_fn`.

    >>> majority_correct("yes", lambda a: a == "yes")
    True
    """
    return bool(correct_fn(majority))


def consistency_signals(answers: Sequence[str]) -> dict[str, float | int | str]:
    """All signals of this module for one item, as a flat record.

    >>> consistency_signals(["a", "a", "b", "a"])["sc_majority"]
    'a'
    """
    share, majority = self_consistency(answers)
    return {
        "sc_share": share,
        "sc_majority": majority,
        "sc_distinct": distinct_answers(answers),
        "sc_entropy": answer_entropy(answers),
        "sc_k": len(answers),
    }
