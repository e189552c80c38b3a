"""Signals: pure numpy functions over captured arrays. Never imports torch."""
