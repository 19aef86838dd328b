"""What a frame with 8 faces costs against a frame with one (issue 14: at most 5×).

    python benchmarks/multiface.py [--frames 120] [--repeat 2]

Makes two 1920×1080 clips from the `face_video` sample: the face of each frame (cut around the
box MediaPipe finds, 240×270 px, enlarged to 480×540) once in the middle of a grey frame, and
eight times in a 4×2 grid, each tile a different moment of the clip. Then times the full
`mien analyze` on each with the models loaded (runs alternated, best of --repeat) and prints
milliseconds per frame, faces found per frame, and the ratio.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import av
import numpy as np
from sample_faces import sample_faces

WIDTH, HEIGHT, TILE_W, TILE_H = 1920, 1080, 480, 540


def face_tiles(count: int) -> list[np.ndarray]:
    """``count`` tiles, each the middle of a frame's face, enlarged 2×."""
    tiles = []
    for frame, x, y, _ in sample_faces():
        box = (x - TILE_W / 4, y - TILE_H / 4, x + TILE_W / 4, y + TILE_H / 4)
        tiles.append(np.asarray(frame.crop(box).resize((TILE_W, TILE_H))))
        if len(tiles) == count:
            break
    return tiles


def write_clip(path: str, tiles: list[np.ndarray], faces: int, frames: int) -> None:
    with av.open(path, "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for k in range(frames):
            canvas = np.full((HEIGHT, WIDTH, 3), 110, np.uint8)
            if faces == 1:
                top, left = (HEIGHT - TILE_H) // 2, (WIDTH - TILE_W) // 2
                canvas[top : top + TILE_H, left : left + TILE_W] = tiles[k % len(tiles)]
            else:
                for i in range(faces):
                    row, col = divmod(i, 4)
                    canvas[row * TILE_H : (row + 1) * TILE_H, col * TILE_W : (col + 1) * TILE_W] = tiles[(k + 37 * i) % len(tiles)]
            for packet in stream.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def analyse(analyzer, path: str) -> tuple[float, float]:
    """(seconds, faces per frame) of the full analysis, models loaded, rows to Parquet."""
    from mien.io.sinks import Sink

    rows = []
    with tempfile.TemporaryDirectory() as tmp, Sink(os.path.join(tmp, "out.parquet"), analyzer.output_schema(), "parquet") as sink:
        started = time.perf_counter()
        analyzer.run([path], on_batch=lambda batch: (sink.write(batch), rows.append(batch.num_rows)))
        elapsed = time.perf_counter() - started
    return elapsed, sum(rows)


def main() -> None:
    from mien.pipeline import Analyzer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    tiles = face_tiles(args.frames)
    with tempfile.TemporaryDirectory() as tmp, Analyzer() as analyzer:
        clips = {faces: os.path.join(tmp, f"{faces}.mp4") for faces in (1, 8)}
        for faces, path in clips.items():
            write_clip(path, tiles, faces, args.frames)
        best = {faces: (float("inf"), 0) for faces in clips}
        for round_ in range(args.repeat):
            for faces in (clips if round_ % 2 == 0 else reversed(list(clips))):
                seconds, rows = analyse(analyzer, clips[faces])
                best[faces] = min(best[faces], (seconds, rows))
    for faces, (seconds, rows) in best.items():
        print(f"{faces} face(s) in the picture: {1000 * seconds / args.frames:6.1f} ms/frame, "
              f"{rows / args.frames:.2f} faces found per frame")  # fmt: skip
    print(f"8 faces / 1 face: {best[8][0] / best[1][0]:.2f}x the time per frame")


if __name__ == "__main__":
    main()
