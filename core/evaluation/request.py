"""What Evaluate is asked to score, and where its outputs go, as plain values.

The QGIS algorithm and any script build an :class:`EvaluationRequest`;
:func:`core.evaluation.scoring.evaluate_maps` scores it the same for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..io.vectors import LandslideMap


@dataclass(frozen=True)
class EvaluationOutputs:
    """Where each output goes; None: not written."""

    objects: str | None = None  # per-object results (reference and predicted objects)
    errors: str | None = None  # false-positive / false-negative polygons
    points: str | None = None  # per-point results, when a point inventory is given
    report: str | None = None  # HTML report


@dataclass(frozen=True, kw_only=True)
class EvaluationRequest:
    """Every Evaluate option as a plain value, each given by its name: the two maps are of
    one type, and swapped by position they would score the inventory against the map."""

    prediction: LandslideMap  # the map scored
    reference: LandslideMap  # the inventory it is scored against
    outputs: EvaluationOutputs = EvaluationOutputs()  # none: the scores only
    points: LandslideMap | None = None  # one point per known landslide, as agencies often have
    area: LandslideMap | None = None  # polygons: only pixels inside are scored
    extent: tuple[float, float, float, float, str] | None = None  # xmin, ymin, xmax, ymax, CRS WKT: only inside
    # a reference object is detected when predicted pixels cover this share of its scored pixels (0: any overlap)
    min_coverage: float = 0.0
    point_tolerance: int = 0  # a point is hit when a predicted pixel lies within this many pixels of it
    pixel_size: float | None = None  # the grid's pixel, when both maps are polygon layers (prediction's CRS units)
    probability: str | None = None  # the raster the map was thresholded from: the report adds scores across thresholds
    threshold: float | None = None  # what it was thresholded at; None: what Detect recorded in the rasters, else 0.5
