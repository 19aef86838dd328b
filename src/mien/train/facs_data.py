"""FACS-coded face sets, for scoring mien's AUs (`mien evaluate aus`) and fitting them (`mien train aus`).

Two kinds of source:

* **a CSV** with a ``path`` column (image files, relative to the CSV's folder or absolute) and the
  codes, either one column per AU (``AU1``, ``AU01`` or ``au_1``; a value 0/1 for presence or
  0-5 for intensity, FACS A-E = 1-5) or one ``facs`` column of FACS strings such as ``1B+2C+25+26``
  (letters A-E give intensities). Optional columns: ``split`` (train, val, test), ``emotion``
  (for scores within each expression), ``subject``. Empty cells and 9 mean "not coded".
* **a folder of sessions**, as DISFA and BP4D distribute frames: each sub-folder holds one
  session's frames (the frame number is the last run of digits in the file name) and the session
  is coded either in ``<session>.csv`` next to the folder (a ``frame`` column plus AU columns, as
  BP4D's occurrence files) or in DISFA's per-AU files ``<session>_au<N>.txt`` (``frame,intensity``
  lines) inside or next to the folder.

Every problem in a coding file is one error naming the file, the line and what is wrong.
"""

from __future__ import annotations

import csv
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from mien.errors import InputError
from mien.io.images import IMAGE_EXTENSIONS, to_rgb8
from mien.schema import AU_CODES, EMOTIONS
from mien.train.datasets import LABEL_ALIASES, SPLITS, TEST, TRAIN, VAL

NOT_CODED = 9  # BP4D's and DISFA's mark for a frame the coders could not code
_AU_COLUMN = re.compile(r"^au[_ ]?0*(\d+)(?:_?(?:present|c|r|intensity))?$", re.IGNORECASE)
_FACS_TERM = re.compile(r"^[LRTBU]?(\d+)([A-E])?$", re.IGNORECASE)
_LETTER = {"A": 1.0, "B": 2.0, "C": 3.0, "D": 4.0, "E": 5.0}


@dataclass
class CodedFaces:
    """Images and their FACS codes.

    codes: (N, len(AU_CODES)) intensity 0-5 or presence 0/1 as coded; NaN where the AU was not coded.
    has_intensity: (len(AU_CODES),) the AU was coded with intensities (some value above 1).
    coded: (len(AU_CODES),) the source codes this AU at all.
    emotion: (N,) index into EMOTIONS, -1 where not given. split: (N,) 0 train, 1 val, 2 test.
    """

    images: list[np.ndarray]
    names: list[str]
    codes: np.ndarray
    has_intensity: np.ndarray
    coded: np.ndarray
    emotion: np.ndarray
    split: np.ndarray
    source: str

    def __len__(self) -> int:
        return len(self.images)

    def present(self) -> np.ndarray:
        """(N, len(AU_CODES)) 0/1 presence (intensity ≥ 1, FACS level A), NaN where not coded."""
        return np.where(np.isnan(self.codes), np.nan, (self.codes >= 1.0).astype(np.float64))


def load_coded(path: str | Path) -> CodedFaces:
    p = Path(path)
    if not p.exists():
        raise InputError(str(path), "no such file or folder")
    if p.is_dir():
        return _load_sessions(p)
    if p.suffix.lower() == ".csv":
        return _load_csv(p)
    raise InputError(str(path), "not a FACS-coded set: expected a .csv of images and codes, or a folder of sessions")


def au_of_column(name: str) -> str | None:
    """The AU code (``AU01``...) a column header names, None if it names none."""
    match = _AU_COLUMN.match(name.strip())
    return f"AU{int(match.group(1)):02d}" if match else None


def _value(text: str, where: str, column: str) -> float:
    text = text.strip()
    if text == "":
        return np.nan
    try:
        value = float(text)
    except ValueError:
        raise InputError(where, f"column {column}: {text!r} is not a number (0/1 presence or 0-5 intensity)") from None
    if value == NOT_CODED:
        return np.nan
    if not 0 <= value <= 5:
        raise InputError(where, f"column {column}: {value:g} is outside 0-5 (use 9 or leave empty for 'not coded')")
    return value


def _facs_string(text: str, where: str) -> dict[str, float]:
    codes: dict[str, float] = {}
    for term in filter(None, (t.strip() for t in re.split(r"[+,\s]+", text))):
        match = _FACS_TERM.match(term)
        if not match:
            raise InputError(where, f"FACS code {term!r} not understood (expected e.g. 1B+2C+25)")
        au = f"AU{int(match.group(1)):02d}"
        codes[au] = _LETTER[match.group(2).upper()] if match.group(2) else 1.0
    return codes


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header and (line number, row) pairs; a row with too few or too many fields is an error."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            rows = []
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise InputError(f"{path}:{reader.line_num}",
                                     f"{len(row)} fields where the header has {len(header)}")  # fmt: skip
                rows.append((reader.line_num, dict(zip(header, row))))
    except UnicodeDecodeError:
        raise InputError(str(path), "not a text CSV file") from None
    except csv.Error as error:
        raise InputError(str(path), f"not a valid CSV file ({error})") from None
    if not header:
        raise InputError(str(path), "empty file: expected a header row")
    return header, rows


def _load_csv(path: Path) -> CodedFaces:
    header, rows = _read_csv(path)
    au_columns = {name: au_of_column(name) for name in header}
    facs_column = next((h for h in header if h.lower() in ("facs", "aus", "codes")), None)
    if "path" not in header:
        raise InputError(f"{path}:1", "no 'path' column (the image of each row)")
    if facs_column is None and not any(au in AU_CODES for au in au_columns.values() if au):
        raise InputError(f"{path}:1", "no AU columns (AU1, AU01...) and no 'facs' column: nothing is coded")
    if not rows:
        raise InputError(str(path), "no rows: nothing is coded")
    coded = np.array([au in au_columns.values() for au in AU_CODES]) if facs_column is None else np.ones(len(AU_CODES), bool)
    entries = []
    for line, row in rows:
        where = f"{path}:{line}"
        image = Path(row["path"].strip())
        image = image if image.is_absolute() else path.parent / image
        if facs_column is not None:
            found = _facs_string(row[facs_column], where)
            codes = [found.get(au, 0.0) for au in AU_CODES]
        else:
            values = {au: _value(row[name], where, name) for name, au in au_columns.items() if au in AU_CODES}
            codes = [values.get(au, np.nan) for au in AU_CODES]
        entries.append((image, where, codes, _emotion(row.get("emotion"), where), _split(row.get("split"), where)))
    return _faces(entries, str(path), coded)


def _emotion(text: str | None, where: str) -> int:
    if text is None or not text.strip():
        return -1
    label = LABEL_ALIASES.get(text.strip().lower())
    if label is None:
        raise InputError(where, f"unknown expression {text!r}; expected one of {', '.join(EMOTIONS)}")
    return EMOTIONS.index(label)


def _split(text: str | None, where: str) -> int | None:
    if text is None or not text.strip():
        return None
    if text.strip() not in SPLITS:
        raise InputError(where, f"split {text!r} is not one of {', '.join(SPLITS)}")
    return SPLITS.index(text.strip())


def _frame_number(file: Path) -> int | None:
    digits = re.findall(r"\d+", file.stem)
    return int(digits[-1]) if digits else None


def _load_sessions(root: Path) -> CodedFaces:
    sessions = sorted(d for d in root.iterdir() if d.is_dir())
    if not sessions:
        raise InputError(str(root), "no session folders (expected e.g. SN001/ with frames and SN001.csv or SN001_au1.txt)")
    entries, coded = [], np.zeros(len(AU_CODES), bool)
    for session in sessions:
        frames = {_frame_number(f): f for f in sorted(session.iterdir()) if f.suffix.lower() in IMAGE_EXTENSIONS}
        frames.pop(None, None)
        codes, session_coded = _session_codes(root, session)
        coded |= session_coded
        # a frame coded for some AUs is scored on those; frames without codes are left out
        for frame, values in sorted(codes.items()):
            if frame in frames:
                entries.append((frames[frame], f"{session.name} frame {frame}", values, -1, None))
    if not entries:
        raise InputError(str(root), "no coded frame found among the sessions' images")
    return _faces(entries, str(root), coded, sessions=True)


def _session_codes(root: Path, session: Path) -> tuple[dict[int, list[float]], np.ndarray]:
    table = next((p for p in (root / f"{session.name}.csv", session / f"{session.name}.csv") if p.is_file()), None)
    if table is not None:
        header, rows = _read_csv(table)
        if not header or header[0].lower() not in ("frame", ""):
            raise InputError(f"{table}:1", "the first column must be 'frame' (the frame number)")
        au_columns = {name: au_of_column(name) or (f"AU{int(name):02d}" if name.isdigit() else None) for name in header[1:]}
        codes = {}
        for line, row in rows:
            where = f"{table}:{line}"
            try:
                frame = int(float(row[header[0]]))
            except ValueError:
                raise InputError(where, f"frame {row[header[0]]!r} is not a number") from None
            values = {au: _value(row[name], where, name) for name, au in au_columns.items() if au in AU_CODES}
            codes[frame] = [values.get(au, np.nan) for au in AU_CODES]
        return codes, np.array([au in au_columns.values() for au in AU_CODES])
    per_au = sorted(set(session.glob(f"{session.name}_au*.txt")) | set(root.glob(f"{session.name}_au*.txt")))
    if not per_au:
        raise InputError(str(session), f"no codes: expected {session.name}.csv or {session.name}_au<N>.txt files")
    codes: dict[int, list[float]] = {}
    coded = np.zeros(len(AU_CODES), bool)
    for file in per_au:
        au = au_of_column(file.stem[len(session.name) + 1 :])
        if au not in AU_CODES:
            continue
        coded[AU_CODES.index(au)] = True
        for line, text in enumerate(file.read_text().splitlines(), start=1):
            if not text.strip():
                continue
            fields = text.split(",")
            if len(fields) != 2:
                raise InputError(f"{file}:{line}", f"expected 'frame,intensity', found {text!r}")
            try:
                frame = int(fields[0])
            except ValueError:
                raise InputError(f"{file}:{line}", f"frame {fields[0]!r} is not a number") from None
            codes.setdefault(frame, [np.nan] * len(AU_CODES))[AU_CODES.index(au)] = _value(fields[1], f"{file}:{line}", au)
    return codes, coded


def _faces(entries, source: str, coded: np.ndarray, sessions: bool = False) -> CodedFaces:
    images, names = [], []
    for file, where, _, _, _ in entries:
        if not Path(file).is_file():
            raise InputError(where, f"image {file} not found")
        try:
            with Image.open(file) as picture:
                images.append(to_rgb8(picture))
        except OSError as error:
            raise InputError(where, f"{file}: not a readable image ({error})") from None
        names.append(str(file))
    codes = np.array([c for _, _, c, _, _ in entries], np.float64)
    codes[:, ~coded] = np.nan
    has_intensity = np.nanmax(np.where(np.isnan(codes), 0, codes), axis=0) > 1.0
    split = np.array([s if s is not None else _split_by_name(str(Path(n).parent) if sessions else Path(n).name)
                      for (_, _, _, _, s), n in zip(entries, names)])  # fmt: skip
    return CodedFaces(images, names, codes, has_intensity, coded, np.array([e for _, _, _, e, _ in entries]),
                      split, source)  # fmt: skip


def _split_by_name(name: str) -> int:
    """Sets without splits: by a hash of the file name (of the session folder, for sessions, so
    that one person's frames never land in two splits): stable across runs and machines."""
    position = zlib.crc32(name.encode()) / 2**32
    return TEST if position < 0.2 else VAL if position < 0.3 else TRAIN
