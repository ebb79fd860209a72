"""The one streaming pass that scores two object-id rasters, and the inventory points.

Strip by strip over the scoring grid, it feeds the one scorer (:class:`.metrics.ObjectTally`:
the confusion matrix, the method's Eqs. 6-10, each object's covered share), the probability
histograms when a report wants them, and writes the error raster (false positives and
false negatives), in memory that does not grow with the raster.
"""

from __future__ import annotations

import math

import numpy as np
from osgeo import gdal

from ..engine.progress import Progress
from ..io.outputs import GeoTiffWriter
from ..io.readers import Grid
from ..io.vectors import LandslideMap, reprojected_features
from .metrics import ObjectTally
from .object_rasters import STRIP_ROWS, ObjectRaster
from .probability_tally import ProbabilityTally

gdal.UseExceptions()

#: the error raster's codes (0: correct, 255: not scored)
FALSE_POSITIVE, FALSE_NEGATIVE = 1, 2
ERROR_NAMES = {FALSE_POSITIVE: "false positive", FALSE_NEGATIVE: "false negative"}


class ScoringRasters:
    """The rasters a scoring pass reads, opened once: both maps' object ids and where
    pixels are scored (neither map's nodata, inside the area polygons)."""

    def __init__(self, predicted: ObjectRaster, referenced: ObjectRaster, area_path: str | None):
        self.datasets = []  # a band does not keep its dataset alive in these bindings

        def band(path):
            self.datasets.append(gdal.Open(path))
            return self.datasets[-1].GetRasterBand(1)

        self.pred_ids, self.ref_ids = band(predicted.ids), band(referenced.ids)
        self.nodata_masks = [band(p) for p in (predicted.valid, referenced.valid) if p is not None]
        self.area = band(area_path) if area_path is not None else None

    def window(self, col0: int, row0: int, width: int, height: int):
        """(predicted ids, reference ids, scored) over a window of the scoring grid."""
        pred_ids = self.pred_ids.ReadAsArray(col0, row0, width, height)
        ref_ids = self.ref_ids.ReadAsArray(col0, row0, width, height)
        scored = np.ones(pred_ids.shape, bool)
        for mask in self.nodata_masks:
            scored &= mask.ReadAsArray(col0, row0, width, height) != 255
        if self.area is not None:
            scored &= self.area.ReadAsArray(col0, row0, width, height) == 1
        return pred_ids, ref_ids, scored


def score_strips(rasters: ScoringRasters, predicted: ObjectRaster, referenced: ObjectRaster, grid: Grid,
                 errors_path: str, progress: Progress, probability: ProbabilityTally | None = None) -> ObjectTally:
    """One pass over strips: the one scorer's tally, the probability's and the error raster."""
    tally = ObjectTally(predicted.count, referenced.count)
    with GeoTiffWriter(errors_path, grid, np.uint8, 255) as errors:
        for row0 in range(0, grid.height, STRIP_ROWS):
            progress.check()
            rows = min(STRIP_ROWS, grid.height - row0)
            pred_ids, ref_ids, valid = rasters.window(0, row0, grid.width, rows)
            tally.add(pred_ids, ref_ids, valid)
            if probability is not None:
                probability.add(row0, pred_ids, ref_ids, valid)
            pred, ref = pred_ids > 0, ref_ids > 0
            error = np.where(valid, 0, 255).astype(np.uint8)
            error[valid & pred & ~ref] = FALSE_POSITIVE
            error[valid & ref & ~pred] = FALSE_NEGATIVE
            errors.write_rows(row0, error)
            progress((row0 + rows) / grid.height)
    return tally


def score_points(points: LandslideMap, grid: Grid, rasters: ScoringRasters, tolerance: int) -> list[tuple]:
    """(source fid, 'hit' | 'missed' | 'not scored', geometry in the grid CRS) per point."""
    holder, fids, _crs = reprojected_features(points, grid.crs_wkt, "points")
    gt = grid.geotransform
    rows = []
    for feature, fid in zip(holder[1], fids):
        geometry = feature.GetGeometryRef().Clone()
        point = geometry.Centroid()
        col = math.floor((point.GetX() - gt[0]) / gt[1])
        row = math.floor((point.GetY() - gt[3]) / gt[5])
        if not (0 <= col < grid.width and 0 <= row < grid.height):
            rows.append((fid, "not scored", geometry))
            continue
        c0, c1 = max(0, col - tolerance), min(grid.width, col + tolerance + 1)
        r0, r1 = max(0, row - tolerance), min(grid.height, row + tolerance + 1)
        pred_ids, _ref_ids, valid = rasters.window(c0, r0, c1 - c0, r1 - r0)
        if not valid[row - r0, col - c0]:
            rows.append((fid, "not scored", geometry))
            continue
        rows.append((fid, "hit" if bool(((pred_ids > 0) & valid).any()) else "missed", geometry))
    return rows
