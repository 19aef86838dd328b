"""Drawing layers for annotated frames: box and id, landmarks, mesh, head-pose axes, gaze rays,
top expression, AU bars and event captions.

Each layer draws every face of a frame into an RGB image in place, with OpenCV (anti-aliased,
sub-pixel lines). Geometry is computed for all faces at once with numpy and drawn in one
``cv2.polylines`` call per layer; only text is drawn face by face (one string at a time is all a
text renderer offers), each block where report/placement.py finds room: beside its own face,
over no other face and no other face's text, smaller in a crowded frame. Sizes follow the image's
short side, so 360p and 4K look alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from mien.report.frame_faces import FrameFaces
from mien.report.mesh import tesselation_edges
from mien.report.placement import Layout, Rect
from mien.calibration import load_table
from mien.schema import AU_CODES, EMOTIONS, trust_mark

LAYERS = ("box", "landmarks", "mesh", "pose", "gaze", "expression", "aus", "events")
DEFAULT_LAYERS = ("box", "landmarks", "pose", "gaze", "expression", "aus", "events")
# The AUs a viewer most often asks about: brows, cheeks, smile, frown, mouth opening.
DEFAULT_AUS = ("AU01", "AU02", "AU04", "AU06", "AU12", "AU15", "AU25", "AU26")

# One colour per face id (Tableau 10, RGB), so a person keeps a colour through the video.
PALETTE = np.array([(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)],
                   np.uint8)  # fmt: skip
UNIDENTIFIED = (200, 200, 200)
WHITE, BLACK = (255, 255, 255), (0, 0, 0)
AXIS_COLOURS = ((230, 40, 40), (40, 200, 40), (40, 90, 255))  # head's right, up, forward
GAZE_COLOUR = (255, 230, 0)

MIN_UNIT = 0.75  # smaller text (a 0.29 font scale) is no longer legible
_SHIFT = 4  # fixed-point bits for sub-pixel drawing
_ONE = 1 << _SHIFT
_FONT = cv2.FONT_HERSHEY_SIMPLEX

# iBUG-68 contours: (first, last, closed)
_CONTOURS = ((0, 16, False), (17, 21, False), (22, 26, False), (27, 30, False), (31, 35, False),
             (36, 41, True), (42, 47, True), (48, 59, True), (60, 67, True))  # fmt: skip
_OPEN = [np.arange(a, b + 1) for a, b, closed in _CONTOURS if not closed]
_CLOSED = [np.arange(a, b + 1) for a, b, closed in _CONTOURS if closed]
NOSE_TIP, RIGHT_EYE, LEFT_EYE = 30, slice(36, 42), slice(42, 48)


@dataclass(frozen=True)
class Style:
    """Sizes in pixels for one image size."""

    unit: float  # 1 at a 360-pixel short side

    @classmethod
    def for_image(cls, image: np.ndarray) -> Style:
        return cls(unit=max(min(image.shape[:2]) / 360.0, MIN_UNIT))

    @property
    def line(self) -> int:
        return max(1, round(self.unit))

    @property
    def font(self) -> float:
        return 0.38 * self.unit

    @property
    def text_line(self) -> int:
        return max(1, round(self.unit))

    @property
    def row(self) -> int:  # height of one text line
        return round(13 * self.unit)

    def scaled(self, scale: float) -> Style:
        """The same style, ``scale`` times the size (text in a crowded frame), never below the
        smallest legible size."""
        return self if scale == 1 else Style(unit=max(self.unit * scale, MIN_UNIT))


def draw(image: np.ndarray, faces: FrameFaces, layers: Sequence[str] = DEFAULT_LAYERS,
         aus: Sequence[str] = DEFAULT_AUS) -> np.ndarray:  # fmt: skip
    """Draw ``layers`` (see LAYERS) for every face of ``faces`` into ``image`` (H×W×3 uint8 RGB,
    modified in place and returned); ``aus`` are the AU codes the AU bars show."""
    unknown = set(layers) - set(LAYERS)
    if unknown:
        raise ValueError(f"unknown layers {sorted(unknown)}; choose from {', '.join(LAYERS)}")
    if not len(faces):
        return image
    style = Style.for_image(image)
    # Lines first, text last, so labels stay readable over the mesh.
    for name in ("mesh", "landmarks", "box", "pose", "gaze"):
        if name in layers:
            _GEOMETRY[name](image, faces, style)
    draw_text(image, faces, layers, aus)
    return image


def draw_text(image: np.ndarray, faces: FrameFaces, layers: Sequence[str] = DEFAULT_LAYERS,
              aus: Sequence[str] = DEFAULT_AUS) -> Layout:  # fmt: skip
    """The text of ``layers`` (expression labels, ids and event captions, AU panels) drawn into
    ``image``; returns where each block went (``Layout.placed``)."""
    style = Style.for_image(image)
    # Text is placed block after block so that none covers another face or its text: the
    # expression labels first (the smallest and most read), the AU panels, the largest, last.
    layout = Layout(image.shape, faces.boxes)
    if "expression" in layers:
        _draw_expression(image, faces, style, layout)
    if "box" in layers or "events" in layers:
        _draw_labels(image, faces, style, layout, ids="box" in layers, captions="events" in layers)
    if "aus" in layers:
        _draw_aus(image, faces, style, layout, [AU_CODES.index(code) for code in aus], list(aus))
    return layout


def colours(ids: np.ndarray) -> np.ndarray:
    """(N, 3) RGB colour of each face id; grey for faces not yet identified (-1)."""
    out = PALETTE[np.maximum(ids, 0) % len(PALETTE)].copy()
    out[ids < 0] = UNIDENTIFIED
    return out


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(points * _ONE).astype(np.int32)


def _lines(image: np.ndarray, polylines: list[np.ndarray] | np.ndarray, colour, thickness: int,
           closed: bool = False) -> None:  # fmt: skip
    if len(polylines):
        cv2.polylines(image, [_fixed(p) for p in polylines] if isinstance(polylines, list) else _fixed(polylines),
                      closed, tuple(int(c) for c in colour), thickness, cv2.LINE_AA, _SHIFT)  # fmt: skip


def _finite(array: np.ndarray) -> np.ndarray:
    return np.isfinite(array.reshape(len(array), -1)).all(axis=1)


def _draw_boxes(image: np.ndarray, faces: FrameFaces, style: Style) -> None:
    x, y, w, h = faces.boxes.T
    corners = np.stack([np.c_[x, y], np.c_[x + w, y], np.c_[x + w, y + h], np.c_[x, y + h]], axis=1)
    ok = _finite(corners)
    for colour in np.unique(colours(faces.ids[ok]), axis=0):
        same = ok & (colours(faces.ids) == colour).all(axis=1)
        _lines(image, corners[same], colour, style.line + 1, closed=True)


def _draw_landmarks(image: np.ndarray, faces: FrameFaces, style: Style) -> None:
    points = faces.points[_finite(faces.points)]
    if not len(points):
        return
    _lines(image, [face[index] for face in points for index in _OPEN], (0, 255, 160), style.line)
    _lines(image, [face[index] for face in points for index in _CLOSED], (0, 255, 160), style.line, closed=True)
    # Each point as a zero-length segment: drawn as a round dot of the line's thickness.
    dots = np.repeat(points.reshape(-1, 1, 2), 2, axis=1)
    _lines(image, dots, WHITE, style.line + 2)


def _draw_mesh(image: np.ndarray, faces: FrameFaces, style: Style) -> None:
    if faces.mesh is None:
        return
    mesh = faces.mesh[_finite(faces.mesh)]
    if len(mesh):
        # Drawn at 40% opacity: the full tesselation in solid lines hides the face at 360p.
        overlay = image.copy()
        _lines(overlay, mesh[:, tesselation_edges()].reshape(-1, 2, 2), (180, 220, 255), 1)
        cv2.addWeighted(overlay, 0.4, image, 0.6, 0, dst=image)


def head_axes(pose: np.ndarray) -> np.ndarray:
    """(N, 3, 2) image-plane directions (x right, y down) of the head's right, up and forward
    axes, of unit length when an axis lies in the image plane, from yaw, pitch, roll in degrees.

    The inverse of mien.stages.pose: there the model-to-camera rotation (OpenGL camera: x right,
    y up, z towards the viewer) is R = Ry(yaw) Rx(-pitch) Rz(-roll); its columns are the head's
    axes in the camera frame."""
    yaw, pitch, roll = np.radians(pose[:, :3]).T
    a, b, c = yaw, -pitch, -roll
    zero, one = np.zeros_like(a), np.ones_like(a)

    def matrix(rows):
        return np.stack([np.stack(row, -1) for row in rows], -2)

    turn = matrix([[np.cos(a), zero, np.sin(a)], [zero, one, zero], [-np.sin(a), zero, np.cos(a)]])
    tilt = matrix([[one, zero, zero], [zero, np.cos(b), -np.sin(b)], [zero, np.sin(b), np.cos(b)]])
    spin = matrix([[np.cos(c), -np.sin(c), zero], [np.sin(c), np.cos(c), zero], [zero, zero, one]])
    axes = np.transpose(turn @ tilt @ spin, (0, 2, 1))  # rows: right, up, forward
    return axes[:, :, :2] * np.array([1.0, -1.0])  # image y runs down


def _draw_pose(image: np.ndarray, faces: FrameFaces, style: Style) -> None:
    ok = _finite(faces.pose) & _finite(faces.points[:, NOSE_TIP]) & np.isfinite(faces.boxes[:, 2])
    if not ok.any():
        return
    origin = faces.points[ok, NOSE_TIP]
    length = 0.45 * faces.boxes[ok, 2]
    axes = head_axes(faces.pose[ok]) * length[:, None, None]
    for axis, colour in enumerate(AXIS_COLOURS):
        _lines(image, np.stack([origin, origin + axes[:, axis]], axis=1), colour, style.line + 1)


def gaze_directions(gaze: np.ndarray) -> np.ndarray:
    """(N, 2) image-plane direction of each gaze (yaw, pitch deg; yaw right and pitch up positive)."""
    yaw, pitch = np.radians(gaze[:, 0]), np.radians(gaze[:, 1])
    return np.stack([np.sin(yaw) * np.cos(pitch), -np.sin(pitch)], axis=1)


def _draw_gaze(image: np.ndarray, faces: FrameFaces, style: Style) -> None:
    ok = _finite(faces.gaze) & _finite(faces.points) & np.isfinite(faces.boxes[:, 2])
    if not ok.any():
        return
    eyes = np.stack([faces.points[ok, RIGHT_EYE].mean(axis=1), faces.points[ok, LEFT_EYE].mean(axis=1)], axis=1)
    reach = (gaze_directions(faces.gaze[ok]) * 0.7 * faces.boxes[ok, 2:3])[:, None, :]
    tips = eyes + reach
    # Arrowheads: the ray turned back by ±25°, a quarter of its length.
    back = -reach * 0.25
    angle = np.radians(25)
    rotate = np.array([[[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]],
                       [[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]]])  # fmt: skip
    heads = [np.stack([tips, tips + back @ r.T], axis=2).reshape(-1, 2, 2) for r in rotate]
    rays = np.stack([eyes, tips], axis=2).reshape(-1, 2, 2)
    _lines(image, np.concatenate([rays, *heads]), GAZE_COLOUR, style.line + 1)


_GEOMETRY = {"box": _draw_boxes, "landmarks": _draw_landmarks, "mesh": _draw_mesh, "pose": _draw_pose,
             "gaze": _draw_gaze}  # fmt: skip


def _text_box(text: str, style: Style) -> tuple[int, int, int, int]:
    """Width and height of ``text`` on its filled box, the letters' height and the padding."""
    (width, height), base = cv2.getTextSize(text, _FONT, style.font, style.text_line)
    pad = max(1, round(2 * style.unit))
    return width + 2 * pad, height + base + 2 * pad, height, pad


def _text_size(text: str, style: Style) -> tuple[int, int]:
    """Width and height of ``text`` on its filled box."""
    return _text_box(text, style)[:2]


def _text(image: np.ndarray, text: str, x: float, y: float, style: Style, colour=WHITE,
          background=BLACK) -> tuple[int, int]:  # fmt: skip
    """Text with its top-left at (x, y) on a filled box, kept inside the image; returns its size."""
    box_w, box_h, height, pad = _text_box(text, style)
    x = int(np.clip(x, 0, max(image.shape[1] - box_w, 0)))
    y = int(np.clip(y, 0, max(image.shape[0] - box_h, 0)))
    if background is not None:
        cv2.rectangle(image, (x, y), (x + box_w, y + box_h), background, -1)
    cv2.putText(image, text, (x + pad, y + pad + height), _FONT, style.font, colour, style.text_line, cv2.LINE_AA)
    return box_w, box_h


def _above_or_inside(box: Rect, width: int, height: int) -> list[tuple[float, float]]:
    """Over the face's box, left- or right-aligned; else inside its top."""
    x0, y0, x1, _ = box
    return [(x0, y0 - height - 2), (x1 - width, y0 - height - 2), (x0, y0)]


def _below_or_inside(box: Rect, width: int, height: int) -> list[tuple[float, float]]:
    """Under the face's box; else inside its bottom; else over it."""
    x0, y0, _, y1 = box
    return [(x0, y1 + 1), (x0, y1 - height), (x0, y0 - height - 2)]


def _label_lines(face_id: int, colour: np.ndarray, texts: list[str], ids: bool, captions: bool) -> list[tuple]:
    """(text, ink, background) of the id line and the captions of the events going on."""
    lines = [(f"id {face_id}" if face_id >= 0 else "new face", WHITE, tuple(int(c) for c in colour))] if ids else []
    return lines + ([(text, BLACK, (255, 235, 120)) for text in texts] if captions else [])


def _draw_labels(image: np.ndarray, faces: FrameFaces, style: Style, layout: Layout, ids: bool,
                 captions: bool) -> None:  # fmt: skip
    """The face id and the captions of the events going on, stacked under the box (inside it where
    there is no room below)."""
    people = zip(faces.boxes, faces.ids, colours(faces.ids), faces.captions)
    for face, (box, face_id, colour, texts) in enumerate(people):
        lines = _label_lines(face_id, colour, texts, ids, captions)
        if not (lines and np.isfinite(box).all()):
            continue

        def size(scale: float, lines=lines) -> tuple[int, int]:
            scaled = style.scaled(scale)
            return max(_text_size(text, scaled)[0] for text, _, _ in lines), _label_row(scaled) * len(lines)

        x, y, scale = layout.place(face, size, _below_or_inside)
        scaled = style.scaled(scale)
        for text, ink, background in lines:
            _text(image, text, x, y, scaled, ink, background)
            y += _label_row(scaled)


def _label_row(style: Style) -> int:
    return style.row + 2 * max(1, round(2 * style.unit)) + 1


def _draw_expression(image: np.ndarray, faces: FrameFaces, style: Style, layout: Layout) -> None:
    """The most probable expression over the face, with a bar under it filled to its probability."""
    for face, (box, probabilities) in enumerate(zip(faces.boxes, faces.emotions)):
        if not (np.isfinite(box).all() and np.isfinite(probabilities).all()):
            continue
        top = int(np.argmax(probabilities))
        text = f"{EMOTIONS[top]} {probabilities[top]:.0%}"

        def size(scale: float, text=text) -> tuple[int, int]:
            scaled = style.scaled(scale)
            width, height = _text_size(text, scaled)
            return max(width, round(60 * scaled.unit)), height + round(4 * scaled.unit)

        x, y, scale = layout.place(face, size, _above_or_inside)
        scaled = style.scaled(scale)
        bar, height = round(60 * scaled.unit), round(4 * scaled.unit)
        _, text_h = _text(image, text, x, y, scaled)
        y0 = y + text_h
        cv2.rectangle(image, (x, y0), (x + bar, y0 + height), (60, 60, 60), -1)
        cv2.rectangle(image, (x, y0), (x + round(bar * float(probabilities[top])), y0 + height), (255, 210, 0), -1)


def _beside_or_inside(box: Rect, width: int, height: int, gap: int) -> list[tuple[float, float]]:
    """Right of the face's box, then left of it (level with its top, then its bottom); else inside
    it at its right or left side; else under or over it."""
    x0, y0, x1, y1 = box
    return [(x1 + gap, y0), (x0 - width - gap, y0), (x1 + gap, y1 - height), (x0 - width - gap, y1 - height),
            (x1 - width, y0), (x0, y0), (x0, y1 + 1), (x0, y0 - height - 2)]  # fmt: skip


def _draw_aus(image: np.ndarray, faces: FrameFaces, style: Style, layout: Layout, columns: list[int],
              codes: list[str]) -> None:  # fmt: skip
    """A panel of bars beside each face, one per AU in ``codes``, its length the intensity (0-5)."""
    if not columns:
        return
    present_at = [float(load_table()["aus"][code]["present_at"]) for code in codes]

    def panel(sized: Style) -> tuple[int, int, int]:
        """Label width, panel width and height."""
        label_w = cv2.getTextSize("AU00*", _FONT, sized.font, sized.text_line)[0][0] + round(4 * sized.unit)
        panel_w = label_w + round(50 * sized.unit) + round(6 * sized.unit)
        return label_w, panel_w, sized.row * len(codes) + round(4 * sized.unit)

    def wishes(box: Rect, width: int, height: int) -> list[tuple[float, float]]:
        return _beside_or_inside(box, width, height, round(6 * style.unit))

    for face, (box, intensities) in enumerate(zip(faces.boxes, faces.aus)):
        if not np.isfinite(box).all():
            continue
        x, y, scale = layout.place(face, lambda scale: panel(style.scaled(scale))[1:], wishes)
        scaled = style.scaled(scale)
        label_w, panel_w, panel_h = panel(scaled)
        unit, row, bar = scaled.unit, scaled.row, round(50 * scaled.unit)
        region = image[y : y + panel_h, x : x + panel_w]
        region[:] = (region * 0.45).astype(np.uint8)  # darken behind the bars so they read on any face
        for k, (column, code) in enumerate(zip(columns, codes)):
            top = y + round(2 * unit) + k * row
            value = float(intensities[column])
            cv2.putText(image, code + trust_mark(code), (x + round(2 * unit), top + row - round(3 * unit)), _FONT,
                        scaled.font, WHITE, scaled.text_line, cv2.LINE_AA)  # fmt: skip
            x0, y0, y1 = x + label_w, top + round(3 * unit), top + row - round(2 * unit)
            cv2.rectangle(image, (x0, y0), (x0 + bar, y1), (90, 90, 90), 1)
            if np.isfinite(value) and value > 0:
                # Colour steps at the AU's presence threshold and at 4 (for most AUs P ≥ 0.8).
                colour = (120, 170, 255) if value < present_at[k] else (255, 200, 0) if value < 4 else (255, 80, 40)
                cv2.rectangle(image, (x0, y0), (x0 + round(bar * min(value, 5.0) / 5.0), y1), colour, -1)
