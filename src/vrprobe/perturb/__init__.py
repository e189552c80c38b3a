"""Image-space perturbations (SPEC §1, §3, §4): blur schedule, blank image, top-attended patch
masking, evidence highlighting. ``registry`` (no torch) names them and parses ``--perturb``;
``blur``, ``masking`` and ``highlight`` hold the operations; ``profile`` the highlight layer
profile stored in the run folder. ``vrprobe.exec.perturbed`` applies them to a work item.
"""
