"""Memory over a long video: resident memory while `mien analyze` streams a 30-minute clip to Parquet.

    python benchmarks/memory.py [--minutes 30]

The long video is made once from the `face_video` sample (played forwards and backwards so the
face never jumps) and cached. Prints resident memory (RSS) after the first minute of video and at
the end, and the largest value seen; the target is growth < 50 MB.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import av

from mien.io.sinks import Sink
from mien.io.video import read_video
from mien.models.registry import cache_dir
from mien.pipeline import Analyzer
from mien.samples import sample


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def long_video(minutes: float) -> Path:
    path = cache_dir() / "benchmarks" / f"face_video_{minutes:g}min.mp4"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = [frame.image for frame in read_video(str(sample("face_video")))]
    loop = frames + frames[::-1]
    total = int(minutes * 60 * 24)
    partial = path.with_suffix(".part.mp4")
    with av.open(str(partial), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23"}
        for i in range(total):
            for packet in stream.encode(av.VideoFrame.from_ndarray(loop[i % len(loop)], format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(partial, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30)
    args = parser.parse_args()
    video = long_video(args.minutes)
    print(f"video: {video} ({args.minutes:g} min, 640×360, 24 fps)")
    samples: list[tuple[float, float]] = []  # (video seconds, RSS MB)

    with Analyzer() as analyzer, tempfile.TemporaryDirectory() as tmp:
        with Sink(Path(tmp) / "out.parquet", analyzer.output_schema(), "parquet") as sink:

            def write(batch) -> None:
                sink.write(batch)
                samples.append((batch.column("timestamp")[-1].as_py(), rss_mb()))

            started = time.perf_counter()
            analyzer.run([str(video)], on_batch=write)
            elapsed = time.perf_counter() - started
        size = (Path(tmp) / "out.parquet").stat().st_size / 2**20

    after_first_minute = next(rss for seconds, rss in samples if seconds >= 60)
    print(f"frames/s           {sink.rows / elapsed:8.1f}  ({sink.rows} rows in {elapsed:.0f} s)")
    print(f"RSS after 1 min    {after_first_minute:8.1f} MB")
    print(f"RSS at the end     {samples[-1][1]:8.1f} MB")
    print(f"RSS largest        {max(rss for _, rss in samples):8.1f} MB")
    print(f"growth             {samples[-1][1] - after_first_minute:8.1f} MB (target < 50)")
    print(f"Parquet written    {size:8.1f} MB")


if __name__ == "__main__":
    main()
