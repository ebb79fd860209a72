"""Scoring a landslide map against a reference inventory (no QGIS).

Both maps, each a mask raster or a polygon layer, are brought onto one *scoring grid*:
the prediction raster's grid, else the reference raster's, else (two polygon layers) a
grid of the requested pixel size over both. Every map becomes an object-id raster on
that grid (polygons rasterized at pixel centres, a raster's landslide pixels grouped
into 4-connected objects), so a single streaming pass over strips of rows feeds the one
scorer (:class:`.metrics.ObjectTally`: the confusion matrix, the method's Eqs. 6-10, and
each object's covered share) and writes the map of false positives / false negatives, in
memory that does not grow with the raster. Scores use the scorer's keys; errors carry
facts (:class:`EvaluationError`), which an adapter words in its own terms.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from osgeo import gdal, ogr, osr

from ..engine.progress import SILENT, Progress
from ..errors import EXTENT_OUTSIDE, NO_CRS, NO_OVERLAP, NOT_A_MASK, NOTHING_SCORED, PIXEL_SIZE_NEEDED, SAME_MAP, EvaluationError
from ..errors import NO_SUCH_LAYER, UNREADABLE  # noqa: F401 (raised in io.vectors; adapters name every problem as scoring.X)
from ..evaluation.metrics import MAP_KEYS, ObjectTally, Scorecard
from ..evaluation.report import ReportObject, ThresholdCurve, curve_from_histograms, html_report
from ..io.outputs import AtomicOutputs, GeoTiffWriter, threshold_made_at
from ..io.polygons import equal_area_transform, lut_vrt, vector_driver_for
from ..io.readers import GdalReader, Grid, crop_window, srs_from, sub_grid, transform_bounds
from ..io.vectors import LandslideMap, describe_crs, open_layer, reprojected_features

gdal.UseExceptions()
ogr.UseExceptions()

STRIP_ROWS = 512
FALSE_POSITIVE, FALSE_NEGATIVE = 1, 2
ERROR_NAMES = {FALSE_POSITIVE: "false positive", FALSE_NEGATIVE: "false negative"}


@dataclass
class EvaluationOutputs:
    objects: str | None = None  # per-object results (reference and predicted objects)
    errors: str | None = None  # false-positive / false-negative polygons
    points: str | None = None  # per-point results, when a point inventory is given
    report: str | None = None  # HTML report


@dataclass
class EvaluationResult:
    scores: dict  # the one scorer's keys (metrics.MAP_KEYS): pixel scores and counts, objects
    points_hit: int | None  # None: no point inventory given
    points_missed: int | None
    alignment: str
    grid: Grid


def evaluate_maps(
    prediction: LandslideMap,
    reference: LandslideMap,
    outputs: EvaluationOutputs,
    points: LandslideMap | None = None,
    area: LandslideMap | None = None,
    extent: tuple[float, float, float, float, str] | None = None,
    min_coverage: float = 0.0,
    point_tolerance: int = 0,
    pixel_size: float | None = None,
    progress: Progress = SILENT,
    probability: str | None = None,
    threshold: float | None = None,
) -> EvaluationResult:
    """Score ``prediction`` against ``reference`` and write the requested outputs.

    With ``probability`` (the probability raster the map was thresholded from, at
    ``threshold``; None: the one Detect recorded in the rasters, else 0.5), the report adds precision, recall and F1 across thresholds and the
    false alarms' mean probability.

    A reference object counts as detected when predicted pixels cover at least
    ``min_coverage`` of its scored pixels (0: any overlap); a predicted object is a false
    alarm when it touches no reference pixel. A point of the inventory is hit when a
    predicted pixel lies within ``point_tolerance`` pixels of it. Pixels that are nodata
    in either raster, outside ``area`` polygons or outside ``extent`` (xmin, ymin, xmax,
    ymax, CRS WKT) are not scored. Outputs are published all together or not at all.
    """
    check_maps(prediction, reference)
    if threshold is None:
        recorded = [threshold_made_at(path) for path in (probability, prediction.path if prediction.is_raster
                                                         else None) if path]
        threshold = next((t for t in recorded if t is not None), 0.5)
    scratch = tempfile.mkdtemp(prefix="landslide-evaluate-")
    try:
        grid, alignment = scoring_grid(prediction, reference, pixel_size)
        if extent is not None:
            grid = crop_to_extent(grid, extent)
            alignment += " Scores are limited to the given extent."
        for name, source in (("prediction", prediction), ("reference", reference)):
            if not _overlaps_grid(source, grid, name):
                raise EvaluationError(NO_OVERLAP, name)
        predicted = _ObjectRaster.build(prediction, grid, Path(scratch) / "prediction", "prediction")
        progress(0.2)
        referenced = _ObjectRaster.build(reference, grid, Path(scratch) / "reference", "reference")
        progress(0.4)
        alignment = " ".join([alignment, predicted.how, referenced.how])
        area_path = None
        if area is not None:
            area_path = str(Path(scratch) / "area.tif")
            _rasterize(reprojected_features(area, grid.crs_wkt, "area")[0], grid, area_path, gdal.GDT_Byte, burn=1)
            alignment += " Only pixels inside the area polygons are scored."
        errors_path = str(Path(scratch) / "errors.tif")
        rasters = _ScoringRasters(predicted, referenced, area_path)
        probability_tally = None
        if probability is not None and outputs.report:
            probability_tally = _ProbabilityTally(probability, grid, Path(scratch), predicted.count)
        tally = _score(rasters, predicted, referenced, grid, errors_path, progress.part(0.4, 0.8), probability_tally)
        ref_status, pred_status = tally.reference_status(min_coverage), tally.predicted_status()
        point_rows = None
        if points is not None:
            point_rows = _score_points(points, grid, rasters, point_tolerance)
        curve, object_means = probability_tally.results(threshold) if probability_tally is not None else (None, None)
        del probability_tally  # closes the warped probability before the scratch folder goes
        del rasters  # closes the scoring rasters before the scratch folder goes
        result = EvaluationResult(
            scores=Scorecard().add(tally.outcome(min_coverage)).scores(keys=MAP_KEYS),
            points_hit=None if point_rows is None else sum(r[1] == "hit" for r in point_rows),
            points_missed=None if point_rows is None else sum(r[1] == "missed" for r in point_rows),
            alignment=alignment, grid=grid,
        )
        if result.scores["tp"] + result.scores["fp"] + result.scores["fn"] + result.scores["tn"] == 0:
            raise EvaluationError(NOTHING_SCORED)
        with AtomicOutputs() as atomic:
            progress.check()
            objects = _object_rows(grid, predicted, referenced, tally, ref_status, pred_status)
            if outputs.objects:
                _write_features(atomic.temporary(outputs.objects), "objects", grid, ogr.wkbMultiPolygon, OBJECT_FIELDS,
                                objects)
            progress(0.85)
            if outputs.errors:
                _write_errors(errors_path, atomic.temporary(outputs.errors), grid, progress)
            progress(0.95)
            if outputs.points and point_rows is not None:
                _write_points(atomic.temporary(outputs.points), grid, point_rows)
            if outputs.report:
                shown = [ReportObject(attrs["map"], attrs["status"], attrs["area_m2"] or 0.0, geometry,
                                      None if object_means is None or attrs["map"] != "prediction"
                                      else object_means[attrs["obj"]]) for geometry, attrs in objects]
                page = html_report(result, prediction.path, reference.path, min_coverage, point_tolerance, shown,
                                   describe_crs(grid.crs_wkt), curve)
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


# --- the scoring grid ---------------------------------------------------------------

def scoring_grid(prediction: LandslideMap, reference: LandslideMap, pixel_size: float | None) -> tuple[Grid, str]:
    """The grid both maps are scored on, and a sentence that says which and why."""
    for name, candidate in (("prediction", prediction), ("reference", reference)):
        if candidate.is_raster:
            grid = GdalReader(candidate.path).grid
            if not grid.crs_wkt:
                raise EvaluationError(NO_CRS, name, Path(candidate.path).name)
            return grid, (f"Scored on the {name} raster's grid ({describe_grid(grid)}).")
    if not pixel_size or pixel_size <= 0:
        raise EvaluationError(PIXEL_SIZE_NEEDED, "pixel_size")
    layer_srs, bounds = _layer_extent(prediction, "prediction")
    wkt = layer_srs.ExportToWkt()
    _, ref_bounds = _layer_extent(reference, "reference", wkt)
    xmin, ymin = min(bounds[0], ref_bounds[0]), min(bounds[1], ref_bounds[1])
    xmax, ymax = max(bounds[2], ref_bounds[2]), max(bounds[3], ref_bounds[3])
    xmin, ymin = math.floor(xmin / pixel_size) * pixel_size, math.floor(ymin / pixel_size) * pixel_size
    width = max(1, math.ceil((xmax - xmin) / pixel_size))
    height = max(1, math.ceil((ymax - ymin) / pixel_size))
    grid = Grid(width, height, (xmin, pixel_size, 0.0, ymin + height * pixel_size, 0.0, -pixel_size), wkt)
    return grid, f"Both maps are polygons: scored on a grid of {pixel_size:g} units over both ({describe_grid(grid)})."


def _overlaps_grid(source: LandslideMap, grid: Grid, role: str) -> bool:
    """Whether the map's footprint meets the grid; an empty polygon layer (nothing
    mapped) always does."""
    if source.is_raster:
        own = GdalReader(source.path).grid
        bounds = transform_bounds(own.bounds, own.crs_wkt, grid.crs_wkt) if own.crs_wkt else own.bounds
    else:
        _dataset, layer, _srs = open_layer(source, role)
        if layer.GetFeatureCount() == 0:
            return True
        _, bounds = _layer_extent(source, role, grid.crs_wkt)
    gxmin, gymin, gxmax, gymax = grid.bounds
    return bounds[0] < gxmax and bounds[2] > gxmin and bounds[1] < gymax and bounds[3] > gymin


def crop_to_extent(grid: Grid, extent: tuple[float, float, float, float, str]) -> Grid:
    """The part of ``grid`` (whole pixels) inside ``extent`` given in any CRS."""
    try:
        return sub_grid(grid, *crop_window(grid, extent))
    except ValueError:
        raise EvaluationError(EXTENT_OUTSIDE, "extent") from None


def describe_grid(grid: Grid) -> str:
    units = "°" if grid.is_geographic else " m" if srs_from(grid.crs_wkt).GetLinearUnits() == 1.0 else " units"
    gt = grid.geotransform
    return f"{describe_crs(grid.crs_wkt)}, {abs(gt[1]):g} x {abs(gt[5]):g}{units} pixels, {grid.width} x {grid.height}"


# --- maps as object-id rasters --------------------------------------------------------

def _layer_extent(source: LandslideMap, role: str, target_wkt: str | None = None):
    dataset, layer, srs = open_layer(source, role)
    xmin, xmax, ymin, ymax = layer.GetExtent()
    bounds = (xmin, ymin, xmax, ymax)
    if target_wkt:
        bounds = transform_bounds(bounds, srs.ExportToWkt(), target_wkt)
    return srs, bounds


def _rasterize(holder, grid: Grid, path: str, gdal_type, burn: int | None = None) -> None:
    """Burn polygons (pixel centres inside) into a new tiled GeoTIFF on ``grid``: their
    ``obj`` attribute, or ``burn``."""
    target = gdal.GetDriverByName("GTiff").Create(path, grid.width, grid.height, 1, gdal_type,
                                                  options=["TILED=YES", "COMPRESS=DEFLATE", "BIGTIFF=IF_SAFER"])
    target.SetGeoTransform(grid.geotransform)
    target.SetProjection(grid.crs_wkt)
    layer = holder[1]
    if burn is None:
        gdal.RasterizeLayer(target, [1], layer, options=["ATTRIBUTE=obj"])
    else:
        gdal.RasterizeLayer(target, [1], layer, burn_values=[burn])
    target.FlushCache()
    target = None


@dataclass
class _ObjectRaster:
    """A map on the scoring grid: ``ids`` (Int32, 0 = no landslide, k = object k),
    ``valid`` (None, or a raster whose value 255 marks unscored pixels), the objects'
    polygons in the grid's CRS and a sentence on how the map was aligned."""

    ids: str
    valid: str | None
    holder: tuple
    source_fids: list
    how: str

    @property
    def count(self) -> int:
        return len(self.source_fids)

    @classmethod
    def build(cls, source: LandslideMap, grid: Grid, stem: Path, name: str) -> "_ObjectRaster":
        if source.is_raster:
            return cls._from_raster(source, grid, stem, name)
        holder, fids, crs = reprojected_features(source, grid.crs_wkt, name)
        ids = str(stem) + "_ids.tif"
        _rasterize(holder, grid, ids, gdal.GDT_Int32)
        moved = "" if crs == describe_crs(grid.crs_wkt) else f"reprojected from {crs} and "
        how = (f"The {name} polygons ({len(fids)}) were {moved}rasterized onto it "
               "(a pixel is inside when its centre is).")
        return cls(ids, None, holder, fids, how)

    @classmethod
    def _from_raster(cls, source: LandslideMap, grid: Grid, stem: Path, name: str) -> "_ObjectRaster":
        dataset = gdal.Open(source.path)
        own = GdalReader(dataset).grid
        if not own.crs_wkt:
            raise EvaluationError(NO_CRS, name, Path(source.path).name)
        if own == grid:
            aligned, how = dataset, f"The {name} raster is on that grid."
        else:
            # nearest neighbour: a mask must stay a mask
            aligned = gdal.Warp("", dataset, options=gdal.WarpOptions(
                format="VRT", outputBounds=grid.bounds, width=grid.width, height=grid.height,
                dstSRS=grid.crs_wkt, resampleAlg="near", dstNodata=-1.0e30, outputType=gdal.GDT_Float32))
            gt = own.geotransform
            how = (f"The {name} raster ({describe_crs(own.crs_wkt)}, {abs(gt[1]):g} x {abs(gt[5]):g} pixels) was "
                   "resampled onto it by nearest neighbour.")
        reader = GdalReader(aligned, colours=False)  # classes, even where a colour table shows them
        indicator_path = str(stem) + "_mask.tif"
        with GeoTiffWriter(indicator_path, grid, np.uint8, 255) as out:
            for row0 in range(0, grid.height, STRIP_ROWS):
                rows = min(STRIP_ROWS, grid.height - row0)
                values, valid = reader.read([source.band], 0, row0, grid.width, rows)
                out.write_rows(row0, np.where(valid, values[0] > 0, 255).astype(np.uint8))
        # landslide pixels -> 4-connected polygons -> object ids (the same pixels back)
        indicator = gdal.Open(lut_vrt(indicator_path, grid))
        memory = ogr.GetDriverByName("Memory").CreateDataSource("objects")
        layer = memory.CreateLayer("objects", srs=srs_from(grid.crs_wkt), geom_type=ogr.wkbPolygon)
        layer.CreateField(ogr.FieldDefn("obj", ogr.OFTInteger))
        band_ones = indicator.GetRasterBand(1)
        gdal.Polygonize(band_ones, band_ones, layer, 0)
        fids = []
        layer.StartTransaction()
        for feature in layer:
            fids.append(None)
            feature.SetField("obj", len(fids))
            layer.SetFeature(feature)
        layer.CommitTransaction()
        del band_ones, indicator
        ids = str(stem) + "_ids.tif"
        _rasterize((memory, layer), grid, ids, gdal.GDT_Int32)
        return cls(ids, indicator_path, (memory, layer), fids, how)


# --- the scoring pass -----------------------------------------------------------------

class _ScoringRasters:
    """The rasters a scoring pass reads, opened once: both maps' object ids and where
    pixels are scored (neither map's nodata, inside the area polygons)."""

    def __init__(self, predicted: _ObjectRaster, referenced: _ObjectRaster, area_path: str | None):
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


def _score(rasters: _ScoringRasters, predicted: _ObjectRaster, referenced: _ObjectRaster, grid: Grid, errors_path,
           progress: Progress, probability: "_ProbabilityTally | None" = None) -> ObjectTally:
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


def _score_points(points: LandslideMap, grid: Grid, rasters: _ScoringRasters, tolerance: int) -> list[tuple]:
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


# --- outputs ---------------------------------------------------------------------------

@contextmanager
def _new_layer(path: str, name: str, grid: Grid, geom_type, fields: list[tuple[str, int]]):
    """A new vector file with one layer; the file is closed when the block ends, also on
    an error or a cancel, so that the caller can delete it (an open GeoPackage would be
    written again when the exception's frames release it)."""
    dataset = ogr.GetDriverByName(vector_driver_for(path)).CreateDataSource(path)
    try:
        layer = dataset.CreateLayer(name, srs=srs_from(grid.crs_wkt), geom_type=geom_type)
        for field_name, kind in fields:
            layer.CreateField(ogr.FieldDefn(field_name, kind))
        yield layer
    finally:
        layer = None
        dataset = None


def _write_features(path: str, name: str, grid: Grid, geom_type, fields: list[tuple[str, int]], rows) -> None:
    """One layer of (geometry, {field: value}) rows; None values stay null."""
    names = {field for field, _kind in fields}
    with _new_layer(path, name, grid, geom_type, fields) as layer:
        layer.StartTransaction()
        for geometry, values in rows:
            out = ogr.Feature(layer.GetLayerDefn())
            out.SetGeometry(geometry)
            for key, value in values.items():
                if value is not None and key in names:
                    out.SetField(key, value)
            layer.CreateFeature(out)
        layer.CommitTransaction()


def _area_m2(geometry: ogr.Geometry, to_metres: osr.CoordinateTransformation) -> float:
    measured = geometry.Clone()
    measured.Transform(to_metres)
    return round(measured.GetArea(), 2)


OBJECT_FIELDS = [("map", ogr.OFTString), ("source_fid", ogr.OFTInteger64), ("status", ogr.OFTString),
                 ("covered_share", ogr.OFTReal), ("area_m2", ogr.OFTReal)]


def _object_rows(grid, predicted, referenced, tally, ref_status, pred_status) -> list[tuple[ogr.Geometry, dict]]:
    """(geometry, attributes) of every reference and predicted object: the objects layer
    and the report's map and tables (``obj``: the object's id on its map, not written)."""
    to_metres = equal_area_transform(srs_from(grid.crs_wkt), grid)
    rows = []
    for name, objects, status, covered, scored in (
        ("reference", referenced, ref_status, tally.reference_covered, tally.reference_scored),
        ("prediction", predicted, pred_status, tally.predicted_touching, tally.predicted_scored),
    ):
        for feature in objects.holder[1]:
            k = feature.GetField("obj")
            geometry = ogr.ForceToMultiPolygon(feature.GetGeometryRef().Clone())
            rows.append((geometry, {
                "map": name, "source_fid": objects.source_fids[k - 1], "status": status[k - 1],
                "covered_share": round(float(covered[k]) / float(scored[k]), 4) if scored[k] else None,
                "area_m2": _area_m2(geometry, to_metres), "obj": k,
            }))
    return rows


class _ProbabilityTally:
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


def _write_errors(errors_path: str, path: str, grid: Grid, progress: Progress) -> None:
    """False-positive / false-negative polygons (4-connected regions of the error raster)."""
    codes = gdal.Open(lut_vrt(errors_path, grid, "0:0,1:1,2:2,255:0"))
    band = codes.GetRasterBand(1)
    memory = ogr.GetDriverByName("Memory").CreateDataSource("raw")
    raw = memory.CreateLayer("raw", srs=srs_from(grid.crs_wkt), geom_type=ogr.wkbPolygon)
    raw.CreateField(ogr.FieldDefn("code", ogr.OFTInteger))
    try:
        gdal.Polygonize(band, band, raw, 0, callback=lambda *_: 0 if progress.cancelled else 1)
    except RuntimeError:
        progress.check()  # GDAL reports the callback's stop as "User terminated"
        raise
    to_metres = equal_area_transform(srs_from(grid.crs_wkt), grid)
    rows = ((f.GetGeometryRef().Clone(), {"error_code": f.GetField("code"), "error": ERROR_NAMES[f.GetField("code")],
                                         "area_m2": _area_m2(f.GetGeometryRef(), to_metres)}) for f in raw)
    _write_features(path, "errors", grid, ogr.wkbPolygon, [
        ("error_code", ogr.OFTInteger), ("error", ogr.OFTString), ("area_m2", ogr.OFTReal)], rows)


def _write_points(path: str, grid: Grid, rows: list[tuple]) -> None:
    _write_features(path, "points", grid, ogr.wkbPoint, [("source_fid", ogr.OFTInteger64), ("status", ogr.OFTString)],
                    ((geometry.Centroid(), {"source_fid": fid, "status": status}) for fid, status, geometry in rows))
