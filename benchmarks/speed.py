"""Throughput on one clip: decode only, the raw Face Landmarker only, and the full `mien analyze`.

    python benchmarks/speed.py [VIDEO] [--repeat 3]
    python benchmarks/speed.py [VIDEO] --whole-process [--repeat 3]

Default clip: the `face_video` sample (640×360, 24 fps, one face). Prints frames per second for
each, and the full pipeline's ratio to the landmarker alone. The landmarker-only and full runs
alternate, in both orders (landmarker first in odd rounds, full first in even ones), so that a
slow spell of the shared machine hits both; the best of --repeat rounds is kept for each.

--whole-process times whole commands instead, start-up included: `mien analyze VIDEO -o X.parquet`
against a bare loop (`python benchmarks/speed.py VIDEO --bare-loop`: PyAV decoding, MediaPipe's
Face Landmarker in VIDEO mode for one face, nothing else), alternated the same way.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
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


def video_landmarker():
    """MediaPipe's Face Landmarker as a user would make it: VIDEO mode, one face, every output."""
    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(resolve("face_landmarker").path)),
        running_mode=vision.RunningMode.VIDEO, num_faces=1,
        output_face_blendshapes=True, output_facial_transformation_matrixes=True,
    )  # fmt: skip
    with native_stderr_silenced():
        return vision.FaceLandmarker.create_from_options(options)


def landmarker_only(path: str) -> tuple[int, float]:
    """MediaPipe alone, one face, on frames decoded beforehand: the ceiling for the full pipeline."""
    images = [frame.image for frame in read_video(path)]
    landmarker = video_landmarker()
    with native_stderr_silenced():
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


def bare_loop(path: str) -> None:
    """What a user writing their own MediaPipe loop would run: decode, landmark, nothing else."""
    landmarker = video_landmarker()
    for i, frame in enumerate(read_video(path)):
        landmarker.detect_for_video(mp.Image(image_format=mp.ImageFormat.SRGB, data=frame.image), 1 + i * 40)
    with native_stderr_silenced():
        landmarker.close()


def timed_command(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def alternated(first, second, repeat: int) -> tuple[list, list]:
    """Results of ``first`` and ``second`` over ``repeat`` rounds, the order flipped each round."""
    firsts, seconds = [], []
    for round_ in range(repeat):
        if round_ % 2 == 0:
            firsts.append(first())
            seconds.append(second())
        else:
            seconds.append(second())
            firsts.append(first())
    return firsts, seconds


def whole_process(path: str, repeat: int) -> None:
    frames = sum(1 for _ in read_video(path))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.parquet")
        bare, full = alternated(
            lambda: timed_command([sys.executable, __file__, path, "--bare-loop"]),
            lambda: timed_command([sys.executable, "-m", "mien.cli", "analyze", path, "-o", out, "--force"]),
            repeat,
        )  # fmt: skip
    for name, times in (("bare landmarker loop", bare), ("mien analyze", full)):
        print(f"{name:21} {min(times):6.2f} s best  ({', '.join(f'{t:.2f}' for t in times)})  "
              f"{frames / min(times):6.1f} frames/s")  # fmt: skip
    print(f"mien / bare speed     {min(bare) / min(full):6.2f}   (per round: "
          f"{', '.join(f'{b / f:.2f}' for b, f in zip(bare, full))})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", nargs="?", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--whole-process", action="store_true", help="time whole commands, start-up included")
    parser.add_argument("--bare-loop", action="store_true", help=argparse.SUPPRESS)  # whole-process's baseline
    args = parser.parse_args()
    path = args.video or str(sample("face_video"))
    if args.bare_loop:
        return bare_loop(path)
    print(f"clip: {path}")
    if args.whole_process:
        return whole_process(path, args.repeat)
    decoded = max(frames / seconds for frames, seconds in (decode_only(path) for _ in range(args.repeat)))
    print(f"{'decode only':18} {decoded:7.1f} frames/s")
    landmarker, full = alternated(lambda: landmarker_only(path), lambda: full_pipeline(path), args.repeat)
    results = {}
    for name, runs in (("landmarker only", landmarker), ("full mien analyze", full)):
        results[name] = max(frames / seconds for frames, seconds in runs)
        print(f"{name:18} {results[name]:7.1f} frames/s")
    print(f"full / landmarker  {results['full mien analyze'] / results['landmarker only']:7.2f}   (per round: "
          + ", ".join(f"{(f[0] / f[1]) / (m[0] / m[1]):.2f}" for m, f in zip(landmarker, full)) + ")")


if __name__ == "__main__":
    main()
