"""Every mistake a user can make gets one clear line, before any work: options, output places,
models, unreadable inputs, a Ray cluster that is not there. Real bugs name a log file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def mien(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mien.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env)  # fmt: skip


def one_line_each(done: subprocess.CompletedProcess, *expected: str) -> None:
    """Exit code >= 1, no traceback, and exactly one 'mien: error:' line per expected problem."""
    assert done.returncode >= 1, done.stderr
    assert "Traceback" not in done.stderr and "please report" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == len(expected), done.stderr
    for line, words in zip(lines, expected):
        assert line.startswith("mien: error: ") and words in line, done.stderr


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder nobody may write in: a chmod'ed one, or for root (whom modes do not stop) /sys."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        (folder / "probe").touch()
    except OSError:
        yield folder
    else:
        (folder / "probe").unlink()
        if not os.access("/sys", os.F_OK) or os.access("/sys", os.W_OK) and os.geteuid() != 0:
            pytest.skip("no read-only folder on this machine")
        yield Path("/sys")
    folder.chmod(0o755)


@pytest.mark.parametrize("args, problems", [
    (["--max-faces", "0"], ["--max-faces 0: must be 1 or more"]),
    (["--max-faces", "-3"], ["--max-faces -3: must be 1 or more"]),
    (["--max-frames", "-5", "--max-faces", "0"], ["--max-faces 0", "--max-frames -5: must be 1 or more"]),
    (["--max-frames", "0"], ["--max-frames 0: must be 1 or more"]),
])  # fmt: skip
def test_nonsense_numbers_are_refused_before_any_work(media, tmp_path, args, problems):
    out = tmp_path / "out.csv"
    done = mien("analyze", media("happy"), "-o", str(out), *args)
    one_line_each(done, *problems)
    assert done.returncode == 2 and list(tmp_path.iterdir()) == []


def test_output_that_is_a_folder_is_refused_and_leaves_nothing(media, tmp_path):
    folder = tmp_path / "results.csv"
    folder.mkdir()
    done = mien("analyze", media("happy"), "-o", str(folder))
    one_line_each(done, f"-o {folder}: is a folder; name a file to write")
    assert list(tmp_path.iterdir()) == [folder] and list(folder.iterdir()) == []


def test_outputs_in_a_read_only_folder_are_refused_before_any_work(media, tmp_path, read_only_folder):
    rows = tmp_path / "rows.csv"
    done = mien("analyze", media("single_face_video"), "-o", str(read_only_folder / "out.csv"),
                "--events", str(read_only_folder / "events.csv"))  # fmt: skip
    one_line_each(done, f"-o {read_only_folder / 'out.csv'}: cannot write in {read_only_folder}",
                  f"--events {read_only_folder / 'events.csv'}: cannot write in {read_only_folder}")  # fmt: skip
    done = mien("analyze", media("single_face_video"), "-o", str(rows), "--events", str(read_only_folder / "e.csv"))
    one_line_each(done, f"--events {read_only_folder / 'e.csv'}: cannot write in")
    assert not rows.exists()  # refused before the frames were analysed, not after


def test_output_in_a_missing_folder_is_refused(media, tmp_path):
    done = mien("analyze", media("happy"), "-o", str(tmp_path / "nowhere" / "out.csv"))
    one_line_each(done, f"the folder {tmp_path / 'nowhere'} does not exist")


def test_batch_refuses_bad_workers_and_a_read_only_results_folder(media, tmp_path, read_only_folder):
    for workers in ("0", "-2"):
        done = mien("batch", media("happy"), "--out", str(tmp_path / "results"), "--workers", workers)
        one_line_each(done, f"--workers {workers}: must be 1 or more")
    done = mien("batch", media("happy"), "--out", str(read_only_folder / "results"), "--max-frames", "0")
    one_line_each(done, "--max-frames 0: must be 1 or more", f"--out {read_only_folder / 'results'}: cannot write in")
    assert not (tmp_path / "results").exists()


def test_an_expression_model_that_is_not_onnx_is_one_line(media, tmp_path):
    fake = tmp_path / "expression.onnx"
    fake.write_text("not a network")
    done = mien("analyze", media("happy"), "-o", str(tmp_path / "out.csv"), "--expression-model", str(fake))
    one_line_each(done, f"expression model {fake}: not a usable ONNX model")
    assert not (tmp_path / "out.csv").exists()


def test_a_symlink_loop_in_a_folder_is_one_input_that_fails(media, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "happy.jpg").write_bytes(Path(media("happy")).read_bytes())
    (folder / "a.jpg").symlink_to(folder / "b.jpg")
    (folder / "b.jpg").symlink_to(folder / "a.jpg")
    done = mien("analyze", str(folder), "-o", str(tmp_path / "out.csv"), "-q")
    one_line_each(done, f"{folder / 'a.jpg'}: cannot read: Too many levels of symbolic links",
                  f"{folder / 'b.jpg'}: cannot read: Too many levels of symbolic links")  # fmt: skip
    assert done.returncode == 1 and len((tmp_path / "out.csv").read_text().splitlines()) == 2  # header + happy


def test_ray_with_no_cluster_is_one_line_and_leaves_no_results(media, tmp_path):
    pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_TMPDIR"] = str(tmp_path / "no-ray-here")  # where `ray start` would have left its address
    done = mien("batch", media("happy"), "--out", str(tmp_path / "results"), "--backend", "ray",
                "--address", "auto", env=env)  # fmt: skip
    one_line_each(done, "--address auto: cannot reach a Ray cluster")
    assert not (tmp_path / "results").exists()


def test_a_ray_client_address_without_rays_client_says_what_to_install(media, tmp_path):
    pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")
    try:
        import grpc  # noqa: F401
    except ModuleNotFoundError:
        pass
    else:
        pytest.skip("Ray's client is installed here: the message is for installs without it")
    done = mien("batch", media("happy"), "--out", str(tmp_path / "results"), "--backend", "ray",
                "--address", "ray://127.0.0.1:10001")  # fmt: skip
    one_line_each(done, "--address ray://127.0.0.1:10001: ray:// addresses need Ray's client: pip install 'mien[ray]'")
    assert not (tmp_path / "results").exists()


def test_a_real_bug_names_the_file_with_its_traceback(tmp_path, monkeypatch):
    from mien.bug_log import log_bug

    monkeypatch.setenv("MIEN_CACHE", str(tmp_path))
    try:
        {}["missing"]
    except KeyError as error:
        line = log_bug(error)
    assert line.startswith("internal error (KeyError: 'missing'); this is a bug in mien: the traceback is in ")
    log = Path(line.split("the traceback is in ")[1].split(";")[0])
    assert log.parent == tmp_path / "logs" and "Traceback" in log.read_text() and '{}["missing"]' in log.read_text()

    # mien serve sets MIEN_LOG_DIR to its data folder's logs: its live streams and job workers
    # (other processes) log there, never in the user's cache.
    monkeypatch.setenv("MIEN_LOG_DIR", str(tmp_path / "service-data" / "logs"))
    try:
        {}["missing"]
    except KeyError as error:
        line = log_bug(error)
    assert Path(line.split("the traceback is in ")[1].split(";")[0]).parent == tmp_path / "service-data" / "logs"
