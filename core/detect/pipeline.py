"""The Detect pipeline: probability, mask and landslide polygons of a raster, written
all or nothing."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..engine.streaming import PROBABILITY_NODATA, ProgressFn, CancelFn, RowsFn, WindowSettings, predict_raster, resampled_onto, write_values_raster
from ..model.ensemble import ModelEnsemble, flip_averaged
from ..errors import NoValidPixels
from ..imagery.inputs import ModelInput
from ..model.onnx_model import OnnxModel
from ..model.object_filter import ObjectFilter
from ..io.outputs import AtomicOutputs, GeoTiffWriter
from ..io.polygons import boundary_summary, feature_count, polygonize_mask
from ..model.spec import ModelSpec

log = logging.getLogger(__name__)

MASK_NODATA = 255

#: Detect's default minimum polygon area: smaller specks are noise, not landslides to map
DEFAULT_MIN_AREA_M2 = 100.0


@dataclass(frozen=True)
class DetectOutputs:
    probability: str
    mask: str
    polygons: str | None = None
    uncertainty: str | None = None  # an ensemble's per-pixel standard deviation over its members
    dropped: str | None = None  # polygons the model's object filter sets aside as likely false alarms


@dataclass
class DetectResult:
    valid_pixels: int
    landslide_pixels: int
    polygon_count: int
    providers: list[str]
    dropped_count: int = 0  # polygons set aside by the object filter
    filtered: bool = False  # whether the model's object filter ran


class DetectRasters:
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
        self._files = ExitStack()
        self._mask = self._files.enter_context(GeoTiffWriter(self.mask_path, grid, np.uint8, MASK_NODATA))
        # one float32 writer per channel of the values: probability, then the ensemble's spread
        self._float_writers = [self._files.enter_context(
            GeoTiffWriter(self.probability_path, grid, np.float32, PROBABILITY_NODATA))]
        if self.with_spread:
            self._float_writers.append(self._files.enter_context(GeoTiffWriter(
                atomic.temporary(outputs.uncertainty), grid, np.float32, PROBABILITY_NODATA,
                {"UNCERTAINTY": uncertainty_note or "per-pixel standard deviation of an ensemble's members"})))

    def write_rows(self, row0: int, values: np.ndarray, valid: np.ndarray) -> None:
        """``values``: probability (rows, width), or (probability, spread) with an uncertainty output."""
        prob = values[0] if self.with_spread else values
        mask = (prob >= self.threshold).view(np.uint8)
        mask[~valid] = MASK_NODATA
        self.landslide_pixels += int((mask == 1).sum())
        self._mask.write_rows(row0, mask)
        # the rows are the caller's to drop: nodata is written into them rather than into copies
        for writer, channel in zip(self._float_writers, values if self.with_spread else values[None]):
            channel[~valid] = PROBABILITY_NODATA
            writer.write_rows(row0, channel)

    def close(self) -> None:
        self._files.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_polygons(atomic: AtomicOutputs, rasters: DetectRasters, outputs: DetectOutputs, model_name: str,
                   min_area_m2: float, progress: ProgressFn, is_cancelled: CancelFn | None, annotations=None,
                   object_filter: ObjectFilter | None = None) -> tuple[int, int]:
    """The landslide polygons of a finished probability + mask pair, those the object
    filter sets aside in ``outputs.dropped``; returns (kept, set aside) counts."""
    dropped_path = atomic.temporary(outputs.dropped) if object_filter is not None and outputs.dropped else None
    kept = polygonize_mask(
        rasters.mask_path,
        rasters.probability_path,
        atomic.temporary(outputs.polygons),
        value_name="prob",
        constants={"model": model_name, "threshold": rasters.threshold},
        min_area_m2=min_area_m2,
        progress=progress,
        is_cancelled=is_cancelled,
        annotations=annotations or {},
        object_filter=object_filter,
        dropped_path=dropped_path,
    )
    return kept, feature_count(dropped_path) if dropped_path else 0


def model_object_filter(spec: ModelSpec, wanted: bool) -> ObjectFilter | None:
    """The spec's false-alarm filter when it has one and the caller wants it."""
    return spec.object_filter if wanted else None


def detect(
    inputs: ModelInput,
    model: OnnxModel,
    outputs: DetectOutputs,
    settings: WindowSettings,
    threshold: float | None = None,
    min_area_m2: float = 0.0,
    progress: ProgressFn | None = None,
    is_cancelled: CancelFn | None = None,
    saliency_model: OnnxModel | None = None,
    tta: bool = False,
    object_filter: bool = True,
) -> DetectResult:
    """Probability GeoTIFF, mask GeoTIFF and landslide polygons for the whole raster.

    ``model`` is an :class:`OnnxModel` or a :class:`ModelEnsemble`; for an ensemble,
    ``outputs.uncertainty`` receives the members' per-pixel standard deviation (blended
    over windows like the probability). ``tta`` averages the four flips of every window.
    When ``inputs`` reads the image resampled to the model's resolution (its
    ``original`` is set, see :mod:`core.io.resolution`), the outputs go on the original grid.
    With ``saliency_model`` (the model's saliency graph), each polygon also gets
    ``mean_saliency`` and ``boundary_saliency_share`` (see polygons.boundary_summary).
    With ``object_filter`` and a model whose spec carries one (see :mod:`core.model.object_filter`),
    polygons scored as likely false alarms go to ``outputs.dropped`` instead.
    Every output is written under a temporary name and moved into place only when all
    of them are complete: an error or a cancel leaves no output behind.
    """
    spec = model.spec
    objects = model_object_filter(spec, object_filter)
    settings.check(spec.size_multiple, model.fixed_window)
    threshold = spec.threshold if threshold is None else threshold
    report = progress or (lambda _fraction: None)
    with_spread = outputs.uncertainty is not None
    if with_spread and not isinstance(model, ModelEnsemble):
        raise ValueError("An uncertainty raster needs an ensemble of models: turn the ensemble on, or leave the "
                         "uncertainty output out.")
    predict, channels = (model.predict_with_spread, 2) if with_spread else (model.predict, 1)
    if tta:
        predict = flip_averaged(predict)

    original = inputs.original
    with AtomicOutputs() as atomic:
        note = f"per-pixel standard deviation of the members of the {spec.name}" if with_spread else None
        with DetectRasters(atomic, outputs, (original or inputs).grid, threshold, note) as rasters:
            share = 0.5 if saliency_model is not None else 0.9

            def run(write: RowsFn) -> int:
                return predict_raster(inputs, predict, settings, write, lambda f: report(share * f), is_cancelled,
                                      channels)

            valid_pixels = run(rasters.write_rows) if original is None else resampled_onto(
                original, inputs, rasters.probability_path + ".model-grid", run, rasters.write_rows, channels)
        if valid_pixels == 0:
            raise NoValidPixels(
                "Every pixel of the input is nodata (or outside the DEM): there is nothing to detect."
            )
        polygon_count = dropped_count = 0
        if outputs.polygons:
            annotations, saliency_path = {}, None
            if saliency_model is not None:
                saliency_path = atomic.temporary(str(Path(outputs.polygons).with_suffix(".saliency.tif")))
                saliency_settings = replace(settings, window=saliency_model.fixed_window or settings.window)
                write_values_raster(inputs, saliency_model.predict, saliency_settings, saliency_path,
                                    PROBABILITY_NODATA, lambda f: report(0.5 + 0.4 * f), is_cancelled)
                annotations = boundary_summary(saliency_path, "saliency")
            polygon_count, dropped_count = write_polygons(atomic, rasters, outputs, spec.name, min_area_m2,
                                                          lambda f: report(0.9 + 0.1 * f), is_cancelled,
                                                          annotations, objects)
            if saliency_path:
                atomic.discard(saliency_path)
        atomic.commit()
    report(1.0)
    landslide_pixels = rasters.landslide_pixels
    log.info("detect: %d valid px, %d landslide px, %d polygons (%d set aside)", valid_pixels, landslide_pixels,
             polygon_count, dropped_count)
    return DetectResult(valid_pixels, landslide_pixels, polygon_count, list(model.providers), dropped_count,
                        objects is not None)
