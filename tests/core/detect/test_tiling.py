"""A Detect job split into tiles (in process, on a Dask LocalCluster, through the CLI
against a running scheduler) merges into exactly the single-machine run."""

import os
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from landslide_mapper.core.detect.pipeline import DetectOutputs, detect
from landslide_mapper.core.detect.request import DetectRequest, load_model
from landslide_mapper.core.detect.tiling import cached_model, dask_runner, detect_tiled, plan_tiles, run_in_process
from landslide_mapper.core.engine.progress import SILENT, Progress
from landslide_mapper.core.engine.streaming import WindowSettings
from landslide_mapper.core.engine.windows import AxisGrid
from landslide_mapper.core.errors import Cancelled
from landslide_mapper.core.imagery.recipe import InputOptions, model_input
from landslide_mapper.core.io.readers import GdalReader
from landslide_mapper.core.model.catalog import bundled_models
from locations import ROOT
from model_factory import gradient_model
from osgeo import gdal, ogr
from rasters import ramp_scene, read_raster, write_raster

PLUGINS = os.path.join(ROOT, "build", "plugins")  # holds the plugin as landslide_mapper (plugin_root.py)
BANDS = {"red": 1, "green": 2, "blue": 3}


@pytest.fixture(scope="module")
def default_model():
    models = bundled_models()
    if not models:
        pytest.skip("no bundled model")
    return str(next(iter(models.values())))


@pytest.fixture(scope="module")
def holed_scene(scene, tmp_path_factory):
    """The scene with a nodata hole that spans several windows and tiles."""
    image, gt, wkt, _ = read_raster(scene["image"])
    image = image.copy()
    image[:, 300:380, 40:200] = 0
    path = tmp_path_factory.mktemp("holed") / "image.tif"
    write_raster(path, image, epsg=None, geotransform=gt, nodata=0)
    ds = gdal.Open(str(path), gdal.GA_Update)
    ds.SetProjection(wkt)
    ds = None
    return str(path)


def outputs_in(folder) -> DetectOutputs:
    return DetectOutputs(str(folder / "probability.tif"), str(folder / "mask.tif"), str(folder / "landslides.gpkg"))


def polygon_rows(path):
    ds = ogr.Open(path)
    layer = ds.GetLayer(0)
    rows = sorted((round(f.GetField("area_m2"), 6), round(f.GetField("mean_prob"), 6), f.GetGeometryRef().ExportToWkt())
                  for f in layer)
    return rows


def assert_same_outputs(a: DetectOutputs, b: DetectOutputs):
    for name in ("probability", "mask"):
        left, right = read_raster(getattr(a, name)), read_raster(getattr(b, name))
        assert left[0].dtype == right[0].dtype
        assert np.array_equal(left[0], right[0]), f"{name} differs"
        assert left[1:] == right[1:]
    assert polygon_rows(a.polygons) == polygon_rows(b.polygons)


def request_for(model_path, settings, dem=None, threads=0) -> DetectRequest:
    # every polygon kept (no object filter): the comparison then covers all of them
    return DetectRequest((model_path,), inputs=InputOptions(BANDS, dem), settings=settings, min_area_m2=0.0, threads=threads,
                         object_filter=False)


def single_run(request, image, folder):
    model = load_model(request)
    return detect(request, model_input(request.inputs, model.spec, GdalReader(image)), model, outputs_in(folder))


def split_run(request, image, folder, tile_size, runner=run_in_process, progress=SILENT):
    model = cached_model(request)
    inputs = model_input(request.inputs, model.spec, GdalReader(image))
    return detect_tiled(request, image, inputs, model, outputs_in(folder), tile_size, runner, progress)


def test_tiles_cover_the_raster_once():
    for width, height, size in ((1000, 700, 256), (5, 3, 4096), (4097, 4096, 4096), (513, 1, 100)):
        covered = np.zeros((height, width), np.int32)
        for r in plan_tiles(width, height, size):
            assert 0 < r.width <= size and 0 < r.height <= size
            covered[r.row0 : r.row0 + r.height, r.col0 : r.col0 + r.width] += 1
        assert (covered == 1).all()


def test_covering_windows_are_exactly_those_touching_the_pixels():
    for length, window, overlap in ((700, 128, 32), (50, 64, 32), (1000, 256, 0)):
        grid = AxisGrid(length, window, overlap)
        for start, stop in ((0, length), (0, 1), (length - 1, length), (97, 301), (96, 97)):
            if stop > length:
                continue
            touching = [i for i in range(grid.count)
                        if grid.start(i) < stop and grid.start(i) + window > start]
            assert grid.covering(start, stop) == (touching[0], touching[-1])


@pytest.mark.parametrize("tile_size,batch", [(200, 3), (333, 8), (96, 1)])
def test_split_run_equals_single_run_bit_for_bit(tmp_path, default_model, holed_scene, tile_size, batch):
    """Tile edges mid-window, a nodata hole across tiles, batches cut by tile edges:
    probability, mask and polygons are identical to one run over the whole raster."""
    request = request_for(default_model, WindowSettings(128, 32, batch))
    single = single_run(request, holed_scene, tmp_path / "one")
    split = split_run(request, holed_scene, tmp_path / "split", tile_size)
    assert_same_outputs(outputs_in(tmp_path / "one"), outputs_in(tmp_path / "split"))
    assert (split.valid_pixels, split.landslide_pixels, split.polygon_count) == (
        single.valid_pixels, single.landslide_pixels, single.polygon_count)
    assert 0 < single.valid_pixels < 512 * 512 and single.polygon_count > 0
    assert sorted(p.name for p in tmp_path.joinpath("split").iterdir()) == ["landslides.gpkg", "mask.tif",
                                                                          "probability.tif"]


def test_split_run_with_a_dem_in_another_grid_equals_single_run(tmp_path, slope_model, scene):
    request = request_for(slope_model, WindowSettings(64, 16, 4), dem=scene["dem"])
    single_run(request, scene["image"], tmp_path / "one")
    split_run(request, scene["image"], tmp_path / "split", 150)
    assert_same_outputs(outputs_in(tmp_path / "one"), outputs_in(tmp_path / "split"))


def test_cancelled_or_failed_split_run_leaves_nothing(tmp_path, default_model, scene):
    request = request_for(default_model, WindowSettings(128, 32, 8))
    done = []
    with pytest.raises(Cancelled):
        split_run(request, scene["image"], tmp_path, 256, progress=Progress(done.append, lambda: len(done) > 0))
    assert list(tmp_path.iterdir()) == []

    def failing_runner(job, regions, folder):
        yield from run_in_process(job, regions[:1], folder)
        raise OSError("worker lost")

    with pytest.raises(OSError, match="worker lost"):
        split_run(request, scene["image"], tmp_path, 256, runner=failing_runner)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_dask_local_cluster_equals_single_run(tmp_path, default_model, holed_scene):
    pytest.importorskip("distributed")
    request = request_for(default_model, WindowSettings(128, 32, 8), threads=1)
    single_run(request, holed_scene, tmp_path / "one")
    with dask_runner(workers=2) as runner:
        split_run(request, holed_scene, tmp_path / "dask", 200, runner)
    assert_same_outputs(outputs_in(tmp_path / "one"), outputs_in(tmp_path / "dask"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_cli_on_a_running_dask_scheduler_equals_single_run(tmp_path, default_model, holed_scene):
    """As in production: a scheduler and a worker started with Dask's own commands, the
    folder holding the plugin (as landslide_mapper) on the worker's PYTHONPATH, and
    `python -m core detect --scheduler`."""
    pytest.importorskip("distributed")
    dask = shutil.which("dask", path=os.path.dirname(sys.executable))
    address = f"tcp://127.0.0.1:{free_port()}"
    env = {**os.environ, "PYTHONPATH": PLUGINS}
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                               "--no-dashboard"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        time.sleep(2)
        procs.append(subprocess.Popen([dask, "worker", address, "--nworkers", "2", "--nthreads", "1",
                                       "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        cli = [sys.executable, "-m", "core", "detect", "--input", holed_scene, "--model", default_model]
        run = subprocess.run(cli + ["--output", str(tmp_path / "cluster"), "--scheduler", address,
                                    "--tile-size", "200", "--threads", "1"],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        assert "polygons" in run.stdout
        single = subprocess.run(cli + ["--output", str(tmp_path / "one"), "--threads", "1"],
                                cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert single.returncode == 0, single.stderr
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=30)
    assert_same_outputs(outputs_in(tmp_path / "one"), outputs_in(tmp_path / "cluster"))


def test_cli_reports_bad_input_in_plain_words(tmp_path, default_model, scene):
    run = subprocess.run([sys.executable, "-m", "core", "detect", "--input", scene["image"], "--model", default_model,
                          "--output", str(tmp_path / "out"), "--red", "7"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode != 0
    assert "error: The red band is set to band 7, but the image has 3 band(s)" in run.stderr
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_split_run_at_the_models_resolution_equals_single_run(tmp_path):
    """A 2 m image and a model that learned at 1 m: tiles on the model's grid, merged,
    resampled back onto the image's grid, exactly as one run does it."""
    model_path = gradient_model(tmp_path / "ramp.onnx", resolution_m=1.0)
    image = ramp_scene(tmp_path / "coarse.tif", 2.0)
    request = request_for(model_path, WindowSettings(64, 16, 4))
    single = single_run(request, image, tmp_path / "one")
    assert model_input(request.inputs, load_model(request).spec, GdalReader(image)).grid.width == 256  # ran at 1 m
    split = split_run(request, image, tmp_path / "split", 100)
    assert_same_outputs(outputs_in(tmp_path / "one"), outputs_in(tmp_path / "split"))
    assert read_raster(str(tmp_path / "split" / "probability.tif"))[0].shape == (128, 128)
    assert split.valid_pixels == single.valid_pixels == 128 * 128
