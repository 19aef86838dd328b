"""Does batching make a face cheaper? The per-face networks, one face at a time against eight at
once, and MediaPipe's own landmarker on a frame with one face against a frame with eight.

    python benchmarks/batching.py [--frames 48] [--repeat 30]

Issue 14 asks that a frame with 8 faces cost at most 5× a frame with one, by batching the per-face
networks. This prints, on this machine, one thread each:
- the mesh network (LiteRT, the bundle's `face_landmarks_detector.tflite`) per face at batch 1 and 8;
- the expression model (ONNX Runtime) per crop at 2 crops (a face and its mirror) and at 16;
- MediaPipe's VIDEO-mode Face Landmarker alone, frames decoded beforehand, on the two 1920×1080
  clips of benchmarks/multiface.py: milliseconds a frame and the 8-to-1 ratio;
- mien's video landmarker (stages/video_landmarker.py: the same networks, MediaPipe's VIDEO-mode
  steps, a frame's faces shared among one thread a core) on the same frames.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import zipfile

import numpy as np
from multiface import face_tiles, write_clip


def per_item_ms(run, items: int, repeat: int) -> float:
    for _ in range(3):
        run()
    started = time.perf_counter()
    for _ in range(repeat):
        run()
    return 1000 * (time.perf_counter() - started) / repeat / items


def mesh_network(task_path: str, batch: int, repeat: int) -> float:
    from ai_edge_litert.interpreter import Interpreter

    with zipfile.ZipFile(task_path) as bundle:
        network = Interpreter(model_content=bundle.read("face_landmarks_detector.tflite"), num_threads=1)
    index = network.get_input_details()[0]["index"]
    network.resize_tensor_input(index, [batch, 256, 256, 3])
    network.allocate_tensors()
    faces = np.random.default_rng(0).random((batch, 256, 256, 3), np.float32)

    def run():
        network.set_tensor(index, faces)
        network.invoke()

    return per_item_ms(run, batch, repeat)


def expression_model(models, crops: int, repeat: int) -> float:
    batch = np.random.default_rng(0).integers(0, 256, (crops, 1, 48, 48)).astype(np.float32)
    return per_item_ms(lambda: models.expression.session.run(None, {"crops": batch}), crops, repeat)


def bare_landmarker_ms(task_path: str, path: str, faces: int) -> float:
    """MediaPipe's landmarker alone, VIDEO mode, looking for ``faces`` faces, frames decoded first."""
    from mien.io.video import read_video
    from mien.stages.landmarker_results import landmarker_arrays
    from mien.stages.landmarks import _srgb, _tasks

    BaseOptions, vision = _tasks()
    landmarker = vision.FaceLandmarker.create_from_options(vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=task_path), running_mode=vision.RunningMode.VIDEO,
        num_faces=faces, output_face_blendshapes=True, output_facial_transformation_matrixes=True))  # fmt: skip
    images = [_srgb(frame.image) for frame in read_video(path)]
    try:
        for k, image in enumerate(images[:5]):
            landmarker_arrays(landmarker, image, 40 * k)
        started = time.perf_counter()
        for k, image in enumerate(images[5:], start=5):
            found = landmarker_arrays(landmarker, image, 40 * k)
            assert len(found.landmarks) == faces, f"{len(found.landmarks)} faces found, not {faces}"
        return 1000 * (time.perf_counter() - started) / (len(images) - 5)
    finally:
        landmarker.close()


def mien_landmarker_ms(task_path: str, path: str, faces: int) -> float:
    """mien's video landmarker alone on the same decoded frames (stages/video_landmarker.py)."""
    from mien.io.video import read_video
    from mien.stages.video_landmarker import VideoLandmarker

    landmarker = VideoLandmarker(task_path)
    frames = list(read_video(path))
    try:
        for frame in frames[:5]:
            landmarker(frame.image, frame.timestamp, faces)
        started = time.perf_counter()
        for frame in frames[5:]:
            found = landmarker(frame.image, frame.timestamp, faces)[0]
            assert len(found) == faces, f"{len(found)} faces found, not {faces}"
        return 1000 * (time.perf_counter() - started) / (len(frames) - 5)
    finally:
        landmarker.close()


def main() -> None:
    from mien.pipeline import Models

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    models = Models()
    task_path = str(models.landmarker_path)
    for batch in (1, 8):
        print(f"mesh network, batch {batch}: {mesh_network(task_path, batch, args.repeat):.2f} ms a face")
    for crops in (2, 16):
        print(f"expression model, {crops} crops a run: {expression_model(models, crops, args.repeat):.2f} ms a crop")
    tiles = face_tiles(args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        landmarkers = {"MediaPipe landmarker": bare_landmarker_ms, "mien's video landmarker": mien_landmarker_ms}
        ms = {name: {} for name in landmarkers}
        for faces in (1, 8):
            path = os.path.join(tmp, f"{faces}.mp4")
            write_clip(path, tiles, faces, args.frames)
            for name, timed in landmarkers.items():
                ms[name][faces] = timed(task_path, path, faces)
                print(f"{name} alone, {faces} face(s) in a 1920x1080 frame: {ms[name][faces]:.1f} ms a frame")
    for name, each in ms.items():
        print(f"{name} alone, 8 faces / 1 face: {each[8] / each[1]:.2f}x")


if __name__ == "__main__":
    main()
