#!/usr/bin/env python3
"""Generate bench/models/ (Triton layout): models for the server benchmarks on the CPU.

  image-stub: input "input" FP32 [-1,3,224,224] (ResNet-50's request: 602,112 bytes per image)
              -> reshape [-1,150528] -> slice [:, 0:1000] -> "output" FP32 [-1,1000] (ResNet-50's
              logits). Inference costs next to nothing, so bench/server-overhead.mjs measures the
              server's handling of ResNet-50-sized tensors, not the model. Config as in the GPU run
              (tools/gpu-host/model-repository.mjs): max_batch_size 32, dynamic batching, 2 instances.

Run from the repository root: .venv/bin/python tools/make_bench_models.py (onnx + numpy only;
tools/setup-python.sh creates .venv). Output is deterministic.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "models")


def image_stub() -> None:
    shape = numpy_helper.from_array(np.array([-1, 3 * 224 * 224], dtype=np.int64), "shape")
    starts = numpy_helper.from_array(np.array([0], dtype=np.int64), "starts")
    ends = numpy_helper.from_array(np.array([1000], dtype=np.int64), "ends")
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["input", "shape"], ["flat"]),
            helper.make_node("Slice", ["flat", "starts", "ends", "axes"], ["output"]),
        ],
        "image_stub",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 1000])],
        [shape, starts, ends, axes],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="tensorrt-node-bench")
    m.ir_version = 8
    onnx.checker.check_model(m)
    d = os.path.join(ROOT, "image-stub")
    os.makedirs(os.path.join(d, "1"), exist_ok=True)
    onnx.save(m, os.path.join(d, "1", "model.onnx"))
    with open(os.path.join(d, "config.pbtxt"), "w") as f:
        f.write(
            """# ResNet-50-sized request and response at almost no inference cost (tools/make_bench_models.py):
# output = input.reshape(N, 150528)[:, :1000]. For bench/server-overhead.mjs on the CPU.
name: "image-stub"
platform: "onnxruntime_onnx"
max_batch_size: 32
input [ { name: "input", data_type: TYPE_FP32, dims: [ 3, 224, 224 ] } ]
output [ { name: "output", data_type: TYPE_FP32, dims: [ 1000 ] } ]
dynamic_batching { max_queue_delay_microseconds: 500 }
instance_group [ { count: 2, kind: KIND_CPU } ]
"""
        )


if __name__ == "__main__":
    image_stub()
