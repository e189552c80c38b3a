"""The monitor's hidden-state probe: pick the most predictive (position, layer), fit it.

Per position (last prompt token, last generated-token query) the logistic correctness probe's
stratified 5-fold CV AUROC per layer comes from :func:`vrprobe.analysis.probes.layer_probe_auroc`;
the best (position, layer) wins. The probe is then fit on every record (the live probe), and
its out-of-fold decision values feed the risk model, so the risk model never sees a probe
score fit on its own item.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from vrprobe.analysis.probe_table import _arrays
from vrprobe.analysis.probes import (
    ProbeWarning,
    layer_probe_auroc,
    make_probe,
    most_predictive_layer,
)
from vrprobe.monitor.linear import fit_logistic
from vrprobe.store.shards import read_shards


def fit_probe(run: Path, keys: pd.Series, y: np.ndarray, seed: int, folds: int = 5):
    """(probe info, scorer, out-of-fold logit per record) or (None, None, None)."""
    best = None
    for pos in ("prompt", "last"):
        table = read_shards(
            Path(run) / "records", ["item_key", "correct", "error", f"hidden_{pos}"]
        )
        arrays = _arrays(table, pos)
        if arrays is None:
            continue
        ok = np.asarray(table.column("correct").is_valid()) & np.asarray(
            table.column(f"hidden_{pos}").is_valid()
        )
        if "error" in table.column_names:
            ok &= np.asarray(table.column("error").is_null())
        order = {k: i for i, k in enumerate(np.asarray(table.column("item_key"))[ok].tolist())}
        if not all(k in order for k in keys):
            continue
        hidden = arrays[0][[order[k] for k in keys]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ProbeWarning)
            aurocs = layer_probe_auroc(hidden, y, folds=folds, seed=seed)
        if np.isnan(aurocs).all():
            continue
        layer = most_predictive_layer(aurocs)
        if best is None or aurocs[layer] > best[0]["cv_auroc"]:
            info = {
                "position": pos,
                "layer": layer,
                "cv_auroc": float(aurocs[layer]),
                "layer_aurocs": [None if math.isnan(a) else float(a) for a in aurocs],
            }
            best = (info, hidden[:, layer])
    if best is None:
        return None, None, None
    info, x = best
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        oof = cross_val_predict(
            make_probe("logistic"), x, y.astype(int), cv=cv, method="decision_function"
        )
    _, scorer = fit_logistic(x, y)
    return info, scorer, oof
