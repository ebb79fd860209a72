"""Transitional: the one scorer (core/evaluation/metrics.py) gives the numbers the old
scorers gave, on the same arrays, before they go."""

import numpy as np
import pytest
from scipy import ndimage

from landslide_mapper.core.evaluation.metrics import (
    IMAGES_KEYS, LANDSLIDE_IMAGE_SCORES, OBJECT_COUNTS, Confusion, MapOutcome, ObjectTally, Scorecard, label_objects)


def scenes(seed, n=12, size=64):
    """Blobby probabilities and references: several objects, touching and not, and
    landslide-free images (a third of them)."""
    rng = np.random.default_rng(seed)
    probabilities, masks = [], []
    for i in range(n):
        reference = ndimage.uniform_filter(rng.random((size, size)), 7) > 0.56
        if i % 3 == 0:
            reference[:] = False
        noise = ndimage.uniform_filter(rng.random((size, size)), 5)
        probability = np.clip(0.6 * reference + noise - 0.2 + 0.1 * rng.standard_normal((size, size)), 0, 1)
        probabilities.append(probability.astype(np.float32))
        masks.append(reference.astype(np.uint8))
    return probabilities, masks


@pytest.mark.parametrize("seed", range(6))
def test_campaign_validation_scores_are_those_of_the_old_tally(seed):
    from landslide_mapper.training.evaluate import THRESHOLDS, score_probabilities

    probabilities, masks = scenes(seed)
    old = score_probabilities(probabilities, masks, THRESHOLDS)
    for t in THRESHOLDS:
        card = Scorecard()
        for p, m in zip(probabilities, masks):
            reference = m.astype(bool)
            card.add(ObjectTally.of_masks(p >= t, reference, reference_objects=label_objects(reference)).outcome())
        new = {**card.scores(4, IMAGES_KEYS), "threshold": t, "overlap": 32, "window": 128}
        assert list(new) == list(old[t]) and new == old[t], t
    # the arrays exercise every case: landslides missed, false alarms, landslide-free images flagged and not
    assert any(old[t]["objects_missed"] and old[t]["false_alarm_objects"] and
               0 < old[t]["landslide_free_images_with_detections"] < old[t]["landslide_free_images"] for t in THRESHOLDS)


@pytest.mark.parametrize("seed", range(4))
def test_detect_default_scores_are_those_of_the_old_filtered_scores(seed):
    from landslide_mapper.core.model.object_filter import filtered_scores, image_objects

    probabilities, masks = scenes(seed)
    images = [image_objects(p, m.astype(bool), 0.5, 1.0, 12.0) for p, m in zip(probabilities, masks)]
    rng = np.random.default_rng(seed)
    keeps = [rng.random(len(o.sizes)) > 0.3 for o in images]
    old = filtered_scores(images, keeps)
    card = Scorecard()
    for objects, kept, p in zip(images, keeps, probabilities):
        tp = int(objects.true_pixels[kept].sum())
        fp = int((objects.sizes[kept] - objects.true_pixels[kept]).sum())
        fn = objects.reference_pixels - tp
        hit = {int(t) for touched, k in zip(objects.touches, kept) if k for t in touched}
        card.add(MapOutcome(Confusion(tp, fp, fn, p.size - tp - fp - fn), len(hit), objects.reference_objects - len(hit),
                            int(kept.sum()), sum(t.size == 0 for t, k in zip(objects.touches, kept) if k)))
    keys = ("precision", "recall", "f1", "iou") + LANDSLIDE_IMAGE_SCORES + OBJECT_COUNTS + (
        "landslide_free_images", "landslide_free_images_with_detections")
    new = card.scores(4, keys)
    assert list(new) == list(old) and new == old


@pytest.mark.parametrize("min_coverage", [0.0, 0.3, 0.5, 0.9])
def test_evaluate_statuses_are_those_of_the_old_scoring_pass(min_coverage):
    """Evaluate's pass (strips of object ids, a scored mask, a minimum coverage) as
    core/evaluation/scoring.py:_score counted and judged it."""
    from landslide_mapper.core.evaluation.scoring import _predicted_status, _reference_status

    probabilities, masks = scenes(7, n=2, size=200)  # the second holds landslides
    predicted_ids, n_pred = label_objects(probabilities[1] >= 0.72)
    reference_ids, n_ref = label_objects(masks[1].astype(bool))
    scored = np.ones(predicted_ids.shape, bool)
    scored[:, 150:] = False
    scored[40:60, :] = False
    old = {"confusion": Confusion(), "ref_scored": np.zeros(n_ref + 1, np.int64),
           "ref_covered": np.zeros(n_ref + 1, np.int64), "pred_scored": np.zeros(n_pred + 1, np.int64),
           "pred_touching": np.zeros(n_pred + 1, np.int64)}
    tally = ObjectTally(n_pred, n_ref)
    for row0 in range(0, 200, 37):
        pred_ids, ref_ids, valid = (a[row0 : row0 + 37] for a in (predicted_ids, reference_ids, scored))
        pred, ref = pred_ids > 0, ref_ids > 0
        old["confusion"].add(pred, ref, valid)
        old["ref_scored"] += np.bincount(ref_ids[valid], minlength=n_ref + 1)
        old["ref_covered"] += np.bincount(ref_ids[valid & pred], minlength=n_ref + 1)
        old["pred_scored"] += np.bincount(pred_ids[valid], minlength=n_pred + 1)
        old["pred_touching"] += np.bincount(pred_ids[valid & ref], minlength=n_pred + 1)
        tally.add(pred_ids, ref_ids, valid)
    ref_status = [_reference_status(c, s, min_coverage) for c, s in zip(old["ref_covered"][1:], old["ref_scored"][1:])]
    pred_status = [_predicted_status(t, s) for t, s in zip(old["pred_touching"][1:], old["pred_scored"][1:])]
    assert tally.reference_status(min_coverage) == ref_status
    assert tally.predicted_status() == pred_status
    assert tally.confusion == old["confusion"]
    assert {"detected", "missed", "not scored"} <= set(ref_status) or min_coverage == 0.0
    assert {"true detection", "false alarm", "not scored"} <= set(pred_status)
    outcome = tally.outcome(min_coverage)
    assert (outcome.objects_detected, outcome.objects_missed, outcome.false_alarm_objects) == (
        ref_status.count("detected"), ref_status.count("missed"), pred_status.count("false alarm"))
