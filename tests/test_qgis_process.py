"""Detect (and Train, then Detect with the trained model) headless through qgis_process,
as an operations cell runs it."""

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from headless import qgis_process, start_profile
from osgeo import gdal, ogr
from rasters import polygons_of, read_raster

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


def printed_results(stdout: str) -> dict:
    """What qgis_process prints under "Results" after its log (one ``KEY:<tab>value`` a line)."""
    block = stdout[stdout.rindex("Results"):]
    return dict(line.split(":\t", 1) for line in block.splitlines() if ":\t" in line)


@pytest.fixture(scope="module")
def inventory(scene, tmp_path_factory):
    """The scene's landslides as the polygons a mapper digitized over it."""
    return polygons_of(scene["truth"], tmp_path_factory.mktemp("inventory") / "landslides.gpkg")


def test_train_headless_then_detect_runs_the_trained_model(qgis_env, scene, inventory, tmp_path):
    """Train landslide model as an operations cell runs it: the bundled default fine-tuned on
    the scene and its polygons within a one-minute budget, qgis_process printing the progress
    (its percentages, each validation's step and F1) and the before/after; the model, its
    saliency graph, curves and card written; then Detect runs that model as its custom model
    file, headless too."""
    pytest.importorskip("tensorflow")
    from landslide_mapper.algorithms.train import starting_models
    from landslide_mapper.core.io.outputs import THRESHOLD_METADATA
    from landslide_mapper.core.model.onnx_model import read_spec

    default = next(iter(starting_models()))
    model = tmp_path / "models" / "fine_tuned.onnx"
    proc = qgis_process(
        qgis_env, "run", "landslidemapper:train", "--",
        f"INPUT={scene['image']}", f"POLYGONS={inventory}", f"START_MODEL={default}", "MINUTES=1",
        "VAL_SHARE=0.25", "ADD_TO_MODEL_LIST=false", f"OUTPUT={model}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-5000:]
    log = proc.stdout
    results = printed_results(log)
    assert results["OUTPUT"] == str(model) and model.is_file() and "MODEL_KEY" not in results
    # progress as the console shows it: percentages, the plan, each validation with its F1
    assert "...100 - done." in log and re.search(r"Training with \S+ \((\d+) steps planned", log)
    validations = re.findall(r"Step (\d+) of (\d+): validation F1 ([\d.]+) \(best ([\d.]+)\)", log)
    assert validations, log[-5000:]
    assert [int(step) for step, *_ in validations] == sorted(int(step) for step, *_ in validations)
    assert "exporting and calibrating on the held-out regions" in log
    assert 0.0 <= float(results["VALIDATION_F1"]) <= 1.0

    # the model, its saliency graph, curves and card, and the card's before and after
    saliency, curves, card = (Path(results[k]) for k in ("SALIENCY_MODEL", "CURVES", "CARD"))
    assert saliency == model.with_name("fine_tuned_saliency.onnx") and saliency.is_file() and curves.is_file()
    assert sorted(p.name for p in model.parent.iterdir()) == [
        "fine_tuned.md", "fine_tuned.onnx", "fine_tuned.weights.npz", "fine_tuned_curves.png",
        "fine_tuned_saliency.onnx"]  # nothing half-written beside them
    spec, start = read_spec(model), read_spec(starting_models()[default])
    comparison = spec.extra["metrics"]["before_after"]
    before, after = (comparison[k]["f1_landslide_images"] for k in ("before", "after"))
    text = card.read_text()
    assert "## Before and after" in text and f"{default}.weights.npz" in text
    assert f"| before: {start.name} | {before:.3f}" in text and f"| **after: this model** | {after:.3f}" in text
    assert (f"On the held-out part, F1 on landslide areas: {start.name} {before:.3f}, this model {after:.3f}"
            in log)
    assert spec.saliency_model == saliency.name and read_spec(saliency).threshold == spec.threshold  # its pair

    # Detect, headless, with the trained model as its custom model file
    out = tmp_path / "detected"
    proc = qgis_process(
        qgis_env, "--json", "run", "landslidemapper:detect", "--",
        f"INPUT={scene['image']}", f"MODEL_FILE={model}", f"OUTPUT_PROBABILITY={out / 'p.tif'}",
        f"OUTPUT_MASK={out / 'm.tif'}", f"OUTPUT_POLYGONS={out / 'landslides.gpkg'}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    detected = json.loads(proc.stdout[proc.stdout.index("{"):])
    said = [line for line in detected["log"]["info"] if line.startswith("Model: ")]
    assert said and "(fine_tuned.onnx)" in said[0], detected["log"]
    results = detected["results"]
    probability = read_raster(results["OUTPUT_PROBABILITY"])[0]
    assert probability.shape == (512, 512) and np.isfinite(probability).all()
    mask = gdal.Open(results["OUTPUT_MASK"])
    assert float(mask.GetMetadataItem(THRESHOLD_METADATA)) == pytest.approx(spec.threshold, abs=1e-5)  # its own
    np.testing.assert_array_equal(mask.ReadAsArray() == 1, probability >= spec.threshold)
    polygons = ogr.Open(results["OUTPUT_POLYGONS"])
    layer = polygons.GetLayer()
    assert {feature.GetField("model") for feature in layer} <= {spec.name}
