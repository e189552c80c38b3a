from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from vrprobe.store.shards import read_shards, write_shard


def test_a_named_shard_written_twice_is_replaced_not_duplicated(tmp_path):
    write_shard(tmp_path, [{"item_key": "a", "error": None, "v": 1}], name="shard-ab.parquet")
    write_shard(tmp_path, [{"item_key": "a", "error": None, "v": 2}], name="shard-ab.parquet")
    assert [p.name for p in tmp_path.iterdir()] == ["shard-ab.parquet"]
    assert pq.read_table(tmp_path / "shard-ab.parquet").column("v").to_pylist() == [2]
    assert read_shards(tmp_path).num_rows == 1


def test_shard_names_outside_the_glob_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"must look like shard-"):
        write_shard(tmp_path, [{"item_key": "a"}], name="records.parquet")
