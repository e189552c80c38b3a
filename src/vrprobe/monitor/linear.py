"""A fitted StandardScaler + LogisticRegression as plain arrays (no pickles).

scikit-learn fits the model; this keeps only the numbers needed to apply it (feature means and
scales, coefficients, intercept), so a calibration is a JSON/safetensors file that loads
without the code that wrote it. :meth:`LinearScorer.proba` equals the pipeline's
``predict_proba(X)[:, 1]``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline

from vrprobe.analysis.probes import make_probe


@dataclass(frozen=True, eq=False)
class LinearScorer:
    """``P(y=1 | x) = expit(((x - mean) / scale) · coef + intercept)``."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def __post_init__(self) -> None:
        names = ("mean", "scale", "coef")
        arrays = {k: np.array(getattr(self, k), dtype=np.float64) for k in names}
        shapes = {a.shape for a in arrays.values()}
        if len(shapes) != 1 or len(next(iter(shapes))) != 1:
            raise ValueError(f"mean, scale and coef must be 1-D of one length, got {shapes}")
        if not (np.isfinite(arrays["scale"]).all() and (arrays["scale"] > 0).all()):
            raise ValueError(f"scale must be positive and finite, got {arrays['scale'].tolist()}")
        for name, values in arrays.items():  # read-only copies: the one-row terms stay true
            values.flags.writeable = False
            object.__setattr__(self, name, values)
        terms = zip(*(a.tolist() for a in arrays.values()), strict=True)
        object.__setattr__(self, "_terms", tuple(terms))

    @classmethod
    def from_pipeline(cls, pipe: Pipeline) -> LinearScorer:
        """The numbers of a fitted ``make_pipeline(StandardScaler(), LogisticRegression())``."""
        scaler, clf = pipe[0], pipe[-1]
        if clf.classes_.tolist() != [0, 1]:
            raise ValueError(f"expected classes [0, 1], got {clf.classes_.tolist()}")
        return cls(
            np.asarray(scaler.mean_, dtype=np.float64),
            np.asarray(scaler.scale_, dtype=np.float64),
            np.asarray(clf.coef_[0], dtype=np.float64),
            float(clf.intercept_[0]),
        )

    def logit(self, x: ArrayLike) -> np.ndarray:
        """Decision value per row of ``x`` (n, d), or a scalar array for one (d,) row."""
        a = np.asarray(x, dtype=np.float64)
        if a.shape[-1] != self.coef.size:
            raise ValueError(f"expected {self.coef.size} features, got shape {a.shape}")
        return ((a - self.mean) / self.scale) @ self.coef + self.intercept

    def proba(self, x: ArrayLike) -> np.ndarray:
        """P(y = 1) per row.

        >>> s = LinearScorer(np.zeros(1), np.ones(1), np.array([2.0]), 0.0)
        >>> s.proba([[0.0], [10.0]]).round(3).tolist()
        [0.5, 1.0]
        """
        return expit(self.logit(x))

    def proba_one(self, x: Sequence[float]) -> float:
        """P(y = 1) of one row in Python floats: :meth:`proba` without numpy's per-call
        overhead (the live monitor scores one answer per check).

        >>> s = LinearScorer(np.zeros(2), np.ones(2), np.array([2.0, -1.0]), 0.5)
        >>> round(s.proba_one([1.0, 3.0]), 12) == round(float(s.proba([1.0, 3.0])), 12)
        True
        """
        terms: tuple[tuple[float, float, float], ...] = self._terms  # type: ignore[attr-defined]
        if len(x) != len(terms):
            raise ValueError(f"expected {len(terms)} features, got {len(x)}")
        pairs = zip(x, terms, strict=True)
        return logistic(self.intercept + sum((v - m) / s * c for v, (m, s, c) in pairs))

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """Named arrays for safetensors."""
        return {
            f"{prefix}.mean": self.mean,
            f"{prefix}.scale": self.scale,
            f"{prefix}.coef": self.coef,
            f"{prefix}.intercept": np.array([self.intercept]),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> LinearScorer:
        """Inverse of :meth:`to_arrays`; a missing array is a clear ``KeyError``."""
        try:
            parts = [np.asarray(arrays[f"{prefix}.{k}"], np.float64) for k in ("mean", "scale")]
            coef = np.asarray(arrays[f"{prefix}.coef"], np.float64)
            intercept = float(np.asarray(arrays[f"{prefix}.intercept"]).reshape(-1)[0])
        except KeyError as exc:
            raise KeyError(f"calibration arrays lack {exc.args[0]!r}") from None
        return cls(parts[0], parts[1], coef, intercept)

    def to_json(self) -> dict:
        """Plain lists for a JSON file."""
        return {
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
        }

    @classmethod
    def from_json(cls, d: dict) -> LinearScorer:
        """Inverse of :meth:`to_json`."""
        return cls(
            *(np.asarray(d[k], np.float64) for k in ("mean", "scale", "coef")),
            float(d["intercept"]),
        )


def logistic(z: float) -> float:
    """``1 / (1 + exp(-z))`` of a float, without overflow (scipy's ``expit`` for one value).

    >>> logistic(0.0), logistic(-1000.0), logistic(1000.0)
    (0.5, 0.0, 1.0)
    """
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def fit_logistic(x: ArrayLike, y: ArrayLike) -> tuple[Pipeline, LinearScorer]:
    """Fit the analysis' logistic probe (StandardScaler + LogisticRegression,
    :func:`~vrprobe.analysis.probes.make_probe`) on (n, d) ``x`` and 0/1 ``y``."""
    pipe = make_probe("logistic")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=int))
    return pipe, LinearScorer.from_pipeline(pipe)
