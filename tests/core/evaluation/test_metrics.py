"""The one scorer (core/evaluation/metrics.py), on maps small enough to score by hand.

Every case below was counted on the drawings, not with the code under test: a pixel
or object rule that changes (coverage boundary, 4- vs 8-connectivity, unscored pixels,
landslide-free images) changes a number here.
"""

import numpy as np
import pytest
from landslide_mapper.core.evaluation.metrics import (
    IMAGES_KEYS,
    MAP_KEYS,
    Confusion,
    MapOutcome,
    ObjectTally,
    Scorecard,
    label_objects,
)


def drawn(*rows):
    return np.array([[c == "#" for c in row] for row in rows])


# two reference landslides: A (4 px, top left) and B (6 px, bottom right)
REFERENCE = drawn(
    "##......",
    "##......",
    "........",
    "........",
    ".....###",
    ".....###",
)
# P1 touches A by one pixel (1 of A's 4), P2 touches nothing, P3 touches B by one pixel (1 of 6)
PREDICTED = drawn(
    "........",
    ".##.....",
    "........",
    "...##...",
    "........",
    ".......#",
)
# TP (1,1) (5,7) = 2; FP (1,2) (3,3) (3,4) = 3; FN 3 of A + 5 of B = 8; TN 48 - 13 = 35


def test_pixel_scores_by_hand():
    scores = ObjectTally.of_masks(PREDICTED, REFERENCE).outcome().confusion.scores()
    assert (scores["tp"], scores["fp"], scores["fn"], scores["tn"]) == (2, 3, 8, 35)
    assert scores["precision"] == pytest.approx(2 / 5) and scores["recall"] == pytest.approx(2 / 10)
    assert scores["f1"] == pytest.approx(4 / 15)  # 2 TP / (2 TP + FP + FN)
    assert scores["iou"] == pytest.approx(2 / 13)  # TP / (TP + FP + FN)
    assert scores["accuracy"] == pytest.approx(37 / 48)


def test_nothing_to_find_and_nothing_found_scores_zero_not_nan():
    empty = np.zeros((4, 4), bool)
    scores = Scorecard().add(ObjectTally.of_masks(empty, empty).outcome()).scores()
    assert {k: scores[k] for k in ("precision", "recall", "f1", "iou")} == dict.fromkeys(
        ("precision", "recall", "f1", "iou"), 0.0)
    assert scores["accuracy"] == 1.0 and scores["tn"] == 16


@pytest.mark.parametrize("min_coverage, reference_status", [
    (0.0, ["detected", "detected"]),  # any overlap
    (0.2, ["detected", "missed"]),  # A covered 1/4, B 1/6
    (0.25, ["detected", "missed"]),  # exactly A's share: detected (at least)
    (0.3, ["missed", "missed"]),
])
def test_object_matching_by_hand(min_coverage, reference_status):
    tally = ObjectTally.of_masks(PREDICTED, REFERENCE)
    assert tally.reference_status(min_coverage) == reference_status
    assert tally.predicted_status() == ["true detection", "false alarm", "true detection"]
    outcome = tally.outcome(min_coverage)
    assert (outcome.objects_detected, outcome.objects_missed) == (
        reference_status.count("detected"), reference_status.count("missed"))
    assert (outcome.predicted_objects, outcome.false_alarm_objects) == (3, 1)


def test_objects_are_4_connected():
    """Pixels touching only at a corner are two objects (as GDAL polygonizes): two false alarms."""
    diagonal = drawn("#.", ".#")
    ids, count = label_objects(diagonal)
    assert count == 2 and ids[0, 0] != ids[1, 1]
    outcome = ObjectTally.of_masks(diagonal, np.zeros((2, 2), bool)).outcome()
    assert (outcome.predicted_objects, outcome.false_alarm_objects) == (2, 2)


def test_unscored_pixels_count_for_nothing_and_windows_add_up():
    """Column 7 not scored: P3 (all in it) is not scored, B keeps 4 scored pixels, none
    covered: missed. Counted in two windows of rows, as Evaluate does."""
    scored = np.ones(REFERENCE.shape, bool)
    scored[:, 7] = False
    predicted_ids, n_predicted = label_objects(PREDICTED)
    reference_ids, n_reference = label_objects(REFERENCE)
    tally = ObjectTally(n_predicted, n_reference)
    for rows in (slice(0, 3), slice(3, 6)):
        tally.add(predicted_ids[rows], reference_ids[rows], scored[rows])
    assert tally.confusion == Confusion(tp=1, fp=3, fn=7, tn=31)  # 42 scored pixels
    assert tally.reference_status() == ["detected", "missed"]
    assert tally.predicted_status() == ["true detection", "false alarm", "not scored"]
    assert tally.reference_scored.tolist() == [0, 4, 4] and tally.reference_covered.tolist() == [0, 1, 0]
    outcome = tally.outcome()
    assert (outcome.objects_detected, outcome.objects_missed, outcome.predicted_objects,
            outcome.false_alarm_objects) == (1, 1, 2, 1)
    assert ObjectTally.of_masks(PREDICTED, REFERENCE, scored).confusion == tally.confusion


def test_images_summed_with_landslide_free_images_with_detections():
    """The drawn image; a landslide-free one with a 2-pixel detection; a landslide-free one
    with nothing drawn."""
    free = np.zeros(REFERENCE.shape, bool)
    card = Scorecard()
    for predicted, reference in ((PREDICTED, REFERENCE), (drawn("##......", *["........"] * 5), free), (free, free)):
        card.add(ObjectTally.of_masks(predicted, reference).outcome())
    scores = card.scores(4, IMAGES_KEYS)
    assert list(scores) == list(IMAGES_KEYS)
    assert (scores["tp"], scores["fp"], scores["fn"], scores["tn"]) == (2, 5, 8, 35 + 46 + 48)
    assert (scores["precision"], scores["recall"], scores["f1"], scores["iou"]) == (0.2857, 0.2, 0.2353, 0.1333)
    assert scores["accuracy"] == 0.9097  # 131 / 144
    assert (scores["objects_detected"], scores["objects_missed"], scores["false_alarm_objects"]) == (2, 0, 2)
    assert (scores["images"], scores["landslide_free_images"], scores["landslide_free_images_with_detections"]) == (
        3, 2, 1)
    everything = card.scores(4)
    # over the images that hold landslides: the drawn image alone
    assert (everything["precision_landslide_images"], everything["recall_landslide_images"],
            everything["f1_landslide_images"], everything["iou_landslide_images"]) == (0.4, 0.2, 0.2667, 0.1538)


def test_a_map_of_counted_outcomes_sums_as_counted():
    """Outcomes need not come from arrays (Detect's kept polygons): the card adds what it is given."""
    card = Scorecard()
    card.add(MapOutcome(Confusion(10, 5, 5, 80), objects_detected=2, objects_missed=1, predicted_objects=3,
                        false_alarm_objects=1))
    card.add(MapOutcome(Confusion(0, 4, 0, 96), 0, 0, 1, 1))
    scores = card.scores(keys=MAP_KEYS)
    assert scores["precision"] == pytest.approx(10 / 19) and scores["f1"] == pytest.approx(20 / 34)
    assert (scores["objects_detected"], scores["objects_missed"], scores["false_alarm_objects"]) == (2, 1, 2)
    assert set(scores) == set(MAP_KEYS)


def test_bootstrap_intervals_cover_the_score_and_pair_a_difference():
    from landslide_mapper.core.evaluation.metrics import Confusion, MapOutcome, Scorecard, bootstrap_intervals

    rng = np.random.default_rng(0)

    def outcome(tp, fp, fn):
        return MapOutcome(Confusion(tp, fp, fn, 1000 - tp - fp - fn), 1, 0, 1, 0)

    a = [outcome(*rng.integers(20, 80, 3)) for _ in range(100)]
    better = [MapOutcome(Confusion(o.confusion.tp + 5, o.confusion.fp, o.confusion.fn - 5, o.confusion.tn), 1, 0, 1, 0)
              for o in a]
    f1 = Scorecard()
    for o in a:
        f1.add(o)
    low, high = bootstrap_intervals(a, ["f1"])["f1"]
    assert low < f1.scores()["f1"] < high and high - low > 0.01
    # the same 5 more true pixels on every image: the paired difference is sure and narrow,
    # while the two intervals side by side overlap
    change_low, change_high = bootstrap_intervals(better, ["f1"], baseline=a)["f1"]
    better_low, _ = bootstrap_intervals(better, ["f1"])["f1"]
    assert 0 < change_low < change_high < 0.1 and better_low < high
