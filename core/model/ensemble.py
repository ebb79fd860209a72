"""Combining predictions: flip test-time augmentation and a mean ensemble of models.

Both act on one batch of windows, so they plug into the streaming engine like a single
model (``predict(batch) -> probabilities``); the engine's blending is linear, so
averaging windows and then blending equals blending each member and then averaging.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from ..errors import InputError

Predict = Callable[[np.ndarray], np.ndarray]

# identity, left-right, up-down, both (the last two axes of inputs and outputs alike):
# each flip is its own inverse
FLIPS = ((), (-1,), (-2,), (-2, -1))


def flip_averaged(predict: Predict) -> Predict:
    """``predict`` averaged over the four flips of each (N, bands, H, W) window, each
    prediction ((N, H, W) or (N, channels, H, W)) flipped back first. Four times the
    inference."""

    def averaged(batch: np.ndarray) -> np.ndarray:
        total = None
        for axes in FLIPS:
            flipped = np.ascontiguousarray(np.flip(batch, axes)) if axes else batch
            out = predict(flipped)
            out = np.flip(out, axes) if axes else out
            total = out.astype(np.float32) if total is None else total + out
        return total / len(FLIPS)

    return averaged


class ModelEnsemble:
    """The members' mean probability and the members' standard deviation per pixel (a
    :class:`core.model.protocol.DetectModel`, as one model is).

    Its threshold is the mean of the members' thresholds. It carries no object filter: each
    member's was fitted on that member's own probabilities, not on the mean. Members may
    normalize differently: the batch arrives normalized as the first member's spec says, and
    is re-normalized for each other member (exact, as both are affine maps of the same raw
    bands). They must read the same bands in the same order.
    """

    def __init__(self, members: Sequence):
        if not members:
            raise InputError("An ensemble needs at least one model.")
        first = members[0].spec
        for member in members[1:]:
            if list(member.spec.bands) != list(first.bands):
                raise InputError(
                    f"The ensemble's models read different bands ({', '.join(first.bands)} vs "
                    f"{', '.join(member.spec.bands)}): choose models trained on the same bands.")
        self.members = list(members)
        self.spec = replace(first, name="mean of " + ", ".join(m.spec.name for m in self.members),
                            threshold=round(float(np.mean([m.spec.threshold for m in self.members])), 4),
                            object_filter=None)
        self.providers = members[0].providers
        self.fixed_window = None
        self.path = None  # several files: messages name the members, and no one model has a saliency graph
        self.gives_spread = True  # the members' disagreement: predict_with_spread
        # no two stages of its own: a member's skipped window would pull the mean and the spread down
        self.cascade = None
        mean0, std0 = (np.asarray(v, np.float32)[:, None, None] for v in (first.mean, first.std))
        self._renormalize = []
        for member in self.members:
            mean, std = (np.asarray(v, np.float32)[:, None, None] for v in (member.spec.mean, member.spec.std))
            # x_member = (x0 * std0 + mean0 - mean) / std  =  x0 * scale + shift
            self._renormalize.append((std0 / std, (mean0 - mean) / std))

    def member_predictions(self, batch: np.ndarray) -> np.ndarray:
        """(members, N, H, W)."""
        return np.stack([
            member.predict(batch if (scale == 1).all() and (shift == 0).all()  # no copy for the first member
                           else (batch * scale + shift).astype(np.float32))
            for member, (scale, shift) in zip(self.members, self._renormalize)
        ])

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.member_predictions(batch).mean(axis=0)

    def predict_with_spread(self, batch: np.ndarray) -> np.ndarray:
        """(N, 2, H, W): mean and standard deviation over the members."""
        stacked = self.member_predictions(batch)
        return np.stack([stacked.mean(axis=0), stacked.std(axis=0)], axis=1)
