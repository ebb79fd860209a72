"""One Detect request, three ways to run it: the Processing algorithm, ``python -m core``
and a split run merged from tiles. Every option works in all three, and they write the
same outputs, bit for bit."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from detect_runs import request
from landslide_mapper.core.detect.pipeline import DetectOutputs, detect
from landslide_mapper.core.detect.request import DetectRequest
from landslide_mapper.core.detect.tiling import cached_model, detect_tiled
from landslide_mapper.core.engine.progress import Progress
from landslide_mapper.core.engine.streaming import WindowSettings
from landslide_mapper.core.errors import Cancelled, NoValidPixels
from landslide_mapper.core.imagery.inputs import ModelInput
from landslide_mapper.core.imagery.recipe import InputOptions, model_input
from landslide_mapper.core.io.readers import GdalReader
from landslide_mapper.core.model.catalog import bundled_models
from landslide_mapper.core.model.onnx_model import OnnxModel
from locations import ROOT
from model_factory import build_model
from osgeo import ogr
from rasters import random_image, read_raster, write_raster

NAMES = {"probability": "probability.tif", "mask": "mask.tif", "polygons": "landslides.gpkg",
         "uncertainty": "uncertainty.tif", "dropped": "set_aside.gpkg"}


def outputs_in(folder: Path, uncertainty: bool) -> DetectOutputs:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {key: str(folder / name) for key, name in NAMES.items()}
    if not uncertainty:
        paths["uncertainty"] = None
    return DetectOutputs(**paths)


def through_processing(image, params: dict, folder: Path, uncertainty: bool) -> None:
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    out = outputs_in(folder, uncertainty)
    names = {"OUTPUT_PROBABILITY": out.probability, "OUTPUT_MASK": out.mask, "OUTPUT_POLYGONS": out.polygons,
             "OUTPUT_DROPPED": out.dropped, **({"OUTPUT_UNCERTAINTY": out.uncertainty} if uncertainty else {})}
    processing.run("landslidemapper:detect", {"INPUT": image, **params, **names}, context=QgsProcessingContext(),
                   feedback=QgsProcessingFeedback())


def through_the_cli(image, args: list, folder: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "core", "detect", "--input", image, "--output", str(folder), *args],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr


def split_into_tiles(image, request: DetectRequest, folder: Path, uncertainty: bool) -> None:
    model = cached_model(request)
    inputs = model_input(request.inputs, model.spec, GdalReader(image))
    detect_tiled(request, image, inputs, model, outputs_in(folder, uncertainty), tile_size=150)


def features(path: str) -> list:
    if not os.path.exists(path):
        return []
    dataset = ogr.Open(path)  # held: the layer dies with it
    layer = dataset.GetLayer(0)
    fields = [layer.GetLayerDefn().GetFieldDefn(i).GetName() for i in range(layer.GetLayerDefn().GetFieldCount())]
    return sorted((tuple(f.GetField(n) for n in fields), f.GetGeometryRef().ExportToWkt()) for f in layer)


def assert_same(first: Path, other: Path, rasters=("probability", "mask")) -> None:
    for key in rasters:
        a, b = read_raster(str(first / NAMES[key])), read_raster(str(other / NAMES[key]))
        assert a[0].dtype == b[0].dtype and np.array_equal(a[0], b[0]), f"{key} differs in {other.name}"
        assert a[1:] == b[1:]
    for key in ("polygons", "dropped"):
        assert features(str(first / NAMES[key])) == features(str(other / NAMES[key])), f"{key} differ in {other.name}"


def run_three_ways(tmp_path, image, params, cli_args, request, uncertainty=False):
    through_processing(image, params, tmp_path / "processing", uncertainty)
    through_the_cli(image, cli_args, tmp_path / "cli")
    split_into_tiles(image, request, tmp_path / "tiles", uncertainty)
    rasters = ("probability", "mask") + (("uncertainty",) if uncertainty else ())
    assert_same(tmp_path / "processing", tmp_path / "cli", rasters)
    assert_same(tmp_path / "processing", tmp_path / "tiles", rasters)
    return tmp_path / "processing"


@pytest.fixture(scope="module")
def twelve_bit_scene(scene, tmp_path_factory):
    image, gt, _, _ = read_raster(scene["image"])
    path = tmp_path_factory.mktemp("twelve_bit") / "image.tif"
    return str(write_raster(path, (image.astype(np.float32) * (4095 / 255)).round().astype(np.uint16),
                            geotransform=gt))


def test_tta_manual_scaling_and_a_threshold_are_the_same_everywhere(provider, twelve_bit_scene, bright_model,
                                                                   tmp_path):
    """Manual scaling never worked from the command line before one request held it."""
    params = {"MODEL_FILE": bright_model, "TTA": True, "INPUT_SCALING": "manual", "SCALING_MIN": 0,
              "SCALING_MAX": 4095, "WINDOW": 64, "OVERLAP": 16, "MIN_AREA": 20, "THRESHOLD": 0.45}
    cli = ["--model", bright_model, "--tta", "--scaling", "manual", "--scaling-min", "0", "--scaling-max", "4095",
           "--window", "64", "--overlap", "16", "--min-area", "20", "--threshold", "0.45"]
    request = DetectRequest((bright_model,), inputs=InputOptions(scaling="manual", scaling_min=0.0, scaling_max=4095.0),
                            settings=WindowSettings(64, 16, 8), threshold=0.45, min_area_m2=20.0, tta=True)
    folder = run_three_ways(tmp_path, twelve_bit_scene, params, cli, request)
    rows = features(str(folder / NAMES["polygons"]))
    assert len(rows) >= 5 and all(row[0][-1] == 0.45 for row in rows)  # the threshold each polygon records


@pytest.mark.slow
def test_an_int8_ensemble_with_its_uncertainty_is_the_same_everywhere(provider, scene, tmp_path):
    models = bundled_models()
    if len(models) < 2:
        pytest.skip("the ensemble needs two bundled models")
    params = {"ENSEMBLE": True, "PRECISION": "int8"}
    cli = ["--ensemble", "--precision", "int8", "--uncertainty"]
    request = DetectRequest(tuple(str(p) for p in models.values()), precision="int8")
    folder = run_three_ways(tmp_path, scene["image"], params, cli, request, uncertainty=True)
    spread = read_raster(str(folder / NAMES["uncertainty"]))[0]
    assert spread[spread >= 0].max() > 0  # the members disagree somewhere


@pytest.mark.slow
def test_the_saliency_summary_is_the_same_everywhere(provider, scene, exported_model, tmp_path):
    params = {"MODEL_FILE": exported_model, "SALIENCY_SUMMARY": True, "MIN_AREA": 0}
    cli = ["--model", exported_model, "--saliency-summary", "--min-area", "0"]
    request = DetectRequest((exported_model,), min_area_m2=0.0, saliency_summary=True)
    folder = run_three_ways(tmp_path, scene["image"], params, cli, request)
    dataset = ogr.Open(str(folder / NAMES["polygons"]))
    layer = dataset.GetLayer(0)
    assert layer.GetFeatureCount() > 0
    assert any(f.GetField("boundary_saliency_share") is not None for f in layer)


def test_the_options_take_the_words_processing_and_the_command_line_pass():
    """A request holds each mode as its enum member, given it or its word ("manual", "int8",
    "cpu", as Processing, qgis_process and the command line pass them); other words are
    refused in the user's terms, naming the words there are."""
    from landslide_mapper.core.errors import InputError
    from landslide_mapper.core.imagery.scaling import MODES, ScalingMode
    from landslide_mapper.core.model.catalog import PRECISIONS, Precision
    from landslide_mapper.core.model.onnx_model import DEVICES, Device, ModelError

    assert (MODES, PRECISIONS, DEVICES) == (("auto", "none", "manual"), ("auto", "float32", "int8"),
                                            ("auto", "cuda", "directml", "coreml", "cpu"))
    request = DetectRequest(("model.onnx",), inputs=InputOptions(scaling="manual"), precision="int8", device="cpu")
    assert request.inputs.scaling is ScalingMode.MANUAL and request.precision is Precision.INT8
    assert request.device is Device.CPU and f"{request.device}" == "cpu"  # messages show the word
    assert request == DetectRequest(("model.onnx",), inputs=InputOptions(scaling=ScalingMode.MANUAL),
                                    precision=Precision.INT8, device=Device.CPU)
    with pytest.raises(InputError, match=r"^Unknown input scaling 'stretch': use one of auto, none, manual\.$"):
        InputOptions(scaling="stretch")
    with pytest.raises(InputError, match=r"^Unknown precision 'float16': choose auto or float32 or int8\.$"):
        DetectRequest(("model.onnx",), precision="float16")
    with pytest.raises(ModelError, match=r"^Unknown device 'tpu': choose one of auto, cuda, directml, coreml, cpu\.$"):
        DetectRequest(("model.onnx",), device="tpu")


def test_detect_outputs_are_georeferenced_like_the_input_and_nodata_propagates(tmp_path):
    image = random_image((150, 170), seed=1)
    image[image == 0] = 1
    image[:, 20:40, 30:90] = 0  # a nodata hole
    gt = (500000.0, 0.5, 0.0, 4000000.0, 0.0, -0.5)
    path = write_raster(tmp_path / "img.tif", image, epsg=32633, geotransform=gt, nodata=0)
    model = OnnxModel(build_model(tmp_path / "m.onnx"))
    inputs = ModelInput(model.spec, GdalReader(path), {"red": 1, "green": 2, "blue": 3})
    out = DetectOutputs(str(tmp_path / "p.tif"), str(tmp_path / "m.tif"), str(tmp_path / "poly.gpkg"))
    result = detect(request(model, WindowSettings(64, 16)), inputs, model, out)
    prob, prob_gt, prob_crs, prob_nodata = read_raster(out.probability)
    mask, mask_gt, mask_crs, mask_nodata = read_raster(out.mask)
    src_gt, src_crs = read_raster(path)[1:3]
    assert prob_gt == mask_gt == src_gt and prob_crs == mask_crs == src_crs
    assert prob.dtype == np.float32 and mask.dtype == np.uint8
    assert np.all(prob[20:40, 30:90] == prob_nodata) and np.all(mask[20:40, 30:90] == mask_nodata)
    valid = np.ones(prob.shape, bool)
    valid[20:40, 30:90] = False
    assert np.all((prob[valid] >= 0) & (prob[valid] <= 1))
    np.testing.assert_array_equal(mask[valid], (prob[valid] >= 0.5).astype(np.uint8))
    assert result.valid_pixels == valid.sum()
    assert result.landslide_pixels == int(mask[valid].sum())


def test_all_nodata_raster_fails_and_leaves_nothing(tmp_path, bright_model):
    path = write_raster(tmp_path / "img.tif", np.zeros((3, 40, 40), np.uint8), nodata=0)
    model = OnnxModel(bright_model)
    inputs = ModelInput(model.spec, GdalReader(path), {"red": 1, "green": 2, "blue": 3})
    out_dir = tmp_path / "out"
    out = DetectOutputs(str(out_dir / "p.tif"), str(out_dir / "m.tif"), str(out_dir / "poly.gpkg"))
    with pytest.raises(NoValidPixels, match="nodata"):
        detect(request(model, WindowSettings(64, 16)), inputs, model, out)
    assert os.listdir(out_dir) == []


@pytest.mark.parametrize("cancel_at", [0.3, 0.95])
def test_cancel_leaves_no_output_and_keeps_an_older_one(tmp_path, bright_model, scene, cancel_at):
    model = OnnxModel(bright_model)
    inputs = ModelInput(model.spec, GdalReader(scene["image"]), {"red": 1, "green": 2, "blue": 3})
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "p.tif").write_bytes(b"an older result")
    out = DetectOutputs(str(out_dir / "p.tif"), str(out_dir / "m.tif"), str(out_dir / "poly.gpkg"))
    seen = []

    def cancel():
        return bool(seen) and seen[-1] >= cancel_at

    with pytest.raises(Cancelled):
        detect(request(model, WindowSettings(64, 16)), inputs, model, out, progress=Progress(seen.append, cancel))
    assert sorted(os.listdir(out_dir)) == ["p.tif"]
    assert (out_dir / "p.tif").read_bytes() == b"an older result"


def test_window_must_fit_the_model_size_multiple(tmp_path, bright_model):
    path = write_raster(tmp_path / "img.tif", random_image((32, 32)))
    model = OnnxModel(bright_model)
    inputs = ModelInput(model.spec, GdalReader(path), {"red": 1, "green": 2, "blue": 3})
    out = DetectOutputs(str(tmp_path / "p.tif"), str(tmp_path / "m.tif"))
    with pytest.raises(ValueError, match="multiple of 16"):
        detect(request(model, WindowSettings(100, 16)), inputs, model, out)
