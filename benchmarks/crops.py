"""Dataset mode, whole process: `mien analyze FOLDER --faces-are-crops` on 48-px face crops.

    python benchmarks/crops.py [FOLDER] [--count 1000] [--repeat 2]

Without FOLDER, makes --count 48×48 grey crops like FER2013's from the `face_video` sample (the
face of each frame, cut around the box MediaPipe finds, cycling through the clip) in a temporary
folder. Prints crops per second for the whole command, start-up included (best of --repeat).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image


def make_crops(folder: Path, count: int) -> None:
    from mien.io.video import read_video
    from mien.models.registry import resolve
    from mien.samples import sample
    from mien.stages.landmarks import FaceLandmarker

    landmarker = FaceLandmarker(str(resolve("face_landmarker").path), max_faces=1)
    landmarker.start(still=True)
    faces = []
    for frame in read_video(str(sample("face_video"))):
        found = landmarker(frame, search_small_faces=False)
        if len(found):
            x, y, w, h = found.boxes[0]
            side = 1.1 * max(w, h)
            box = (x + w / 2 - side / 2, y + h / 2 - side / 2, x + w / 2 + side / 2, y + h / 2 + side / 2)
            faces.append(Image.fromarray(frame.image).convert("L").crop(box).resize((48, 48)))
    landmarker.close()
    for i in range(count):
        faces[i % len(faces)].save(folder / f"{i:06d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder
        if folder is None:
            folder = Path(tmp) / "crops"
            folder.mkdir()
            make_crops(folder, args.count)
        crops = sum(1 for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "mien.cli", "analyze", str(folder), "--faces-are-crops",
                            "-o", str(Path(tmp) / "rows.parquet"), "--force"],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            times.append(time.perf_counter() - started)
    print(f"{crops} crops: {min(times):.2f} s best ({', '.join(f'{t:.2f}' for t in times)}), "
          f"{crops / min(times):.1f} crops/s whole process")


if __name__ == "__main__":
    main()
