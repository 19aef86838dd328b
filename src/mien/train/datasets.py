"""Labelled face sets for training and evaluating expression models, from three kinds of source.

* the FER2013 + FER+ ``.npz`` (arrays ``pixels``, ``split``, ``ferplus_votes``, ``fer_label``);
* a folder with one sub-folder per expression (``happiness/``, ``anger/`` ...), optionally with
  ``train/``, ``val/``, ``test/`` folders above them;
* a CSV with columns ``path`` and ``label`` (and optionally ``split``: train, val or test).

Every source becomes a FaceSet: images plus, per image, a distribution over the eight expressions
(FER+ votes, or one-hot for hard labels), the split and, where known, FER2013's original label.
"""

from __future__ import annotations

import csv
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from mien.errors import InputError
from mien.io.images import IMAGE_EXTENSIONS, to_rgb8
from mien.schema import EMOTIONS, FER2013_EMOTIONS

SPLITS = ("train", "val", "test")
TRAIN, VAL, TEST = 0, 1, 2
# Other spellings of the eight classes met in folder and CSV datasets (AffectNet, RAF-DB, KDEF...).
LABEL_ALIASES = {
    "neutral": "neutral", "happy": "happiness", "happiness": "happiness", "joy": "happiness",
    "surprise": "surprise", "surprised": "surprise", "sad": "sadness", "sadness": "sadness",
    "angry": "anger", "anger": "anger", "disgust": "disgust", "disgusted": "disgust",
    "fear": "fear", "afraid": "fear", "fearful": "fear", "contempt": "contempt",
}  # fmt: skip
N_VOTE_EMOTIONS = len(EMOTIONS)  # FER+ vote columns 0-7 are EMOTIONS; 8 unknown, 9 not a face


@dataclass
class FaceSet:
    """Face images with their expression targets.

    images: list of H×W×3 uint8 RGB arrays (any size; the aligner crops them).
    targets: (N, 8) distributions over schema.EMOTIONS; rows of zeros have no usable label.
    split: (N,) 0 train, 1 val, 2 test.
    fer2013: (N,) FER2013 label index into FER2013_EMOTIONS, -1 where unknown.
    fer2013_ambiguous: (N,) True for duplicate pictures carrying another FER2013 label elsewhere
        in their split: scored (the protocol counts them) but not trained on.
    names: (N,) where each image came from, for error messages and reports.
    has_splits: the source names its splits (else they were drawn by file-name hash).
    """

    images: list[np.ndarray]
    targets: np.ndarray
    split: np.ndarray
    fer2013: np.ndarray
    fer2013_ambiguous: np.ndarray
    names: list[str]
    source: str
    has_splits: bool

    def __len__(self) -> int:
        return len(self.images)

    @property
    def labels(self) -> np.ndarray:
        """Majority label per image (index into EMOTIONS), -1 where there is none."""
        has_label = self.targets.sum(axis=1) > 0
        return np.where(has_label, self.targets.argmax(axis=1), -1)


def load(path: str | Path, *, val_fraction: float = 0.1, test_fraction: float = 0.1) -> FaceSet:
    """Whichever kind of source ``path`` is. Folder and CSV sets without their own splits are split
    by a hash of each file name, so the split never changes between runs or machines."""
    p = Path(path)
    if not p.exists():
        raise InputError(str(path), "no such file or folder")
    if p.is_dir():
        return load_folder(p, val_fraction=val_fraction, test_fraction=test_fraction)
    if p.suffix.lower() == ".npz":
        return load_ferplus_npz(p)
    if p.suffix.lower() == ".csv":
        return load_csv(p, val_fraction=val_fraction, test_fraction=test_fraction)
    raise InputError(str(path), "not a dataset: expected a .npz, a .csv or a folder of class folders")


def ferplus_targets(votes: np.ndarray) -> np.ndarray:
    """(N, 10) FER+ votes -> (N, 8) vote distributions over the emotions.

    Faces whose most votes go to 'unknown' or 'not a face' get zeros (no label), as in the FER+
    majority protocol (Barsoum et al. 2016)."""
    votes = votes.astype(np.float32)
    emotion_votes = votes[:, :N_VOTE_EMOTIONS]
    usable = (votes.argmax(axis=1) < N_VOTE_EMOTIONS) & (emotion_votes.sum(axis=1) > 0)
    totals = np.maximum(emotion_votes.sum(axis=1, keepdims=True), 1.0)
    return np.where(usable[:, None], emotion_votes / totals, 0.0).astype(np.float32)


def load_ferplus_npz(path: Path) -> FaceSet:
    try:
        with np.load(path) as archive:
            data = {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as error:
        raise InputError(str(path), f"not a readable .npz archive ({error})") from None
    if not ({"pixels", "split"} <= data.keys() and {"ferplus_votes", "fer_label"} & data.keys()):
        raise InputError(str(path), "expected arrays 'pixels', 'split' and 'ferplus_votes' or 'fer_label'")
    pixels = data["pixels"]
    n = len(pixels)
    if "ferplus_votes" in data:
        targets = ferplus_targets(data["ferplus_votes"])
    else:  # FER2013 alone: its seven labels, one-hot, no contempt
        targets = _one_hot([EMOTIONS.index(FER2013_EMOTIONS[i]) for i in data["fer_label"]])
    fer2013 = data["fer_label"].astype(np.int64) if "fer_label" in data else np.full(n, -1)
    ambiguous = data.get("fer_label_ambiguous", np.zeros(n, bool)).astype(bool)
    images = [np.repeat(p[:, :, None], 3, axis=2) if p.ndim == 2 else p for p in pixels]
    return FaceSet(images, targets, data["split"].astype(np.int64), fer2013, ambiguous,
                   [f"{path.name}[{i}]" for i in range(n)], str(path), has_splits=True)  # fmt: skip


def load_folder(root: Path, *, val_fraction: float = 0.1, test_fraction: float = 0.1) -> FaceSet:
    split_folders = [root / s for s in SPLITS if (root / s).is_dir()]
    entries: list[tuple[Path, str, int | None]] = []
    for folder, split in [(f, SPLITS.index(f.name)) for f in split_folders] or [(root, None)]:
        for class_folder in sorted(d for d in folder.iterdir() if d.is_dir()):
            label = _canonical_label(class_folder.name, str(class_folder))
            entries += [(f, label, split) for f in sorted(class_folder.rglob("*"))
                        if f.suffix.lower() in IMAGE_EXTENSIONS]  # fmt: skip
    if not entries:
        raise InputError(str(root), "no images in class folders (expected e.g. happiness/*.jpg)")
    return _from_files(entries, str(root), val_fraction, test_fraction)


def load_csv(path: Path, *, val_fraction: float = 0.1, test_fraction: float = 0.1) -> FaceSet:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"path", "label"} <= rows[0].keys():
        raise InputError(str(path), "expected a header with columns 'path' and 'label'")
    entries = []
    for line, row in enumerate(rows, start=2):
        image = Path(row["path"]) if Path(row["path"]).is_absolute() else path.parent / row["path"]
        split = row.get("split") or None
        if split is not None and split not in SPLITS:
            raise InputError(f"{path}:{line}", f"split {split!r} is not one of {', '.join(SPLITS)}")
        entries.append((image, _canonical_label(row["label"], f"{path}:{line}"),
                        None if split is None else SPLITS.index(split)))  # fmt: skip
    return _from_files(entries, str(path), val_fraction, test_fraction)


def _canonical_label(name: str, where: str) -> str:
    label = LABEL_ALIASES.get(name.strip().lower())
    if label is None:
        raise InputError(where, f"unknown expression {name!r}; expected one of {', '.join(EMOTIONS)}")
    return label


def _from_files(entries: list[tuple[Path, str, int | None]], source: str,
                val_fraction: float, test_fraction: float) -> FaceSet:  # fmt: skip
    images, names = [], []
    for file, _, _ in entries:
        try:
            with Image.open(file) as picture:
                images.append(to_rgb8(picture))
        except OSError as error:
            raise InputError(str(file), f"not a readable image ({error})") from None
        names.append(str(file))
    split = np.array([s if s is not None else _split_by_name(str(f.name), val_fraction, test_fraction)
                      for f, _, s in entries])  # fmt: skip
    targets = _one_hot([EMOTIONS.index(label) for _, label, _ in entries])
    n = len(entries)
    return FaceSet(images, targets, split, np.full(n, -1), np.zeros(n, bool), names, source,
                   has_splits=all(s is not None for _, _, s in entries))  # fmt: skip


def _split_by_name(name: str, val_fraction: float, test_fraction: float) -> int:
    position = zlib.crc32(name.encode()) / 2**32
    return TEST if position < test_fraction else VAL if position < test_fraction + val_fraction else TRAIN


def _one_hot(indices: list[int]) -> np.ndarray:
    targets = np.zeros((len(indices), len(EMOTIONS)), np.float32)
    targets[np.arange(len(indices)), indices] = 1.0
    return targets
