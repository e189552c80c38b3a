"""`BenchmarkTask`: a benchmark's rows from `--data` (or the hub) as samples, plus its metrics."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from vrprobe.tasks.base import Sample, SampleError
from vrprobe.tasks.benchmarks.sources import (
    DataNotFound,
    Rows,
    hub_rows,
    local_rows,
    looks_like_hub_id,
    offline,
)
from vrprobe.tasks.benchmarks.spec import Benchmark, RowContext


class BenchmarkTask:
    """A published benchmark read from a local copy or the hub; validated on construction.

    `split` "test" (the CLI default) means the benchmark's evaluation split (MathVista
    `testmini`, MMMU `validation`, ...); any other value is used as given.
    """

    def __init__(self, bench: Benchmark, data: str | None = None, split: str = "test"):
        self.bench = bench
        self.name = bench.name
        self.answer_kind = bench.answer_kind
        self.split = bench.split if split == "test" else split
        self.hub_id: str | None = None
        self.path: Path | None = None
        if data is None or (looks_like_hub_id(data) and not Path(data).expanduser().exists()):
            self.hub_id = data or bench.hub_id
            if self.hub_id is None:
                raise DataNotFound(f"--data: {bench.name} has no hub copy; pass --data PATH")
            if offline():
                raise DataNotFound(
                    f"--data: {bench.name} needs a local copy (the hub is offline); pass "
                    f"--data PATH, or go online to load {self.hub_id}"
                )
        else:
            self.path = Path(data).expanduser()
            self._local()  # fails now, naming --data, if the layout is not readable

    def _local(self) -> tuple[Rows, Path]:
        assert self.path is not None
        if self.path.is_dir() and self.bench.folder_rows is not None:
            walked = self.bench.folder_rows(self.path)
            if walked is not None:
                return walked, self.path
        return local_rows(self.path, self.split)

    def _rows(self) -> tuple[Rows, Path]:
        if self.hub_id is not None:
            return hub_rows(self.hub_id, self.bench.hub_config, self.split), Path.cwd()
        return self._local()

    def samples(self, limit: int | None = None) -> Iterator[Sample | SampleError]:
        rows, base = self._rows()
        ctx = RowContext(base=base, split=self.split, source=str(self.path or self.hub_id))
        seen: set[str] = set()
        for count, (fallback_id, raw) in enumerate(rows):
            if limit is not None and count >= limit:
                return
            if isinstance(raw, SampleError):
                yield raw
                continue
            if not isinstance(raw, dict):
                yield SampleError(fallback_id, f"row is {type(raw).__name__}, expected an object")
                continue
            try:
                sample = self.bench.convert(raw, ctx)
            except SampleError as err:
                yield err
                continue
            except (KeyError, ValueError, TypeError, SyntaxError) as exc:
                yield SampleError(fallback_id, f"{type(exc).__name__}: {exc}")
                continue
            if sample.id in seen:
                yield SampleError(f"{sample.id}@{fallback_id}", f"duplicate id {sample.id!r}")
                continue
            seen.add(sample.id)
            yield sample

    def native_metrics(self, records: Sequence[dict], limit: int | None = None) -> dict[str, Any]:
        """The benchmark's own numbers over the answered records (errors left out)."""
        by_id = {s.id: s for s in self.samples(limit) if isinstance(s, Sample)}
        pairs = [
            (by_id[r["sample_id"]], r)
            for r in records
            if r.get("error") is None and r.get("sample_id") in by_id
        ]
        return self.bench.metrics(pairs) if pairs else {}
