"""The Detect pipeline: probability, mask and landslide polygons of a raster, written
all or nothing.

:func:`detect` takes the probabilities from a :class:`ProbabilitySource`: the streaming
engine in this process (:class:`StreamedProbabilities`, the default) or the merge of a
split run's tiles (:mod:`core.detect.tiling`). Everything after that (resampling back
onto the image's grid, mask, uncertainty, saliency summary, polygons, object filter) is
written here once, for both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from ..engine.progress import SILENT, Progress
from ..engine.streaming import WindowSettings, predict_raster
from ..errors import NoValidPixels
from ..imagery.inputs import InputError, ModelInput
from ..io.outputs import THRESHOLD_METADATA, VALUES_NODATA, AtomicOutputs, GeoTiffWriters, RowsFn, ValueRasters
from ..io.polygons import PolygonCounts, boundary_summary, polygonize_mask
from ..io.resolution import resampled_onto
from ..model.protocol import DetectModel
from ..saliency import saliency_model_for
from .request import DetectRequest, Predict, predictor

log = logging.getLogger(__name__)

MASK_NODATA = 255


@dataclass(frozen=True)
class DetectOutputs:
    probability: str
    mask: str
    polygons: str | None = None
    uncertainty: str | None = None  # an ensemble's per-pixel standard deviation over its members
    dropped: str | None = None  # polygons the model's object filter sets aside as likely false alarms

    @property
    def channels(self) -> int:
        """Values per pixel the probabilities come with: probability, and the spread for an uncertainty output."""
        return 2 if self.uncertainty else 1


@dataclass
class DetectResult:
    valid_pixels: int
    landslide_pixels: int
    polygon_count: int
    providers: list[str]
    dropped_count: int = 0  # polygons set aside by the object filter
    filtered: bool = False  # whether the model's object filter ran
    windows_skipped: int = 0  # windows whose decoder the presence stage skipped (see core.model.cascade)
    windows_decoded: int = 0


class ProbabilitySource(Protocol):
    """Where Detect's probabilities come from: ``fill`` hands every row of the model
    input's grid to ``write`` (probability, or probability and spread) and returns the
    valid pixel count."""

    def fill(self, write: RowsFn, progress: Progress) -> int: ...


@dataclass
class StreamedProbabilities:
    """The streaming engine, in this process."""

    inputs: ModelInput
    predict: Predict
    settings: WindowSettings
    channels: int = 1

    def fill(self, write: RowsFn, progress: Progress) -> int:
        return predict_raster(self.inputs, self.predict, self.settings, write, progress, self.channels)


class DetectRasters(GeoTiffWriters):
    """Detect's probability and mask GeoTIFFs (and an ensemble's uncertainty), written
    row by row under temporary names from ``atomic``; used by one run and by the merge of
    a split run alike, so both write the same files from the same values."""

    def __init__(self, atomic: AtomicOutputs, outputs: DetectOutputs, grid, threshold: float,
                 uncertainty_note: str | None = None):
        self.threshold = threshold
        self.landslide_pixels = 0
        self.with_spread = outputs.uncertainty is not None
        self.probability_path = atomic.temporary(outputs.probability)
        self.mask_path = atomic.temporary(outputs.mask)
        # the threshold travels with the rasters, so Evaluate's report can say where the map was cut
        made_at = {THRESHOLD_METADATA: f"{threshold:g}"}
        # the mask, then one float32 file per channel of the values: probability, then the ensemble's spread
        files = [(self.mask_path, np.uint8, MASK_NODATA, made_at),
                 (self.probability_path, np.float32, VALUES_NODATA, made_at)]
        if self.with_spread:
            files.append((atomic.temporary(outputs.uncertainty), np.float32, VALUES_NODATA,
                          {"UNCERTAINTY": uncertainty_note or "per-pixel standard deviation of an ensemble's members"}))
        super().__init__(grid, files)
        self._mask, *self._float_writers = self.writers

    def write_rows(self, row0: int, values: np.ndarray, valid: np.ndarray) -> None:
        """``values``: probability (rows, width), or (probability, spread) with an uncertainty output."""
        prob = values[0] if self.with_spread else values
        mask = (prob >= self.threshold).view(np.uint8)
        mask[~valid] = MASK_NODATA
        self.landslide_pixels += int((mask == 1).sum())
        self._mask.write_rows(row0, mask)
        # the rows are the caller's to drop: nodata is written into them rather than into copies
        for writer, channel in zip(self._float_writers, values if self.with_spread else values[None]):
            channel[~valid] = VALUES_NODATA
            writer.write_rows(row0, channel)


def detect(
    request: DetectRequest,
    inputs: ModelInput,
    model: DetectModel,
    outputs: DetectOutputs,
    source: ProbabilitySource | None = None,
    progress: Progress = SILENT,
) -> DetectResult:
    """Probability GeoTIFF, mask GeoTIFF and landslide polygons for the whole raster.

    ``model`` is the request's model (see :func:`core.detect.request.load_model`); for an
    ensemble, ``outputs.uncertainty`` receives the members' per-pixel standard deviation
    (blended over windows like the probability). ``source`` (default: the streaming
    engine over ``inputs``) gives the probabilities on ``inputs``' grid; when ``inputs``
    reads the image resampled to the model's resolution (its ``original`` is set, see
    :mod:`core.io.resolution`), the outputs go on the original grid. With the request's
    saliency summary, each polygon also gets ``mean_saliency`` and
    ``boundary_saliency_share`` (see polygons.boundary_summary). With its object filter
    and a model whose spec carries one (see :mod:`core.model.object_filter`), polygons
    scored as likely false alarms go to ``outputs.dropped`` instead. Every output is
    written under a temporary name and moved into place only when all of them are
    complete: an error or a cancel leaves no output behind.
    """
    spec = model.spec
    settings = request.window_settings(model)
    settings.check(spec.size_multiple, model.fixed_window)
    threshold = spec.threshold if request.threshold is None else request.threshold
    objects = spec.object_filter if request.object_filter else None
    saliency_model = None
    if request.saliency_summary and outputs.polygons:
        if model.path is None:  # an ensemble: no one model for a saliency graph to explain
            raise InputError("The saliency summary explains one model: turn the ensemble off, or the summary.",
                             "saliency_summary")
        saliency_model = saliency_model_for(model.path, request.threads, request.device)
    channels = outputs.channels
    cascade = model.cascade
    tally_before = replace(cascade.tally) if cascade else None  # a cached model counts over several runs
    if source is None:
        source = StreamedProbabilities(inputs, predictor(model, request.tta, channels > 1), settings, channels)

    original = inputs.original
    with AtomicOutputs() as atomic:
        note = f"per-pixel standard deviation of the members of the {spec.name}" if channels > 1 else None
        with DetectRasters(atomic, outputs, (original or inputs).grid, threshold, note) as rasters:
            probabilities = progress.part(0.0, 0.5 if saliency_model is not None else 0.9)

            def fill(write: RowsFn) -> int:
                return source.fill(write, probabilities)

            valid_pixels = fill(rasters.write_rows) if original is None else resampled_onto(
                original, inputs.grid, inputs.image_band_numbers, rasters.probability_path + ".model-grid", fill,
                rasters.write_rows, channels)
        if valid_pixels == 0:
            raise NoValidPixels(
                "Every pixel of the input is nodata (or outside the DEM): there is nothing to detect."
            )
        counts = PolygonCounts(0, 0)
        if outputs.polygons:
            annotations, saliency_path = {}, None
            if saliency_model is not None:
                saliency_path = atomic.temporary(str(Path(outputs.polygons).with_suffix(".saliency.tif")))
                saliency_settings = replace(settings, window=saliency_model.fixed_window or settings.window)
                with ValueRasters([saliency_path], inputs.grid) as saliency_raster:
                    predict_raster(inputs, saliency_model.predict, saliency_settings, saliency_raster.write_rows,
                                   progress.part(0.5, 0.9))
                annotations = boundary_summary(saliency_path, "saliency")
            progress.info("Tracing the landslides' outlines into polygons.")
            counts = polygonize_mask(
                rasters.mask_path, rasters.probability_path, atomic.temporary(outputs.polygons), value_name="prob",
                constants={"model": spec.name, "threshold": threshold}, min_area_m2=request.min_area_m2,
                progress=progress.part(0.9, 1.0), annotations=annotations, object_filter=objects,
                dropped_path=atomic.temporary(outputs.dropped) if objects is not None and outputs.dropped else None,
                smooth=request.smooth_outlines)
            if saliency_path:
                atomic.discard(saliency_path)
        atomic.commit()
    progress(1.0)
    tally = cascade.tally.since(tally_before) if cascade else None
    if tally and tally.skipped:
        progress.info(f"The model found nothing in {tally.skipped:,} of {tally.skipped + tally.decoded:,} windows "
                      f"({tally.share_skipped:.0%}) and skipped their second half there (their probability is 0; "
                      f"it could have been at most {cascade.cut:g}).")
    landslide_pixels = rasters.landslide_pixels
    log.info("detect: %d valid px, %d landslide px, %d polygons (%d set aside)", valid_pixels, landslide_pixels,
             counts.kept, counts.set_aside)
    return DetectResult(valid_pixels, landslide_pixels, counts.kept, list(model.providers), counts.set_aside,
                        objects is not None, tally.skipped if tally else 0, tally.decoded if tally else 0)
