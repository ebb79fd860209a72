"""Evaluate landslide map: pixel and object scores of a map against a reference inventory."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterMapLayer,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorDestination,
    QgsRasterLayer,
    QgsVectorLayer,
)

from ..core.evaluation import scoring
from ..core.evaluation.scoring import (
    EvaluationError,
    EvaluationOutputs,
    EvaluationRequest,
    EvaluationResult,
    LandslideMap,
    evaluate_maps,
)
from . import common, compat
from .common import tr

PREDICTION, REFERENCE, REFERENCE_POINTS, AREA, EXTENT = "PREDICTION", "REFERENCE", "REFERENCE_POINTS", "AREA", "EXTENT"
MIN_COVERAGE, POINT_TOLERANCE, PIXEL_SIZE = "MIN_COVERAGE", "POINT_TOLERANCE", "PIXEL_SIZE"
PROBABILITY, THRESHOLD = "PROBABILITY", "THRESHOLD"
OUTPUT_OBJECTS, OUTPUT_ERRORS, OUTPUT_POINTS, OUTPUT_REPORT = (
    "OUTPUT_OBJECTS", "OUTPUT_ERRORS", "OUTPUT_POINTS", "OUTPUT_REPORT")
#: the numeric outputs: Processing name -> (the scorer's key, or the result's points count; description)
NUMBERS = {
    "PRECISION": ("precision", "Precision"), "RECALL": ("recall", "Recall"), "F1": ("f1", "F1 score"),
    "IOU": ("iou", "Intersection over union"), "ACCURACY": ("accuracy", "Accuracy"),
    "TP": ("tp", "True-positive pixels"), "FP": ("fp", "False-positive pixels"),
    "FN": ("fn", "False-negative pixels"), "TN": ("tn", "True-negative pixels"),
    "OBJECTS_DETECTED": ("objects_detected", "Reference landslides detected"),
    "OBJECTS_MISSED": ("objects_missed", "Reference landslides missed"),
    "FALSE_ALARMS": ("false_alarm_objects", "False-alarm objects"),
    "POINTS_HIT": ("points_hit", "Inventory points hit"), "POINTS_MISSED": ("points_missed", "Inventory points missed"),
}
#: the input an evaluation error concerns -> its parameter
SUBJECTS = {"prediction": PREDICTION, "reference": REFERENCE, "points": REFERENCE_POINTS, "area": AREA,
            "probability": PROBABILITY, "extent": EXTENT, "pixel_size": PIXEL_SIZE}
#: what went wrong, in this dialog's terms ({input}: the parameter as the dialog shows it)
MESSAGES = {
    scoring.NO_CRS: "{input} has no coordinate reference system{source}: assign one first (Layer Properties > Source).",
    scoring.UNREADABLE: "{input}: '{file}' is neither a raster nor a vector layer GDAL can read.",
    scoring.NO_SUCH_LAYER: "{input}: '{file}' has no layer '{layer}'.",
    scoring.NO_OVERLAP: "{input} does not overlap the area being scored: the maps do not overlap. Check that both "
                        "cover the same place (and their CRSs).",
    scoring.NOTHING_SCORED: "No pixel could be scored: the maps do not overlap (or every pixel is nodata or outside "
                            "the area/extent). Check that both maps cover the same place.",
    scoring.EXTENT_OUTSIDE: "{input} does not overlap the maps: draw it over the area they cover.",
    scoring.PIXEL_SIZE_NEEDED: "Both maps are polygon layers: give {input}, the size of the grid they are scored on "
                               "(in the prediction layer's CRS units).",
    scoring.NOT_A_MASK: "{input}{source} is an image with {bands} bands: it expects a landslide mask (one band: 1 "
                        "landslide, 0 not; e.g. the 'Landslide mask' of Detect landslides) or a polygon layer.",
    scoring.SAME_MAP: "The landslide map and the reference inventory are the same layer: choose the map to score in "
                      "'Landslide map' and an independent inventory in 'Reference inventory'.",
}


def output_numbers(result: EvaluationResult) -> dict:
    """The numeric outputs by Processing name (None where not measured: no points given)."""
    measured = {**result.scores, "points_hit": result.points_hit, "points_missed": result.points_missed}
    return {name: measured[key] for name, (key, _description) in NUMBERS.items()}


HELP = """<p>Scores a landslide map (Detect's mask or polygons, or any other) against a
reference inventory, as the method's paper does: pixel scores, landslides found and
missed, false alarms, and inventory points hit.</p>
<h3>Parameters</h3>
<ul>
<li><b>Landslide map</b>: a mask raster (pixels above 0 are landslide; nodata is not
scored) or a polygon layer.</li>
<li><b>Reference inventory</b>: landslide polygons, or a mask raster.</li>
<li><b>Inventory points</b> (optional): one point per known landslide, as agencies often
have; each is hit when a mapped pixel lies within the point tolerance.</li>
<li><b>Area</b> / <b>Extent</b> (optional): only pixels inside are scored.</li>
<li><b>Minimum covered share</b>: a reference landslide counts as detected when mapped
pixels cover at least this share of it (0: any overlap).</li>
<li><b>Probability raster</b> (optional): the probability the map was thresholded from
(Detect's), and the <b>threshold</b> used: the report then shows precision, recall and F1
across thresholds, the chosen one marked, and each false alarm's mean probability.</li>
<li><b>Pixel size</b>: only when both maps are polygon layers: the size of the grid they
are scored on, in the map's CRS units.</li>
</ul>
<h3>How the maps are aligned</h3>
<p>Scores are counted on one grid: the map raster's, else the reference raster's, else a
grid of the given pixel size. The other map is reprojected and rasterized onto it (a pixel
is inside a polygon when its centre is) or resampled by nearest neighbour; the report
states exactly what was done.</p>
<h3>Outputs</h3>
<p>Precision, recall, F1, IoU, accuracy (the method's Eqs. 6-10) and the pixel counts,
objects detected/missed, false alarms and points hit/missed as numeric outputs (for the
modeler and <code>qgis_process --json</code>); a layer of every reference and mapped object
with its status and covered share; false-positive (red) and false-negative (blue)
polygons; a point layer; and an HTML report to hand on: the scores, the confusion matrix, an
overview map of the scored area (reference outlines, true detections, false alarms, misses,
with a scale bar and the CRS), the largest misses and false alarms, and the scores across
thresholds when a probability raster is given.</p>"""


class EvaluateLandslideMap(common.LandslideAlgorithm):
    NAME, DISPLAY_NAME, HELP = "evaluate", "Evaluate landslide map", HELP
    GROUP = common.ASSESSMENT

    def initAlgorithm(self, config=None):
        map_types = [compat.SOURCE_RASTER, compat.SOURCE_POLYGON]
        declare = common.declare
        declare(self, QgsProcessingParameterMapLayer(PREDICTION, tr("Landslide map (mask raster or polygons)"),
                                                     types=map_types),
                "The map to score: Detect's landslide mask or polygons, or any one-band mask (1 landslide, 0 not).")
        declare(self, QgsProcessingParameterMapLayer(REFERENCE, tr("Reference inventory (polygons or mask raster)"),
                                                     types=map_types),
                "The truth: landslide polygons mapped independently of the map, or a one-band mask.")
        declare(self, QgsProcessingParameterFeatureSource(
            REFERENCE_POINTS, tr("Inventory points"), [compat.SOURCE_POINT], optional=True),
            "One point per known landslide, as agencies often have: each is hit when a mapped pixel lies within the "
            "point tolerance.")
        declare(self, QgsProcessingParameterFeatureSource(
            AREA, tr("Score only inside these polygons"), [compat.SOURCE_POLYGON], optional=True),
            "E.g. the area the reference inventory covers: pixels outside are not scored.")
        declare(self, QgsProcessingParameterExtent(EXTENT, tr("Score only inside this extent"), optional=True),
                "Pixels outside are not scored.", advanced=True)
        declare(self, QgsProcessingParameterNumber(
            MIN_COVERAGE, tr("Minimum covered share for a landslide to count as detected"),
            compat.NUMBER_DOUBLE, 0.0, minValue=0.0, maxValue=1.0),
            "0: any overlap detects a landslide; 0.5: half of its pixels must be mapped.", advanced=True, decimals=2)
        declare(self, QgsProcessingParameterNumber(
            POINT_TOLERANCE, tr("Point tolerance (pixels)"), compat.NUMBER_INTEGER, 0, minValue=0),
            "How far from an inventory point a mapped pixel may lie for the point to count as hit.", advanced=True)
        declare(self, QgsProcessingParameterNumber(
            PIXEL_SIZE, tr("Pixel size when both maps are polygons (CRS units)"), compat.NUMBER_DOUBLE,
            optional=True, minValue=0.0),
            "Two polygon layers are scored on a grid of this size, in the map's CRS units.", advanced=True,
            decimals=6)  # CRS units may be degrees: 1 m is about 0.000009°
        declare(self, QgsProcessingParameterRasterLayer(
            PROBABILITY, tr("Probability raster the map was made from (for the report)"), optional=True),
            "Detect's probability: the report then shows the scores across thresholds.", advanced=True)
        declare(self, QgsProcessingParameterNumber(
            THRESHOLD, tr("Threshold the map was made at (for the report)"), compat.NUMBER_DOUBLE,
            optional=True, minValue=0.0, maxValue=1.0),
            "Empty: the threshold Detect recorded in its rasters, else 0.5.", advanced=True, decimals=3)
        self.addParameter(QgsProcessingParameterVectorDestination(
            OUTPUT_OBJECTS, tr("Landslides found, missed and false alarms"), optional=True))
        self.addParameter(QgsProcessingParameterVectorDestination(
            OUTPUT_ERRORS, tr("False positives and false negatives"), optional=True))
        self.addParameter(QgsProcessingParameterVectorDestination(
            OUTPUT_POINTS, tr("Inventory points hit and missed"), compat.SOURCE_POINT, optional=True,
            createByDefault=False))
        self.addParameter(QgsProcessingParameterFileDestination(
            OUTPUT_REPORT, tr("Evaluation report"), tr("HTML files (*.html)"), optional=True))
        for name, (_key, description) in NUMBERS.items():
            self.addOutput(QgsProcessingOutputNumber(name, tr(description)))

    def processAlgorithm(self, parameters, context, feedback):
        prediction = self._map(parameters, PREDICTION, context, feedback)
        reference = self._map(parameters, REFERENCE, context, feedback)
        points, area = (self._source(parameters, name, context, feedback) for name in (REFERENCE_POINTS, AREA))
        extent = None
        if parameters.get(EXTENT) not in (None, ""):
            rect = self.parameterAsExtent(parameters, EXTENT, context)
            crs = self.parameterAsExtentCrs(parameters, EXTENT, context)
            extent = (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum(), crs.toWkt())
        outputs = EvaluationOutputs(
            objects=self._destination(parameters, OUTPUT_OBJECTS, context),
            errors=self._destination(parameters, OUTPUT_ERRORS, context),
            points=self._destination(parameters, OUTPUT_POINTS, context) if points else None,
            report=self._destination(parameters, OUTPUT_REPORT, context),
        )
        pixel_size = self.parameterAsDouble(parameters, PIXEL_SIZE, context) if parameters.get(PIXEL_SIZE) else None
        probability_layer = self.parameterAsRasterLayer(parameters, PROBABILITY, context)
        if probability_layer is not None and probability_layer.providerType() != "gdal":
            raise QgsProcessingException(tr("The probability raster must be a file (GeoTIFF or any format GDAL reads)."))
        probability = probability_layer.source() if probability_layer is not None else None
        request = EvaluationRequest(
            prediction=prediction, reference=reference, outputs=outputs, points=points, area=area, extent=extent,
            min_coverage=self.parameterAsDouble(parameters, MIN_COVERAGE, context),
            point_tolerance=self.parameterAsInt(parameters, POINT_TOLERANCE, context),
            pixel_size=pixel_size,
            probability=probability,
            threshold=self.parameterAsDouble(parameters, THRESHOLD, context)
            if parameters.get(THRESHOLD) not in (None, "") else None,  # None: what Detect recorded
        )
        with common.user_errors():
            try:
                result = evaluate_maps(request, common.progress_of(feedback))
            except EvaluationError as err:
                raise QgsProcessingException(self._message(err)) from None
        feedback.pushInfo(result.alignment)
        s = result.scores
        feedback.pushInfo(
            f"Precision {s['precision']:.3f}, recall {s['recall']:.3f}, F1 {s['f1']:.3f}, IoU {s['iou']:.3f}; "
            f"{s['objects_detected']} landslide(s) detected, {s['objects_missed']} missed, "
            f"{s['false_alarm_objects']} false alarm(s)."
        )
        values = output_numbers(result)
        for key, style, label in ((OUTPUT_OBJECTS, "evaluation_objects.qml", "Landslides found and missed"),
                                  (OUTPUT_ERRORS, "errors.qml", "False positives and negatives"),
                                  (OUTPUT_POINTS, "evaluation_points.qml", "Inventory points")):
            path = getattr(outputs, key.removeprefix("OUTPUT_").lower())
            if path:
                common.style_output(context, path, style, tr(label))
                values[key] = path
        if outputs.report:
            values[OUTPUT_REPORT] = outputs.report
        return values

    def _message(self, err: EvaluationError) -> str:
        """The evaluation error in this dialog's terms: the input named as the dialog shows it."""
        name = SUBJECTS.get(err.subject)
        label = f"'{self.parameterDefinition(name).description()}' ({name})" if name else tr("A layer")
        source = f" ('{err.source}'" + (f", layer '{err.layer}'" if err.layer else "") + ")" if err.source else ""
        return tr(MESSAGES[err.problem]).format(input=label, source=source, file=err.source, layer=err.layer,
                                                bands=err.bands)

    def _map(self, parameters, name, context, feedback) -> LandslideMap:
        layer = self.parameterAsLayer(parameters, name, context)
        if layer is None or not layer.isValid():
            raise QgsProcessingException(tr("{}: the layer could not be opened.").format(name))
        if isinstance(layer, QgsRasterLayer):
            if layer.providerType() != "gdal":
                raise QgsProcessingException(tr("{}: a mask raster must be a file (GeoTIFF or any format GDAL reads), "
                                                "not a web or virtual layer.").format(name))
            return LandslideMap(layer.source())
        if isinstance(layer, QgsVectorLayer):
            return LandslideMap(*common.vector_file(layer, context, feedback))
        raise QgsProcessingException(tr("{}: give a raster or a polygon layer.").format(name))

    def _source(self, parameters, name, context, feedback) -> LandslideMap | None:
        if parameters.get(name) in (None, ""):
            return None
        path, layer_name = self.parameterAsCompatibleSourceLayerPathAndLayerName(
            parameters, name, context, ["gpkg", "shp", "geojson", "fgb"], "gpkg", feedback)
        return LandslideMap(path, layer_name or None)

    def _destination(self, parameters, name, context) -> str | None:
        if parameters.get(name) is None and not self.parameterDefinition(name).createByDefault():
            return None
        path = self.parameterAsOutputLayer(parameters, name, context) if name != OUTPUT_REPORT else \
            self.parameterAsFileOutput(parameters, name, context)
        return path or None
