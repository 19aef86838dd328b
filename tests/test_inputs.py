"""Bad and unusual input: correct output or one clear error naming the input, never a traceback."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mien
from mien.errors import InputError
from mien.io.images import read_image
from mien.io.sources import expand


def analyze_one(path) -> mien.Result:
    return mien.analyze(str(path))


def face_count(result: mien.Result) -> int:
    return int(result.df.face_score.notna().sum())


@pytest.fixture(scope="module")
def face_rgb(media):
    return Image.open(media("single_face")).convert("RGB")


@pytest.fixture(scope="module")
def reference_box(face_rgb, tmp_path_factory):
    path = tmp_path_factory.mktemp("ref") / "face.png"
    face_rgb.save(path)
    row = analyze_one(path).df.iloc[0]
    return np.array([row.face_x, row.face_y, row.face_w, row.face_h])


def box_of(result: mien.Result) -> np.ndarray:
    row = result.df.iloc[0]
    return np.array([row.face_x, row.face_y, row.face_w, row.face_h])


@pytest.mark.parametrize("mode", ["RGBA", "LA", "L", "CMYK", "I;16", "P"])
def test_every_pixel_format_finds_the_same_face(mode, face_rgb, reference_box, tmp_path):
    image = face_rgb.convert("L").convert(mode) if mode in ("LA", "I;16") else face_rgb.convert(mode)
    if mode == "I;16":  # real 16-bit: spread 8-bit grey over the 16-bit range
        image = Image.fromarray((np.asarray(face_rgb.convert("L"), np.uint16) * 257))
        assert image.mode.startswith("I;16")
    suffix = ".jpg" if mode == "CMYK" else ".tif" if mode == "I;16" else ".png"
    path = tmp_path / f"face{suffix}"
    image.save(path)
    result = analyze_one(path)
    assert face_count(result) == 1
    np.testing.assert_allclose(box_of(result), reference_box, atol=0.06 * reference_box[2])


def test_transparent_png_from_the_wild(media):
    assert face_count(analyze_one(media("alpha"))) == 1


def test_large_greyscale_photo_from_the_wild_is_read(media):
    result = analyze_one(media("greyscale"))  # 2560×1912 'L' JPEG; its one face is tiny and turned
    assert result.failures == [] and len(result.df) >= 1


def test_exif_rotated_photo_is_read_upright(face_rgb, reference_box, tmp_path):
    sideways = face_rgb.transpose(Image.Transpose.ROTATE_90)  # pixels stored turned 90° anticlockwise...
    exif = Image.Exif()
    exif[0x0112] = 6  # ...and EXIF orientation 6 says: turn them 90° clockwise to display
    path = tmp_path / "phone.jpg"
    sideways.save(path, exif=exif.tobytes(), quality=95)
    result = analyze_one(path)
    assert face_count(result) == 1
    np.testing.assert_allclose(box_of(result), reference_box, atol=0.06 * reference_box[2])
    assert abs(result.df.pose_roll.iloc[0]) < 15


def test_huge_image_reports_original_pixels(face_rgb, reference_box, tmp_path):
    canvas = Image.new("RGB", (12000, 9000), (128, 128, 128))
    face = face_rgb.resize((face_rgb.width * 4, face_rgb.height * 4))
    canvas.paste(face, (6000, 3000))
    path = tmp_path / "huge.jpg"
    canvas.save(path, quality=85)
    del canvas
    result = analyze_one(path)
    assert face_count(result) == 1
    row = result.df.iloc[0]
    # The face is where it was pasted, in the original image's pixels.
    assert 6000 < row.face_x < 6000 + face.width and 3000 < row.face_y < 3000 + face.height
    assert row.face_w == pytest.approx(4 * reference_box[2], rel=0.1)


def test_image_without_face_keeps_one_empty_row(media):
    result = analyze_one(media("no_face_image"))
    assert len(result.df) == 1 and face_count(result) == 0
    assert result.df.AU12.isna().all() and result.df.emotion.isna().all()


@pytest.mark.parametrize("name,content,reason", [
    ("broken.jpg", b"", "empty file"),
    ("broken.jpg", b"this is a text file, not a picture\n" * 20, "not a readable image"),
    ("broken.mp4", b"", "empty file"),
    ("broken.mp4", b"this is a text file, not a video\n" * 20, "not a readable video"),
])  # fmt: skip
def test_broken_files_give_one_clear_error(name, content, reason, tmp_path):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.warns(UserWarning, match=reason):
        result = analyze_one(path)
    assert len(result.df) == 0
    assert result.failures == [(str(path), result.failures[0][1])]
    assert reason in result.failures[0][1]


def test_image_reader_raises_input_error_naming_the_file(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    with pytest.raises(InputError, match=str(path)):
        read_image(str(path))


def test_truncated_jpeg_is_an_error_or_a_partial_image_never_a_crash(face_rgb, tmp_path):
    buffer = io.BytesIO()
    face_rgb.save(buffer, "JPEG")
    path = tmp_path / "truncated.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 3])
    with pytest.warns(UserWarning, match="truncated.jpg"):
        result = analyze_one(path)
    assert result.failures and "truncated.jpg" in result.failures[0][0]


def test_missing_paths_and_empty_folders_are_named(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no media here")
    inputs, errors = expand([str(tmp_path / "nope.mp4"), str(tmp_path / "empty"), str(tmp_path / "notes"),
                             str(tmp_path / "*.mov")])  # fmt: skip
    assert inputs == []
    assert [e.reason for e in errors] == ["no such file or folder", "folder holds no image or video files",
                                          "folder holds no image or video files",
                                          "pattern matches no image or video files"]  # fmt: skip


def test_a_failing_input_does_not_stop_the_others(media, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.warns(UserWarning):
        result = mien.analyze([media("happy"), str(bad), str(tmp_path / "missing.jpg"), media("anger")])
    assert list(result.df.input) == [media("happy"), media("anger")]
    assert {f[0] for f in result.failures} == {str(bad), str(tmp_path / "missing.jpg")}


def test_folders_and_globs_expand_in_order_without_duplicates(media, tmp_path):
    for name in ("b.jpg", "a.png", "sub/c.jpg"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        os.symlink(media("happy"), tmp_path / name)
    (tmp_path / "skip.txt").write_text("x")
    inputs, errors = expand([str(tmp_path), str(tmp_path / "*.jpg")])
    assert errors == []
    assert [Path(i.locator).name for i in inputs] == ["a.png", "b.jpg", "c.jpg"]
