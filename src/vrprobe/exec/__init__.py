"""Executors that turn work items into records."""
