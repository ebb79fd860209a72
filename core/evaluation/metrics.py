"""The one scorer of landslide maps against a reference, pixels and objects (pure NumPy).

Evaluate (:mod:`.scoring`, strip by strip over a map's object-id rasters), the campaign's
validation and the model cards (``training/evaluate.py``, image by image) and the quality
benchmark (``bench/quality.py``, through :func:`core.evaluation.filter_fitting.filtered_scores`)
all count and judge here, and name what they measure in one vocabulary, the keys the
bundled models' specs already carry:

- pixels: ``tp``, ``fp``, ``fn``, ``tn`` and ``precision``, ``recall``, ``f1``, ``iou``,
  ``accuracy`` (the method's Eqs. 6-10); ``precision_landslide_images`` (and recall, F1,
  IoU) over the images that hold landslides only;
- objects: ``objects_detected``, ``objects_missed`` (reference landslides),
  ``false_alarm_objects`` (predicted objects that touch no reference landslide);
- images: ``images``, ``landslide_free_images``, ``landslide_free_images_with_detections``
  (those with at least one predicted object).

An object is a 4-connected region of a map (as GDAL polygonizes them), given as an
object-id raster (0: none, k: object k). A reference object is *detected* when predicted
pixels cover at least ``min_coverage`` of its scored pixels (0: any overlap), *missed*
otherwise; a predicted object is a *true detection* when it touches a reference pixel, a
*false alarm* otherwise; an object none of whose pixels is scored is *not scored*.

Counting is :class:`ObjectTally` (one map, window by window; or, when fitting the object
filter, from each object's sums: :meth:`.filter_fitting.ImageObjects.tally`), judging is
:meth:`ObjectTally.outcome` (a :class:`MapOutcome`), summing over maps is
:class:`Scorecard`, whose :meth:`Scorecard.scores` gives the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

#: the vocabulary, in groups; a caller may keep a group out of what it records, never rename a key
PIXEL_SCORES = ("precision", "recall", "f1", "iou", "accuracy")
PIXEL_COUNTS = ("tp", "fp", "fn", "tn")
LANDSLIDE_IMAGE_SCORES = ("precision_landslide_images", "recall_landslide_images", "f1_landslide_images",
                          "iou_landslide_images")
OBJECT_COUNTS = ("objects_detected", "objects_missed", "false_alarm_objects")
IMAGE_COUNTS = ("images", "landslide_free_images", "landslide_free_images_with_detections")
#: one map's scores (Evaluate); a set of images' scores (campaign validation, model cards' raw test scores)
MAP_KEYS = PIXEL_SCORES + PIXEL_COUNTS + OBJECT_COUNTS
IMAGES_KEYS = MAP_KEYS + IMAGE_COUNTS

#: object statuses (the values of Evaluate's objects layer)
DETECTED, MISSED, TRUE_DETECTION, FALSE_ALARM, NOT_SCORED = (
    "detected", "missed", "true detection", "false alarm", "not scored")

#: 4-connected, as GDAL polygonizes
CONNECTIVITY = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)


@dataclass
class Confusion:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, predicted: np.ndarray, reference: np.ndarray, valid: np.ndarray | None = None) -> "Confusion":
        """Accumulate counts from boolean maps (pixels outside ``valid`` are not scored)."""
        p, r = predicted.astype(bool), reference.astype(bool)
        if valid is not None:
            p, r = p[valid], r[valid]
        self.tp += int(np.count_nonzero(p & r))
        self.fp += int(np.count_nonzero(p & ~r))
        self.fn += int(np.count_nonzero(~p & r))
        self.tn += int(np.count_nonzero(~p & ~r))
        return self

    def __add__(self, other: "Confusion") -> "Confusion":
        return Confusion(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)

    def scores(self) -> dict[str, float]:
        """precision, recall, F1, IoU, accuracy (0 where undefined) and the counts."""
        tp, fp, fn, tn = self.tp, self.fp, self.fn, self.tn

        def ratio(a, b):
            return a / b if b else 0.0

        return {
            "precision": ratio(tp, tp + fp),
            "recall": ratio(tp, tp + fn),
            "f1": ratio(2 * tp, 2 * tp + fp + fn),
            "iou": ratio(tp, tp + fp + fn),
            "accuracy": ratio(tp + tn, tp + fp + fn + tn),
            **asdict(self),
        }


def label_objects(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """(object ids, number of objects) of a boolean map: its 4-connected regions."""
    from scipy import ndimage  # the one line that is not NumPy (training and benchmarks only: QGIS's Python may lack SciPy)

    ids, count = ndimage.label(mask, CONNECTIVITY)
    return ids, int(count)


@dataclass(frozen=True)
class MapOutcome:
    """What one map (an image, or Evaluate's whole map) scores: its pixel counts, its
    reference landslides detected and missed, its scored predicted objects and how many of
    them are false alarms."""

    confusion: Confusion
    objects_detected: int
    objects_missed: int
    predicted_objects: int
    false_alarm_objects: int

    @property
    def holds_landslides(self) -> bool:
        return self.objects_detected + self.objects_missed > 0


class ObjectTally:
    """One map against its reference, counted window by window: the pixel confusion and, per
    object id (index 0: no object, always 0), its scored pixels and those on the other map's
    landslides (a reference object's *covered* pixels, a predicted object's *touching* ones)."""

    def __init__(self, predicted_objects: int, reference_objects: int):
        self.confusion = Confusion()
        self.reference_scored = np.zeros(reference_objects + 1, np.int64)
        self.reference_covered = np.zeros(reference_objects + 1, np.int64)
        self.predicted_scored = np.zeros(predicted_objects + 1, np.int64)
        self.predicted_touching = np.zeros(predicted_objects + 1, np.int64)

    @classmethod
    def of_masks(cls, predicted: np.ndarray, reference: np.ndarray, scored: np.ndarray | None = None,
                 reference_objects: tuple[np.ndarray, int] | None = None) -> "ObjectTally":
        """The tally of two boolean maps (whole images); ``reference_objects``: the
        reference's :func:`label_objects`, when it is scored against many predictions."""
        predicted_ids, predicted_count = label_objects(predicted)
        reference_ids, reference_count = reference_objects or label_objects(reference)
        return cls(predicted_count, reference_count).add(predicted_ids, reference_ids, scored)

    def add(self, predicted_ids: np.ndarray, reference_ids: np.ndarray,
            scored: np.ndarray | None = None) -> "ObjectTally":
        """Count a window of both maps' object ids (pixels outside ``scored`` are not scored)."""
        predicted, reference = predicted_ids > 0, reference_ids > 0
        total = predicted.size
        if scored is not None:  # an unscored pixel is on neither map
            predicted &= scored
            reference &= scored
            total = int(np.count_nonzero(scored))
        both = predicted & reference
        tp, n_predicted, n_reference = (int(np.count_nonzero(a)) for a in (both, predicted, reference))
        self.confusion += Confusion(tp, n_predicted - tp, n_reference - tp, total - n_predicted - n_reference + tp)
        # per object (index 0, no object, stays 0)
        self.reference_scored += np.bincount(reference_ids[reference], minlength=len(self.reference_scored))
        self.reference_covered += np.bincount(reference_ids[both], minlength=len(self.reference_scored))
        self.predicted_scored += np.bincount(predicted_ids[predicted], minlength=len(self.predicted_scored))
        self.predicted_touching += np.bincount(predicted_ids[both], minlength=len(self.predicted_scored))
        return self

    def reference_status(self, min_coverage: float = 0.0) -> list[str]:
        """Each reference object's status (objects 1..n): detected, missed or not scored."""
        scored, covered = self.reference_scored[1:], self.reference_covered[1:]
        detected = (covered > 0) & (covered / np.maximum(scored, 1) >= min_coverage)
        return np.where(scored == 0, NOT_SCORED, np.where(detected, DETECTED, MISSED)).tolist()

    def predicted_status(self) -> list[str]:
        """Each predicted object's status (objects 1..n): true detection, false alarm or not scored."""
        scored, touching = self.predicted_scored[1:], self.predicted_touching[1:]
        return np.where(scored == 0, NOT_SCORED, np.where(touching > 0, TRUE_DETECTION, FALSE_ALARM)).tolist()

    def outcome(self, min_coverage: float = 0.0) -> MapOutcome:
        reference, predicted = self.reference_status(min_coverage), self.predicted_status()
        return MapOutcome(Confusion(**asdict(self.confusion)), reference.count(DETECTED), reference.count(MISSED),
                          len(predicted) - predicted.count(NOT_SCORED), predicted.count(FALSE_ALARM))


class Scorecard:
    """Scores summed over maps: pixel counts over all of them and over those that hold
    landslides, objects, and maps (images) with and without landslides."""

    def __init__(self):
        self.pixels, self.landslide_image_pixels = Confusion(), Confusion()
        self.objects_detected = self.objects_missed = self.false_alarm_objects = 0
        self.images = self.landslide_free_images = self.landslide_free_images_with_detections = 0

    def add(self, outcome: MapOutcome) -> "Scorecard":
        self.pixels += outcome.confusion
        self.objects_detected += outcome.objects_detected
        self.objects_missed += outcome.objects_missed
        self.false_alarm_objects += outcome.false_alarm_objects
        self.images += 1
        if outcome.holds_landslides:
            self.landslide_image_pixels += outcome.confusion
        else:
            self.landslide_free_images += 1
            self.landslide_free_images_with_detections += int(outcome.predicted_objects > 0)
        return self

    def scores(self, ndigits: int | None = None, keys: tuple[str, ...] | None = None) -> dict:
        """The scores by key (see the module), in ``keys``' order (default: all); ratios
        rounded to ``ndigits`` when given (counts never are)."""
        landslide_images = self.landslide_image_pixels.scores()
        values = {
            **self.pixels.scores(),
            **{f"{k}_landslide_images": landslide_images[k] for k in ("precision", "recall", "f1", "iou")},
            **{k: getattr(self, k) for k in OBJECT_COUNTS + IMAGE_COUNTS},
        }
        if ndigits is not None:
            values = {k: round(v, ndigits) if isinstance(v, float) else v for k, v in values.items()}
        return values if keys is None else {k: values[k] for k in keys}


def bootstrap_intervals(outcomes: Sequence[MapOutcome], keys: Sequence[str], resamples: int = 1000,
                        level: float = 0.95, seed: int = 0,
                        baseline: Sequence[MapOutcome] | None = None) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals over images: the images are drawn again with
    replacement ``resamples`` times and each score recomputed (summed counts, as the
    Scorecard sums them). A figure on ~100 images moves by several hundredths from one
    sample of images to another; this says by how much. With ``baseline`` (the same images,
    in the same order, scored for another model) the intervals are of the difference
    ``outcomes - baseline``, both drawn with the same images (a paired bootstrap): far
    narrower than the two intervals side by side, it says whether a change is real."""
    rng = np.random.default_rng(seed)
    draws = {k: [] for k in keys}
    for _ in range(resamples):
        picked = rng.integers(0, len(outcomes), len(outcomes))
        scores = _summed(outcomes, picked)
        reference = _summed(baseline, picked) if baseline is not None else None
        for k in keys:
            draws[k].append(scores[k] - (reference[k] if reference is not None else 0.0))
    tail = 100 * (1 - level) / 2
    return {k: (float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail))) for k, v in draws.items()}


def _summed(outcomes: Sequence[MapOutcome], picked: np.ndarray) -> dict:
    card = Scorecard()
    for i in picked:
        card.add(outcomes[i])
    return card.scores()
