"""ONNX Runtime sessions, configured once for this machine's habits."""

from __future__ import annotations

import onnxruntime as ort


def onnx_session(path: str, threads: int = 1) -> ort.InferenceSession:
    """A CPU session. One thread by default: faces are small, and the other core decodes video."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as error:
        if not type(error).__module__.startswith("onnxruntime"):  # not a complaint about the file
            raise
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"{path}: not a usable ONNX model ({reason})") from None
