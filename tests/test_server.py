"""mien serve: the HTTP API against the real app (FastAPI's TestClient, lifespan included) with real
sample media: uploads (streamed, limited, checked, renamed), jobs run by mien.batch, results,
events, delete, one image analysed at once, read-only SQL, and the token rule."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx (the test extra)")

from fastapi.testclient import TestClient  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from mien.batch.catalog import read_catalog  # noqa: E402
from mien.cli import app as cli  # noqa: E402
from mien.server.app import create_app  # noqa: E402
from mien.server.auth import binding_problem  # noqa: E402

FRAMES = 24  # per job: enough to show the workings, short enough for CI


def wait_for(client: TestClient, job_id: str, deadline_s: float = 600) -> dict:
    """Poll the job until it is done or failed (the deadline only keeps a broken run from hanging)."""
    give_up = time.monotonic() + deadline_s
    while time.monotonic() < give_up:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never finished: {job}")


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("server-data")


@pytest.fixture(scope="module")
def client(data):
    with TestClient(create_app(data)) as client:
        yield client


@pytest.fixture(scope="module")
def finished_job(client, media):
    """The single-face clip, uploaded as a browser would (multipart) and analysed as a job."""
    with open(media("single_face_video"), "rb") as f:
        upload = client.post("/uploads", files={"file": ("../../../etc/evil name.mp4", f, "video/mp4")})
    assert upload.status_code == 201, upload.text
    created = client.post("/jobs", json={"upload": upload.json()["id"], "options": {"max_frames": FRAMES}})
    assert created.status_code == 201, created.text
    assert created.json()["status"] in ("queued", "running")
    return wait_for(client, created.json()["id"]), upload.json()


def test_an_upload_is_kept_under_a_server_id_never_the_clients_file_name(finished_job, data, tmp_path_factory):
    _, upload = finished_job
    assert upload["kind"] == "video" and upload["name"] == "../../../etc/evil name.mp4"
    stored = files_under(data / "uploads")
    assert [p.name for p in stored] == [f"{upload['id']}.mov"]  # named from the id and what was decoded
    assert not list(tmp_path_factory.getbasetemp().rglob("evil*"))
    assert not (data / "tmp").exists() or not files_under(data / "tmp")


def test_a_raw_body_upload_works_too_and_two_uploads_never_share_a_file(client, media, data):
    body = Path(media("happy")).read_bytes()
    first = client.post("/uploads", content=body, headers={"content-type": "application/octet-stream"})
    second = client.post("/uploads", content=body, headers={"content-type": "image/jpeg"})
    assert first.status_code == second.status_code == 201
    assert first.json()["kind"] == "image" and first.json()["id"] != second.json()["id"]
    for answer in (first, second):
        assert (data / "uploads" / f"{answer.json()['id']}.jpg").read_bytes() == body


def test_a_job_is_a_batch_analysis_with_status_progress_and_the_files_mien_batch_writes(finished_job, data):
    job, _ = finished_job
    assert job["status"] == "done", job
    assert job["progress"]["frames_total"] == FRAMES and job["progress"]["frames_done"] == FRAMES
    assert job["progress"]["frames_per_second"] > 0
    catalog = read_catalog(data / "results")  # the batch catalog, as `mien query` reads it
    assert list(catalog.status) == ["done"] and catalog.path[0].endswith(f"inputs/{job['id']}.mov")
    frames = pd.read_parquet(data / "results" / catalog.frames_file[0])
    assert len(frames) == catalog.rows[0] and frames.frame.max() == FRAMES - 1


def test_results_come_as_json_csv_and_parquet_with_the_same_rows(client, finished_job, data):
    job, _ = finished_job
    stored = pd.read_parquet(data / "results" / read_catalog(data / "results").frames_file[0])
    as_json = pd.DataFrame(client.get(f"/jobs/{job['id']}/results").json())
    as_csv = pd.read_csv(io.StringIO(client.get(f"/jobs/{job['id']}/results?format=csv").text))
    parquet = client.get(f"/jobs/{job['id']}/results", params={"format": "parquet"})
    assert parquet.status_code == 200
    as_parquet = pd.read_parquet(io.BytesIO(parquet.content))
    assert as_parquet.equals(stored)  # the very file mien batch wrote
    for table in (as_json, as_csv):
        assert len(table) == len(stored) and list(table.columns) == list(stored.columns)
        assert (table.input == job["id"]).all()  # the server's own paths are not shown
        assert np.allclose(table.AU12, stored.AU12, equal_nan=True)
    events = client.get(f"/jobs/{job['id']}/events")
    assert events.status_code == 200 and isinstance(events.json(), list)
    assert client.get(f"/jobs/{job['id']}/results?format=xml").status_code == 422


def test_a_job_has_a_per_person_summary(client, finished_job):
    job, _ = finished_job
    people = client.get(f"/jobs/{job['id']}/summary").json()
    assert [p["face_id"] for p in people] == [0] and people[0]["input"] == job["id"]
    assert client.get(f"/jobs/{job['id']}/summary", params={"per": "input"}).status_code == 200


def test_the_api_is_described_by_its_openapi_schema(client):
    schema = client.get("/openapi.json").json()
    assert {"/uploads", "/jobs", "/jobs/{job_id}", "/jobs/{job_id}/results", "/jobs/{job_id}/events",
            "/jobs/{job_id}/summary", "/analyze", "/query", "/uploads/{upload_id}"} <= set(schema["paths"])  # fmt: skip
    assert {"max_faces", "mesh", "blendshapes"} <= {p["name"] for p in schema["paths"]["/analyze"]["post"]["parameters"]}
    body = schema["paths"]["/uploads"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body and "application/octet-stream" in body
    assert client.get("/docs").status_code == 200
    missing = client.get("/no/such/thing")
    assert missing.status_code == 404 and missing.json()["detail"]  # JSON, not an HTML page


def test_jobs_are_listed_and_unknown_ones_are_a_json_404(client, finished_job):
    job, _ = finished_job
    assert job["id"] in [j["id"] for j in client.get("/jobs").json()]
    for path in ("/jobs/nope", "/jobs/nope/results", "/jobs/nope/events"):
        answer = client.get(path)
        assert answer.status_code == 404 and "nope" in answer.json()["detail"]
    assert client.post("/jobs", json={"upload": "nope"}).status_code == 404
    # Options that would name server files are not options a client has.
    refused = client.post("/jobs", json={"upload": job["upload"], "options": {"landmarker_model": "/etc/passwd"}})
    assert refused.status_code == 422


def test_sql_reads_every_finished_job_and_cannot_write_or_read_files(client, finished_job, data):
    job, _ = finished_job
    rows = read_catalog(data / "results").rows[0]
    answer = client.post("/query", json={"sql": "SELECT count(*) AS n FROM frames"})
    assert answer.status_code == 200 and answer.json() == [{"n": rows}]
    outside = data.parent / "written.csv"
    server_db = data / "server.sqlite"  # inside --data, but not one of the views' files
    for sql in (f"COPY (SELECT 1) TO '{outside}'", f"COPY frames TO '{outside}'", "SELECT * FROM read_csv('/etc/passwd')",
                "SELECT * FROM read_text('/etc/passwd')", "SELECT * FROM '/etc/passwd'", "SELECT * FROM glob('/etc/*')",
                f"SELECT * FROM read_blob('{server_db}')", "ATTACH 'x.db' AS x", f"ATTACH '{server_db}' AS s",
                "INSTALL httpfs", "LOAD httpfs", "SET enable_external_access = true", "CREATE TABLE t AS SELECT 1",
                "SELECT 1; SELECT 2", "EXPLAIN ANALYZE SELECT 1"):  # fmt: skip
        refused = client.post("/query", json={"sql": sql})
        assert refused.status_code == 400 and refused.json()["detail"], sql
        assert "root:" not in refused.text and "SQLite format" not in refused.text, sql
    assert not outside.exists() and not (Path.cwd() / "x.db").exists()


def test_one_image_is_analysed_at_once_and_nothing_is_kept(client, media, data):
    with open(media("happy"), "rb") as f:
        answer = client.post("/analyze", files={"file": ("face.jpg", f, "image/jpeg")})
    assert answer.status_code == 200, answer.text
    rows = answer.json()
    assert len(rows) == 1 and rows[0]["face_id"] == 0 and "input" not in rows[0]
    assert max(("happiness", "neutral", "sadness"), key=lambda e: rows[0][e]) == "happiness"
    with open(media("single_face_video"), "rb") as f:
        video = client.post("/analyze", files={"file": ("clip.mp4", f, "video/mp4")})
    assert video.status_code == 415 and "job" in video.json()["detail"]
    assert not files_under(data / "tmp")


def test_media_that_cannot_be_decoded_is_refused_and_nothing_is_kept(client, data):
    before = files_under(data)
    for body in (b"this is not a video" * 100, b"\x89PNG\r\n\x1a\n" + b"\0" * 200):
        answer = client.post("/uploads", files={"file": ("clip.mp4", body, "video/mp4")})
        assert answer.status_code == 415 and "not an image or video" in answer.json()["detail"]
    assert client.post("/uploads", content=b"").status_code == 400
    after = [p for p in files_under(data) if not p.name.startswith("catalog.sqlite") and "sqlite" not in p.name]
    assert after == [p for p in before if "sqlite" not in p.name]


def test_uploads_over_the_limit_are_refused_with_413_and_nothing_is_kept(media, tmp_path):
    body = Path(media("happy")).read_bytes()
    with TestClient(create_app(tmp_path, max_upload=len(body))) as small:
        assert small.post("/uploads", content=body + b"\0").status_code == 413
        # A multipart body without a Content-Length (streamed in chunks) is cut off as it arrives.
        chunks = iter([b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\r\n",
                       body[:1000], body, b"\r\n--b--\r\n"])  # fmt: skip
        streamed = small.post("/uploads", content=chunks, headers={"content-type": "multipart/form-data; boundary=b"})
        assert streamed.status_code == 413 and "limit" in streamed.json()["detail"]
        assert small.post("/uploads", content=body).status_code == 201  # at the limit: fine
    assert len(files_under(tmp_path / "uploads")) == 1 and not files_under(tmp_path / "tmp")


def test_deleting_a_job_removes_its_files_but_not_those_another_job_shares(client, finished_job, data):
    _, upload = finished_job
    twins = [client.post("/jobs", json={"upload": upload["id"], "options": {"max_frames": 5}}).json()["id"]
             for _ in range(2)]  # fmt: skip
    for twin in twins:
        assert wait_for(client, twin)["status"] == "done"
    catalog = read_catalog(data / "results").set_index("path")
    shared = data / "results" / catalog.loc[str(data / "inputs" / f"{twins[0]}.mov"), "frames_file"]
    assert client.delete(f"/jobs/{twins[0]}").status_code == 204
    assert client.get(f"/jobs/{twins[0]}").status_code == 404
    assert shared.is_file() and client.get(f"/jobs/{twins[1]}/results").status_code == 200
    assert client.delete(f"/jobs/{twins[1]}").status_code == 204
    assert not shared.is_file() and not (data / "inputs" / f"{twins[1]}.mov").exists()
    assert client.delete(f"/jobs/{twins[1]}").status_code == 404
    assert (data / "uploads" / f"{upload['id']}.mov").is_file()  # the first job still uses it


def test_a_token_is_required_when_one_is_set(tmp_path, media):
    with TestClient(create_app(tmp_path, token="s3cret")) as guarded:
        assert guarded.get("/health").status_code == 200
        for answer in (guarded.get("/jobs"), guarded.get("/jobs", headers={"Authorization": "Bearer wrong"}),
                       guarded.post("/uploads", content=b"x"), guarded.post("/query", json={"sql": "SELECT 1"})):  # fmt: skip
            assert answer.status_code == 401 and "token" in answer.json()["detail"]
        assert guarded.get("/jobs", headers={"Authorization": "Bearer s3cret"}).json() == []
        assert guarded.get("/jobs", params={"token": "s3cret"}).status_code == 200
    assert not (tmp_path / "uploads").exists()  # the refused upload wrote nothing


def test_serve_binds_to_loopback_and_refuses_other_hosts_without_a_token(tmp_path):
    assert binding_problem("127.0.0.1", None) is None and binding_problem("::1", None) is None
    assert binding_problem("localhost", None) is None and binding_problem("0.0.0.0", "t") is None
    for host in ("0.0.0.0", "192.168.1.20", "example.org", "::"):
        assert "--token" in binding_problem(host, None)
    refused = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--data", str(tmp_path / "d")])
    assert refused.exit_code == 2 and "--token" in refused.output
    assert not (tmp_path / "d").exists()  # refused before anything was made


def test_a_job_whose_input_is_gone_when_the_service_restarts_is_marked_failed(media, tmp_path):
    with TestClient(create_app(tmp_path)) as first:
        upload = first.post("/uploads", content=Path(media("happy")).read_bytes()).json()
        job = wait_for(first, first.post("/jobs", json={"upload": upload["id"]}).json()["id"])
    # What a service killed mid-job leaves behind, and then its input deleted by hand.
    db = sqlite3.connect(tmp_path / "server.sqlite")
    db.execute("UPDATE jobs SET status = 'running' WHERE id = ?", (job["id"],))
    db.commit()
    db.close()
    (tmp_path / "inputs" / f"{job['id']}.jpg").unlink()
    with TestClient(create_app(tmp_path)) as second:
        final = wait_for(second, job["id"])
        assert final["status"] == "failed" and "gone" in final["error"] and final["resumed"] == 1
        refused = second.get(f"/jobs/{job['id']}/results")
        assert refused.status_code == 409 and "gone" in refused.json()["detail"]


def test_jobs_beyond_the_waiting_limit_are_refused_with_429(media, tmp_path):
    with TestClient(create_app(tmp_path, max_waiting=1)) as limited:
        upload = limited.post("/uploads", content=Path(media("single_face_video")).read_bytes()).json()
        first = limited.post("/jobs", json={"upload": upload["id"]}).json()
        # The first job is still starting its worker (which loads the models): it is waiting.
        refused = limited.post("/jobs", json={"upload": upload["id"]})
        assert refused.status_code == 429 and "try again" in refused.json()["detail"]
        assert wait_for(limited, first["id"])["status"] == "done"
        again = limited.post("/jobs", json={"upload": upload["id"], "options": {"max_frames": 3}})
        assert again.status_code == 201 and wait_for(limited, again.json()["id"])["status"] == "done"


def test_one_image_takes_the_job_options_as_query_parameters_and_bad_ones_get_one_clear_422(client, media, data):
    body = Path(media("multi_face")).read_bytes()
    everyone = client.post("/analyze", content=body).json()
    assert len(everyone) > 1 and not any(c.startswith("mesh_") or c == "jawOpen" for c in everyone[0])
    one = client.post("/analyze", params={"max_faces": 1, "mesh": "true", "blendshapes": "true"}, content=body)
    assert one.status_code == 200, one.text
    rows = one.json()
    assert len(rows) == 1 and "mesh_x_477" in rows[0] and "jawOpen" in rows[0]
    for params, named in (({"max_faces": 0}, "max_faces"), ({"max_faces": "lots"}, "max_faces"),
                          ({"mesh": "banana"}, "mesh"), ({"landmarker_model": "/etc/passwd"}, "landmarker_model")):  # fmt: skip
        refused = client.post("/analyze", params=params, content=body)
        assert refused.status_code == 422 and isinstance(refused.json()["detail"], str), params
        assert f"query {named}:" in refused.json()["detail"] and refused.json()["errors"], params
    assert not files_under(data / "tmp")  # refused before a byte was written


def test_an_upload_no_job_uses_can_be_deleted_and_one_in_use_cannot(client, finished_job, media, data):
    job, used = finished_job
    spare = client.post("/uploads", content=Path(media("single_face")).read_bytes()).json()
    listed = {u["id"]: u for u in client.get("/uploads").json()}
    assert listed[spare["id"]]["jobs"] == [] and job["id"] in listed[used["id"]]["jobs"]
    assert listed[spare["id"]]["name"] == "" and listed[spare["id"]]["kind"] == "image"
    assert client.delete(f"/uploads/{spare['id']}").status_code == 204
    assert not (data / "uploads" / f"{spare['id']}.jpg").exists()
    assert spare["id"] not in [u["id"] for u in client.get("/uploads").json()]
    assert client.delete(f"/uploads/{spare['id']}").status_code == 404
    assert client.post("/jobs", json={"upload": spare["id"]}).status_code == 404
    busy = client.delete(f"/uploads/{used['id']}")
    assert busy.status_code == 409 and job["id"] in busy.json()["detail"]
    assert (data / "uploads" / f"{used['id']}.mov").is_file()


def test_uploads_no_job_uses_are_removed_after_a_while_and_used_ones_are_kept(media, tmp_path):
    body = Path(media("happy")).read_bytes()
    # upload_ttl_s=0: an unused upload goes as soon as the next upload arrives.
    with TestClient(create_app(tmp_path, upload_ttl_s=0, finish_jobs_on_stop=True)) as client:
        first = client.post("/uploads", content=body).json()["id"]
        second = client.post("/uploads", content=body).json()["id"]
        assert [u["id"] for u in client.get("/uploads").json()] == [second]
        assert not (tmp_path / "uploads" / f"{first}.jpg").exists()
        assert client.post("/jobs", json={"upload": second}).status_code == 201
        third = client.post("/uploads", content=body).json()["id"]
        assert [u["id"] for u in client.get("/uploads").json()] == [second, third]  # the job keeps its upload
    assert sorted(p.name for p in (tmp_path / "uploads").iterdir()) == sorted([f"{second}.jpg", f"{third}.jpg"])


def test_uploads_that_would_pass_the_data_folder_cap_are_refused_with_507(media, tmp_path):
    from mien.server.storage import folder_bytes

    body = Path(media("astronaut")).read_bytes()  # 0.8 MB: far more than the databases grow by
    with TestClient(create_app(tmp_path)):
        pass
    cap = folder_bytes(tmp_path) + int(1.5 * len(body))  # room for one, not two
    with TestClient(create_app(tmp_path, max_data=cap)) as client:
        first = client.post("/uploads", content=body)
        assert first.status_code == 201
        for refused in (client.post("/uploads", content=body),
                        client.post("/uploads", content=iter([body[:1000], body[1000:]])),  # no Content-Length
                        client.post("/analyze", content=body)):  # fmt: skip
            assert refused.status_code == 507 and "--max-data-gb" in refused.json()["detail"]
        assert not files_under(tmp_path / "tmp")
        assert client.delete(f"/uploads/{first.json()['id']}").status_code == 204  # room again
        assert client.post("/uploads", content=body).status_code == 201


def test_uploads_arriving_together_cannot_pass_the_cap_together(media, tmp_path):
    """Two uploads that each fit the cap, but not both, sent at the same moment to a real server
    (uvicorn, bodies arriving slowly): one is stored, the other refused with 507."""
    import socket
    import threading

    import httpx
    import uvicorn

    from mien.server.storage import folder_bytes

    body = Path(media("astronaut")).read_bytes()  # 0.8 MB
    with TestClient(create_app(tmp_path)):
        pass
    cap = folder_bytes(tmp_path) + int(1.5 * len(body))  # room for one, not two
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(tmp_path, max_data=cap), port=port, log_level="warning"))
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    try:
        while not server.started:
            time.sleep(0.05)

        def slowly():  # both uploads are under way before either has finished
            for start in range(0, len(body), len(body) // 8 + 1):
                time.sleep(0.15)
                yield body[start : start + len(body) // 8 + 1]

        answers: list[int] = []

        def send():
            answer = httpx.post(f"http://127.0.0.1:{port}/uploads", content=slowly(), timeout=60,
                                headers={"Content-Length": str(len(body))})  # fmt: skip
            answers.append(answer.status_code)

        senders = [threading.Thread(target=send) for _ in range(2)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
    finally:
        server.should_exit = True
        serving.join(timeout=30)
    assert sorted(answers) == [201, 507]
    assert folder_bytes(tmp_path) <= cap and not files_under(tmp_path / "tmp")


def test_a_restart_removes_what_uploads_cut_short_left_behind(tmp_path):
    """A service stopped mid-upload leaves its temporary file; the next start removes it (the
    cap counts uploads in progress by their reservations, not by these files)."""
    (tmp_path / "tmp").mkdir()
    cut_short = tmp_path / "tmp" / ".0123456789abcdef.part"
    cut_short.write_bytes(b"half an upload" * 1000)
    with TestClient(create_app(tmp_path)) as client:
        assert client.get("/health").status_code == 200
        assert not cut_short.exists()


def test_no_endpoint_reaches_a_path_outside_the_data_folder_or_inside_it_by_name(client, data):
    before = {p: p.stat().st_mtime_ns for p in files_under(data) if "sqlite" not in p.name}
    for method, path in (("GET", "/jobs/..%2F..%2Fetc%2Fpasswd"), ("GET", "/jobs/..%2Fserver.sqlite/results"),
                         ("GET", "/jobs/%2Fetc%2Fpasswd/media"), ("DELETE", "/jobs/..%2Fserver.sqlite"),
                         ("DELETE", "/uploads/..%2Fserver.sqlite"), ("DELETE", "/uploads/%2Fetc%2Fhostname"),
                         ("GET", "/static/..%2F..%2F..%2Fpyproject.toml"), ("GET", "/static/../app.py")):  # fmt: skip
        answer = client.request(method, path)
        assert answer.status_code == 404 and answer.json()["detail"], (method, path)
    assert (data / "server.sqlite").is_file() and Path("/etc/hostname").exists()
    assert {p: p.stat().st_mtime_ns for p in files_under(data) if "sqlite" not in p.name} == before


def test_a_bug_is_answered_with_json_naming_the_log_never_a_traceback(tmp_path):
    data = tmp_path / "data"
    with TestClient(create_app(data), raise_server_exceptions=False) as client:
        assert client.put("/jobs").status_code == 405 and client.put("/jobs").json()["detail"]
        (data / "server.sqlite").write_bytes(b"not a database" * 512)  # the service's own state broken
        answer = client.get("/jobs")
    assert answer.status_code == 500 and answer.headers["content-type"] == "application/json"
    assert "bug in mien" in answer.json()["detail"] and "Traceback" not in answer.text
    logs = list((data / "logs").glob("internal-error-*.log"))  # inside --data, like all it keeps
    assert len(logs) == 1 and "Traceback" in logs[0].read_text() and str(logs[0]) in answer.json()["detail"]


def test_serve_flags_default_to_loopback_and_to_create_apps_limits():
    import inspect

    from mien.cli import serve as serve_command

    flags = {name: p.default for name, p in inspect.signature(serve_command).parameters.items()}
    limits = {name: p.default for name, p in inspect.signature(create_app).parameters.items()}
    assert flags["host"] == "127.0.0.1" and flags["token"] is None
    assert flags["workers"] == limits["concurrent_jobs"] and flags["max_jobs"] == limits["max_waiting"]
    assert flags["max_upload_mb"] << 20 == limits["max_upload"] and flags["max_data_gb"] * (1 << 30) == limits["max_data"]
    assert flags["upload_ttl_hours"] * 3600 == limits["upload_ttl_s"]
    assert flags["live_fps"] == limits["live_fps"] and flags["max_live"] == limits["max_live"]


def test_serve_refuses_limits_that_make_no_sense(tmp_path):
    for flag, value in (("--workers", "0"), ("--max-jobs", "0"), ("--max-upload-mb", "0"), ("--max-data-gb", "-1"),
                        ("--upload-ttl-hours", "0"), ("--live-fps", "0"), ("--max-live", "0")):  # fmt: skip
        refused = CliRunner().invoke(cli, ["serve", "--data", str(tmp_path / "d"), flag, value])
        assert refused.exit_code == 2 and flag in refused.output, (flag, refused.output)
    assert not (tmp_path / "d").exists()


@contextlib.contextmanager
def real_server(tmp_path: Path, *flags: str) -> Iterator[str]:
    """A real `mien serve` on a free loopback port with ``flags``, ready; yields its host:port."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with open(tmp_path / "server.log", "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "mien.cli", "serve", "--port", str(port), "--data", str(tmp_path / "d"),
                                   *flags], stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)  # fmt: skip
    url = f"127.0.0.1:{port}"
    try:
        give_up = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < give_up and server.poll() is None, (tmp_path / "server.log").read_text()
                time.sleep(0.1)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def test_serve_flags_set_the_limits_of_a_real_server(media, tmp_path):
    """`mien serve` on loopback with small limits: each flag reaches the service it starts."""
    import httpx
    from PIL import Image
    from websockets.sync.client import connect

    flags = ("--max-upload-mb", "1", "--max-data-gb", "0.00001", "--max-live", "1", "--live-fps", "2")
    with real_server(tmp_path, *flags) as url:
        big = Path(media("face_video")).read_bytes()  # 1.6 MB
        assert len(big) > 1 << 20 and httpx.post(f"http://{url}/uploads", content=big).status_code == 413
        full = httpx.post(f"http://{url}/uploads", content=Path(media("happy")).read_bytes())  # the 10 kB cap is passed
        assert full.status_code == 507 and "--max-data-gb" in full.json()["detail"]

        frame = io.BytesIO()
        Image.open(media("single_face")).convert("RGB").save(frame, "JPEG")
        with connect(f"ws://{url}/live", open_timeout=60) as first:
            first.send(frame.getvalue())  # the first answer: the stream is open and counted
            assert json.loads(first.recv(timeout=120))["type"] == "frame"
            with connect(f"ws://{url}/live") as second:
                refused = json.loads(second.recv(timeout=60))
                assert refused["status"] == 429 and "1 live connections" in refused["detail"]
            for _ in range(5):  # at once: more than 2 a second
                first.send(frame.getvalue())
            answers = [json.loads(first.recv(timeout=60)) for _ in range(5)]
            assert [a["status"] for a in answers if a["type"] == "error"] and {a["type"] for a in answers} <= {"frame", "error"}
            assert all(a["status"] == 429 for a in answers if a["type"] == "error")


def test_serve_job_and_upload_lifetime_flags_reach_a_real_server(media, tmp_path):
    """--max-jobs: one job waiting or running, the next refused with 429; --upload-ttl-hours: an
    upload no job uses is removed once it is older (here 1.8 s), the job's upload is kept."""
    import httpx

    with real_server(tmp_path, "--max-jobs", "1", "--workers", "1", "--upload-ttl-hours", "0.0005") as url:
        video = httpx.post(f"http://{url}/uploads", content=Path(media("single_face_video")).read_bytes()).json()["id"]
        assert httpx.post(f"http://{url}/jobs", json={"upload": video}).status_code == 201
        second = httpx.post(f"http://{url}/jobs", json={"upload": video})  # the first is still loading models
        assert second.status_code == 429 and "1 jobs are already waiting or running" in second.json()["detail"]
        unused = httpx.post(f"http://{url}/uploads", content=Path(media("happy")).read_bytes()).json()["id"]
        time.sleep(2.5)
        later = httpx.post(f"http://{url}/uploads", content=Path(media("anger")).read_bytes()).json()["id"]
        assert [u["id"] for u in httpx.get(f"http://{url}/uploads").json()] == [video, later]
        assert unused not in {p.stem for p in (tmp_path / "d" / "uploads").iterdir()}
