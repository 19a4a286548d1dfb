"""Where a batch run writes, and how it survives being stopped.

Writing to a file goes through ``<output>.partial`` (appended, flushed and synced per
chunk) and a JSON sidecar ``<output>.progress`` (:class:`Checkpoint`) that records,
after each chunk, the input position, a SHA-256 of the input bytes read so far and the
partial file's size. ``resume`` cuts the partial file back to the recorded size and
reads on from the recorded position, so an interrupted run continues without a
duplicated or lost row. The part of the input already done must be unchanged (its
hash is compared); rows after it may have been fixed in the meantime. When done, the
partial file is renamed to ``<output>`` and the sidecar removed. Nothing here ever
deletes a row that was written and recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import IO, Any

from salesnlp.integrations.files.reading import BatchUsageError

PARTIAL_SUFFIX = ".partial"
PROGRESS_SUFFIX = ".progress"
SIDECAR_VERSION = 2
#: Settings that must be the same to resume a run.
RUN_SETTINGS = ("input", "input_format", "output_format", "text_column", "delimiter",
                "encoding")


@dataclass
class Checkpoint:
    """The state of a run after its last recorded chunk (the ``.progress`` sidecar)."""

    version: int = SIDECAR_VERSION
    input: str | None = None
    input_format: str = "txt"
    output_format: str = "jsonl"
    text_column: str = "text"
    delimiter: str | None = None
    encoding: str = "utf-8"
    columns: list[str] | None = None
    rows_consumed: int = 0
    input_offset: int = 0
    input_line: int = 0
    input_sha256: str = hashlib.sha256().hexdigest()
    output_bytes: int = 0
    classified: int = 0
    skipped: int = 0
    complete: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != SIDECAR_VERSION:
            raise ValueError("a sidecar of another salesnlp version")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def protected_paths(output: Path) -> list[Path]:
    """Every file a run into ``output`` writes: none of them may be its input."""
    partial = output.with_name(output.name + PARTIAL_SUFFIX)
    sidecar = output.with_name(output.name + PROGRESS_SUFFIX)
    return [output, partial, sidecar, sidecar.with_name(sidecar.name + ".tmp")]


class Sink:
    """Where encoded rows go; :meth:`commit` records that they are done."""

    state: Checkpoint
    done = False

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        pass

    def finish(self) -> None:
        pass

    def close_failed(self) -> str | None:
        """Close after a failed run; return where finished rows were kept, if anywhere."""
        return None


class StdoutSink(Sink):
    def __init__(self, stream: IO[bytes], state: Checkpoint) -> None:
        self.stream = stream
        self.state = state

    def write(self, data: bytes) -> None:
        self.stream.write(data)
        self.stream.flush()
        self.state.output_bytes += len(data)


class FileSink(Sink):
    """``<output>.partial`` plus the ``<output>.progress`` sidecar."""

    def __init__(self, output: Path, state: Checkpoint, resume: bool, warn) -> None:
        self.output = output
        self.input_digest = None  # on resume: the hash of the input bytes already done
        _, self.partial, self.sidecar, self.sidecar_tmp = protected_paths(output)
        self.state = state
        self.warn = warn
        if resume and self.sidecar.exists():
            self._resume()
        else:
            if resume:
                warn(f"no interrupted run to resume ({self.sidecar} not found); "
                     "starting from the beginning")
            self.sidecar.unlink(missing_ok=True)
            self.handle = open(self.partial, "wb")  # noqa: SIM115 - closed in finish()

    def _resume(self) -> None:
        try:
            saved = Checkpoint.from_json(self.sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError) as exc:
            raise BatchUsageError(f"cannot read {self.sidecar}: {exc}",
                                  hint="run again without --resume to start over") from exc
        changed = [k for k in RUN_SETTINGS if getattr(saved, k) != getattr(self.state, k)
                   and not (k == "delimiter" and self.state.delimiter is None)]
        if changed:
            raise BatchUsageError(
                f"--resume with other settings than the interrupted run ({', '.join(changed)} "
                f"differ; recorded in {self.sidecar})",
                hint="repeat the first run's arguments, or run without --resume to start over")
        self.input_digest = (prefix_digest(Path(saved.input), saved)
                             if saved.input is not None else None)
        if saved.input is not None and self.input_digest is None:
            raise BatchUsageError(
                f"{saved.input} changed since the interrupted run, in the part already done",
                hint="run without --resume to start over")
        if saved.complete and self.output.exists() and not self.partial.exists():
            self.sidecar.unlink()
            self.warn(f"{self.output} was already complete")
            self.state, self.done = saved, True
            return
        size = self.partial.stat().st_size if self.partial.exists() else -1
        if size < saved.output_bytes:
            raise BatchUsageError(
                f"{self.partial} is missing or shorter than recorded in {self.sidecar}",
                hint="run without --resume to start over")
        self.state = saved
        self.handle = open(self.partial, "r+b")  # noqa: SIM115 - closed in finish()
        self.handle.truncate(saved.output_bytes)
        self.handle.seek(saved.output_bytes)
        self.warn(f"resuming at input row {saved.rows_consumed + 1} "
                  f"(line {saved.input_line + 1})")

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.state.output_bytes += len(data)

    def commit(self) -> None:
        self.sidecar_tmp.write_text(self.state.to_json(), encoding="utf-8")
        os.replace(self.sidecar_tmp, self.sidecar)

    def finish(self) -> None:
        self.handle.close()
        self.state.complete = True
        self.commit()
        os.replace(self.partial, self.output)
        self.sidecar.unlink()

    def close_failed(self) -> str | None:
        """Keep the recorded rows for ``--resume``; only a run that recorded nothing
        leaves no files behind."""
        self.handle.close()
        if self.state.rows_consumed:
            return str(self.partial)
        self.partial.unlink(missing_ok=True)
        self.sidecar.unlink(missing_ok=True)
        return None


def prefix_digest(path: Path, saved: Checkpoint):
    """The running SHA-256 of the first ``saved.input_offset`` bytes of ``path`` if they
    hash as recorded (to continue hashing from there), else None."""
    digest = hashlib.sha256()
    remaining = saved.input_offset
    try:
        with open(path, "rb") as handle:
            while remaining > 0:
                block = handle.read(min(remaining, 1 << 20))
                if not block:
                    return None
                digest.update(block)
                remaining -= len(block)
    except OSError:
        return None
    return digest if digest.hexdigest() == saved.input_sha256 else None
