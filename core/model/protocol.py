"""What the engine needs of a model, beside :class:`core.io.readers.RasterReader`, and
what Detect needs of the model(s) it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from .cascade import Cascade
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


class DetectModel(Model, Protocol):
    """What Detect runs: one ONNX model (:class:`.onnx_model.OnnxModel`) or the mean of
    several (:class:`.ensemble.ModelEnsemble`). Detect asks what its model can do, never
    which kind it is. The object filter a model carries is its spec's (``spec.object_filter``;
    an ensemble's is None: each member's was fitted on that member's own probabilities)."""

    #: its file, or a serialized model's name, as messages name it (its saliency graph lies
    #: beside the file); None for an ensemble: several files, and no one model to explain
    path: Path | None
    #: whether :meth:`predict_with_spread` gives a spread: an ensemble's members disagree,
    #: one model has nothing to disagree with
    gives_spread: bool
    #: its two stages, which skip the decoder on windows found empty and count them (see
    #: :mod:`.cascade`); None where it runs whole, as an ensemble does
    cascade: Cascade | None

    def predict_with_spread(self, batch: np.ndarray) -> np.ndarray:
        """(N, bands, H, W) -> (N, 2, H, W): the probability and its spread; only where
        :attr:`gives_spread`."""
        ...
