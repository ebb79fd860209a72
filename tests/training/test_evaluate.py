"""training/evaluate.py: the validation scores, image by image, and the validation mosaic."""

import numpy as np
import pytest
from training_samples import blob_samples

pytest.importorskip("tensorflow")

pytestmark = pytest.mark.slow


def test_validation_scores_by_hand():
    """What the campaign validates with and the model card's raw test scores (the one
    scorer, image by image). Image 1: landslides R1 (2 px) and R2 (1 px, at 0.3), a false
    alarm at 0.6; image 2, landslide-free, one pixel at 0.55."""
    from landslide_mapper.training.evaluate import best_threshold_of, score_probabilities

    first, second = np.zeros((4, 6), np.float32), np.zeros((4, 6), np.float32)
    first[0, 0], first[0, 1], first[2, 2], first[3, 5] = 0.9, 0.4, 0.6, 0.3
    second[1, 1] = 0.55
    mask = np.zeros((4, 6), np.uint8)
    mask[0, :2] = mask[3, 5] = 1
    masks = [mask, np.zeros((4, 6), np.uint8)]
    scores = score_probabilities([first, second], masks, [0.35, 0.5, 0.7])
    keys = ["precision", "recall", "f1", "iou", "accuracy", "tp", "fp", "fn", "tn", "objects_detected",
            "objects_missed", "false_alarm_objects", "images", "landslide_free_images",
            "landslide_free_images_with_detections", "threshold", "overlap", "window"]  # the campaign log's columns
    assert all(list(s) == keys for s in scores.values())
    values = {t: [s[k] for k in keys[:15]] for t, s in scores.items()}
    assert values[0.35] == [0.5, 0.6667, 0.5714, 0.4, 0.9375, 2, 2, 1, 43, 1, 1, 2, 2, 1, 1]
    assert values[0.5] == [0.3333, 0.3333, 0.3333, 0.2, 0.9167, 1, 2, 2, 43, 1, 1, 2, 2, 1, 1]
    assert values[0.7] == [1.0, 0.3333, 0.5, 0.3333, 0.9583, 1, 0, 2, 45, 1, 1, 0, 2, 1, 0]
    assert best_threshold_of([first, second], masks, (0.35, 0.5, 0.7)) == (0.35, scores[0.35])


def test_validation_mosaic_packs_every_image_once_and_cuts_it_back():
    from landslide_mapper.training.evaluate import ValidationMosaic

    samples = blob_samples(7, 7) + blob_samples(3, 8, landslides=False)
    mosaic = ValidationMosaic.of(samples, width=600)
    assert mosaic.scene.mask.shape[1] <= 600 + 260 and mosaic.scene.mask.shape[0] > 260  # several shelves
    for sample, red, mask in zip(samples, mosaic.cut(mosaic.scene.sources["red"]), mosaic.masks()):
        np.testing.assert_array_equal(red, sample.sources["red"])
        np.testing.assert_array_equal(mask, sample.mask)
    assert mosaic.scene.mask.sum() == sum(int(s.mask.sum()) for s in samples)  # no label in the leftovers
    taken = np.zeros(mosaic.scene.mask.shape, int)
    for top, left, h, w in mosaic.placements:
        taken[top:top + h, left:left + w] += 1
    assert taken.max() == 1  # no two images overlap
    guttered = ValidationMosaic.of(samples, width=600, gutter=16)
    for sample, red in zip(samples, guttered.cut(guttered.scene.sources["red"])):
        np.testing.assert_array_equal(red, sample.sources["red"])
    outside = np.ones(guttered.scene.mask.shape, bool)
    for top, left, h, w in guttered.placements:
        outside[top:top + h, left:left + w] = False
    assert np.isnan(guttered.scene.sources["red"][outside]).all()  # nodata between the images
