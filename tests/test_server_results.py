"""The two routes behind the page's results view, on the real app with the real sample clip: the
job's media served with Range (a <video> seeks with it), and the rows as compact columns whose
values are those of the job's own Parquet file."""

from __future__ import annotations

import io

import pytest

pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx (the test extra)")

import pandas as pd  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from mien.schema import AU_CODES, EMOTIONS  # noqa: E402
from mien.server.app import create_app  # noqa: E402
from tests.test_server import wait_for  # noqa: E402

FRAMES = 48  # two seconds of the clip


@pytest.fixture(scope="module")
def finished(media, tmp_path_factory):
    """A client of a service with one finished job on the clip's first two seconds, and the clip."""
    clip = media("face_video")
    with TestClient(create_app(tmp_path_factory.mktemp("data"), token="s3cret")) as client:
        client.headers["Authorization"] = "Bearer s3cret"
        with open(clip, "rb") as f:
            upload = client.post("/uploads", files={"file": ("clip.mp4", f, "video/mp4")}).json()
        job = client.post("/jobs", json={"upload": upload["id"], "options": {"max_frames": FRAMES}}).json()
        assert wait_for(client, job["id"])["status"] == "done"
        yield client, job["id"], clip


def test_the_media_is_the_upload_served_with_ranges_so_a_video_can_seek(finished):
    client, job_id, clip = finished
    whole = open(clip, "rb").read()
    answer = client.get(f"/jobs/{job_id}/media")
    assert answer.status_code == 200 and answer.content == whole
    assert answer.headers["content-type"] == "video/mp4" and answer.headers["accept-ranges"] == "bytes"
    part = client.get(f"/jobs/{job_id}/media", headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == whole[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(whole)}"
    assert client.get(f"/jobs/{job_id}/media", headers={"Authorization": ""}).status_code == 401
    assert client.get("/jobs/0123456789abcdef/media").status_code == 404


def test_the_frame_columns_hold_the_jobs_rows_and_landmarks_only_for_the_window_asked(finished):
    client, job_id, _ = finished
    rows = pd.read_parquet(io.BytesIO(client.get(f"/jobs/{job_id}/results?format=parquet").content))
    columns = client.get(f"/jobs/{job_id}/frames").json()
    assert columns["rows"] == len(rows) == FRAMES and "landmarks" not in columns
    assert columns["frame"] == rows["frame"].tolist()
    assert columns["face_id"] == rows["face_id"].tolist()
    assert columns["emotion"] == rows["emotion"].tolist()
    assert set(columns["series"]) == {"valence", "arousal", "pspi", *EMOTIONS, *AU_CODES,
                                      "pose_yaw", "pose_pitch", "pose_roll", "gaze_yaw", "gaze_pitch"}  # fmt: skip
    assert columns["series"]["AU12"] == pytest.approx(rows["AU12"].tolist(), abs=5e-4)
    assert columns["box"][10] == pytest.approx(rows.loc[10, ["face_x", "face_y", "face_w", "face_h"]].tolist(), abs=0.05)

    window = client.get(f"/jobs/{job_id}/frames", params={"start": 0.5, "end": 1.0, "landmarks": "true"}).json()
    inside = rows[(rows["timestamp"] >= 0.5) & (rows["timestamp"] <= 1.0)]
    assert 0 < window["rows"] == len(inside) < FRAMES
    assert window["frame"] == inside["frame"].tolist()
    first = inside.iloc[0]
    assert window["landmarks"][0][:4] == pytest.approx([first["x_0"], first["y_0"], first["x_1"], first["y_1"]], abs=0.05)
    assert len(window["landmarks"][0]) == 136


def test_an_image_jobs_media_and_its_one_row(tmp_path, media):
    with TestClient(create_app(tmp_path)) as client:
        with open(media("happy"), "rb") as f:
            upload = client.post("/uploads", files={"file": ("face.jpg", f, "image/jpeg")}).json()
        job = client.post("/jobs", json={"upload": upload["id"]}).json()
        assert wait_for(client, job["id"])["status"] == "done"
        image = client.get(f"/jobs/{job['id']}/media")
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
        assert client.get(f"/jobs/{job['id']}/frames").json()["rows"] == 1
