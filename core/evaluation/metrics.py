"""Pixel scores of a binary landslide map against a reference (the method's Eqs. 6-10)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


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
