"""QGIS entry point: registers the Landslide Mapper Processing provider, puts the plugin's own
dependency folder on ``sys.path``, and, in the desktop, offers to install ONNX Runtime there
when the mapper opens an algorithm that needs it or asks from the menu; never at start-up."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from qgis.core import QgsApplication, QgsSettings

from .algorithms.provider import LandslideMapperProvider
from .core.model import dependencies

MENU = "&Landslide Mapper"
INSTALL_ACTION = "Install dependencies…"
#: where the desktop user installs later (named in the messages of algorithms that cannot run)
WHERE = "In QGIS: Plugins > Landslide Mapper > Install dependencies…"
#: the mapper answered No: opening an algorithm does not ask again (the menu entry always can)
DECLINED = "landslide_mapper/install_declined"
#: an administrator (or a test) may name the folder
FOLDER_VARIABLE = "LANDSLIDE_MAPPER_DEPS"


def dependency_folder() -> Path:
    """The folder the plugin installs its dependencies into: in the QGIS profile, one per
    Python version (a QGIS upgrade to a new Python starts an empty one)."""
    if os.environ.get(FOLDER_VARIABLE):
        return Path(os.environ[FOLDER_VARIABLE])
    return (Path(QgsApplication.qgisSettingsDirPath()) / "python" / "landslide_mapper_deps"
            / f"python{sys.version_info.major}.{sys.version_info.minor}")


class LandslideMapperPlugin:
    def __init__(self, iface=None):
        self.iface = iface
        self.provider = None
        self.action = None
        # before anything imports onnxruntime (classFactory runs for qgis_process too)
        dependencies.use_folder(dependency_folder())

    def initProcessing(self):
        # Called by qgis_process too (hasProcessingProvider=yes), not only by the desktop.
        self.provider = LandslideMapperProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):
        """Nothing is asked here: QGIS 3.22 runs this during its start-up (a zero-length timer
        fires before the main window shows), and a question would block it."""
        from qgis.PyQt.QtWidgets import QAction

        self.initProcessing()
        self.action = QAction(INSTALL_ACTION, self.iface.mainWindow())
        self.action.triggered.connect(self.install_from_menu)
        self.iface.addPluginToMenu(MENU, self.action)
        dependencies.set_resolver(self.offer_on_open, WHERE)

    def offer_on_open(self, problem: dependencies.DependencyProblem) -> None:
        """Asked by an algorithm that needs what is missing, when the mapper opens it."""
        from qgis.PyQt.QtCore import QCoreApplication, QThread

        app = QCoreApplication.instance()
        if app is None or QThread.currentThread() != app.thread() or not dependencies.pip_available():
            return  # no question from a worker thread; without pip, the message says what to do
        if QgsSettings().value(DECLINED, False, type=bool):
            return
        self.offer_install(problem, remember_no=True)

    def install_from_menu(self) -> None:
        from qgis.PyQt.QtWidgets import QMessageBox

        dependencies.refresh()
        problem = dependencies.onnxruntime_problem()
        if problem is None:
            QMessageBox.information(self.iface.mainWindow(), "Landslide Mapper",
                                    f"Everything Landslide Mapper needs is installed (ONNX Runtime "
                                    f"{dependencies.onnxruntime_version()}).")
        elif not dependencies.pip_available():
            QMessageBox.warning(self.iface.mainWindow(), "Landslide Mapper", str(problem))
        else:
            self.offer_install(problem, remember_no=False)

    def offer_install(self, problem: dependencies.DependencyProblem, remember_no: bool) -> bool:
        """Ask; on Yes install (pip's output shown) and wait for it. True when it now imports."""
        from qgis.PyQt.QtWidgets import QMessageBox

        from .algorithms import compat
        from .gui.install_dialog import InstallDialog

        later = "\n\nNo: you are not asked again; install it later from Plugins > Landslide Mapper > " \
                f"{INSTALL_ACTION}" if remember_no else ""
        answer = QMessageBox.question(
            self.iface.mainWindow(), "Landslide Mapper",
            f"{problem.what}\n\nInstall it now? pip puts it in Landslide Mapper's own folder "
            f"({dependencies.folder()}), which only QGIS uses; it works at once, without restarting QGIS.{later}",
            compat.YES | compat.NO, compat.YES)
        if answer != compat.YES:
            if remember_no:
                QgsSettings().setValue(DECLINED, True)
            return False
        QgsSettings().remove(DECLINED)
        dialog = InstallDialog(self.iface.mainWindow(), list(problem.command))
        dialog.start()
        dialog.exec()
        return bool(dialog.succeeded)

    def unload(self):
        dependencies.set_resolver(None)
        if self.action is not None:
            self.iface.removePluginMenu(MENU, self.action)
            self.action = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
