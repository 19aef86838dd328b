"""Latency of the expression model per face: ONNX Runtime, one CPU thread, as `mien analyze` runs it.

    python benchmarks/expression_latency.py [--model FILE] [--runs 500]

Prints the median and 95th-percentile milliseconds per face for
* the network alone on one crop (one forward pass), and
* the analysis stage, `ExpressionModel.predict`, which classifies the face and its mirror image,
and, for batches of several faces in one frame, the time per face.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mien.models.registry import resolve
from mien.stages.expression import ExpressionModel


def timed(call, runs: int) -> np.ndarray:
    for _ in range(20):  # warm-up: ONNX Runtime allocates on the first calls
        call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return np.array(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="ONNX file (default: the shipped expression model)")
    parser.add_argument("--runs", type=int, default=500)
    args = parser.parse_args()
    path = str(args.model or resolve("expression").path)
    stage = ExpressionModel(path)  # one intra-op thread, as in analysis
    crops = np.random.default_rng(0).integers(0, 256, (8, 48, 48), dtype=np.uint8)
    one = crops[:1].astype(np.float32)[:, None]

    print(f"model {path}")
    rows = [("network alone, one crop", timed(lambda: stage.session.run(None, {"crops": one}), args.runs), 1)]
    for faces in (1, 4, 8):
        rows.append((f"stage with mirror, {faces} face(s) per frame",
                     timed(lambda: stage.predict(crops[:faces]), args.runs), faces))  # fmt: skip
    for name, ms, faces in rows:
        print(f"{name:42s} median {np.median(ms) / faces:6.2f} ms/face   p95 {np.percentile(ms, 95) / faces:6.2f} ms/face")


if __name__ == "__main__":
    main()
