"""A copy of a Landslide Mapper model that the Deepness and GeoDeep tools run as it is.

Those tools feed NCHW red, green, blue scaled to 0-1 and read one probability channel per
class. The copy wraps our graph: in front, the 0-255 values back, the brightness band
computed in the graph (the same formula as core.imagery.bands), our normalization and layout;
behind, (background, landslide) = (1 - p, p). Their metadata keys describe it. Our own
spec is left out: the copy's input is no longer what that spec says.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SUPPORTED_BANDS = ("red", "green", "blue", "brightness")


def interop_copy(model_path: str | Path, out_path: str | Path | None = None, overlap_percent: int = 25) -> Path:
    import onnx
    from onnx import TensorProto, compose, helper, numpy_helper

    from ..core.model.onnx_model import OnnxModel

    source = Path(model_path)
    model = OnnxModel(source)
    spec = model.spec
    unsupported = [b for b in spec.bands if b not in SUPPORTED_BANDS]
    if unsupported:
        raise ValueError(f"{source.name} reads {', '.join(unsupported)}, which Deepness and GeoDeep cannot give it "
                         "(they feed red, green and blue only).")
    inner = onnx.load(str(source))
    inner_input = inner.graph.input[0].name
    n = len(spec.bands)

    def const(name, value):
        return numpy_helper.from_array(np.asarray(value, np.float32), name)

    nodes = [
        helper.make_node("Mul", ["image", "c255"], ["rgb"]),
        helper.make_node("Split", ["rgb", "split3"], ["red", "green", "blue"], axis=1),
    ]
    if "brightness" in spec.bands:  # sqrt((R² + G² + B²) / 3), as core.imagery.bands.brightness_index
        nodes += [
            helper.make_node("Mul", ["rgb", "rgb"], ["squares"]),
            helper.make_node("ReduceMean", ["squares"], ["mean_square"], axes=[1], keepdims=1),
            helper.make_node("Sqrt", ["mean_square"], ["brightness"]),
        ]
    nodes += [
        helper.make_node("Concat", list(spec.bands), ["stack"], axis=1),
        helper.make_node("Sub", ["stack", "band_mean"], ["centred"]),
        helper.make_node("Div", ["centred", "band_std"], ["normalized"]),
    ]
    if model.layout == "NHWC":
        nodes.append(helper.make_node("Transpose", ["normalized"], ["model_input"], perm=[0, 2, 3, 1]))
    else:
        nodes.append(helper.make_node("Identity", ["normalized"], ["model_input"]))
    front = helper.make_graph(
        nodes, "deepness_front",
        # a fixed tile size: both tools take their tile size from the input's shape
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, spec.patch_size, spec.patch_size])],
        [helper.make_tensor_value_info("model_input", TensorProto.FLOAT, None)],
        initializer=[const("c255", 255.0), numpy_helper.from_array(np.array([1, 1, 1], np.int64), "split3"),
                     const("band_mean", np.reshape(spec.mean, (1, n, 1, 1))),
                     const("band_std", np.reshape(spec.std, (1, n, 1, 1)))],
    )
    front_model = helper.make_model(front, opset_imports=list(inner.opset_import))
    front_model.ir_version = inner.ir_version
    merged = compose.merge_models(front_model, inner, io_map=[("model_input", inner_input)], prefix2="net_")
    probability = merged.graph.output[0].name
    back = [helper.make_node("Transpose", [probability], ["p_nchw"], perm=[0, 3, 1, 2])
            if model.layout == "NHWC" else helper.make_node("Identity", [probability], ["p_nchw"]),
            helper.make_node("Sub", ["c1", "p_nchw"], ["background"]),
            helper.make_node("Concat", ["background", "p_nchw"], ["output"], axis=1)]
    merged.graph.node.extend(back)
    merged.graph.initializer.append(const("c1", 1.0))
    del merged.graph.output[:]
    merged.graph.output.append(helper.make_tensor_value_info("output", TensorProto.FLOAT,
                                                             ["N", 2, spec.patch_size, spec.patch_size]))
    metadata = {
        "model_type": "Segmentor", "class_names": {"0": "background", "1": "landslide"},
        "tiles_size": spec.patch_size, "tile_size": spec.patch_size, "tiles_overlap": overlap_percent,
        "seg_thresh": spec.threshold, "model_name": spec.name,
    }
    if spec.resolution_m is not None:
        metadata["resolution"] = round(spec.resolution_m * 100.0, 3)  # cm per pixel
    helper.set_model_props(merged, {k: json.dumps(v) for k, v in metadata.items()})
    onnx.checker.check_model(merged)
    out = Path(out_path) if out_path else source.with_name(f"{source.stem}_deepness.onnx")
    onnx.save(merged, str(out))
    return out
