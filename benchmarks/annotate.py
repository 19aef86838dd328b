"""Cost of pictures: annotation overhead against plain analysis, and report time and memory.

    python benchmarks/annotate.py overhead            # the face_video sample, best of 3
    python benchmarks/annotate.py report --minutes 30 # the sample's table looped to 30 minutes

overhead: seconds for ``mien analyze clip`` (in process, to Parquet) and for the annotation pass
that ``--annotate`` adds (decode again, draw the default layers, encode H.264, copy audio);
target: the annotation adds at most 30% to the analysis.
report: the sample's results table repeated (timestamps and frames shifted) to the given length,
then ``mien report`` on it; wall time and the peak resident memory of that process.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import mien
from mien.report.annotate import annotate
from mien.samples import sample


def overhead(runs: int) -> None:
    clip = str(sample("face_video"))
    with tempfile.TemporaryDirectory() as folder, mien.Analyzer() as analyzer:
        table = Path(folder) / "clip.parquet"
        analysis, drawing = [], []
        for _ in range(runs):
            batches = []
            started = time.perf_counter()
            analyzer.run([clip], on_batch=batches.append)
            analysis.append(time.perf_counter() - started)
            pq.write_table(pa.Table.from_batches(batches), table)
            started = time.perf_counter()
            written = annotate(clip, Path(folder) / "annotated.mp4", table)
            drawing.append(time.perf_counter() - started)
        best_a, best_d = min(analysis), min(drawing)
        frames = written.frames
        print(f"analysis:   {best_a:.2f} s ({frames / best_a:.1f} frames/s) runs {[round(a, 2) for a in analysis]}")
        print(f"annotation: {best_d:.2f} s ({best_d / frames * 1000:.2f} ms/frame) runs {[round(d, 2) for d in drawing]}")
        print(f"overhead:   {best_d / best_a:.1%} of the analysis (target <= 30%)")


def report(minutes: float) -> None:
    clip = str(sample("face_video"))
    with tempfile.TemporaryDirectory() as folder:
        one = mien.analyze(clip).table
        length = float(pc.max(one.column("timestamp")).as_py()) + 1 / 24
        frames = int(pc.max(one.column("frame")).as_py()) + 1
        copies = int(minutes * 60 / length) + 1
        path = Path(folder) / "long.parquet"
        with pq.ParquetWriter(path, one.schema) as writer:
            for k in range(copies):
                shifted = one.set_column(one.schema.get_field_index("timestamp"), "timestamp",
                                         pc.add(one.column("timestamp"), k * length))  # fmt: skip
                shifted = shifted.set_column(shifted.schema.get_field_index("frame"), "frame",
                                             pc.add(shifted.column("frame"), k * frames))  # fmt: skip
                writer.write_table(shifted)
        rows = pq.ParquetFile(path).metadata.num_rows
        started = time.perf_counter()
        command = [sys.executable, "-m", "mien.cli", "report", str(path), "-o", str(Path(folder) / "long.html")]
        subprocess.run(command, check=True, capture_output=True)
        seconds = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        size = (Path(folder) / "long.html").stat().st_size / 1e6
        print(f"report of {minutes:g} min ({rows:,} rows): {seconds:.1f} s, peak resident {peak_mb:.0f} MB, "
              f"page {size:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["overhead", "report"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=30)
    args = parser.parse_args()
    overhead(args.runs) if args.what == "overhead" else report(args.minutes)


if __name__ == "__main__":
    main()
