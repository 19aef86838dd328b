"""Still images in: any mode Pillow reads, made upright 8-bit RGB, huge ones reduced for analysis."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mien.errors import InputError
from mien.frame import Frame

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".jfif",
                    ".ppm", ".pgm", ".pnm", ".jp2", ".heic"}  # fmt: skip

# The face detector sees a 128-px view of the whole image and the mesh a 192-px crop, so more than
# this many pixels on the long side adds memory and time but no accuracy for faces of usual size.
MAX_ANALYSIS_SIDE = 4096
# Refuse decompression bombs, but allow large camera and scanner images (12000×9000 = 108 MP).
MAX_PIXELS = 400_000_000
NOT_AN_IMAGE = "not a readable image"


def to_rgb8(image: Image.Image) -> np.ndarray:
    """Any Pillow image (alpha, 16-bit, grey, CMYK, palette...) as H×W×3 uint8 RGB."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16/32-bit and float grey: stretch the used range to 8 bits rather than clipping at 255.
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") else max(float(values.max()), 1.0)
        grey = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in image.info):
        # Transparent pixels carry arbitrary colour: composite on white as viewers display them.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"))


def read_image(path: str) -> Frame:
    """Read one image file into an upright RGB Frame; raise InputError with the reason.
    Of an animated image, the first frame (read_image_frames gives them all)."""
    frames = read_image_frames(path, 1)
    try:
        return next(frames)
    finally:
        frames.close()  # closes the file now, not when the generator is collected


def read_image_frames(path: str, max_frames: int | None = None) -> Iterator[Frame]:
    """Every frame of an image file: one for a still, each frame in turn (timestamps from the
    frame durations) for an animated GIF, WebP, PNG or a multi-page TIFF."""
    p = Path(path)
    if p.stat().st_size == 0:
        raise InputError(path, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = MAX_PIXELS
            with Image.open(p) as image:
                frames = min(getattr(image, "n_frames", 1), max_frames or 1 << 30)
                timestamp = 0.0
                for index in range(frames):
                    image.seek(index)
                    duration = image.info.get("duration") or 0
                    yield _upright_frame(path, image, index, timestamp)
                    timestamp += duration / 1000.0
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(path, f"image too large (more than {MAX_PIXELS:,} pixels)") from None
    except UnidentifiedImageError:
        raise InputError(path, f"{NOT_AN_IMAGE} (unknown or corrupt format)") from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise InputError(path, f"cannot decode image: {error}") from None


def _upright_frame(path: str, image: Image.Image, index: int, timestamp: float) -> Frame:
    width, height = image.size
    scale = min(1.0, MAX_ANALYSIS_SIDE / max(width, height))
    if scale < 1.0 and image.format == "JPEG":
        # Let the JPEG decoder skip detail we will not use: much less memory and time.
        image.draft("RGB", (int(width * scale), int(height * scale)))
    image = ImageOps.exif_transpose(image)
    if scale < 1.0:
        upright_scale = MAX_ANALYSIS_SIDE / max(image.size)
        image = image.resize(
            (round(image.width * upright_scale), round(image.height * upright_scale)),
            Image.Resampling.BILINEAR,
        )
    pixels = to_rgb8(image)
    original_long_side = max(width, height)
    return Frame(path, index, timestamp, np.ascontiguousarray(pixels), scale=max(pixels.shape[:2]) / original_long_side)
