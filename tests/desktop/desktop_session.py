"""A mapper's first session, run inside the real QGIS desktop (`qgis --code`).

Loads an image and makes it the active layer; opens every Landslide Mapper algorithm's
dialog (a screenshot of each); then runs Detect, Saliency and Detect again through the
dialog's own Run path (`AlgorithmDialog.runAlgorithm`: a Processing task, then the results
loaded into the project and styled by our post-processors), recording after each run the
layers it loaded, their order in the layer tree, their styles and the dialog's log; takes
a screenshot of the map and of the main window; quits.

Writes LANDSLIDE_GUI_OUT/result.json (and the PNGs); tests/test_gui.py reads it.
"""

import json
import os
import time
import traceback
from pathlib import Path

from qgis.core import QgsApplication, QgsMapLayerType, QgsProject
from qgis.PyQt.QtCore import QEventLoop, QTimer
from qgis.PyQt.QtGui import QGuiApplication
from qgis.utils import active_plugins, iface

OUT = Path(os.environ["LANDSLIDE_GUI_OUT"])
ALGORITHMS = ("detect", "saliency", "evaluate", "make_patches", "train")


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


def run_through_dialog(name: str, parameters: dict) -> dict:
    """What the Run button does, and what the mapper then has: the layers this run loaded."""
    import processing

    before = set(QgsProject.instance().mapLayers())
    dialog = processing.createAlgorithmDialog(f"landslidemapper:{name}", parameters)
    dialog.show()
    finished = {}
    log = []
    dialog.algorithmFinished.connect(lambda ok, results: finished.update(ok=ok, log=dialog.feedback.textLog()
                                                                        if dialog.feedback else ""))
    dialog.runAlgorithm()
    wait(240, lambda: "ok" in finished)
    wait(1.0)
    log.append(finished.get("log", ""))
    dialog.close()
    project = QgsProject.instance()
    loaded = [project.mapLayer(i) for i in project.mapLayers() if i not in before]
    order = [node.layer().name() for node in project.layerTreeRoot().findLayers() if node.layer()]
    return {"ok": finished.get("ok"), "log": "\n".join(log), "layers": [layer_facts(layer) for layer in loaded],
            "tree_order": order}


def check():
    result = {"active_plugins": list(active_plugins), "qt_platform": QGuiApplication.platformName()}
    try:
        layer = iface.addRasterLayer(os.environ["LANDSLIDE_GUI_IMAGE"], "post-event image")
        iface.setActiveLayer(layer)
        result["dialogs"] = {name: describe_dialog(name) for name in ALGORITHMS}
        result["input_is_active_layer"] = result["dialogs"]["detect"]["shown"]["INPUT"] == layer.id()
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
        result["window_png"] = iface.mainWindow().grab().save(str(OUT / "qgis_desktop.png"))
    except Exception:  # reported to the test, which fails with it
        result["error"] = traceback.format_exc()
    (OUT / "result.json").write_text(json.dumps(result, indent=1))
    QgsProject.instance().setDirty(False)  # no "save the project?" question on quit
    QgsApplication.instance().quit()


QTimer.singleShot(500, check)
