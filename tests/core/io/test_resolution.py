"""Detect runs a model at the ground resolution it learned, and writes on the input's grid.

The model here measures a ground quantity: the brightness gradient across one pixel. On
a ramp that brightens by 1 per metre, it is 1 per pixel at 1 m and 2 per pixel on a copy
of the scene at 2 m: a model trained at 1 m reads the 2 m copy wrongly unless its
windows are resampled to 1 m first (bilinear resampling of a ramp is exact).
"""

import numpy as np
import pytest
from landslide_mapper.core.io.readers import Grid
from landslide_mapper.core.io.resolution import model_grid, pixel_size_m
from model_factory import GRADIENT_AT_HALF, SLOPE_GAIN, gradient_model
from osgeo import gdal
from rasters import ramp_scene, read_raster

EPSG_UTM = 32648


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def run_detect(provider, image, model, out, **extra):
    import processing
    from qgis.core import QgsProcessingFeedback

    class Log(QgsProcessingFeedback):
        lines = []

        def pushInfo(self, info):
            self.lines.append(info)

    feedback = Log()
    result = processing.run("landslidemapper:detect", {
        "INPUT": image, "MODEL_FILE": model, "WINDOW": 64, "OVERLAP": 16, "MIN_AREA": 0,
        "OUTPUT_PROBABILITY": str(out / "p.tif"), "OUTPUT_MASK": str(out / "m.tif"),
        "OUTPUT_POLYGONS": str(out / "l.gpkg"), **extra}, feedback=feedback)
    return result, read_raster(result["OUTPUT_PROBABILITY"]), read_raster(result["OUTPUT_MASK"]), feedback.lines


# away from the mirrored borders, where the gradient is 0; the tolerance covers each
# window's outermost pixel (zero-padded by the conv), blended in with a weight of ~0.002
INNER = (slice(4, -4), slice(4, -4))


def test_coarser_copy_is_read_at_the_models_resolution_and_written_on_its_own_grid(tmp_path, provider):
    model = gradient_model(tmp_path / "ramp.onnx", resolution_m=1.0)
    native = ramp_scene(tmp_path / "native.tif", 1.0)
    coarse = ramp_scene(tmp_path / "coarse.tif", 2.0)
    at_model = sigmoid(SLOPE_GAIN * (1.0 - GRADIENT_AT_HALF))  # 0.12: what the model says at 1 m
    misread = sigmoid(SLOPE_GAIN * (2.0 - GRADIENT_AT_HALF))  # 0.88: the 2 m pixels taken for 1 m ones

    _, (prob, *_), (mask, *_), log = run_detect(provider, native, model, tmp_path / "native")
    assert np.allclose(prob[INNER], at_model, atol=0.01)
    assert not any("resampled" in line for line in log)

    _, (prob, gt, wkt, _), (mask, mask_gt, *_), log = run_detect(provider, coarse, model, tmp_path / "matched")
    assert prob.shape == mask.shape == (128, 128)  # the input's grid, not the model's
    assert gt == mask_gt == read_raster(coarse)[1]
    assert np.allclose(prob[INNER], at_model, atol=0.01)
    assert (mask[INNER] == 0).all()
    assert any("resampled to 256 x 256 pixels" in line for line in log)
    assert sorted(p.name for p in (tmp_path / "matched").iterdir()) == ["l.gpkg", "m.tif", "p.tif"]

    _, (prob, *_), (mask, *_), _ = run_detect(provider, coarse, model, tmp_path / "as-is", MATCH_RESOLUTION=False)
    assert np.allclose(prob[INNER], misread, atol=0.01)
    assert (mask[INNER] == 1).all()


def test_finer_image_is_averaged_down_and_nodata_stays_nodata(tmp_path, provider):
    model = gradient_model(tmp_path / "ramp.onnx", resolution_m=2.0)
    image = ramp_scene(tmp_path / "fine.tif", 1.0)
    ds = gdal.Open(image, gdal.GA_Update)
    for b in (1, 2, 3):
        band = ds.GetRasterBand(b)
        band.SetNoDataValue(0)
        block = band.ReadAsArray()
        block[100:140, 60:200] = 0
        band.WriteArray(block)
    ds = None
    _, (prob, gt, _, nodata), (mask, *_), log = run_detect(provider, image, model, tmp_path / "out")
    assert prob.shape == (256, 256) and gt[1] == 1.0
    assert any("resampled to 128 x 128 pixels" in line for line in log)
    hole = np.zeros(prob.shape, bool)
    hole[100:140, 60:200] = True
    hole[:, 0] = True  # red is 0 in the first column: nodata there too
    assert (prob[hole] == nodata).all() and (mask[hole] == 255).all()
    # 2 m pixels of a 1-per-metre ramp: 2 per pixel at the model's resolution
    far = np.zeros(prob.shape, bool)
    far[10:60, 20:240] = True
    assert np.allclose(prob[far], sigmoid(SLOPE_GAIN * (2.0 - GRADIENT_AT_HALF)), atol=0.01)


@pytest.mark.parametrize("pixel,expected", [(0.8, None), (1.0, None), (0.5, (62, 62)), (1.6, (200, 200))])
def test_model_grid_only_when_the_resolution_differs_by_more_than_the_tolerance(pixel, expected):
    grid = Grid(100, 100, (0.0, pixel, 0.0, 0.0, 0.0, -pixel), _utm_wkt())
    resampled = model_grid(grid, 0.8)
    if expected is None:
        assert resampled is None
    else:
        assert (resampled.width, resampled.height) == expected
        assert resampled.bounds == pytest.approx(grid.bounds)


def test_pixel_size_in_metres_for_geographic_and_foot_crs():
    from osgeo import osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    x, y = pixel_size_m(Grid(10, 10, (110.0, 1e-5, 0.0, 0.0 + 5e-5, 0.0, -1e-5), srs.ExportToWkt()))
    assert x == pytest.approx(1.113, abs=0.01) and y == pytest.approx(1.106, abs=0.01)
    srs.ImportFromEPSG(2227)  # California zone 3, US survey feet
    x, y = pixel_size_m(Grid(10, 10, (0.0, 3.0, 0.0, 0.0, 0.0, -3.0), srs.ExportToWkt()))
    assert x == pytest.approx(0.9144, abs=1e-3)


def _utm_wkt():
    from osgeo import osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(EPSG_UTM)
    return srs.ExportToWkt()


def test_cancel_while_resampling_leaves_nothing(tmp_path):
    from landslide_mapper.core.detect.pipeline import DetectOutputs, detect
    from landslide_mapper.core.detect.request import DetectRequest
    from landslide_mapper.core.engine.progress import Progress
    from landslide_mapper.core.engine.streaming import WindowSettings
    from landslide_mapper.core.errors import Cancelled
    from landslide_mapper.core.imagery.inputs import ModelInput
    from landslide_mapper.core.io.readers import GdalReader
    from landslide_mapper.core.model.onnx_model import OnnxModel

    model = OnnxModel(gradient_model(tmp_path / "ramp.onnx", resolution_m=1.0))
    original = GdalReader(ramp_scene(tmp_path / "coarse.tif", 2.0))
    resampled = original.on_grid(model_grid(original.grid, 1.0))
    inputs = ModelInput(model.spec, resampled, {"red": 1, "green": 2, "blue": 3}, original=original)
    out = tmp_path / "out"
    progress = []
    with pytest.raises(Cancelled):
        detect(DetectRequest((str(model.path),), settings=WindowSettings(64, 16, 2)), inputs, model,
               DetectOutputs(str(out / "p.tif"), str(out / "m.tif"), str(out / "l.gpkg")),
               progress=Progress(progress.append, lambda: bool(progress) and progress[-1] > 0.5))
    assert list(out.iterdir()) == []
