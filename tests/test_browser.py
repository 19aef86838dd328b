"""The web page end to end in a real browser: headless Chromium (Debian's package, driven by
Playwright for Python) against a real `mien serve` on loopback.

- Upload the sample clip through the page, see the job finish and its results view open: the
  plots drawn (each series' colour on its canvas), the overlay drawn where the face is, an event
  clicked and the video gone to its onset, the AU picker redrawing, the summary and downloads.
- The live view fed by Chromium's fake camera (a .y4m made from the sample clip): a face found
  and tracked, numbers that keep updating.

Screenshots go to $MIEN_SCREENSHOTS when set (to look at), else to the test's tmp folder.
Skipped, with the reason, without Playwright or without a Chromium binary (.ci/run installs it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

httpx = pytest.importorskip("httpx", reason="the test talks HTTP with httpx (the test extra)")
playwright = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed (the test extra)")

CHROMIUM = os.environ.get("MIEN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    pytest.skip("no Chromium binary (apt-get install chromium, or MIEN_CHROMIUM=/path/to/chrome); "
                "Playwright's own browser download is not used", allow_module_level=True)  # fmt: skip

FRAMES = 240  # the clip's first 10 s: sadness, a blink and a surprise happen in them
CAMERA_FRAMES = 72  # 3 s of the clip, looped by the fake camera
FACE_COLOUR = (0x31, 0xD0, 0xAA)  # the overlay's colour for face #0 (COLOURS[0] in app.js)
TOKEN = "browser-test-token"  # the server wants one, so the page's token plumbing is tested too
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real `mien serve` on loopback in a process of its own; its URL."""
    folder = tmp_path_factory.mktemp("browser")
    port = _free_port()
    with open(folder / "server.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "mien.cli", "serve", "--port", str(port), "--data", str(folder / "data"),
                                    "--token", TOKEN], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    give_up = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "health").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > give_up:
            process.kill()
            raise AssertionError("mien serve did not start:\n" + (folder / "server.log").read_text()[-3000:])
        time.sleep(0.1)
    yield url
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def camera_clip(media, tmp_path_factory) -> Path:
    """The clip's first seconds as the raw YUV4MPEG2 file Chromium's fake camera plays in a loop."""
    import av

    path = tmp_path_factory.mktemp("camera") / "clip.y4m"
    with av.open(media("face_video")) as container, open(path, "wb") as out:
        stream = container.streams.video[0]
        rate = stream.average_rate
        for i, frame in enumerate(container.decode(stream)):
            if i == 0:
                out.write(f"YUV4MPEG2 W{frame.width} H{frame.height} F{rate.numerator}:{rate.denominator} Ip A1:1 C420jpeg\n".encode())
            out.write(b"FRAME\n" + frame.to_ndarray(format="yuv420p").tobytes())
            if i + 1 == CAMERA_FRAMES:
                break
    return path


@pytest.fixture(scope="module")
def browser(camera_clip):
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=[
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={camera_clip}", "--autoplay-policy=no-user-gesture-required"])  # fmt: skip
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, permissions=["camera"])
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"the page threw: {errors}"


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("MIEN_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def canvas_pixels(page, selector: str) -> np.ndarray:
    """The canvas's own pixels (H, W, 4), read back by the page."""
    found = page.evaluate("""(selector) => {
        const canvas = document.querySelector(selector);
        const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
        return {width: canvas.width, height: canvas.height, data: Array.from(data)};
    }""", selector)  # fmt: skip
    return np.array(found["data"], dtype=np.uint8).reshape(found["height"], found["width"], 4)


def coloured(pixels: np.ndarray, colour: tuple[int, int, int], tolerance: int = 40) -> np.ndarray:
    """Where the canvas shows ``colour`` (opaque, within ``tolerance`` per channel): a bool mask."""
    near = np.abs(pixels[..., :3].astype(int) - np.array(colour)).max(axis=-1) <= tolerance
    return near & (pixels[..., 3] > 128)


def hex_colour(text: str) -> tuple[int, int, int]:
    return tuple(int(text[i:i + 2], 16) for i in (1, 3, 5))


def test_upload_the_clip_and_follow_its_results_in_the_page(server, page, media, shots):
    page.goto(server + "?token=" + TOKEN)
    page.set_input_files("#file", media("face_video"))
    page.fill("#max-frames", str(FRAMES))
    page.click("#upload-form button[type=submit]")
    # Done: the page opens the results view by itself once the job has finished.
    page.wait_for_function("document.getElementById('results-status').textContent.includes('rows')", timeout=180_000)
    assert page.text_content("#results-title") == "Results: WolfgangLanger_Pexels.mp4"
    job_id = page.evaluate("location.hash").removeprefix("#results/")
    rows = httpx.get(f"{server}jobs/{job_id}/frames?landmarks=true", headers=AUTH).json()
    assert rows["rows"] == FRAMES

    # The plots: every series' line on its canvas.
    colours = page.evaluate("({e: EXPRESSION_COLOURS, a: AFFECT_COLOURS, u: AU_COLOURS, h: HEAD_COLOURS})")
    expressions = canvas_pixels(page, "#plot-expressions canvas")
    for name in ("sadness", "neutral", "happiness"):
        assert coloured(expressions, hex_colour(colours["e"][name]), 20).sum() > 100, f"no {name} line drawn"
    affect = canvas_pixels(page, "#plot-affect canvas")
    assert coloured(affect, hex_colour(colours["a"]["valence"]), 20).sum() > 100
    assert coloured(affect, hex_colour(colours["a"]["arousal"]), 20).sum() > 100
    chosen = page.eval_on_selector_all("#au-picker input:checked", "boxes => boxes.map(b => b.value)")
    assert len(chosen) == 4 and not {"AU43", "AU45"} <= set(chosen)  # closed lids shown once, not twice
    aus = canvas_pixels(page, "#plot-aus canvas")
    assert coloured(aus, hex_colour(colours["u"][0]), 20).sum() > 100
    head = canvas_pixels(page, "#plot-head canvas")
    for name in ("pose_yaw", "pose_pitch", "gaze_yaw"):
        assert coloured(head, hex_colour(colours["h"][name]), 20).sum() > 100, f"no {name} line drawn"
    head_legend = page.eval_on_selector_all("#plot-head .u-legend .u-series .u-label", "labels => labels.map(l => l.textContent)")
    assert head_legend[1:] == ["head yaw", "head pitch", "head roll", "gaze yaw", "gaze pitch"]

    # The overlay 3 s in: face #0's box drawn where the rows put it, on a canvas of the video's size.
    i = 72
    page.evaluate(f"document.getElementById('results-video').currentTime = {rows['timestamp'][i]}")
    page.wait_for_function(f"document.getElementById('results-now').textContent.startsWith(({rows['timestamp'][i]}).toFixed(2))")
    page.wait_for_function("view.landmarks.size > 0")
    page.evaluate("drawOverlay(document.getElementById('results-video').currentTime)")
    overlay = canvas_pixels(page, "#results-overlay")
    assert overlay.shape[:2] == (360, 640)
    drawn = coloured(overlay, FACE_COLOUR)
    x, y, w, h = rows["box"][i]
    ys, xs = np.nonzero(drawn)
    assert abs(xs.min() - x) < 4 and abs(xs.max() - (x + w)) < 4 and abs(ys.max() - (y + h)) < 4
    inside = drawn[int(y) + 5: int(y + h) - 5, int(x) + 5: int(x + w) - 5]
    assert inside.sum() > 40 * 9, "no landmarks inside the box"  # most of the 68 points, 3x3 px each
    assert f"#0 {rows['emotion'][i]}" in page.text_content("#results-now")
    video_box = page.locator("#results-video").bounding_box()
    overlay_box = page.locator("#results-overlay").bounding_box()
    assert video_box == overlay_box  # the overlay lies exactly over the picture
    assert abs(video_box["width"] / video_box["height"] - 640 / 360) < 0.01  # and the picture is not letterboxed
    page.locator("#results").screenshot(path=str(shots / "results.png"))

    # An event clicked: the video goes to its onset, the overlay and the playheads follow.
    events = httpx.get(f"{server}jobs/{job_id}/events", headers=AUTH).json()
    surprise = next(e for e in events if e["label"] == "surprise")
    page.click("#results-events button.event:has-text('surprise')")
    page.wait_for_function(f"Math.abs(document.getElementById('results-video').currentTime - {surprise['onset']}) < 0.01")
    page.wait_for_function(f"document.getElementById('results-now').textContent.startsWith(({surprise['onset']}).toFixed(2))")
    playhead = page.locator("#plot-expressions .playhead").bounding_box()
    plot_left = page.evaluate("view.plots[0].over.getBoundingClientRect().left")
    expected = page.evaluate(f"view.plots[0].valToPos({surprise['onset']}, 'x')")
    assert abs(playhead["x"] + playhead["width"] / 2 - (plot_left + expected)) < 2
    assert page.locator("#results-events button.event.now").count() >= 1
    # The legend reads out the frame shown: the surprise probability of the onset's row.
    k = rows["timestamp"].index(surprise["onset"])
    legend = page.text_content("#plot-expressions .u-legend .u-series:nth-child(4) .u-value")
    assert legend == page.evaluate(f"({rows['series']['surprise'][k]}).toFixed(2)")  # the page's own rounding

    # Playing: the overlay's frame and the playheads move on with the video, frame by frame.
    page.evaluate("document.getElementById('results-video').play()")
    page.wait_for_function("Number(document.getElementById('results-now').textContent.match(/frame (\\d+)/)[1]) > 215")
    page.evaluate("document.getElementById('results-video').pause()")
    page.wait_for_timeout(200)
    shown = page.evaluate("""(() => {
        const video = document.getElementById('results-video');
        drawOverlay(video.currentTime);
        return {t: video.currentTime, line: document.getElementById('results-now').textContent,
                playhead: view.plots[1].playhead.getBoundingClientRect().left + 1 - view.plots[1].over.getBoundingClientRect().left,
                x: view.plots[1].valToPos(video.currentTime, 'x')};
    })()""")  # fmt: skip
    k = int(np.searchsorted(rows["timestamp"], shown["t"] + 0.0005, side="right")) - 1
    assert f"frame {rows['frame'][k]}" in shown["line"]
    assert abs(shown["playhead"] - shown["x"]) < 2

    # Zoom: a drag across the expression plot from 2 s to 4 s shows 2-4 s in every plot, without
    # moving the video; a double-click shows the whole clip again.
    before = page.evaluate("document.getElementById('results-video').currentTime")
    whole = page.evaluate("view.plots.map((p) => [p.scales.x.min, p.scales.x.max])")
    box = page.locator("#plot-expressions .u-over").bounding_box()
    x_at = lambda t: box["x"] + page.evaluate(f"view.plots[0].valToPos({t}, 'x')")  # noqa: E731
    page.mouse.move(x_at(2.0), box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(x_at(3.0), box["y"] + box["height"] / 2, steps=5)
    page.mouse.move(x_at(4.0), box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    shown = page.evaluate("view.plots.map((p) => [p.scales.x.min, p.scales.x.max])")
    assert len(shown) == 4 and all(abs(lo - 2.0) < 0.1 and abs(hi - 4.0) < 0.1 for lo, hi in shown), shown
    assert page.evaluate("document.getElementById('results-video').currentTime") == before
    page.locator("#results-plots").screenshot(path=str(shots / "plots-zoomed.png"))
    page.dblclick("#plot-affect .u-over")
    assert page.evaluate("view.plots.map((p) => [p.scales.x.min, p.scales.x.max])") == whole

    # The AU picker: one more AU, one more line.
    extra = next(name for name in ("AU45", "AU43", "AU28") if name not in chosen)
    page.click(f"#au-picker label:has(input[value={extra}])")
    assert page.eval_on_selector_all("#plot-aus .u-legend .u-series", "s => s.length") == 1 + 5

    # Summary and every download, each answering.
    assert page.locator("#results-summary table.summary tbody tr").count() > 30
    links = page.eval_on_selector_all("#results-downloads a", "links => links.map(a => a.href)")
    assert len(links) == 10
    for link in links:  # as a browser follows them: the token in the link, no header
        assert httpx.get(link).status_code == 200, link
    page.screenshot(path=str(shots / "page-results.png"), full_page=True)

    # The jobs list opens the same view.
    page.click("#results-close")
    assert page.locator("#results").is_hidden()
    page.click(f"#jobs-body tr:has-text('{job_id}') button.open")
    page.wait_for_function("document.getElementById('results-status').textContent.includes('rows')")


def test_the_live_view_finds_and_follows_the_face_from_the_camera(server, page, shots):
    page.goto(server + "?token=" + TOKEN + "#live")
    page.click("#live-start")
    page.wait_for_function("document.getElementById('live-faces').textContent.includes('Face #0')", timeout=60_000)
    first = page.text_content("#live-faces")
    page.wait_for_function("(before) => document.getElementById('live-faces').textContent !== before", arg=first,
                           timeout=10_000)  # fmt: skip
    status = page.text_content("#live-status")
    assert "frames/s" in status and float(status.split()[0]) > 2
    overlay = canvas_pixels(page, "#overlay")
    assert coloured(overlay, FACE_COLOUR).sum() > 500  # box and landmarks of face #0
    page.locator("#live").screenshot(path=str(shots / "live.png"))
    page.click("#live-stop")
    page.wait_for_function("document.getElementById('live-status').textContent.startsWith('stopped after')")
