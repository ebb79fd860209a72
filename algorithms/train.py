"""Train landslide model: fine-tune a model (or train one from scratch) on a raster and the
landslide polygons digitized over it, within a time budget, and export it for Detect.

The training runs in a child process with TensorFlow (algorithms/training_runner.py), in a
Python of its own (algorithms/training_environment.py: in the desktop the plugin offers to
make it when the algorithm is opened), through the training CLI: ``train --split-by
region`` (the default recipe, validation on whole regions of the raster) then ``export
--same-data --weights`` (ONNX + saliency graph, threshold and object filter fitted on the
held-out regions, card, curves). Everything is written in a temporary folder beside the
output and moved into place only once the export succeeded: a cancelled or failed run
leaves no model.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
)

from ..core.errors import Cancelled
from ..core.imagery.recipe import pick_bands
from ..core.io.polygons import VECTOR_EXTENSIONS
from ..core.model.catalog import available_models, bundled_models
from . import common, compat, training_environment, training_runner
from .common import tr
from .qgis_reader import reader_for

POLYGONS, MAPPED_AREA, START_MODEL, START_FILE = "POLYGONS", "MAPPED_AREA", "START_MODEL", "START_FILE"
MORE_IMAGES = "MORE_IMAGES"
ARCHITECTURE, BASE_FILTERS, MINUTES, VAL_SHARE = "ARCHITECTURE", "BASE_FILTERS", "MINUTES", "VAL_SHARE"
OUTPUT, CARD, CURVES, SALIENCY_MODEL, VALIDATION_F1 = "OUTPUT", "CARD", "CURVES", "SALIENCY_MODEL", "VALIDATION_F1"
ADD_TO_LIST, MODEL_KEY = "ADD_TO_MODEL_LIST", "MODEL_KEY"
FROM_SCRATCH = "from scratch"
ARCHITECTURES = ("spatial", "unet", "channel", "se")
#: training seconds per step of 16 images with 16 base filters on two CPU cores (DESIGN.md);
#: a step costs about the square of the filters
SECONDS_PER_STEP_16 = 1.5
#: validations (epochs) a budget is planned for
VALIDATIONS = 8

HELP = """<p>Teaches a model your terrain: fine-tunes the bundled model (or trains one from
scratch) on a post-event image and the landslide polygons digitized over it, within a time
budget, and writes a model that <b>Detect landslides</b> runs as its custom model file.</p>
<ul>
<li><b>More images</b>: other images the same polygons cover (another date, the next
scene); each is split alike, so the held-out part covers every image's terrain.</li>
<li>The image is cut into square regions; a share of them, by area, is held out to
validate: it picks the best checkpoint, the threshold and the object filter, and the card
reports the scores there.</li>
<li><b>Mapped area</b>: where you reviewed the image. Only regions mostly inside it are
used, since elsewhere a pixel without a polygon is not known to be landslide-free. Empty:
the whole image.</li>
<li>Training needs TensorFlow, which runs in an environment of its own, never in QGIS's
Python: the first time, the plugin offers to make it (about 600 MB to download, once).</li>
<li>Beside the model: its saliency graph, its card (.md), its training curves (.png) and
its weights (.weights.npz, to fine-tune it again later).</li>
</ul>"""


def starting_models() -> dict[str, Path]:
    """The bundled models training can start from: those whose weights ship in training/checkpoints."""
    checkpoints = common.PLUGIN_DIR / "training" / "checkpoints"
    return {key: path for key, path in bundled_models().items()
            if (checkpoints / f"{Path(path).stem}.weights.npz").is_file()}


def plan(minutes: float, base_filters: int) -> dict:
    """Steps, steps between validations and training minutes for a budget: the export and
    its calibration keep a part of it, and even a short budget ends with validations."""
    export_minutes = min(3.0, max(0.5, 0.25 * minutes))
    training_minutes = max(0.25, minutes - export_minutes)
    seconds_per_step = max(0.1, SECONDS_PER_STEP_16 * (base_filters / 16) ** 2)
    steps = max(VALIDATIONS, int(0.8 * training_minutes * 60 / seconds_per_step))
    return {"steps": steps, "epoch_steps": max(1, steps // VALIDATIONS), "max_minutes": round(training_minutes, 2)}


def no_training_package() -> str | None:
    """Why this copy of the plugin cannot train (its ZIP ships no training/), or None."""
    if (common.PLUGIN_DIR / "training" / "cli.py").is_file():
        return None
    return tr("This copy of the plugin has no training package (training/): install the plugin from its repository "
              "to train models.")


def training_environment_here() -> training_environment.TrainingEnvironment:
    """The plugin's training venv in this QGIS profile."""
    return training_environment.TrainingEnvironment.in_profile(Path(QgsApplication.qgisSettingsDirPath()) / "python")


class TrainLandslideModel(common.LandslideAlgorithm):
    NAME, DISPLAY_NAME, HELP = "train", "Train landslide model", HELP
    GROUP = common.TRAINING

    def canExecute(self):
        # opened without a Python that has TensorFlow: in the desktop the plugin offers to make its
        # training environment here, on the main thread (as it offers ONNX Runtime to Detect); headless
        # nothing asks, and the message names the one command that makes it
        if no_training_package():  # nothing to download for: the training code itself is missing
            return False, no_training_package()
        try:
            training_environment.resolve(training_environment_here())
        except training_environment.TrainingEnvironmentError as missing:
            return False, str(missing)
        return True, ""

    def initAlgorithm(self, config=None):
        declare = common.declare
        declare(self, QgsProcessingParameterRasterLayer(common.INPUT, tr("Image (post-event raster)")),
                "The image the landslides were digitized over: a GeoTIFF or any raster file GDAL reads.")
        declare(self, QgsProcessingParameterMultipleLayers(MORE_IMAGES, tr("More images"), compat.SOURCE_RASTER,
                                                           optional=True),
                "Other images the same polygon layer covers (each takes the polygons over it; bands as the first "
                "image's). Each gives about the same share of its area to validation.")
        declare(self, QgsProcessingParameterFeatureSource(POLYGONS, tr("Landslide polygons"),
                                                          [compat.SOURCE_POLYGON]),
                "Every landslide you see in the mapped area, as polygons (any CRS).")
        declare(self, QgsProcessingParameterFeatureSource(MAPPED_AREA, tr("Mapped area"), [compat.SOURCE_POLYGON],
                                                          optional=True),
                "Where you reviewed the image: only there is a pixel without a polygon known to be landslide-free. "
                "Empty: the whole image.")
        declare(self, QgsProcessingParameterRasterLayer(common.DEM, tr("DEM (elevation)"), optional=True),
                "For models that read slope; the bundled models and models trained here do not yet.")
        starts = [*starting_models(), FROM_SCRATCH]
        declare(self, QgsProcessingParameterEnum(START_MODEL, tr("Start from"), options=starts, defaultValue=starts[0],
                                                 usesStaticStrings=True),
                "A bundled model, fine-tuned on your data (recommended: it already knows landslides), or a new "
                "model trained from scratch.")
        declare(self, QgsProcessingParameterFile(START_FILE, tr("Or start from a model trained here (.onnx)"),
                                                 extension="onnx", optional=True),
                "A model this algorithm wrote (its .weights.npz beside it): fine-tuned further. Overrides 'Start "
                "from'.")
        declare(self, QgsProcessingParameterNumber(MINUTES, tr("Time budget (minutes)"), compat.NUMBER_DOUBLE,
                                                   defaultValue=20.0, minValue=0.5),
                "Training, validation and export stop within about this long (one more validation at most).",
                decimals=1)
        declare(self, QgsProcessingParameterNumber(VAL_SHARE, tr("Share held out for validation (by area)"),
                                                   compat.NUMBER_DOUBLE, defaultValue=0.2, minValue=0.05,
                                                   maxValue=0.5),
                "Whole regions of the image, about this share of its area, are never trained on: they choose the "
                "checkpoint, threshold and object filter, and score the model.", decimals=2)
        common.add_band_parameters(self)
        declare(self, QgsProcessingParameterEnum(ARCHITECTURE, tr("Architecture (from scratch)"),
                                                 options=list(ARCHITECTURES), defaultValue=ARCHITECTURES[0],
                                                 usesStaticStrings=True),
                "spatial: spatial-attention U-Net (the method's best); unet, channel (channel attention), se "
                "(squeeze-and-excitation). Only when starting from scratch.", advanced=True)
        declare(self, QgsProcessingParameterNumber(BASE_FILTERS, tr("Base filters (from scratch)"), defaultValue=16,
                                                   minValue=4, maxValue=64),
                "The network's width: 16 runs four times faster than 32. Only when starting from scratch.",
                advanced=True)
        declare(self, QgsProcessingParameterBoolean(ADD_TO_LIST, tr("Add it to Detect's model list"), True),
                "A copy goes to the model folder of your QGIS profile: Detect, Saliency map and Evaluate then "
                "offer it by name (a model of the same name there is replaced).")
        declare(self, QgsProcessingParameterFileDestination(OUTPUT, tr("Trained model"), tr("ONNX models (*.onnx)")),
                "The model file Detect, Saliency map and Evaluate take as their custom model.")
        for name, label in ((CARD, "Model card"), (CURVES, "Training curves"), (SALIENCY_MODEL, "Saliency graph")):
            self.addOutput(QgsProcessingOutputFile(name, tr(label)))
        self.addOutput(QgsProcessingOutputNumber(VALIDATION_F1, tr("Best validation F1 (held-out regions)")))
        self.addOutput(QgsProcessingOutputString(MODEL_KEY, tr("Its name in Detect's model list")))

    def processAlgorithm(self, parameters, context, feedback):
        progress = common.progress_of(feedback)
        if no_training_package():
            raise QgsProcessingException(no_training_package())
        layer = self.parameterAsRasterLayer(parameters, common.INPUT, context)
        if layer is None or layer.providerType() != "gdal":
            raise QgsProcessingException(tr("The image must be a raster file (GeoTIFF or any format GDAL reads)."))
        try:  # never asks: this may run in a worker thread, or headless
            python = training_environment_here().find()
        except training_environment.TrainingEnvironmentError as err:
            raise QgsProcessingException(str(err)) from None
        output = Path(self.parameterAsFileOutput(parameters, OUTPUT, context)).with_suffix(".onnx")
        minutes = self.parameterAsDouble(parameters, MINUTES, context)
        arguments = self.training_arguments(parameters, context, feedback, layer)
        base_filters = int(arguments[arguments.index("--base-filters") + 1]) if "--base-filters" in arguments else 16
        schedule = plan(minutes, base_filters)
        arguments += ["--steps", str(schedule["steps"]), "--epoch-steps", str(schedule["epoch_steps"]),
                      "--max-minutes", str(schedule["max_minutes"]), "--progress-json", "--seed", "42"]
        if minutes < 5:
            arguments.append("--no-jit")  # compiling the step costs more than it saves in a short run

        output.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{output.stem}.training-", dir=output.parent))
        started, best = time.monotonic(), {"f1": None}

        def report(line: dict) -> None:
            fraction = max(line["step"] / line["steps"],
                           (time.monotonic() - started) / 60 / max(schedule["max_minutes"], 1e-6))
            progress.part(0.0, 0.9)(fraction)
            if "epoch" in line:
                best["f1"] = line.get("best_f1")
                left = line.get("seconds_left")
                progress.info(tr("Step {} of {}: validation F1 {} (best {}){}.").format(
                    line["step"], line["steps"], line.get("val_f1"), line.get("best_f1"),
                    "" if left is None else tr(", about {} min left").format(max(1, round(left / 60)))))

        try:
            feedback.pushInfo(tr("Training with {} ({} steps planned, validation every {}, at most {} min).").format(
                python, schedule["steps"], schedule["epoch_steps"], schedule["max_minutes"]))
            training_runner.run_training_cli(python, ["train", *arguments, "--out", str(work / "run")], progress,
                                             report)
            feedback.pushInfo(tr("Trained in {}; exporting and calibrating on the held-out regions.").format(
                training_runner.elapsed(started)))
            exported = work / output.name
            training_runner.run_training_cli(python, ["export", "--run", str(work / "run"), "--out", str(exported),
                                                      "--same-data", "--weights"], progress.part(0.9, 1.0))
            written = publish(work, output)
        except Cancelled:
            raise QgsProcessingException(tr("Cancelled: no model was written.")) from None
        except training_runner.ChildFailed as err:
            raise QgsProcessingException(tr("Training failed, no model was written: {}").format(err)) from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
        progress(1.0)
        feedback.pushInfo(tr("Model written: {} (card {}).").format(output, written[CARD]))
        report_before_and_after(output, feedback)
        results = {OUTPUT: str(output), VALIDATION_F1: best["f1"], **written}
        if self.parameterAsBool(parameters, ADD_TO_LIST, context):
            results[MODEL_KEY] = add_to_model_list(output, common.user_models_dir())
            feedback.pushInfo(tr("Detect, Saliency map and Evaluate now list it as '{}'.").format(results[MODEL_KEY]))
        return results

    def training_arguments(self, parameters, context, feedback, layer) -> list[str]:
        """The training CLI's arguments for the data and the starting model."""
        more = self.parameterAsLayerList(parameters, MORE_IMAGES, context)
        not_files = [m.name() for m in more if m.providerType() != "gdal"]
        if not_files:
            raise QgsProcessingException(tr("Every image must be a raster file (GeoTIFF or any format GDAL reads): "
                                            "{} is not.").format(", ".join(not_files)))
        arguments = ["--image", layer.source(), *(m.source() for m in more), "--split-by", "region",
                     "--val-share", str(self.parameterAsDouble(parameters, VAL_SHARE, context))]
        with common.user_errors():
            bands = pick_bands(reader_for(layer), common.given_bands(self, parameters, context),
                               common.progress_of(feedback))
        for role in ("red", "green", "blue"):
            arguments += [f"--{role}", str(bands[role])]
        for param, flag in ((POLYGONS, "--polygons"), (MAPPED_AREA, "--mapped-area")):
            if parameters.get(param) in (None, ""):
                continue
            path, layer_name = self.parameterAsCompatibleSourceLayerPathAndLayerName(
                parameters, param, context, list(VECTOR_EXTENSIONS), "gpkg", feedback)
            arguments += [flag, path] + ([f"{flag}-layer", layer_name] if layer_name else [])
        if self.parameterAsRasterLayer(parameters, common.DEM, context) is not None:
            feedback.pushWarning(tr("The DEM is not used: the bundled models and models trained here read no slope "
                                    "yet."))
        start_file = self.parameterAsFile(parameters, START_FILE, context)
        start = self.parameterAsEnumString(parameters, START_MODEL, context)
        if start_file:
            if not Path(start_file).with_suffix(".weights.npz").is_file():
                raise QgsProcessingException(tr(
                    "{} has no weights beside it ({}): only models written by 'Train landslide model' can be "
                    "fine-tuned; start from a bundled model or from scratch.").format(
                        Path(start_file).name, Path(start_file).with_suffix(".weights.npz").name))
            return arguments + ["--init-model", start_file, "--lr", "5e-4"]
        if start != FROM_SCRATCH:
            models = starting_models()
            if start not in models:
                raise QgsProcessingException(tr("Cannot start from '{}'; choose one of: {}.").format(
                    start, ", ".join([*models, FROM_SCRATCH])))
            return arguments + ["--init-model", str(models[start]), "--lr", "5e-4"]
        return arguments + ["--arch", self.parameterAsEnumString(parameters, ARCHITECTURE, context),
                            "--base-filters", str(self.parameterAsInt(parameters, BASE_FILTERS, context))]


def report_before_and_after(model: Path, feedback) -> None:
    """Say in the log how the starting model and the new one score on the held-out part,
    and warn when the new one is not better."""
    from ..core.model.onnx_model import read_spec

    comparison = read_spec(model).extra.get("metrics", {}).get("before_after")
    if not comparison:
        return
    before, after = (comparison[k]["f1_landslide_images"] for k in ("before", "after"))
    feedback.pushInfo(tr("On the held-out part, F1 on landslide areas: {} {:.3f}, this model {:.3f} (the card has "
                         "the details).").format(comparison["starting_model"], before, after))
    if after < before:
        feedback.pushWarning(tr("The model you started from scores better on the held-out part than the one trained "
                                "here: keep using it, or train longer or on more mapped landslides."))


def add_to_model_list(model: Path, folder: Path) -> str:
    """Copy the model, its saliency graph and its card into ``folder`` (the model last: its
    presence means the rest is there); returns its key in the model lists."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in (f"{model.stem}_saliency.onnx", f"{model.stem}.md", model.name):
        if (model.parent / name).is_file() and model.parent.resolve() != folder.resolve():
            partial = folder / f".{name}.partial"
            shutil.copyfile(model.parent / name, partial)
            os.replace(partial, folder / name)
    return next(key for key, path in available_models(folder).items() if Path(path).name == model.name
                and Path(path).parent.resolve() == folder.resolve())


def publish(work: Path, output: Path) -> dict[str, str]:
    """Move the exported files from ``work`` beside ``output``, the model itself last (its
    presence means the rest is there); returns the outputs by name."""
    stem = output.stem
    files = {SALIENCY_MODEL: f"{stem}_saliency.onnx", CARD: f"{stem}.md", CURVES: f"{stem}_curves.png",
             "WEIGHTS": f"{stem}.weights.npz"}
    written = {}
    for key, name in files.items():
        if (work / name).is_file():
            os.replace(work / name, output.parent / name)
            written[key] = str(output.parent / name)
    os.replace(work / output.name, output)
    return {k: v for k, v in written.items() if k != "WEIGHTS"}
