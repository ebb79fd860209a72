"""tf2onnx handlers for the TensorFlow gradient ops a saliency graph contains.

tf2onnx 1.17 converts forward graphs but lacks these five; each is expressed here with
plain ONNX ops, exactly for the cases our U-Nets produce (2x2/stride-2 max-pooling).
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto
from tf2onnx import utils
from tf2onnx.handler import tf_op


def _const(ctx, name, value):
    return ctx.make_const(utils.make_name(name), np.array(value, dtype=np.float32)).output[0]


@tf_op("ReluGrad")
class ReluGrad:
    """ReluGrad(dy, features) = dy * (features > 0)."""

    @classmethod
    def version_1(cls, ctx, node, **kwargs):
        dy, features = node.input
        positive = ctx.make_node("Greater", [features, _const(ctx, "zero", 0.0)]).output[0]
        gate = ctx.make_node("Cast", [positive], attr={"to": TensorProto.FLOAT}).output[0]
        node.type = "Mul"
        ctx.replace_inputs(node, [dy, gate])


@tf_op("SigmoidGrad")
class SigmoidGrad:
    """SigmoidGrad(y, dy) = dy * y * (1 - y)."""

    @classmethod
    def version_1(cls, ctx, node, **kwargs):
        y, dy = node.input
        one_minus = ctx.make_node("Sub", [_const(ctx, "one", 1.0), y]).output[0]
        local = ctx.make_node("Mul", [y, one_minus]).output[0]
        node.type = "Mul"
        ctx.replace_inputs(node, [dy, local])


@tf_op("MaxPoolGrad")
class MaxPoolGrad:
    """Gradient of 2x2, stride-2 max-pooling (NHWC): each incoming gradient goes to the
    position of its block's maximum, the first one when several pixels tie, as in
    TensorFlow. ONNX has that exact pair: MaxPool's indices output and MaxUnpool."""

    @classmethod
    def version_11(cls, ctx, node, **kwargs):
        ksize = node.get_attr_value("ksize")
        strides = node.get_attr_value("strides")
        if list(ksize) != [1, 2, 2, 1] or list(strides) != [1, 2, 2, 1]:
            raise ValueError(f"MaxPoolGrad: only 2x2/stride-2 NHWC pooling is supported, got {ksize} {strides}")
        original, _pooled, grad = node.input

        def nchw(name):
            return ctx.make_node("Transpose", [name], attr={"perm": [0, 3, 1, 2]}).output[0]

        original_nchw = nchw(original)
        pool = ctx.make_node("MaxPool", [original_nchw], attr={"kernel_shape": [2, 2], "strides": [2, 2]},
                             output_count=2)
        shape = ctx.make_node("Shape", [original_nchw]).output[0]
        unpooled = ctx.make_node("MaxUnpool", [nchw(grad), pool.output[1], shape],
                                 attr={"kernel_shape": [2, 2], "strides": [2, 2]}).output[0]
        result = ctx.make_node("Transpose", [unpooled], attr={"perm": [0, 2, 3, 1]}).output[0]
        ctx.replace_all_inputs(node.output[0], result)
        ctx.remove_node(node.name)


@tf_op("ShapeN")
class ShapeN:
    """ShapeN(x1..xn) = Shape(x1)..Shape(xn), cast to TF's out_type."""

    @classmethod
    def version_1(cls, ctx, node, **kwargs):
        out_type = node.get_attr_value("out_type", TensorProto.INT32)
        for inp, out in zip(list(node.input), list(node.output)):
            shape = ctx.make_node("Shape", [inp]).output[0]
            if out_type != TensorProto.INT64:
                shape = ctx.make_node("Cast", [shape], attr={"to": out_type}).output[0]
            ctx.replace_all_inputs(out, shape)
        ctx.remove_node(node.name)


@tf_op("BiasAddGrad")
class BiasAddGrad:
    """BiasAddGrad(dy) = dy summed over every axis but the channel axis. The attention
    MLPs of the channel-attention U-Net produce it: their bias-add sits on the path from
    the input to the prediction, so its gradient is a real activation gradient."""

    @classmethod
    def version_13(cls, ctx, node, **kwargs):
        (dy,) = node.input
        rank = ctx.get_rank(dy)
        if rank is None:
            raise ValueError("BiasAddGrad: the gradient's rank must be known (export with a static shape)")
        channel_axis = 1 if node.get_attr_value("data_format", b"NHWC") in (b"NCHW", "NCHW") else rank - 1
        axes = ctx.make_const(utils.make_name("axes"),
                              np.array([a for a in range(rank) if a != channel_axis], dtype=np.int64)).output[0]
        node.type = "ReduceSum"
        ctx.replace_inputs(node, [dy, axes])
        node.set_attr("keepdims", 0)
        for attr in ("data_format", "T"):
            if attr in node.attr:
                del node.attr[attr]
