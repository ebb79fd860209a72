"""The QGIS-free engine on real GeoTIFFs and real ONNX models."""

import os

import numpy as np
import pytest
from osgeo import ogr

from landslide_mapper.core.imagery.bands import build_stack
from landslide_mapper.core.errors import Cancelled, NoValidPixels
from landslide_mapper.core.detect.pipeline import DetectOutputs, detect
from landslide_mapper.core.detect.request import DetectRequest
from landslide_mapper.core.engine.progress import Progress
from landslide_mapper.core.engine.streaming import WindowSettings, predict_raster
from landslide_mapper.core.imagery.inputs import InputError, ModelInput
from landslide_mapper.core.model.onnx_model import OnnxModel
from landslide_mapper.core.io.readers import GdalReader, dem_on_grid
from landslide_mapper.core.model.spec import ModelSpec
from model_factory import build_model, default_spec, reference_forward
from rasters import random_image, read_raster, write_raster



def request(model, settings, min_area_m2=0.0) -> DetectRequest:
    """A Detect request for ``model`` with these windows, keeping every polygon by default."""
    return DetectRequest((str(model.path),), settings=settings, min_area_m2=min_area_m2)

def whole_image_reference(image, spec_dict, **kw):
    """The network run once over the whole image (zero padding at its edges)."""
    spec = ModelSpec.from_dict(spec_dict)
    stack = build_stack(spec, {"red": image[0], "green": image[1], "blue": image[2]})
    return reference_forward(stack[None], spec_dict, **kw)[0]


def run_predict(model, inputs, window, overlap, batch=4):
    rows = np.full((inputs.grid.height, inputs.grid.width), -1.0, np.float32)

    def collect(row0, values, valid):
        rows[row0 : row0 + values.shape[0]] = values

    predict_raster(inputs, model.predict, WindowSettings(window, overlap, batch), collect)
    return rows


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("shape,window,overlap", [((300, 410), 64, 32), ((200, 200), 128, 32), ((37, 50), 64, 32), ((90, 70), 32, 8)])
def test_sliding_windows_equal_a_whole_image_run_away_from_borders(tmp_path, layout, shape, window, overlap):
    image = random_image(shape)
    path = write_raster(tmp_path / "img.tif", image)
    spec = default_spec()
    model = OnnxModel(build_model(tmp_path / "m.onnx", spec, layout=layout))
    inputs = ModelInput(model.spec, GdalReader(path), {"red": 1, "green": 2, "blue": 3})
    blended = run_predict(model, inputs, window, overlap)
    expected = whole_image_reference(image, spec)
    # The net sees 2 px around a pixel, so a window differs from the whole run only within
    # 2 px of its edges, where the blend weight is at most sin²(pi/2 * 1.5/overlap).
    inner = (slice(3, -3), slice(3, -3))
    tolerance = np.sin(0.5 * np.pi * 1.5 / overlap) ** 2
    np.testing.assert_allclose(blended[inner], expected[inner], atol=tolerance)
    assert np.all((blended >= 0) & (blended <= 1))


def test_no_seams_at_window_borders(tmp_path):
    image = random_image((256, 256), seed=4)
    path = write_raster(tmp_path / "img.tif", image)
    model = OnnxModel(build_model(tmp_path / "m.onnx"))
    inputs = ModelInput(model.spec, GdalReader(path), {"red": 1, "green": 2, "blue": 3})
    no_overlap = run_predict(model, inputs, 64, 0)
    blended = run_predict(model, inputs, 64, 32)
    expected = whole_image_reference(image, default_spec())
    borders = [c for c in range(60, 200) if c % 64 in (63, 0)]
    # without overlap a window's zero padding shows as a seam; blending removes it
    seam_error = np.abs(no_overlap[:, borders] - expected[:, borders])[8:-8].max()
    blended_error = np.abs(blended[:, borders] - expected[:, borders])[8:-8].max()
    assert seam_error > 0.01
    assert blended_error < np.sin(0.5 * np.pi * 1.5 / 32) ** 2  # the blend weight 1 px in


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


def test_polygons_have_true_areas_and_probabilities(tmp_path, bright_model):
    image = np.full((3, 120, 120), 60, np.uint8)
    image[:, 10:30, 10:40] = 230  # 600 px bright block
    image[:, 80:83, 80:83] = 230  # 9 px, below the minimum area
    gt = (440000.0, 2.0, 0.0, 3020000.0, 0.0, -2.0)
    path = write_raster(tmp_path / "img.tif", image, geotransform=gt)
    model = OnnxModel(bright_model)
    inputs = ModelInput(model.spec, GdalReader(path), {"red": 1, "green": 2, "blue": 3})
    out = DetectOutputs(str(tmp_path / "p.tif"), str(tmp_path / "m.tif"), str(tmp_path / "poly.gpkg"))
    result = detect(request(model, WindowSettings(64, 16), 100), inputs, model, out)
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
    with pytest.raises(InputError, match="no coordinate reference system"):
        ModelInput(spec, GdalReader(no_crs), {"red": 1, "green": 2, "blue": 3})


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


def test_device_choice_and_the_provider_that_ran(tmp_path, provider, scene, bright_model):
    """auto runs on the best provider this ONNX Runtime has (here the CPU unless a GPU
    build is installed); a device it lacks is refused with what it offers; Detect logs
    the provider that actually ran."""
    import onnxruntime
    import processing
    from landslide_mapper.core.model.onnx_model import ModelError, providers_for
    from qgis.core import QgsProcessingFeedback

    available = onnxruntime.get_available_providers()
    expected = "CUDAExecutionProvider" if "CUDAExecutionProvider" in available else "CPUExecutionProvider"
    assert OnnxModel(bright_model).providers[0] == expected
    assert OnnxModel(bright_model, device="cpu").providers == ["CPUExecutionProvider"]
    missing = next(d for d, p in (("cuda", "CUDAExecutionProvider"), ("coreml", "CoreMLExecutionProvider"))
                   if p not in available)
    with pytest.raises(ModelError, match=f"device '{missing}' is not available.*it offers: "):
        providers_for(missing)

    class Log(QgsProcessingFeedback):
        lines: list = []

        def pushInfo(self, info):
            self.lines.append(info)

    log = Log()
    processing.run("landslidemapper:detect", {
        "INPUT": scene["image"], "MODEL_FILE": bright_model, "DEVICE": "cpu",
        "OUTPUT_PROBABILITY": str(tmp_path / "p.tif"), "OUTPUT_MASK": str(tmp_path / "m.tif"),
        "OUTPUT_POLYGONS": str(tmp_path / "l.gpkg")}, feedback=log)
    assert any("execution provider: CPUExecutionProvider" in line for line in log.lines)


def test_two_runs_cannot_write_the_same_output_at_once(tmp_path):
    """The second run aiming at an output the first is still writing stops at once with a
    plain message (no mix of both runs' files); once the first is done the path is free,
    and a lock left by a crashed run is taken over."""
    import subprocess

    from landslide_mapper.core.io.outputs import AtomicOutputs, OutputError

    final = str(tmp_path / "landslides.gpkg")
    with AtomicOutputs() as first:
        open(first.temporary(final), "w").write("first")
        with AtomicOutputs() as second:
            with pytest.raises(OutputError, match="Another run is writing .*landslides.gpkg right now"):
                second.temporary(final)
        first.commit()
    assert open(final).read() == "first"
    assert sorted(os.listdir(tmp_path)) == ["landslides.gpkg"]  # no lock left behind
    dead = subprocess.Popen(["true"])
    dead.wait()  # a process id that no longer runs
    (tmp_path / ".landslides.gpkg.lock").write_text(str(dead.pid))
    with AtomicOutputs() as third:
        open(third.temporary(final), "w").write("third")
        third.commit()
    assert open(final).read() == "third" and sorted(os.listdir(tmp_path)) == ["landslides.gpkg"]
