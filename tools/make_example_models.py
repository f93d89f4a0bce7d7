#!/usr/bin/env python3
"""Generate the example model repository examples/models/ (Triton layout).

Hand-built ONNX graphs with seeded weights (onnx + numpy only):
  classifier: input "input" FP32 [-1,3,224,224] -> conv/relu x2 -> global average pool -> gemm
              -> "logits" FP32 [-1,10]; max_batch_size 32, dynamic batching, 2 instances.
  affine:     input "x" FP32 [-1,4] -> y = 2x + 1 -> "y" FP32 [-1,4]; exact outputs.

Run from the repository root: .venv/bin/python tools/make_example_models.py
(tools/setup-python.sh creates .venv). Output is deterministic.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "models")
OPSET = 13
IR_VERSION = 8


def save(model: onnx.ModelProto, name: str, config: str) -> None:
    onnx.checker.check_model(model)
    d = os.path.join(ROOT, name)
    os.makedirs(os.path.join(d, "1"), exist_ok=True)
    onnx.save(model, os.path.join(d, "1", "model.onnx"))
    with open(os.path.join(d, "config.pbtxt"), "w") as f:
        f.write(config)


def make_model(graph: onnx.GraphProto) -> onnx.ModelProto:
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tensorrt-node-examples")
    m.ir_version = IR_VERSION
    return m


def classifier() -> None:
    rng = np.random.default_rng(20240601)
    w1 = (rng.standard_normal((8, 3, 3, 3)) * 0.2).astype(np.float32)
    b1 = (rng.standard_normal(8) * 0.05).astype(np.float32)
    w2 = (rng.standard_normal((16, 8, 3, 3)) * 0.1).astype(np.float32)
    b2 = (rng.standard_normal(16) * 0.05).astype(np.float32)
    w3 = (rng.standard_normal((10, 16)) * 0.3).astype(np.float32)
    b3 = (rng.standard_normal(10) * 0.1).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in [(w1, "conv1.w"), (b1, "conv1.b"), (w2, "conv2.w"), (b2, "conv2.b"), (w3, "fc.w"), (b3, "fc.b")]]
    nodes = [
        helper.make_node("Conv", ["input", "conv1.w", "conv1.b"], ["c1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "conv2.w", "conv2.b"], ["c2"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["feat"], axis=1),
        helper.make_node("Gemm", ["feat", "fc.w", "fc.b"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "classifier",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        initializer=inits,
    )
    save(
        make_model(graph),
        "classifier",
        """# A small convolutional classifier: 3x224x224 image -> 10 logits.
name: "classifier"
platform: "onnxruntime_onnx"
max_batch_size: 32
input [
  {
    name: "input"
    data_type: TYPE_FP32
    dims: [ 3, 224, 224 ]
  }
]
output [
  {
    name: "logits"
    data_type: TYPE_FP32
    dims: [ 10 ]
  }
]
dynamic_batching {
  preferred_batch_size: [ 4, 8 ]
  max_queue_delay_microseconds: 2000
}
instance_group [
  {
    count: 2
    kind: KIND_CPU
  }
]
""",
    )


def affine() -> None:
    a = numpy_helper.from_array(np.full((1, 4), 2.0, dtype=np.float32), "a")
    b = numpy_helper.from_array(np.full((1, 4), 1.0, dtype=np.float32), "b")
    nodes = [helper.make_node("Mul", ["x", "a"], ["ax"]), helper.make_node("Add", ["ax", "b"], ["y"])]
    graph = helper.make_graph(
        nodes,
        "affine",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        initializer=[a, b],
    )
    save(
        make_model(graph),
        "affine",
        """# y = 2x + 1, element-wise: outputs are exact.
name: "affine"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "x", data_type: TYPE_FP32, dims: [ 4 ] } ]
output [ { name: "y", data_type: TYPE_FP32, dims: [ 4 ] } ]
""",
    )


if __name__ == "__main__":
    classifier()
    affine()
    print(f"wrote {os.path.normpath(ROOT)}")
