"""Run inside the real QGIS desktop (`qgis --code`): load a raster, make it the active
layer, open Detect's Processing dialog, record what it shows, take screenshots, quit.

Writes LANDSLIDE_GUI_OUT/result.json; tests/test_gui.py reads it.
"""

import json
import os
import traceback
from pathlib import Path

from qgis.core import QgsApplication, QgsProject
from qgis.PyQt.QtCore import QTimer
from qgis.utils import active_plugins, iface

OUT = Path(os.environ["LANDSLIDE_GUI_OUT"])


def check():
    result = {"active_plugins": list(active_plugins)}
    try:
        import processing

        layer = iface.addRasterLayer(os.environ["LANDSLIDE_GUI_IMAGE"], "post-event image")
        iface.setActiveLayer(layer)
        dialog = processing.createAlgorithmDialog("landslidemapper:detect", {})
        dialog.resize(1000, 700)
        dialog.show()
        QgsApplication.processEvents()
        shown = dialog.mainWidget().createProcessingParameters(include_default=True)
        result["shown"] = {k: (v if isinstance(v, (int, float, str, bool, type(None))) else str(v))
                           for k, v in shown.items()}
        result["input_is_active_layer"] = QgsProject.instance().mapLayer(shown["INPUT"]) is layer
        result["title"] = dialog.windowTitle()
        result["platform"] = QgsApplication.platformName() if hasattr(QgsApplication, "platformName") else ""
        from qgis.PyQt.QtGui import QGuiApplication

        result["qt_platform"] = QGuiApplication.platformName()
        result["dialog_png"] = dialog.grab().save(str(OUT / "detect_dialog_desktop.png"))
        result["window_png"] = iface.mainWindow().grab().save(str(OUT / "qgis_desktop.png"))
        dialog.close()
    except Exception:  # reported to the test, which fails with it
        result["error"] = traceback.format_exc()
    (OUT / "result.json").write_text(json.dumps(result, indent=1))
    QgsProject.instance().setDirty(False)  # no "save the project?" question on quit
    QgsApplication.instance().quit()


QTimer.singleShot(500, check)
