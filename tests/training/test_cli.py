"""training/cli.py: `python -m training train` end to end: the paper recipe on a raster
inventory with a DEM, on a patch folder written in QGIS and on Landslide4Sense (real data
from ../shared/data); the default recipe on a patch folder and on data in the
Landslide4Sense layout; and the options and bands a recipe cannot take, refused."""

import csv
import json

import numpy as np
import pytest
from locations import SHARED_DATA
from training_samples import blob_samples, fake_landslide4sense, needs_data

pytest.importorskip("tensorflow")

pytestmark = pytest.mark.slow


def test_cli_trains_on_a_raster_inventory_with_a_dem(tmp_path, scene):
    """`python -m training train --image --polygons --dem --recipe paper` end to end, on the
    generated scene and its own truth polygonized as the inventory: a slope model comes out."""
    from landslide_mapper.core.io.polygons import polygonize_mask
    from landslide_mapper.training.cli import main

    inventory = str(tmp_path / "inventory.gpkg")
    polygonize_mask(scene["truth"], scene["truth"], inventory, value_name="truth")
    run = tmp_path / "run"
    main(["train", "--image", scene["image"], "--polygons", inventory, "--dem", scene["dem"],
          "--bands", "red,green,blue,brightness,slope", "--arch", "se", "--out", str(run), "--recipe", "paper",
          "--epochs", "1",
          "--base-filters", "4", "--batch-size", "8", "--quiet"])
    spec = json.loads((run / "spec.json").read_text())
    assert spec["bands"] == ["red", "green", "blue", "brightness", "slope"]
    assert spec["architecture"] == "squeeze_excitation_unet"
    assert spec["training"]["dataset"] == {
        "name": "raster_inventory", "image": scene["image"], "polygons": inventory, "dem": scene["dem"],
        "band_numbers": {"red": 1, "green": 2, "blue": 3}, "negative_share": 0.2, "val_share": 0.3}
    assert 5 < spec["normalization"]["mean"][4] < 60  # slope in degrees on the scene's hills
    assert (run / "best.keras").exists()


def test_cli_trains_on_a_patch_folder_from_processing(provider, tmp_path, scene):
    """'Create training patches' in QGIS, then `python -m training train --patches --recipe paper`."""
    import processing
    from landslide_mapper.core.io.polygons import polygonize_mask
    from landslide_mapper.training.cli import main

    inventory = str(tmp_path / "inventory.gpkg")
    polygonize_mask(scene["truth"], scene["truth"], inventory, value_name="truth")
    folder = processing.run("landslidemapper:make_patches", {
        "INPUT": scene["image"], "POLYGONS": inventory, "OUTPUT_FOLDER": str(tmp_path / "patches")})["OUTPUT_FOLDER"]
    run = tmp_path / "run"
    main(["train", "--patches", folder, "--arch", "unet", "--out", str(run), "--recipe", "paper", "--epochs", "1",
          "--base-filters", "4", "--batch-size", "8", "--quiet"])
    spec = json.loads((run / "spec.json").read_text())
    assert spec["bands"] == ["red", "green", "blue", "brightness"] and spec["architecture"] == "unet"
    assert spec["training"]["dataset"]["folder"] == folder and spec["training"]["train_patches"] > 0
    assert spec["training"]["recipe_name"] == "paper"
    assert (run / "best.keras").exists()


@needs_data
def test_cli_trains_a_slope_model_on_landslide4sense(tmp_path):
    """The slope path end to end on real data (the paper recipe: the default one validates
    as Detect runs, which takes slope from a DEM): Landslide4Sense's slope band in, a slope
    model out, exported and run by the engine."""
    from landslide_mapper.core.model.onnx_model import OnnxModel
    from landslide_mapper.training.cli import main
    from landslide_mapper.training.export import export_run

    run = tmp_path / "run"
    main(["train", "--data", str(SHARED_DATA / "landslide4sense"), "--bands", "red,green,blue,brightness,slope",
          "--arch", "spatial", "--out", str(run), "--recipe", "paper", "--epochs", "1", "--base-filters", "4",
          "--batch-size", "4",
          "--quiet"])
    model = OnnxModel(export_run(run, tmp_path / "l4s.onnx", check_patches=2)[0])
    assert model.spec.bands[-1] == "slope" and model.spec.extra["training"]["dataset"]["name"] == "landslide4sense"
    assert model.predict(np.zeros((1, 5, 128, 128), np.float32)).shape == (1, 128, 128)


#: the default recipe in a few steps: tiny network, no XLA (compiling costs more than it saves here)
FEW_STEPS = ["--steps", "2", "--epoch-steps", "2", "--base-filters", "4", "--no-jit", "--quiet"]


def default_recipe_record(run) -> tuple[dict, dict, list[dict]]:
    """(spec, state, log rows) of a run folder."""
    with open(run / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return json.loads((run / "spec.json").read_text()), json.loads((run / "state.json").read_text()), rows


def assert_default_recipe(spec: dict, state: dict, rows: list[dict]) -> None:
    """What a run of the default recipe records: its name and description, its schedule,
    the presence head, and validation as Detect runs (one scene of the validation images)."""
    training = spec["training"]
    assert training["recipe_name"] == "default" and training["recipe"].startswith("AdamW + warm-up/cosine")
    assert (training["loss"], training["presence"], training["steps"], training["peak_learning_rate"]) == (
        "bce_dice", True, 2, 2e-3)
    assert state["step"] == 2 and state["stopped"] == "schedule complete at step 2"
    assert state["best_on"] == "validation mosaic" and "val_mosaic_f1" in rows[0] and len(rows) == 1


def test_cli_trains_a_patch_folder_with_the_default_recipe(tmp_path):
    """`train --patches` with the default recipe: each patch an image its crops are drawn
    from; 256-px crops of 128-px patches see other patches around them (--context mosaic);
    the bottleneck dilated (--bottleneck-dilations)."""
    from landslide_mapper.core.imagery.patches import write_patch_folder
    from landslide_mapper.training.cli import main
    from landslide_mapper.training.data import make_patchset

    patches = make_patchset(blob_samples(6, 6) + blob_samples(2, 7, landslides=False), 0.25)
    folder = write_patch_folder(patches, tmp_path / "patches", {"image": None, "dem": None})
    run = tmp_path / "run"
    main(["train", "--patches", str(folder), "--out", str(run), "--patch-size", "256", "--context", "mosaic",
          "--bottleneck-dilations", "2", "4", *FEW_STEPS])
    spec, state, rows = default_recipe_record(run)
    assert_default_recipe(spec, state, rows)
    assert spec["patch_size"] == 256 and spec["training"]["batch_size"] == 4  # as many pixels as 16 of 128
    assert spec["training"]["mix"]["context"] == "mosaic"
    # the dilated bottleneck is in the saved network (what export and resume load) and in its record
    import keras
    saved = keras.models.load_model(run / "best.keras", compile=False)
    assert [saved.get_layer(f"bottleneck_conv{i}").dilation_rate for i in (1, 2)] == [(2, 2), (4, 4)]
    assert spec["training"]["bottleneck_dilations"] == [2, 4]
    kept = int(len(patches) * (1 - 0.15))  # the default recipe's validation share; the last patches validate
    assert (spec["training"]["train_images"], spec["training"]["val_images"]) == (kept, len(patches) - kept)
    assert spec["training"]["dataset"]["name"] == "patch_folder" and spec["training"]["dataset"]["val_share"] == 0.15
    assert (run / "best.weights.npz").exists()

    # a run keeps its recipe: resuming it with the other one is refused, not switched
    with pytest.raises(SystemExit) as refused:
        main(["train", "--patches", str(folder), "--out", str(run), "--recipe", "paper", "--epochs", "1",
              "--base-filters", "4", "--resume", "--quiet"])
    assert "trained with the default recipe: resume it with --recipe default" in str(refused.value.code)


def test_cli_trains_landslide4sense_layout_data_with_the_default_recipe(tmp_path):
    """`train --data` on a folder in the Landslide4Sense layout with the default recipe:
    each 128-px patch file an image; its red, green and blue bands are what it reads."""
    from landslide_mapper.training.cli import main

    data = fake_landslide4sense(tmp_path / "l4s", count=7)
    run = tmp_path / "run"
    main(["train", "--data", str(data), "--out", str(run), "--batch-size", "4", *FEW_STEPS])
    spec, state, rows = default_recipe_record(run)
    assert_default_recipe(spec, state, rows)
    assert spec["bands"] == ["red", "green", "blue", "brightness"] and spec["patch_size"] == 128
    assert (spec["training"]["train_images"], spec["training"]["val_images"]) == (6, 1)
    assert spec["training"]["dataset"]["name"] == "landslide4sense"
    assert 0.2 < spec["normalization"]["mean"][0] < 0.4  # the files' rescaled red values, not 8-bit ones


def test_cli_refuses_what_the_recipe_cannot_take_rather_than_switch(tmp_path):
    """An option of the other recipe, or a band the recipe cannot train, stops the command
    with a message saying what would work; nothing is trained."""
    from landslide_mapper.core.imagery.patches import write_patch_folder
    from landslide_mapper.training.cli import main
    from landslide_mapper.training.data import make_patchset

    folder = write_patch_folder(make_patchset(blob_samples(3, 6), 0.0), tmp_path / "patches", {"image": None})
    run = tmp_path / "run"
    refusals = {
        ("--epochs", "1"): "--epochs: an option of the paper recipe, and this run uses the default recipe; add "
                           "--recipe paper",
        ("--recipe", "paper", "--steps", "5", "--context", "mosaic"):
            "--steps, --context: options of the default recipe, and this run uses the paper recipe; add --recipe "
            "default",
        ("--bands", "red,green,blue,slope"): "the default recipe cannot train a model with a slope band",
    }
    for options, message in refusals.items():
        with pytest.raises(SystemExit) as refused:
            main(["train", "--patches", str(folder), "--out", str(run), *options])
        assert message in str(refused.value.code)
        assert not run.exists()
