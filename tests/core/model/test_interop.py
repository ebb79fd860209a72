"""Models described the Deepness / GeoDeep way run in Detect with no spec of ours."""

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from rasters import read_raster


def deepness_model(path, metadata: dict, classes: int = 2, landslide: int = 1):
    """A real NCHW 3-band segmentation network: a 1x1 convolution whose landslide logit
    is 20 x (mean band value - 0.6), then softmax over the classes."""
    weights = np.zeros((classes, 3, 1, 1), np.float32)
    bias = np.zeros(classes, np.float32)
    weights[landslide] = 20.0 / 3.0
    bias[landslide] = -12.0
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w", "b"], ["logits"]),
         helper.make_node("Softmax", ["logits"], ["output"], axis=1)],
        "deepness-like",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", classes, "H", "W"])],
        initializer=[numpy_helper.from_array(weights, "w"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()})
    onnx.save(model, str(path))
    return str(path)


def expected_probability(image, classes, mean=(0.0,) * 3, std=(1.0,) * 3):
    x = np.stack([(image[i] / 255.0 - mean[i]) / std[i] for i in range(3)])
    logit = 20.0 * x.mean(axis=0) - 12.0
    return np.exp(logit) / (np.exp(logit) + classes - 1)  # softmax against zero logits


def detect(model, scene, folder, **params):
    import processing

    result = processing.run("landslidemapper:detect", {
        "INPUT": scene["image"], "MODEL_FILE": model, "OUTPUT_PROBABILITY": str(folder / "p.tif"),
        "OUTPUT_MASK": str(folder / "m.tif"), "OUTPUT_POLYGONS": str(folder / "l.gpkg"), **params})
    return read_raster(result["OUTPUT_PROBABILITY"])[0]


BASE = {"model_type": "Segmentor", "class_names": {"0": "background", "1": "landslide"}, "resolution": 100,
        "tiles_size": 64, "tiles_overlap": 10, "seg_thresh": 0.5}


def test_a_deepness_segmentor_runs_with_its_landslide_class(provider, scene, tmp_path):
    image = read_raster(scene["image"])[0].astype(np.float64)
    model = deepness_model(tmp_path / "plain.onnx", BASE)
    np.testing.assert_allclose(detect(model, scene, tmp_path / "a"), expected_probability(image, 2), atol=1e-4)

    standardized = deepness_model(tmp_path / "std.onnx", {
        **BASE, "model_type": "segmentation", "class_names": "{0: 'background', 1: 'Landslide scar'}",
        "standardization_mean": [0.5, 0.5, 0.5], "standardization_std": [0.25, 0.25, 0.25]})
    np.testing.assert_allclose(detect(standardized, scene, tmp_path / "b"),
                               expected_probability(image, 2, (0.5,) * 3, (0.25,) * 3), atol=1e-4)

    from landslide_mapper.core.model.onnx_model import OnnxModel

    spec = OnnxModel(model).spec
    assert (spec.patch_size, spec.threshold, spec.layout, spec.resolution_m) == (64, 0.5, "NCHW", 1.0)


def test_the_class_is_named_when_no_class_says_landslide(provider, scene, tmp_path):
    from qgis.core import QgsProcessingException

    image = read_raster(scene["image"])[0].astype(np.float64)
    model = deepness_model(tmp_path / "three.onnx", {**BASE, "class_names": {"0": "background", "1": "scar",
                                                                              "2": "water"}}, classes=3)
    with pytest.raises(QgsProcessingException, match="does not say which class is landslides.*1: scar"):
        detect(model, scene, tmp_path / "a")
    np.testing.assert_allclose(detect(model, scene, tmp_path / "b", CLASS="scar"), expected_probability(image, 3),
                               atol=1e-4)
    with pytest.raises(QgsProcessingException, match="has no class 'rock'"):
        detect(model, scene, tmp_path / "c", CLASS="rock")


def test_our_model_as_a_deepness_copy_detects_the_same(provider, scene, bright_model, tmp_path):
    """The interop copy, read back through its Deepness keys alone, gives Detect's
    probability of the original model."""

    from landslide_mapper.training.interop import interop_copy

    copy = interop_copy(bright_model, tmp_path / "bright_deepness.onnx")
    stored = {p.key: p.value for p in onnx.load(str(copy)).metadata_props}
    assert "landslide_mapper" not in stored and json.loads(stored["class_names"]) == {"0": "background",
                                                                                      "1": "landslide"}
    original = detect(bright_model, scene, tmp_path / "original", WINDOW=64)
    np.testing.assert_allclose(detect(str(copy), scene, tmp_path / "copy", WINDOW=64), original, atol=1e-4)


def test_geodeep_itself_runs_our_interop_copy(provider, scene, bright_model, tmp_path):
    """GeoDeep (the real package, in its own process with its own GDAL) runs the copy and
    maps the landslide Detect maps: equal once Detect's mask gets GeoDeep's clean-up
    (a 5-px median filter and no segment under (2 x seg_small_segment)² = 484 px)."""
    import subprocess
    import sys

    from scipy import ndimage

    pytest.importorskip("geodeep")
    from landslide_mapper.training.interop import interop_copy

    copy = interop_copy(bright_model, tmp_path / "bright_geodeep.onnx")
    code = ("import sys, numpy, geodeep; "
            "numpy.save(sys.argv[3], geodeep.run(sys.argv[1], sys.argv[2], output_type='raw'))")
    run = subprocess.run([sys.executable, "-c", code, scene["image"], str(copy), str(tmp_path / "geodeep.npy")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    theirs = np.load(tmp_path / "geodeep.npy") == 1

    ours = detect(bright_model, scene, tmp_path / "ours", WINDOW=64) >= 0.5
    ours = ndimage.median_filter(ours.astype(np.uint8), 5) == 1
    labels, count = ndimage.label(ours)
    sizes = ndimage.sum(ours, labels, range(1, count + 1))
    ours = np.isin(labels, 1 + np.flatnonzero(sizes >= 484))
    assert theirs.sum() > 1000 and ours.sum() > 1000
    assert (ours & theirs).sum() / (ours | theirs).sum() > 0.95
