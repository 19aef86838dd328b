"""Export a trained expression network to the ONNX file analysis runs, and check it matches.

The file takes ``crops`` (N, 1, 48, 48) float grey 0-255 — `face_crop.crop_faces` output as is —
and gives ``expressions`` (N, 8, schema.EMOTIONS order) and ``fer2013`` (N, 7) probabilities, with
the prior correction and the fitted temperatures applied. Class names and training facts are stored as ONNX metadata.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch

from mien.train.network import Calibrated, ExpressionNet

OPSET = 17


def export_onnx(net: ExpressionNet, bias: np.ndarray, temperature: float, fer2013_temperature: float,
                path: Path, metadata: dict[str, str]) -> Path:  # fmt: skip
    model = Calibrated(net, bias, temperature, fer2013_temperature).eval()
    example = torch.from_numpy(np.random.default_rng(0).uniform(0, 255, (4, 1, 48, 48)).astype(np.float32))
    partial = path.with_suffix(".part.onnx")
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated, but it needs neither onnxscript nor a traced
        # export of this plain convolutional graph, and gives the same file on every run.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model, (example,), str(partial), dynamo=False, opset_version=OPSET,
            input_names=["crops"], output_names=["expressions", "fer2013"],
            dynamic_axes={"crops": {0: "faces"}, "expressions": {0: "faces"}, "fer2013": {0: "faces"}},
        )  # fmt: skip
    graph = onnx.load(str(partial))
    for key, value in metadata.items():
        graph.metadata_props.add(key=key, value=value)
    graph.producer_name = "mien.train"
    onnx.checker.check_model(graph)
    onnx.save(graph, str(partial))
    _check_same_answers(model, partial, example)
    partial.replace(path)
    return path


def _check_same_answers(model: torch.nn.Module, path: Path, example: torch.Tensor) -> None:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    exported = session.run(None, {"crops": example.numpy()})
    with torch.no_grad():
        expected = [t.numpy() for t in model(example)]
    for got, want in zip(exported, expected):
        if not np.allclose(got, want, atol=1e-4):
            raise RuntimeError(f"{path}: ONNX answers differ from torch by {np.abs(got - want).max():.2g}")
