"""Installing into a stock QGIS: the plugin ZIP, and ONNX Runtime missing from QGIS's Python."""

import json
import os
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
    from headless import qgis_process, start_profile

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
    from headless import qgis_process, start_profile

    env = start_profile(tmp_path / "home", venv_packages=False)
    probe = subprocess.run(["/usr/bin/python3", "-c", "import onnxruntime"], env=env, capture_output=True)
    if probe.returncode == 0:
        pytest.skip("the system Python already has onnxruntime")
    image = small_image(tmp_path)
    proc = qgis_process(env, *detect_args(tmp_path / "first", image))
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "ONNX Runtime" in output and "is not installed" in output, output
    marker = "Install it with this command: "
    command_line = output[output.index(marker) + len(marker):].splitlines()[0]
    folder = tmp_path / "home" / ".local/share/QGIS/QGIS3/profiles/default/python/landslide_mapper_deps/python3.11"
    assert command_line.startswith("/usr/bin/python3") and f"pip install --upgrade --target {folder} " in command_line
    constraints = Path(command_line.split("--constraint ")[1].split()[0])
    numpy_there = subprocess.run(["/usr/bin/python3", "-c", "import numpy; print(numpy.__version__)"], env=env,
                                 capture_output=True, text=True).stdout.strip()
    assert f"numpy=={numpy_there}" in constraints.read_text().splitlines()  # QGIS's Python's own NumPy
    installed = subprocess.run(command_line, shell=True, env=env, capture_output=True, text=True, timeout=900)
    if installed.returncode != 0 and "Could not find a version" in installed.stdout + installed.stderr:
        pytest.skip("no package index reachable from this machine")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (folder / "onnxruntime").is_dir() and not (tmp_path / "home" / ".local" / "lib").exists()
    proc = qgis_process(env, *detect_args(tmp_path / "second", image))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_install_dialog_shows_the_output_and_the_outcome(qgis_app):
    from landslide_mapper.gui.install_dialog import InstallDialog

    for code, expected in ((0, "Detect landslides and Saliency map work now"), (3, "failed (exit code 3)")):
        dialog = InstallDialog(command=[sys.executable, "-c", f"print('collecting onnxruntime'); raise SystemExit({code})"])
        dialog.start()
        assert dialog.process.waitForFinished(30000)
        qgis_app.processEvents()
        assert "collecting onnxruntime" in dialog.output.toPlainText()
        assert expected in dialog.status.text() and dialog.succeeded is (code == 0)


# --- a stock QGIS: nothing asked at start-up, nothing but what QGIS brings needed to load ---------

HIDE = """import sys


class Hide:
    \"\"\"This Python lacks what a stock QGIS's lacks: {hidden}.\"\"\"

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {hidden}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)


sys.meta_path.insert(0, Hide())
"""

LOAD_AND_RUN = """import json, os, sys
from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingFeedback

app = QgsApplication([], False)
app.initQgis()
sys.path.insert(0, sys.argv[1])
import landslide_mapper

plugin = landslide_mapper.classFactory(None)  # as QGIS and qgis_process load it
plugin.initProcessing()
registry = QgsApplication.processingRegistry()
provider = registry.providerById("landslidemapper")
errors = []


class Feedback(QgsProcessingFeedback):
    def reportError(self, error, fatalError=False):
        errors.append(error)


detect = registry.createAlgorithmById("landslidemapper:detect")
can, why = detect.canExecute()
out = sys.argv[3]
results, ran = detect.run({"INPUT": sys.argv[2], "OUTPUT_PROBABILITY": out + "/p.tif", "OUTPUT_MASK": out + "/m.tif",
                           "OUTPUT_POLYGONS": out + "/l.gpkg"}, QgsProcessingContext(), Feedback())
report = {"algorithms": sorted(a.name() for a in provider.algorithms()), "can": can, "why": why, "ran": ran,
          "errors": errors, "scipy_loaded": "scipy" in sys.modules,
          "evaluate_can": registry.createAlgorithmById("landslidemapper:evaluate").canExecute()[0]}
print("REPORT " + json.dumps(report), flush=True)
os._exit(0)
"""


def test_plugin_loads_in_a_python_without_scipy_or_onnxruntime(tmp_path):
    """QGIS's Python with only what QGIS brings (neither SciPy nor ONNX Runtime): the plugin
    loads, lists its algorithms, and Detect says what to install, not a traceback."""
    (tmp_path / "hide").mkdir()
    (tmp_path / "hide" / "sitecustomize.py").write_text(HIDE.format(hidden=("scipy", "onnxruntime")))
    (tmp_path / "run.py").write_text(LOAD_AND_RUN)
    (tmp_path / "out").mkdir()
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "hide"), QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path),
               LANDSLIDE_MAPPER_DEPS=str(tmp_path / "deps" / "python3"))
    env.pop("QGIS_CUSTOM_CONFIG_PATH", None)
    probe = subprocess.run([sys.executable, "-c", "import scipy"], env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'scipy'" in probe.stderr
    proc = subprocess.run([sys.executable, str(tmp_path / "run.py"), str(ROOT / "build" / "plugins"),
                           small_image(tmp_path), str(tmp_path / "out")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert "REPORT " in proc.stdout, proc.stdout + proc.stderr
    report = json.loads(proc.stdout.split("REPORT ", 1)[1].splitlines()[0])
    assert report["algorithms"] == ["detect", "evaluate", "make_patches", "saliency", "train"]
    assert not report["scipy_loaded"] and report["evaluate_can"]
    assert not report["can"] and not report["ran"]
    for message in (report["why"], "\n".join(report["errors"])):
        assert "ONNX Runtime, which runs the landslide models, is not installed" in message, message
        assert f"--target {tmp_path / 'deps' / 'python3'} --constraint " in message and "Traceback" not in message


#: where the plugin remembers a No (QgsSettings)
DECLINED = "landslide_mapper/install_declined"


@pytest.fixture
def own_folder(tmp_path, monkeypatch):
    """The plugin's dependency folder in this test's tmp_path; the module's state, sys.path and
    the remembered answer restored afterwards."""
    from landslide_mapper.core.model import dependencies
    from qgis.core import QgsSettings

    monkeypatch.setenv("LANDSLIDE_MAPPER_DEPS", str(tmp_path / "deps"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name, value in (("_folder", None), ("_resolver", None), ("_desktop_hint", "")):
        monkeypatch.setattr(dependencies, name, value, raising=False)
    QgsSettings().remove(DECLINED)
    yield (tmp_path / "deps").resolve()
    QgsSettings().remove(DECLINED)


@pytest.fixture
def missing_onnxruntime(monkeypatch):
    from landslide_mapper.core.model import dependencies

    monkeypatch.setattr(dependencies, "onnxruntime_problem",
                        lambda: dependencies.DependencyProblem("ONNX Runtime", "is not installed in QGIS's Python"))


def visible_dialogs():
    from qgis.PyQt.QtWidgets import QApplication, QDialog

    return [w for w in QApplication.topLevelWidgets() if isinstance(w, QDialog) and w.isVisible()]


def test_start_up_asks_nothing(qgis_app, qgis_iface, own_folder, missing_onnxruntime, monkeypatch):
    """QGIS 3.22 runs initGui during its start-up: with ONNX Runtime missing, nothing is
    asked or shown then (not even by a timer), and the plugin's folder is already importable."""
    from landslide_mapper.plugin import LandslideMapperPlugin
    from qgis.PyQt.QtWidgets import QMessageBox

    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a: asked.append(a) or QMessageBox.No)
    plugin = LandslideMapperPlugin(qgis_iface)
    plugin.initProcessing = lambda: None  # the session's provider is registered already
    plugin.initGui()
    for _ in range(5):
        qgis_app.processEvents()
    assert asked == [] and visible_dialogs() == []
    assert str(own_folder) in sys.path
    plugin.unload()


def test_opening_detect_asks_once_and_a_no_is_remembered(qgis_app, qgis_iface, provider, own_folder,
                                                         missing_onnxruntime, monkeypatch):
    """The question comes when the mapper opens Detect; a No is remembered across starts and
    Detect then names the menu entry and the command; the menu entry still installs."""
    import numpy
    from landslide_mapper.gui import install_dialog
    from landslide_mapper.plugin import LandslideMapperPlugin
    from qgis.core import QgsApplication, QgsSettings
    from qgis.PyQt.QtWidgets import QMessageBox

    answers, asked, started = [QMessageBox.No], [], []
    monkeypatch.setattr(QMessageBox, "question", lambda parent, title, text, *a: asked.append(text) or answers[-1])
    monkeypatch.setattr(install_dialog.InstallDialog, "start", lambda self: started.append(self.command))
    monkeypatch.setattr(install_dialog.InstallDialog, "exec", lambda self: 0)
    registry = QgsApplication.processingRegistry()

    plugin = LandslideMapperPlugin(qgis_iface)
    plugin.initProcessing = lambda: None
    plugin.initGui()
    can, why = registry.createAlgorithmById("landslidemapper:detect").canExecute()
    assert len(asked) == 1 and "is not installed" in asked[0] and "Install it now?" in asked[0]
    assert not can and "Plugins > Landslide Mapper > Install dependencies" in why and f"--target {own_folder}" in why
    assert QgsSettings().value(DECLINED, False, type=bool)
    assert registry.createAlgorithmById("landslidemapper:evaluate").canExecute() == (True, "")
    plugin.unload()

    plugin = LandslideMapperPlugin(qgis_iface)  # the next start of QGIS
    plugin.initProcessing = lambda: None
    plugin.initGui()
    qgis_app.processEvents()
    assert not registry.createAlgorithmById("landslidemapper:saliency").canExecute()[0]
    assert len(asked) == 1  # the No is honoured

    answers.append(QMessageBox.Yes)
    plugin.action.trigger()  # Plugins > Landslide Mapper > Install dependencies...
    assert len(asked) == 2 and started and not QgsSettings().value(DECLINED, False, type=bool)
    command = started[0]
    assert command[-1] == "onnxruntime>=1.16" and command[command.index("--target") + 1] == str(own_folder)
    pins = Path(command[command.index("--constraint") + 1]).read_text().splitlines()
    assert f"numpy=={numpy.__version__}" in pins and not [p for p in pins if p.startswith("onnxruntime==")]
    assert own_folder not in Path(command[command.index("--constraint") + 1]).parents  # not on sys.path
    plugin.unload()


def test_what_is_installed_into_the_folder_imports_at_once(qgis_app, own_folder):
    """No restart: a package that lands in the plugin's folder (created by the install
    itself) imports in the same session once the installer has finished."""
    from landslide_mapper.core.model import dependencies
    from landslide_mapper.gui.install_dialog import InstallDialog

    dependencies.use_folder(own_folder)
    assert str(own_folder) in sys.path and not own_folder.exists()
    with pytest.raises(ImportError):
        import lm_freshly_installed  # noqa: F401
    writer = "import os, sys; os.makedirs(sys.argv[1]); open(sys.argv[1] + '/lm_freshly_installed.py', 'w').write('X = 42')"
    dialog = InstallDialog(command=[sys.executable, "-c", writer, str(own_folder)])
    dialog.start()
    assert dialog.process.waitForFinished(30000)
    qgis_app.processEvents()
    try:
        import lm_freshly_installed

        assert lm_freshly_installed.X == 42 and dialog.succeeded
    finally:
        sys.modules.pop("lm_freshly_installed", None)


def test_zip_ships_every_file_detect_asks_for(tmp_path):
    """Each model in the ZIP comes with its INT8 variant (PRECISION=int8) and the saliency
    graph its spec names."""
    import package
    from landslide_mapper.core.model.catalog import RECOMMENDED, bundled_models, variant
    from landslide_mapper.core.model.onnx_model import read_spec

    models = bundled_models()
    if not models:
        pytest.skip("no bundled model in this checkout")
    names = {p.relative_to(ROOT).as_posix() for p in package.plugin_files(list(models))}
    for key, path in models.items():
        spec = read_spec(path)
        wanted = [variant(path, "int8"), path.with_name(spec.saliency_model or f"{key}_saliency.onnx")]
        assert {f"models/{p.name}" for p in wanted if p.exists()} <= names, key
        assert variant(path, "int8").exists(), key  # the repository holds every model's INT8 variant
    archive = package.build(tmp_path, [RECOMMENDED])
    shipped = zipfile.ZipFile(archive).namelist()
    assert f"landslide_mapper/models/{RECOMMENDED}_int8.onnx" in shipped
    assert f"landslide_mapper/models/{RECOMMENDED}_saliency.onnx" in shipped


DESKTOP_SESSION = """import json, os, traceback
from pathlib import Path

from qgis.core import QgsApplication, QgsProject
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QApplication, QMessageBox
from qgis.utils import active_plugins, iface

OUT = Path(os.environ["LANDSLIDE_TEST_OUT"])


def check():
    result = {"modal_after_start": QApplication.activeModalWidget() is not None,
              "main_window_visible": iface.mainWindow().isVisible(), "active_plugins": list(active_plugins)}
    try:
        import processing
        from landslide_mapper.core.model import dependencies
        from landslide_mapper.gui.install_dialog import InstallDialog

        result["folder"] = str(dependencies.folder())
        try:
            import scipy  # noqa: F401
            result["scipy"] = True
        except ImportError:
            result["scipy"] = False
        asked = []
        QMessageBox.question = lambda parent, title, text, *a: asked.append(text) or QMessageBox.No
        detect = QgsApplication.processingRegistry().createAlgorithmById("landslidemapper:detect")
        result["before"] = detect.canExecute()
        result["asked"] = asked
        dialog = InstallDialog(iface.mainWindow(), list(dependencies.onnxruntime_problem().command))
        dialog.start()
        dialog.process.waitForFinished(600000)
        QgsApplication.processEvents()
        result["installed"] = dialog.succeeded
        result["install_output"] = dialog.output.toPlainText()[-3000:]
        result["after"] = detect.canExecute()
        out = OUT / "detect"
        ran = processing.run("landslidemapper:detect", {
            "INPUT": os.environ["LANDSLIDE_TEST_IMAGE"], "MIN_AREA": 0, "OUTPUT_PROBABILITY": str(out / "p.tif"),
            "OUTPUT_MASK": str(out / "m.tif"), "OUTPUT_POLYGONS": str(out / "l.gpkg")})
        result["probability"] = ran["OUTPUT_PROBABILITY"]
    except Exception:
        result["error"] = traceback.format_exc()
    (OUT / "result.json").write_text(json.dumps(result, indent=1))
    QgsProject.instance().setDirty(False)
    QgsApplication.instance().quit()


QTimer.singleShot(500, check)
"""


@pytest.mark.slow
def test_stock_desktop_starts_and_detect_works_once_installed(tmp_path):
    """The real QGIS desktop (Xvfb), its own Python only (no SciPy: hidden; no ONNX Runtime),
    the plugin enabled: QGIS starts with nothing modal; Detect cannot run and says so; once the
    install has run (real pip, into the plugin's folder), Detect runs in the same session."""
    import shutil

    from rasters import read_raster

    if not (shutil.which("qgis") and shutil.which("xvfb-run")):
        pytest.skip("needs the qgis desktop and xvfb-run")
    if subprocess.run(["/usr/bin/python3", "-c", "import onnxruntime"], capture_output=True).returncode == 0:
        pytest.skip("the system Python already has onnxruntime")
    profiles = tmp_path / "profiles"
    settings = profiles / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    settings.parent.mkdir(parents=True)
    settings.write_text("[PythonPlugins]\nlandslide_mapper=true\n\n[qgis]\ncheckVersion=false\n")
    (tmp_path / "hide").mkdir()
    # the system Python has no ONNX Runtime; SciPy is there only because setup.sh installs it
    (tmp_path / "hide" / "sitecustomize.py").write_text(HIDE.format(hidden=("scipy",)))
    (tmp_path / "session.py").write_text(DESKTOP_SESSION)
    out = tmp_path / "out"
    out.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "QGIS_CUSTOM_CONFIG_PATH")}
    env.update(QT_QPA_PLATFORM="xcb", QGIS_PLUGINPATH=str(ROOT / "build" / "plugins"), PYTHONPATH=str(tmp_path / "hide"),
               HOME=str(tmp_path), LANDSLIDE_TEST_OUT=str(out), LANDSLIDE_TEST_IMAGE=small_image(tmp_path))
    run = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1280x900x24", "qgis", "--nologo", "--noversioncheck",
                          "--profiles-path", str(profiles), "--code", str(tmp_path / "session.py")],
                         env=env, capture_output=True, text=True, timeout=900)
    assert (out / "result.json").exists(), f"QGIS exited ({run.returncode}) without a result:\n{run.stderr[-3000:]}"
    result = json.loads((out / "result.json").read_text())
    if not result.get("installed") and "Could not find a version" in result.get("install_output", ""):
        pytest.skip("no package index reachable from this machine")
    assert "error" not in result, result["error"] + result.get("install_output", "")
    assert "landslide_mapper" in result["active_plugins"] and result["main_window_visible"]
    assert not result["modal_after_start"] and result["scipy"] is False
    folder = profiles / "profiles" / "default" / "python" / "landslide_mapper_deps" / "python3.11"
    assert result["folder"] == str(folder.resolve())
    assert result["before"][0] is False and "is not installed" in result["before"][1] and len(result["asked"]) == 1
    assert result["installed"] and result["after"] == [True, ""], result["install_output"]
    assert read_raster(result["probability"])[0].shape == (96, 96)
