"""INT8 variants: quantized on real patches, picked by Detect's PRECISION."""

import shutil

import numpy as np
import pytest
from locations import BIJIE
from rasters import read_raster



@pytest.mark.skipif(not (BIJIE / "index.csv").exists(), reason="../shared/data not present")
def test_int8_variant_detects_like_the_float_model(provider, scene, bright_model, tmp_path):
    import processing
    from landslide_mapper.training.datasets import Bijie
    from landslide_mapper.training.quantize import quantize
    from qgis.core import QgsProcessingException

    model = tmp_path / "bright.onnx"
    shutil.copy(bright_model, model)
    int8 = quantize(model, Bijie(BIJIE), count=16)
    assert int8.name == "bright_int8.onnx" and int8.stat().st_size > 0

    from landslide_mapper.core.model.onnx_model import OnnxModel

    spec = OnnxModel(int8).spec
    assert spec.extra["precision"] == "int8" and spec.bands == OnnxModel(model).spec.bands
    quantization = spec.extra["quantization"]
    assert quantization["calibration_windows"] == 16 and quantization["calibration_data"] == "Bijie training images"
    assert any(node.op_type == "QuantizeLinear" for node in __import__("onnx").load(str(int8)).graph.node)

    def mask(precision, folder):
        result = processing.run("landslidemapper:detect", {
            "INPUT": scene["image"], "MODEL_FILE": str(model), "PRECISION": precision,
            "OUTPUT_PROBABILITY": str(folder / "p.tif"), "OUTPUT_MASK": str(folder / "m.tif"),
            "OUTPUT_POLYGONS": str(folder / "l.gpkg")})
        return read_raster(result["OUTPUT_MASK"])[0] == 1, read_raster(result["OUTPUT_PROBABILITY"])[0]

    (full, p_full), (quantized, p_int8) = mask("float32", tmp_path / "f"), mask("int8", tmp_path / "q")
    assert (full & quantized).sum() / (full | quantized).sum() > 0.9
    assert not np.array_equal(p_full, p_int8)  # it really ran the other graph
    # the default, auto, takes the variant where the model has one ...
    np.testing.assert_array_equal(mask("auto", tmp_path / "a")[1], p_int8)

    int8.unlink()
    with pytest.raises(QgsProcessingException, match="has no int8 variant"):
        mask("int8", tmp_path / "none")
    # ... and the model itself where it has none
    np.testing.assert_array_equal(mask("auto", tmp_path / "a2")[1], p_full)
