"""training/losses.py: the Tversky, Lovász and balanced losses and the thresholded scores, by hand."""

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from landslide_mapper.training.losses import CombinedTverskyLoss, ThresholdedScore, tversky_index  # noqa: E402

pytestmark = pytest.mark.slow


def test_tversky_index_and_combined_loss_by_hand():
    y = np.array([1, 1, 0, 0], np.float32)
    p = np.array([1.0, 0.5, 0.5, 0.0], np.float32)
    tp, fn, fp = 1.5, 0.5, 0.5
    ti = (tp + 1) / (tp + 0.7 * fn + 0.3 * fp + 1)
    assert float(tversky_index(y, p)) == pytest.approx(ti, rel=1e-6)
    loss = float(CombinedTverskyLoss()(y[None], p[None]))
    assert loss == pytest.approx((1 - ti) + (1 - ti) ** 0.75, rel=1e-5)


def test_thresholded_scores_by_hand():
    y = np.array([[1, 1, 1, 0, 0, 0, 0, 0]], np.float32)
    p = np.array([[0.9, 0.6, 0.2, 0.7, 0.1, 0.1, 0.1, 0.1]], np.float32)  # TP 2, FN 1, FP 1, TN 4
    expected = {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "iou": 0.5, "accuracy": 6 / 8}
    for score, value in expected.items():
        metric = ThresholdedScore(score)
        metric.update_state(y, p)
        assert float(metric.result()) == pytest.approx(value, abs=1e-5), score


def test_lovasz_hinge_matches_its_definition_image_by_image():
    """Against a direct NumPy reading of Berman et al.'s Algorithm 1, per image; zero for a
    confident, right map; an empty image pays for its worst false alarm."""
    from landslide_mapper.training.losses import lovasz_hinge

    def by_hand(labels, probabilities):
        logits = np.log(probabilities) - np.log(1 - probabilities)
        errors = 1 - logits * (2 * labels - 1)
        order = np.argsort(-errors, kind="stable")
        e, g = errors[order], labels[order]
        jaccard = 1 - (g.sum() - np.cumsum(g)) / (g.sum() + np.cumsum(1 - g))
        return np.sum(np.maximum(e, 0) * np.diff(jaccard, prepend=0.0))

    rng = np.random.default_rng(4)
    y = (rng.random((3, 8, 8, 1)) < 0.3).astype(np.float32)
    y[2] = 0  # a landslide-free window
    p = rng.uniform(0.05, 0.95, y.shape).astype(np.float32)
    expected = np.mean([by_hand(y[i].ravel(), p[i].ravel().astype(np.float64)) for i in range(3)])
    assert float(lovasz_hinge(y, p)) == pytest.approx(expected, rel=1e-4)
    confident = np.where(y == 1, 0.999, 0.001).astype(np.float32)
    assert float(lovasz_hinge(y, confident)) == pytest.approx(0.0, abs=1e-6)
    assert float(lovasz_hinge(y[2:], p[2:])) == pytest.approx(1 + np.log(p[2].max() / (1 - p[2].max())), rel=1e-4)


def test_balanced_losses_by_hand():
    from landslide_mapper.training.losses import MAP_LOSSES

    y = np.array([1, 1, 0, 0], np.float32).reshape(1, 2, 2, 1)
    p = np.array([0.9, 0.6, 0.3, 0.0], np.float32).reshape(1, 2, 2, 1)
    bce = -np.mean([np.log(0.9), np.log(0.6), np.log(0.7), np.log(1 - 1e-6)])
    dice = 1 - (2 * 1.5 + 1) / (2 + 1.8 + 1)
    assert float(MAP_LOSSES["bce_dice"](y, p)) == pytest.approx(bce + dice, rel=1e-4)
    # per image: an empty image's false alarm counts in full, not diluted by a landslide image
    y2 = np.concatenate([y, np.zeros_like(y)])
    p2 = np.concatenate([p, np.full_like(p, 0.5)])
    assert float(MAP_LOSSES["bce_dice_image"](y2, p2)) > float(MAP_LOSSES["bce_dice"](y2, p2))
    tp, fn, fp = 1.5, 0.5, 0.3
    ti = (tp + 1) / (tp + 0.7 * fn + 0.3 * fp + 1)
    assert float(MAP_LOSSES["paper"](y, p)) == pytest.approx((1 - ti) + (1 - ti) ** 0.75, rel=1e-5)
