"""A run folder: `manifest.json`, `records/` shards, and resume by item key.

Records are buffered and flushed as a shard every `flush_every` records or `flush_seconds`
seconds, whichever comes first, so an interrupted run loses at most that much work, and never
leaves a half-written file. Re-opening the folder with the same configuration fingerprint
resumes it; a different fingerprint is refused (it would mix incomparable records).
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from vrprobe.store.shards import read_shards, sweep_temporaries, write_shard

MANIFEST = "manifest.json"


class RunFolderMismatch(ValueError):
    """The folder holds a run made with another configuration."""


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON through a temporary file and a rename, so readers never see half of it."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)


class RunStore:
    """Append-only record store of one run folder."""

    def __init__(self, root: Path, *, flush_every: int = 32, flush_seconds: float = 20.0):
        self.root = Path(root)
        self.records_dir = self.root / "records"
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self._buffer: list[dict] = []
        self._last_flush = time.monotonic()

    @classmethod
    def open(cls, root: Path, manifest: dict, **kwargs: Any) -> RunStore:
        """Create or resume the run at `root`; `manifest["fingerprint"]` must match on resume."""
        store = cls(root, **kwargs)
        store.root.mkdir(parents=True, exist_ok=True)
        sweep_temporaries(store.records_dir)
        sweep_temporaries(store.root)
        path = store.root / MANIFEST
        now = datetime.now(UTC).isoformat()
        if path.exists():
            old = json.loads(path.read_text())
            if old.get("fingerprint") != manifest.get("fingerprint"):
                raise RunFolderMismatch(
                    f"{store.root} holds a run with another configuration "
                    f"(fingerprint {old.get('fingerprint')} vs {manifest.get('fingerprint')}); "
                    "choose another --out or repeat the original settings to resume it"
                )
            sessions = [*old.get("sessions", []), now]
            manifest = {**old, **manifest, "created": old.get("created", now)}
        else:
            sessions = [now]
            manifest = {**manifest, "created": now}
        write_json_atomic(path, {**manifest, "sessions": sessions})
        return store

    @property
    def manifest(self) -> dict:
        return json.loads((self.root / MANIFEST).read_text())

    def update_manifest(self, **fields: Any) -> None:
        write_json_atomic(self.root / MANIFEST, {**self.manifest, **fields})

    def done_keys(self) -> set[str]:
        """Keys of every stored record (errors included: they are final unless retried)."""
        table = read_shards(self.records_dir, columns=["item_key", "error"])
        return set(table.column("item_key").to_pylist())

    def error_keys(self) -> set[str]:
        """Keys whose stored record is an error (after preferring successes on duplicates)."""
        table = read_shards(self.records_dir, columns=["item_key", "error"])
        if "error" not in table.column_names:
            return set()
        keys = table.column("item_key").to_pylist()
        errs = table.column("error").to_pylist()
        return {k for k, e in zip(keys, errs, strict=True) if e is not None}

    def add(self, record: dict) -> None:
        self._buffer.append(record)
        due = time.monotonic() - self._last_flush >= self.flush_seconds
        if len(self._buffer) >= self.flush_every or due:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            write_shard(self.records_dir, self._buffer)
            self._buffer = []
        self._last_flush = time.monotonic()

    def read(self) -> pa.Table:
        """Every stored record, one per item key."""
        return read_shards(self.records_dir)
