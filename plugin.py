"""QGIS entry point: registers the Landslide Mapper Processing provider, puts the plugin's own
dependency folder on ``sys.path``, and, in the desktop, offers what an algorithm needs when
the mapper opens it or asks from the menu, never at start-up: ONNX Runtime (into that
folder) for Detect and Saliency map, the training environment (a venv of its own, about
600 MB) for Train landslide model. Each question is asked on the main thread only, and a No
to one is remembered apart from the other."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from qgis.core import QgsApplication, QgsSettings

from .algorithms import training_environment
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
#: the training environment has its own entry: 600 MB that a mapper who only runs Detect never needs
TRAINING_ACTION = "Install training environment…"
TRAINING_WHERE = "In QGIS: Plugins > Landslide Mapper > Install training environment…"
TRAINING_DECLINED = "landslide_mapper/training_install_declined"


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
        self.action = self.training_action = None
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
        self.training_action = QAction(TRAINING_ACTION, self.iface.mainWindow())
        self.training_action.triggered.connect(self.install_training_from_menu)
        self.iface.addPluginToMenu(MENU, self.training_action)
        dependencies.set_resolver(self.offer_on_open, WHERE)
        training_environment.set_resolver(self.offer_training_on_open, TRAINING_WHERE)

    @staticmethod
    def may_ask(declined: str) -> bool:
        """A question may be asked: on the main thread (never from a worker thread, which a
        dialog would block), and not after the mapper said No to it."""
        from qgis.PyQt.QtCore import QCoreApplication, QThread

        app = QCoreApplication.instance()
        if app is None or QThread.currentThread() != app.thread():
            return False
        return not QgsSettings().value(declined, False, type=bool)

    def offer_on_open(self, problem: dependencies.DependencyProblem) -> None:
        """Asked by an algorithm that needs what is missing, when the mapper opens it."""
        if self.may_ask(DECLINED) and dependencies.pip_available():  # without pip, the message says what to do
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
        from .gui.install_dialog import InstallDialog

        later = "\n\nNo: you are not asked again; install it later from Plugins > Landslide Mapper > " \
                f"{INSTALL_ACTION}" if remember_no else ""
        question = (f"{problem.what}\n\nInstall it now? pip puts it in Landslide Mapper's own folder "
                    f"({dependencies.folder()}), which only QGIS uses; it works at once, without restarting QGIS.{later}")
        return self.ask_and_install(question, DECLINED, remember_no,
                                    lambda: InstallDialog(self.iface.mainWindow(), list(problem.command)))

    def offer_training_on_open(self, environment: training_environment.TrainingEnvironment) -> None:
        """Asked by Train landslide model when the mapper opens it and no training Python is found."""
        if self.may_ask(TRAINING_DECLINED):
            self.offer_training(environment, remember_no=True)

    def install_training_from_menu(self) -> None:
        from qgis.PyQt.QtWidgets import QMessageBox

        from .algorithms.train import no_training_package, training_environment_here

        environment = training_environment_here()
        try:
            python = environment.find()
        except training_environment.TrainingEnvironmentError as missing:
            if no_training_package() or not missing.installable:  # the venv would not help
                QMessageBox.warning(self.iface.mainWindow(), "Landslide Mapper", no_training_package() or str(missing))
            else:
                self.offer_training(environment, remember_no=False)
            return
        QMessageBox.information(self.iface.mainWindow(), "Landslide Mapper",
                                f"The training environment is ready: Train landslide model trains with {python}.")

    def offer_training(self, environment: training_environment.TrainingEnvironment, remember_no: bool) -> bool:
        """Ask; on Yes make the venv (pip's output shown) and wait for it. True when it now trains."""
        from .gui.install_dialog import InstallDialog, training_installation

        later = "\n\nNo: you are not asked again; make it later from Plugins > Landslide Mapper > " \
                f"{TRAINING_ACTION}" if remember_no else ""
        question = ("Train landslide model needs TensorFlow, which QGIS's Python does not have (and must not: GDAL "
                    "pins its NumPy).\n\nMake Landslide Mapper's training environment now? pip downloads "
                    f"{training_environment.DOWNLOAD} (TensorFlow CPU, tf2onnx, ONNX Runtime) into a Python environment "
                    f"of its own, made from QGIS's Python in\n{environment.venv}\nQGIS's own Python is left untouched. It "
                    f"is made once, takes a few minutes, and every training run reuses it.{later}")
        return self.ask_and_install(question, TRAINING_DECLINED, remember_no, lambda: InstallDialog(
            self.iface.mainWindow(), installation=training_installation(environment)))

    def ask_and_install(self, question: str, declined: str, remember_no: bool, dialog) -> bool:
        """Ask ``question``; on Yes run the installation ``dialog()`` makes and wait for it (a No
        is remembered under ``declined`` when ``remember_no``). True when it succeeded."""
        from qgis.PyQt.QtWidgets import QMessageBox

        from .algorithms import compat

        answer = QMessageBox.question(self.iface.mainWindow(), "Landslide Mapper", question, compat.YES | compat.NO,
                                      compat.YES)
        if answer != compat.YES:
            if remember_no:
                QgsSettings().setValue(declined, True)
            return False
        QgsSettings().remove(declined)
        installing = dialog()
        installing.start()
        installing.exec()
        return bool(installing.succeeded)

    def unload(self):
        dependencies.set_resolver(None)
        training_environment.set_resolver(None)
        for action in (self.action, self.training_action):
            if action is not None:
                self.iface.removePluginMenu(MENU, action)
        self.action = self.training_action = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
