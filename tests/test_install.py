"""Installing into a stock QGIS: the plugin ZIP, and ONNX Runtime missing from QGIS's Python."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from rasters import read_raster, write_raster

ROOT = Path(__file__).resolve().parent.parent


def detect_args(folder: Path, image: str) -> list[str]:
    return ["--json", "run", "landslidemapper:detect", "--", f"INPUT={image}", "MIN_AREA=0",
            f"OUTPUT_PROBABILITY={folder / 'p.tif'}", f"OUTPUT_MASK={folder / 'm.tif'}",
            f"OUTPUT_POLYGONS={folder / 'l.gpkg'}"]


def small_image(tmp_path) -> str:
    image = np.full((3, 96, 96), 70, np.uint8)
    image[:, 30:60, 20:70] = 200
    return write_raster(tmp_path / "image.tif", image)


@pytest.mark.slow
def test_plugin_zip_installs_and_runs_detect_headless(tmp_path):
    """The ZIP holds the plugin and nothing else, and unpacked as the plugin manager
    does, it runs Detect with its bundled model."""
    from landslide_mapper.core.model.catalog import bundled_models
    from test_qgis_process import qgis_process, start_profile

    if not bundled_models():
        pytest.skip("no bundled model in this checkout")
    built = subprocess.run([sys.executable, str(ROOT / "tools" / "package.py"), "--out", str(tmp_path / "dist")],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    archive = next((tmp_path / "dist").glob("landslide_mapper-*.zip"))
    names = zipfile.ZipFile(archive).namelist()
    assert "landslide_mapper/metadata.txt" in names and "landslide_mapper/models/spatial_attention_unet.onnx" in names
    assert not [n for n in names if n.split("/")[1] in ("tests", "training", "bench", "tools", ".venv", "build")
                or "__pycache__" in n]
    plugins = tmp_path / "profile-plugins"
    zipfile.ZipFile(archive).extractall(plugins)
    env = start_profile(tmp_path / "home", plugin_path=plugins)
    proc = qgis_process(env, *detect_args(tmp_path / "out", small_image(tmp_path)))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    results = json.loads(proc.stdout[proc.stdout.index("{"):])["results"]
    assert read_raster(results["OUTPUT_PROBABILITY"])[0].shape == (96, 96)


@pytest.mark.slow
def test_missing_onnxruntime_message_gives_a_command_that_works(tmp_path):
    """QGIS's own Python without ONNX Runtime: Detect fails with a message that holds
    the exact command; running that command (a --user install, so into this test's
    private HOME) makes Detect work."""
    from test_qgis_process import qgis_process, start_profile

    env = start_profile(tmp_path / "home", venv_packages=False)
    probe = subprocess.run(["/usr/bin/python3", "-c", "import onnxruntime"], env=env, capture_output=True)
    if probe.returncode == 0:
        pytest.skip("the system Python already has onnxruntime")
    image = small_image(tmp_path)
    proc = qgis_process(env, *detect_args(tmp_path / "first", image))
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "ONNX Runtime" in output and "is not installed" in output, output
    command_line = output[output.index("Install it with this command (then restart QGIS): ") + 50:].splitlines()[0]
    assert command_line.startswith("/usr/bin/python3") and "pip install --user" in command_line
    installed = subprocess.run(command_line, shell=True, env=env, capture_output=True, text=True, timeout=900)
    if installed.returncode != 0 and "Could not find a version" in installed.stdout + installed.stderr:
        pytest.skip("no package index reachable from this machine")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    proc = qgis_process(env, *detect_args(tmp_path / "second", image))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_install_dialog_shows_the_output_and_the_outcome(qgis_app):
    from landslide_mapper.gui.install_dialog import InstallDialog

    for code, expected in ((0, "Done. Restart QGIS"), (3, "failed (exit code 3)")):
        dialog = InstallDialog(command=[sys.executable, "-c", f"print('collecting onnxruntime'); raise SystemExit({code})"])
        dialog.start()
        assert dialog.process.waitForFinished(30000)
        qgis_app.processEvents()
        assert "collecting onnxruntime" in dialog.output.toPlainText()
        assert expected in dialog.status.text() and dialog.succeeded is (code == 0)


def test_desktop_asks_once_and_installs_on_yes(qgis_app, qgis_iface, monkeypatch):
    """The question a mapper sees when ONNX Runtime is missing (their click is the one
    thing replaced here), and the installer it starts."""
    import landslide_mapper.plugin as plugin_module
    from landslide_mapper.core.model import dependencies
    from landslide_mapper.gui import install_dialog
    from qgis.PyQt.QtWidgets import QMessageBox

    monkeypatch.setattr(dependencies, "onnxruntime_problem",
                        lambda: dependencies.DependencyProblem("ONNX Runtime", "is not installed in QGIS's Python"))
    asked, started = [], []
    monkeypatch.setattr(QMessageBox, "question", lambda parent, title, text, *a: asked.append(text) or QMessageBox.Yes)
    monkeypatch.setattr(install_dialog.InstallDialog, "start", lambda self: started.append(self.command))
    plugin = plugin_module.LandslideMapperPlugin(qgis_iface)
    plugin.initProcessing = lambda: None  # the session's provider is registered already
    plugin.initGui()
    for _ in range(3):
        qgis_app.processEvents()
    assert len(asked) == 1 and "is not installed" in asked[0] and "Install it now" in asked[0]
    assert started and "pip" in started[0] and "onnxruntime>=1.16" in started[0]
