"""Create training patches: a raster and a landslide inventory cut into 128-px patches
that `python -m training train --patches FOLDER` reads (no TensorFlow needed here)."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from ..core.imagery.patches import inventory_sample, make_patchset, write_patch_folder
from ..core.imagery.recipe import pick_bands
from ..core.io.polygons import VECTOR_EXTENSIONS
from ..core.model.spec import BAND_VOCABULARY
from . import common, compat
from .common import tr
from .qgis_reader import reader_for

POLYGONS, BANDS, NEGATIVE_SHARE, OVERLAP, OUTPUT_FOLDER = "POLYGONS", "BANDS", "NEGATIVE_SHARE", "OVERLAP", "OUTPUT_FOLDER"

HELP = """<p>Cuts a georeferenced image and landslide polygons digitized over it into
128-pixel training patches, to teach a model your own terrain with the plugin's training
package (the README's section "Training your own model" says how; it needs TensorFlow,
which QGIS does not bring).</p>
<ul>
<li>The polygons are reprojected and rasterized onto the image grid; the bands (and slope
from the DEM) are read exactly as Detect reads them, at the image's native resolution.</li>
<li>Patches with landslide pixels are all kept; patches without any are kept up to the
<b>share of patches without landslides</b> (the method keeps none; some teach the model
the bare fields and roads that otherwise become false alarms).</li>
<li><b>Model bands</b>: from red, green, blue, nir, brightness, slope (slope needs the
DEM).</li>
</ul>"""


class MakePatches(common.LandslideAlgorithm):
    NAME, DISPLAY_NAME, HELP = "make_patches", "Create training patches", HELP
    GROUP = common.TRAINING

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer(common.INPUT, tr("Image")))
        self.addParameter(QgsProcessingParameterFeatureSource(POLYGONS, tr("Landslide polygons (inventory)"),
                                                              [compat.SOURCE_POLYGON]))
        self.addParameter(QgsProcessingParameterRasterLayer(common.DEM, tr("DEM (for a slope band)"), optional=True))
        common.add_band_parameters(self)
        self.addParameter(QgsProcessingParameterString(BANDS, tr("Model bands, in order"),
                                                       "red,green,blue,brightness"))
        common.declare(self, QgsProcessingParameterNumber(
            NEGATIVE_SHARE, tr("Share of patches without landslides"), compat.NUMBER_DOUBLE, 0.2,
            minValue=0.0, maxValue=0.95), decimals=2)
        self.addParameter(QgsProcessingParameterNumber(OVERLAP, tr("Patch overlap (pixels)"), defaultValue=32,
                                                       minValue=0, maxValue=96))
        self.addParameter(QgsProcessingParameterFolderDestination(OUTPUT_FOLDER, tr("Patch folder")))
        for name, label in (("PATCHES", "Patches written"), ("WITH_LANDSLIDES", "Patches with landslides")):
            self.addOutput(QgsProcessingOutputNumber(name, tr(label)))

    def processAlgorithm(self, parameters, context, feedback):
        layer = self.parameterAsRasterLayer(parameters, common.INPUT, context)
        if layer is None or layer.providerType() != "gdal":
            raise QgsProcessingException(tr("The image must be a raster file (GeoTIFF or any format GDAL reads)."))
        bands = [b.strip() for b in self.parameterAsString(parameters, BANDS, context).split(",") if b.strip()]
        unknown = [b for b in bands if b not in BAND_VOCABULARY]
        if not bands or unknown:
            raise QgsProcessingException(tr("Model bands must come from {}; not understood: {}.").format(
                ", ".join(BAND_VOCABULARY), ", ".join(unknown) or "(none given)"))
        dem_layer = self.parameterAsRasterLayer(parameters, common.DEM, context)
        if "slope" in bands and dem_layer is None:
            raise QgsProcessingException(tr("A slope band needs a DEM."))
        path, layer_name = self.parameterAsCompatibleSourceLayerPathAndLayerName(
            parameters, POLYGONS, context, list(VECTOR_EXTENSIONS), "gpkg", feedback)
        folder = self.parameterAsString(parameters, OUTPUT_FOLDER, context)
        with common.user_errors():
            image = reader_for(layer)  # on the layer's CRS, also one assigned in QGIS
            band_numbers = pick_bands(image, common.given_bands(self, parameters, context),
                                      common.progress_of(feedback))
            feedback.setProgress(10)
            sample = inventory_sample(layer.source(), path, band_numbers, dem_layer.source() if dem_layer else None,
                                      bands, layer_name or None, image.grid.crs_wkt)
            if not sample.mask.any():
                raise QgsProcessingException(tr("No landslide polygon falls on the image: check that the inventory "
                                                "covers it (and its CRS)."))
            feedback.setProgress(60)
            patches = make_patchset([sample], self.parameterAsDouble(parameters, NEGATIVE_SHARE, context),
                                    overlap=self.parameterAsInt(parameters, OVERLAP, context))
            if feedback.isCanceled():
                raise QgsProcessingException(tr("Cancelled: no output was written."))
            write_patch_folder(patches, folder, {"image": layer.source(), "polygons": path, "bands": bands,
                                                 "band_numbers": band_numbers,
                                                 "dem": dem_layer.source() if dem_layer else None})
        positives = int(sum(bool(m.any()) for m in patches.masks))
        feedback.pushInfo(f"{len(patches)} patches ({positives} with landslides) written to {folder}.")
        return {OUTPUT_FOLDER: folder, "PATCHES": len(patches), "WITH_LANDSLIDES": positives}
