"""training/card.py: the model card, written from the spec alone."""

import pytest
from locations import ROOT

pytest.importorskip("tensorflow")

pytestmark = pytest.mark.slow


def test_model_card_is_written_from_the_spec_alone():
    from landslide_mapper.core.model.onnx_model import read_spec
    from landslide_mapper.training.card import model_card

    bundled = read_spec(ROOT / "models" / "spatial_attention_unet.onnx").to_dict()
    card = model_card(bundled, "spatial_attention_unet.onnx")
    assert "- Trained on Bijie (Guizhou, China) imagery only" in card
    assert "- No slope band (the copy of Bijie available has no DEM), so terrain is not used." in card
    assert "Values are 8-bit display values" in card and f"crops of {bundled['patch_size']} px drawn from them" in card
    hardware = bundled["metrics"].get("hardware")  # runs before recording it trained on CPUs
    assert (f"({bundled['metrics']['cpu_hours']} hours on {hardware}, " if hardware else
            f"({bundled['metrics']['cpu_hours']} CPU-hours, ") in card
    other = {**bundled, "bands": ["red", "green", "blue", "slope"],
             "normalization": {"mean": [0.0] * 4, "std": [1.0] * 4},
             "training": {**bundled["training"], "dataset": {"name": "landslide4sense", "path": "l4s"}},
             "metrics": {**bundled["metrics"], "hardware": "NVIDIA H200", "stopped": "time limit at step 10"}}
    card = model_card(other, "other.onnx")
    assert "Bijie" not in card.split("## Limits")[1] and "- Trained on Landslide4Sense imagery only" in card
    assert "Slope is an input" in card and "No slope band" not in card and "brightness = " not in card
    assert f"({bundled['metrics']['cpu_hours']} hours on NVIDIA H200, " in card
    assert "stopped by the training time budget (training on NVIDIA H200)" in card
    assert "the dataset's rescaled values" in card
    inventory = {**other, "training": {**bundled["training"], "dataset": {"image": "/data/scene.tif"},
                                       "train_patches": 40, "val_patches": 12}}
    card = model_card(inventory, "mine.onnx")  # a run from before datasets were named: known by its keys
    assert "Trained on one raster (scene.tif) imagery only" in card and "40 training and 12 validation patches" in card


def test_the_card_says_when_the_crops_had_field_jitter():
    from landslide_mapper.core.model.onnx_model import read_spec
    from landslide_mapper.training.card import model_card

    bundled = read_spec(ROOT / "models" / "spatial_attention_unet.onnx").to_dict()
    for field in (False, True):
        training = {**bundled["training"], "mix": {**bundled["training"].get("mix", {}), "field_augment": field}}
        card = model_card({**bundled, "training": training}, "spatial_attention_unet.onnx")
        assert ("field jitter: ground resolution 0.6-1.5x" in card) == field
