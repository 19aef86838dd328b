"""mien serve's live WebSocket (/live) against the real app (FastAPI's TestClient) with real frames:
the sample clip decoded and sent as JPEG, one answer per frame, face ids that persist, events
flushed on finish, bad frames answered and survived, the frame-rate limit and the token rule."""

from __future__ import annotations

import io

import pytest

pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx (the test extra)")

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

from mien.io.video import read_video  # noqa: E402
from mien.schema import AU_CODES, EMOTIONS  # noqa: E402
from mien.server.app import create_app  # noqa: E402

FRAMES = 36  # 1.5 s of the clip: enough for a confirmed identity and episodes to flush


@pytest.fixture(scope="module")
def jpeg_frames(media) -> list[bytes]:
    """The face clip's first frames as a browser camera page sends them: JPEG bytes."""
    frames = []
    for frame in read_video(media("face_video"), max_frames=FRAMES):
        buffer = io.BytesIO()
        Image.fromarray(frame.image).save(buffer, "JPEG", quality=85)
        frames.append(buffer.getvalue())
    return frames


def test_live_frames_keep_their_ids_survive_bad_frames_and_finish_with_the_open_events(jpeg_frames, tmp_path):
    with TestClient(create_app(tmp_path, live_fps=1000)) as client, client.websocket_connect("/live") as ws:
        answers = []
        for i, frame in enumerate(jpeg_frames):
            ws.send_bytes(frame)
            answers.append(ws.receive_json())
            if i == FRAMES // 2:  # in the middle: a bad frame, and text that is no command
                ws.send_bytes(b"\xff\xd8 not really a jpeg")
                bad = ws.receive_json()
                ws.send_bytes(_png(jpeg_frames[0]))
                png = ws.receive_json()
                ws.send_text("hello")
                text = ws.receive_json()
        ws.send_text('{"type": "finish"}')
        finished = ws.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1000

    assert [a["type"] for a in answers] == ["frame"] * FRAMES
    assert [a["frame"] for a in answers] == list(range(FRAMES))
    assert all(a["width"] == 640 and a["height"] == 360 for a in answers)
    assert all(len(a["faces"]) == 1 for a in answers)
    ids = [a["faces"][0]["face_id"] for a in answers]
    assert ids[-1] == 0 and ids.index(0) <= 5 and set(ids[ids.index(0):]) == {0}  # confirmed, then kept
    face = answers[-1]["faces"][0]
    assert len(face["landmarks"]) == 68 and all(len(p) == 2 for p in face["landmarks"])
    x, y, w, h = face["box"]
    assert 0 <= x < 640 and 0 <= y < 360 and w > 50 and h > 50
    assert set(face["aus"]) == set(AU_CODES) and set(face["aus_present"]) == set(AU_CODES)
    assert all(0 <= v <= 5 for v in face["aus"].values())
    assert set(face["expressions"]) == set(EMOTIONS)
    assert abs(sum(face["expressions"].values()) - 1) < 1e-2
    assert face["expression"] == max(face["expressions"], key=face["expressions"].get)
    assert set(face["pose"]) == {"yaw", "pitch", "roll"} and all(abs(v) < 90 for v in face["pose"].values())
    assert all(a["timestamp"] >= b["timestamp"] for a, b in zip(answers[1:], answers))

    assert bad["type"] == "error" and bad["status"] == 415 and "JPEG" in bad["detail"]
    assert png["type"] == "error" and png["status"] == 415 and "PNG" in png["detail"]
    assert text["type"] == "error" and text["status"] == 400 and "finish" in text["detail"]

    assert finished["type"] == "finished" and finished["frames"] == FRAMES
    assert finished["events"], "the episodes open at the end are closed and sent"
    assert {e["face_id"] for e in finished["events"]} == {0}
    assert {e["input"] for e in finished["events"]} == {"live"}
    assert {"expression", "blink"} & {e["kind"] for e in finished["events"]}
    assert all(e["onset"] <= e["offset"] for e in finished["events"])


def test_frames_beyond_the_rate_limit_are_answered_with_429_and_not_analysed(jpeg_frames, tmp_path):
    sent = 12
    with TestClient(create_app(tmp_path, live_fps=3)) as client, client.websocket_connect("/live") as ws:
        for frame in jpeg_frames[:sent]:  # all at once, faster than 3 a second
            ws.send_bytes(frame)
        answers = [ws.receive_json() for _ in range(sent)]
        refused = [a for a in answers if a["type"] == "error"]
        analysed = [a for a in answers if a["type"] == "frame"]
        assert [a["seq"] for a in answers] == list(range(sent))
        assert analysed[:3] == answers[:3]  # the first three of the second are analysed
        assert len(analysed) < sent and refused
        assert all(a["status"] == 429 and "3 frames a second" in a["detail"] for a in refused)
        ws.send_bytes(jpeg_frames[sent])  # the connection goes on
        assert ws.receive_json()["type"] in ("frame", "error")


def test_with_a_token_the_live_socket_needs_it_too(jpeg_frames, tmp_path):
    with TestClient(create_app(tmp_path, token="s3cret")) as client:
        with client.websocket_connect("/live") as ws:
            refused = ws.receive_json()
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
        assert refused["status"] == 401 and "token" in refused["detail"] and closed.value.code == 1008
        with client.websocket_connect("/live?token=wrong") as ws:
            assert ws.receive_json()["status"] == 401
        with client.websocket_connect("/live?token=s3cret") as ws:
            ws.send_bytes(jpeg_frames[0])
            assert ws.receive_json()["type"] == "frame"


def _png(jpeg: bytes) -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(jpeg)).save(buffer, "PNG")
    return buffer.getvalue()


def test_one_live_connection_too_many_is_answered_429_and_closed(jpeg_frames, tmp_path):
    with TestClient(create_app(tmp_path, max_live=1)) as client:
        with client.websocket_connect("/live") as first:
            first.send_bytes(jpeg_frames[0])
            assert first.receive_json()["type"] == "frame"
            with client.websocket_connect("/live") as second:
                refused = second.receive_json()
                with pytest.raises(WebSocketDisconnect) as closed:
                    second.receive_json()
            assert refused["status"] == 429 and "1 live connections" in refused["detail"]
            assert closed.value.code == 1013
            first.send_bytes(jpeg_frames[1])  # the open one goes on
            assert first.receive_json()["type"] == "frame"
        with client.websocket_connect("/live") as again:  # its place is free once it has gone
            again.send_bytes(jpeg_frames[0])
            assert again.receive_json()["type"] == "frame"
