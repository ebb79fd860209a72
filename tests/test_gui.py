"""The Detect dialog a mapper opens from the Processing toolbox, in real QGIS widgets."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from landslide_mapper.core.model.catalog import bundled_models

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "build" / "test-artifacts"


def test_detect_dialog_shows_the_active_layer_and_the_defaults(provider, qgis_app, qgis_iface, scene):
    from processing.gui.AlgorithmDialog import AlgorithmDialog
    from qgis.core import QgsApplication, QgsProject, QgsRasterLayer
    from qgis.gui import QgsBrowserGuiModel

    layer = QgsRasterLayer(scene["image"], "post-event image")
    QgsProject.instance().addMapLayer(layer)
    qgis_iface.setActiveLayer(layer)
    browser = QgsBrowserGuiModel()
    qgis_iface.browserModel = lambda: browser  # pytest-qgis's interface has no browser of its own
    algorithm = QgsApplication.processingRegistry().createAlgorithmById("landslidemapper:detect")
    dialog = AlgorithmDialog(algorithm, False, None)
    dialog.resize(1000, 700)
    dialog.show()
    qgis_app.processEvents()
    shown = dialog.mainWidget().createProcessingParameters(include_default=True)
    assert QgsProject.instance().mapLayer(shown["INPUT"]) is layer
    recommended = next(iter(bundled_models()), "none")
    assert (shown["MODEL"], shown["WINDOW"], shown["OVERLAP"], shown["INPUT_SCALING"], shown["PRECISION"],
            shown["DEVICE"], shown["MIN_AREA"]) == (recommended, None, 32, "auto", "auto", "auto", 100.0)
    assert shown["TTA"] is False and shown["ENSEMBLE"] is False and shown["THRESHOLD"] is None
    assert "\n" not in algorithm.shortHelpString() and "Detect" in dialog.windowTitle() + algorithm.displayName()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert dialog.grab().save(str(ARTIFACTS / "detect_dialog.png"))
    dialog.close()
    QgsProject.instance().removeMapLayer(layer.id())


@pytest.mark.parametrize("name", ["detect", "saliency", "evaluate", "make_patches", "train"])
def test_number_boxes_show_the_decimals_each_parameter_declares(provider, qgis_app, qgis_iface, name):
    """No spin box in our dialogs reads like "20.000000" minutes: QGIS shows six decimals
    unless a parameter says otherwise, so every decimal parameter says how many it needs."""
    from processing.gui.AlgorithmDialog import AlgorithmDialog
    from qgis.core import QgsApplication, QgsProcessingParameterNumber
    from qgis.gui import QgsBrowserGuiModel, QgsDoubleSpinBox

    browser = QgsBrowserGuiModel()
    qgis_iface.browserModel = lambda: browser
    algorithm = QgsApplication.processingRegistry().createAlgorithmById(f"landslidemapper:{name}")
    doubles = [p for p in algorithm.parameterDefinitions()
               if isinstance(p, QgsProcessingParameterNumber) and p.dataType() == QgsProcessingParameterNumber.Double]
    declared = {p.name(): p.metadata().get("widget_wrapper", {}).get("decimals") for p in doubles}
    assert doubles and None not in declared.values(), declared
    dialog = AlgorithmDialog(algorithm, False, None)
    dialog.show()
    qgis_app.processEvents()
    shown = sorted(box.decimals() for box in dialog.findChildren(QgsDoubleSpinBox))
    dialog.close()
    assert shown == sorted(declared.values())  # the dialog honours them


BIJIE = ROOT.parent / "shared" / "data" / "bijie"


def desktop_image(tmp_path, scene) -> str:
    """Real Bijie imagery where ../shared/data is present (what the screenshots should
    show), else the generated scene."""
    from rasters import bijie_mosaic

    return bijie_mosaic(BIJIE, tmp_path)[1] if (BIJIE / "index.csv").exists() else scene["image"]


def desktop_inventory(tmp_path, scene) -> str:
    """The landslides mapped over desktop_image as polygons in a GeoPackage: the four Bijie
    images' masks, else the generated scene's truth."""
    from rasters import bijie_mosaic_truth, polygons_of

    truth = bijie_mosaic_truth(BIJIE, tmp_path) if (BIJIE / "index.csv").exists() else scene["truth"]
    return polygons_of(truth, tmp_path / "inventory.gpkg")


def run_desktop_session(tmp_path, image: str, inventory: str) -> dict:
    """The `qgis` binary itself on an X server (Xvfb), a fresh profile with the plugin
    enabled as a user's would be, running tests/desktop/desktop_session.py."""
    if not (shutil.which("qgis") and shutil.which("xvfb-run")):
        pytest.skip("needs the qgis desktop and xvfb-run (make setup installs both)")
    profiles = tmp_path / "profiles"
    settings = profiles / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    settings.parent.mkdir(parents=True)
    settings.write_text("[PythonPlugins]\nlandslide_mapper=true\n\n[qgis]\ncheckVersion=false\n")
    out = tmp_path / "out"
    out.mkdir()
    site = subprocess.run([sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # a mapper's QGIS: no training Python or venv named for it (the session finds the checkout's .venv)
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "LANDSLIDE_MAPPER_TRAINING_PYTHON",
                                                             "LANDSLIDE_MAPPER_TRAINING_VENV")}
    env.update(QT_QPA_PLATFORM="xcb", QGIS_PLUGINPATH=str(ROOT / "build" / "plugins"), PYTHONPATH=site,
               LANDSLIDE_GUI_OUT=str(out), LANDSLIDE_GUI_IMAGE=image, LANDSLIDE_GUI_INVENTORY=inventory)
    run = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", "qgis", "--nologo", "--noversioncheck",
                          "--profiles-path", str(profiles), "--code",
                          str(ROOT / "tests" / "desktop" / "desktop_session.py")],
                         env=env, capture_output=True, text=True, timeout=900)
    result_file = out / "result.json"
    assert result_file.exists(), f"QGIS exited ({run.returncode}) without a result:\n{run.stderr[-3000:]}"
    result = json.loads(result_file.read_text())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for png in out.glob("*.png"):
        shutil.copy(png, ARTIFACTS / f"desktop_{png.name}")
    assert "error" not in result, result["error"]
    return result


def _by_name(run: dict) -> dict:
    return {layer["name"]: layer for layer in run["layers"]}


@pytest.mark.slow
def test_a_mappers_first_session_in_the_real_qgis_desktop(tmp_path, scene):
    """In the real desktop under Xvfb: every dialog opens (Detect with at most 8 inputs up
    front), Train landslide model opened without a training Python asks once (answered No),
    and Detect, Saliency, Detect again run through the dialog's Run path, each
    loading its layers styled, stacked for reading and counted right in the log; then Train
    landslide model, run from its dialog with a short budget on the image and the landslide
    polygons over it, fine-tunes the default, says its progress and before/after in the log,
    lists the model for Detect, and Detect runs it."""
    result = run_desktop_session(tmp_path, desktop_image(tmp_path, scene), desktop_inventory(tmp_path, scene))
    assert "landslide_mapper" in result["active_plugins"]
    assert result["qt_platform"] == "xcb"  # a real X display, not the offscreen platform
    assert result["input_is_active_layer"]
    dialogs = result["dialogs"]
    assert len(dialogs["detect"]["up_front"]) <= 8, dialogs["detect"]["up_front"]
    assert {"INPUT", "MODEL", "THRESHOLD"} <= set(dialogs["detect"]["up_front"])
    assert all(d["group"] for d in dialogs.values()) and all(d["help_url"] for d in dialogs.values())
    recommended = next(iter(bundled_models()), "none")
    assert (dialogs["detect"]["shown"]["MODEL"], dialogs["detect"]["shown"]["MIN_AREA"]) == (recommended, 100.0)

    # Train landslide model opened from the toolbox (search, Enter) with no training Python: the
    # plugin asks once, No is remembered, Processing says why it cannot run and where to make it
    asked = result["train_question"]
    assert asked["selected"] == "landslidemapper:train"
    assert [box["kind"] for box in asked["first"]] == ["question", "message"], asked["first"]
    question, cannot_run = asked["first"]
    assert question["png"] == "train_environment_question.png" and question["saved"]
    assert "about 600 MB" in question["text"] and asked["venv"] in question["text"]
    assert "QGIS's own Python is left untouched" in question["text"] and "Install training environment" in question["text"]
    assert {"Yes", "No"} <= {button.replace("&", "") for button in question["buttons"]}, question["buttons"]
    assert "cannot be run" in cannot_run["text"] and "Install training environment" in cannot_run["text"]
    assert cannot_run["saved"]
    assert asked["declined_after_no"] and not asked["venv_made"]
    assert [box["kind"] for box in asked["second"]] == ["message"], asked["second"]  # not asked again
    assert "Plugins > Landslide Mapper > Install training environment" in asked["second"][0]["text"]
    can, why = asked["can_execute_again"]
    assert not can and asked["asked_by_direct_call"] == []
    assert "Plugins > Landslide Mapper > Install training environment" in why and "-m venv --system-site-packages" in why
    assert asked["declined_restored"] and asked["venv_variable_restored"]  # nothing leaks into the session

    first, saliency, second = result["runs"]
    for run in (first, second):  # the second Detect of the session works as the first did
        assert run["ok"], run["log"][-2000:]
        layers = _by_name(run)
        assert {"Landslide probability", "Landslide mask", "Landslide polygons"} <= set(layers), list(layers)
        polygons = layers["Landslide polygons"]
        logged = re.search(r"(\d+) landslide polygon", run["log"])
        assert logged and int(logged.group(1)) == polygons["features"], (logged, polygons["features"])
        assert polygons["fill_alpha"] == 0 and polygons["visible"]  # an outline: the image stays readable
        probability = layers["Landslide probability"]
        assert probability["renderer"] == "singlebandpseudocolor" and probability["opacity"] < 1
        assert not layers["Landslide mask"]["visible"]  # loaded for use, drawn as the polygons already are
        # read top to bottom: this run's polygons, set-aside polygons, then rasters, then the image
        order = [n for n in run["tree_order"]]
        ours = [n for n in ("Landslide polygons", "Set aside as likely false alarms", "Landslide mask",
                            "Landslide probability") if n in layers]
        assert [order.index(n) for n in ours] == sorted(order.index(n) for n in ours), order
        assert order.index("Landslide probability") < order.index("post-event image")
    assert saliency["ok"], saliency["log"][-2000:]
    assert len(second["tree_order"]) == len(first["tree_order"]) + len(saliency["layers"]) + len(second["layers"])
    assert second["tree_order"][0] == "Landslide polygons"  # the newest run on top
    assert result["map_png"] and result["window_png"]

    # Train landslide model from its dialog, the training Python found for real (the question's
    # empty venv undone), then Detect with the model it wrote
    train, detect = result["trained"]["train"], result["trained"]["detect"]
    assert train["ok"], train["log"][-3000:]
    assert train["inventory_features"] > 0 and train["screenshot_saved"]
    running = train["while_running"]  # the dialog at the first validation: its bar part way
    assert running["saved"] and 0 < running["progress"] < 100, running
    log = train["log"]
    planned = re.search(r"Training with (\S+) \((\d+) steps planned", log)
    assert planned and Path(planned.group(1)).parts[-3:] == (".venv", "bin", "python"), log[:2000]
    steps = re.findall(r"Step (\d+) of (\d+): validation F1 ([\d.]+) \(best ([\d.]+)\)", log)
    assert steps and all(int(total) == int(planned.group(2)) for _, total, *_ in steps), log[-3000:]
    assert "exporting and calibrating on the held-out regions" in log
    said = re.search(r"On the held-out part, F1 on landslide areas: (\S+) ([\d.]+), this model ([\d.]+)", log)
    assert said, log[-3000:]
    card = train["card"]  # the same scores, the starting model's and this one's; started from the default's weights
    assert f"| before: {said.group(1)} | {said.group(2)}" in card and f"| **after: this model** | {said.group(3)}" \
        in card
    assert f"{next(iter(bundled_models()))}.weights.npz" in card
    assert train["written"] == ["my_terrain.md", "my_terrain.onnx", "my_terrain.weights.npz", "my_terrain_curves.png",
                                "my_terrain_saliency.onnx"], train["written"]
    results = train["results"]
    assert results["OUTPUT"] == train["model"] and 0.0 <= results["VALIDATION_F1"] <= 1.0
    assert results["MODEL_KEY"] == "my_terrain" and "my_terrain" in train["detect_model_list"]
    assert {"my_terrain.onnx", "my_terrain_saliency.onnx", "my_terrain.md"} <= set(train["in_profile"])
    # a one-minute budget; TensorFlow starting twice (train, export) has made the run 61-70 s
    assert train["seconds"] < 120, train["seconds"]
    assert detect and detect["ok"], (detect or {}).get("log", "")[-2000:]
    assert re.search(r"Model: .*\(my_terrain\.onnx\)", detect["log"]), detect["log"][-2000:]
    layers = _by_name(detect)
    assert {"Landslide probability", "Landslide mask", "Landslide polygons"} <= set(layers), list(layers)
    logged = re.search(r"(\d+) landslide polygon", detect["log"])
    assert logged and int(logged.group(1)) == layers["Landslide polygons"]["features"]


def test_every_algorithm_has_a_group_a_help_link_and_a_short_form(provider):
    """The toolbox a mapper sees: algorithms in groups, a Help button that leads to the
    README, Detect's form short enough for a screen (the rest under Advanced, each with a
    tooltip) and only the devices this ONNX Runtime has."""
    from qgis.core import QgsApplication, QgsProcessingParameterDefinition

    registry = QgsApplication.processingRegistry()
    groups = {a.name(): a.group() for a in registry.providerById("landslidemapper").algorithms()}
    assert groups == {"detect": "Mapping", "saliency": "Mapping", "evaluate": "Assessment",
                      "make_patches": "Training", "train": "Training"}
    detect = registry.algorithmById("landslidemapper:detect")
    for algorithm in registry.providerById("landslidemapper").algorithms():
        url = algorithm.helpUrl()
        assert url.startswith("file://") and Path(url[7:].split("#")[0]).is_file(), url
        labels = [p.description() for p in algorithm.parameterDefinitions()]
        assert not any("(optional)" in label for label in labels), labels  # QGIS says [optional] itself
    advanced = QgsProcessingParameterDefinition.FlagAdvanced
    up_front = [p.name() for p in detect.parameterDefinitions() if not p.isDestination() and not p.flags() & advanced]
    assert len(up_front) <= 8 and {"INPUT", "MODEL", "THRESHOLD"} <= set(up_front), up_front
    assert all(p.help() for p in detect.parameterDefinitions() if not p.isDestination()), "every input has a tooltip"
    import onnxruntime

    offered = detect.parameterDefinition("DEVICE").options()
    assert "cpu" in offered and ("cuda" in offered) == ("CUDAExecutionProvider" in onnxruntime.get_available_providers())
    assert "usually 0.5" not in detect.shortHelpString()
    if "spatial_attention_unet" in detect.parameterDefinition("MODEL").options():  # the models are named for people
        assert "spatial_attention_unet: Spatial-attention U-Net" in detect.parameterDefinition("MODEL").help()
