"""Published benchmarks in their real formats, with their native scoring (SPEC section 5).

`BENCHMARKS` maps a `--task` name to its `Benchmark`; docs/tasks.md lists each one's local
layout and scoring protocol.
"""

from __future__ import annotations

from vrprobe.tasks.benchmarks.hallusionbench import HALLUSIONBENCH
from vrprobe.tasks.benchmarks.hrbench import HRBENCH
from vrprobe.tasks.benchmarks.mathvista import MATHVISTA
from vrprobe.tasks.benchmarks.mmmu import MMMU, MMMU_PRO, MMMU_PRO_VISION
from vrprobe.tasks.benchmarks.pope import POPE, REPOPE
from vrprobe.tasks.benchmarks.spec import Benchmark
from vrprobe.tasks.benchmarks.visualcot import VISUALCOT
from vrprobe.tasks.benchmarks.vstar import VSTAR

BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        POPE,
        REPOPE,
        HALLUSIONBENCH,
        MATHVISTA,
        MMMU,
        MMMU_PRO,
        MMMU_PRO_VISION,
        VSTAR,
        HRBENCH,
        *VISUALCOT,
    )
}
