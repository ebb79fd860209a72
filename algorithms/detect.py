"""Detect landslides: probability raster, mask raster and landslide polygons."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from qgis.core import (
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterVectorDestination,
)

from ..core.detect.pipeline import DetectOutputs, detect
from ..core.detect.request import DEFAULT_MIN_AREA_M2, PRECISIONS, DetectRequest, Precision, load_model
from ..core.model.catalog import readable_name
from ..core.model.ensemble import ModelEnsemble
from . import common, compat
from .common import tr

THRESHOLD, MIN_AREA, SALIENCY_SUMMARY = "THRESHOLD", "MIN_AREA", "SALIENCY_SUMMARY"
TTA, ENSEMBLE, OUTPUT_UNCERTAINTY, PRECISION = "TTA", "ENSEMBLE", "OUTPUT_UNCERTAINTY", "PRECISION"
OUTPUT_PROBABILITY, OUTPUT_MASK, OUTPUT_POLYGONS = "OUTPUT_PROBABILITY", "OUTPUT_MASK", "OUTPUT_POLYGONS"
MATCH_RESOLUTION = "MATCH_RESOLUTION"
OBJECT_FILTER, OUTPUT_DROPPED = "OBJECT_FILTER", "OUTPUT_DROPPED"
SMOOTH_OUTLINES = "SMOOTH_OUTLINES"
SKIP_EMPTY = "SKIP_EMPTY_WINDOWS"

HELP = """<p>Maps landslides on a post-event image with an interpretable attention U-Net
exported to ONNX. The image is cut into overlapping windows, each window is run through
the model, and the predictions are blended into one seamless probability raster (any
raster size: it is processed in strips, so memory stays bounded). Pixels at or above the
threshold form the landslide mask, whose connected regions become polygons.</p>
<h3>Parameters</h3>
<ul>
<li><b>Image</b>: the post-event raster (GeoTIFF, VRT or any layer QGIS reads). Nodata
pixels stay nodata in every output.</li>
<li><b>DEM</b>: elevation raster for models that use slope; any CRS and resolution, it is
resampled (bilinear) onto the image grid and slope is computed in degrees.</li>
<li><b>Model</b> / <b>Custom model file</b>: an ONNX model carrying a Landslide
Mapper spec (its bands, normalization, patch size and threshold). A custom file overrides
the bundled choice.</li>
<li><b>Probability threshold</b>: empty uses the model's own threshold, chosen on
validation images (the bundled default's is 0.4; each model card gives its own); between
0 and 1, both excluded. Lower finds more landslides and more false alarms.</li>
<li><b>Minimum polygon area</b> (m²): smaller detections are left out of the polygons
(not of the rasters). Areas are true ground areas, also for geographic CRSs.</li>
<li><b>Set aside likely false alarms</b> (on): a model may carry an object filter, a small
logistic model over each polygon's area, compactness and mean and peak probability,
fitted on validation images (never on test images) to tell true landslides from false
alarms on fields, roads and roofs. Polygons it scores under its cut are not deleted: they
go to the <b>set-aside polygons</b> layer (grey, dotted) with their
<code>filter_score</code>, so every one can still be reviewed (left empty, as headless runs
leave it, that layer is written beside the polygons as <code>&lt;name&gt;_set_aside</code>). The rasters are not
changed. Off, or a model without a filter: every polygon is kept. The filter was fitted
at the model's own threshold; another threshold changes what it sees.</li>
<li><b>Outputs</b>: probability (float32 GeoTIFF, 0-1), mask (uint8 GeoTIFF: 1 landslide,
0 not, 255 nodata), polygons with area_m2, perimeter_m, mean_prob, max_prob, model and
threshold (and <code>filter_score</code> when the object filter ran); in a Shapefile, whose
field names hold 10 characters, perimeter_m is <code>perim_m</code>, filter_score
<code>filt_score</code>, mean_saliency <code>mean_sal</code> and boundary_saliency_share
<code>bnd_sal_sh</code>. Outputs are written completely or not at all: a failed or cancelled run leaves
no partial file, and nothing is written beside the inputs.</li>
</ul>
<h3>Advanced parameters</h3>
<ul>
<li><b>Input scaling</b>: the models learned on 8-bit values. <i>auto</i> keeps 8-bit
images as they are and maps other data by its own scale: integer bands by their bit depth
(declared by the file, else the smallest of 8, 10, 11, 12, 14 and 16 bits that holds the
image's maximum, so a 16-bit file whose values stay under 4,096 is read as 12-bit),
floats within 0-1 as reflectance (times 255), floats within 0-255 as they are. Only when
the scale cannot be known is each band stretched from its 2nd-98th percentiles, and the
log warns that this is a guess. <i>manual</i>: give the values to show as black and white;
<i>none</i>: no scaling.</li>
<li><b>Red / Green / Blue / Near-infrared band</b>: which image band holds each colour.
Only the bands the model uses are read; the brightness index is computed from red, green
and blue.</li>
<li><b>Only this extent</b> (advanced): process only a drawn rectangle (or a layer's
extent) of the image. <b>Read at this ground resolution</b> (advanced): read the image
through its QGIS layer at this pixel size, in metres; web (WMS/XYZ) layers have no pixels
of their own and need it, with an extent.</li>
<li><b>Window size</b> and <b>overlap</b> (advanced): windows of this many pixels (a
multiple of 16; empty: the size the model was trained on), overlapping by this many pixels; the overlap is blended with smooth weights so no seam
shows. Borders are mirrored so edge pixels get full context.</li>
<li><b>Match the model's ground resolution</b> (advanced, on): a model learns landslides
at the pixel size of its training imagery (the bundled ones: 0.8 m). When the image's
pixels differ from it by more than 30 %, the model runs on the image resampled to that
resolution (area average or bilinear) and the probability is resampled back, so every
output is on the image's own grid. Off: the model runs on the image's pixels as they are.
A ground resolution given above takes precedence.</li>
<li><b>Saliency summary</b>: adds <code>mean_saliency</code> and
<code>boundary_saliency_share</code> to each polygon: the share of the polygon's saliency
within two pixels of its outline. High: the model looked at the scarp and the edges; low:
at the interior tone. Needs the model's saliency graph; about three times slower.</li>
<li><b>Smooth polygon outlines</b> (on): each polygon's pixel staircase is cut to a
smooth line that stays within half a pixel of the mask's edge; area and perimeter are
those of the smooth shape (the object filter still judges the pixels, as it was fitted).
Off: outlines follow pixel edges exactly.</li>
<li><b>Flip averaging (TTA)</b>: runs every window four times (as is and flipped) and
averages the flipped-back predictions: fewer false alarms, four times slower.</li>
<li><b>Ensemble</b>: averages all bundled models (each with its own normalization) at the
mean of their thresholds; the optional <b>uncertainty</b> raster holds the models'
per-pixel standard deviation: high where they disagree, which is where to look first.
No object filter applies (each model's was fitted on its own probabilities). As many
times slower as there are models.</li>
<li><b>Precision</b>: <i>auto</i> (default) runs the model's quantized INT8 variant
where it has one (calibrated on real patches and shipped only where its validation F1 is
within 0.01 of float32's; 1.3-2.4x faster on CPUs), else the model itself; <i>float32</i>
always the model itself; <i>int8</i> the variant or an error. The log names the file that
ran.</li>
<li><b>Skip windows the model finds empty</b> (on): a model shipped in two stages first
asks its presence head whether a window holds a landslide; where its score is below a cut
chosen on validation images (the largest, up to the model's threshold, that kept recall
within 0.01 and lost no landslide there), the second, costlier half of the network is not
run and the window's probability is 0: the window could not have mapped a pixel on its
own. On intact terrain most windows are skipped. The log says how many. Off:
the whole network on every window. An ensemble always runs whole.</li>
</ul>
<p>""" + common.CITATION + "</p>"


class DetectLandslides(common.LandslideAlgorithm):
    NAME, DISPLAY_NAME, HELP = "detect", "Detect landslides", HELP

    def initAlgorithm(self, config=None):
        common.add_input_parameters(self)
        declare = common.declare
        declare(self, QgsProcessingParameterNumber(THRESHOLD, tr("Probability threshold"), compat.NUMBER_DOUBLE,
                                                   optional=True, minValue=0.0, maxValue=1.0),
                "Pixels at or above it are landslide. Empty: the model's own, chosen on validation images "
                "(the bundled default maps at 0.7). Lower finds more landslides and more false alarms.", decimals=3)
        declare(self, QgsProcessingParameterNumber(MIN_AREA, tr("Minimum polygon area (m²)"), compat.NUMBER_DOUBLE,
                                                   DEFAULT_MIN_AREA_M2, minValue=0.0),
                "Smaller detections are left out of the polygons (not of the rasters).", decimals=1)
        declare(self, QgsProcessingParameterBoolean(OBJECT_FILTER, tr("Set aside likely false alarms"), True),
                "The model's object filter scores each polygon; those it doubts go to their own layer, to review, "
                "not deleted.")
        declare(self, QgsProcessingParameterBoolean(SALIENCY_SUMMARY, tr("Add a saliency summary to each polygon"),
                                                    False),
                "mean_saliency and boundary_saliency_share per polygon: did the model look at the scarp and "
                "edges? About three times slower.", advanced=True)
        declare(self, QgsProcessingParameterBoolean(TTA, tr("Average four flips of every window"), False),
                "Test-time augmentation: fewer false alarms, four times slower.", advanced=True)
        declare(self, QgsProcessingParameterBoolean(ENSEMBLE, tr("Average all bundled models (ensemble)"), False),
                "Slower by the number of models; gives an uncertainty raster where they disagree.", advanced=True)
        declare(self, QgsProcessingParameterEnum(PRECISION, tr("Precision"), options=list(PRECISIONS),
                                                 defaultValue=Precision.AUTO.value, usesStaticStrings=True),
                "auto: the model's INT8 variant where it has one (1.3-2.4x faster on CPUs, validation F1 within "
                "0.01 of float32, else it is not shipped), else the model itself. float32: always the model "
                "itself. int8: the variant, or an error.", advanced=True)
        declare(self, QgsProcessingParameterBoolean(SKIP_EMPTY, tr("Skip windows the model finds empty"), True),
                "Where the model's presence head scores a window below a cut chosen on validation images, its "
                "second half is not run there and the window's probability is 0: much faster on intact terrain, "
                "recall within 0.01 on validation. Off: the whole network everywhere.", advanced=True)
        declare(self, QgsProcessingParameterBoolean(SMOOTH_OUTLINES, tr("Smooth polygon outlines"), True),
                "Cut the pixel staircase off each outline (within half a pixel of the mask); area and perimeter "
                "are those of the smooth shape. Off: outlines follow the pixels exactly.", advanced=True)
        declare(self, QgsProcessingParameterBoolean(MATCH_RESOLUTION, tr("Match the model's ground resolution"),
                                                    True),
                "Resample the image to the pixel size the model learned at when it differs by more than 30 %; "
                "outputs stay on the image's grid.", advanced=True)
        self.addParameter(QgsProcessingParameterRasterDestination(OUTPUT_PROBABILITY, tr("Landslide probability")))
        self.addParameter(QgsProcessingParameterRasterDestination(OUTPUT_MASK, tr("Landslide mask")))
        self.addParameter(QgsProcessingParameterVectorDestination(OUTPUT_POLYGONS, tr("Landslide polygons")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            OUTPUT_UNCERTAINTY, tr("Ensemble uncertainty (models' standard deviation)"), optional=True,
            createByDefault=False))
        self.addParameter(QgsProcessingParameterVectorDestination(
            OUTPUT_DROPPED, tr("Polygons set aside as likely false alarms"), optional=True, createByDefault=True))

    def processAlgorithm(self, parameters, context, feedback):
        use_ensemble = self.parameterAsBool(parameters, ENSEMBLE, context)
        threshold = self.parameterAsDouble(parameters, THRESHOLD, context) if parameters.get(THRESHOLD) not in (
            None, "") else None
        with common.user_errors():
            request = DetectRequest(
                common.model_paths(self, parameters, context, use_ensemble),
                inputs=common.input_options(self, parameters, context,
                                            match_resolution=self.parameterAsBool(parameters, MATCH_RESOLUTION, context)),
                settings=common.window_settings(self, parameters, context),
                precision=self.parameterAsEnumString(parameters, PRECISION, context) or Precision.AUTO,
                class_name=self.parameterAsString(parameters, common.CLASS, context) or None,
                threshold=threshold,
                min_area_m2=self.parameterAsDouble(parameters, MIN_AREA, context),
                tta=self.parameterAsBool(parameters, TTA, context),
                saliency_summary=self.parameterAsBool(parameters, SALIENCY_SUMMARY, context),
                object_filter=self.parameterAsBool(parameters, OBJECT_FILTER, context),
                smooth_outlines=self.parameterAsBool(parameters, SMOOTH_OUTLINES, context),
                skip_empty_windows=self.parameterAsBool(parameters, SKIP_EMPTY, context),
                **common.runtime_options(self, parameters, context),
            )
            model = load_model(request)
        if isinstance(model, ModelEnsemble):
            feedback.pushInfo(f"Ensemble of {len(model.members)} models: "
                              f"{', '.join(m.path.name for m in model.members)}; threshold {model.spec.threshold} "
                              "(the mean of theirs).")
        feedback.pushInfo(
            f"Model: {readable_name(model.spec.name)}"
            f"{'' if isinstance(model, ModelEnsemble) else f' ({model.path.name})'}, bands {', '.join(model.spec.bands)}; "
            f"execution provider: {', '.join(model.providers)}"
        )
        inputs = common.model_input(self, parameters, context, feedback, request.inputs, model.spec)
        outputs = DetectOutputs(
            probability=self.parameterAsOutputLayer(parameters, OUTPUT_PROBABILITY, context),
            mask=self.parameterAsOutputLayer(parameters, OUTPUT_MASK, context),
            polygons=self.parameterAsOutputLayer(parameters, OUTPUT_POLYGONS, context),
            uncertainty=(self.parameterAsOutputLayer(parameters, OUTPUT_UNCERTAINTY, context) or None)
            if use_ensemble and parameters.get(OUTPUT_UNCERTAINTY) else None,
        )
        if request.object_filter and model.spec.object_filter is not None:
            # set-aside polygons are never dropped silently: not asked for (headless runs), they go beside the
            # polygons, where they outlive the run (qgis_process removes its temporary folder when it exits).
            # Only a model with a filter writes them: asking for the layer registers it to be loaded, and the
            # dialog calls a layer it cannot open "not correctly generated"
            asked = self.parameterAsOutputLayer(parameters, OUTPUT_DROPPED, context) if parameters.get(
                OUTPUT_DROPPED) else ""
            beside = Path(outputs.polygons)
            outputs = replace(outputs, dropped=asked or str(beside.with_name(f"{beside.stem}_set_aside{beside.suffix}")))
        if parameters.get(OUTPUT_UNCERTAINTY) and not use_ensemble:
            feedback.pushWarning("The uncertainty raster needs the ensemble: it is not written.")
        with common.user_errors():
            result = detect(request, inputs, model, outputs, progress=common.progress_of(feedback))
        feedback.pushInfo(
            f"{result.polygon_count} landslide polygon(s); {result.landslide_pixels} of "
            f"{result.valid_pixels} valid pixels above the threshold."
        )
        if result.landslide_pixels == 0:
            feedback.pushInfo(tr("No landslide found: no pixel reached the threshold. The outputs are complete and "
                                 "empty (a probability raster, an all-0 mask, a polygon layer without features); a "
                                 "lower threshold finds more, and more false alarms."))
        if result.filtered:
            feedback.pushInfo(tr("{} polygon(s) set aside as likely false alarms by the model's object filter, in "
                                 "{}.").format(result.dropped_count, outputs.dropped))
        elif request.object_filter:
            feedback.pushInfo(tr("An ensemble carries no object filter (each model's was fitted on its own "
                                 "probabilities): every polygon is kept.") if use_ensemble else
                              tr("This model carries no object filter: every polygon is kept."))
        common.style_output(context, outputs.probability, "probability.qml", tr("Landslide probability"))
        common.style_output(context, outputs.mask, "mask.qml", tr("Landslide mask"))
        common.style_output(context, outputs.polygons, "polygons.qml", tr("Landslide polygons"))
        results = {OUTPUT_PROBABILITY: outputs.probability, OUTPUT_MASK: outputs.mask, OUTPUT_POLYGONS: outputs.polygons}
        if result.filtered and outputs.dropped:
            common.style_output(context, outputs.dropped, "dropped.qml", tr("Set aside as likely false alarms"))
            results[OUTPUT_DROPPED] = outputs.dropped
        if outputs.uncertainty:
            common.style_output(context, outputs.uncertainty, common.STRETCHED, tr("Ensemble uncertainty"))
            results[OUTPUT_UNCERTAINTY] = outputs.uncertainty
        return results
