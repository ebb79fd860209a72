"""What the engine needs of a model, beside :class:`core.io.readers.RasterReader`."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from .spec import ModelSpec


class Model(Protocol):
    """Anything that maps normalized windows to per-pixel values: an ONNX model, an
    ensemble of them (:mod:`.ensemble`), the occlusion wrapper of a model without a
    saliency graph (:mod:`core.saliency`)."""

    spec: ModelSpec
    providers: list[str]  # the ONNX Runtime execution providers that run it
    fixed_window: int | None  # the only window size its graph takes, if it takes one only

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(N, bands, H, W) normalized input -> (N, H, W) float32 values."""
        ...
