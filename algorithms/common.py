"""What Detect (and the algorithms that share its inputs) have in common: parameters,
model and input resolution, feedback adapters and error translation."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingParameterBand,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingUtils,
    QgsVectorFileWriter,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ..core.engine.progress import Progress
from ..core.engine.streaming import WindowSettings
from ..core.errors import Cancelled, NoValidPixels
from ..core.imagery import recipe, scaling
from ..core.imagery.inputs import InputError, ModelInput
from ..core.imagery.recipe import InputOptions
from ..core.io.outputs import OutputError
from ..core.io.readers import CroppedReader, crop_window
from ..core.model.catalog import NO_MODEL, bundled_models, ensemble_members
from ..core.model.onnx_model import AUTO_DEVICE, DEVICES, ModelError
from ..core.model.spec import IMAGE_BANDS, ModelSpec, SpecError
from . import compat
from .qgis_reader import QgsProviderReader, open_raster_inputs, reader_for, resampled_grid

PLUGIN_DIR = Path(__file__).resolve().parent.parent
STYLES_DIR = PLUGIN_DIR / "styles"
CITATION = (
    "Method: attention U-Nets on R, G, B, brightness index and slope, with vanilla-gradient "
    "saliency for interpretation; trained with Tversky + focal Tversky loss. "
    "Bijie data: Ji, S. et al. (2020), Landslides 17, 1337-1352, doi:10.1007/s10346-020-01353-2."
)

INPUT, RED_BAND, GREEN_BAND, BLUE_BAND, NIR_BAND = "INPUT", "RED_BAND", "GREEN_BAND", "BLUE_BAND", "NIR_BAND"
DEM, MODEL, MODEL_FILE = "DEM", "MODEL", "MODEL_FILE"
WINDOW, OVERLAP, BATCH_SIZE, THREADS = "WINDOW", "OVERLAP", "BATCH_SIZE", "THREADS"
INPUT_SCALING, SCALING_MIN, SCALING_MAX = "INPUT_SCALING", "SCALING_MIN", "SCALING_MAX"
DEVICE, EXTENT, CLASS, RESOLUTION = "DEVICE", "EXTENT", "CLASS", "RESOLUTION"
_NO_MODEL_OPTION = "none"
STRETCHED = "stretched"  # the style of rasters without a fixed scale


def tr(text: str) -> str:
    return QCoreApplication.translate("LandslideMapper", text)


def icon() -> QIcon:
    return QIcon(str(PLUGIN_DIR / "icons" / "landslide.svg"))


class LandslideAlgorithm(QgsProcessingAlgorithm):
    """What every Landslide Mapper algorithm says about itself: a subclass sets ``NAME``,
    ``DISPLAY_NAME`` and ``HELP`` (HTML)."""

    NAME = DISPLAY_NAME = HELP = ""

    def name(self):
        return self.NAME

    def displayName(self):
        return tr(self.DISPLAY_NAME)

    def group(self):
        return ""

    def groupId(self):
        return ""

    def shortHelpString(self):
        # QGIS shows every newline of the help as a line break: the source's line wrapping
        # must not reach the dialog
        return tr(" ".join(self.HELP.split()))

    def icon(self):
        return icon()

    def createInstance(self):
        return type(self)()

    # the raster files named are opened here, before Processing opens them, so that no
    # statistics file is left beside them (see qgis_reader.open_raster_inputs)
    def checkParameterValues(self, parameters, context):
        open_raster_inputs(self, parameters, context)
        return super().checkParameterValues(parameters, context)

    def prepareAlgorithm(self, parameters, context, feedback):
        open_raster_inputs(self, parameters, context)
        return True


def add_band_parameters(alg: QgsProcessingAlgorithm) -> None:
    """Red, green, blue, NIR band numbers of INPUT. Left empty, bands are picked by the
    raster's band names (e.g. a BGRN or RGBN product that labels its bands), else 1, 2, 3."""
    for name, label in (
        (RED_BAND, "Red band (empty: from the band names, else 1)"),
        (GREEN_BAND, "Green band (empty: from the band names, else 2)"),
        (BLUE_BAND, "Blue band (empty: from the band names, else 3)"),
        (NIR_BAND, "Near-infrared band (only for models that use it; empty: from the band names)"),
    ):
        alg.addParameter(QgsProcessingParameterBand(name, tr(label), None, INPUT, optional=True))


def given_bands(alg, parameters, context) -> dict[str, int]:
    """The band numbers the user gave, by role (the rest are picked by name, see core.imagery.recipe)."""
    return {
        name: alg.parameterAsInt(parameters, param, context)
        for name, param in zip(IMAGE_BANDS, (RED_BAND, GREEN_BAND, BLUE_BAND, NIR_BAND))
        if parameters.get(param) not in (None, "")
    }


def add_input_parameters(alg: QgsProcessingAlgorithm) -> None:
    """Image, bands, DEM, model and window parameters, shared by every model-running algorithm."""
    alg.addParameter(QgsProcessingParameterRasterLayer(INPUT, tr("Image (post-event raster)")))
    alg.addParameter(QgsProcessingParameterExtent(EXTENT, tr("Only this extent (empty: the whole image)"),
                                                  optional=True))
    alg.addParameter(QgsProcessingParameterNumber(
        RESOLUTION, tr("Read at this ground resolution, m per pixel (web layers: required, with an extent)"),
        compat.NUMBER_DOUBLE, optional=True, minValue=0.0))
    # Optional with defaults: QGIS 3.22 rejects a mandatory band parameter left out of a
    # qgis_process/processing.run call even when it has a default.
    add_band_parameters(alg)
    alg.addParameter(
        QgsProcessingParameterRasterLayer(DEM, tr("DEM (elevation; needed by models that use slope)"), optional=True)
    )
    models = list(bundled_models()) or [_NO_MODEL_OPTION]
    alg.addParameter(
        QgsProcessingParameterEnum(
            MODEL, tr("Bundled model"), options=models, defaultValue=models[0], usesStaticStrings=True
        )
    )
    alg.addParameter(
        QgsProcessingParameterFile(
            MODEL_FILE, tr("Custom model file (.onnx; overrides the bundled model)"), extension="onnx", optional=True
        )
    )
    alg.addParameter(
        QgsProcessingParameterNumber(WINDOW, tr("Window size (pixels, multiple of 16)"), defaultValue=128, minValue=16)
    )
    alg.addParameter(
        QgsProcessingParameterNumber(OVERLAP, tr("Window overlap (pixels)"), defaultValue=32, minValue=0)
    )
    alg.addParameter(
        QgsProcessingParameterEnum(
            INPUT_SCALING, tr("Input scaling (auto: 8-bit as is, other data by its bit depth or reflectance scale)"),
            options=list(scaling.MODES), defaultValue=scaling.AUTO, usesStaticStrings=True,
        )
    )
    for param in (
        QgsProcessingParameterNumber(SCALING_MIN, tr("Manual scaling: value shown as black"),
                                     compat.NUMBER_DOUBLE, optional=True),
        QgsProcessingParameterNumber(SCALING_MAX, tr("Manual scaling: value shown as white"),
                                     compat.NUMBER_DOUBLE, optional=True),
        QgsProcessingParameterNumber(BATCH_SIZE, tr("Windows per batch"), defaultValue=8, minValue=1),
        QgsProcessingParameterNumber(THREADS, tr("CPU threads (0 = all cores)"), defaultValue=0, minValue=0),
        QgsProcessingParameterEnum(DEVICE, tr("Device (auto: a GPU when ONNX Runtime has one, else the CPU)"),
                                   options=[AUTO_DEVICE, *DEVICES], defaultValue=AUTO_DEVICE, usesStaticStrings=True),
        QgsProcessingParameterString(CLASS, tr("Class (multi-class models: the landslide class's name or number)"),
                                     optional=True),
    ):
        param.setFlags(param.flags() | compat.FLAG_ADVANCED)
        alg.addParameter(param)


def model_paths(alg, parameters, context, ensemble: bool = False) -> tuple[str, ...]:
    """The model file chosen (custom, else bundled), or with ``ensemble`` every bundled model."""
    custom = alg.parameterAsFile(parameters, MODEL_FILE, context)
    models = bundled_models()
    if ensemble:
        if custom:
            raise QgsProcessingException(tr("The ensemble averages the bundled models: leave 'Custom model file' "
                                            "empty, or turn the ensemble off to run your own model."))
        with user_errors():
            return ensemble_members(models)
    if custom:
        return (custom,)
    key = alg.parameterAsEnumString(parameters, MODEL, context)
    if not models:
        raise QgsProcessingException(tr("{}. Choose your own ONNX model in 'Custom model file' (MODEL_FILE); see the "
                                        "README for how to train and export one.").format(NO_MODEL))
    if key not in models:
        raise QgsProcessingException(tr("Unknown bundled model '{}'; available: {}.").format(key, ", ".join(models)))
    return (str(models[key]),)


def runtime_options(alg, parameters, context) -> dict:
    """How models run: CPU threads and device (execution provider)."""
    return {"threads": alg.parameterAsInt(parameters, THREADS, context),
            "device": alg.parameterAsEnumString(parameters, DEVICE, context) or AUTO_DEVICE}


def progress_of(feedback) -> Progress:
    """The engine's progress object, reporting to a Processing feedback."""
    return Progress(lambda fraction: feedback.setProgress(100.0 * fraction), feedback.isCanceled,
                    feedback.pushInfo, feedback.pushWarning)


def image_reader(alg, parameters, context, feedback, layer):
    """(reader of the pixels to process, reader of the whole image): the layer itself,
    a drawn extent of it, or (``RESOLUTION``; web layers need it) the layer rendered by
    its provider at a chosen ground resolution."""
    resolution = alg.parameterAsDouble(parameters, RESOLUTION, context) if parameters.get(RESOLUTION) else None
    has_extent = parameters.get(EXTENT) not in (None, "")
    if layer.providerType() == "wms" and not (resolution and has_extent):
        raise InputError("A web (WMS/WMTS/XYZ) layer has no pixels of its own: give an extent and a ground "
                         "resolution (e.g. 0.5 m) to read it at.")
    if resolution:
        extent = alg.parameterAsExtent(parameters, EXTENT, context, layer.crs()) if has_extent else layer.extent()
        image = QgsProviderReader(layer, resampled_grid(layer, extent, resolution, context.transformContext()))
        feedback.pushInfo(f"Read through the layer's provider at {resolution:g} m per pixel: "
                          f"{image.grid.width} x {image.grid.height} pixels.")
        return image, image
    image = reader_for(layer)
    if not has_extent:
        return image, image
    if not image.grid.crs_wkt:
        raise InputError("The image has no coordinate reference system, so an extent cannot be placed on it.", "crs")
    rect = alg.parameterAsExtent(parameters, EXTENT, context)
    crs = alg.parameterAsExtentCrs(parameters, EXTENT, context)
    window = crop_window(image.grid, (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum(),
                                      crs.toWkt() if crs.isValid() else ""))
    feedback.pushInfo(f"Extent: {window[2]} x {window[3]} pixels from column {window[0]}, row {window[1]}.")
    return CroppedReader(image, *window), image


def input_options(alg, parameters, context, match_resolution: bool = False) -> InputOptions:
    """How to read INPUT for a model, from the shared input parameters; ``match_resolution``
    (Detect's option) applies unless a ground resolution to read at is given."""
    given = given_bands(alg, parameters, context)
    dem = None
    dem_layer = alg.parameterAsRasterLayer(parameters, DEM, context)
    if dem_layer is not None:
        if dem_layer.providerType() != "gdal":
            raise QgsProcessingException(tr("The DEM must be a raster file (GeoTIFF or any format GDAL reads)."))
        dem = dem_layer.source()
    bounds = [alg.parameterAsDouble(parameters, name, context) if parameters.get(name) not in (None, "") else None
              for name in (SCALING_MIN, SCALING_MAX)]
    return InputOptions(given, dem, alg.parameterAsEnumString(parameters, INPUT_SCALING, context) or scaling.AUTO,
                        *bounds, match_resolution=match_resolution and not parameters.get(RESOLUTION))


def model_input(alg, parameters, context, feedback, options: InputOptions, spec: ModelSpec) -> ModelInput:
    """The model's input from the INPUT layer (all of it, an extent, or rendered at a
    ground resolution), read as ``options`` say (see core.imagery.recipe)."""
    layer = alg.parameterAsRasterLayer(parameters, INPUT, context)
    if layer is None or not layer.isValid():
        raise QgsProcessingException(tr("The input image could not be opened as a raster layer."))
    with user_errors():
        image, whole_image = image_reader(alg, parameters, context, feedback, layer)
        # scaling samples the whole image, so runs over several extents share one scaling
        return recipe.model_input(options, spec, image, whole_image, progress=progress_of(feedback))


def window_settings(alg, parameters, context) -> WindowSettings:
    return WindowSettings(
        window=alg.parameterAsInt(parameters, WINDOW, context),
        overlap=alg.parameterAsInt(parameters, OVERLAP, context),
        batch_size=alg.parameterAsInt(parameters, BATCH_SIZE, context),
    )


#: Where a QGIS user fixes what an InputError's subject names (the engine does not know dialogs)
WHERE_TO_FIX = {"crs": "In QGIS: Layer Properties > Source > Assigned Coordinate Reference System."}


@contextmanager
def user_errors():
    """Turn the engine's errors into Processing errors with the same plain message."""
    try:
        yield
    except Cancelled:
        raise QgsProcessingException(tr("Cancelled: no output was written.")) from None
    except InputError as err:
        where = WHERE_TO_FIX.get(err.subject)
        raise QgsProcessingException(f"{err} {where}" if where else str(err)) from None
    except (SpecError, ModelError, NoValidPixels, ValueError, RuntimeError) as err:
        raise QgsProcessingException(str(err)) from None
    except OutputError as err:
        raise QgsProcessingException(str(err)) from None
    except OSError as err:  # the file system refused an output: no permission, not a folder
        where = f" {err.filename}" if err.filename else ""
        raise QgsProcessingException(tr("Cannot write{}: {}. Choose an output folder you can write to, with free space; "
                                        "nothing was written.").format(where, err.strerror or err)) from None


class StyleOnLoad(QgsProcessingLayerPostProcessorInterface):
    """Styles an output when QGIS loads it: a QML shipped with the plugin, or
    ``STRETCHED`` (a perceptual ramp stretched to the layer's own 2-98 % range, for
    saliency and uncertainty, which have no fixed scale)."""

    def __init__(self, style: str):
        super().__init__()
        self.style = style

    def postProcessLayer(self, layer, context, feedback):
        if self.style == STRETCHED:
            style_saliency(layer)
        elif os.path.exists(STYLES_DIR / self.style):
            layer.loadNamedStyle(str(STYLES_DIR / self.style))
        layer.triggerRepaint()


def style_saliency(layer) -> None:
    from qgis.core import QgsColorRampShader, QgsRasterShader, QgsSingleBandPseudoColorRenderer, QgsStyle

    low, high = layer.dataProvider().cumulativeCut(1, 0.02, 0.98)
    if not high > low:
        high = low + 1e-12
    shader_function = QgsColorRampShader(low, high, QgsStyle.defaultStyle().colorRamp("Magma"),
                                         compat.RAMP_INTERPOLATED)
    shader_function.classifyColorRamp(8)
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(shader_function)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, shader)
    renderer.setClassificationMin(low)
    renderer.setClassificationMax(high)
    layer.setRenderer(renderer)


def style_output(context, output_path: str, style: str, display_name: str) -> None:
    """Name and style an output that Processing will load into the project."""
    if not context.willLoadLayerOnCompletion(output_path):
        return
    details = context.layerToLoadOnCompletionDetails(output_path)
    details.name = display_name
    # QGIS keeps only a raw pointer to the post-processor: it must outlive the algorithm
    # instance, so one per style lives for the whole session.
    styler = _STYLERS.setdefault(style, StyleOnLoad(style))
    details.setPostProcessor(styler)


_STYLERS: dict[str, StyleOnLoad] = {}


def vector_file(layer, context, feedback) -> tuple[str, str | None]:
    """(path, layer name) of a file GDAL can open holding the layer's features: the
    layer's own file when it is a plain OGR layer, else a copy in a temporary GeoPackage
    (memory layers, filtered layers, database layers)."""
    parts = layer.source().split("|")
    options = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    if layer.providerType() == "ogr" and set(options) <= {"layername"}:
        return parts[0], options.get("layername")
    path = QgsProcessingUtils.generateTempFilename(f"{layer.name() or 'layer'}.gpkg")
    save = QgsVectorFileWriter.SaveVectorOptions()
    save.driverName = "GPKG"
    save.layerName = "features"
    error, message, _path, _name = QgsVectorFileWriter.writeAsVectorFormatV3(
        layer, path, context.transformContext(), save)
    if error != compat.WRITER_NO_ERROR:
        raise QgsProcessingException(tr("Could not copy the layer '{}' for reading: {}").format(layer.name(), message))
    feedback.pushInfo(tr("The layer '{}' was copied to a temporary GeoPackage to be read.").format(layer.name()))
    return path, "features"
