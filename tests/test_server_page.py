"""mien serve's web page: served by the app from files inside the package, self-contained (no
CDN, no build step), reachable without the token (it holds no data) while the API it calls is not.
What it does in a real browser is tests/test_browser.py's business."""

from __future__ import annotations

import re
from pathlib import Path

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
        assert sorted(linked) == ["static/app.js", "static/results.js", "static/style.css",
                                  "static/vendor/uPlot.iife.min.js", "static/vendor/uPlot.min.css"]  # fmt: skip
        for path in linked:
            answer = client.get("/" + path)
            assert answer.status_code == 200 and answer.text == (STATIC / path.removeprefix("static/")).read_text()
        for path in STATIC.rglob("*.*"):  # no CDN, nothing fetched from elsewhere, vendored code included
            assert not re.search(r"(src|href)=[\"']https?://|import\s+.*https?://|fetch\(\s*[\"']https?://", path.read_text())
        for name in ("app.js", "results.js"):
            assert "innerHTML" not in (STATIC / name).read_text()  # names from clients go in as text only
        ids = set(re.findall(r'id="([^"]+)"', page.text))
        assert {"upload-form", "jobs-body", "camera", "overlay", "results-video", "results-overlay",
                "results-events", "plot-expressions", "plot-affect", "plot-aus", "results-summary"} <= ids  # fmt: skip
        assert client.get("/static/../app.py").status_code == 404
        assert client.get("/jobs").status_code == 401  # the page is open, the data is not


def test_every_vendored_file_is_named_with_its_version_and_licence():
    licences = (Path(__file__).parents[1] / "docs" / "licences.md").read_text()
    for path in (STATIC / "vendor").iterdir():
        assert path.name in licences, f"{path.name} is vendored but docs/licences.md does not name it"
    assert "uPlot 1.6.32" in licences and "MIT" in licences
    assert "v1.6.32" in (STATIC / "vendor" / "uPlot.iife.min.js").read_text()[:200]  # the version the docs name


def test_the_jobs_list_names_each_jobs_file_for_the_page(tmp_path, media):
    with TestClient(create_app(tmp_path)) as client:
        with open(media("happy"), "rb") as f:
            upload = client.post("/uploads", files={"file": ("<b>smile</b>.jpg", f, "image/jpeg")}).json()
        job = client.post("/jobs", json={"upload": upload["id"]}).json()
        assert [j["name"] for j in client.get("/jobs").json()] == ["<b>smile</b>.jpg"]
        assert client.get(f"/jobs/{job['id']}").json()["name"] == "<b>smile</b>.jpg"
        assert wait_for(client, job["id"])["status"] == "done"  # nothing left running after the test
