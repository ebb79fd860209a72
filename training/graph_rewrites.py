"""Exact rewrites of exported prediction graphs that make them cheaper to run.

The U-Nets upsample with ``Conv2DTranspose(kernel 2, stride 2)``. tf2onnx exports each as
``ConvTranspose -> Slice -> Pad`` (the slice and the pad reconcile Keras' output shape
with a dynamic input and change nothing here), and ONNX Runtime quantizes none of the
three: the INT8 graph runs them in float between a dequantize and a quantize, a quarter
of its time. A 2x2, stride-2 transposed convolution never overlaps its outputs, so it is
exactly a 1x1 convolution to four times the channels followed by ``DepthToSpace``:

    out[o, 2i + a, 2j + b] = bias[o] + sum_c x[c, i, j] * W[c, o, a, b]
                          = conv1x1(x, W')[4o + 2a + b, i, j]     (DepthToSpace, CRD order)

which ONNX Runtime quantizes and runs as one QLinearConv.
"""

from __future__ import annotations

import numpy as np


def _attribute(node, name, default=None):
    from onnx import helper

    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    return default


def _is_plain_upsampling(node) -> bool:
    """A ConvTranspose that never overlaps its outputs and pads nothing: kernel == stride == 2."""
    return (node.op_type == "ConvTranspose" and list(_attribute(node, "kernel_shape", [])) == [2, 2]
            and list(_attribute(node, "strides", [1, 1])) == [2, 2]
            and list(_attribute(node, "dilations", [1, 1])) == [1, 1]
            and _attribute(node, "group", 1) == 1 and not any(_attribute(node, "pads", []))
            and not any(_attribute(node, "output_padding", [])) and _attribute(node, "output_shape") is None
            and _attribute(node, "auto_pad", b"NOTSET") in (b"NOTSET", b"VALID"))


def _only_consumer(graph, tensor: str, op_type: str):
    consumers = [n for n in graph.node if tensor in n.input]
    return consumers[0] if len(consumers) == 1 and consumers[0].op_type == op_type else None


def _reshape_chain_end(graph, node) -> str:
    """The tensor the upsampling's value ends in: past tf2onnx's shape-reconciling Slice and
    Pad when they follow it (each the only consumer of what it reads), else its own output."""
    end = node.output[0]
    consumers = [n for n in graph.node if end in n.input]
    data_consumers = [n for n in consumers if n.input[0] == end and n.op_type != "Shape"]
    if len(data_consumers) == 1 and data_consumers[0].op_type == "Slice":
        sliced = data_consumers[0].output[0]
        pad = _only_consumer(graph, sliced, "Pad")
        if pad is not None and pad.input[0] == sliced:
            return pad.output[0]
    return end


def _prune_dead_nodes(graph) -> None:
    """Drop nodes (and initializers) nothing reaches the graph's outputs through."""
    needed = {o.name for o in graph.output}
    kept = []
    for node in reversed(graph.node):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(i for i in node.input if i)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    initializers = [i for i in graph.initializer if i.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def upsampling_as_depth_to_space(proto) -> int:
    """Rewrite, in place, every 2x2 stride-2 ConvTranspose of ``proto`` (and tf2onnx's Slice
    and Pad after it) as a 1x1 Conv and a DepthToSpace; returns how many were rewritten.
    The graph computes the same values (up to float rounding)."""
    from onnx import helper, numpy_helper

    graph = proto.graph
    initializers = {i.name: i for i in graph.initializer}
    rewritten = 0
    for node in list(graph.node):
        if not _is_plain_upsampling(node) or node.input[1] not in initializers:
            continue
        kernel = numpy_helper.to_array(initializers[node.input[1]])  # (in, out, 2, 2)
        channels_in, channels_out = kernel.shape[:2]
        # output channel 4o + 2a + b of the 1x1 convolution is (o, a, b) of the transposed one
        weights = kernel.transpose(1, 2, 3, 0).reshape(channels_out * 4, channels_in, 1, 1)
        bias = (numpy_helper.to_array(initializers[node.input[2]]) if len(node.input) > 2 and node.input[2]
                else np.zeros(channels_out, kernel.dtype))
        prefix = f"{node.name}_as_depth_to_space"
        graph.initializer.extend([numpy_helper.from_array(np.ascontiguousarray(weights), f"{prefix}_W"),
                                  numpy_helper.from_array(np.repeat(bias, 4).astype(kernel.dtype), f"{prefix}_B")])
        end = _reshape_chain_end(graph, node)
        position = list(graph.node).index(node)
        graph.node.insert(position, helper.make_node(
            "Conv", [node.input[0], f"{prefix}_W", f"{prefix}_B"], [f"{prefix}_conv"], name=f"{prefix}_conv",
            kernel_shape=[1, 1]))
        graph.node.insert(position + 1, helper.make_node(
            "DepthToSpace", [f"{prefix}_conv"], [end], name=prefix, blocksize=2, mode="CRD"))
        graph.node.remove(node)
        if end != node.output[0]:  # the Pad now made by DepthToSpace; its Slice is left dead
            graph.node.remove(next(n for n in graph.node if end in n.output and n.op_type == "Pad"))
        rewritten += 1
    if rewritten:
        _prune_dead_nodes(graph)
    return rewritten


def largest_difference(before, after, size: int = 64, seed: int = 0) -> float:
    """The largest absolute difference between two graphs' first outputs on a batch of two
    random inputs (their free spatial dimensions ``size``): a rewrite's check where no
    TensorFlow model is at hand to check it against."""
    import onnxruntime as ort

    sessions = [ort.InferenceSession(p.SerializeToString(), providers=["CPUExecutionProvider"]) for p in (before, after)]
    first = sessions[0].get_inputs()[0]
    shape = [d if isinstance(d, int) else (2 if i == 0 else size) for i, d in enumerate(first.shape)]
    feed = {first.name: np.random.default_rng(seed).normal(size=shape).astype(np.float32)}
    outputs = [s.run(None, feed)[0] for s in sessions]
    if outputs[0].shape != outputs[1].shape:
        return float("inf")
    return float(np.abs(outputs[0] - outputs[1]).max())
