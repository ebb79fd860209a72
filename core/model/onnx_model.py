"""An ONNX segmentation model with its spec, run through ONNX Runtime."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import UserError, WordChoice
from ..model.cascade import Cascade
from ..model.dependencies import import_onnxruntime
from ..model.interop import has_foreign_metadata, spec_from_foreign_metadata
from ..model.spec import METADATA_KEY, ModelSpec, SpecError


class ModelError(UserError, RuntimeError):
    """The model file cannot be used; the message says why in the user's terms; a
    RuntimeError too, so that an ``except RuntimeError`` written before it was a UserError still catches it."""


def read_spec(path: str | os.PathLike) -> ModelSpec:
    """The spec stored in an ONNX file's metadata, validated (no session is created)."""
    ort = import_onnxruntime()
    session = _open_session(ort, path, ort.SessionOptions())
    return spec_of(session.get_modelmeta().custom_metadata_map, session.get_inputs()[0].shape, Path(path).name)


def spec_of(metadata, input_shape, source: str, class_name: str | None = None) -> ModelSpec:
    """Our spec when the model carries one, else one made from Deepness/GeoDeep keys."""
    if METADATA_KEY not in metadata and has_foreign_metadata(metadata):
        return spec_from_foreign_metadata(metadata, input_shape, source, class_name)
    return ModelSpec.from_json(metadata.get(METADATA_KEY), source=source)


class Device(WordChoice):
    """Where a model runs. A ``str``: each member is the word Detect's DEVICE parameter and
    ``--device`` take, so those words need no translation."""

    AUTO = "auto"  # the best device this ONNX Runtime has (see providers_for)
    CUDA = "cuda"
    DIRECTML = "directml"
    COREML = "coreml"
    CPU = "cpu"

    @classmethod
    def refusal(cls, word: str) -> "ModelError":
        return ModelError(f"Unknown device '{word}': choose one of {', '.join(DEVICES)}.")


#: the words Detect's parameter and the command line offer (auto first)
DEVICES = tuple(device.value for device in Device)
#: the ONNX Runtime execution provider behind each device but auto, best first
PROVIDERS = {
    Device.CUDA: "CUDAExecutionProvider",
    Device.DIRECTML: "DmlExecutionProvider",
    Device.COREML: "CoreMLExecutionProvider",
    Device.CPU: "CPUExecutionProvider",
}
#: ONNX Runtime's threads spin, waiting for work, between runs unless told not to: Detect's
#: read-ahead thread, QGIS and other processes then lose those cores (see bench/speed.py)
ALLOW_SPINNING = False


def available_devices() -> list[str]:
    """The words of the devices (but auto) this ONNX Runtime can run on: the CPU at least, and
    only it while ONNX Runtime is missing (the choice must not fail before the message that
    says what to install)."""
    try:
        available = import_onnxruntime().get_available_providers()
    except Exception:
        return [Device.CPU.value]
    return [device.value for device, provider in PROVIDERS.items() if provider in available or device is Device.CPU]


def providers_for(device: Device | str = Device.AUTO) -> list[str]:
    """The execution providers to ask ONNX Runtime for: ``auto`` takes the best one this
    installation has (CUDA, DirectML, CoreML, else CPU); a named device must be there."""
    available = import_onnxruntime().get_available_providers()
    device = Device.of(device)
    if device is Device.AUTO:
        best = next(p for p in PROVIDERS.values() if p in available or p == "CPUExecutionProvider")
        return [best] if best == "CPUExecutionProvider" else [best, "CPUExecutionProvider"]
    wanted = PROVIDERS[device]
    if wanted not in available:
        hint = (" (install the onnxruntime-gpu package and NVIDIA's CUDA and cuDNN libraries)"
                if device is Device.CUDA else "")
        raise ModelError(f"The device '{device}' is not available to this ONNX Runtime{hint}; it offers: "
                         f"{', '.join(available)}. Choose '{Device.AUTO}' or '{Device.CPU}'.")
    return [wanted] if wanted == "CPUExecutionProvider" else [wanted, "CPUExecutionProvider"]


class OnnxModel:
    """Runs a model on batches of normalized (N, bands, H, W) float32 windows (a
    :class:`core.model.protocol.DetectModel`, as an ensemble is).

    The input layout (NHWC or NCHW) comes from the spec when it says, otherwise from
    the graph's input shape; the output is (N, H, W) landslide probability.
    """

    def __init__(self, path: str | os.PathLike | bytes, threads: int = 0, providers: list[str] | None = None,
                 output: str = "landslide_probability", device: Device | str = Device.AUTO,
                 class_name: str | None = None, name: str = "in-memory model", skip_empty: bool = False, presence_cut: float | None = None):
        """``path``: the model file, or a serialized model (``name`` then names it in messages).
        ``skip_empty``: where the model has its two stages beside it (:mod:`core.model.cascade`),
        run the decoder only on windows whose presence reaches the cut (``presence_cut``, else
        the one chosen on validation); ``self.cascade`` is then set and counts the windows."""
        ort = import_onnxruntime()
        self.path = Path(name) if isinstance(path, bytes) else Path(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: one per core
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if ALLOW_SPINNING else "0")
        self.session = _open_session(ort, path, options, providers or providers_for(device))
        metadata = self.session.get_modelmeta().custom_metadata_map
        self.spec = spec_of(metadata, self.session.get_inputs()[0].shape, self.path.name, class_name)
        if self.spec.output != output:
            raise ModelError(
                f"{self.path.name} outputs {self.spec.output.replace('_', ' ')}, not {output.replace('_', ' ')}: "
                "choose the model itself, not its companion graph."
            )
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ModelError(f"{self.path.name} has {len(inputs)} inputs; a segmentation model needs exactly one.")
        self.input_name = inputs[0].name
        self.layout = self.spec.layout or _layout_from_shape(inputs[0].shape, len(self.spec.bands), self.path.name)
        channels = inputs[0].shape[3 if self.layout == "NHWC" else 1] if len(inputs[0].shape) == 4 else None
        if isinstance(channels, int) and channels != len(self.spec.bands):
            raise _bands_contradict(self.path.name, channels, len(self.spec.bands))
        self.output_name = self.session.get_outputs()[0].name
        self.providers = self.session.get_providers()
        shape = inputs[0].shape
        spatial = shape[1:3] if self.layout == "NHWC" else shape[2:4]
        # Graphs exported with static shapes (the saliency graph) take exactly this many
        # windows of exactly this size.
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None
        self.fixed_window = spatial[0] if all(isinstance(d, int) for d in spatial) else None
        self.gives_spread = False  # one model: an uncertainty output needs an ensemble's members
        self.cascade = None
        if skip_empty and not isinstance(path, bytes) and self.fixed_batch is None:
            stage_providers = self.providers
            self.cascade = Cascade.beside(path, lambda p: _open_session(ort, p, options, stage_providers), presence_cut)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(N, bands, H, W) normalized input -> (N, H, W) float32 output (probability, or
        saliency for a saliency graph)."""
        if self.fixed_batch and len(batch) != self.fixed_batch:
            size = self.fixed_batch
            padded = np.concatenate([batch, np.zeros((-len(batch) % size, *batch.shape[1:]), batch.dtype)])
            chunks = [self.predict(padded[i : i + size]) for i in range(0, len(padded), size)]
            return np.concatenate(chunks)[: len(batch)]
        feed = np.ascontiguousarray(batch.transpose(0, 2, 3, 1)) if self.layout == "NHWC" else batch
        if self.cascade is None:
            return self._checked(self.session.run([self.output_name], {self.input_name: feed})[0], batch)
        keep, decoded = self.cascade.run(self.input_name, feed)
        out = np.zeros((batch.shape[0], *batch.shape[2:]), np.float32)
        if decoded is not None:
            out[keep] = self._checked(decoded, batch[keep])
        return out

    def _checked(self, out: np.ndarray, batch: np.ndarray) -> np.ndarray:
        """The graph's output for ``batch`` as (N, H, W) float32 landslide probability, checked."""
        if out.ndim == 4:  # one channel per class: the landslide class's (0 for our models)
            k = self.spec.class_index
            out = out[..., k] if self.layout == "NHWC" else out[:, k]
        if out.shape != (batch.shape[0], *batch.shape[2:]):
            raise ModelError(
                f"{self.path.name} returned shape {out.shape} for input {batch.shape}; "
                "expected one probability per input pixel."
            )
        if not np.isfinite(out).all():
            raise ModelError(
                f"{self.path.name} returned NaN or infinite values for valid input: the model is broken (or was "
                "exported from a diverged training run); nothing was written. Use another model file."
            )
        return out.astype(np.float32, copy=False)


def _open_session(ort, path, options, providers=None):
    """A session of a model file, or of a serialized model (bytes)."""
    in_memory = isinstance(path, bytes)
    if not in_memory and not Path(path).is_file():
        raise ModelError(f"Model file not found: {path}")
    try:
        return ort.InferenceSession(
            path if in_memory else str(path), sess_options=options, providers=providers or ["CPUExecutionProvider"]
        )
    except Exception as err:  # ORT raises its own exception types
        raise ModelError(f"{'The model' if in_memory else Path(path).name} is not a valid ONNX model: {err}") from None


def _bands_contradict(name: str, channels: int, listed: int) -> ModelError:
    return ModelError(
        f"{name}: its graph takes {channels} input band(s), but its spec lists {listed}: the spec does not "
        "describe this model; export it again or correct the spec's bands.")


def _layout_from_shape(shape, n_bands: int, name: str) -> str:
    if len(shape) != 4:
        raise ModelError(f"{name}: input must be 4-D (batch, bands, rows, cols or batch, rows, cols, bands), got {shape}.")
    fixed = [d for d in (shape[1], shape[3]) if isinstance(d, int)]
    if n_bands not in fixed and len(fixed) == 1:
        raise _bands_contradict(name, fixed[0], n_bands)
    if shape[3] == n_bands and shape[1] != n_bands:
        return "NHWC"
    if shape[1] == n_bands and shape[3] != n_bands:
        return "NCHW"
    raise SpecError(
        f"{name}: cannot tell from the graph whether the input is NHWC or NCHW (shape {shape}); "
        "add \"layout\" to its spec."
    )
