"""The model's input: bands picked and normalized, slope from a DEM, bad inputs refused."""

import numpy as np
import pytest
from engine_runs import run_predict
from landslide_mapper.core.errors import UserError
from landslide_mapper.core.imagery.inputs import InputError, ModelInput
from landslide_mapper.core.io.readers import GdalReader, dem_on_grid
from landslide_mapper.core.model.onnx_model import OnnxModel
from model_factory import build_model, default_spec, reference_forward
from rasters import random_image, write_raster


def test_bands_are_picked_by_number_and_normalized_per_spec(tmp_path):
    image = random_image((96, 80), seed=2)
    # the image stores blue, red, green in bands 1, 2, 3
    path = write_raster(tmp_path / "img.tif", image[[2, 0, 1]])
    spec = default_spec(bands=["blue", "red"], normalization={"mean": [10.0, 200.0], "std": [30.0, 5.0]})
    model = OnnxModel(build_model(tmp_path / "m.onnx", spec, layout="NCHW"))
    inputs = ModelInput(model.spec, GdalReader(path), {"red": 2, "green": 3, "blue": 1})
    got = run_predict(model, inputs, 96, 32)
    stack = np.stack([(image[2] - 10.0) / 30.0, (image[0] - 200.0) / 5.0]).astype(np.float32)
    expected = reference_forward(stack[None], spec)[0]
    np.testing.assert_allclose(got[3:-3, 3:-3], expected[3:-3, 3:-3], atol=np.sin(0.5 * np.pi * 1.5 / 32) ** 2)


def test_slope_from_a_coarser_dem_in_another_crs(tmp_path, slope_model):
    image = random_image((64, 64), seed=5)
    path = write_raster(tmp_path / "img.tif", image)
    # plane rising 0.25 m per metre eastwards, at 4 m pixels, in UTM 48N
    cols = np.arange(40, dtype=np.float32)
    dem = np.tile(0.25 * cols * 4.0, (40, 1)).astype(np.float32)
    dem_path = write_raster(tmp_path / "dem.tif", dem, geotransform=(439920.0, 4.0, 0, 3020080.0, 0, -4.0))
    reader = GdalReader(path)
    warped = dem_on_grid(dem_path, reader.grid)
    inputs = ModelInput(OnnxModel(slope_model).spec, reader, {"red": 1, "green": 2, "blue": 3}, warped)
    stack, valid = inputs.read(0, 0, 64, 64)
    slope = stack[4] * 10.0 + 20.0  # undo the spec's normalization
    assert valid.all()
    np.testing.assert_allclose(slope, np.degrees(np.arctan(0.25)), atol=0.05)


def test_dem_that_does_not_overlap_is_rejected(tmp_path):
    path = write_raster(tmp_path / "img.tif", random_image((32, 32)))
    dem_path = write_raster(tmp_path / "dem.tif", np.zeros((10, 10), np.float32),
                            geotransform=(900000.0, 10, 0, 1000000.0, 0, -10))
    with pytest.raises(ValueError, match="does not overlap"):
        dem_on_grid(dem_path, GdalReader(path).grid)


def test_model_needing_slope_without_dem_is_rejected(tmp_path, slope_model):
    path = write_raster(tmp_path / "img.tif", random_image((32, 32)))
    with pytest.raises(InputError, match="uses slope: give a DEM"):
        ModelInput(OnnxModel(slope_model).spec, GdalReader(path), {"red": 1, "green": 2, "blue": 3})


def test_wrong_band_number_and_missing_crs_are_rejected(tmp_path, bright_model):
    spec = OnnxModel(bright_model).spec
    path = write_raster(tmp_path / "img.tif", random_image((32, 32)))
    with pytest.raises(InputError, match="band 4, but the image has 3 band"):
        ModelInput(spec, GdalReader(path), {"red": 1, "green": 2, "blue": 4})
    no_crs = write_raster(tmp_path / "nocrs.tif", random_image((32, 32)), epsg=None)
    with pytest.raises(InputError, match="no coordinate reference system") as raised:
        ModelInput(spec, GdalReader(no_crs), {"red": 1, "green": 2, "blue": 3})
    # the one error type adapters handle, with what it is about (where a QGIS user fixes it)
    assert isinstance(raised.value, UserError) and raised.value.subject == "crs"
