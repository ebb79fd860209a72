"""A small, interpretable false-alarm filter for detected objects.

Each object Detect draws already has an area, a perimeter and the mean and peak of its
probability. Fresh scars are compact, sizeable and confidently predicted throughout;
false alarms on fields, roads and roofs are more often small, elongated or only weakly
predicted. A logistic model over four such features, fitted on *validation* objects
(never the test images), gives each object a score; objects under the spec's cut are
moved aside as likely false alarms, never silently deleted.

The filter lives in the model's spec (``object_filter``), so it travels with the model it
was fitted for. The features are computed by one function for both sides: from a
polygon's attributes in Detect, and from a labelled raster when fitting and benchmarking
(:mod:`core.evaluation.filter_fitting`, which only training and the benchmarks use).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..errors import SpecError

FEATURES = ("log10_area_m2", "mean_prob", "max_prob", "compactness")


def feature_vector(area_m2: float, perimeter_m: float, mean_prob: float, max_prob: float) -> np.ndarray:
    """The filter's features of one object (compactness: 4 pi area / perimeter², 1 for a disc)."""
    compactness = 4 * math.pi * area_m2 / perimeter_m**2 if perimeter_m > 0 else 0.0
    return np.array([math.log10(max(area_m2, 1e-6)), mean_prob, max_prob, compactness])


@dataclass(frozen=True)
class ObjectFilter:
    mean: tuple[float, ...]
    std: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    cut: float
    note: str = ""

    def score(self, features: np.ndarray) -> np.ndarray:
        """Probability that objects (rows of ``features``) are true landslides."""
        z = (np.atleast_2d(features) - np.array(self.mean)) / np.array(self.std)
        return 1.0 / (1.0 + np.exp(-(z @ np.array(self.weights) + self.bias)))

    def keeps(self, area_m2: float, perimeter_m: float, mean_prob: float, max_prob: float) -> tuple[bool, float]:
        """(kept, score) of one object from its polygon attributes."""
        if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (mean_prob, max_prob)):
            return True, float("nan")  # nothing to judge by: keep it
        s = float(self.score(feature_vector(area_m2, perimeter_m, mean_prob, max_prob))[0])
        return s >= self.cut, s

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(FEATURES), "mean": list(self.mean), "std": list(self.std),
                "weights": list(self.weights), "bias": self.bias, "cut": self.cut, "note": self.note}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "model") -> "ObjectFilter":
        """The filter a spec's ``object_filter`` describes; a malformed one names what is wrong."""
        try:
            if list(data["features"]) != list(FEATURES):
                raise SpecError(f"{source}: object_filter.features must be {list(FEATURES)}")
            n = len(FEATURES)
            values = {k: tuple(float(v) for v in data[k]) for k in ("mean", "std", "weights")}
            if any(len(v) != n for v in values.values()):
                raise SpecError(f"{source}: object_filter mean, std and weights need {n} numbers each")
            return cls(values["mean"], values["std"], values["weights"], float(data["bias"]), float(data["cut"]),
                       str(data.get("note", "")))
        except (KeyError, TypeError, ValueError) as err:
            if isinstance(err, SpecError):
                raise
            raise SpecError(f"{source}: object_filter is malformed ({err!r}); it needs features, mean, std, "
                            "weights, bias and cut") from None
