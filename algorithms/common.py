"""What Detect (and the algorithms that share its inputs) have in common: parameters,
model and input resolution, feedback adapters and error translation."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsLayerTree,
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
    QgsProject,
    QgsVectorFileWriter,
)
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QCoreApplication, QUrl
from qgis.PyQt.QtGui import QColor, QIcon

from ..core.engine.progress import Progress
from ..core.engine.streaming import DEFAULT_BATCH_SIZE, MODEL_WINDOW, WindowSettings
from ..core.errors import Cancelled, InputError, NoValidPixels, UserError
from ..core.imagery import recipe
from ..core.imagery.inputs import ModelInput
from ..core.imagery.recipe import InputOptions
from ..core.imagery.scaling import MODES, ScalingMode
from ..core.io.readers import CroppedReader, crop_window
from ..core.model import dependencies
from ..core.model.catalog import NO_MODEL, READABLE_NAMES, available_models, bundled_models, ensemble_members
from ..core.model.onnx_model import Device, available_devices
from ..core.model.spec import IMAGE_BANDS, ModelSpec
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


#: the toolbox's groups, in a mapper's order of work
MAPPING, ASSESSMENT, TRAINING = "Mapping", "Assessment", "Training"
#: where each algorithm's Help button leads: the README shipped in the plugin folder
HELP_SECTIONS = {MAPPING: "using-it", ASSESSMENT: "using-it", TRAINING: "training-your-own-model"}


#: the algorithms that need ONNX Runtime
RUNS_MODELS = ("detect", "saliency")


class LandslideAlgorithm(QgsProcessingAlgorithm):
    """What every Landslide Mapper algorithm says about itself: a subclass sets ``NAME``,
    ``DISPLAY_NAME``, ``GROUP`` and ``HELP`` (HTML)."""

    NAME = DISPLAY_NAME = HELP = ""
    GROUP = MAPPING

    def name(self):
        return self.NAME

    def displayName(self):
        return tr(self.DISPLAY_NAME)

    def group(self):
        return tr(self.GROUP)

    def groupId(self):
        return self.GROUP.lower()

    def helpUrl(self):
        return QUrl.fromLocalFile(str(PLUGIN_DIR / "README.md")).toString() + "#" + HELP_SECTIONS[self.GROUP]

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

    def canExecute(self):
        # opening an algorithm that runs a model without ONNX Runtime: in the desktop the plugin offers
        # the install here (never at QGIS's start); else the toolbox or qgis_process shows what to run
        problem = dependencies.resolve() if self.NAME in RUNS_MODELS else None
        return (True, "") if problem is None else (False, str(problem))


def declare(alg: QgsProcessingAlgorithm, param, help_text: str = "", advanced: bool = False,
            decimals: int | None = None):
    """Add ``param`` with its tooltip (``help_text``), under "Advanced parameters" if asked:
    the dialog shows up front only what a mapper needs on every run. ``decimals``: what a
    number's spin box shows (QGIS shows six: "20.000000" minutes)."""
    if decimals is not None:
        param.setMetadata({**param.metadata(), "widget_wrapper": {"decimals": decimals}})
    if help_text:  # a literal is translated here; a formatted text arrives translated (tr of it is a no-op)
        param.setHelp(tr(" ".join(help_text.split())))
    if advanced:
        param.setFlags(param.flags() | compat.FLAG_ADVANCED)
    alg.addParameter(param)
    return param


def add_band_parameters(alg: QgsProcessingAlgorithm, advanced: bool = True) -> None:
    """Red, green, blue, NIR band numbers of INPUT. Left empty, bands are picked by the
    raster's band names (e.g. a BGRN or RGBN product that labels its bands), else 1, 2, 3."""
    for name, label, default in (
        (RED_BAND, "Red band", "1"), (GREEN_BAND, "Green band", "2"), (BLUE_BAND, "Blue band", "3"),
    ):
        declare(alg, QgsProcessingParameterBand(name, tr(label), None, INPUT, optional=True),
                tr("The image band that holds {}. Empty: found from the band names (e.g. a BGRN product that labels "
                   "its bands), else band {}.").format(tr(label.split()[0].lower()), default), advanced)
    declare(alg, QgsProcessingParameterBand(NIR_BAND, tr("Near-infrared band"), None, INPUT, optional=True),
            "Only for models that use near-infrared. Empty: found from the band names.", advanced)


def given_bands(alg, parameters, context) -> dict[str, int]:
    """The band numbers the user gave, by role (the rest are picked by name, see core.imagery.recipe)."""
    return {
        name: alg.parameterAsInt(parameters, param, context)
        for name, param in zip(IMAGE_BANDS, (RED_BAND, GREEN_BAND, BLUE_BAND, NIR_BAND))
        if parameters.get(param) not in (None, "")
    }


def user_models_dir() -> Path:
    """Where 'Train landslide model' adds the models it writes, for Detect's model list: in the QGIS profile."""
    return Path(QgsApplication.qgisSettingsDirPath()) / "landslide_mapper" / "models"


def model_options() -> list[str]:
    return list(available_models(user_models_dir())) or [_NO_MODEL_OPTION]


def add_input_parameters(alg: QgsProcessingAlgorithm) -> None:
    """Image, DEM and model up front; extent, resolution, bands, windows, scaling and
    runtime under Advanced. Shared by every model-running algorithm."""
    declare(alg, QgsProcessingParameterRasterLayer(INPUT, tr("Image (post-event raster)")),
            "The post-event image: a GeoTIFF, a VRT or any raster layer QGIS shows. Nodata stays nodata.")
    declare(alg, QgsProcessingParameterRasterLayer(DEM, tr("DEM (elevation)"), optional=True),
            "Only for models that use slope (the model card says); any CRS and resolution, resampled onto the "
            "image.")
    models = model_options()
    declare(alg, QgsProcessingParameterEnum(MODEL, tr("Model"), options=models, defaultValue=models[0],
                                            usesStaticStrings=True),
            "A bundled model (the first is the recommended one; its card, models/<name>.md, says how it scores), "
            "or one 'Train landslide model' added. "
            + "; ".join(f"{key}: {READABLE_NAMES.get(key, 'your own')}" for key in models if key != _NO_MODEL_OPTION)
            + ".")
    declare(alg, QgsProcessingParameterFile(MODEL_FILE, tr("Custom model file (.onnx)"), extension="onnx",
                                            optional=True),
            "Your own model (e.g. trained with Landslide Mapper on your imagery). Overrides the bundled model.")
    declare(alg, QgsProcessingParameterExtent(EXTENT, tr("Only this extent"), optional=True),
            "Process only this part of the image (draw it on the map, or use a layer's extent). Empty: the whole "
            "image.", advanced=True)
    declare(alg, QgsProcessingParameterNumber(RESOLUTION, tr("Read at this ground resolution (m per pixel)"),
                                              compat.NUMBER_DOUBLE, optional=True, minValue=0.0),
            "Read the image through its layer at this pixel size instead of its own pixels. Required for web "
            "(WMS/XYZ) layers, together with an extent.", advanced=True, decimals=2)
    # Optional with defaults: QGIS 3.22 rejects a mandatory band parameter left out of a
    # qgis_process/processing.run call even when it has a default.
    add_band_parameters(alg)
    declare(alg, QgsProcessingParameterNumber(WINDOW, tr("Window size (pixels)"), optional=True, minValue=16),
            "The model runs on square windows of this size (a multiple of 16). Empty: the size the model was "
            "trained on, which is where it is most accurate.", advanced=True)
    declare(alg, QgsProcessingParameterNumber(OVERLAP, tr("Window overlap (pixels)"), defaultValue=32, minValue=0),
            "Neighbouring windows overlap by this much and are blended, so no seam shows.", advanced=True)
    declare(alg, QgsProcessingParameterEnum(INPUT_SCALING, tr("Input scaling"), options=list(MODES),
                                            defaultValue=ScalingMode.AUTO.value, usesStaticStrings=True),
            "auto: 8-bit images as they are, other data by its bit depth or reflectance scale. manual: give the "
            "values shown as black and white. none: no scaling.", advanced=True)
    for name, label in ((SCALING_MIN, "Manual scaling: value shown as black"),
                        (SCALING_MAX, "Manual scaling: value shown as white")):  # 4 decimals: reflectance
        declare(alg, QgsProcessingParameterNumber(name, tr(label), compat.NUMBER_DOUBLE, optional=True),
                "Only with input scaling 'manual'.", advanced=True, decimals=4)
    for param, help_text in (
        (QgsProcessingParameterNumber(BATCH_SIZE, tr("Windows per batch"), defaultValue=DEFAULT_BATCH_SIZE, minValue=1),
         "More uses more memory, and may be faster on a GPU."),
        (QgsProcessingParameterNumber(THREADS, tr("CPU threads"), defaultValue=0, minValue=0),
         "0: all cores."),
        (QgsProcessingParameterEnum(DEVICE, tr("Device"), options=[Device.AUTO.value, *available_devices()],
                                    defaultValue=Device.AUTO.value, usesStaticStrings=True),
         "auto: a GPU when this ONNX Runtime has one, else the CPU. Only the devices this installation has are "
         "listed."),
        (QgsProcessingParameterString(CLASS, tr("Class"), optional=True),
         "Multi-class models only: the landslide class's name or number."),
    ):
        declare(alg, param, help_text, advanced=True)


def model_paths(alg, parameters, context, ensemble: bool = False) -> tuple[str, ...]:
    """The model file chosen (custom, else bundled), or with ``ensemble`` every bundled model."""
    custom = alg.parameterAsFile(parameters, MODEL_FILE, context)
    if ensemble:
        if custom:
            raise QgsProcessingException(tr("The ensemble averages the bundled models: leave 'Custom model file' "
                                            "empty, or turn the ensemble off to run your own model."))
        with user_errors():
            return ensemble_members(bundled_models())
    models = available_models(user_models_dir())
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
            "device": alg.parameterAsEnumString(parameters, DEVICE, context) or Device.AUTO}


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
    return InputOptions(given, dem, alg.parameterAsEnumString(parameters, INPUT_SCALING, context) or ScalingMode.AUTO,
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
    given = parameters.get(WINDOW) not in (None, "")
    return WindowSettings(
        window=alg.parameterAsInt(parameters, WINDOW, context) if given else MODEL_WINDOW,
        overlap=alg.parameterAsInt(parameters, OVERLAP, context),
        batch_size=alg.parameterAsInt(parameters, BATCH_SIZE, context),
    )


#: Where a QGIS user fixes what a UserError's subject names (the engine does not know dialogs)
WHERE_TO_FIX = {"crs": "In QGIS: Layer Properties > Source > Assigned Coordinate Reference System."}


@contextmanager
def user_errors():
    """Turn the engine's errors into Processing errors with the same plain message."""
    try:
        yield
    except Cancelled:
        raise QgsProcessingException(tr("Cancelled: no output was written.")) from None
    except UserError as err:  # InputError, EvaluationError, SpecError, ModelError, OutputError: about its subject
        where = WHERE_TO_FIX.get(err.subject)
        raise QgsProcessingException(f"{err} {where}" if where else str(err)) from None
    except (NoValidPixels, ValueError, RuntimeError) as err:
        raise QgsProcessingException(str(err)) from None
    except OSError as err:  # the file system refused an output: no permission, not a folder
        where = f" {err.filename}" if err.filename else ""
        raise QgsProcessingException(tr("Cannot write{}: {}. Choose an output folder you can write to, with free space; "
                                        "nothing was written.").format(where, err.strerror or err)) from None


#: How each style's layer stacks among a run's outputs (0 on top: outlines over rasters),
#: so every output stays visible: polygons, then set-aside polygons, then rasters.
STACK_RANK = {"polygons.qml": 0, "zones.qml": 0, "errors.qml": 0, "evaluation_objects.qml": 0,
              "evaluation_points.qml": 0, "dropped.qml": 1, "mask.qml": 2, STRETCHED: 3, "probability.qml": 4}
#: loaded but not drawn: the mask says what the polygons already draw (there to use, not to look at)
LOADED_HIDDEN = {"mask.qml"}
_RUN_PROPERTY, _RANK_PROPERTY = "landslide_mapper/run", "landslide_mapper/stack_rank"


class StyleOnLoad(QgsProcessingLayerPostProcessorInterface):
    """Styles an output when QGIS loads it (a QML shipped with the plugin, or ``STRETCHED``:
    a perceptual ramp stretched to the layer's own 2-98 % range, for saliency and
    uncertainty, which have no fixed scale) and stacks it among its run's other outputs."""

    def __init__(self, style: str, run: str):
        super().__init__()
        self.style, self.run = style, run

    def postProcessLayer(self, layer, context, feedback):
        if self.style == STRETCHED:
            style_stretched(layer)
        elif os.path.exists(STYLES_DIR / self.style):
            layer.loadNamedStyle(str(STYLES_DIR / self.style))
        stack_in_layer_tree(layer, context.project() or QgsProject.instance(), self.run,
                            STACK_RANK.get(self.style, 3), self.style not in LOADED_HIDDEN)
        layer.triggerRepaint()


def stack_in_layer_tree(layer, project, run: str, rank: int, visible: bool) -> None:
    """Move ``layer`` just above the first output of the same run that should lie under it
    (or just under the run's last one): QGIS 3.22 loads a run's outputs in no useful order."""
    layer.setCustomProperty(_RUN_PROPERTY, run)
    layer.setCustomProperty(_RANK_PROPERTY, rank)
    node = project.layerTreeRoot().findLayer(layer.id())
    if node is None:
        return
    parent = node.parent()
    target, last = None, None
    for i, child in enumerate(parent.children()):
        other = child.layer() if QgsLayerTree.isLayer(child) else None
        if other is None or other.id() == layer.id() or other.customProperty(_RUN_PROPERTY) != run:
            continue
        last = i
        if target is None and int(other.customProperty(_RANK_PROPERTY)) > rank:
            target = i
    if target is None and last is not None:
        target = last + 1
    if target is not None:
        moved = node.clone()
        parent.insertChildNode(target, moved)
        parent.removeChildNode(node)
        node = moved
    node.setItemVisibilityChecked(visible)


def style_stretched(layer) -> None:
    """A Magma ramp over the layer's own 2-98 % range whose opacity rises with the value:
    values with no fixed scale (saliency, uncertainty) read as low to high over the image,
    which stays visible where they are low."""
    from qgis.core import (
        QgsColorRampLegendNodeSettings,
        QgsColorRampShader,
        QgsRasterShader,
        QgsSingleBandPseudoColorRenderer,
        QgsStyle,
    )

    low, high = layer.dataProvider().cumulativeCut(1, 0.02, 0.98)
    if not high > low:
        high = low + 1e-12
    shader_function = QgsColorRampShader(low, high, QgsStyle.defaultStyle().colorRamp("Magma"),
                                         compat.RAMP_INTERPOLATED)
    shader_function.classifyColorRamp(8)
    items = shader_function.colorRampItemList()
    for i, item in enumerate(items):  # clear at the low end, rising to mostly opaque: the image shows through
        colour = QColor(item.color)
        colour.setAlpha(int(220 * i / max(1, len(items) - 1)))
        item.color = colour
    shader_function.setColorRampItemList(items)
    legend = QgsColorRampLegendNodeSettings()  # relative values: the numbers would mean nothing to a reader
    legend.setMinimumLabel(tr("low"))
    legend.setMaximumLabel(tr("high"))
    shader_function.setLegendSettings(legend)
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
    # one key per run (the context is the run's): its outputs are stacked among themselves
    run = getattr(context, "_landslide_mapper_run", None) or uuid.uuid4().hex
    context._landslide_mapper_run = run
    # QGIS keeps a raw pointer to the post-processor and deletes it once it has styled the
    # layer: a fresh one for every output of every run (one reused across runs is a deleted
    # object from the second run on), kept alive from Python until QGIS is done with it.
    styler = StyleOnLoad(style, run)
    _PENDING_STYLERS[:] = [s for s in _PENDING_STYLERS if not sip.isdeleted(s)] + [styler]
    details.setPostProcessor(styler)


_PENDING_STYLERS: list[StyleOnLoad] = []


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
