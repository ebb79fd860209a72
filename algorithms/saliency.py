"""Saliency map: where the model looked when it drew landslides."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessingParameterBoolean,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterVectorDestination,
    QgsProcessingParameterVectorLayer,
)

from ..core.model.onnx_model import ModelError, OnnxModel
from ..core.saliency import OcclusionSaliency, landslide_lookup, saliency, saliency_model_for
from . import common, compat
from .common import tr

LANDSLIDES, PERCENTILE, FALLBACK = "LANDSLIDES", "PERCENTILE", "FALLBACK"
OUTPUT_SALIENCY, OUTPUT_ZONES = "OUTPUT_SALIENCY", "OUTPUT_ZONES"

HELP = """<p>Explains a landslide model: the vanilla-gradient saliency of the method, the
mean over input bands of |∂ mean predicted probability / ∂ input|, computed window by
window with the model's exported saliency graph and stitched with the same blended,
streaming windows as <i>Detect landslides</i>. Bright pixels are those whose change would
most change the model's prediction: typically scarps, edges and terrain breaks.</p>
<p>Windows are not rescaled one by one: all windows have the model's patch size, so their
raw gradients are already comparable, and per-window rescaling is what would make window
borders show. Values are therefore small absolute numbers; read them relative to each
other (the layer is styled from its own 2-98 % range).</p>
<h3>Parameters</h3>
<ul>
<li><b>Image, bands, DEM, model</b>: as in <i>Detect landslides</i>. The model must carry a
saliency graph (the bundled models and every model Landslide Mapper trains carry one).</li>
<li><b>Window size</b>: must equal the model's patch size (the saliency graph has a fixed
window); <b>overlap</b> as in Detect.</li>
<li><b>Landslide polygons</b> (optional): e.g. Detect's output; each zone gets the id of
the landslide it overlaps most.</li>
<li><b>Occlusion fallback</b>: for a model exported without a saliency graph, occlude
16 x 16 px blocks instead and record the change of the window's mean probability: slower,
one value per block, and not the method's gradient. The output's metadata
(SALIENCY_METHOD) and the zones' <code>method</code> field say which was used.</li>
<li><b>Percentile</b>: salient zones are where the saliency, averaged over 7 x 7 pixels
(the raw gradient is noisy pixel by pixel), is above this percentile of the whole image
(default 95: the top 5 %); zones under 50 pixels are left out, so there are areas to
review, not specks.</li>
<li><b>Outputs</b>: saliency (float32 GeoTIFF, georeferenced like the input, nodata kept)
and salient zones with area_m2, perimeter_m, mean_saliency, max_saliency, percentile,
threshold and landslide_id (in a Shapefile, whose field names hold 10 characters:
<code>perim_m</code>, <code>mean_sal</code>, <code>max_sal</code> and <code>ls_id</code>).</li>
</ul>
<p>""" + common.CITATION + "</p>"


class SaliencyMap(common.LandslideAlgorithm):
    NAME, DISPLAY_NAME, HELP = "saliency", "Saliency map", HELP

    def initAlgorithm(self, config=None):
        common.add_input_parameters(self)
        self.addParameter(QgsProcessingParameterVectorLayer(
            LANDSLIDES, tr("Landslide polygons (e.g. from Detect landslides)"),
            [compat.SOURCE_POLYGON], optional=True))
        common.declare(self, QgsProcessingParameterNumber(
            PERCENTILE, tr("Salient zones: saliency above this percentile"), compat.NUMBER_DOUBLE,
            95.0, minValue=0.1, maxValue=99.9), decimals=1)
        self.addParameter(QgsProcessingParameterBoolean(
            FALLBACK, tr("If the model has no saliency graph, use occlusion instead (slower, coarser)"), False))
        self.addParameter(QgsProcessingParameterRasterDestination(OUTPUT_SALIENCY, tr("Saliency")))
        self.addParameter(QgsProcessingParameterVectorDestination(OUTPUT_ZONES, tr("Salient zones")))

    def processAlgorithm(self, parameters, context, feedback):
        path = Path(common.model_paths(self, parameters, context)[0])
        runtime = common.runtime_options(self, parameters, context)
        with common.user_errors():
            try:
                model = saliency_model_for(path, **runtime)
            except ModelError:
                if not self.parameterAsBool(parameters, FALLBACK, context):
                    raise
                model = OcclusionSaliency(OnnxModel(path, **runtime))
                feedback.pushWarning(f"{path.name} has no saliency graph: using the slower occlusion fallback.")
        feedback.pushInfo(f"Saliency from {model.path.name}; execution provider: {', '.join(model.providers)}")
        inputs = common.model_input(self, parameters, context, feedback, common.input_options(self, parameters, context),
                                    model.spec)
        landslides = self.parameterAsVectorLayer(parameters, LANDSLIDES, context)
        saliency_path = self.parameterAsOutputLayer(parameters, OUTPUT_SALIENCY, context)
        zones_path = self.parameterAsOutputLayer(parameters, OUTPUT_ZONES, context)
        with common.user_errors():
            lookup = None
            if landslides is not None:
                # the layer's own file and layer name (a GeoPackage can hold several), or a copy
                # of any other layer (memory, database, filtered)
                path, layer_name = common.vector_file(landslides, context, feedback)
                lookup = landslide_lookup(path, inputs.grid.crs_wkt, layer_name)
            result = saliency(
                inputs, model, saliency_path, common.window_settings(self, parameters, context),
                zones_path=zones_path, percentile=self.parameterAsDouble(parameters, PERCENTILE, context),
                landslide_id=lookup, progress=common.progress_of(feedback),
            )
        feedback.pushInfo(f"Method: {result.method}. {result.zone_count} salient zone(s) above saliency "
                          f"{result.threshold:.4g}.")
        common.style_output(context, saliency_path, common.STRETCHED, tr("Saliency"))
        common.style_output(context, zones_path, "zones.qml", tr("Salient zones"))
        return {OUTPUT_SALIENCY: saliency_path, OUTPUT_ZONES: zones_path}
