"""Model-space interventions (issue 7B): zero hidden dimensions, ablate attention heads, swap
decoder layers from another checkpoint, patch hidden states from a counterfactual input.

Every intervention is a context manager that restores the model exactly on exit (also when the
body raises). The sweeps over settings and a `vrprobe intervene` command are not built yet
(issue 7). docs/interventions.md.
"""
