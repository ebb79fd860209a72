"""What Detect is asked to do, as plain values, and the model(s) it runs.

The Processing algorithm, ``python -m core`` and the tiles of a split run all build a
:class:`DetectRequest`; :func:`load_model` and :func:`predictor` turn it into what runs,
the same for all of them, so every option works everywhere.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..engine.streaming import MODEL_WINDOW, WindowSettings
from ..errors import InputError
from ..imagery.recipe import InputOptions
from ..model.catalog import PRECISIONS, Precision, variant
from ..model.ensemble import ModelEnsemble, flip_averaged
from ..model.onnx_model import Device, ModelError, OnnxModel
from ..model.protocol import DetectModel

# what adapters use: Detect's options with the words they offer (the precisions are the model
# catalog's, where a precision picks the file)
__all__ = ["DEFAULT_MIN_AREA_M2", "PRECISIONS", "DetectRequest", "Precision", "load_model", "predictor"]

#: Detect's default minimum polygon area: smaller specks are noise, not landslides to map
DEFAULT_MIN_AREA_M2 = 100.0

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class DetectRequest:
    """Every Detect option as a plain value (picklable: a split run ships it to its workers)."""

    models: tuple[str, ...]  # one model file; several: their mean, an ensemble
    _: KW_ONLY  # every option by its name: a dozen positional values cannot be read at a glance
    inputs: InputOptions = field(default_factory=InputOptions)
    settings: WindowSettings = WindowSettings(MODEL_WINDOW, 32, 8)
    precision: Precision = Precision.AUTO  # its word ("int8", ...) is taken too
    class_name: str | None = None  # multi-class models: the landslide class's name or number
    threshold: float | None = None  # None: the model's own
    min_area_m2: float = DEFAULT_MIN_AREA_M2
    tta: bool = False  # average the four flips of every window
    saliency_summary: bool = False  # per-polygon saliency statistics (runs the saliency graph too)
    object_filter: bool = True  # set aside what the model's object filter scores as likely false alarms
    smooth_outlines: bool = True  # polygons without the pixel staircase (area and perimeter of the smooth shape)
    # where the model has its two stages: no decoder on windows its presence head finds empty (see core.model.cascade)
    skip_empty_windows: bool = True
    threads: int = 0  # ONNX Runtime threads; 0: one per core
    device: Device = Device.AUTO  # its word ("cpu", ...) is taken too

    def __post_init__(self):
        if not self.models:
            raise InputError("Detect needs a model file.")
        # frozen: the words a caller gives become members once, here
        object.__setattr__(self, "precision", Precision.of(self.precision))
        object.__setattr__(self, "device", Device.of(self.device))
        if self.threshold is not None and not 0 < self.threshold < 1:
            # 0 would mark every pixel a landslide, 1 or more none: an empty map without a word
            raise InputError(f"The probability threshold must be between 0 and 1, both excluded (got {self.threshold:g}): "
                             "pixels whose landslide probability reaches it are mapped. Leave it empty to use the "
                             "model's own (usually 0.5).", "threshold")

    @property
    def ensemble(self) -> bool:
        return len(self.models) > 1

    def window_settings(self, model) -> WindowSettings:
        """The windows the model runs in: the window asked for, else the model's own."""
        return self.settings.for_model(model.spec.patch_size, model.fixed_window)


def load_model(request: DetectRequest) -> DetectModel:
    """The request's model, or its ensemble (the mean of its models, at the mean of their thresholds)."""
    runtime = {"threads": request.threads, "device": request.device}
    if not request.ensemble:
        # an ensemble runs whole: a member's skipped window would pull the mean and the spread down
        runtime["skip_empty"] = request.skip_empty_windows
        path = Path(request.models[0])
        chosen = variant(path, request.precision)
        if request.precision is Precision.AUTO:
            chosen = int8 if (int8 := variant(path, Precision.INT8)).is_file() else path
        elif not chosen.is_file():
            raise ModelError(f"{path.name} has no {request.precision} variant (expected {chosen.name} beside it); "
                             "choose float32, or make one with 'python -m training quantize'.")
        return OnnxModel(chosen, class_name=request.class_name, **runtime)
    # a member without the asked precision's variant (one that failed the quality rule) runs as float32
    precision = Precision.INT8 if request.precision is Precision.AUTO else request.precision
    chosen = [v if (v := variant(Path(p), precision)).is_file() else Path(p) for p in request.models]
    return ModelEnsemble([OnnxModel(path, class_name=request.class_name, **runtime) for path in chosen])


def predictor(model: DetectModel, tta: bool, with_spread: bool) -> Predict:
    """What the engine runs on each batch: probability, or (probability, spread) for an
    ensemble's uncertainty; flip-averaged with ``tta``."""
    if with_spread and not model.gives_spread:
        raise InputError("An uncertainty raster needs an ensemble of models: turn the ensemble on, or leave the "
                         "uncertainty output out.", "uncertainty")
    predict = model.predict_with_spread if with_spread else model.predict
    return flip_averaged(predict) if tta else predict
