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

from ..core.model.catalog import NO_MODEL_MESSAGE, bundled_models, variant
from ..core.errors import NoValidPixels
from ..core.engine.streaming import WindowSettings
from ..core.model.ensemble import ModelEnsemble
from ..core.errors import Cancelled
from ..core.imagery.inputs import InputError, ModelInput
from ..core.io.outputs import OutputError
from ..core.model.onnx_model import AUTO_DEVICE, DEVICES, ModelError, OnnxModel
from ..core.imagery import scaling
from ..core.io.readers import CroppedReader, crop_window, dem_on_grid, picked_bands
from ..core.io.readers import band_numbers as core_band_numbers
from ..core.io.resolution import gdal_reader_on, grid_for_model, pixel_size_m
from ..core.model.spec import SpecError
from .qgis_reader import QgsProviderReader, reader_for, resampled_grid
from . import compat

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


def band_numbers(alg, parameters, context, feedback, image) -> dict[str, int]:
    """Band numbers by name: those given, else those the raster's band names say, else 1, 2, 3."""
    given = {
        name: alg.parameterAsInt(parameters, param, context)
        for name, param in (("red", RED_BAND), ("green", GREEN_BAND), ("blue", BLUE_BAND), ("nir", NIR_BAND))
        if parameters.get(param) not in (None, "")
    }
    roles = image.band_roles()
    named = picked_bands(roles)
    if set(named) - set(given):
        feedback.pushInfo("Bands picked by their names: " + ", ".join(
            f"{k} = band {v}" for k, v in named.items() if k not in given) + ".")
    return core_band_numbers(roles, given)


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


def model_path(alg, parameters, context) -> Path:
    custom = alg.parameterAsFile(parameters, MODEL_FILE, context)
    if custom:
        return Path(custom)
    key = alg.parameterAsEnumString(parameters, MODEL, context)
    models = bundled_models()
    if not models:
        raise QgsProcessingException(tr(NO_MODEL_MESSAGE))
    if key not in models:
        raise QgsProcessingException(tr("Unknown bundled model '{}'; available: {}.").format(key, ", ".join(models)))
    return models[key]


def runtime_options(alg, parameters, context) -> dict:
    """How models run: CPU threads and device (execution provider)."""
    return {"threads": alg.parameterAsInt(parameters, THREADS, context),
            "device": alg.parameterAsEnumString(parameters, DEVICE, context) or AUTO_DEVICE}


def load_model(alg, parameters, context, precision: str = "float32") -> OnnxModel:
    """The chosen model; ``precision`` "int8" takes its quantized variant."""
    path = model_path(alg, parameters, context)
    chosen = variant(path, precision)
    if not chosen.is_file():
        raise QgsProcessingException(tr("{} has no {} variant (expected {} beside it); choose float32, or make one with "
                                        "'python -m training quantize'.").format(path.name, precision, chosen.name))
    with user_errors():
        return OnnxModel(chosen, class_name=alg.parameterAsString(parameters, CLASS, context) or None,
                         **runtime_options(alg, parameters, context))


def load_ensemble(alg, parameters, context, feedback, precision: str = "float32") -> ModelEnsemble:
    """Every bundled model, averaged (the ensemble of Detect's ENSEMBLE option)."""
    if alg.parameterAsFile(parameters, MODEL_FILE, context):
        raise QgsProcessingException(tr("The ensemble averages the bundled models: leave 'Custom model file' empty, "
                                        "or turn the ensemble off to run your own model."))
    paths = bundled_models()
    if len(paths) < 2:
        raise QgsProcessingException(tr("The ensemble needs at least two bundled models; this installation has "
                                        f"{len(paths)}."))
    with user_errors():
        runtime = runtime_options(alg, parameters, context)
        # a member without the asked precision's variant (one that failed the quality rule) runs as float32
        variants = [variant(path, precision) for path in paths.values()]
        chosen = [v if v.is_file() else path for v, path in zip(variants, paths.values())]
        ensemble = ModelEnsemble([OnnxModel(path, **runtime) for path in chosen])
    feedback.pushInfo(f"Ensemble of {len(paths)} models: {', '.join(p.name for p in chosen)}; threshold "
                      f"{ensemble.spec.threshold} (the mean of theirs).")
    return ensemble


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
        image = QgsProviderReader(layer, resampled_grid(layer, extent, resolution))
        feedback.pushInfo(f"Read through the layer's provider at {resolution:g} m per pixel: "
                          f"{image.grid.width} x {image.grid.height} pixels.")
        return image, image
    image = reader_for(layer)
    if not has_extent:
        return image, image
    if not image.grid.crs_wkt:
        raise InputError("The image has no coordinate reference system, so an extent cannot be placed on it.")
    rect = alg.parameterAsExtent(parameters, EXTENT, context)
    crs = alg.parameterAsExtentCrs(parameters, EXTENT, context)
    window = crop_window(image.grid, (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum(),
                                      crs.toWkt() if crs.isValid() else ""))
    feedback.pushInfo(f"Extent: {window[2]} x {window[3]} pixels from column {window[0]}, row {window[1]}.")
    return CroppedReader(image, *window), image


def at_model_resolution(feedback, layer, image, spec):
    """(reader of ``image`` resampled to the model's training resolution, ``image``), or
    (``image``, None) when it is already close to it or the model does not say."""
    grid = grid_for_model(image, spec)
    if grid is None:
        return image, None
    x, y = pixel_size_m(image.grid)
    feedback.pushInfo(
        f"The image's pixels are {x:.2f} x {y:.2f} m; the model learned at {spec.resolution_m:g} m: it runs "
        f"on the image resampled to {grid.width} x {grid.height} pixels, and the outputs are written on the image's "
        f"own grid (turn off 'Match the model's ground resolution' to run at the image's).")
    # a QGIS provider renders the layer at that resolution itself
    return gdal_reader_on(image, grid) or QgsProviderReader(layer, grid), image


def model_input(alg, parameters, context, feedback, model: OnnxModel, match_resolution: bool = False) -> ModelInput:
    """The model's input from INPUT and its parameters; with ``match_resolution`` (and no
    RESOLUTION given), read at the model's training resolution (see core.io.resolution)."""
    layer = alg.parameterAsRasterLayer(parameters, INPUT, context)
    if layer is None or not layer.isValid():
        raise QgsProcessingException(tr("The input image could not be opened as a raster layer."))
    with user_errors():
        image, whole_image = image_reader(alg, parameters, context, feedback, layer)
        numbers = band_numbers(alg, parameters, context, feedback, image)
        original = None
        if match_resolution and not parameters.get(RESOLUTION):
            image, original = at_model_resolution(feedback, layer, image, model.spec)
        dem = None
        dem_layer = alg.parameterAsRasterLayer(parameters, DEM, context)
        if dem_layer is not None and not model.spec.needs_dem:
            feedback.pushInfo(f"The model '{model.spec.name}' does not use slope: the DEM is not read.")
        if dem_layer is not None and model.spec.needs_dem:
            if dem_layer.providerType() != "gdal":
                raise InputError("The DEM must be a raster file (GeoTIFF or any format GDAL reads).")
            if not image.grid.crs_wkt:
                raise InputError("The image has no coordinate reference system: assign one so the DEM can be aligned to it.")
            dem = dem_on_grid(dem_layer.source(), image.grid)
        inputs = ModelInput(model.spec, image, numbers, dem, original=original)
        mode = alg.parameterAsEnumString(parameters, INPUT_SCALING, context) or scaling.AUTO
        bounds = [alg.parameterAsDouble(parameters, name, context) if parameters.get(name) not in (None, "") else None
                  for name in (SCALING_MIN, SCALING_MAX)]
        # sampled over the whole image, so runs over several extents share one stretch
        inputs.scaling = scaling.choose_scaling(mode, whole_image, inputs.image_band_numbers, model.spec, *bounds)
        if inputs.scaling is not None:
            report = feedback.pushWarning if inputs.scaling.guess else feedback.pushInfo
            report(tr("Input scaling ({}): {} ({}).").format(
                mode, inputs.scaling.describe(inputs.image_band_names), inputs.scaling.reason))
        return inputs


def window_settings(alg, parameters, context) -> WindowSettings:
    return WindowSettings(
        window=alg.parameterAsInt(parameters, WINDOW, context),
        overlap=alg.parameterAsInt(parameters, OVERLAP, context),
        batch_size=alg.parameterAsInt(parameters, BATCH_SIZE, context),
    )


@contextmanager
def user_errors():
    """Turn the engine's errors into Processing errors with the same plain message."""
    try:
        yield
    except Cancelled:
        raise QgsProcessingException(tr("Cancelled: no output was written.")) from None
    except (SpecError, ModelError, InputError, NoValidPixels, ValueError, RuntimeError) as err:
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
