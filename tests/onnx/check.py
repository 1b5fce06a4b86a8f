"""Run an exported fusionlab ONNX model with onnxruntime on prepared inputs.

Usage: python check.py MODEL.onnx CASES.json

CASES.json is a list of cases, each {"id": str, "image": [...], "text_ids": [...],
"text_mask": [...], "audio": [...], "present": [...]} with the values flattened row-major (the
shapes are the model's inputs; text_length is len(text_ids)). Prints one JSON object on stdout:
the onnx checker's verdict, onnxruntime's version, the single-sample latency (median and minimum
of repeated runs on the first case, in milliseconds) and, per case, every output flattened.
"""

import json
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort

RUNS = 200


def feeds(session, case):
    out = {}
    for spec in session.get_inputs():
        dtype = np.int64 if spec.type == "tensor(int64)" else np.float32
        shape = [d if isinstance(d, int) else -1 for d in spec.shape]
        out[spec.name] = np.asarray(case[spec.name], dtype=dtype).reshape(shape)
    return out


def main():
    model_path, cases_path = sys.argv[1], sys.argv[2]
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    with open(cases_path) as f:
        cases = json.load(f)
    names = [o.name for o in session.get_outputs()]
    results = []
    for case in cases:
        values = session.run(names, feeds(session, case))
        results.append(
            {
                "id": case["id"],
                "outputs": {n: v.astype(np.float64).ravel().tolist() for n, v in zip(names, values)},
            }
        )
    latency = {}
    if cases:
        first = feeds(session, cases[0])
        for _ in range(10):
            session.run(names, first)
        times = []
        for _ in range(RUNS):
            start = time.perf_counter()
            session.run(names, first)
            times.append((time.perf_counter() - start) * 1000.0)
        latency = {"median_ms": float(np.median(times)), "min_ms": min(times), "runs": RUNS}
    json.dump(
        {
            "checker": "ok",
            "onnxruntime": ort.__version__,
            "opset": [o.version for o in model.opset_import],
            "ir_version": model.ir_version,
            "latency": latency,
            "cases": results,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
