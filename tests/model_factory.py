"""Small, real ONNX segmentation models for the tests, built with onnx.helper.

They are genuine fully convolutional networks run by ONNX Runtime — just tiny and with
fixed weights — so they pin the engine without a trained model.
"""

from __future__ import annotations

import json
import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

METADATA_KEY = "landslide_mapper"


def default_spec(**overrides) -> dict:
    spec = {
        "spec_version": 1,
        "name": "test-convnet",
        "architecture": "test_convnet",
        "bands": ["red", "green", "blue", "brightness"],
        "normalization": {"mean": [100.0] * 4, "std": [50.0] * 4},
        "patch_size": 64,
        "size_multiple": 16,
        "threshold": 0.5,
        "output": "landslide_probability",
        "version": "0.0.1",
    }
    spec.update(overrides)
    return spec


def area_filter(cut_area_m2: float) -> dict:
    """A filter that keeps objects larger than ``cut_area_m2`` (score 0.5 exactly there)."""
    return {"features": ["log10_area_m2", "mean_prob", "max_prob", "compactness"],
            "mean": [math.log10(cut_area_m2), 0, 0, 0], "std": [0.1, 1, 1, 1], "weights": [1.0, 0, 0, 0],
            "bias": 0.0, "cut": 0.5, "note": "test: by area alone"}


def conv_net(n_bands: int, seed: int = 0, hidden: int = 4, brightness_band: int | None = None):
    """Weights of a two-layer 3x3 conv net (receptive field 5x5).

    With ``brightness_band`` set, the net responds mostly to that band so bright bare
    patches (the scene's landslides) come out with high probability.
    """
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 0.3, (hidden, n_bands, 3, 3)).astype(np.float32)
    b1 = rng.normal(0, 0.1, hidden).astype(np.float32)
    w2 = rng.normal(0, 0.3, (1, hidden, 3, 3)).astype(np.float32)
    b2 = np.zeros(1, np.float32)
    if brightness_band is not None:
        w1[:] = 0.0
        w1[0, brightness_band, 1, 1] = 1.0
        b1[:] = 0.0
        w2[:] = 0.0
        w2[0, 0] = 4.0 / 9.0
        b2[:] = -4.0
    return w1, b1, w2, b2


def build_model(path, spec: dict | None = None, layout: str = "NHWC", seed: int = 0,
                brightness_band: int | None = None, include_spec: bool = True,
                spec_layout: bool = False) -> str:
    """Write a conv net ONNX model for ``spec`` to ``path``; returns the path."""
    spec = default_spec() if spec is None else spec
    n = len(spec["bands"])
    w1, b1, w2, b2 = conv_net(n, seed, brightness_band=brightness_band)
    inits = [numpy_helper.from_array(a, name) for a, name in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))]
    nodes = []
    if layout == "NHWC":
        inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", "H", "W", n])
        nodes.append(helper.make_node("Transpose", ["input"], ["x"], perm=[0, 3, 1, 2]))
        src = "x"
    else:
        inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", n, "H", "W"])
        src = "input"
    nodes += [
        helper.make_node("Conv", [src, "w1", "b1"], ["h1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["h1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["h2"], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["h2"], ["p"]),
    ]
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", ["p"], ["probability"], perm=[0, 2, 3, 1]))
        out = helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["N", "H", "W", 1])
    else:
        nodes.append(helper.make_node("Identity", ["p"], ["probability"]))
        out = helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["N", 1, "H", "W"])
    graph = helper.make_graph(nodes, "convnet", [inp], [out], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if include_spec:
        stored = dict(spec, layout=layout) if spec_layout else spec
        helper.set_model_props(model, {METADATA_KEY: json.dumps(stored)})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


def reference_forward(stack_nchw: np.ndarray, spec: dict, seed: int = 0, brightness_band=None) -> np.ndarray:
    """The same network in NumPy (zero padding, like ONNX), for (N, C, H, W) input."""
    w1, b1, w2, b2 = conv_net(stack_nchw.shape[1], seed, brightness_band=brightness_band)

    def conv(x, w, b):
        n, c, h, wd = x.shape
        xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        out = np.zeros((n, w.shape[0], h, wd), np.float32) + b[None, :, None, None]
        for dy in range(3):
            for dx in range(3):
                out += np.einsum("nchw,oc->nohw", xp[:, :, dy:dy + h, dx:dx + wd], w[:, :, dy, dx])
        return out

    h = np.maximum(conv(stack_nchw, w1, b1), 0)
    return (1 / (1 + np.exp(-conv(h, w2, b2))))[:, 0]


# a model that measures a ground quantity: the brightness gradient across one pixel
SLOPE_GAIN, GRADIENT_AT_HALF = 4.0, 1.5  # probability = sigmoid(4 * (gradient per pixel - 1.5))


def gradient_model(path, resolution_m: float) -> str:
    """probability = sigmoid(4 * (d red / d column - 1.5)), red unnormalized; trained at ``resolution_m``."""
    spec = default_spec(name="ramp-gradient", normalization={"mean": [0.0] * 4, "std": [1.0] * 4},
                        resolution_m=resolution_m, threshold=0.5)
    kernel = np.zeros((1, 4, 3, 3), np.float32)
    kernel[0, 0, 1, 0], kernel[0, 0, 1, 2] = -0.5 * SLOPE_GAIN, 0.5 * SLOPE_GAIN  # central difference on red
    bias = np.array([-SLOPE_GAIN * GRADIENT_AT_HALF], np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w", "b"], ["z"], pads=[1, 1, 1, 1]),
         helper.make_node("Sigmoid", ["z"], ["probability"])],
        "ramp", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4, "H", "W"])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["N", 1, "H", "W"])],
        initializer=[numpy_helper.from_array(kernel, "w"), numpy_helper.from_array(bias, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {METADATA_KEY: json.dumps(spec)})
    onnx.save(model, str(path))
    return str(path)
