"""The Landslide Mapper Processing provider."""

from qgis.core import QgsProcessingProvider

from ..core.io.polygons import VECTOR_EXTENSIONS
from . import common
from .detect import DetectLandslides
from .evaluate import EvaluateLandslideMap
from .make_patches import MakePatches
from .saliency import SaliencyMap
from .train import TrainLandslideModel


class LandslideMapperProvider(QgsProcessingProvider):
    def id(self):
        return "landslidemapper"

    def name(self):
        return "Landslide Mapper"

    def longName(self):
        return common.tr("Landslide Mapper: landslide detection with interpretable attention U-Nets")

    def icon(self):
        return common.icon()

    def loadAlgorithms(self):
        self.addAlgorithm(DetectLandslides())
        self.addAlgorithm(SaliencyMap())
        self.addAlgorithm(EvaluateLandslideMap())
        self.addAlgorithm(MakePatches())
        self.addAlgorithm(TrainLandslideModel())

    def supportsNonFileBasedOutput(self):
        return False  # the engine streams into files and publishes them atomically

    def supportedOutputRasterLayerExtensions(self):
        return ["tif"]

    def supportedOutputVectorLayerExtensions(self):
        return list(VECTOR_EXTENSIONS)

    def defaultVectorFileExtension(self, hasGeometry=True):
        return "gpkg"

    def defaultRasterFileExtension(self):
        return "tif"
