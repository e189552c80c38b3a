"""Capture of model internals during generation (attention rows, hidden taps, logit stats)."""
