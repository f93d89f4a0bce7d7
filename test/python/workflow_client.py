#!/usr/bin/env python3
"""The last step of issue 24's workflow, with NVIDIA's stock tritonclient (HTTP and gRPC): send
the exported images to the server and compare its logits' argmax with PyTorch's.

Usage: workflow_client.py WORKFLOW_DIR HTTP_URL GRPC_URL MODEL
Prints one JSON line; exit 0 when every image whose top class leads by a clear margin has the
same argmax as PyTorch over both protocols, and the relative L2 error is under 2e-2.
"""
import json
import os
import sys

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient


def main() -> int:
    d, http_url, grpc_url, model = sys.argv[1:5]
    meta = json.load(open(os.path.join(d, "meta.json")))
    n = meta["images"]
    images = np.fromfile(os.path.join(d, "images.bin"), dtype=np.float32).reshape(n, 3, 224, 224)
    ref = np.fromfile(os.path.join(d, "torch_logits.bin"), dtype=np.float32).reshape(n, 1000)
    out = {}
    for proto, mod, url in (("http", httpclient, http_url), ("grpc", grpcclient, grpc_url)):
        c = mod.InferenceServerClient(url=url)
        got = []
        for i in range(n):
            inp = mod.InferInput("input", [1, 3, 224, 224], "FP32")
            inp.set_data_from_numpy(images[i : i + 1])
            r = c.infer(model, [inp], outputs=[mod.InferRequestedOutput("logits")])
            got.append(r.as_numpy("logits")[0])
        got = np.stack(got)
        rel = float(np.linalg.norm(got - ref) / np.linalg.norm(ref))
        same = [int(a == b) for a, b in zip(got.argmax(1), ref.argmax(1))]
        clear = [m > 0.05 for m in meta["top1_margin"]]
        out[proto] = {"rel_l2": rel, "argmax": got.argmax(1).tolist(), "same_argmax": sum(same), "of": n,
                      "clear_cases_agree": all(s for s, c_ in zip(same, clear) if c_)}
    out["torch_argmax"] = ref.argmax(1).tolist()
    print(json.dumps(out))
    ok = all(out[p]["clear_cases_agree"] and out[p]["rel_l2"] < 2e-2 for p in ("http", "grpc"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
