"""training/cli.py: `python -m training train` end to end, on a raster inventory with a DEM,
on a patch folder written in QGIS, and on Landslide4Sense (real data from ../shared/data)."""

import json

import numpy as np
import pytest
from locations import SHARED_DATA
from training_samples import needs_data

pytest.importorskip("tensorflow")

pytestmark = pytest.mark.slow


def test_cli_trains_on_a_raster_inventory_with_a_dem(tmp_path, scene):
    """`python -m training train --image --polygons --dem` end to end, on the generated
    scene and its own truth polygonized as the inventory: a slope model comes out."""
    from landslide_mapper.core.io.polygons import polygonize_mask
    from landslide_mapper.training.cli import main

    inventory = str(tmp_path / "inventory.gpkg")
    polygonize_mask(scene["truth"], scene["truth"], inventory, value_name="truth")
    run = tmp_path / "run"
    main(["train", "--image", scene["image"], "--polygons", inventory, "--dem", scene["dem"],
          "--bands", "red,green,blue,brightness,slope", "--arch", "se", "--out", str(run), "--epochs", "1",
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
    """'Create training patches' in QGIS, then `python -m training train --patches`."""
    import processing
    from landslide_mapper.core.io.polygons import polygonize_mask
    from landslide_mapper.training.cli import main

    inventory = str(tmp_path / "inventory.gpkg")
    polygonize_mask(scene["truth"], scene["truth"], inventory, value_name="truth")
    folder = processing.run("landslidemapper:make_patches", {
        "INPUT": scene["image"], "POLYGONS": inventory, "OUTPUT_FOLDER": str(tmp_path / "patches")})["OUTPUT_FOLDER"]
    run = tmp_path / "run"
    main(["train", "--patches", folder, "--arch", "unet", "--out", str(run), "--epochs", "1",
          "--base-filters", "4", "--batch-size", "8", "--quiet"])
    spec = json.loads((run / "spec.json").read_text())
    assert spec["bands"] == ["red", "green", "blue", "brightness"] and spec["architecture"] == "unet"
    assert spec["training"]["dataset"]["folder"] == folder and spec["training"]["train_patches"] > 0
    assert (run / "best.keras").exists()


@needs_data
def test_cli_trains_a_slope_model_on_landslide4sense(tmp_path):
    """The slope path end to end on real data: Landslide4Sense's slope band in, a slope
    model out, exported and run by the engine."""
    from landslide_mapper.core.model.onnx_model import OnnxModel
    from landslide_mapper.training.cli import main
    from landslide_mapper.training.export import export_run

    run = tmp_path / "run"
    main(["train", "--data", str(SHARED_DATA / "landslide4sense"), "--bands", "red,green,blue,brightness,slope",
          "--arch", "spatial", "--out", str(run), "--epochs", "1", "--base-filters", "4", "--batch-size", "4",
          "--quiet"])
    model = OnnxModel(export_run(run, tmp_path / "l4s.onnx", check_patches=2)[0])
    assert model.spec.bands[-1] == "slope" and model.spec.extra["training"]["dataset"]["name"] == "landslide4sense"
    assert model.predict(np.zeros((1, 5, 128, 128), np.float32)).shape == (1, 128, 128)
