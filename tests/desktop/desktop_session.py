"""A mapper's first session, run inside the real QGIS desktop (`qgis --code`).

Loads an image and makes it the active layer; opens every Landslide Mapper algorithm's
dialog (a screenshot of each); opens Train landslide model from the Processing toolbox (its
search box, then Enter) where no training Python is found, answers the plugin's question
No (a screenshot of it and of Processing's "cannot be run" message) and opens it again,
which must not ask twice; then runs Detect, Saliency and Detect again through the
dialog's own Run path (`AlgorithmDialog.runAlgorithm`: a Processing task, then the results
loaded into the project and styled by our post-processors), recording after each run the
layers it loaded, their order in the layer tree, their styles and the dialog's log; then,
with the training venv found for real (the checkout's .venv), loads the landslide inventory
drawn over the image, runs Train landslide model through its dialog with a short budget (a
screenshot at its first validation and of its log when it finished), looks for the model
in Detect's model list and runs Detect with it as its custom model; takes a screenshot of
the map and of the main window; quits.

Writes LANDSLIDE_GUI_OUT/result.json (and the PNGs); tests/test_gui.py reads it.
"""

import json
import os
import shutil
import tempfile
import time
import traceback
from pathlib import Path

from qgis.core import QgsApplication, QgsFillSymbol, QgsMapLayerType, QgsProject, QgsSettings
from qgis.PyQt.QtCore import QEventLoop, QModelIndex, Qt, QTimer
from qgis.PyQt.QtGui import QGuiApplication
from qgis.PyQt.QtTest import QTest
from qgis.PyQt.QtWidgets import QApplication, QMessageBox, QProgressBar, QTextEdit
from qgis.utils import active_plugins, iface, plugins

OUT = Path(os.environ["LANDSLIDE_GUI_OUT"])
ALGORITHMS = ("detect", "saliency", "evaluate", "make_patches", "train")
TRAIN = "landslidemapper:train"
#: the plugin's own names (plugin.py, algorithms/training_environment.py), spelled here as a mapper meets them
TRAINING_DECLINED = "landslide_mapper/training_install_declined"
TRAINING_VENV = "LANDSLIDE_MAPPER_TRAINING_VENV"
TRAINING_PYTHON = "LANDSLIDE_MAPPER_TRAINING_PYTHON"
#: the short budget the training runs with here (the algorithm's least is 0.5)
TRAIN_MINUTES = 1.0


def wait(seconds: float, done=lambda: False) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not done():
        QgsApplication.processEvents(QEventLoop.AllEvents, 100)
        time.sleep(0.02)


def describe_dialog(name: str) -> dict:
    import processing

    algorithm = QgsApplication.processingRegistry().algorithmById(f"landslidemapper:{name}")
    dialog = processing.createAlgorithmDialog(f"landslidemapper:{name}", {})
    dialog.resize(900, 760)
    dialog.show()
    wait(0.5)
    dialog.grab().save(str(OUT / f"{name}_dialog.png"))
    try:
        shown = dialog.mainWidget().createProcessingParameters(include_default=True)
    except Exception:  # a required input the session has no layer for (e.g. an inventory)
        shown = {}
    dialog.close()
    advanced = algorithm.parameterDefinitions()[0].FlagAdvanced
    up_front = [p.name() for p in algorithm.parameterDefinitions()
                if not p.isDestination() and not p.flags() & advanced]
    return {"up_front": up_front, "group": algorithm.group(), "help_url": algorithm.helpUrl(),
            "shown": {k: (v if isinstance(v, (int, float, str, bool, type(None))) else str(v)) for k, v in shown.items()}}


class ModalAnswerer:
    """What the mapper does with each modal box that comes up (QApplication.activeModalWidget,
    looked at every 100 ms): a screenshot and its text, then No to a question and Close to
    anything else. ``names``: the screenshot's file for a "question" and for a "message"."""

    def __init__(self):
        self.seen, self.names = [], {}
        self.timer = QTimer()
        self.timer.timeout.connect(self.look)
        self.timer.start(100)

    def look(self):
        box = QApplication.activeModalWidget()
        if box is not None and box.isVisible() and not box.property("landslide_answered"):
            box.setProperty("landslide_answered", True)  # on the widget itself: a Python id may be reused
            QTimer.singleShot(400, lambda: self.answer(box))  # laid out and painted, as the mapper sees it

    def answer(self, box):
        question = isinstance(box, QMessageBox)
        kind = "question" if question else "message"
        png = self.names.get(kind, f"modal_{len(self.seen) + 1}.png")
        text = box.text() if question else (box.txtMessage.toPlainText() if hasattr(box, "txtMessage") else "")
        record = {"kind": kind, "class": type(box).__name__, "title": box.windowTitle(), "text": text,
                  "buttons": [b.text() for b in box.buttons()] if question else [], "png": png,
                  "saved": box.grab().save(str(OUT / png))}
        self.seen.append(record)
        if question:
            box.button(QMessageBox.No).click()
        else:
            box.reject()

    def stop(self):
        self.timer.stop()


def find_in_tree(tree, parent):
    """The index of Train landslide model in the toolbox's tree (under ``parent``), or None."""
    model = tree.model()
    for row in range(model.rowCount(parent)):
        index = model.index(row, 0, parent)
        algorithm = tree.algorithmForIndex(index)
        if algorithm is not None and algorithm.id() == TRAIN:
            return index
        found = find_in_tree(tree, index)
        if found is not None:
            return found
    return None


def open_from_toolbox(toolbox, answerer: ModalAnswerer, names: dict) -> tuple[str | None, list]:
    """Train landslide model as a mapper opens it: typed into the toolbox's search box, then
    Enter (the toolbox's executeAlgorithm: canExecute, its message when not ok, else the
    dialog). The algorithm selected, and the modal boxes that came up meanwhile."""
    toolbox.searchBox.clear()
    toolbox.searchBox.setText("Train landslide model")
    wait(0.3)
    tree = toolbox.algorithmTree
    if tree.selectedAlgorithm() is None or tree.selectedAlgorithm().id() != TRAIN:  # as the mapper would click it
        index = find_in_tree(tree, QModelIndex())
        if index is not None:
            tree.setCurrentIndex(index)
    selected = tree.selectedAlgorithm()
    answerer.names, first = names, len(answerer.seen)
    QTest.keyClick(toolbox.searchBox, Qt.Key_Return)  # returns when the boxes it opened are closed
    wait(0.5)
    return (selected.id() if selected else None), answerer.seen[first:]


def train_without_training_python() -> dict:
    """Opening Train landslide model where no Python with TensorFlow is found: the plugin asks
    whether to make its venv (answered No), Processing says the algorithm cannot run, and a
    second opening does not ask again. The training venv is pointed to an empty folder of the
    session's own ($LANDSLIDE_MAPPER_TRAINING_VENV: not the profile's, not this checkout's
    .venv); that variable and the No are undone afterwards."""
    toolbox = plugins["processing"].toolbox
    shown = toolbox.isUserVisible()
    settings = QgsSettings()
    had = settings.contains(TRAINING_DECLINED)
    before = settings.value(TRAINING_DECLINED)
    saved_env = {k: os.environ.get(k) for k in (TRAINING_VENV, TRAINING_PYTHON)}
    empty = tempfile.mkdtemp(prefix="lm_no_training_")
    venv = str(Path(empty) / "landslide_mapper_training")
    answerer = ModalAnswerer()
    try:
        os.environ[TRAINING_VENV] = venv
        os.environ.pop(TRAINING_PYTHON, None)
        settings.remove(TRAINING_DECLINED)
        toolbox.setUserVisible(True)
        wait(0.5)
        selected, first = open_from_toolbox(toolbox, answerer, {"question": "train_environment_question.png",
                                                                "message": "train_cannot_run.png"})
        declined = QgsSettings().value(TRAINING_DECLINED, False, type=bool)
        iface.mainWindow().grab().save(str(OUT / "train_toolbox.png"))
        _, second = open_from_toolbox(toolbox, answerer, {"question": "train_environment_question_again.png",
                                                          "message": "train_cannot_run_again.png"})
        answerer.names = {"question": "train_environment_question_direct.png"}
        ok, message = QgsApplication.processingRegistry().algorithmById(TRAIN).canExecute()  # on this, the main thread
        wait(0.5)
        direct = answerer.seen[len(first) + len(second):]
        return {"venv": venv, "selected": selected, "first": first, "declined_after_no": declined,
                "second": second, "can_execute_again": [ok, message], "asked_by_direct_call": direct,
                "venv_made": Path(venv).exists()}
    finally:
        answerer.stop()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if had:
            settings.setValue(TRAINING_DECLINED, before)
        else:
            settings.remove(TRAINING_DECLINED)
        toolbox.searchBox.clear()
        toolbox.setUserVisible(shown)
        shutil.rmtree(empty, ignore_errors=True)


def layer_facts(layer) -> dict:
    facts = {"name": layer.name(), "type": "vector" if layer.type() == QgsMapLayerType.VectorLayer else "raster",
             "renderer": layer.renderer().type() if layer.renderer() else None, "opacity": layer.opacity()
             if layer.type() == QgsMapLayerType.RasterLayer else None, "source": layer.source()}
    node = QgsProject.instance().layerTreeRoot().findLayer(layer.id())
    facts["visible"] = bool(node and node.isVisible())
    if layer.type() == QgsMapLayerType.VectorLayer:
        facts["features"] = layer.featureCount()
        symbol = layer.renderer().symbol() if hasattr(layer.renderer(), "symbol") else None
        facts["fill_alpha"] = symbol.color().alpha() if symbol else None
    return facts


def run_through_dialog(name: str, parameters: dict, timeout: float = 240, screenshot: str | None = None,
                       while_running: tuple[str, str] | None = None) -> dict:
    """What the Run button does, and what the mapper then has: the layers this run loaded,
    the dialog's log and the results; ``screenshot``: a PNG of the dialog (its Log tab) once
    the run finished; ``while_running``: (a PNG, a text): the dialog as the mapper sees it
    when its log first shows that text, and its progress bar's value then."""
    import processing

    before = set(QgsProject.instance().mapLayers())
    dialog = processing.createAlgorithmDialog(f"landslidemapper:{name}", parameters)
    dialog.resize(900, 760)
    dialog.show()
    finished, running = {}, {}
    log = []
    started = time.monotonic()
    dialog.algorithmFinished.connect(lambda ok, results: finished.update(
        ok=ok, log=dialog.feedback.textLog() if dialog.feedback else "", seconds=time.monotonic() - started,
        results={k: v if isinstance(v, (int, float, str, bool, type(None))) else str(v) for k, v in results.items()}))
    shown_log, bar = dialog.findChild(QTextEdit, "txtLog"), dialog.findChild(QProgressBar, "progressBar")

    def look() -> bool:
        """Done? Meanwhile, the screenshot while running (the log widget, filled on this thread)."""
        if while_running and not running and "ok" not in finished and while_running[1] in shown_log.toPlainText():
            running.update(progress=bar.value(), seconds=time.monotonic() - started,
                           saved=dialog.grab().save(str(OUT / while_running[0])))
        return "ok" in finished

    dialog.runAlgorithm()
    wait(timeout, look)
    wait(1.0)
    log.append(finished.get("log", ""))
    saved = None
    if screenshot:
        dialog.showLog()  # the tab the run switched to; said again in case the mapper looked elsewhere
        wait(0.5)
        saved = dialog.grab().save(str(OUT / screenshot))
    dialog.close()
    project = QgsProject.instance()
    loaded = [project.mapLayer(i) for i in project.mapLayers() if i not in before]
    order = [node.layer().name() for node in project.layerTreeRoot().findLayers() if node.layer()]
    return {"ok": finished.get("ok"), "log": "\n".join(log), "layers": [layer_facts(layer) for layer in loaded],
            "tree_order": order, "results": finished.get("results", {}), "seconds": finished.get("seconds"),
            "screenshot_saved": saved, "while_running": running}


def detect_model_list() -> list[str]:
    """The models Detect's dialog offers in its Model box, as the mapper reads them there."""
    import processing

    dialog = processing.createAlgorithmDialog("landslidemapper:detect", {})
    try:
        combo = dialog.mainWidget().wrappers["MODEL"].wrappedWidget()
        return [combo.itemText(i) for i in range(combo.count())]
    finally:
        dialog.close()


def train_then_detect(image) -> dict:
    """Train landslide model as a mapper runs it: the inventory polygons drawn over the image
    loaded as a layer, the dialog run with the image, those polygons, the default starting
    model (the bundled default, fine-tuned), a short budget and "Add it to Detect's model
    list" on (its default); then the model list Detect's dialog offers, and Detect run
    through its dialog with the written model as its custom model file."""
    inventory = iface.addVectorLayer(os.environ["LANDSLIDE_GUI_INVENTORY"], "landslide inventory", "ogr")
    # drawn as a mapper draws a reference layer: a dashed outline, the image readable through it
    inventory.renderer().setSymbol(QgsFillSymbol.createSimple(
        {"style": "no", "outline_color": "0,190,255", "outline_width": "0.5", "outline_style": "dash"}))
    inventory.triggerRepaint()
    iface.layerTreeView().refreshLayerSymbology(inventory.id())
    folder = OUT / "trained"
    model = folder / "my_terrain.onnx"
    train = run_through_dialog("train", {"INPUT": image.id(), "POLYGONS": inventory.id(), "MINUTES": TRAIN_MINUTES,
                                         "VAL_SHARE": 0.25, "ADD_TO_MODEL_LIST": True, "OUTPUT": str(model)},
                               timeout=480, screenshot="train_after_run.png",
                               while_running=("train_while_running.png", "validation F1"))
    profile_models = Path(QgsApplication.qgisSettingsDirPath()) / "landslide_mapper" / "models"
    train.update(inventory_features=inventory.featureCount(), model=str(model),
                 written=sorted(p.name for p in folder.iterdir()) if folder.is_dir() else [],
                 in_profile=sorted(p.name for p in profile_models.iterdir()) if profile_models.is_dir() else [],
                 card=(folder / "my_terrain.md").read_text() if (folder / "my_terrain.md").is_file() else "",
                 detect_model_list=detect_model_list())
    detect = run_through_dialog("detect", {"INPUT": image.id(), "MODEL_FILE": str(model)}) if model.is_file() else None
    return {"train": train, "detect": detect}


def check():
    result = {"active_plugins": list(active_plugins), "qt_platform": QGuiApplication.platformName()}
    try:
        layer = iface.addRasterLayer(os.environ["LANDSLIDE_GUI_IMAGE"], "post-event image")
        iface.setActiveLayer(layer)
        result["dialogs"] = {name: describe_dialog(name) for name in ALGORITHMS}
        result["input_is_active_layer"] = result["dialogs"]["detect"]["shown"]["INPUT"] == layer.id()
        result["train_question"] = train_without_training_python()
        result["train_question"]["declined_restored"] = not QgsSettings().contains(TRAINING_DECLINED)
        result["train_question"]["venv_variable_restored"] = TRAINING_VENV not in os.environ
        canvas = iface.mapCanvas()
        result["runs"] = []
        for step, name in enumerate(("detect", "saliency", "detect"), start=1):
            result["runs"].append(run_through_dialog(name, {"INPUT": layer.id()}))
            canvas.setExtent(layer.extent())
            canvas.refresh()
            wait(2.0)
            canvas.waitWhileRendering()
            canvas.grab().save(str(OUT / f"map_after_{step}_{name}.png"))
        result["map_png"] = (OUT / "map_after_1_detect.png").exists()
        # the training Python found for real now: the question's empty venv folder is undone above
        earlier = [node for node in QgsProject.instance().layerTreeRoot().findLayers() if node.layer() != layer]
        result["trained"] = train_then_detect(layer)
        for node in earlier:  # the map shows the image, the inventory and the trained model's layers
            node.setItemVisibilityChecked(False)
        canvas.setExtent(layer.extent())
        canvas.refresh()
        wait(2.0)
        canvas.waitWhileRendering()
        canvas.grab().save(str(OUT / "map_after_5_trained_model.png"))
        result["window_png"] = iface.mainWindow().grab().save(str(OUT / "qgis_desktop.png"))
    except Exception:  # reported to the test, which fails with it
        result["error"] = traceback.format_exc()
    (OUT / "result.json").write_text(json.dumps(result, indent=1))
    QgsProject.instance().setDirty(False)  # no "save the project?" question on quit
    QgsApplication.instance().quit()


QTimer.singleShot(500, check)
