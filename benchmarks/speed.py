"""Throughput on one clip: decode only, the raw Face Landmarker only, and the full `mien analyze`.

    python benchmarks/speed.py [VIDEO] [--repeat 3]

Default clip: the `face_video` sample (640×360, 24 fps, one face). Prints frames per second for
each, and the full pipeline's ratio to the landmarker alone. The best of --repeat runs is kept
(the machine has other work; the best run is the least disturbed one).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import mediapipe as mp
from mediapipe.tasks.python import BaseOptions, vision

from mien.io.sources import Input
from mien.io.video import read_video
from mien.models.registry import resolve
from mien.native_logging import native_stderr_silenced
from mien.pipeline import Analyzer
from mien.samples import sample


def decode_only(path: str) -> tuple[int, float]:
    started = time.perf_counter()
    frames = sum(1 for _ in read_video(path))
    return frames, time.perf_counter() - started


def landmarker_only(path: str) -> tuple[int, float]:
    """MediaPipe alone, one face, on frames decoded beforehand: the ceiling for the full pipeline."""
    images = [frame.image for frame in read_video(path)]
    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(resolve("face_landmarker").path)),
        running_mode=vision.RunningMode.VIDEO, num_faces=1,
        output_face_blendshapes=True, output_facial_transformation_matrixes=True,
    )  # fmt: skip
    with native_stderr_silenced():
        landmarker = vision.FaceLandmarker.create_from_options(options)
        landmarker.detect_for_video(mp.Image(image_format=mp.ImageFormat.SRGB, data=images[0]), 0)
    started = time.perf_counter()
    for i, image in enumerate(images):
        landmarker.detect_for_video(mp.Image(image_format=mp.ImageFormat.SRGB, data=image), 1 + i * 40)
    elapsed = time.perf_counter() - started
    with native_stderr_silenced():
        landmarker.close()
    return len(images), elapsed


def full_pipeline(path: str) -> tuple[int, float]:
    """What `mien analyze VIDEO -o out.parquet` does, every default output on, models loaded."""
    from mien.io.sinks import Sink

    with Analyzer() as analyzer, tempfile.TemporaryDirectory() as tmp:  # models load here, untimed
        with Sink(os.path.join(tmp, "out.parquet"), analyzer.output_schema(), "parquet") as sink:
            started = time.perf_counter()
            analyzer.run([path], on_batch=sink.write)
            elapsed = time.perf_counter() - started
        return sink.rows, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", nargs="?", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    path = args.video or str(sample("face_video"))
    print(f"clip: {path}")
    results = {}
    for name, measure in (("decode only", decode_only), ("landmarker only", landmarker_only),
                          ("full mien analyze", full_pipeline)):  # fmt: skip
        best = max(frames / seconds for frames, seconds in (measure(path) for _ in range(args.repeat)))
        results[name] = best
        print(f"{name:18} {best:7.1f} frames/s")
    print(f"full / landmarker  {results['full mien analyze'] / results['landmarker only']:7.2f}")


if __name__ == "__main__":
    main()
