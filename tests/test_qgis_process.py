"""Detect headless through qgis_process, as an operations cell runs it."""

import json
import os
import shutil

import numpy as np
import pytest
from headless import qgis_process, start_profile
from osgeo import ogr
from rasters import read_raster

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def qgis_env(tmp_path_factory):
    return start_profile(tmp_path_factory.mktemp("qgis-home"))


def test_detect_runs_headless(qgis_env, scene, bright_model, tmp_path):
    out = tmp_path / "out"
    proc = qgis_process(
        qgis_env, "--json", "run", "landslidemapper:detect", "--",
        f"INPUT={scene['image']}", f"MODEL_FILE={bright_model}", "MIN_AREA=20",
        f"OUTPUT_PROBABILITY={out / 'p.tif'}", f"OUTPUT_MASK={out / 'm.tif'}",
        f"OUTPUT_POLYGONS={out / 'landslides.gpkg'}",
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    results = json.loads(proc.stdout[proc.stdout.index("{"):])["results"]
    mask = read_raster(results["OUTPUT_MASK"])[0]
    truth = read_raster(scene["truth"])[0]
    assert np.logical_and(mask == 1, truth == 1).sum() / truth.sum() > 0.8
    dataset = ogr.Open(results["OUTPUT_POLYGONS"])
    assert dataset.GetLayer().GetFeatureCount() >= 5


def test_headless_bad_input_fails_with_the_message(qgis_env, scene, bright_model, tmp_path):
    out = tmp_path / "out"
    proc = qgis_process(
        qgis_env, "run", "landslidemapper:detect", "--",
        f"INPUT={scene['image']}", f"MODEL_FILE={bright_model}", "RED_BAND=7",
        f"OUTPUT_PROBABILITY={out / 'p.tif'}", f"OUTPUT_MASK={out / 'm.tif'}",
        f"OUTPUT_POLYGONS={out / 'l.gpkg'}",
    )
    assert proc.returncode != 0
    assert "band 7, but the image has 3 band(s)" in proc.stdout + proc.stderr
    assert not out.exists() or os.listdir(out) == []


def test_headless_detect_writes_nothing_beside_its_inputs(qgis_env, scene, bright_model, tmp_path):
    """qgis_process opens every raster it is given before the algorithm runs: still no
    .aux.xml (QGIS's statistics) appears beside the image or the DEM."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for name in ("image", "dem"):
        shutil.copy(scene[name], inputs / f"{name}.tif")
    out = tmp_path / "out"
    proc = qgis_process(
        qgis_env, "run", "landslidemapper:detect", "--",
        f"INPUT={inputs / 'image.tif'}", f"DEM={inputs / 'dem.tif'}", f"MODEL_FILE={bright_model}",
        f"OUTPUT_PROBABILITY={out / 'p.tif'}", f"OUTPUT_MASK={out / 'm.tif'}", f"OUTPUT_POLYGONS={out / 'l.gpkg'}",
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert sorted(os.listdir(inputs)) == ["dem.tif", "image.tif"]


def test_help_lists_the_contract_parameters(qgis_env):
    proc = qgis_process(qgis_env, "help", "landslidemapper:detect")
    assert proc.returncode == 0, proc.stderr
    for name in ("INPUT", "RED_BAND", "GREEN_BAND", "BLUE_BAND", "DEM", "MODEL", "MODEL_FILE", "THRESHOLD",
                 "WINDOW", "OVERLAP", "MIN_AREA", "OUTPUT_PROBABILITY", "OUTPUT_MASK", "OUTPUT_POLYGONS"):
        assert f"{name}:" in proc.stdout, name


def test_saliency_runs_headless(qgis_env, scene, exported_model, tmp_path):
    out = tmp_path / "out"
    proc = qgis_process(
        qgis_env, "--json", "run", "landslidemapper:saliency", "--",
        f"INPUT={scene['image']}", f"MODEL_FILE={exported_model}", "PERCENTILE=97",
        f"OUTPUT_SALIENCY={out / 's.tif'}", f"OUTPUT_ZONES={out / 'zones.gpkg'}",
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    results = json.loads(proc.stdout[proc.stdout.index("{"):])["results"]
    values = read_raster(results["OUTPUT_SALIENCY"])[0]
    assert values.shape == (512, 512) and values.max() > 0
    dataset = ogr.Open(results["OUTPUT_ZONES"])
    assert dataset.GetLayer().GetFeatureCount() > 0
