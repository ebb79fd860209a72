"""Scoring a landslide map against a reference inventory (no QGIS): the entry point.

Both maps, each a mask raster or a polygon layer, are brought onto one scoring grid
(:mod:`.scoring_grid`) as object-id rasters (:mod:`.object_rasters`); one streaming pass
(:mod:`.scoring_pass`) feeds the one scorer (:mod:`.metrics`), the probability's histograms
(:mod:`.probability_tally`) and the error raster; the vector layers (:mod:`.output_layers`)
and the HTML report (:mod:`.report`) are then published all together or not at all.
Scores use the scorer's keys; errors carry facts (:class:`EvaluationError`, its problems
named here too), which an adapter words in its own terms.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from osgeo import gdal

from ..engine.progress import SILENT, Progress
from ..errors import (
    EXTENT_OUTSIDE,
    NO_CRS,
    NO_OVERLAP,
    NO_SUCH_LAYER,
    NOT_A_MASK,
    NOTHING_SCORED,
    PIXEL_SIZE_NEEDED,
    SAME_MAP,
    UNREADABLE,
    EvaluationError,
)
from ..io.outputs import AtomicOutputs, threshold_made_at
from ..io.readers import Grid
from ..io.vectors import LandslideMap, reprojected_features
from .metrics import MAP_KEYS, Scorecard
from .object_rasters import ObjectRaster, rasterize
from .output_layers import object_rows, write_errors, write_objects, write_points
from .probability_tally import ProbabilityTally
from .report import ReportObject, html_report
from .request import EvaluationOutputs, EvaluationRequest
from .scoring_grid import crop_to_extent, overlaps_grid, scoring_grid
from .scoring_pass import ScoringRasters, score_points, score_strips

gdal.UseExceptions()

# what adapters use: every problem an evaluation can raise is named here (some are raised
# in io.vectors), so that they word each as scoring.X
__all__ = [
    "EvaluationError", "EvaluationOutputs", "EvaluationRequest", "EvaluationResult", "LandslideMap",
    "check_maps", "evaluate_maps",
    "EXTENT_OUTSIDE", "NO_CRS", "NO_OVERLAP", "NO_SUCH_LAYER", "NOT_A_MASK", "NOTHING_SCORED", "PIXEL_SIZE_NEEDED",
    "SAME_MAP", "UNREADABLE",
]


@dataclass
class EvaluationResult:
    scores: dict  # the one scorer's keys (metrics.MAP_KEYS): pixel scores and counts, objects
    points_hit: int | None  # None: no point inventory given
    points_missed: int | None
    alignment: str
    grid: Grid


def evaluate_maps(request: EvaluationRequest, progress: Progress = SILENT) -> EvaluationResult:
    """Score the request's prediction against its reference and write the requested outputs.

    With a probability raster (the one the map was thresholded from), the report adds
    precision, recall and F1 across thresholds and the false alarms' mean probability.

    A reference object counts as detected when predicted pixels cover at least
    ``min_coverage`` of its scored pixels (0: any overlap); a predicted object is a false
    alarm when it touches no reference pixel. A point of the inventory is hit when a
    predicted pixel lies within ``point_tolerance`` pixels of it. Pixels that are nodata
    in either raster, outside the area polygons or outside the extent are not scored.
    Outputs are published all together or not at all.
    """
    prediction, reference, outputs = request.prediction, request.reference, request.outputs
    check_maps(prediction, reference)
    threshold = _threshold_of(request)
    scratch = Path(tempfile.mkdtemp(prefix="landslide-evaluate-"))
    try:
        grid, alignment = _grid_of(request)
        predicted = ObjectRaster.build(prediction, grid, scratch / "prediction", "prediction", progress.part(0.0, 0.2))
        progress(0.2)
        referenced = ObjectRaster.build(reference, grid, scratch / "reference", "reference", progress.part(0.2, 0.4))
        progress(0.4)
        alignment = " ".join([alignment, predicted.how, referenced.how])
        area_path = None
        if request.area is not None:
            area_path = str(scratch / "area.tif")
            rasterize(reprojected_features(request.area, grid.crs_wkt, "area")[0], grid, area_path, gdal.GDT_Byte,
                      burn=1)
            alignment += " Only pixels inside the area polygons are scored."
        errors_path = str(scratch / "errors.tif")
        rasters = ScoringRasters(predicted, referenced, area_path)
        probability_tally = None
        if request.probability is not None and outputs.report:
            probability_tally = ProbabilityTally(request.probability, grid, scratch, predicted.count)
        tally = score_strips(rasters, predicted, referenced, grid, errors_path, progress.part(0.4, 0.8),
                             probability_tally)
        ref_status, pred_status = tally.reference_status(request.min_coverage), tally.predicted_status()
        point_rows = None
        if request.points is not None:
            point_rows = score_points(request.points, grid, rasters, request.point_tolerance)
        curve, object_means = probability_tally.results(threshold) if probability_tally is not None else (None, None)
        del probability_tally  # closes the warped probability before the scratch folder goes
        del rasters  # closes the scoring rasters before the scratch folder goes
        result = EvaluationResult(
            scores=Scorecard().add(tally.outcome(request.min_coverage)).scores(keys=MAP_KEYS),
            points_hit=None if point_rows is None else sum(r[1] == "hit" for r in point_rows),
            points_missed=None if point_rows is None else sum(r[1] == "missed" for r in point_rows),
            alignment=alignment, grid=grid,
        )
        if result.scores["tp"] + result.scores["fp"] + result.scores["fn"] + result.scores["tn"] == 0:
            raise EvaluationError(NOTHING_SCORED)
        with AtomicOutputs() as atomic:
            progress.check()
            objects = object_rows(grid, predicted, referenced, tally, ref_status, pred_status)
            if outputs.objects:
                write_objects(atomic.temporary(outputs.objects), grid, objects)
            progress(0.85)
            if outputs.errors:
                write_errors(errors_path, atomic.temporary(outputs.errors), grid, progress)
            progress(0.95)
            if outputs.points and point_rows is not None:
                write_points(atomic.temporary(outputs.points), grid, point_rows)
            if outputs.report:
                shown = _report_objects(objects, object_means)
                page = html_report(request, result, objects=shown, curve=curve)
                Path(atomic.temporary(outputs.report)).write_text(page, encoding="utf-8")
            progress.check()
            atomic.commit()
        progress(1.0)
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def check_maps(prediction: LandslideMap, reference: LandslideMap) -> None:
    """Refuse what would score nonsense: an image instead of a mask (every pixel > 0 would
    be landslide: F1 1.000 for an image against itself), or one map against itself."""
    if (Path(prediction.path).resolve(), prediction.layer) == (Path(reference.path).resolve(), reference.layer):
        raise EvaluationError(SAME_MAP)
    for name, candidate in (("prediction", prediction), ("reference", reference)):
        if candidate.is_raster:
            bands = gdal.Open(candidate.path).RasterCount
            if bands != 1:
                raise EvaluationError(NOT_A_MASK, name, Path(candidate.path).name, bands=bands)


def _threshold_of(request: EvaluationRequest) -> float:
    """The threshold the report marks: the one given, else the one Detect recorded in the
    probability or the mask raster, else 0.5."""
    if request.threshold is not None:
        return request.threshold
    recorded = [threshold_made_at(path) for path in (request.probability, request.prediction.path
                                                     if request.prediction.is_raster else None) if path]
    return next((t for t in recorded if t is not None), 0.5)


def _grid_of(request: EvaluationRequest) -> tuple[Grid, str]:
    """The scoring grid, cropped to the request's extent, that both maps meet; and the sentence
    that says so."""
    grid, alignment = scoring_grid(request.prediction, request.reference, request.pixel_size)
    if request.extent is not None:
        grid = crop_to_extent(grid, request.extent)
        alignment += " Scores are limited to the given extent."
    for name, source in (("prediction", request.prediction), ("reference", request.reference)):
        if not overlaps_grid(source, grid, name):
            raise EvaluationError(NO_OVERLAP, name)
    return grid, alignment


def _report_objects(objects: list, object_means: list | None) -> list[ReportObject]:
    """The objects as the report draws and lists them; a predicted one with its mean probability."""
    return [ReportObject(attrs["map"], attrs["status"], attrs["area_m2"] or 0.0, geometry,
                         None if object_means is None or attrs["map"] != "prediction" else object_means[attrs["obj"]])
            for geometry, attrs in objects]
