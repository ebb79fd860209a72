"""What the report shows of the probability a map was thresholded from: precision,
recall and F1 across thresholds, and each predicted object's mean probability.

Both come from histograms accumulated by the scoring pass (200 bins over 0-1), so the
probability raster is read once, strip by strip, whatever its size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from osgeo import gdal

from ..errors import NO_CRS, EvaluationError
from ..io.readers import Grid
from .report import ThresholdCurve, curve_from_histograms

gdal.UseExceptions()


class ProbabilityTally:
    """Histograms of the probability over reference landslide and other scored pixels (the
    curve across thresholds) and each predicted object's summed probability, accumulated by
    the scoring pass from the probability warped (nearest) onto the scoring grid."""

    EDGES = np.linspace(0.0, 1.0, 201)

    def __init__(self, probability: str, grid: Grid, scratch: Path, predicted_count: int):
        source = gdal.Open(probability)
        if source is None or not source.GetProjection():
            raise EvaluationError(NO_CRS, "probability", Path(probability).name)
        xmin, ymin, xmax, ymax = grid.bounds
        self.dataset = gdal.Warp(str(scratch / "probability.vrt"), source, options=gdal.WarpOptions(
            format="VRT", outputBounds=(xmin, ymin, xmax, ymax), width=grid.width, height=grid.height,
            dstSRS=grid.crs_wkt, resampleAlg="near", dstNodata=-9999.0, outputType=gdal.GDT_Float32))
        self.landslide, self.other = np.zeros(200, np.int64), np.zeros(200, np.int64)
        self.sums, self.counts = np.zeros(predicted_count + 1), np.zeros(predicted_count + 1)

    def add(self, row0: int, pred_ids, ref_ids, scored) -> None:
        values = self.dataset.GetRasterBand(1).ReadAsArray(0, row0, pred_ids.shape[1], pred_ids.shape[0])
        scored = scored & (values >= 0) & (values <= 1)
        self.landslide += np.histogram(values[scored & (ref_ids > 0)], self.EDGES)[0]
        self.other += np.histogram(values[scored & (ref_ids == 0)], self.EDGES)[0]
        self.sums += np.bincount(pred_ids[scored], weights=values[scored], minlength=len(self.sums))
        self.counts += np.bincount(pred_ids[scored], minlength=len(self.counts))

    def results(self, threshold: float) -> tuple[ThresholdCurve, list]:
        """(the curve, each predicted object's mean probability or None), by object id."""
        means = [float(t / n) if n else None for t, n in zip(self.sums, self.counts)]
        return curve_from_histograms(self.landslide, self.other, self.EDGES, threshold), means
