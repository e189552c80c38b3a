"""Model-space interventions (issue 7B): zero hidden dimensions, ablate attention heads, swap
decoder layers from another checkpoint, patch hidden states from a counterfactual input.

Every intervention is a context manager that restores the model exactly on exit (also when the
body raises): ``ablate``, ``swap``, ``patching``. ``vrprobe intervene`` sweeps them over a run's
samples: ``settings`` (names, parsing, sweeps), ``ranking`` (dims layer and ranking),
``plan`` (everything checked before loading) and ``run`` (execution). docs/interventions.md.
"""
