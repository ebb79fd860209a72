"""Score an exported model on held-out images exactly as Detect would run it.

Each image goes through the engine (sliding windows of the model's patch size, default
overlap, blending, the spec's threshold) at native resolution; pixel counts are summed
over all images (precision, recall, F1, IoU, accuracy) and landslide objects (connected
reference regions) count as detected when any predicted pixel touches them.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from core.engine import WindowSettings, predict_raster
from core.inputs import ModelInput
from core.metrics import Confusion
from core.model import OnnxModel
from core.readers import ArrayReader

from .data import Sample

SOURCE_ORDER = ("red", "green", "blue", "nir")


def predict_sample(model: OnnxModel, sample: Sample, overlap: int = 32, batch_size: int = 8) -> np.ndarray:
    names = [n for n in SOURCE_ORDER if n in sample.sources]
    reader = ArrayReader(np.stack([sample.sources[n] for n in names]))
    inputs = ModelInput(model.spec, reader, {n: i + 1 for i, n in enumerate(names)})
    prob = np.zeros(sample.mask.shape, np.float32)

    def keep(row0, values, valid):
        prob[row0 : row0 + values.shape[0]] = values

    predict_raster(inputs, model.predict, WindowSettings(model.spec.patch_size, overlap, batch_size), keep)
    return prob


def evaluate(model: OnnxModel, samples, threshold: float | None = None, overlap: int = 32) -> dict:
    threshold = model.spec.threshold if threshold is None else threshold
    confusion = Confusion()
    detected = missed = false_alarms = empty_images_flagged = empty_images = 0
    structure = np.ones((3, 3), bool)
    for sample in samples:
        predicted = predict_sample(model, sample, overlap) >= threshold
        reference = sample.mask.astype(bool)
        confusion.add(predicted, reference)
        labels, count = ndimage.label(reference, structure)
        if count:
            hit = np.unique(labels[predicted & reference])
            n_hit = int(np.count_nonzero(hit))
            detected += n_hit
            missed += count - n_hit
        else:
            empty_images += 1
            empty_images_flagged += bool(predicted.any())
        predicted_labels, n_pred = ndimage.label(predicted, structure)
        if n_pred:
            touching = np.unique(predicted_labels[predicted & reference])
            false_alarms += n_pred - int(np.count_nonzero(touching))
    scores = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in confusion.scores().items()}
    scores.update(objects_detected=detected, objects_missed=missed, false_alarm_objects=false_alarms,
                  images=len(samples), landslide_free_images=empty_images,
                  landslide_free_images_with_detections=empty_images_flagged, threshold=threshold,
                  overlap=overlap, window=model.spec.patch_size)
    return scores
