"""Model artifacts on disk: written atomically, covered by one manifest hash, loaded without running code.

An artifact is a directory ``models/<version>/`` holding

- ``model.ubj``: the Booster in XGBoost's own UBJSON format (trees, objective, feature names);
  loading it parses data, never runs code, and later XGBoost versions read it;
- ``metadata.json``: what the model is (features, interval, libraries, metrics, trained_at...);
- ``manifest.json``: the sha256 and size of every other file, and the model's format.

The database row records the sha256 of ``manifest.json``; verification recomputes it, then every
file's hash against the manifest, so no file — ``metadata.json`` included — can change unseen.
Older artifacts (``model.pkl`` + ``metadata.json``, the row holding the pickle's sha256) still load,
but only when the row's hash matches the file, and through an unpickler that admits nothing but
an XGBoost Booster (the type is checked while unpickling, not after).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xgboost as xgb

MODEL_FILE = "model.ubj"
METADATA_FILE = "metadata.json"
MANIFEST_FILE = "manifest.json"
LEGACY_MODEL_FILE = "model.pkl"
MODEL_FORMAT = "xgboost-ubj"
LEGACY_FORMAT = "pickle"
TMP_PREFIX = ".tmp-"


class ArtifactError(Exception):
    """An artifact cannot be used; str(exc) is the reason."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def encode_json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, indent=2, sort_keys=True, default=str).encode("utf-8")


def write_artifact(models_dir: Path, version: str, booster: xgb.Booster, metadata: dict[str, Any]) -> tuple[Path, str]:
    """Write model.ubj, metadata.json and manifest.json into a temporary directory, fsync, rename.

    Returns (directory, sha256 of manifest.json) — the hash the database row records."""
    models_dir.mkdir(parents=True, exist_ok=True)
    final = models_dir / version
    if final.exists():
        raise FileExistsError(f"model directory {final} already exists")
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{version}-", dir=models_dir))
    try:
        files = {MODEL_FILE: bytes(booster.save_raw("ubj")), METADATA_FILE: encode_json(metadata)}
        for name, data in files.items():
            _write(tmp / name, data)
        manifest = {
            "version": version,
            "model_file": MODEL_FILE,
            "model_format": MODEL_FORMAT,
            "xgboost": xgb.__version__,
            "files": {name: {"sha256": sha256_bytes(data), "bytes": len(data)} for name, data in files.items()},
        }
        manifest_bytes = encode_json(manifest)
        _write(tmp / MANIFEST_FILE, manifest_bytes)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final, sha256_bytes(manifest_bytes)


@dataclass(frozen=True)
class VerifiedArtifact:
    """What verification established: the files are the ones recorded, and which format the model has."""

    directory: Path
    model_file: Path
    model_format: str  # xgboost-ubj | pickle
    metadata: dict[str, Any]
    trained_with: str | None  # the XGBoost version that wrote it


def _read_json(path: Path, data: bytes) -> dict[str, Any]:
    try:
        body = json.loads(data)
    except ValueError as exc:
        raise ArtifactError(f"{path.name} unreadable: {exc}") from exc
    if not isinstance(body, dict):
        raise ArtifactError(f"{path.name} is not a JSON object")
    return body


def verify_artifact(directory: Path, recorded_sha256: str | None) -> VerifiedArtifact:
    """Check every file against the hash the database row recorded; nothing is trusted before."""
    if not recorded_sha256:
        raise ArtifactError("the database row records no sha256; an unverifiable artifact is never loaded")
    manifest_path = directory / MANIFEST_FILE
    if manifest_path.is_file():
        return _verify_manifest(directory, manifest_path, recorded_sha256)
    legacy = directory / LEGACY_MODEL_FILE
    if legacy.is_file():
        return _verify_legacy(directory, legacy, recorded_sha256)
    raise ArtifactError(f"{manifest_path} is missing")


def _verify_manifest(directory: Path, manifest_path: Path, recorded: str) -> VerifiedArtifact:
    data = manifest_path.read_bytes()
    digest = sha256_bytes(data)
    if digest != recorded:
        raise ArtifactError(
            f"sha256 of {MANIFEST_FILE} is {digest[:12]}…, recorded {recorded[:12]}…; "
            "the artifact changed after training"
        )
    manifest = _read_json(manifest_path, data)
    files = manifest.get("files") or {}
    for name in (manifest.get("model_file"), METADATA_FILE):
        if name not in files:
            raise ArtifactError(f"{MANIFEST_FILE} does not cover {name}")
    contents: dict[str, bytes] = {}
    for name, entry in files.items():
        path = directory / name
        if Path(name).name != name or not path.is_file():
            raise ArtifactError(f"{path} is missing")
        contents[name] = path.read_bytes()
        if sha256_bytes(contents[name]) != entry.get("sha256"):
            raise ArtifactError(f"sha256 of {name} differs from {MANIFEST_FILE}; the file changed after training")
    metadata = _read_json(directory / METADATA_FILE, contents[METADATA_FILE])
    model_file = directory / str(manifest["model_file"])
    return VerifiedArtifact(directory, model_file, str(manifest.get("model_format")), metadata, manifest.get("xgboost"))


def _verify_legacy(directory: Path, model_file: Path, recorded: str) -> VerifiedArtifact:
    digest = sha256_file(model_file)
    if digest != recorded:
        raise ArtifactError(
            f"sha256 of {LEGACY_MODEL_FILE} is {digest[:12]}…, recorded {recorded[:12]}…; "
            "the file changed after training"
        )
    path = directory / METADATA_FILE
    if not path.is_file():
        raise ArtifactError(f"{path} is missing")
    metadata = _read_json(path, path.read_bytes())
    return VerifiedArtifact(
        directory, model_file, LEGACY_FORMAT, metadata, (metadata.get("libraries") or {}).get("xgboost")
    )


def _release(version: str | None) -> tuple[int, int]:
    parts = (version or "0.0").split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return 0, 0


def compatibility_problem(artifact: VerifiedArtifact, running: str = xgb.__version__) -> str | None:
    """UBJSON is read by the same and later XGBoost majors; a pickle only by the same major.minor."""
    trained = artifact.trained_with
    if artifact.model_format == MODEL_FORMAT:
        if _release(trained)[0] > _release(running)[0]:
            return f"written by XGBoost {trained}, newer than the running {running}; upgrade XGBoost or retrain"
        return None
    if artifact.model_format == LEGACY_FORMAT:
        if _release(trained) != _release(running):
            return f"a pickle written by XGBoost {trained} cannot be read by {running}; retrain it"
        return None
    return f"unknown model format {artifact.model_format!r}"


class _BoosterOnly(pickle.Unpickler):
    """Admits only what a pickled Booster references; any other global refuses the file."""

    ALLOWED = frozenset({("xgboost.core", "Booster"), ("builtins", "bytearray")})

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise ArtifactError(f"{LEGACY_MODEL_FILE} references {module}.{name}, not only an XGBoost Booster")
        return super().find_class(module, name)


def load_booster(artifact: VerifiedArtifact) -> xgb.Booster:
    """Load the verified model file; UBJSON is parsed by XGBoost, a legacy pickle admits a Booster only."""
    data = artifact.model_file.read_bytes()
    try:
        if artifact.model_format == MODEL_FORMAT:
            booster = xgb.Booster()
            booster.load_model(bytearray(data))
        else:
            booster = _BoosterOnly(io.BytesIO(data)).load()  # nosec B301 - hash-checked, Booster-only unpickler
    except ArtifactError:
        raise
    except Exception as exc:
        raise ArtifactError(f"cannot be loaded: {type(exc).__name__}: {exc}") from exc
    if not isinstance(booster, xgb.Booster):
        raise ArtifactError(f"{artifact.model_file.name} holds {type(booster).__name__}, not a Booster")
    return booster


def sweep_temporary(models_dir: Path, *, older_than_seconds: float = 3600.0, now: float | None = None) -> list[str]:
    """Remove temporary directories a crashed save left behind (older than a save could take)."""
    if not models_dir.is_dir():
        return []
    removed = []
    limit = (time.time() if now is None else now) - older_than_seconds
    for path in models_dir.iterdir():
        if path.name.startswith(TMP_PREFIX) and path.is_dir() and path.stat().st_mtime < limit:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed
