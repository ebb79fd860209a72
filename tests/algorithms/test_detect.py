"""Detect through real QGIS Processing: processing.run, a saved .model3 and bad inputs."""

import os
import re
from pathlib import Path

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
    from landslide_mapper.algorithms.qgis_reader import QgsProviderReader
    from landslide_mapper.core.io.readers import GdalReader
    from qgis.core import QgsRasterLayer

    layer = QgsRasterLayer(scene["image"], "image")
    via_qgis = QgsProviderReader(layer)
    via_gdal = GdalReader(scene["image"])
    assert via_qgis.grid.geotransform == pytest.approx(via_gdal.grid.geotransform)
    a, valid_a = via_qgis.read([3, 1], 100, 37, 90, 61)
    b, valid_b = via_gdal.read([3, 1], 100, 37, 90, 61)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(valid_a, valid_b)


def test_provider_reader_sees_nodata(provider, tmp_path):
    from landslide_mapper.algorithms.qgis_reader import QgsProviderReader
    from qgis.core import QgsRasterLayer

    image = random_image((20, 30))
    image[image == 0] = 1
    image[:, 5:8, :] = 0
    path = write_raster(tmp_path / "nd.tif", image, nodata=0)
    _, valid = QgsProviderReader(QgsRasterLayer(path, "nd")).read([1, 2, 3], 0, 0, 30, 20)
    assert not valid[5:8].any() and valid[:5].all() and valid[8:].all()


def test_detect_inside_a_saved_graphical_model(provider, scene, bright_model, tmp_path):
    from modeler import add_child, image_chain, run_saved
    from qgis.core import QgsApplication

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


def bad_input_error(params, tmp_path, keep=()):
    from qgis.core import QgsProcessingException

    out = outputs(tmp_path / "out")
    with pytest.raises(QgsProcessingException) as err:
        run({**out, **params})
    assert sorted(os.listdir(tmp_path / "out")) == sorted(keep), "a failed run must leave no output"
    return str(err.value)


def _nocrs(ctx):
    return {"INPUT": write_raster(ctx["tmp"] / "nocrs.tif", random_image((64, 64)), epsg=None)}


def _all_nodata(ctx):
    return {"INPUT": write_raster(ctx["tmp"] / "empty.tif", np.zeros((3, 64, 64), np.uint8), nodata=0)}


def _far_dem(ctx):
    dem = write_raster(ctx["tmp"] / "far.tif", np.zeros((10, 10), np.float32),
                       geotransform=(100000.0, 10, 0, 1000000.0, 0, -10))
    return {"DEM": dem, "MODEL_FILE": ctx["slope_model"]}


def _model_file(ctx, name, content: bytes):
    path = ctx["tmp"] / name
    path.write_bytes(content)
    return {"MODEL_FILE": str(path)}


def _model_with_spec(ctx, name, **spec_changes):
    from model_factory import build_model, default_spec

    spec = default_spec(**spec_changes)
    for key in [k for k, v in spec_changes.items() if v is None]:
        del spec[key]
    return {"MODEL_FILE": build_model(ctx["tmp"] / name, spec)}


def _unwritable(ctx):
    blocker = ctx["tmp"] / "a-file"
    blocker.write_text("not a folder")
    return {"OUTPUT_PROBABILITY": str(blocker / "p.tif")}


def _truncated(ctx):
    """A GeoTIFF cut off half way, as an interrupted download leaves it: the header reads,
    the lower rows do not."""
    whole = write_raster(ctx["tmp"] / "whole.tif", random_image((256, 256)))
    data = open(whole, "rb").read()
    (ctx["tmp"] / "truncated.tif").write_bytes(data[: len(data) // 2])
    return {"INPUT": str(ctx["tmp"] / "truncated.tif")}


def _vrt_missing_source(ctx):
    from osgeo import gdal

    source = write_raster(ctx["tmp"] / "tile.tif", random_image((128, 128)))
    gdal.BuildVRT(str(ctx["tmp"] / "mosaic.vrt"), [source])
    os.remove(source)
    return {"INPUT": str(ctx["tmp"] / "mosaic.vrt")}


def _panchromatic(ctx):
    image = np.random.default_rng(0).integers(0, 255, (128, 128)).astype(np.uint8)
    return {"INPUT": write_raster(ctx["tmp"] / "pan.tif", image)}


def _all_nan(ctx):
    return {"INPUT": write_raster(ctx["tmp"] / "nan.tif", np.full((3, 96, 96), np.nan, np.float32))}


def _nan_model(ctx):
    """A real ONNX model that returns NaN: log of a negative number."""
    import json

    import onnx
    from model_factory import METADATA_KEY, default_spec
    from onnx import TensorProto, helper, numpy_helper

    consts = [numpy_helper.from_array(np.array(v, dtype), name) for v, dtype, name in (
        ([0], np.int64, "start"), ([1], np.int64, "end"), ([3], np.int64, "axis"), (1.0, np.float32, "one"))]
    nodes = [helper.make_node("Slice", ["input", "start", "end", "axis"], ["first"]),
             helper.make_node("Abs", ["first"], ["magnitude"]), helper.make_node("Add", ["magnitude", "one"], ["shifted"]),
             helper.make_node("Neg", ["shifted"], ["negative"]), helper.make_node("Log", ["negative"], ["probability"])]
    graph = helper.make_graph(nodes, "nan", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", "H", "W", 4])],
                              [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["N", "H", "W", 1])],
                              initializer=consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {METADATA_KEY: json.dumps(default_spec())})
    onnx.save(model, str(ctx["tmp"] / "nan.onnx"))
    return {"MODEL_FILE": str(ctx["tmp"] / "nan.onnx")}


def _spec_contradicts_graph(ctx):
    """A graph taking 3 bands under a spec that lists 4."""
    import json

    import onnx
    from model_factory import METADATA_KEY, build_model, default_spec

    three = default_spec(bands=["red", "green", "blue"], normalization={"mean": [100.0] * 3, "std": [50.0] * 3})
    path = build_model(ctx["tmp"] / "contradicts.onnx", three)
    model = onnx.load(path)
    onnx.helper.set_model_props(model, {METADATA_KEY: json.dumps(default_spec())})
    onnx.save(model, path)
    return {"MODEL_FILE": path}


# (case, parameters over a valid run on the scene with the bright model, what the message must say)
BAD_INPUTS = [
    ("wrong band number", lambda ctx: {"BLUE_BAND": 4}, "band 4, but the image has 3 band(s)"),
    ("image without CRS", _nocrs, "no coordinate reference system"),
    ("all-nodata image", _all_nodata, "Every pixel of the input is nodata"),
    ("extent outside the image", lambda ctx: {"EXTENT": "0,10,0,10 [EPSG:32648]"}, "extent does not overlap"),
    ("DEM not overlapping", _far_dem, "does not overlap the image"),
    ("slope model without DEM", lambda ctx: {"MODEL_FILE": ctx["slope_model"]}, "uses slope: give a DEM"),
    ("corrupt ONNX file", lambda ctx: _model_file(ctx, "corrupt.onnx", b"\x08\x07garbage" * 50),
     "is not a valid ONNX model"),
    ("not an ONNX file", lambda ctx: _model_file(ctx, "notes.onnx", b"these are my notes"), "is not a valid ONNX model"),
    ("model without spec", lambda ctx: {"MODEL_FILE": __import__("model_factory").build_model(
        ctx["tmp"] / "nospec.onnx", include_spec=False)}, "no Landslide Mapper spec"),
    ("invalid spec", lambda ctx: _model_with_spec(ctx, "invalid.onnx", patch_size=None, threshold=2.5),
     "missing field(s): patch_size"),
    ("spec from a newer version", lambda ctx: _model_with_spec(ctx, "newer.onnx", spec_version=2),
     "spec_version 2 is not supported"),
    ("bands the image lacks", lambda ctx: _model_with_spec(ctx, "nir.onnx", bands=["red", "green", "blue", "nir"]),
     "needs the nir band"),
    ("window not a multiple of 16", lambda ctx: {"WINDOW": 100}, "multiple of 16"),
    ("output folder not writable", _unwritable, "Cannot write"),
    ("truncated image", _truncated, "damaged or incomplete"),
    ("VRT with a missing source", _vrt_missing_source, "points at file(s) that do not exist"),
    ("one-band image for an RGB model", _panchromatic, "a panchromatic or single-band image?"),
    ("image of only NaN", _all_nan, "nodata"),
    ("model that returns NaN", _nan_model, "returned NaN"),
    ("model whose graph contradicts its spec", _spec_contradicts_graph, "takes 3 input band(s), but its spec lists 4"),
    ("extent in a CRS that cannot be transformed", lambda ctx: {"EXTENT": "0,10,0,10 [IAU_2015:30100]"},
     "cannot be transformed to the raster's"),
]


@pytest.mark.parametrize("case, make, expected", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_fails_cleanly(provider, scene, bright_model, slope_model, tmp_path, case, make, expected):
    """Every bad input: a Processing error whose message names the problem, no output
    file left behind (an older output stays), and QGIS carries on (the next run works)."""
    ctx = {"tmp": tmp_path, "slope_model": slope_model}
    out = outputs(tmp_path / "out")
    (tmp_path / "out" / "landslides.gpkg").write_bytes(b"an older result")
    message = bad_input_error({"INPUT": scene["image"], "MODEL_FILE": bright_model, **make(ctx)}, tmp_path,
                              keep=["landslides.gpkg"])
    assert expected in message, message
    assert (tmp_path / "out" / "landslides.gpkg").read_bytes() == b"an older result"
    assert run({"INPUT": scene["image"], "MODEL_FILE": bright_model, **out})["OUTPUT_MASK"]


def test_a_threshold_that_leaves_nothing_gives_valid_empty_outputs(provider, scene, bright_model, tmp_path):
    from qgis.core import QgsProcessingFeedback

    class Log(QgsProcessingFeedback):
        lines: list = []

        def pushInfo(self, info):
            self.lines.append(info)

    feedback = Log()
    result = run({"INPUT": scene["image"], "MODEL_FILE": bright_model, "THRESHOLD": 0.9999, **outputs(tmp_path)},
                 feedback)
    mask = read_raster(result["OUTPUT_MASK"])[0]
    assert mask.shape == (512, 512) and not (mask == 1).any()
    assert ogr.Open(result["OUTPUT_POLYGONS"]).GetLayer().GetFeatureCount() == 0
    assert any("No landslide found" in line for line in feedback.lines), feedback.lines


@pytest.mark.parametrize("size, window", [(40, 128), (100, 256)])
def test_a_raster_smaller_than_the_window_runs_mirrored(provider, bright_model, tmp_path, size, window):
    """Not an error: the raster is mirrored up to the window, and every output is on its grid."""
    image = write_raster(tmp_path / "small.tif", random_image((size, size)))
    result = run({"INPUT": image, "MODEL_FILE": bright_model, "WINDOW": window, "OVERLAP": 16, **outputs(tmp_path)})
    probability = read_raster(result["OUTPUT_PROBABILITY"])[0]
    assert probability.shape == (size, size) and np.isfinite(probability).all()


@pytest.mark.parametrize("at_percent", [5, 50, 95])
def test_cancel_at_any_point_leaves_nothing(provider, scene, bright_model, tmp_path, at_percent):
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    class CancelAt(QgsProcessingFeedback):
        def setProgress(self, progress):
            super().setProgress(progress)
            if progress >= at_percent:
                self.cancel()

    out = outputs(tmp_path / "out")
    with pytest.raises(QgsProcessingException, match="Cancelled: no output was written"):
        run({"INPUT": scene["image"], "MODEL_FILE": bright_model, "WINDOW": 64, **out}, CancelAt())
    assert os.listdir(tmp_path / "out") == []


def test_no_bundled_model_and_no_file(provider, scene, tmp_path, monkeypatch):
    from landslide_mapper.algorithms import common

    monkeypatch.setattr(common, "available_models", lambda _user_folder: {})  # no model bundled, none trained
    message = bad_input_error({"INPUT": scene["image"]}, tmp_path)
    assert "No bundled model is installed yet" in message


def test_default_model_is_the_bundled_recommended_one(provider, tmp_path):
    from landslide_mapper.core.model.catalog import RECOMMENDED, bundled_models

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


def test_outputs_are_styled_when_loaded_run_after_run(provider, scene, bright_model, tmp_path):
    """Loaded as the dialog loads them (Processing's post-processing), twice in one session:
    the second run is styled as the first (a post-processor QGIS deleted after the first run
    used to stop it), and each run's layers read top to bottom polygons, rasters, image."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject

    project = QgsProject.instance()
    for run_number in (1, 2):
        context = QgsProcessingContext()
        context.setProject(project)
        processing.runAndLoadResults(
            ALG, {"INPUT": scene["image"], "MODEL_FILE": bright_model, **outputs(tmp_path / f"run{run_number}")},
            context=context, feedback=QgsProcessingFeedback(),
        )
        order = [node.layer() for node in project.layerTreeRoot().findLayers()]
        newest = {layer.name(): layer for layer in order[:3]}
        assert list(newest) == ["Landslide polygons", "Landslide mask", "Landslide probability"], [
            layer.name() for layer in order]
        assert sum(layer.name() == "Landslide polygons" for layer in order) == run_number
        assert newest["Landslide probability"].renderer().type() == "singlebandpseudocolor"
        assert newest["Landslide mask"].renderer().type() == "paletted"
        assert newest["Landslide polygons"].renderer().symbol().color().alpha() == 0  # outlines: the image shows
        assert not project.layerTreeRoot().findLayer(newest["Landslide mask"].id()).isVisible()
    project.removeAllMapLayers()


def test_the_window_defaults_to_the_models_own_patch_size(provider, scene, bright_model, tmp_path):
    from qgis.core import QgsProcessingFeedback

    feedback = QgsProcessingFeedback()
    run({"INPUT": scene["image"], "MODEL_FILE": bright_model, **outputs(tmp_path)}, feedback)
    assert "windows of 64 x 64 pixels" in feedback.textLog()  # the test model's spec: patch 64
    feedback = QgsProcessingFeedback()
    run({"INPUT": scene["image"], "MODEL_FILE": bright_model, "WINDOW": 128, **outputs(tmp_path / "asked")}, feedback)
    assert "windows of 128 x 128 pixels" in feedback.textLog()
    assert re.search(r"of \d[\d,]* windows \(\d+ %\), about .* left", feedback.textLog())  # stages with time left


def mount_tmpfs(folder, options: str):
    """A small file system of its own at ``folder`` (CI runs as root; elsewhere the test
    cannot build its case and says so)."""
    import subprocess

    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    return folder


# GDAL's close of the failed GeoTIFF reports its own second write error as unraisable
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_disk_full_while_writing(provider, scene, bright_model, tmp_path):
    """Outputs on a 300 KiB file system: a message about space, no file left, and the
    space given back (the failed GeoTIFF closed before it was removed)."""
    import shutil
    import subprocess

    small = mount_tmpfs(tmp_path / "small-disk", "size=300k")
    try:
        message = bad_input_error({"INPUT": scene["image"], "MODEL_FILE": bright_model,
                                   **outputs(small / "out")}, small)
        assert "space" in message.lower(), message
        import glob
        links = []
        for fd in glob.glob("/proc/self/fd/*"):
            try:
                links.append(os.readlink(fd))
            except OSError:
                pass
        held = [link for link in links if str(small) in link]
        assert shutil.disk_usage(small).used < 64 * 1024, held
    finally:
        subprocess.run(["umount", str(small)], capture_output=True)


def test_a_read_only_file_system_fails_cleanly(provider, scene, bright_model, tmp_path):
    """Outputs on a read-only mount (a write-protected card, a read-only share): the plain
    message, and the next run elsewhere works."""
    import subprocess

    locked = mount_tmpfs(tmp_path / "read-only", "ro,size=64k")
    try:
        from qgis.core import QgsProcessingException

        with pytest.raises(QgsProcessingException) as err:
            run({"INPUT": scene["image"], "MODEL_FILE": bright_model, **outputs_in(locked)})
        assert "Cannot write" in str(err.value) and "read-only" in str(err.value).lower(), str(err.value)
        assert os.listdir(locked) == []
    finally:
        subprocess.run(["umount", str(locked)], capture_output=True)
    assert run({"INPUT": scene["image"], "MODEL_FILE": bright_model, **outputs(tmp_path / "elsewhere")})


def test_an_unreadable_block_in_the_middle_of_a_scene_stops_with_the_place(provider, bright_model, tmp_path):
    """A bad block half way down a tiled, compressed scene: the rows above it were already
    processed and written under temporary names; the run stops naming the file and the rows,
    and leaves nothing."""
    from osgeo import gdal
    from qgis.core import QgsProcessingException

    clean = write_raster(tmp_path / "clean.tif", random_image((768, 768)))
    damaged = str(tmp_path / "damaged.tif")
    gdal.Translate(damaged, clean, creationOptions=["TILED=YES", "COMPRESS=DEFLATE", "BLOCKXSIZE=256",
                                                    "BLOCKYSIZE=256"])
    dataset = gdal.Open(damaged)  # held: a band does not keep its dataset alive
    offset = int(dataset.GetRasterBand(1).GetMetadataItem("BLOCK_OFFSET_1_2", "TIFF"))  # the bottom middle tile
    dataset = None
    with open(damaged, "r+b") as f:
        f.seek(offset)
        f.write(b"\xff" * 64)  # not a deflate stream any more
    with pytest.raises(QgsProcessingException) as err:
        run({"INPUT": damaged, "MODEL_FILE": bright_model, **outputs(tmp_path / "out")})
    message = str(err.value)
    assert "damaged.tif" in message and "damaged or incomplete" in message and "rows" in message, message
    assert os.listdir(tmp_path / "out") == []


def test_a_missing_or_damaged_overview_does_not_stop_detect(provider, bright_model, tmp_path):
    """Overviews are for display: Detect reads full-resolution pixels, so a scene whose
    external overview file is damaged (or gone) maps exactly as the clean scene."""
    from osgeo import gdal

    image = write_raster(tmp_path / "scene.tif", random_image((300, 300)))
    clean = read_raster(run({"INPUT": image, "MODEL_FILE": bright_model, **outputs(tmp_path / "clean")})[
        "OUTPUT_PROBABILITY"])[0]
    dataset = gdal.Open(image)  # read-only: gdaladdo writes an external scene.tif.ovr
    dataset.BuildOverviews("AVERAGE", [2, 4])
    dataset = None
    overview = Path(image + ".ovr")
    overview.write_bytes(overview.read_bytes()[:200])  # cut short
    damaged = read_raster(run({"INPUT": image, "MODEL_FILE": bright_model, **outputs(tmp_path / "damaged")})[
        "OUTPUT_PROBABILITY"])[0]
    np.testing.assert_array_equal(damaged, clean)


def outputs_in(folder):
    """Output paths in an existing folder (``outputs`` creates its folder)."""
    return {"OUTPUT_PROBABILITY": str(folder / "probability.tif"), "OUTPUT_MASK": str(folder / "mask.tif"),
            "OUTPUT_POLYGONS": str(folder / "landslides.gpkg")}


def test_run_over_a_drawn_extent_only(provider, scene, bright_model, tmp_path):
    """An extent (here in geographic coordinates) limits the run to the pixels it
    touches; away from its edges the result is the whole run's."""
    from osgeo import osr

    full = run({"INPUT": scene["image"], "MODEL_FILE": bright_model, **outputs(tmp_path / "full")})
    whole, (x0, px, _, y0, _, py), _, _ = read_raster(full["OUTPUT_MASK"])
    utm, wgs84 = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(32648)
    wgs84.ImportFromEPSG(4326)
    for srs in (utm, wgs84):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    # columns 100..300, rows 50..250, as longitude/latitude bounds
    lon0, lat0, lon1, lat1 = osr.CoordinateTransformation(utm, wgs84).TransformBounds(
        x0 + 100.2 * px, y0 + 249.8 * py, x0 + 299.8 * px, y0 + 50.2 * py, 21)
    part = run({"INPUT": scene["image"], "MODEL_FILE": bright_model,
                "EXTENT": f"{lon0},{lon1},{lat0},{lat1} [EPSG:4326]", **outputs(tmp_path / "part")})
    mask, geotransform, _, _ = read_raster(part["OUTPUT_MASK"])
    rows, cols = mask.shape
    col0, row0 = round((geotransform[0] - x0) / px), round((geotransform[3] - y0) / py)
    assert 100 - 2 <= col0 <= 100 and 50 - 2 <= row0 <= 50 and 200 <= cols <= 204 and 200 <= rows <= 204
    inner = (slice(40, rows - 40), slice(40, cols - 40))
    assert np.array_equal(mask[inner], whole[row0:row0 + rows, col0:col0 + cols][inner])


def test_two_runs_at_once_as_background_tasks_do_not_interfere(provider, qgis_app, scene, bright_model,
                                                               slope_model, tmp_path):
    """Two Detect runs started together as QGIS background tasks (as the toolbox runs
    them) give exactly what each gives alone."""
    import time

    from qgis.core import QgsApplication, QgsProcessingAlgRunnerTask, QgsProcessingContext, QgsProcessingFeedback

    jobs = {
        "bright": {"INPUT": scene["image"], "MODEL_FILE": bright_model, "WINDOW": 64},
        "slope": {"INPUT": scene["image"], "MODEL_FILE": slope_model, "DEM": scene["dem"], "OVERLAP": 16},
    }
    alone = {name: read_raster(run({**params, **outputs(tmp_path / f"{name}-alone")})["OUTPUT_PROBABILITY"])[0]
             for name, params in jobs.items()}
    algorithm = QgsApplication.processingRegistry().algorithmById(ALG)
    tasks, results, keep = [], {}, []
    for name, params in jobs.items():
        context, feedback = QgsProcessingContext(), QgsProcessingFeedback()
        task = QgsProcessingAlgRunnerTask(algorithm, {**params, **outputs(tmp_path / f"{name}-together")},
                                          context, feedback)
        task.executed.connect(lambda ok, out, name=name: results.__setitem__(name, (ok, out)))
        keep += [context, feedback]
        tasks.append(task)
    for task in tasks:
        QgsApplication.taskManager().addTask(task)
    deadline = time.monotonic() + 120
    while len(results) < len(jobs) and time.monotonic() < deadline:
        qgis_app.processEvents()
        time.sleep(0.01)
    assert set(results) == set(jobs) and all(ok for ok, _ in results.values()), results
    for name in jobs:
        together = read_raster(results[name][1]["OUTPUT_PROBABILITY"])[0]
        assert np.array_equal(together, alone[name]), name
