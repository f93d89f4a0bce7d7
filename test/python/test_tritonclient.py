"""The stock tritonclient (HTTP and gRPC) against a tensorrt-node server.

Run through test/python/harness.ts by test/cpu/server-tritonclient.test.ts (ONNX Runtime CPU
models of examples/models) and test/gpu/server-tritonclient.test.ts (TensorRT plans), which
start the server on loopback and pass:
  TRTN_HTTP_URL, TRTN_GRPC_URL   host:port of the two front ends
  TRTN_SPEC                      JSON file describing the two models under test (see harness.ts):
    "batched": a dynamic-batching model with one FP32 input and one FP32 output, its expected
               config (max_batch_size, preferred_batch_size, instance count), a raw FP32
               [1, *dims] input file and the expected output computed in-process by the caller,
               with the tolerance (rtol, atol; both 0 means bit-exact)
    "small":   a second model used for exactness, errors, explicit load/unload and concurrency,
               with a few cases (input, expected output) and its tolerance
The server runs in explicit model control mode with every model loaded.

The test_shm_* tests use the system shared memory extension (Triton's
docs/protocol/extension_shared_memory.md) through tritonclient.utils.shared_memory: POSIX shm
objects made by this process (keys /trtn-pytest-<pid>-<protocol>-<what>), registered with the
server over HTTP and gRPC, inputs and outputs passed by region name, offset and byte size.
"""
import contextlib
import json
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
import tritonclient.utils.shared_memory as shm
from tritonclient.utils import InferenceServerException

HTTP_URL = os.environ["TRTN_HTTP_URL"]
GRPC_URL = os.environ["TRTN_GRPC_URL"]
with open(os.environ["TRTN_SPEC"]) as f:
    SPEC = json.load(f)
B = SPEC["batched"]
S = SPEC["small"]
INPUT = np.fromfile(B["input_file"], dtype=np.float32).reshape(1, *B["dims"])
EXPECTED = np.array(B["expected"], dtype=np.float32).reshape(1, *B["out_dims"])
CASES = [
    (np.array(c["input"], dtype=np.float32).reshape(c["shape"]), np.array(c["expected"], dtype=np.float32).reshape(c["out_shape"]))
    for c in S["cases"]
]


def check(got, want, tol):
    """bit-exact when both tolerances are 0, else |got - want| <= atol + rtol * |want|"""
    assert got.shape == want.shape, f"shape {got.shape}, expected {want.shape}"
    if tol["rtol"] == 0 and tol["atol"] == 0:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=tol["rtol"], atol=tol["atol"])


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
    assert http.is_model_ready(B["name"])
    assert grpc.is_model_ready(B["name"], "1")
    assert not http.is_model_ready("no_such_model")
    assert http.get_server_metadata()["name"] == "tensorrt-node"
    assert grpc.get_server_metadata().name == "tensorrt-node"


def test_model_metadata(http, grpc):
    md = http.get_model_metadata(B["name"])
    assert md["name"] == B["name"]
    assert md["versions"] == ["1"]
    assert md["inputs"] == [{"name": B["input"], "datatype": "FP32", "shape": [-1, *B["dims"]]}]
    assert md["outputs"] == [{"name": B["output"], "datatype": "FP32", "shape": [-1, *B["out_dims"]]}]
    g = grpc.get_model_metadata(B["name"])
    assert g.name == B["name"]
    assert list(g.inputs[0].shape) == [-1, *B["dims"]]
    assert g.outputs[0].datatype == "FP32"


def test_model_config(http, grpc):
    c = http.get_model_config(B["name"])
    assert c["max_batch_size"] == B["max_batch_size"]
    assert c["input"][0]["dims"] == B["dims"]
    assert c["input"][0]["data_type"] == "TYPE_FP32"
    if "platform" in B:
        assert c["platform"] == B["platform"]
    g = grpc.get_model_config(B["name"]).config
    assert g.name == B["name"]
    assert g.max_batch_size == B["max_batch_size"]
    assert list(g.input[0].dims) == B["dims"]
    assert g.input[0].data_type == 11  # TYPE_FP32
    assert list(g.dynamic_batching.preferred_batch_size) == B["preferred_batch_size"]
    assert g.instance_group[0].count == B["instance_count"]
    assert g.version_policy.WhichOneof("policy_choice") == "latest"


@pytest.mark.parametrize("binary", [False, True])
def test_http_infer_batched(http, binary):
    inp = httpclient.InferInput(B["input"], [1, *B["dims"]], "FP32")
    inp.set_data_from_numpy(INPUT, binary_data=binary)
    out = httpclient.InferRequestedOutput(B["output"], binary_data=binary)
    r = http.infer(B["name"], [inp], outputs=[out], request_id="py-http")
    check(r.as_numpy(B["output"]), EXPECTED, B)
    assert r.get_response()["id"] == "py-http"


def test_grpc_infer_batched(grpc):
    inp = grpcclient.InferInput(B["input"], [1, *B["dims"]], "FP32")
    inp.set_data_from_numpy(INPUT)
    r = grpc.infer(B["name"], [inp], outputs=[grpcclient.InferRequestedOutput(B["output"])], request_id="py-grpc")
    check(r.as_numpy(B["output"]), EXPECTED, B)
    assert r.get_response().id == "py-grpc"


def test_small_model(http, grpc):
    for x, y in CASES:
        hi = httpclient.InferInput(S["input"], list(x.shape), "FP32")
        hi.set_data_from_numpy(x)
        check(http.infer(S["name"], [hi]).as_numpy(S["output"]), y, S)
        gi = grpcclient.InferInput(S["input"], list(x.shape), "FP32")
        gi.set_data_from_numpy(x)
        check(grpc.infer(S["name"], [gi]).as_numpy(S["output"]), y, S)


def test_errors(http, grpc):
    shape = [1, *S["dims"]]
    bad = httpclient.InferInput(S["input"], shape, "INT32")
    bad.set_data_from_numpy(np.zeros(shape, dtype=np.int32))
    with pytest.raises(InferenceServerException, match="does not match"):
        http.infer(S["name"], [bad])
    wrong = [1, *S["dims"][:-1], S["dims"][-1] - 1]
    gbad = grpcclient.InferInput(S["input"], wrong, "FP32")
    gbad.set_data_from_numpy(np.zeros(wrong, dtype=np.float32))
    with pytest.raises(InferenceServerException, match="does not match"):
        grpc.infer(S["name"], [gbad])
    with pytest.raises(InferenceServerException):
        grpc.get_model_metadata("no_such_model")


def test_explicit_load_unload(http, grpc):
    name = S["name"]
    http.unload_model(name)
    assert not http.is_model_ready(name)
    assert not grpc.is_model_ready(name)
    index = {m["name"]: m for m in http.get_model_repository_index()}
    assert index[name]["state"] == "UNAVAILABLE"
    grpc.load_model(name)
    assert http.is_model_ready(name)
    grpc.unload_model(name)
    assert not grpc.is_model_ready(name)
    http.load_model(name)
    assert grpc.is_model_ready(name)
    names = [m.name for m in grpc.get_model_repository_index().models]
    assert name in names and B["name"] in names
    # and it serves again after the reload
    x, y = CASES[0]
    gi = grpcclient.InferInput(S["input"], list(x.shape), "FP32")
    gi.set_data_from_numpy(x)
    check(grpc.infer(name, [gi]).as_numpy(S["output"]), y, S)


def test_concurrent_inference(http, grpc):
    n = 64
    # HTTP: the client's own async requests (gevent pool of 8; the HTTP client is not thread-safe)
    pending = []
    for i in range(n):
        inp = httpclient.InferInput(S["input"], list(CASES[i % len(CASES)][0].shape), "FP32")
        inp.set_data_from_numpy(CASES[i % len(CASES)][0], binary_data=True)
        pending.append(http.async_infer(S["name"], [inp]))
    for i, p in enumerate(pending):
        check(p.get_result(timeout=60).as_numpy(S["output"]), CASES[i % len(CASES)][1], S)

    # gRPC: 64 requests from 8 threads
    def one(i):
        x = CASES[i % len(CASES)][0]
        inp = grpcclient.InferInput(S["input"], list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        return grpc.infer(S["name"], [inp], client_timeout=60).as_numpy(S["output"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        ys = list(pool.map(one, range(n)))
    for i, y in enumerate(ys):
        check(y, CASES[i % len(CASES)][1], S)

    # and the batched model, grouped by the dynamic batcher: 16 over HTTP, 16 over gRPC
    inp = httpclient.InferInput(B["input"], [1, *B["dims"]], "FP32")
    inp.set_data_from_numpy(INPUT, binary_data=True)
    pending = [http.async_infer(B["name"], [inp]) for _ in range(16)]
    for p in pending:
        check(p.get_result(timeout=60).as_numpy(B["output"]), EXPECTED, B)

    def big(_):
        gi = grpcclient.InferInput(B["input"], [1, *B["dims"]], "FP32")
        gi.set_data_from_numpy(INPUT)
        return grpc.infer(B["name"], [gi], client_timeout=60).as_numpy(B["output"])

    with ThreadPoolExecutor(max_workers=16) as pool:
        for y in pool.map(big, range(16)):
            check(y, EXPECTED, B)


def test_statistics(http, grpc):
    # 1 (HTTP JSON) + 1 (HTTP binary) + 1 (gRPC) + 16 + 16 (concurrent) requests of one item
    s = http.get_inference_statistics(B["name"])["model_stats"][0]
    assert s["name"] == B["name"]
    assert s["inference_stats"]["success"]["count"] >= 35
    g = grpc.get_inference_statistics(B["name"]).model_stats[0]
    assert g.inference_count >= 35


# ---------------------------------------------------------------------------------------------
# system shared memory extension

IN_BYTES = INPUT.nbytes
OUT_BYTES = EXPECTED.nbytes


def test_server_metadata_extensions(http, grpc):
    assert "system_shared_memory" in http.get_server_metadata()["extensions"]
    assert "system_shared_memory" in grpc.get_server_metadata().extensions


@pytest.fixture(params=["http", "grpc"])
def api(request):
    """(protocol, client module, client) for each of the two front ends"""
    proto = request.param
    return proto, (httpclient if proto == "http" else grpcclient), request.getfixturevalue(proto)


def shm_name(proto, what):
    """a region name and a shm key unique to this process, protocol and use"""
    name = f"trtn-pytest-{os.getpid()}-{proto}-{what}"
    return name, "/" + name


def shm_status(proto, client, name=""):
    """the server's system shared memory status as {name: (key, offset, byte_size)}"""
    s = client.get_system_shared_memory_status(name)
    if proto == "http":
        return {r["name"]: (r["key"], int(r["offset"]), int(r["byte_size"])) for r in s}
    return {n: (r.key, int(r.offset), int(r.byte_size)) for n, r in s.regions.items()}


@contextlib.contextmanager
def shm_regions(client, *regions):
    """create the shm objects of regions [(name, key, byte_size)], yield their handles; afterwards
    unregister each from the server (whatever the test left registered) and destroy it"""
    handles = []
    try:
        for name, key, size in regions:
            handles.append(shm.create_shared_memory_region(name, key, size, create_only=True))
        yield handles
    finally:
        for name, _, _ in regions:
            with contextlib.suppress(InferenceServerException):
                client.unregister_system_shared_memory(name)
        for h in handles:
            shm.destroy_shared_memory_region(h)


def shm_read(handle, shape, offset=0):
    """a copy of FP32 [shape] at offset of a region (no view may outlive the region)"""
    return shm.get_contents_as_numpy(handle, np.float32, shape, offset).copy()


def batched_input(mod):
    return mod.InferInput(B["input"], [1, *B["dims"]], "FP32")


def output_shape(proto, r):
    o = r.get_output(B["output"])
    assert o is not None, "the response does not list the output"
    return list(o["shape"]) if proto == "http" else list(o.shape)


def test_shm_infer_batched(api):
    """input and output in two registered regions; the output is read from shared memory"""
    proto, mod, c = api
    (in_name, in_key), (out_name, out_key) = shm_name(proto, "in"), shm_name(proto, "out")
    with shm_regions(c, (in_name, in_key, IN_BYTES), (out_name, out_key, OUT_BYTES)) as (hin, hout):
        shm.set_shared_memory_region(hin, [INPUT])
        shm.set_shared_memory_region(hout, [np.full(EXPECTED.shape, np.nan, dtype=np.float32)])
        c.register_system_shared_memory(in_name, in_key, IN_BYTES)
        c.register_system_shared_memory(out_name, out_key, OUT_BYTES)
        status = shm_status(proto, c)
        assert status[in_name] == (in_key, 0, IN_BYTES)
        assert status[out_name] == (out_key, 0, OUT_BYTES)
        assert shm_status(proto, c, out_name) == {out_name: (out_key, 0, OUT_BYTES)}

        inp = batched_input(mod)
        inp.set_shared_memory(in_name, IN_BYTES)
        out = mod.InferRequestedOutput(B["output"])
        out.set_shared_memory(out_name, OUT_BYTES)
        for i in range(2):  # the same regions serve again
            r = c.infer(B["name"], [inp], outputs=[out], request_id=f"py-{proto}-shm-{i}")
            assert output_shape(proto, r) == [1, *B["out_dims"]]
            check(shm_read(hout, EXPECTED.shape), EXPECTED, B)
            shm.set_shared_memory_region(hout, [np.full(EXPECTED.shape, np.nan, dtype=np.float32)])


def test_shm_one_region_with_offsets(api):
    """input and output in one region: the input at offset 0, the output after it (8-byte aligned)"""
    proto, mod, c = api
    name, key = shm_name(proto, "one")
    out_off = (IN_BYTES + 7) // 8 * 8
    size = out_off + OUT_BYTES
    with shm_regions(c, (name, key, size)) as (h,):
        shm.set_shared_memory_region(h, [INPUT])
        shm.set_shared_memory_region(h, [np.full(EXPECTED.shape, np.nan, dtype=np.float32)], offset=out_off)
        c.register_system_shared_memory(name, key, size)
        inp = batched_input(mod)
        inp.set_shared_memory(name, IN_BYTES, offset=0)
        out = mod.InferRequestedOutput(B["output"])
        out.set_shared_memory(name, OUT_BYTES, offset=out_off)
        r = c.infer(B["name"], [inp], outputs=[out])
        assert output_shape(proto, r) == [1, *B["out_dims"]]
        check(shm_read(h, EXPECTED.shape, out_off), EXPECTED, B)
        # the input was read, not overwritten
        np.testing.assert_array_equal(shm_read(h, INPUT.shape), INPUT)


def test_shm_registered_with_offset(api):
    """a region that starts at an offset into its shm object (register's offset)"""
    proto, mod, c = api
    name, key = shm_name(proto, "at")
    skip = 65536  # a multiple of any page size (mmap offsets must be page-aligned)
    with shm_regions(c, (name, key, skip + IN_BYTES)) as (h,):
        shm.set_shared_memory_region(h, [np.full(skip // 4, -7.0, dtype=np.float32)])
        shm.set_shared_memory_region(h, [INPUT], offset=skip)
        c.register_system_shared_memory(name, key, IN_BYTES, offset=skip)
        assert shm_status(proto, c, name) == {name: (key, skip, IN_BYTES)}
        inp = batched_input(mod)
        inp.set_shared_memory(name, IN_BYTES)
        r = c.infer(B["name"], [inp], outputs=[mod.InferRequestedOutput(B["output"])])
        check(r.as_numpy(B["output"]), EXPECTED, B)


def test_shm_input_output_in_response(api):
    """shm input, the output returned in the response as usual"""
    proto, mod, c = api
    name, key = shm_name(proto, "mixed")
    with shm_regions(c, (name, key, IN_BYTES)) as (h,):
        shm.set_shared_memory_region(h, [INPUT])
        c.register_system_shared_memory(name, key, IN_BYTES)
        inp = batched_input(mod)
        inp.set_shared_memory(name, IN_BYTES)
        outs = [mod.InferRequestedOutput(B["output"], binary_data=True) if proto == "http" else mod.InferRequestedOutput(B["output"])]
        r = c.infer(B["name"], [inp], outputs=outs)
        check(r.as_numpy(B["output"]), EXPECTED, B)
        if proto == "http":  # and as JSON
            r = c.infer(B["name"], [inp], outputs=[mod.InferRequestedOutput(B["output"], binary_data=False)])
            check(r.as_numpy(B["output"]), EXPECTED, B)


def test_shm_errors(api):
    proto, mod, c = api
    (name, key), (ghost, ghost_key) = shm_name(proto, "err"), shm_name(proto, "ghost")
    # a key with no shm object behind it
    assert not os.path.exists("/dev/shm" + ghost_key)
    with pytest.raises(InferenceServerException):
        c.register_system_shared_memory(ghost, ghost_key, 64)
    assert ghost not in shm_status(proto, c)
    # a region that is not registered
    inp = batched_input(mod)
    inp.set_shared_memory(ghost, IN_BYTES)
    with pytest.raises(InferenceServerException):
        c.infer(B["name"], [inp])
    with shm_regions(c, (name, key, IN_BYTES)) as (h,):
        shm.set_shared_memory_region(h, [INPUT])
        c.register_system_shared_memory(name, key, IN_BYTES)
        # the same name twice
        with pytest.raises(InferenceServerException):
            c.register_system_shared_memory(name, key, IN_BYTES)
        assert shm_status(proto, c)[name] == (key, 0, IN_BYTES)
        # an input byte size that is not the tensor's
        inp = batched_input(mod)
        inp.set_shared_memory(name, IN_BYTES - 4)
        with pytest.raises(InferenceServerException):
            c.infer(B["name"], [inp])
        # offset + byte size past the end of the region
        inp = batched_input(mod)
        inp.set_shared_memory(name, IN_BYTES, offset=8)
        with pytest.raises(InferenceServerException):
            c.infer(B["name"], [inp])
        # an output byte size too small for the output, and an output past the end of the region
        inp = batched_input(mod)
        inp.set_shared_memory(name, IN_BYTES)
        for size, offset in ((OUT_BYTES - 4, 0), (OUT_BYTES, max(0, IN_BYTES - OUT_BYTES + 4))):
            out = mod.InferRequestedOutput(B["output"])
            out.set_shared_memory(name, size, offset=offset)
            with pytest.raises(InferenceServerException):
                c.infer(B["name"], [inp], outputs=[out])
        # the region still serves after the failed requests
        r = c.infer(B["name"], [inp], outputs=[mod.InferRequestedOutput(B["output"])])
        check(r.as_numpy(B["output"]), EXPECTED, B)


def test_shm_unregister(api):
    """unregister one region, then all of them; an unregistered region no longer serves"""
    proto, mod, c = api
    (a, a_key), (b, b_key) = shm_name(proto, "a"), shm_name(proto, "b")
    with shm_regions(c, (a, a_key, IN_BYTES), (b, b_key, IN_BYTES)) as (ha, hb):
        for h, n, k in ((ha, a, a_key), (hb, b, b_key)):
            shm.set_shared_memory_region(h, [INPUT])
            c.register_system_shared_memory(n, k, IN_BYTES)
        assert {a, b} <= set(shm_status(proto, c))
        c.unregister_system_shared_memory(a)
        status = shm_status(proto, c)
        assert a not in status and status[b] == (b_key, 0, IN_BYTES)
        inp = batched_input(mod)
        inp.set_shared_memory(a, IN_BYTES)
        with pytest.raises(InferenceServerException):
            c.infer(B["name"], [inp])
        inp = batched_input(mod)
        inp.set_shared_memory(b, IN_BYTES)
        check(c.infer(B["name"], [inp]).as_numpy(B["output"]), EXPECTED, B)
        c.unregister_system_shared_memory()
        assert shm_status(proto, c) == {}
        with pytest.raises(InferenceServerException):
            c.infer(B["name"], [inp])
        # and a name can be registered again after it was unregistered
        c.register_system_shared_memory(a, a_key, IN_BYTES)
        assert shm_status(proto, c) == {a: (a_key, 0, IN_BYTES)}


def test_shm_concurrent(http, grpc):
    """16 callers with their own regions at once (8 over gRPC threads, 8 HTTP async requests),
    grouped by the dynamic batcher: each output lands in its caller's region"""
    n = 8
    out_off = (IN_BYTES + 7) // 8 * 8
    size = out_off + OUT_BYTES
    regions = [shm_name("grpc", f"conc{i}") for i in range(n)] + [shm_name("http", f"conc{i}") for i in range(n)]
    with contextlib.ExitStack() as stack:
        handles = []
        for i, (name, key) in enumerate(regions):
            c = grpc if i < n else http
            (h,) = stack.enter_context(shm_regions(c, (name, key, size)))
            # each caller its own input (the image scaled), so that a mixed-up region shows
            shm.set_shared_memory_region(h, [INPUT * (1 + i / 16)])
            shm.set_shared_memory_region(h, [np.full(EXPECTED.shape, np.nan, dtype=np.float32)], offset=out_off)
            c.register_system_shared_memory(name, key, size)
            handles.append(h)

        def request(mod, name):
            inp = batched_input(mod)
            inp.set_shared_memory(name, IN_BYTES)
            out = mod.InferRequestedOutput(B["output"])
            out.set_shared_memory(name, OUT_BYTES, offset=out_off)
            return [inp], [out]

        pending = []
        for name, _ in regions[n:]:
            inputs, outputs = request(httpclient, name)
            pending.append(http.async_infer(B["name"], inputs, outputs=outputs))

        def one(name):
            inputs, outputs = request(grpcclient, name)
            return grpc.infer(B["name"], inputs, outputs=outputs, client_timeout=60)

        with ThreadPoolExecutor(max_workers=n) as pool:
            list(pool.map(one, [name for name, _ in regions[:n]]))
        for p in pending:
            p.get_result(timeout=60)
        # the reference of each scaled input, computed the usual way (output in the response)
        for i, h in enumerate(handles):
            x = INPUT * (1 + i / 16)
            gi = grpcclient.InferInput(B["input"], [1, *B["dims"]], "FP32")
            gi.set_data_from_numpy(x)
            want = grpc.infer(B["name"], [gi]).as_numpy(B["output"])
            check(shm_read(h, EXPECTED.shape, out_off), want, B)
