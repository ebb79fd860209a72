"""Tversky-based losses (the method's Eqs. 2-5) and segmentation metrics.

Tversky index  TI = (TP + s) / (TP + alpha FN + beta FP + s)   (Tversky, 1977; Salehi et al., 2017)
Tversky loss   TL = 1 - TI
Focal Tversky  FTL = (1 - TI) ** gamma                          (Abraham & Khan, 2019)
Combined       L = TL + FTL

alpha > beta weighs missed landslide pixels more than false alarms, which suits the
strong class imbalance of landslide patches; gamma < 1 focuses on hard examples.
"""

from __future__ import annotations

import keras
from keras import ops

ALPHA, BETA, GAMMA, SMOOTH = 0.7, 0.3, 0.75, 1.0


def tversky_index(y_true, y_pred, alpha=ALPHA, beta=BETA, smooth=SMOOTH):
    y_true = ops.cast(y_true, y_pred.dtype)
    tp = ops.sum(y_true * y_pred)
    fn = ops.sum(y_true * (1.0 - y_pred))
    fp = ops.sum((1.0 - y_true) * y_pred)
    return (tp + smooth) / (tp + alpha * fn + beta * fp + smooth)


def tversky_loss(y_true, y_pred, alpha=ALPHA, beta=BETA):
    return 1.0 - tversky_index(y_true, y_pred, alpha, beta)


def focal_tversky_loss(y_true, y_pred, alpha=ALPHA, beta=BETA, gamma=GAMMA):
    return ops.power(tversky_loss(y_true, y_pred, alpha, beta), gamma)


@keras.saving.register_keras_serializable(package="landslide_mapper")
class CombinedTverskyLoss(keras.losses.Loss):
    """Tversky loss + focal Tversky loss over the whole batch."""

    def __init__(self, alpha=ALPHA, beta=BETA, gamma=GAMMA, name="tversky_focal_tversky", **kwargs):
        super().__init__(name=name, **kwargs)
        self.alpha, self.beta, self.gamma = alpha, beta, gamma

    def call(self, y_true, y_pred):
        tl = tversky_loss(y_true, y_pred, self.alpha, self.beta)
        return tl + ops.power(tl, self.gamma)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta, "gamma": self.gamma}


@keras.saving.register_keras_serializable(package="landslide_mapper")
class ThresholdedScore(keras.metrics.Metric):
    """Precision, recall, F1, IoU or accuracy from confusion counts accumulated over an
    epoch at a fixed threshold (pixel-wise, the method's Eqs. 6-10)."""

    SCORES = ("precision", "recall", "f1", "iou", "accuracy")

    def __init__(self, score="f1", threshold=0.5, name=None, **kwargs):
        super().__init__(name=name or score, **kwargs)
        if score not in self.SCORES:
            raise ValueError(f"score must be one of {self.SCORES}")
        self.score, self.threshold = score, threshold
        self.counts = self.add_variable(shape=(4,), initializer="zeros", name="counts")

    def update_state(self, y_true, y_pred, sample_weight=None):
        t = ops.cast(y_true > 0.5, "float32")
        p = ops.cast(y_pred >= self.threshold, "float32")
        tp, fp = ops.sum(t * p), ops.sum((1 - t) * p)
        fn, tn = ops.sum(t * (1 - p)), ops.sum((1 - t) * (1 - p))
        self.counts.assign_add(ops.stack([tp, fp, fn, tn]))

    def result(self):
        tp, fp, fn, tn = (self.counts[i] for i in range(4))
        eps = keras.config.epsilon()
        if self.score == "precision":
            return tp / (tp + fp + eps)
        if self.score == "recall":
            return tp / (tp + fn + eps)
        if self.score == "f1":
            return 2 * tp / (2 * tp + fp + fn + eps)
        if self.score == "iou":
            return tp / (tp + fp + fn + eps)
        return (tp + tn) / (tp + fp + fn + tn + eps)

    def reset_state(self):
        self.counts.assign(ops.zeros((4,)))

    def get_config(self):
        return {**super().get_config(), "score": self.score, "threshold": self.threshold}


def segmentation_metrics(threshold=0.5):
    return [ThresholdedScore(s, threshold) for s in ThresholdedScore.SCORES]


# --- Losses of the step-based recipe (training/campaign.py), by name -------------------
# Each maps (y_true, y_pred) of shape (N, H, W, 1) to a scalar. "Per image" sums over
# each window and averages the windows, so a small scar counts as much as a big one and
# an empty window's false alarms are not diluted by its neighbours' landslides.

def _sums(values, per_image: bool):
    return ops.sum(values, axis=(1, 2, 3)) if per_image else ops.sum(values)


def soft_dice_loss(y_true, y_pred, per_image: bool = False, smooth: float = SMOOTH):
    y_true = ops.cast(y_true, y_pred.dtype)
    intersection = _sums(y_true * y_pred, per_image)
    total = _sums(y_true, per_image) + _sums(y_pred, per_image)
    return ops.mean(1.0 - (2.0 * intersection + smooth) / (total + smooth))


def tversky_focal_loss(y_true, y_pred, alpha=ALPHA, beta=BETA, gamma=GAMMA, per_image: bool = False):
    """Tversky + focal Tversky; the paper's recipe is alpha 0.7, beta 0.3 over the batch."""
    y_true = ops.cast(y_true, y_pred.dtype)
    tp = _sums(y_true * y_pred, per_image)
    fn = _sums(y_true * (1.0 - y_pred), per_image)
    fp = _sums((1.0 - y_true) * y_pred, per_image)
    tl = 1.0 - (tp + SMOOTH) / (tp + alpha * fn + beta * fp + SMOOTH)
    return ops.mean(tl + ops.power(tl, gamma))


def binary_crossentropy(y_true, y_pred):
    y_true = ops.cast(y_true, y_pred.dtype)
    p = ops.clip(y_pred, 1e-6, 1.0 - 1e-6)
    return ops.mean(-(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p)))


def lovasz_hinge(y_true, y_pred):
    """The Lovász hinge (Berman et al., CVPR 2018), image by image: a convex surrogate of
    each image's IoU loss on the probabilities' logits, which weighs a pixel by what it
    does to the whole object's overlap rather than by itself: it rewards getting whole
    landslides (recall of objects) where per-pixel losses settle for their cores."""
    y_true = ops.cast(y_true, y_pred.dtype)
    p = ops.clip(y_pred, 1e-6, 1.0 - 1e-6)
    batch = ops.shape(y_pred)[0]
    logits = ops.reshape(ops.log(p) - ops.log(1.0 - p), (batch, -1))
    labels = ops.reshape(y_true, (batch, -1))
    errors = 1.0 - logits * (2.0 * labels - 1.0)
    order = ops.argsort(-errors, axis=1)
    errors_sorted = ops.take_along_axis(errors, order, axis=1)
    labels_sorted = ops.take_along_axis(labels, order, axis=1)
    positives = ops.sum(labels_sorted, axis=1, keepdims=True)
    intersection = positives - ops.cumsum(labels_sorted, axis=1)
    union = positives + ops.cumsum(1.0 - labels_sorted, axis=1)
    jaccard = 1.0 - intersection / union
    gradient = ops.concatenate([jaccard[:, :1], jaccard[:, 1:] - jaccard[:, :-1]], axis=1)
    return ops.mean(ops.sum(ops.relu(errors_sorted) * gradient, axis=1))


MAP_LOSSES = {
    # the method's loss: misses cost 2.3x false alarms, summed over the batch
    "paper": lambda y, p: tversky_focal_loss(y, p, ALPHA, BETA, GAMMA, per_image=False),
    # balanced alternatives
    "bce_dice": lambda y, p: binary_crossentropy(y, p) + soft_dice_loss(y, p, per_image=False),
    "bce_dice_image": lambda y, p: binary_crossentropy(y, p) + soft_dice_loss(y, p, per_image=True),
    "tversky_balanced": lambda y, p: tversky_focal_loss(y, p, 0.5, 0.5, GAMMA, per_image=True),
    # for fine-tuning a bce_dice model towards whole objects (the Lovász paper's own schedule)
    "bce_lovasz": lambda y, p: binary_crossentropy(y, p) + lovasz_hinge(y, p),
}
