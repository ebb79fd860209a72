"""Score an exported model on held-out images exactly as Detect would run it.

Each image goes through the engine (sliding windows of the model's patch size, default
overlap, blending, the spec's threshold) at native resolution and is scored by the one
scorer (:mod:`core.evaluation.metrics`, as Evaluate scores a map): pixel counts summed over
all images (precision, recall, F1, IoU, accuracy), landslide objects (4-connected reference
regions, as Detect's polygons and Evaluate's objects) detected when any predicted pixel
touches them, false-alarm objects, and landslide-free images with detections.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.engine.streaming import WindowSettings, predict_raster
from ..core.engine.windows import reflect_indices
from ..core.evaluation.metrics import IMAGES_KEYS, ObjectTally, Scorecard, label_objects
from ..core.imagery.inputs import ModelInput
from ..core.io.readers import ArrayReader
from ..core.model.ensemble import flip_averaged
from ..core.model.onnx_model import OnnxModel
from .data import Sample

SOURCE_ORDER = ("red", "green", "blue", "nir")


def predict_sample(model: OnnxModel, sample: Sample, overlap: int = 32, batch_size: int = 8,
                   tta: bool = False, window: int | None = None) -> np.ndarray:
    """The blended probability of one image, as Detect computes it (``tta``: flip-averaged;
    ``window``: the spec's patch size unless given)."""
    names = [n for n in SOURCE_ORDER if n in sample.sources]
    stack = np.stack([sample.sources[n] for n in names])
    valid = np.isfinite(stack).all(axis=0)  # NaN: nodata (a scene's gutters)
    if sample.valid is not None:  # a raster's own nodata: Detect fills it and writes no probability there
        valid &= sample.valid
    reader = ArrayReader(np.nan_to_num(stack), valid=None if valid.all() else valid)
    inputs = ModelInput(model.spec, reader, {n: i + 1 for i, n in enumerate(names)})
    prob = np.zeros(sample.mask.shape, np.float32)

    def keep(row0, values, valid):
        prob[row0 : row0 + values.shape[0]] = values

    predict = flip_averaged(model.predict) if tta else model.predict
    predict_raster(inputs, predict, WindowSettings(window or model.spec.patch_size, overlap, batch_size), keep)
    return prob


def evaluate(model: OnnxModel, samples, threshold: float | None = None, overlap: int = 32) -> dict:
    """Pixel and object scores at one threshold (the spec's by default)."""
    threshold = model.spec.threshold if threshold is None else threshold
    return evaluate_thresholds(model, samples, [threshold], overlap)[threshold]


def evaluate_thresholds(model: OnnxModel, samples, thresholds, overlap: int = 32) -> dict[float, dict]:
    """Scores at several thresholds, from one prediction per image."""
    samples = list(samples)
    probabilities = (predict_sample(model, sample, overlap) for sample in samples)
    return score_probabilities(probabilities, [s.mask for s in samples], thresholds, overlap, model.spec.patch_size)


def score_probabilities(probabilities, masks, thresholds, overlap: int = 32, window: int = 128) -> dict[float, dict]:
    """Pixel, object and image scores of probability images against reference masks, per
    threshold (ratios to 4 digits; the keys are the campaign log's columns: keep them)."""
    cards = {t: Scorecard() for t in thresholds}
    for prob, mask in zip(probabilities, masks):
        reference = mask.astype(bool)
        reference_objects = label_objects(reference)
        for t, card in cards.items():
            card.add(ObjectTally.of_masks(prob >= t, reference, reference_objects=reference_objects).outcome())
    return {t: {**card.scores(4, IMAGES_KEYS), "threshold": t, "overlap": overlap, "window": window}
            for t, card in cards.items()}


#: thresholds scored on validation: a fine grid that reaches the top end
THRESHOLDS = tuple(round(float(t), 3) for t in (*np.arange(0.05, 0.951, 0.025), 0.97, 0.98, 0.99, 0.995))


def best_threshold_of(probabilities, masks, candidates=THRESHOLDS, window: int = 128) -> tuple[float, dict]:
    """The threshold with the best pixel F1 (ties: the one nearer 0.5) on validation images,
    never test; ``window``: the one the probabilities were made with, for the record."""
    scores = score_probabilities(probabilities, masks, candidates, window=window)
    best = max(candidates, key=lambda t: (scores[t]["f1"], -abs(t - 0.5)))
    return best, scores[best]


def best_threshold(model: OnnxModel, samples, candidates=THRESHOLDS) -> tuple[float, dict]:
    """The threshold with the best pixel F1 on ``samples`` (validation images, never test)."""
    samples = list(samples)
    return best_threshold_of([predict_sample(model, s) for s in samples], [s.mask for s in samples], candidates,
                             model.spec.patch_size)


def detect_objects(probabilities, masks, threshold: float, pixel_size_m: float, min_area_m2: float) -> list:
    """Each image's objects as Detect draws them (at ``threshold``, at least ``min_area_m2``)."""
    from ..core.evaluation.filter_fitting import image_objects

    return [image_objects(p, m.astype(bool), threshold, pixel_size_m, min_area_m2) for p, m in zip(probabilities, masks)]


def detect_outcomes(objects, kept) -> list:
    """Each image's outcome (:class:`core.evaluation.metrics.MapOutcome`) when only its
    ``kept`` objects are drawn: what intervals and paired comparisons resample."""
    return [o.outcome(k) for o, k in zip(objects, kept)]


#: the scores that carry a 95 % bootstrap interval (over images) wherever they are reported
WITH_INTERVALS = ("f1_landslide_images", "f1", "recall")


def detect_scores(objects, threshold: float, min_area_m2: float, object_filter=None) -> dict:
    """Scores of what Detect gives by default from :func:`detect_objects`: the polygons
    (those the object filter sets aside left out), pixel scores over all images and over
    the images holding landslides, landslides found, landslide-free images flagged (with at
    least one kept polygon); ``intervals``: 95 % bootstrap intervals over the images of the
    scores in WITH_INTERVALS."""
    from ..core.evaluation.filter_fitting import filtered_scores, kept_by
    from ..core.evaluation.metrics import bootstrap_intervals

    kept = [kept_by(object_filter, o) for o in objects]
    intervals = bootstrap_intervals(detect_outcomes(objects, kept), WITH_INTERVALS)
    return {**filtered_scores(objects, kept), "threshold": threshold, "min_area_m2": min_area_m2,
            "object_filter": object_filter is not None, "images": len(objects),
            "intervals": {k: [round(low, 4), round(high, 4)] for k, (low, high) in intervals.items()}}


@dataclass
class ValidationMosaic:
    """Images packed edge to edge into one raster, run as one scene (a mapper's view: the
    windows see neighbouring images, not an image mirrored), then scored image by image.
    Shelf-packed by height so little is left over; what is (below a shorter image) holds
    that image mirrored and is never scored."""

    scene: Sample
    placements: list[tuple[int, int, int, int]]  # (row, column, height, width) of each image

    @classmethod
    def of(cls, samples, width: int = 2048, gutter: int = 0) -> "ValidationMosaic":
        samples = list(samples)
        order = sorted(range(len(samples)), key=lambda i: -samples[i].mask.shape[0])
        placements: list = [None] * len(samples)
        top, left, shelf_height = gutter, gutter, 0
        for i in order:
            h, w = samples[i].mask.shape
            if left > gutter and left + w > width:
                top, left, shelf_height = top + shelf_height + gutter, gutter, 0
            shelf_height = max(shelf_height, h)
            placements[i] = (top, left, h, w)
            left += w + gutter
        height, full_width = top + shelf_height + gutter, max(r[1] + r[3] for r in placements) + gutter
        names = list(samples[0].sources)
        sources = {n: np.full((height, full_width), np.nan if gutter else 0.0, np.float32) for n in names}
        mask = np.zeros((height, full_width), np.uint8)
        shelf_bottoms = {}
        for (top, left, h, w) in placements:
            shelf_bottoms[top] = max(shelf_bottoms.get(top, 0), top + h)
        for sample, (top, left, h, w) in zip(samples, placements):
            bottom = top + h if gutter else shelf_bottoms[top]  # with gutters, what is left over is nodata too
            rows = reflect_indices(0, bottom - top, h)
            for n in names:
                sources[n][top:bottom, left:left + w] = sample.sources[n][rows]
                if sample.valid is not None:  # an image's own nodata is the scene's (NaN) too
                    sources[n][top:bottom, left:left + w][~sample.valid[rows]] = np.nan
            mask[top:top + h, left:left + w] = sample.mask
        return cls(Sample("validation-mosaic", sources, mask), placements)

    def cut(self, probability: np.ndarray) -> list[np.ndarray]:
        return [probability[t:t + h, c:c + w] for (t, c, h, w) in self.placements]

    def masks(self) -> list[np.ndarray]:
        return self.cut(self.scene.mask)


def best_threshold_in_mosaic(model: OnnxModel, mosaic: ValidationMosaic,
                             candidates=THRESHOLDS) -> tuple[float, dict]:
    """:func:`best_threshold` with the images run as one scene (validation images, never test)."""
    return best_threshold_of(mosaic.cut(predict_sample(model, mosaic.scene)), mosaic.masks(), candidates,
                             model.spec.patch_size)
