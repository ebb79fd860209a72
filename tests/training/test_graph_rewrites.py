"""training/graph_rewrites.py: a 2x2 stride-2 transposed convolution rewritten as a 1x1
convolution and DepthToSpace computes the same values, with or without tf2onnx's Slice and
Pad after it; any other transposed convolution is left alone."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from landslide_mapper.training.graph_rewrites import upsampling_as_depth_to_space

CHANNELS_IN, CHANNELS_OUT = 6, 5


def _graph(kernel: int = 2, stride: int = 2, shape_chain: bool = False, bias: bool = True):
    """x -> ConvTranspose [-> Slice -> Pad, sized from the ConvTranspose's Shape] -> Relu -> y."""
    rng = np.random.default_rng(kernel * 10 + stride)
    weights = rng.normal(size=(CHANNELS_IN, CHANNELS_OUT, kernel, kernel)).astype(np.float32)
    initializers = [numpy_helper.from_array(weights, "W")]
    inputs = ["x", "W"]
    if bias:
        initializers.append(numpy_helper.from_array(rng.normal(size=CHANNELS_OUT).astype(np.float32), "B"))
        inputs.append("B")
    nodes = [helper.make_node("ConvTranspose", inputs, ["up"], name="up", kernel_shape=[kernel, kernel],
                              strides=[stride, stride])]
    last = "up"
    if shape_chain:  # as tf2onnx writes it for a dynamic input: slice to the shape, pad by nothing
        initializers += [numpy_helper.from_array(np.array([0, 0, 0, 0], np.int64), "starts"),
                         numpy_helper.from_array(np.array([0], np.int64), "zero")]
        nodes += [helper.make_node("Shape", ["up"], ["up_shape"]),
                  helper.make_node("Slice", ["up", "starts", "up_shape"], ["sliced"]),
                  helper.make_node("Sub", ["up_shape", "up_shape"], ["no_padding"]),
                  helper.make_node("Concat", ["no_padding", "no_padding"], ["pads"], axis=0),
                  helper.make_node("Pad", ["sliced", "pads"], ["padded"])]
        last = "padded"
    nodes.append(helper.make_node("Relu", [last], ["y"]))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, CHANNELS_IN, None, None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, CHANNELS_OUT, None, None])], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model, x):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


@pytest.mark.parametrize("shape_chain", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_upsampling_rewritten_computes_the_same_values(shape_chain, bias):
    x = np.random.default_rng(0).normal(size=(2, CHANNELS_IN, 7, 9)).astype(np.float32)  # odd, non-square
    model = _graph(shape_chain=shape_chain, bias=bias)
    before = _run(model, x)
    assert upsampling_as_depth_to_space(model) == 1
    onnx.checker.check_model(model)
    operations = [node.op_type for node in model.graph.node]
    assert operations == ["Conv", "DepthToSpace", "Relu"]  # the shape chain is gone with it
    after = _run(model, x)
    assert after.shape == before.shape == (2, CHANNELS_OUT, 14, 18)
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)


def test_transposed_convolutions_that_overlap_are_left_alone():
    for kernel, stride in [(3, 2), (2, 1)]:
        model = _graph(kernel, stride)
        assert upsampling_as_depth_to_space(model) == 0
        assert [node.op_type for node in model.graph.node] == ["ConvTranspose", "Relu"]


def test_rewrite_command_upgrades_a_model_file_in_place_keeping_its_metadata(tmp_path, capsys):
    from landslide_mapper.training.cli import main

    model = _graph(shape_chain=True)
    helper.set_model_props(model, {"landslide_mapper_spec": '{"name": "old"}'})
    path = tmp_path / "old.onnx"
    onnx.save(model, str(path))
    x = np.random.default_rng(1).normal(size=(1, CHANNELS_IN, 4, 4)).astype(np.float32)
    main(["rewrite", str(path)])
    upgraded = onnx.load(str(path))
    assert [node.op_type for node in upgraded.graph.node] == ["Conv", "DepthToSpace", "Relu"]
    assert {p.key: p.value for p in upgraded.metadata_props} == {"landslide_mapper_spec": '{"name": "old"}'}
    np.testing.assert_allclose(_run(upgraded, x), _run(model, x), rtol=1e-5, atol=1e-5)
    main(["rewrite", str(path)])  # twice: nothing left to rewrite
    assert capsys.readouterr().out.splitlines()[-1].endswith("0 upsampling layers rewritten")


def test_rewrite_command_leaves_a_graph_whose_slice_and_pad_change_values_unchanged(tmp_path):
    """A Slice and Pad after the upsampling that do change its values (unlike tf2onnx's) make
    the rewrite differ from the model: the command says so and leaves the file as it was."""
    from landslide_mapper.training.cli import main

    model = _graph(shape_chain=True)
    for node in model.graph.node:  # pad one row of zeros at the bottom instead of nothing
        if node.op_type == "Concat":
            node.input[1] = "bottom_row"
    model.graph.initializer.append(numpy_helper.from_array(np.array([0, 0, 0, 0, 0, 0, 1, 0], np.int64), "one_row"))
    model.graph.node.insert(len(model.graph.node) - 2, helper.make_node("Slice", ["one_row", "four", "eight"],
                                                                        ["bottom_row"]))
    model.graph.initializer.extend([numpy_helper.from_array(np.array([4], np.int64), "four"),
                                    numpy_helper.from_array(np.array([8], np.int64), "eight")])
    del model.graph.output[0].type.tensor_type.shape.dim[:]
    path = tmp_path / "padded.onnx"
    onnx.save(model, str(path))
    original = path.read_bytes()
    with pytest.raises(SystemExit, match="left unchanged"):
        main(["rewrite", str(path)])
    assert path.read_bytes() == original
