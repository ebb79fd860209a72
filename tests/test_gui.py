"""The Detect dialog a mapper opens from the Processing toolbox, in real QGIS widgets."""

import json
import os
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
            shown["DEVICE"], shown["MIN_AREA"]) == (recommended, 128, 32, "auto", "float32", "auto", 100.0)
    assert shown["TTA"] is False and shown["ENSEMBLE"] is False and shown["THRESHOLD"] is None
    assert "\n" not in algorithm.shortHelpString() and "Detect" in dialog.windowTitle() + algorithm.displayName()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert dialog.grab().save(str(ARTIFACTS / "detect_dialog.png"))
    dialog.close()
    QgsProject.instance().removeMapLayer(layer.id())


@pytest.mark.slow
def test_real_qgis_desktop_under_xvfb_opens_detect_with_the_active_layer(tmp_path, scene):
    """The `qgis` binary itself on an X server (Xvfb): the plugin loads from its folder as
    a user's would, and Detect's dialog shows the active layer and the defaults."""
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
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env.update(QT_QPA_PLATFORM="xcb", QGIS_PLUGINPATH=str(ROOT / "build" / "plugins"), PYTHONPATH=site,
               LANDSLIDE_GUI_OUT=str(out), LANDSLIDE_GUI_IMAGE=scene["image"])
    run = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", "qgis", "--nologo", "--noversioncheck",
                          "--profiles-path", str(profiles), "--code", str(ROOT / "tests" / "desktop" /
                                                                            "open_detect_dialog.py")],
                         env=env, capture_output=True, text=True, timeout=300)
    result_file = out / "result.json"
    assert result_file.exists(), f"QGIS exited ({run.returncode}) without a result:\n{run.stderr[-3000:]}"
    result = json.loads(result_file.read_text())
    assert "error" not in result, result["error"]
    assert "landslide_mapper" in result["active_plugins"]
    assert result["qt_platform"] == "xcb"  # a real X display, not the offscreen platform
    shown = result["shown"]
    assert result["input_is_active_layer"]
    recommended = next(iter(bundled_models()), "none")
    assert (shown["MODEL"], shown["WINDOW"], shown["OVERLAP"], shown["INPUT_SCALING"], shown["MATCH_RESOLUTION"],
            shown["MIN_AREA"]) == (recommended, 128, 32, "auto", True, 100.0)
    assert result["dialog_png"] and result["window_png"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name in ("detect_dialog_desktop.png", "qgis_desktop.png"):
        shutil.copy(out / name, ARTIFACTS / name)
