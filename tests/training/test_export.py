"""training/export.py: both graphs of every architecture match TensorFlow, and a run's
spec says what is missing."""

import json

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from landslide_mapper.training.architectures import ARCHITECTURES, build_model  # noqa: E402

pytestmark = pytest.mark.slow


def _stored_weights(proto) -> int:
    return int(sum(np.prod(i.dims) for i in proto.graph.initializer))


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_architecture_exports_both_graphs_matching_tensorflow(architecture):
    """Both graphs of each of the four U-Nets convert (channel attention needs the
    BiasAddGrad handler) and match TensorFlow; the saliency graph stores its weights once,
    so it holds the prediction graph's weights plus one window-sized constant (the
    derivative of the window mean, 1/128² per pixel) and a few per-channel scales."""
    from landslide_mapper.training.export import (
        check_prediction,
        check_saliency,
        prediction_onnx,
        saliency_onnx,
        share_weights,
    )

    model = build_model(architecture, bands=4, base_filters=4)
    batch = np.random.default_rng(3).normal(size=(2, 128, 128, 4)).astype(np.float32)
    prediction = prediction_onnx(model, 4)
    assert check_prediction(model, prediction, batch) <= 1e-4
    # the upsampling runs as 1x1 convolutions and DepthToSpace, which INT8 quantizes
    operations = [node.op_type for node in prediction.graph.node]
    assert "ConvTranspose" not in operations and operations.count("DepthToSpace") == 4
    saliency = saliency_onnx(model, 4, 128)
    unshared = _stored_weights(saliency)
    shared = share_weights(saliency)
    bulk, _ = check_saliency(model, shared, batch)  # raises past 1 % of the peak
    assert bulk < 0.01
    assert _stored_weights(shared) <= _stored_weights(prediction) + 128 * 128 + 1024 < unshared


def test_run_spec_says_what_is_missing_and_exports_without_a_state(tmp_path):
    from landslide_mapper.training.export import run_spec

    with pytest.raises(FileNotFoundError, match="no spec.json"):
        run_spec(tmp_path)
    (tmp_path / "spec.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(FileNotFoundError, match="no best.keras"):
        run_spec(tmp_path)
    (tmp_path / "best.keras").write_bytes(b"")
    assert run_spec(tmp_path) == {"name": "x"}  # no state.json: no metrics, no KeyError
    (tmp_path / "state.json").write_text(json.dumps({"epoch": 4, "best_epoch": 3, "best_scores": {"val_f1": 0.51234},
                                                     "hardware": "2 CPU cores"}))
    metrics = run_spec(tmp_path)["metrics"]
    assert metrics["validation"] == {"f1": 0.5123} and metrics["epochs_trained"] == 4
    assert metrics["hardware"] == "2 CPU cores"
