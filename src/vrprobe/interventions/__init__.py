"""Model-space interventions (issue 7B): zero hidden dimensions, ablate attention heads, swap
decoder layers from another checkpoint, patch hidden states from a counterfactual input.

Every intervention is a context manager that restores the model exactly on exit (also when the
body raises); `sweep.py` lists the settings of a curve and `run.py` answers a finished run's
samples under each of them (`vrprobe intervene`). docs/interventions.md.
"""
