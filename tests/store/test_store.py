from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vrprobe.store.run import MANIFEST, RunFolderMismatch, RunStore
from vrprobe.store.shards import read_shards, records_to_table, write_shard


def rec(key, error=None, **kw):
    return {"item_key": key, "error": error, **kw}


def test_arrays_become_float32_lists_and_round_trip(tmp_path):
    m = np.arange(6, dtype=np.float64).reshape(2, 3)
    write_shard(tmp_path, [rec("a", maps=m, v=np.ones(3)), rec("b")])
    table = read_shards(tmp_path)
    assert table.schema.field("maps").type.value_type.value_type == pa.float32()
    got = table.column("maps").to_pylist()
    assert np.array_equal(np.array(got[0]), m) and got[1] is None


def test_no_temporary_file_is_left_and_strays_are_swept(tmp_path):
    write_shard(tmp_path, [rec("a")])
    assert [p.suffix for p in tmp_path.iterdir()] == [".parquet"]
    (tmp_path / "shard-x.parquet.tmp").write_bytes(b"half a file")
    store = RunStore.open(tmp_path.parent / tmp_path.name, {"fingerprint": "f"})
    assert not list(store.root.glob("*.tmp"))


def test_records_dir_strays_are_swept_and_never_read(tmp_path):
    store = RunStore.open(tmp_path, {"fingerprint": "f"})
    store.add(rec("a"))
    store.flush()
    (store.records_dir / "shard-half.parquet.tmp").write_bytes(b"PAR1 half")
    assert store.done_keys() == {"a"}
    RunStore.open(tmp_path, {"fingerprint": "f"})
    assert not list(store.records_dir.glob("*.tmp"))


def test_duplicate_keys_prefer_success_then_first(tmp_path):
    write_shard(tmp_path, [rec("a", error="boom", v=1), rec("b", v=1)])
    write_shard(tmp_path, [rec("a", v=2), rec("b", v=2)])
    table = read_shards(tmp_path)
    rows = {r["item_key"]: r for r in table.to_pylist()}
    assert table.num_rows == 2
    assert rows["a"]["v"] == 2 and rows["a"]["error"] is None
    assert rows["b"]["v"] == 1


def test_shards_with_different_columns_combine(tmp_path):
    write_shard(tmp_path, [rec("a", x=1)])
    write_shard(tmp_path, [rec("b", y="z")])
    table = read_shards(tmp_path)
    assert set(table.column_names) >= {"x", "y"} and table.num_rows == 2


def test_buffer_flushes_by_count(tmp_path):
    store = RunStore.open(tmp_path, {"fingerprint": "f"}, flush_every=3, flush_seconds=1e9)
    for i in range(7):
        store.add(rec(str(i)))
    assert len(list(store.records_dir.glob("*.parquet"))) == 2
    assert store.done_keys() == {str(i) for i in range(6)}
    store.flush()
    assert store.done_keys() == {str(i) for i in range(7)}


def test_error_keys(tmp_path):
    store = RunStore.open(tmp_path, {"fingerprint": "f"})
    store.add(rec("a", error="bad"))
    store.add(rec("b"))
    store.flush()
    assert store.error_keys() == {"a"}


def test_resume_keeps_manifest_and_counts_sessions(tmp_path):
    RunStore.open(tmp_path, {"fingerprint": "f", "config": {"x": 1}})
    store = RunStore.open(tmp_path, {"fingerprint": "f", "config": {"x": 1}})
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert len(manifest["sessions"]) == 2 and manifest == store.manifest


def test_other_configuration_is_refused(tmp_path):
    RunStore.open(tmp_path, {"fingerprint": "f"})
    with pytest.raises(RunFolderMismatch, match="another configuration"):
        RunStore.open(tmp_path, {"fingerprint": "g"})


def test_table_conversion_fills_missing_columns():
    table = records_to_table([{"a": 1}, {"b": "x"}])
    assert table.column("a").to_pylist() == [1, None]
    assert table.column("b").to_pylist() == [None, "x"]


def test_written_shard_is_plain_parquet(tmp_path):
    path = write_shard(tmp_path, [rec("a", q="what")])
    assert pq.read_table(path).column("q").to_pylist() == ["what"]


def test_requested_columns_missing_from_a_shard_come_back_null(tmp_path):
    write_shard(tmp_path, [rec("a", error="bad")])
    write_shard(tmp_path, [rec("b", hidden=np.ones((2, 3)))])
    table = read_shards(tmp_path, columns=["item_key", "hidden"])
    assert table.column_names == ["item_key", "error", "hidden"]  # key and error always come
    rows = {r["item_key"]: r["hidden"] for r in table.to_pylist()}
    assert rows["a"] is None and np.array(rows["b"]).shape == (2, 3)
