"""Fitting the false-alarm filter (:mod:`core.model.object_filter`) on validation
images, and scoring what it keeps: only training and the benchmarks use this; Detect
needs nothing but the fitted filter in the model's spec.

An image's objects are found as Detect polygonizes them (:data:`.metrics.CONNECTIVITY`:
GDAL polygonizes 4-connected regions, so objects everywhere are those regions), with the
filter's features computed by the one :func:`core.model.object_filter.feature_vector`,
and judged by the one scorer (:mod:`.metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..evaluation.metrics import (
    CONNECTIVITY,
    LANDSLIDE_IMAGE_SCORES,
    OBJECT_COUNTS,
    Confusion,
    MapOutcome,
    ObjectTally,
    Scorecard,
)
from ..model.object_filter import FEATURES, ObjectFilter, feature_vector


@dataclass
class ImageObjects:
    """The objects of one image's thresholded probability, with what fitting needs: each
    object's sums, taken once, so that an outcome for any choice of kept objects is counted
    without labelling the image again."""

    features: np.ndarray  # (objects, len(FEATURES))
    true_pixels: np.ndarray  # per object: its pixels on reference landslides
    sizes: np.ndarray  # per object: its pixel count
    overlaps: np.ndarray  # (3, pairs): object (index), reference object (id) and the pixels they share
    reference_sizes: np.ndarray  # per reference object (ids 1..n): its pixel count
    pixels: int  # the image's

    def tally(self, kept: np.ndarray) -> ObjectTally:
        """The image's :class:`ObjectTally` when only the ``kept`` objects are drawn: their
        pixels are the predicted ones, and every pixel is scored."""
        kept = np.asarray(kept, bool)
        sizes, true_pixels = self.sizes[kept], self.true_pixels[kept]
        tally = ObjectTally(len(sizes), len(self.reference_sizes))
        tp, predicted, reference = int(true_pixels.sum()), int(sizes.sum()), int(self.reference_sizes.sum())
        tally.confusion = Confusion(tp, predicted - tp, reference - tp, self.pixels - predicted - reference + tp)
        tally.predicted_scored[1:] = sizes
        tally.predicted_touching[1:] = true_pixels
        tally.reference_scored[1:] = self.reference_sizes
        objects, reference_ids, shared = self.overlaps
        drawn = kept[objects]
        np.add.at(tally.reference_covered, reference_ids[drawn], shared[drawn])
        return tally

    def outcome(self, kept: np.ndarray) -> MapOutcome:
        """What the image scores (:mod:`core.evaluation.metrics`) when only the ``kept``
        objects are drawn (a reference landslide is detected when they touch it)."""
        return self.tally(kept).outcome()


def image_objects(probability: np.ndarray, reference: np.ndarray, threshold: float, pixel_size_m: float,
                  min_area_m2: float = 0.0) -> ImageObjects:
    """Objects as Detect polygonizes them (4-connected regions of probability >= threshold,
    those under ``min_area_m2`` dropped), their features and their overlap with the reference."""
    from scipy import ndimage  # fitting and benchmarks only: the plugin (Detect) never needs SciPy

    predicted = probability >= threshold
    labels, count = ndimage.label(predicted, CONNECTIVITY)
    ref_labels, ref_count = ndimage.label(reference, CONNECTIVITY)
    pixel_area = pixel_size_m**2
    index = np.arange(1, count + 1)
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, index).astype(int)
    means = ndimage.mean(probability, labels, index) if count else np.zeros(0)
    peaks = ndimage.maximum(probability, labels, index) if count else np.zeros(0)
    true_pixels = ndimage.sum_labels(reference.astype(bool), labels, index).astype(int) if count else np.zeros(0, int)
    edges = _boundary_edges(labels, count)
    features, kept = [], []
    for i in range(count):
        area = sizes[i] * pixel_area
        if area < min_area_m2:
            continue
        kept.append(i)
        # Detect rounds the probability statistics to 5 significant digits
        features.append(feature_vector(area, edges[i] * pixel_size_m, float(f"{means[i]:.5g}"), float(f"{peaks[i]:.5g}")))
    kept = np.array(kept, int)
    # (object, reference object) pairs that share pixels, and how many, in one pass over the
    # overlap; objects under the minimum area are not drawn, so they cover nothing
    both = (labels > 0) & (ref_labels > 0)
    pairs, shared = np.unique(np.stack([labels[both], ref_labels[both]]), axis=1, return_counts=True)
    index_of = np.full(count + 1, -1)  # label -> index among the drawn objects
    index_of[kept + 1] = np.arange(len(kept))
    drawn = index_of[pairs[0]] >= 0
    overlaps = np.stack([index_of[pairs[0]], pairs[1], shared])[:, drawn]
    reference_sizes = np.bincount(ref_labels.ravel(), minlength=ref_count + 1)[1:]
    return ImageObjects(np.array(features).reshape(-1, len(FEATURES)), true_pixels[kept] if count else true_pixels,
                        sizes[kept] if count else sizes, overlaps, reference_sizes, int(reference.size))


def _boundary_edges(labels: np.ndarray, count: int) -> np.ndarray:
    """Per label, the number of pixel edges between it and anything else (the polygon's
    outer and inner rings, in pixels)."""
    padded = np.pad(labels, 1)
    edges = np.zeros(count + 1, int)
    for axis in (0, 1):
        a, b = np.take(padded, range(padded.shape[axis] - 1), axis), np.take(padded, range(1, padded.shape[axis]), axis)
        differ = a != b
        np.add.at(edges, a[differ], 1)
        np.add.at(edges, b[differ], 1)
    return edges[1:]


def fit_logistic(features: np.ndarray, labels: np.ndarray, l2: float = 1e-2, iterations: int = 50):
    """(mean, std, weights, bias) of a class-balanced L2 logistic regression (Newton's method)."""
    mean, std = features.mean(axis=0), features.std(axis=0) + 1e-9
    z = np.hstack([(features - mean) / std, np.ones((len(features), 1))])
    y = labels.astype(float)
    positives = max(y.sum(), 1.0)
    negatives = max(len(y) - y.sum(), 1.0)
    sample_weight = np.where(y > 0, len(y) / (2 * positives), len(y) / (2 * negatives))
    w = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(z @ w)))
        gradient = z.T @ (sample_weight * (p - y)) + penalty * w
        hessian = (z * (sample_weight * p * (1 - p))[:, None]).T @ z + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return mean, std, w[:-1], float(w[-1])


def kept_by(object_filter: ObjectFilter | None, objects: ImageObjects, cut: float | None = None) -> np.ndarray:
    """Which of an image's objects the filter keeps (at ``cut``, else its own); all without a filter."""
    if object_filter is None or not len(objects.sizes):
        return np.ones(len(objects.sizes), bool)
    return object_filter.score(objects.features) >= (object_filter.cut if cut is None else cut)


#: what :func:`filtered_scores` records (in the specs' metrics and the benchmark)
DETECT_KEYS = ("precision", "recall", "f1", "iou") + LANDSLIDE_IMAGE_SCORES + OBJECT_COUNTS + (
    "landslide_free_images", "landslide_free_images_with_detections")


def filtered_scores(images: Sequence[ImageObjects], keep: Sequence[np.ndarray]) -> dict:
    """Pixel and object scores when only the objects flagged in ``keep`` are kept (ratios to 4 digits)."""
    card = Scorecard()
    for objects, kept in zip(images, keep):
        card.add(objects.outcome(kept))
    return card.scores(4, DETECT_KEYS)


def fit_object_filter(images: Sequence[ImageObjects], max_found_loss: float = 0.02) -> tuple[ObjectFilter, dict]:
    """Fit the filter on validation objects: a logistic model separating objects that touch
    a reference landslide from those that do not, and the cut with the best pixel F1 among
    those that lose at most ``max_found_loss`` of the landslides found without a filter."""
    features = np.vstack([o.features for o in images])
    labels = np.concatenate([o.true_pixels > 0 for o in images])  # touches a reference landslide
    if len(set(labels.tolist())) < 2:
        raise ValueError("fitting a false-alarm filter needs both true detections and false alarms")
    mean, std, weights, bias = fit_logistic(features, labels)
    unfiltered = filtered_scores(images, [kept_by(None, o) for o in images])
    draft = ObjectFilter(tuple(mean), tuple(std), tuple(weights), bias, 0.0)
    floor = unfiltered["objects_detected"] * (1 - max_found_loss)
    best_cut, best = 0.0, unfiltered
    for cut in np.round(np.arange(0.02, 0.99, 0.02), 2):
        result = filtered_scores(images, [kept_by(draft, o, cut) for o in images])
        if result["objects_detected"] >= floor and result["f1"] > best["f1"]:
            best_cut, best = float(cut), result
    fitted = ObjectFilter(tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std),
                          tuple(round(float(v), 6) for v in weights), round(bias, 6), best_cut)
    return fitted, {"without_filter": unfiltered, "with_filter": best, "objects": int(len(labels)),
                    "true_objects": int(labels.sum())}
