"""QGIS entry point: registers the Landslide Mapper Processing provider and, in the
desktop, offers once to install ONNX Runtime when QGIS's Python lacks it."""

from qgis.core import QgsApplication

from .algorithms.provider import LandslideMapperProvider


class LandslideMapperPlugin:
    def __init__(self, iface=None):
        self.iface = iface
        self.provider = None
        self.installer = None

    def initProcessing(self):
        # Called by qgis_process too (hasProcessingProvider=yes), not only by the desktop.
        self.provider = LandslideMapperProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):
        self.initProcessing()
        from .core.model.dependencies import onnxruntime_problem

        problem = onnxruntime_problem()
        if problem and self.iface is not None:
            from qgis.PyQt.QtCore import QTimer

            # after start-up has finished, so the question never blocks QGIS opening
            QTimer.singleShot(0, lambda: self.offer_install(problem))

    def offer_install(self, problem):
        from qgis.PyQt.QtWidgets import QMessageBox

        from .algorithms import compat
        from .gui.install_dialog import InstallDialog

        answer = QMessageBox.question(
            self.iface.mainWindow(), "Landslide Mapper",
            problem.what + "\n\nInstall it now into QGIS's Python (for your user only)?",
            compat.YES | compat.NO, compat.YES)
        if answer == compat.YES:
            self.installer = InstallDialog(self.iface.mainWindow(), problem.command)
            self.installer.show()
            self.installer.start()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
