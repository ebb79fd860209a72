"""Detect through real QGIS Processing: processing.run, a saved .model3 and bad inputs."""

import os

import numpy as np
import pytest
from osgeo import ogr

from rasters import random_image, read_raster, write_raster

ALG = "landslidemapper:detect"


def outputs(folder):
    folder.mkdir(exist_ok=True)
    return {
        "OUTPUT_PROBABILITY": str(folder / "probability.tif"),
        "OUTPUT_MASK": str(folder / "mask.tif"),
        "OUTPUT_POLYGONS": str(folder / "landslides.gpkg"),
    }


def run(params, feedback=None):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    return processing.run(ALG, params, context=QgsProcessingContext(), feedback=feedback or QgsProcessingFeedback())


def test_detect_finds_the_scene_landslides(provider, scene, bright_model, tmp_path):
    result = run({"INPUT": scene["image"], "MODEL_FILE": bright_model, "MIN_AREA": 20, **outputs(tmp_path)})
    mask, gt, crs, _ = read_raster(result["OUTPUT_MASK"])
    truth, truth_gt, truth_crs, _ = read_raster(scene["truth"])
    assert (gt, crs) == (truth_gt, truth_crs)
    hits = np.logical_and(mask == 1, truth == 1).sum()
    assert hits / truth.sum() > 0.8  # recall of the bright-patch model on the scene's scars
    dataset = ogr.Open(result["OUTPUT_POLYGONS"])
    layer = dataset.GetLayer()
    names = [layer.GetLayerDefn().GetFieldDefn(i).GetName() for i in range(layer.GetLayerDefn().GetFieldCount())]
    assert names == ["area_m2", "perimeter_m", "mean_prob", "max_prob", "model", "threshold"]
    assert layer.GetFeatureCount() >= 5
    assert all(f["area_m2"] >= 20 and f["mean_prob"] >= 0.5 for f in layer)


def test_threshold_parameter_overrides_the_spec(provider, scene, bright_model, tmp_path):
    low = run({"INPUT": scene["image"], "MODEL_FILE": bright_model, "THRESHOLD": 0.2, **outputs(tmp_path / "a")})
    default = run({"INPUT": scene["image"], "MODEL_FILE": bright_model, **outputs(tmp_path / "b")})
    assert read_raster(low["OUTPUT_MASK"])[0].sum() > read_raster(default["OUTPUT_MASK"])[0].sum()
    dataset = ogr.Open(low["OUTPUT_POLYGONS"])
    assert dataset.GetLayer().GetNextFeature()["threshold"] == pytest.approx(0.2)


def test_detect_with_a_dem_for_a_slope_model(provider, scene, slope_model, tmp_path):
    result = run({"INPUT": scene["image"], "DEM": scene["dem"], "MODEL_FILE": slope_model, **outputs(tmp_path)})
    prob = read_raster(result["OUTPUT_PROBABILITY"])[0]
    assert prob.shape == (512, 512) and np.all((prob >= 0) & (prob <= 1))


def test_provider_reader_equals_gdal_reader(provider, scene):
    from qgis.core import QgsRasterLayer

    from landslide_mapper.algorithms.qgis_reader import QgsProviderReader
    from landslide_mapper.core.readers import GdalReader

    layer = QgsRasterLayer(scene["image"], "image")
    via_qgis = QgsProviderReader(layer)
    via_gdal = GdalReader(scene["image"])
    assert via_qgis.grid.geotransform == pytest.approx(via_gdal.grid.geotransform)
    a, valid_a = via_qgis.read([3, 1], 100, 37, 90, 61)
    b, valid_b = via_gdal.read([3, 1], 100, 37, 90, 61)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(valid_a, valid_b)


def test_provider_reader_sees_nodata(provider, tmp_path):
    from qgis.core import QgsRasterLayer

    from landslide_mapper.algorithms.qgis_reader import QgsProviderReader

    image = random_image((20, 30))
    image[image == 0] = 1
    image[:, 5:8, :] = 0
    path = write_raster(tmp_path / "nd.tif", image, nodata=0)
    _, valid = QgsProviderReader(QgsRasterLayer(path, "nd")).read([1, 2, 3], 0, 0, 30, 20)
    assert not valid[5:8].any() and valid[:5].all() and valid[8:].all()


def test_detect_inside_a_saved_graphical_model(provider, scene, bright_model, tmp_path):
    from qgis.core import QgsApplication

    from modeler import add_child, image_chain, run_saved

    chain = image_chain("landslide chain")
    add_child(chain, ALG, "detect", static={"MODEL_FILE": bright_model, "MIN_AREA": 20},
              outputs={"landslides": "OUTPUT_POLYGONS", "mask": "OUTPUT_MASK", "probability": "OUTPUT_PROBABILITY"})
    out = tmp_path / "out"
    out.mkdir()
    result = run_saved(chain, str(tmp_path / "chain.model3"), {
        "image": scene["image"],
        "detect:landslides": str(out / "l.gpkg"),
        "detect:mask": str(out / "m.tif"),
        "detect:probability": str(out / "p.tif"),
    })
    dataset = ogr.Open(result["detect:landslides"])
    assert dataset.GetLayer().GetFeatureCount() >= 5
    assert QgsApplication.processingRegistry().algorithmById(ALG) is not None


def bad_input_error(params, tmp_path):
    from qgis.core import QgsProcessingException

    out = outputs(tmp_path / "out")
    with pytest.raises(QgsProcessingException) as err:
        run({**params, **out})
    assert os.listdir(tmp_path / "out") == [], "a failed run must leave no output"
    return str(err.value)


def test_wrong_band_number(provider, scene, bright_model, tmp_path):
    message = bad_input_error({"INPUT": scene["image"], "MODEL_FILE": bright_model, "BLUE_BAND": 4}, tmp_path)
    assert "band 4, but the image has 3 band(s)" in message


def test_image_without_crs(provider, bright_model, tmp_path):
    path = write_raster(tmp_path / "nocrs.tif", random_image((64, 64)), epsg=None)
    message = bad_input_error({"INPUT": path, "MODEL_FILE": bright_model}, tmp_path)
    assert "no coordinate reference system" in message


def test_all_nodata_image(provider, bright_model, tmp_path):
    path = write_raster(tmp_path / "empty.tif", np.zeros((3, 64, 64), np.uint8), nodata=0)
    message = bad_input_error({"INPUT": path, "MODEL_FILE": bright_model}, tmp_path)
    assert "Every pixel of the input is nodata" in message


def test_dem_not_overlapping(provider, scene, slope_model, tmp_path):
    dem = write_raster(tmp_path / "far.tif", np.zeros((10, 10), np.float32),
                       geotransform=(100000.0, 10, 0, 1000000.0, 0, -10))
    message = bad_input_error({"INPUT": scene["image"], "DEM": dem, "MODEL_FILE": slope_model}, tmp_path)
    assert "does not overlap the image" in message


def test_slope_model_without_dem(provider, scene, slope_model, tmp_path):
    message = bad_input_error({"INPUT": scene["image"], "MODEL_FILE": slope_model}, tmp_path)
    assert "uses slope: give a DEM" in message


def test_model_without_spec(provider, scene, tmp_path):
    from model_factory import build_model

    path = build_model(tmp_path / "nospec.onnx", include_spec=False)
    message = bad_input_error({"INPUT": scene["image"], "MODEL_FILE": path}, tmp_path)
    assert "no Landslide Mapper spec" in message


def test_no_bundled_model_and_no_file(provider, scene, tmp_path, monkeypatch):
    from landslide_mapper.algorithms import common

    monkeypatch.setattr(common, "bundled_models", lambda: {})  # a plugin folder without models
    message = bad_input_error({"INPUT": scene["image"]}, tmp_path)
    assert "No bundled model is installed yet" in message


def test_default_model_is_the_bundled_recommended_one(provider, tmp_path):
    from landslide_mapper.core.catalog import RECOMMENDED, bundled_models

    models = bundled_models()
    if not models:
        pytest.skip("no bundled model in this checkout")
    assert next(iter(models)) == RECOMMENDED
    image = np.full((3, 96, 96), 70, np.uint8)
    image[:, 30:60, 20:70] = 200
    path = write_raster(tmp_path / "img.tif", image)
    result = run({"INPUT": path, "MIN_AREA": 0, **outputs(tmp_path / "o")})
    prob = read_raster(result["OUTPUT_PROBABILITY"])[0]
    assert prob.shape == (96, 96) and np.all((prob >= 0) & (prob <= 1))


def test_raster_smaller_than_a_window(provider, bright_model, tmp_path):
    image = np.full((3, 23, 41), 60, np.uint8)
    image[:, 5:15, 10:30] = 230
    path = write_raster(tmp_path / "small.tif", image)
    result = run({"INPUT": path, "MODEL_FILE": bright_model, "MIN_AREA": 0, **outputs(tmp_path / "o")})
    mask = read_raster(result["OUTPUT_MASK"])[0]
    assert mask.shape == (23, 41)
    assert mask[7:13, 12:28].all() and not mask[:, :5].any()


def test_cancel_mid_run(provider, scene, bright_model, tmp_path):
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    class CancelHalfway(QgsProcessingFeedback):
        def setProgress(self, progress):
            super().setProgress(progress)
            if progress > 40:
                self.cancel()

    out = outputs(tmp_path / "out")
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        run({"INPUT": scene["image"], "MODEL_FILE": bright_model, "WINDOW": 64, **out}, CancelHalfway())
    assert os.listdir(tmp_path / "out") == []


def test_outputs_are_styled_when_loaded(provider, scene, bright_model, tmp_path):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject

    project = QgsProject()
    context = QgsProcessingContext()
    context.setProject(project)
    processing.runAndLoadResults(
        ALG, {"INPUT": scene["image"], "MODEL_FILE": bright_model, **outputs(tmp_path)},
        context=context, feedback=QgsProcessingFeedback(),
    )
    layers = {layer.name(): layer for layer in QgsProject.instance().mapLayers().values()}
    assert {"Landslide probability", "Landslide mask", "Landslide polygons"} <= set(layers)
    assert layers["Landslide probability"].renderer().type() == "singlebandpseudocolor"
    assert layers["Landslide mask"].renderer().type() == "paletted"
