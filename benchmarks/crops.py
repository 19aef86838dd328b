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



def make_crops(folder: Path, count: int) -> None:
    """``count`` 48-px grey crops, each the face of a frame squared at 1.1× its box."""
    from sample_faces import sample_faces

    faces = []
    for frame, x, y, side in sample_faces():
        half = 1.1 * side / 2
        faces.append(frame.convert("L").crop((x - half, y - half, x + half, y + half)).resize((48, 48)))
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
