"""`mien batch` at scale on this machine: throughput per backend, and a worker's memory on a long video.

    python benchmarks/batch.py throughput [--clips 8]   # 1 local worker, all cores, Ray on all cores
    python benchmarks/batch.py memory [--minutes 30]    # one worker's resident memory over a long input

throughput: --clips copies of the `face_video` sample (19.7 s, 640×360; each copy differs by one
appended byte, so each is its own input) analysed into fresh results folders. Prints wall time and
frames/s per backend, the speed-up of all cores over one worker (target ≥ 1.7× on 2 cores) and the
Ray overhead against the local pool (target ≤ 15%). Model loading is included: it is part of a run.

memory: the looped clip of benchmarks/memory.py analysed by a one-worker batch; the worker
process's resident memory is sampled every second (target: flat, growth < 50 MB after the first
minute of work).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from memory import long_video

from mien.batch.run import run_batch
from mien.pipeline import Options
from mien.samples import sample


def make_clips(folder: Path, count: int) -> list[str]:
    paths = []
    for i in range(count):
        path = folder / f"clip{i}.mp4"
        shutil.copy(sample("face_video"), path)
        with open(path, "ab") as f:
            f.write(bytes([i]))
        paths.append(str(path))
    return paths


def timed_batch(clips: list[str], out: Path, **how) -> tuple[float, int]:
    started = time.perf_counter()
    report = run_batch(clips, out, Options(), **how)
    assert not report.failed, report.failed
    return time.perf_counter() - started, report.frames


def throughput(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clips = make_clips(Path(tmp), count)
        cores = os.cpu_count() or 1
        runs = {}

        def measure(name: str, **how) -> None:
            seconds, frames = timed_batch(clips, Path(tmp) / name.replace(" ", "_").replace(",", ""), **how)
            runs[name] = seconds
            print(f"{name:34s} {seconds:7.1f} s   {frames / seconds:7.1f} frames/s   ({frames} frames, {count} inputs)")

        measure("local, 1 worker", workers=1)
        measure(f"local, {cores} workers", workers=cores)
        measure(f"ray, {cores} CPUs, started for the run", backend="ray")
        import ray  # a cluster that is already up, as on a real cluster: `ray start` is done once

        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        measure(f"ray, {cores} CPUs, cluster running", backend="ray")
        ray.shutdown()
        one, many = runs["local, 1 worker"], runs[f"local, {cores} workers"]
        print(f"speed-up of {cores} workers over 1: {one / many:.2f}×  (target ≥ 1.7)")
        for name in (f"ray, {cores} CPUs, started for the run", f"ray, {cores} CPUs, cluster running"):
            print(f"Ray overhead against the local pool ({name[len('ray, 2 CPUs, '):]}): "
                  f"{100 * (runs[name] / many - 1):+.1f}%  (target ≤ 15%)")


def worker_rss_mb(parent: int) -> dict[int, float]:
    """Resident memory of the parent's child processes (the batch workers), by pid."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("PPid", "0").strip()) == parent and "VmRSS" in fields:
            found[int(entry.name)] = int(fields["VmRSS"].split()[0]) / 1024
    return found


def memory(minutes: float) -> None:
    video = long_video(minutes)
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample_rss() -> None:
        started = time.monotonic()
        while not stop.wait(1.0):
            workers = worker_rss_mb(os.getpid())
            if workers:
                samples.append((time.monotonic() - started, max(workers.values())))

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    with tempfile.TemporaryDirectory() as tmp:
        seconds, frames = timed_batch([str(video)], Path(tmp) / "out", workers=1)
    stop.set()
    sampler.join()
    after_a_minute = next(rss for t, rss in samples if t >= 60)  # wall time: models loaded, buffers filled
    print(f"{frames} frames in {seconds:.0f} s ({frames / seconds:.1f} frames/s), one worker")
    print(f"worker RSS after 1 min of work  {after_a_minute:8.1f} MB")
    print(f"worker RSS at the end           {samples[-1][1]:8.1f} MB")
    print(f"worker RSS largest              {max(rss for _, rss in samples):8.1f} MB")
    print(f"growth                          {samples[-1][1] - after_a_minute:8.1f} MB (target < 50)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("throughput", "memory"))
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=30)
    args = parser.parse_args()
    throughput(args.clips) if args.what == "throughput" else memory(args.minutes)


if __name__ == "__main__":
    main()
