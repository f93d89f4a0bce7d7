#!/usr/bin/env python3
"""Generate the tiny ONNX models used by the CPU tests and benchmarks (test/cpu, bench/).

Needs only `onnx` and `numpy` (pip install onnx numpy). Deterministic: running it again
writes byte-identical files. Usage: python3 tools/make_cpu_fixtures.py [outdir]

Models (all hand-built, outputs exactly known):
  affine.onnx            inputs  x float32 [N,4], x_int int32 [N,2]
                         outputs y = 2*x + 1 (float32 [N,4]), z = x_int * 3 (int32 [N,2])
  classifier_small.onnx  input   images float32 [N,3,8,8]
                         conv 3x3 (3->8, pad 1) -> relu -> global avg pool -> flatten -> gemm (8->10)
                         output  logits float32 [N,10]; weights from numpy seed 1234
  static_add.onnx        no batch dimension: x float32 [2,3] -> y = x + 1 float32 [2,3]
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # readable by every onnxruntime >= 1.10


def save(model: onnx.ModelProto, outdir: str, name: str) -> None:
    onnx.checker.check_model(model, full_check=True)
    path = os.path.join(outdir, name)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def make_model(graph: onnx.GraphProto) -> onnx.ModelProto:
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tensorrt-node-fixtures")
    m.ir_version = IR_VERSION
    return m


def affine() -> onnx.ModelProto:
    inits = [
        numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"),
        numpy_helper.from_array(np.array(3, dtype=np.int32), "three"),
    ]
    nodes = [
        helper.make_node("Mul", ["x", "two"], ["x2"]),
        helper.make_node("Add", ["x2", "one"], ["y"]),
        helper.make_node("Mul", ["x_int", "three"], ["z"]),
    ]
    graph = helper.make_graph(
        nodes,
        "affine",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4]),
            helper.make_tensor_value_info("x_int", TensorProto.INT32, ["N", 2]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4]),
            helper.make_tensor_value_info("z", TensorProto.INT32, ["N", 2]),
        ],
        inits,
    )
    return make_model(graph)


def classifier_small() -> onnx.ModelProto:
    rng = np.random.default_rng(1234)
    conv_w = (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32)
    conv_b = (rng.standard_normal((8,)) * 0.1).astype(np.float32)
    fc_w = (rng.standard_normal((10, 8)) * 0.5).astype(np.float32)
    fc_b = (rng.standard_normal((10,)) * 0.1).astype(np.float32)
    inits = [
        numpy_helper.from_array(conv_w, "conv_w"),
        numpy_helper.from_array(conv_b, "conv_b"),
        numpy_helper.from_array(fc_w, "fc_w"),
        numpy_helper.from_array(fc_b, "fc_b"),
    ]
    nodes = [
        helper.make_node("Conv", ["images", "conv_w", "conv_b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "classifier_small",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        inits,
    )
    return make_model(graph)


def static_add() -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "one"], ["y"])],
        "static_add",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one")],
    )
    return make_model(graph)


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "fixtures", "onnx")
    os.makedirs(outdir, exist_ok=True)
    save(affine(), outdir, "affine.onnx")
    save(classifier_small(), outdir, "classifier_small.onnx")
    save(static_add(), outdir, "static_add.onnx")


if __name__ == "__main__":
    main()
