"""A full-size 4-level U-Net (32 base filters, the method's size) as ONNX, built with
onnx.helper and seeded random weights: a model with the real architecture's cost, for
benchmarks that must not depend on a trained model being present."""

from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build_unet(path, bands=("red", "green", "blue", "brightness"), base_filters=32, seed=0,
               head_bias: float = -0.5) -> str:
    """``head_bias`` shifts the final logits: random weights otherwise call half the
    pixels landslides, a salt-and-pepper mask no real scene has (millions of polygons)."""
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    counter = iter(range(10_000))

    def weight(shape):
        name = f"w{next(counter)}"
        fan_in = int(np.prod(shape[1:]))
        inits.append(numpy_helper.from_array(rng.normal(0, np.sqrt(2 / fan_in), shape).astype(np.float32), name))
        return name

    def bias(n, value=0.0):
        name = f"b{next(counter)}"
        inits.append(numpy_helper.from_array(np.full(n, value, np.float32), name))
        return name

    def conv(x, c_in, c_out, k=3, act="Relu", shift=0.0):
        y = f"t{next(counter)}"
        nodes.append(helper.make_node("Conv", [x, weight((c_out, c_in, k, k)), bias(c_out, shift)], [y],
                                      pads=[k // 2] * 4))
        if act:
            z = f"t{next(counter)}"
            nodes.append(helper.make_node(act, [y], [z]))
            return z
        return y

    def block(x, c_in, c_out):
        return conv(conv(x, c_in, c_out), c_out, c_out)

    n = len(bands)
    nodes.append(helper.make_node("Transpose", ["input"], ["x"], perm=[0, 3, 1, 2]))
    x, c, skips = "x", n, []
    for level in range(4):
        f = base_filters * 2**level
        x = block(x, c, f)
        skips.append((x, f))
        pooled = f"t{next(counter)}"
        nodes.append(helper.make_node("MaxPool", [x], [pooled], kernel_shape=[2, 2], strides=[2, 2]))
        x, c = pooled, f
    x, c = block(x, c, base_filters * 16), base_filters * 16
    for skip, f in reversed(skips):
        up = f"t{next(counter)}"
        nodes.append(helper.make_node("ConvTranspose", [x, weight((c, f, 2, 2)), bias(f)], [up], strides=[2, 2]))
        cat = f"t{next(counter)}"
        nodes.append(helper.make_node("Concat", [up, skip], [cat], axis=1))
        x, c = block(cat, 2 * f, f), f
    logits = conv(x, c, 1, k=1, act="Sigmoid", shift=head_bias)
    nodes.append(helper.make_node("Transpose", [logits], ["probability"], perm=[0, 2, 3, 1]))
    graph = helper.make_graph(
        nodes, "unet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", "H", "W", n])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["N", "H", "W", 1])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    spec = {
        "spec_version": 1, "name": "benchmark-unet-random-weights", "architecture": "unet",
        "bands": list(bands), "normalization": {"mean": [100.0] * n, "std": [50.0] * n},
        "patch_size": 128, "size_multiple": 16, "threshold": 0.5, "output": "landslide_probability",
    }
    helper.set_model_props(model, {"landslide_mapper": json.dumps(spec)})
    onnx.save(model, str(path))
    return str(path)
