"""ONNX Runtime sessions, configured once for this machine's habits."""

from __future__ import annotations

import onnxruntime as ort


def onnx_session(path: str, threads: int = 1) -> ort.InferenceSession:
    """A CPU session. One thread by default: faces are small, and the other core decodes video."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
