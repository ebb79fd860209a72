"""Train landslide model through real QGIS Processing: a tiny training in a child Python
with TensorFlow writes a model that Detect runs; cancel leaves nothing; no TensorFlow, a
clear message. The split by area and the time plan are checked without TensorFlow."""

import json
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal
from rasters import polygons_of

ALG = "landslidemapper:train"


@pytest.fixture(scope="module")
def inventory(scene, tmp_path_factory):
    """The scene's landslides as polygons (truth.tif polygonized)."""
    return polygons_of(scene["truth"], tmp_path_factory.mktemp("inventory") / "landslides.gpkg")


def run(params, feedback=None):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    return processing.run(ALG, params, context=QgsProcessingContext(), feedback=feedback or QgsProcessingFeedback())


def tiny(scene, inventory, output, **extra):
    """From scratch, 4 base filters, a one-minute budget: the smallest real training."""
    return {"INPUT": scene["image"], "POLYGONS": inventory, "START_MODEL": "from scratch", "BASE_FILTERS": 4,
            "MINUTES": 1.0, "VAL_SHARE": 0.25, "OUTPUT": str(output), **extra}


def test_region_split_holds_out_whole_regions(scene, inventory):
    from landslide_mapper.training.datasets import RasterRegions, dataset_from_provenance

    dataset = RasterRegions(scene["image"], inventory)
    split = dataset.split(0.25, 42)
    assert dataset.region_size == 256 and len(split.train) == 3 and len(split.validation) == 1
    validation = dataset.samples(split.validation)
    assert validation[0].mask.shape == (256, 256) and validation[0].mask.any()  # validation holds landslides
    assert any(s.mask.any() for s in dataset.samples(split.train))  # and so does training
    again = dataset_from_provenance(dataset.provenance(0.25))  # what export --same-data rebuilds
    assert again.split(0.25, 42) == split


def test_several_images_each_give_validation_regions(scene, inventory, tmp_path):
    """Two images under one polygon layer: each is split by area, each gives validation
    regions, each takes only the polygons over it; the split is rebuilt from the spec."""
    from landslide_mapper.training.datasets import RasterSet, dataset_from_args, dataset_from_provenance

    # the scene's right half as a second image (its own grid, its own landslides)
    right = str(tmp_path / "right.tif")
    gdal.Translate(right, scene["image"], srcWin=[256, 0, 256, 512])

    class Args:
        image, polygons, split_by, red, green, blue, dem, bands = [scene["image"], right], inventory, "region", 1, \
            2, 3, None, ("red", "green", "blue", "brightness")
        region_size, mapped_area, polygons_layer, mapped_area_layer = 128, None, None, None

    dataset = dataset_from_args(Args)
    assert isinstance(dataset, RasterSet)
    split = dataset.split(0.25, 42)
    assert {i.split(":")[0] for i in split.validation} == {"0", "1"}  # both images validate
    assert not set(split.train) & set(split.validation)
    right_regions = dataset.samples([i for i in split.train + split.validation if i.startswith("1:")])
    assert sum(s.mask.size for s in right_regions) == 256 * 512
    # the right image's landslides are the scene's, over the same ground
    truth = gdal.Open(scene["truth"]).ReadAsArray()[:, 256:]
    assert sum(int(s.mask.sum()) for s in right_regions) == pytest.approx(int((truth > 0).sum()), rel=0.02)
    again = dataset_from_provenance(dataset.provenance(0.25))
    assert again.split(0.25, 42) == split and dataset.resolution_m == pytest.approx(1.0)


def test_plan_ends_with_validations_within_the_budget():
    from landslide_mapper.algorithms.train import VALIDATIONS, plan

    for minutes, filters in ((1.0, 4), (20.0, 16), (0.5, 16)):
        schedule = plan(minutes, filters)
        assert schedule["max_minutes"] < minutes
        assert schedule["steps"] // schedule["epoch_steps"] >= VALIDATIONS
    assert plan(20.0, 16)["steps"] > 300  # twenty minutes of 1.5-s steps


def test_progress_lines_say_what_is_left(capsys):
    from landslide_mapper.training.cli import ProgressLines

    clock = iter([0.0, 10.0, 20.0, 30.0])
    lines = ProgressLines(max_minutes=1.0, every=0.0, clock=lambda: next(clock))
    lines({"step": 1, "steps": 100})  # the first step compiles: no rate yet, the deadline says
    lines({"step": 2, "steps": 100})  # 10 s a step: 980 s, but the budget ends in 40
    lines({"step": 5, "steps": 6, "epoch": 1, "val_f1": 0.5, "best_f1": 0.5})  # 5 s a step since the first: 5 s
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["seconds_left"] for r in reports] == [50, 40, 5]
    assert reports[2]["val_f1"] == 0.5 and reports[2]["epoch"] == 1


def test_no_tensorflow_python_gives_the_command(provider, scene, inventory, tmp_path, monkeypatch):
    monkeypatch.setenv("LANDSLIDE_MAPPER_TRAINING_PYTHON", "/usr/bin/python3")
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match=r"lacks tensorflow.*-m venv --system-site-packages.*pip install"):
        run(tiny(scene, inventory, tmp_path / "model.onnx"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_train_from_scratch_writes_a_model_detect_runs(provider, scene, inventory, tmp_path):
    pytest.importorskip("tensorflow")
    out = tmp_path / "models" / "my_terrain.onnx"
    second = str(tmp_path / "second.tif")  # a second image under the same polygons
    gdal.Translate(second, scene["image"], srcWin=[0, 0, 512, 256])
    result = run(tiny(scene, inventory, out, MORE_IMAGES=[second]))
    assert result["OUTPUT"] == str(out) and out.is_file()
    assert Path(result["SALIENCY_MODEL"]).is_file() and Path(result["CURVES"]).is_file()
    assert (out.parent / "my_terrain.weights.npz").is_file()  # what a later run fine-tunes
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "my_terrain.md", "my_terrain.onnx", "my_terrain.weights.npz", "my_terrain_curves.png",
        "my_terrain_saliency.onnx"]  # no temporary folder left
    card = Path(result["CARD"]).read_text()
    assert "F1" in card and "2 rasters (image.tif, second.tif)" in card and "split by area" in card
    assert 0.0 <= result["VALIDATION_F1"] <= 1.0

    from landslide_mapper.core.model.onnx_model import read_spec

    spec = read_spec(out)
    assert spec.extra["training"]["base_filters"] == 4 and spec.extra["training"]["dataset"]["name"] == "raster_set"
    import processing
    from landslide_mapper.algorithms.common import user_models_dir

    # added to the model list: Detect runs it by name
    assert result["MODEL_KEY"] == "my_terrain"
    listed = user_models_dir() / "my_terrain.onnx"
    assert listed.read_bytes() == out.read_bytes() and (user_models_dir() / "my_terrain_saliency.onnx").is_file()
    detected = processing.run("landslidemapper:detect", {
        "INPUT": scene["image"], "MODEL": "my_terrain", "OUTPUT_PROBABILITY": str(tmp_path / "p.tif"),
        "OUTPUT_MASK": str(tmp_path / "m.tif"), "OUTPUT_POLYGONS": str(tmp_path / "l.gpkg")})
    probability = gdal.Open(detected["OUTPUT_PROBABILITY"]).ReadAsArray()
    assert probability.shape == (512, 512) and np.isfinite(probability).all()
    for name in ("my_terrain.onnx", "my_terrain_saliency.onnx", "my_terrain.md"):
        (user_models_dir() / name).unlink()


def test_a_model_added_to_the_list_is_offered_and_run_by_name(provider, scene, bright_model, tmp_path):
    """What Train does after training, with a real (tiny, untrained-here) model: Detect's list
    offers it by name, beside the bundled ones, and a name clash is told apart."""
    import shutil

    import processing
    from landslide_mapper.algorithms.common import model_options, user_models_dir
    from landslide_mapper.algorithms.train import add_to_model_list
    from landslide_mapper.core.model.catalog import RECOMMENDED
    from qgis.core import QgsApplication

    written = tmp_path / "written"
    written.mkdir()
    shutil.copy(bright_model, written / "bright_terrain.onnx")
    shutil.copy(bright_model, written / f"{RECOMMENDED}.onnx")
    (written / "bright_terrain.md").write_text("card")
    try:
        assert add_to_model_list(written / "bright_terrain.onnx", user_models_dir()) == "bright_terrain"
        assert add_to_model_list(written / f"{RECOMMENDED}.onnx", user_models_dir()) == f"{RECOMMENDED} (yours)"
        assert (user_models_dir() / "bright_terrain.md").read_text() == "card"
        assert model_options()[0] == RECOMMENDED and {"bright_terrain", f"{RECOMMENDED} (yours)"} <= set(model_options())
        detect = QgsApplication.processingRegistry().createAlgorithmById("landslidemapper:detect")
        assert "bright_terrain" in detect.parameterDefinition("MODEL").options()
        out = {k: str(tmp_path / v) for k, v in (("OUTPUT_PROBABILITY", "p.tif"), ("OUTPUT_MASK", "m.tif"),
                                                  ("OUTPUT_POLYGONS", "l.gpkg"))}
        by_name = processing.run("landslidemapper:detect", {"INPUT": scene["image"], "MODEL": "bright_terrain", **out})
        by_file = processing.run("landslidemapper:detect", {"INPUT": scene["image"], "MODEL_FILE": bright_model,
                                                            **{k: v.replace(".", "_file.") for k, v in out.items()}})
        np.testing.assert_array_equal(gdal.Open(by_name["OUTPUT_PROBABILITY"]).ReadAsArray(),
                                      gdal.Open(by_file["OUTPUT_PROBABILITY"]).ReadAsArray())
    finally:
        for name in ("bright_terrain.onnx", "bright_terrain.md", f"{RECOMMENDED}.onnx"):
            (user_models_dir() / name).unlink(missing_ok=True)
    assert "bright_terrain" not in model_options()


@pytest.mark.slow
def test_cancel_leaves_no_model(provider, scene, inventory, tmp_path):
    pytest.importorskip("tensorflow")
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    class CancelAtFirstStep(QgsProcessingFeedback):
        def setProgress(self, value):
            super().setProgress(value)
            if value > 0:
                self.cancel()

    out = tmp_path / "model.onnx"
    with pytest.raises(QgsProcessingException, match="Cancelled: no model was written"):
        run(tiny(scene, inventory, out, MINUTES=5.0), CancelAtFirstStep())
    assert list(tmp_path.iterdir()) == []  # neither the model nor the temporary folder


@pytest.mark.slow
def test_fine_tune_the_bundled_default(provider, scene, inventory, tmp_path):
    pytest.importorskip("tensorflow")
    from landslide_mapper.algorithms.train import starting_models

    default = next(iter(starting_models()))
    from qgis.core import QgsProcessingFeedback

    class Log(QgsProcessingFeedback):
        lines = []

        def pushInfo(self, info):
            self.lines.append(info)

        def pushWarning(self, warning):
            self.lines.append(warning)

    out, log = tmp_path / "fine_tuned.onnx", Log()
    result = run({"INPUT": scene["image"], "POLYGONS": inventory, "START_MODEL": default, "MINUTES": 1.0,
                  "VAL_SHARE": 0.25, "OUTPUT": str(out), "ADD_TO_MODEL_LIST": False}, log)
    assert "MODEL_KEY" not in result
    card = Path(result["CARD"]).read_text()
    assert out.is_file() and "Started from the weights" in card and f"{default}.weights.npz" in card
    from landslide_mapper.core.model.onnx_model import read_spec

    spec, start = read_spec(out), read_spec(starting_models()[default])
    assert spec.patch_size == start.patch_size  # fine-tuned in the context it learned
    # ... and on the scale its first layer learned, not this scene's
    assert (spec.mean, spec.std) == (start.mean, start.std)
    comparison = spec.extra["metrics"]["before_after"]
    assert comparison["starting_model"] == start.name and comparison["before"]["threshold"] == start.threshold
    assert comparison["after"]["threshold"] == spec.threshold
    assert set(comparison["gain_intervals"]) == {"f1_landslide_images", "f1", "recall"}
    assert "## Before and after" in card and f"before: {start.name}" in card
    # one held-out region: no interval pretends to say anything
    assert comparison["images"] == 1 and "no interval can be given" in card
    said = [line for line in log.lines if line.startswith("On the held-out part")]
    assert said and f"{comparison['after']['f1_landslide_images']:.3f}" in said[0]
    warned = any("scores better on the held-out part" in line for line in log.lines)
    assert warned == (comparison["after"]["f1_landslide_images"] < comparison["before"]["f1_landslide_images"])
