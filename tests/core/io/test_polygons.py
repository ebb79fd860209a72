"""Landslide polygons: true areas in m² in any CRS, and their probability statistics."""

from dataclasses import replace

import numpy as np
import pytest
from detect_runs import request
from landslide_mapper.core.detect.pipeline import DetectOutputs, detect
from landslide_mapper.core.engine.streaming import WindowSettings
from landslide_mapper.core.imagery.inputs import ModelInput
from landslide_mapper.core.io.readers import GdalReader
from landslide_mapper.core.model.onnx_model import OnnxModel
from osgeo import ogr
from rasters import read_raster, write_raster


def test_polygons_have_true_areas_and_probabilities(tmp_path, bright_model):
    image = np.full((3, 120, 120), 60, np.uint8)
    image[:, 10:30, 10:40] = 230  # 600 px bright block
    image[:, 80:83, 80:83] = 230  # 9 px, below the minimum area
    gt = (440000.0, 2.0, 0.0, 3020000.0, 0.0, -2.0)
    path = write_raster(tmp_path / "img.tif", image, geotransform=gt)
    model = OnnxModel(bright_model)
    inputs = ModelInput(model.spec, GdalReader(path), {"red": 1, "green": 2, "blue": 3})
    out = DetectOutputs(str(tmp_path / "p.tif"), str(tmp_path / "m.tif"), str(tmp_path / "poly.gpkg"))
    pixel_outlines = replace(request(model, WindowSettings(64, 16), 100), smooth_outlines=False)
    result = detect(pixel_outlines, inputs, model, out)
    mask = read_raster(out.mask)[0]
    assert result.polygon_count == 1
    dataset = ogr.Open(out.polygons)
    feature = dataset.GetLayer().GetNextFeature()
    pixels = int(mask[:60, :60].sum())
    assert pixels > 400
    # UTM distorts areas by ~0.07 % here; the equal-area measure is within that
    assert feature["area_m2"] == pytest.approx(pixels * 4.0, rel=2e-3)
    assert feature["perimeter_m"] > 0
    prob = read_raster(out.probability)[0]
    assert feature["max_prob"] == pytest.approx(float(prob[mask == 1].max()), abs=1e-4)
    assert 0.5 <= feature["mean_prob"] <= feature["max_prob"]
    assert feature["model"] == "test-convnet" and feature["threshold"] == 0.5


def test_polygon_area_in_a_geographic_crs_is_in_square_metres(tmp_path, bright_model):
    image = np.full((3, 64, 64), 60, np.uint8)
    image[:, 20:40, 20:40] = 230
    deg = 1e-4
    path = write_raster(tmp_path / "img.tif", image, epsg=4326, geotransform=(106.0, deg, 0, 27.0, 0, -deg))
    model = OnnxModel(bright_model)
    inputs = ModelInput(model.spec, GdalReader(path), {"red": 1, "green": 2, "blue": 3})
    out = DetectOutputs(str(tmp_path / "p.tif"), str(tmp_path / "m.tif"), str(tmp_path / "poly.gpkg"))
    detect(request(model, WindowSettings(64, 16)), inputs, model, out)
    pixels = int(read_raster(out.mask)[0].sum())
    dataset = ogr.Open(out.polygons)
    feature = dataset.GetLayer().GetNextFeature()
    lat = np.radians(27.0 - 30 * deg)
    pixel_area = (deg * 111320 * np.cos(lat)) * (deg * 110800)  # ~ m² of one pixel at 27° N
    assert feature["area_m2"] == pytest.approx(pixels * pixel_area, rel=0.01)


def test_outlines_are_smoothed_within_half_a_pixel_of_the_mask(tmp_path):
    """A disc's pixel outline is a staircase (perimeter 4/pi times the circle's); smoothed,
    it keeps the mask's pixels (area within 1 %, every vertex within half a pixel of the
    pixel outline) and loses the stairs (perimeter near the circle's)."""
    from landslide_mapper.core.io.polygons import polygonize_mask

    yy, xx = np.mgrid[:80, :80]
    mask = (((yy - 40) ** 2 + (xx - 40) ** 2) < 30 ** 2).astype(np.uint8)
    gt = (440000.0, 1.0, 0.0, 3020000.0, 0.0, -1.0)
    mask_path = write_raster(tmp_path / "mask.tif", mask, geotransform=gt)
    values_path = write_raster(tmp_path / "values.tif", mask.astype(np.float32), geotransform=gt)
    shapes = {}
    for smooth in (False, True):
        out = str(tmp_path / f"smooth_{smooth}.gpkg")
        polygonize_mask(mask_path, values_path, out, smooth=smooth)
        dataset = ogr.Open(out)
        feature = dataset.GetLayer().GetNextFeature()
        shapes[smooth] = (feature["area_m2"], feature["perimeter_m"], feature.GetGeometryRef().Clone())
    (pixel_area, pixel_perimeter, pixel_outline), (area, perimeter, smooth_outline) = shapes[False], shapes[True]
    assert pixel_area == pytest.approx(mask.sum(), rel=2e-3)
    assert area == pytest.approx(pixel_area, rel=0.01)
    circle = 2 * np.pi * 30
    assert pixel_perimeter > 1.2 * circle and perimeter < 1.05 * circle
    boundary = pixel_outline.Boundary()
    ring = smooth_outline.GetGeometryRef(0)
    assert max(boundary.Distance(ogr.CreateGeometryFromWkt(f"POINT ({x} {y})"))
               for x, y in ring.GetPoints()[:: max(1, ring.GetPointCount() // 200)]) <= 0.5


def test_polygonize_writes_the_chosen_values_only_and_stops_on_a_cancel(tmp_path):
    """The one polygonizer (Detect's, Saliency's and Evaluate's): 4-connected regions of the
    chosen values, in GDAL's order, the value in the layer's first field; 0 and the other
    values leave nothing; a cancel raises Cancelled."""
    from landslide_mapper.core.engine.progress import SILENT, Progress
    from landslide_mapper.core.errors import Cancelled
    from landslide_mapper.core.io.polygons import polygonize
    from osgeo import gdal

    mask = np.zeros((40, 40), np.uint8)
    mask[:5] = 255  # nodata: polygonized by GDAL, then dropped
    mask[10:14, 10:14] = 1
    mask[12, 14] = 1  # 4-connected to the block
    mask[15, 15] = 1  # diagonal to it: an object of its own
    mask[20:25, 30:35] = 2
    dataset = gdal.Open(write_raster(tmp_path / "mask.tif", mask))

    def polygons(values, progress=SILENT):
        """(value, area) of each polygon, in the layer's order."""
        memory = ogr.GetDriverByName("Memory").CreateDataSource("polygons")
        layer = memory.CreateLayer("polygons", geom_type=ogr.wkbPolygon)
        layer.CreateField(ogr.FieldDefn("value", ogr.OFTInteger))
        polygonize(dataset.GetRasterBand(1), layer, values, progress)
        return [(feature["value"], feature.GetGeometryRef().GetArea()) for feature in layer]

    reported = []
    assert polygons((1, 2), Progress(report=reported.append)) == [(1, 17.0), (1, 1.0), (2, 25.0)]
    assert reported[-1] == 1.0
    assert polygons((2,)) == [(2, 25.0)]
    with pytest.raises(Cancelled):
        polygons((1,), Progress(is_cancelled=lambda: True))
