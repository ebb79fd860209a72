"""INT8 variants of exported models: ONNX Runtime static quantization (QDQ, per-channel
weights) calibrated on real patches, with the spec carried over.

The variant is kept beside its model as ``<name>_int8.onnx``; Detect's ``PRECISION=int8``
picks it. Whether it is worth shipping is the quality benchmark's call (F1 within 0.01,
at least 1.5x faster), not this module's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..core.model.catalog import variant
from ..core.model.spec import METADATA_KEY
from .datasets import Dataset, as_dataset, facts


def calibration_windows(spec, dataset: Dataset, count: int = 64, seed: int = 0) -> np.ndarray:
    """Normalized NHWC windows from the dataset's training images (never test images), as
    the engine would feed them: one per image, half with landslide pixels, half without.
    The training images are those of the paper's split (validation share 0.3), whatever
    the model's own: any split keeps the test images out."""
    from .calibrate import PAPER_VAL_SHARE, model_windows

    train_ids = dataset.split(PAPER_VAL_SHARE, spec.extra.get("training", {}).get("seed", 42)).train
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(train_ids), size=min(len(train_ids), count * 2), replace=False)
    return model_windows(spec, dataset.samples([train_ids[i] for i in sorted(chosen)]), count,
                         landslide_windows=count // 2)


def quantize(model_path: str | Path, dataset: Dataset | str | Path, out_path: str | Path | None = None,
             count: int = 64) -> Path:
    """``<name>_int8.onnx`` beside the model, calibrated on ``count`` windows of the
    dataset's training images (a dataset object, or its folder)."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from ..core.model.onnx_model import OnnxModel

    source = Path(model_path)
    out = Path(out_path) if out_path else variant(source, "int8")
    spec = OnnxModel(source).spec
    dataset = as_dataset(dataset)
    windows = calibration_windows(spec, dataset, count)
    input_name = onnx.load(str(source), load_external_data=False).graph.input[0].name

    class Windows(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(windows[i : i + 8] for i in range(0, len(windows), 8))

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {input_name: batch}

    prepared = out.with_name(out.stem + ".prepared.onnx")
    try:
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(out), Windows(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    finally:
        prepared.unlink(missing_ok=True)
    model = onnx.load(str(out))
    stored = {p.key: p.value for p in model.metadata_props}
    spec_dict = {**spec.to_dict(), "precision": "int8",
                 "quantization": {"method": "ONNX Runtime static QDQ, per-channel int8 weights, uint8 activations",
                                  "calibration_windows": len(windows), "calibration_data": f"{facts(dataset.provenance()).title} training images"}}
    stored[METADATA_KEY] = json.dumps(spec_dict, sort_keys=True)
    onnx.helper.set_model_props(model, stored)
    onnx.save(model, str(out))
    return out
