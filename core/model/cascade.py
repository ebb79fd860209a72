"""Skipping the decoder where the model finds nothing: a model in two stages.

A model with a presence head exports its probability gated by the window's presence
score: ``probability = map x presence``. Its graph split in two (see
``python -m training cascade``) runs the encoder and the presence head first
(``<model>_presence.onnx``: the score and the encoder's features) and the decoder
(``<model>_decoder.onnx``) only on windows whose score reaches the cut chosen on
validation. A skipped window contributes 0 where the whole graph would have given at most
its score, so the blended probability is never off by more than the cut; the decoder is
about two thirds of the network's work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: the presence stage's metadata key: the cut and the evidence it was chosen on
CASCADE_METADATA_KEY = "landslide_mapper_cascade"
PRESENCE_STAGE_SUFFIX, DECODER_STAGE_SUFFIX = "_presence", "_decoder"


def stage_paths(model_path: str | Path) -> tuple[Path, Path]:
    """The two stage files beside a model file (they may not exist)."""
    path = Path(model_path)
    return (path.with_name(path.stem + PRESENCE_STAGE_SUFFIX + ".onnx"),
            path.with_name(path.stem + DECODER_STAGE_SUFFIX + ".onnx"))


@dataclass
class WindowTally:
    """How many windows the cascade ran its decoder on, and how many it skipped."""

    decoded: int = 0
    skipped: int = 0

    def since(self, earlier: "WindowTally") -> "WindowTally":
        return WindowTally(self.decoded - earlier.decoded, self.skipped - earlier.skipped)

    @property
    def share_skipped(self) -> float:
        total = self.decoded + self.skipped
        return self.skipped / total if total else 0.0


class Cascade:
    """The two stages of one model; :meth:`run` takes the whole graph's input feed."""

    def __init__(self, presence_session, decoder_session, cut: float):
        self.presence_session, self.decoder_session, self.cut = presence_session, decoder_session, cut
        # the score first, then the encoder's features; the decoder reads the score too (its gate)
        self.stage_outputs = [o.name for o in presence_session.get_outputs()]
        wanted = {i.name for i in decoder_session.get_inputs()}
        if not wanted <= set(self.stage_outputs):
            raise ValueError("the decoder stage needs features the presence stage does not give")
        self.decoder_output = decoder_session.get_outputs()[0].name
        self.decoder_inputs = sorted(wanted)
        self.tally = WindowTally()

    @classmethod
    def beside(cls, model_path: str | Path, open_session, cut: float | None = None) -> "Cascade | None":
        """The stages beside ``model_path`` opened with ``open_session(path)``, or None
        where the model has none (a model without a presence head, or not split yet).
        ``cut``: this one instead of the cut chosen on validation (to choose it)."""
        presence_path, decoder_path = stage_paths(model_path)
        if not (presence_path.is_file() and decoder_path.is_file()):
            return None
        presence_session = open_session(presence_path)
        settings = presence_session.get_modelmeta().custom_metadata_map.get(CASCADE_METADATA_KEY)
        if cut is None:
            if not settings:
                return None  # split but no cut chosen on validation: run the whole graph
            cut = float(json.loads(settings)["cut"])
        return cls(presence_session, open_session(decoder_path), cut)

    def run(self, input_name: str, feed: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The windows of ``feed`` whose presence reaches the cut (their indices) and the
        whole graph's output for them (None when there are none); the others' is 0."""
        first = self.presence_session.run(None, {input_name: feed})
        keep = np.flatnonzero(first[0].reshape(len(feed)) >= self.cut)
        self.tally.decoded += len(keep)
        self.tally.skipped += len(feed) - len(keep)
        if not len(keep):
            return keep, None
        features = dict(zip(self.stage_outputs, first if len(keep) == len(feed) else (f[keep] for f in first)))
        return keep, self.decoder_session.run([self.decoder_output], {k: features[k] for k in self.decoder_inputs})[0]
