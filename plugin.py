"""QGIS entry point: registers the Landslide Mapper Processing provider."""

from qgis.core import QgsApplication

from .algorithms.provider import LandslideMapperProvider


class LandslideMapperPlugin:
    def __init__(self, iface=None):
        self.iface = iface
        self.provider = None

    def initProcessing(self):
        # Called by qgis_process too (hasProcessingProvider=yes), not only by the desktop.
        self.provider = LandslideMapperProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
