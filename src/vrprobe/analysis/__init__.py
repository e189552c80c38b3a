"""Statistics relating signals to correctness. Never imports torch."""
