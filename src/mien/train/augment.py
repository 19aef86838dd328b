"""Random changes to a batch of aligned crops, so the model learns the face and not the picture.

They mimic how faces cut from real video differ from each other: the alignment is a few pixels or
degrees off, the face is mirrored, lighting and contrast change, and hands or hair cover part of it.
All randomness comes from the generator passed in, so training is repeatable from a seed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MAX_ROTATION_DEG = 10.0
MAX_SCALE_CHANGE = 0.10
MAX_SHIFT = 0.06  # fraction of the crop side
CONTRAST = (0.6, 1.4)
MAX_BRIGHTNESS = 30.0  # grey levels
ERASE_PROBABILITY = 0.25
ERASE_AREA = (0.02, 0.15)


def augment(crops: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(N, 1, H, W) float 0-255 -> the same shape, each crop changed at random."""
    n, _, height, width = crops.shape

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(shape or (n,), generator=generator)

    angle = uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG) * math.pi / 180
    scale = 1 + uniform(-MAX_SCALE_CHANGE, MAX_SCALE_CHANGE)
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([
        torch.stack([cos * flip, -sin, uniform(-MAX_SHIFT, MAX_SHIFT) * 2], dim=1),
        torch.stack([sin * flip, cos, uniform(-MAX_SHIFT, MAX_SHIFT) * 2], dim=1),
    ], dim=1)  # fmt: skip
    grid = F.affine_grid(theta, list(crops.shape), align_corners=False)
    out = F.grid_sample(crops, grid, mode="bilinear", padding_mode="border", align_corners=False)

    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    contrast = uniform(*CONTRAST).view(n, 1, 1, 1)
    brightness = uniform(-MAX_BRIGHTNESS, MAX_BRIGHTNESS).view(n, 1, 1, 1)
    out = ((out - mean) * contrast + mean + brightness).clamp(0, 255)
    return _erase(out, generator)


def _erase(crops: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random erasing (Zhong et al. 2020): a grey rectangle over part of some faces."""
    n, _, height, width = crops.shape
    r = torch.rand(n, 6, generator=generator)
    area = (ERASE_AREA[0] + (ERASE_AREA[1] - ERASE_AREA[0]) * r[:, 1]) * height * width
    aspect = torch.exp((r[:, 2] - 0.5) * 2 * math.log(3))
    h = (area * aspect).sqrt().clamp(1, height).long()
    w = (area / aspect).sqrt().clamp(1, width).long()
    top = (r[:, 3] * (height - h + 1)).long()
    left = (r[:, 4] * (width - w + 1)).long()
    rows = torch.arange(height).view(1, height, 1)
    cols = torch.arange(width).view(1, 1, width)
    inside = ((rows >= top.view(n, 1, 1)) & (rows < (top + h).view(n, 1, 1))
              & (cols >= left.view(n, 1, 1)) & (cols < (left + w).view(n, 1, 1)))  # fmt: skip
    chosen = (r[:, 0] < ERASE_PROBABILITY).view(n, 1, 1)
    fill = (r[:, 5] * 255).view(n, 1, 1)
    return torch.where((inside & chosen).unsqueeze(1), fill.unsqueeze(1), crops)
