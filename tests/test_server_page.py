"""mien serve's web page: served by the app from files inside the package, self-contained (no
CDN, no build step), reachable without the token (it holds no data) while the API it calls is not.
What it looks like and does in a browser was checked by hand in headless Chromium (docs/server.md)."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx (the test extra)")

from fastapi.testclient import TestClient  # noqa: E402

from mien.server.app import STATIC, create_app  # noqa: E402
from tests.test_server import wait_for  # noqa: E402


def test_the_page_and_its_files_are_served_and_need_nothing_from_elsewhere(tmp_path):
    with TestClient(create_app(tmp_path, token="s3cret")) as client:
        page = client.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        linked = re.findall(r'(?:src|href)="(static/[^"]+)"', page.text)
        assert sorted(linked) == ["static/app.js", "static/style.css"]
        for path in linked:
            answer = client.get("/" + path)
            assert answer.status_code == 200 and answer.text == (STATIC / path.removeprefix("static/")).read_text()
        for name in ("index.html", "app.js", "style.css"):  # no CDN, no third-party script
            assert not re.search(r"(src|href)=[\"']https?://|import\s+.*https?://", (STATIC / name).read_text())
        assert "innerHTML" not in (STATIC / "app.js").read_text()  # names from clients go in as text only
        assert {"upload-form", "jobs-body", "camera", "overlay"} <= set(re.findall(r'id="([^"]+)"', page.text))
        assert client.get("/jobs").status_code == 401  # the page is open, the data is not
        assert client.get("/static/../app.py").status_code == 404


def test_the_jobs_list_names_each_jobs_file_for_the_page(tmp_path, media):
    with TestClient(create_app(tmp_path)) as client:
        with open(media("happy"), "rb") as f:
            upload = client.post("/uploads", files={"file": ("<b>smile</b>.jpg", f, "image/jpeg")}).json()
        job = client.post("/jobs", json={"upload": upload["id"]}).json()
        assert [j["name"] for j in client.get("/jobs").json()] == ["<b>smile</b>.jpg"]
        assert client.get(f"/jobs/{job['id']}").json()["name"] == "<b>smile</b>.jpg"
        assert wait_for(client, job["id"])["status"] == "done"  # nothing left running after the test
