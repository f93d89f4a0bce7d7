"""The stock tritonclient (HTTP and gRPC) against a tensorrt-node server.

Run by test/cpu/server-tritonclient.test.ts, which starts the server on loopback and passes:
  TRTN_HTTP_URL, TRTN_GRPC_URL   host:port of the two front ends
  TRTN_EXPECTED                  JSON file: {"input_file": raw FP32 [1,3,224,224], "logits": [...]}
The server runs in explicit model control mode with every model loaded.
"""
import json
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

HTTP_URL = os.environ["TRTN_HTTP_URL"]
GRPC_URL = os.environ["TRTN_GRPC_URL"]
with open(os.environ["TRTN_EXPECTED"]) as f:
    EXPECTED = json.load(f)
INPUT = np.fromfile(EXPECTED["input_file"], dtype=np.float32).reshape(1, 3, 224, 224)
LOGITS = np.array(EXPECTED["logits"], dtype=np.float32).reshape(1, 10)


@pytest.fixture(scope="module")
def http():
    c = httpclient.InferenceServerClient(url=HTTP_URL, concurrency=8)
    yield c
    c.close()


@pytest.fixture(scope="module")
def grpc():
    c = grpcclient.InferenceServerClient(url=GRPC_URL)
    yield c
    c.close()


def test_health(http, grpc):
    assert http.is_server_live()
    assert http.is_server_ready()
    assert grpc.is_server_live()
    assert grpc.is_server_ready()
    assert http.is_model_ready("classifier")
    assert grpc.is_model_ready("classifier", "1")
    assert not http.is_model_ready("no_such_model")
    assert http.get_server_metadata()["name"] == "tensorrt-node"
    assert grpc.get_server_metadata().name == "tensorrt-node"


def test_model_metadata(http, grpc):
    md = http.get_model_metadata("classifier")
    assert md["name"] == "classifier"
    assert md["versions"] == ["1"]
    assert md["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 3, 224, 224]}]
    assert md["outputs"] == [{"name": "logits", "datatype": "FP32", "shape": [-1, 10]}]
    g = grpc.get_model_metadata("classifier")
    assert g.name == "classifier"
    assert list(g.inputs[0].shape) == [-1, 3, 224, 224]
    assert g.outputs[0].datatype == "FP32"


def test_model_config(http, grpc):
    c = http.get_model_config("classifier")
    assert c["max_batch_size"] == 32
    assert c["input"][0]["dims"] == [3, 224, 224]
    assert c["input"][0]["data_type"] == "TYPE_FP32"
    g = grpc.get_model_config("classifier").config
    assert g.name == "classifier"
    assert g.max_batch_size == 32
    assert list(g.input[0].dims) == [3, 224, 224]
    assert g.input[0].data_type == 11  # TYPE_FP32
    assert list(g.dynamic_batching.preferred_batch_size) == [4, 8]
    assert g.instance_group[0].count == 2
    assert g.version_policy.WhichOneof("policy_choice") == "latest"


@pytest.mark.parametrize("binary", [False, True])
def test_http_infer_classifier(http, binary):
    inp = httpclient.InferInput("input", [1, 3, 224, 224], "FP32")
    inp.set_data_from_numpy(INPUT, binary_data=binary)
    out = httpclient.InferRequestedOutput("logits", binary_data=binary)
    r = http.infer("classifier", [inp], outputs=[out], request_id="py-http")
    logits = r.as_numpy("logits")
    assert logits.shape == (1, 10)
    np.testing.assert_allclose(logits, LOGITS, rtol=1e-4, atol=1e-5)
    assert r.get_response()["id"] == "py-http"


def test_grpc_infer_classifier(grpc):
    inp = grpcclient.InferInput("input", [1, 3, 224, 224], "FP32")
    inp.set_data_from_numpy(INPUT)
    r = grpc.infer("classifier", [inp], outputs=[grpcclient.InferRequestedOutput("logits")], request_id="py-grpc")
    np.testing.assert_allclose(r.as_numpy("logits"), LOGITS, rtol=1e-4, atol=1e-5)
    assert r.get_response().id == "py-grpc"


def test_affine_exact(http, grpc):
    x = np.array([[0, 1, -1, 0.5], [2, 3, 4, 5]], dtype=np.float32)
    hi = httpclient.InferInput("x", list(x.shape), "FP32")
    hi.set_data_from_numpy(x)
    np.testing.assert_array_equal(http.infer("affine", [hi]).as_numpy("y"), 2 * x + 1)
    gi = grpcclient.InferInput("x", list(x.shape), "FP32")
    gi.set_data_from_numpy(x)
    np.testing.assert_array_equal(grpc.infer("affine", [gi]).as_numpy("y"), 2 * x + 1)


def test_errors(http, grpc):
    bad = httpclient.InferInput("x", [1, 4], "INT32")
    bad.set_data_from_numpy(np.zeros((1, 4), dtype=np.int32))
    with pytest.raises(InferenceServerException, match="does not match"):
        http.infer("affine", [bad])
    gbad = grpcclient.InferInput("x", [1, 3], "FP32")
    gbad.set_data_from_numpy(np.zeros((1, 3), dtype=np.float32))
    with pytest.raises(InferenceServerException, match="does not match"):
        grpc.infer("affine", [gbad])
    with pytest.raises(InferenceServerException):
        grpc.get_model_metadata("no_such_model")


def test_explicit_load_unload(http, grpc):
    http.unload_model("affine")
    assert not http.is_model_ready("affine")
    assert not grpc.is_model_ready("affine")
    index = {m["name"]: m for m in http.get_model_repository_index()}
    assert index["affine"]["state"] == "UNAVAILABLE"
    grpc.load_model("affine")
    assert http.is_model_ready("affine")
    grpc.unload_model("affine")
    assert not grpc.is_model_ready("affine")
    http.load_model("affine")
    assert grpc.is_model_ready("affine")
    names = [m.name for m in grpc.get_model_repository_index().models]
    assert "affine" in names and "classifier" in names


def test_concurrent_inference(http, grpc):
    n = 64
    xs = [np.full((1, 4), float(i), dtype=np.float32) for i in range(n)]
    # HTTP: the client's own async requests (gevent pool of 8; the HTTP client is not thread-safe)
    pending = []
    for x in xs:
        inp = httpclient.InferInput("x", [1, 4], "FP32")
        inp.set_data_from_numpy(x, binary_data=True)
        pending.append(http.async_infer("affine", [inp]))
    for i, p in enumerate(pending):
        np.testing.assert_array_equal(p.get_result(timeout=60).as_numpy("y"), 2 * xs[i] + 1)

    # gRPC: 64 requests from 8 threads
    def one(i):
        inp = grpcclient.InferInput("x", [1, 4], "FP32")
        inp.set_data_from_numpy(xs[i])
        return grpc.infer("affine", [inp], client_timeout=60).as_numpy("y")

    with ThreadPoolExecutor(max_workers=8) as pool:
        ys = list(pool.map(one, range(n)))
    for i, y in enumerate(ys):
        np.testing.assert_array_equal(y, 2 * xs[i] + 1)

    # and the classifier, batched by the dynamic batcher
    inp = httpclient.InferInput("input", [1, 3, 224, 224], "FP32")
    inp.set_data_from_numpy(INPUT, binary_data=True)
    pending = [http.async_infer("classifier", [inp]) for _ in range(16)]
    for p in pending:
        np.testing.assert_allclose(p.get_result(timeout=60).as_numpy("logits"), LOGITS, rtol=1e-4, atol=1e-5)


def test_statistics(http, grpc):
    s = http.get_inference_statistics("classifier")["model_stats"][0]
    assert s["name"] == "classifier"
    assert s["inference_stats"]["success"]["count"] >= 19
    g = grpc.get_inference_statistics("classifier").model_stats[0]
    assert g.inference_count >= 19
