"""Cost of the action-unit layer per face: head-frame alignment, signals, the fitted models.

    python benchmarks/au_latency.py [--repeat 2000]

Faces are the sample clip's, measured by the pipeline once; then the AU stage alone is timed on
one face at a time (the usual case) and on batches of 4 faces, one thread. Target: ≤ 1 ms per face.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from mien.io.video import read_video  # noqa: E402
from mien.pipeline import Analyzer  # noqa: E402
from mien.samples import sample  # noqa: E402
from mien.stages.aus import shipped_model  # noqa: E402


def sample_faces(count: int = 200):
    faces = []
    with Analyzer(smooth=False) as analyzer:
        analyzer.landmarker.start(still=False)
        for frame in read_video(str(sample("face_video"))):
            found = analyzer.perceive(frame)
            if len(found):
                faces.append(found)
            if len(faces) == count:
                break
    return faces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    faces = sample_faces()
    model = shipped_model()
    for per_call in (1, 4):
        batches = []
        for i in range(0, len(faces) - per_call + 1, per_call):
            group = faces[i : i + per_call]
            batches.append(tuple(np.concatenate([getattr(f, name) for f in group])
                                 for name in ("landmarks", "blendshapes", "eye_closure", "emotions")))  # fmt: skip
        started = time.perf_counter()
        for k in range(args.repeat):
            model.intensities(*batches[k % len(batches)])
        per_face_ms = (time.perf_counter() - started) / args.repeat / per_call * 1000
        print(f"AU layer, {per_call} face(s) per call: {per_face_ms:.3f} ms per face")


if __name__ == "__main__":
    main()
