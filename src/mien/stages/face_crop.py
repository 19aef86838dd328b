"""The one face crop every expression model sees, at training and at analysis time.

A similarity transform (rotation, uniform scale, shift) maps the two eye centres and the mouth
centre onto fixed places in a square crop. The places are FER2013's: the median positions the
Face Landmarker finds in FER2013's own 48×48 crops (tools/fer_landmark_stats.py), so faces cut
from video look like the faces the model learned from.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from mien.frame import Faces, Frame

# Median anchor positions in FER2013's 48×48 crops (31,198 faces of splits 0-1): the person's right
# eye centre (image left), left eye centre, mouth centre. Pixel centres on integers, as MediaPipe.
TEMPLATE_48 = np.array([[14.62, 18.27], [32.54, 18.09], [23.81, 36.63]], np.float64)
CROP_SIZE = 48  # the expression model's input side: FER2013's, so no face is sharper than those it learned

RIGHT_IRIS = slice(468, 473)
LEFT_IRIS = slice(473, 478)
MOUTH_CORNERS = (61, 291)


def anchor_points(landmarks: np.ndarray) -> np.ndarray:
    """(N, 478, 3) -> (N, 3, 2): right eye centre, left eye centre, mouth centre (px)."""
    right_eye = landmarks[:, RIGHT_IRIS, :2].mean(axis=1)
    left_eye = landmarks[:, LEFT_IRIS, :2].mean(axis=1)
    mouth = landmarks[:, MOUTH_CORNERS, :2].mean(axis=1)
    return np.stack([right_eye, left_eye, mouth], axis=1)


def similarity_to_template(points: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Least-squares similarity mapping template -> points, as Pillow's 6 affine coefficients.

    Pillow's AFFINE transform asks, for each output (crop) pixel, where to sample the input.
    """
    src = template - template.mean(axis=0)
    dst = points - points.mean(axis=0)
    norm = (src**2).sum()
    a = (src * dst).sum() / norm  # scale·cos(angle)
    b = (src[:, 0] * dst[:, 1] - src[:, 1] * dst[:, 0]).sum() / norm  # scale·sin(angle)
    rotation_and_scale = np.array([[a, -b], [b, a]])
    shift = points.mean(axis=0) - rotation_and_scale @ template.mean(axis=0)
    return np.array([a, -b, shift[0], b, a, shift[1]])


def aligned_crops(frame: Frame, faces: Faces) -> np.ndarray:
    """Each face's aligned colour crop (N, 48, 48, 3), cut on first use and kept on ``faces.crops``:
    the tracker's appearance and the expression model read the same cut (cutting costs ~0.7 ms a
    face in HD video)."""
    if faces.crops is None or len(faces.crops) != len(faces):
        faces.crops = crop_faces(frame.image, faces.landmarks, grey=False)
    return faces.crops


def grey_crops(crops: np.ndarray) -> np.ndarray:
    """(N, S, S, 3) RGB -> (N, S, S) grey, exactly as Pillow's ``convert("L")``: ITU-R 601-2 luma
    in its fixed-point arithmetic and rounding."""
    r, g, b = (crops[..., channel].astype(np.uint32) for channel in range(3))
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)


def crop_faces(image: np.ndarray, landmarks: np.ndarray, size: int = CROP_SIZE, grey: bool = True) -> np.ndarray:
    """Aligned crops (N, size, size) uint8 grey, or (N, size, size, 3) RGB, from an RGB image."""
    # Pillow puts pixel centres at +0.5; MediaPipe and the template at integers.
    template = (TEMPLATE_48 + 0.5) * (size / 48.0)
    crops = []
    for points in anchor_points(landmarks):
        coefficients = similarity_to_template(points.astype(np.float64) + 0.5, template)
        region, coefficients = _source_region(image, coefficients, size)
        crop = region.transform((size, size), Image.Transform.AFFINE, tuple(coefficients),
                                resample=Image.Resampling.BILINEAR)  # fmt: skip
        crops.append(np.asarray(crop))
    if not crops:
        return np.zeros((0, size, size) if grey else (0, size, size, 3), np.uint8)
    cut = np.stack(crops)
    return grey_crops(cut) if grey and cut.ndim == 4 else cut


def _source_region(image: np.ndarray, coefficients: np.ndarray, size: int) -> tuple[Image.Image, np.ndarray]:
    """The part of the image the crop samples, and the coefficients moved to it.

    Where the crop reaches past the picture, the edge pixels are repeated instead of filling black:
    a face at the edge of a video frame and a FER2013 face re-cut at another scale then both look
    like faces, not faces framed in black. Where the crop shrinks the face by 2× or more, the region
    is first reduced by box averaging, so a face cut from HD video is as smooth as a 48-px FER2013
    face and not aliased (bilinear sampling alone skips most source pixels).
    """
    a, b, c, d, e, f = coefficients
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
    xs = a * corners[:, 0] + b * corners[:, 1] + c
    ys = d * corners[:, 0] + e * corners[:, 1] + f
    left, top = int(np.floor(xs.min())) - 1, int(np.floor(ys.min())) - 1
    right, bottom = int(np.ceil(xs.max())) + 2, int(np.ceil(ys.max())) + 2
    height, width = image.shape[:2]
    inside = image[max(top, 0) : max(min(bottom, height), 0), max(left, 0) : max(min(right, width), 0)]
    padding = ((max(0, -top), max(0, bottom - max(height, top))), (max(0, -left), max(0, right - max(width, left))))
    if inside.size == 0:  # the face lies wholly outside the picture (cannot happen with real landmarks)
        inside, padding = image[:1, :1], ((0, bottom - top - 1), (0, right - left - 1))
    if any(padding[0]) or any(padding[1]):
        # OpenCV's replicated border is numpy's "edge" padding, five times faster (0.2 ms a face
        # in a crowded HD frame, where most faces' crops reach past a tile or the picture).
        inside = cv2.copyMakeBorder(inside, *padding[0], *padding[1], cv2.BORDER_REPLICATE)
    region = Image.fromarray(np.ascontiguousarray(inside))
    shifted = np.array([a, b, c - left, d, e, f - top])
    shrink = int(np.hypot(a, d))  # source pixels per crop pixel
    if shrink >= 2:
        region = region.reduce(shrink)
        shifted /= shrink
    return region, shifted


def whole_image_crop(image: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """(1, size, size) grey: an image that is already a face crop, resized (when no landmarks fit)."""
    grey = Image.fromarray(image).convert("L").resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(grey)[None]
