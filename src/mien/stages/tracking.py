"""Persistent identities: one ``face_id`` per person within an input, over gaps and crossings.

Each frame's faces are matched to the people seen so far in two passes:

1. **Recently seen people** (within ``MAX_GAP_S``): by where their face should be now (last box
   moved by its velocity) and by how the face looks. A pair is allowed only when the boxes are
   close (centre distance below one face width) and the looks are not clearly different; the
   cheapest pairs win first.
2. **Faces nobody claimed** are compared with everyone seen earlier in the input by appearance only
   (re-identification after leaving the frame or a long occlusion); a close enough match gets the
   old identity, otherwise the face is a new person.

In video a new person's identity is only confirmed after ``CONFIRM_FRAMES`` frames; until then the
rows carry ``face_id`` -1. A face half hidden behind another one, at the moment it reappears, looks
like neither person; without this wait it would be counted as a third person for a few frames.

Appearance is the expression model's aligned crop (eyes and mouth on fixed places; cut once for
both) averaged down to 16×16 colour pixels, brightness-normalised, and averaged over the person's
recent frames: cheap, and it tells people apart by face shape, skin, hair line and glasses. It is
not face recognition: it keeps identities within one input; ids are not comparable between inputs.

Thresholds, measured on the sample media (every third frame of the two videos, the 12 faces of the
stills): one person's frames over 20 s of crying and laughing lie within 0.27 of their mean look;
different people lie 0.35 (5th percentile) to 1.32 apart, median 0.86. Closer pairs exist across
files (two women of two different samples: 0.15): identities are kept within one input only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mien.frame import Faces, Frame
from mien.stages.boxes import box_iou
from mien.stages.face_crop import CROP_SIZE, aligned_crops

MAX_GAP_S = 1.0  # a person unseen for longer is matched by appearance only
THUMB = 16  # side of the appearance thumbnail
APPEARANCE_MEMORY = 0.9  # weight of the old appearance in the running mean
SAME_PERSON = 0.3  # appearance distance below which a returning face is the same person
CLEARLY_OTHER = 0.7  # appearance distance above which a nearby face is not the same person
GALLERY_SIZE = 64  # people remembered per input for re-identification
CONFIRM_FRAMES = 5  # frames a new face must be followed before it gets an identity (video)


@dataclass
class _Person:
    box: np.ndarray  # x, y, w, h
    velocity: np.ndarray  # box centre, px/s
    seen: float  # timestamp
    look: np.ndarray  # appearance vector, unit length
    face_id: int = -1  # -1 until confirmed
    frames: int = 0


def appearance(frame: Frame, faces: Faces) -> np.ndarray:
    """(N, 3·16·16) unit vectors: each face's aligned thumbnail, mean and contrast removed per channel."""
    crops = aligned_crops(frame, faces).astype(np.float32)
    step = CROP_SIZE // THUMB  # the thumbnail is the expression crop averaged over step×step blocks
    thumbs = crops.reshape(len(crops), THUMB, step, THUMB, step, 3).mean(axis=(2, 4))
    thumbs -= thumbs.mean(axis=(1, 2), keepdims=True)
    thumbs /= thumbs.std(axis=(1, 2), keepdims=True) + 1.0
    vectors = thumbs.reshape(len(thumbs), -1)
    return vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-6)


def appearance_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, D), (M, D) unit vectors -> (N, M) in [0, 2]: 1 - cosine similarity."""
    return 1.0 - a @ b.T


class FaceTracker:
    """Stage: fills Faces.face_ids. Call ``reset()`` before each input."""

    def __init__(self):
        self.reset()

    def reset(self, still: bool = False) -> None:
        self.people: list[_Person] = []
        self.next_id = 0
        self.confirm_frames = 1 if still else CONFIRM_FRAMES

    def __call__(self, frame: Frame, faces: Faces) -> Faces:
        n = len(faces)
        faces.face_ids = np.full(n, -1, np.int32)
        if n == 0:
            return faces
        looks = appearance(frame, faces)
        recent = [p for p in self.people if frame.timestamp - p.seen <= MAX_GAP_S]
        assigned = self._match_recent(recent, faces.boxes, looks, frame.timestamp)
        claimed = {id(p) for p in assigned.values()}
        for i in range(n):
            if i not in assigned:
                person = self._recognise(looks[i], exclude=claimed)
                if person is not None:
                    assigned[i] = person
                    claimed.add(id(person))
        for i in range(n):
            person = assigned.get(i) or self._new_person(faces.boxes[i], looks[i], frame.timestamp)
            self._update(person, faces.boxes[i], looks[i], frame.timestamp)
            if person.face_id < 0 and person.frames >= self.confirm_frames:
                person.face_id, self.next_id = self.next_id, self.next_id + 1
            faces.face_ids[i] = person.face_id
        # Unconfirmed faces that vanished were glimpses, not people.
        self.people = [p for p in self.people if p.face_id >= 0 or frame.timestamp - p.seen <= MAX_GAP_S]
        return faces

    def _match_recent(self, recent: list[_Person], boxes: np.ndarray, looks: np.ndarray,
                      now: float) -> dict[int, _Person]:  # fmt: skip
        if not recent:
            return {}
        predicted = np.array([_moved(p, now) for p in recent])
        centres = boxes[:, :2] + boxes[:, 2:] / 2
        predicted_centres = predicted[:, :2] + predicted[:, 2:] / 2
        jump = np.linalg.norm(centres[:, None] - predicted_centres[None], axis=2) / np.maximum(
            predicted[None, :, 2], 1.0)
        looks_apart = appearance_distance(looks, np.array([p.look for p in recent]))
        cost = (1.0 - box_iou(boxes, predicted)) + jump + looks_apart
        allowed = (jump < 1.0) & (looks_apart < CLEARLY_OTHER)
        assigned: dict[int, _Person] = {}
        taken: set[int] = set()  # indices into recent
        for flat in np.argsort(cost, axis=None):
            face, person = (int(k) for k in np.unravel_index(flat, cost.shape))
            if allowed[face, person] and face not in assigned and person not in taken:
                assigned[face] = recent[person]
                taken.add(person)
        return assigned

    def _recognise(self, look: np.ndarray, exclude: set[int]) -> _Person | None:
        candidates = [p for p in self.people if id(p) not in exclude and p.face_id >= 0]
        if not candidates:
            return None
        distances = appearance_distance(look[None], np.array([p.look for p in candidates]))[0]
        best = int(np.argmin(distances))
        return candidates[best] if distances[best] < SAME_PERSON else None

    def _new_person(self, box: np.ndarray, look: np.ndarray, now: float) -> _Person:
        person = _Person(box.copy(), np.zeros(2), now, look.copy())
        self.people.append(person)
        if len(self.people) > GALLERY_SIZE:  # forget whoever was seen least recently
            self.people.remove(min(self.people, key=lambda p: p.seen))
        return person

    @staticmethod
    def _update(person: _Person, box: np.ndarray, look: np.ndarray, now: float) -> None:
        dt = now - person.seen
        if dt > 0:
            centre_shift = (box[:2] + box[2:] / 2) - (person.box[:2] + person.box[2:] / 2)
            person.velocity = 0.5 * person.velocity + 0.5 * centre_shift / dt
        if person.seen < now or not np.any(person.look):
            mixed = APPEARANCE_MEMORY * person.look + (1 - APPEARANCE_MEMORY) * look
            person.look = mixed / (np.linalg.norm(mixed) + 1e-6)
        person.box, person.seen = box.copy(), now
        person.frames += 1


def _moved(person: _Person, now: float) -> np.ndarray:
    """Where the person's box should be now, moving as it last moved (at most 0.5 s ahead)."""
    shift = person.velocity * min(now - person.seen, 0.5)
    return np.concatenate([person.box[:2] + shift, person.box[2:]])
