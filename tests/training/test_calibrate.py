"""training/calibrate.py: one window picker for the export check and INT8 calibration, an
export calibrated on a Bijie-layout dataset that calibration alone reproduces, and the
starting model compared on what calibration predicted."""

import json

import numpy as np
import pytest
from training_samples import fake_bijie

pytest.importorskip("tensorflow")

from landslide_mapper.core.model.spec import ModelSpec  # noqa: E402
from landslide_mapper.training.data import Sample  # noqa: E402

pytestmark = pytest.mark.slow


def test_one_window_picker_for_the_export_check_and_int8_calibration():
    from landslide_mapper.training.calibrate import model_windows

    spec = ModelSpec.from_dict({
        "spec_version": 1, "name": "t", "architecture": "unet", "bands": ["red"],
        "normalization": {"mean": [0.0], "std": [1.0]}, "patch_size": 128, "size_multiple": 16, "threshold": 0.5,
        "output": "landslide_probability"})

    def image(value, landslide_in_second_window):
        mask = np.zeros((128, 300), np.uint8)
        if landslide_in_second_window is not None:
            mask[:, 200 if landslide_in_second_window else 0] = 1
        return Sample(str(value), {"red": np.arange(300, dtype=np.float32)[None].repeat(128, 0) + value * 1000}, mask)

    samples = [image(0, None), image(1, True), image(2, False), image(3, False), image(4, None)]
    # the check: each image's first window with landslide pixels; images without any give none
    check = model_windows(spec, samples, 2)
    assert check.shape == (2, 128, 128, 1)
    assert check[0, 0, 0, 0] == 1000 + 96 and check[1, 0, 0, 0] == 2000  # image 1's second window, image 2's first
    # calibration: each image's first window, at most 1 with landslides, then those without
    calibration = model_windows(spec, samples, 3, landslide_windows=1)
    assert [int(w[0, 0, 0] // 1000) for w in calibration] == [2, 0, 1]
    assert all(w[0, 0, 0] % 1000 == 0 for w in calibration)  # first windows only


def test_export_calibrates_on_a_bijie_dataset_and_calibration_runs_on_its_own(tmp_path):
    """`train --data` then `export --data` on a folder in the Bijie layout: the graphs are
    calibrated on its validation images and scored on its pinned test images; calibrating
    the written model again, as a step of its own, gives the same spec."""
    from landslide_mapper.core.model.onnx_model import OnnxModel, read_spec
    from landslide_mapper.training.calibrate import calibrate
    from landslide_mapper.training.cli import main
    from landslide_mapper.training.datasets import Bijie

    bijie = Bijie(fake_bijie(tmp_path / "bijie"))
    run = tmp_path / "run"
    main(["train", "--data", str(bijie.root), "--recipe", "paper", "--epochs", "1", "--base-filters", "4",
          "--batch-size", "8", "--quiet", "--out", str(run)])
    assert json.loads((run / "spec.json").read_text())["training"]["dataset"]["val_share"] == 0.3
    out = tmp_path / "models" / "b.onnx"
    main(["export", "--run", str(run), "--out", str(out), "--data", str(bijie.root), "--check-patches", "2"])
    spec = read_spec(out).to_dict()
    assert spec["resolution_m"] == 0.8 and spec["input_percentiles"]["bands"] == ["red", "green", "blue"]
    assert spec["export_check"]["real_patches"] and spec["export_check"]["patches"] == 2
    metrics = spec["metrics"]
    assert metrics["validation_images"]["images"] == 3 and metrics["test"]["images"] == 3  # 3 pinned test images
    assert metrics["test"]["data"] == Bijie.test_source and spec["threshold"] == metrics["validation_images"]["threshold"]
    # the threshold is chosen on the validation images run as one scene, as Detect runs a mapper's scene
    assert spec["threshold"] == metrics["validation_scene"]["threshold"] and metrics["test_scene"]["images"] == 3
    assert read_spec(out.with_name("b_saliency.onnx")).to_dict()["input_percentiles"] == spec["input_percentiles"]
    card = out.with_suffix(".md").read_text()
    assert "held-out test images (3)" in card and "Trained on Bijie (Guizhou, China)" in card
    assert "the same test images as one scene" in card and "validation images as one scene" in card
    again = calibrate(OnnxModel(out), spec, bijie)
    for key in ("threshold", "input_percentiles", "resolution_m", "object_filter"):
        assert again.get(key) == spec.get(key), key
    assert again["metrics"]["test"] == metrics["test"]


def test_beside_its_starting_model_calibration_predicts_the_validation_scene_once_per_model(tmp_path, monkeypatch):
    """Before and after (the starting model and the calibrated one on the validation images
    run as one scene) reuses the probabilities calibration made: each model runs over that
    scene once."""
    from landslide_mapper.core.model.onnx_model import OnnxModel
    from landslide_mapper.training import evaluate
    from landslide_mapper.training.calibrate import calibrate
    from landslide_mapper.training.datasets import Bijie
    from model_factory import build_model, default_spec

    bijie = Bijie(fake_bijie(tmp_path / "bijie"))
    start = OnnxModel(build_model(tmp_path / "start.onnx", default_spec(name="start"), brightness_band=3))
    model = OnnxModel(build_model(tmp_path / "new.onnx", default_spec(name="new"), seed=3))
    scenes, predict = [], evaluate.predict_sample

    def predict_counted(net, sample, *args, **kwargs):
        if sample.id == "validation-mosaic":  # the images run as one scene (validation, test)
            scenes.append((net.spec.name, sample.mask.shape))
        return predict(net, sample, *args, **kwargs)

    monkeypatch.setattr(evaluate, "predict_sample", predict_counted)
    spec = calibrate(model, model.spec.to_dict(), bijie, log=lambda _line: None, start=start)
    comparison = spec["metrics"]["before_after"]
    assert comparison["starting_model"] == "start" and comparison["images"] == 3
    assert comparison["before"]["threshold"] == 0.5 and comparison["after"]["threshold"] == spec["threshold"]
    assert set(comparison["gain_intervals"]) == {"f1_landslide_images", "f1", "recall"}
    # the new model: the validation scene, then the test scene; the start: the validation scene
    assert [name for name, _shape in scenes] == ["new", "new", "start"] and scenes[2][1] == scenes[0][1]
