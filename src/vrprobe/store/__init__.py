"""The run folder: manifest, record shards, resume."""
