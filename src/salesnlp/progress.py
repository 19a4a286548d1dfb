"""Progress bars (tqdm), imported only when a bar is shown.

:func:`counter` counts notes or batches (a widget in notebooks where ``ipywidgets``
is installed); :func:`file_progress` follows a file by its bytes, with an ETA and the
rate in notes per second.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import IO, Any


class NoBar:
    """What a hidden bar does: nothing."""

    def update(self, *args: Any, **kwargs: Any) -> None:
        pass

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass


def counter(total: int | None, enabled: bool, *, unit: str = "note",
            desc: str = "classify") -> Any:
    """A tqdm bar counting ``unit``s, or a :class:`NoBar` when not ``enabled``."""
    if not enabled:
        return NoBar()
    try:  # a widget in notebooks if ipywidgets is installed, else a text bar
        import ipywidgets  # noqa: F401
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm import tqdm
    return tqdm(total=total, unit=unit, desc=desc)


class _FileBar:
    def __init__(self, bar: Any, initial: int) -> None:
        self.bar = bar
        self.position = initial
        self.started = time.perf_counter()

    def update(self, position: int, notes: int) -> None:
        self.bar.update(position - self.position)
        self.position = position
        if self.bar.total is not None:
            rate = notes / max(time.perf_counter() - self.started, 1e-9)
            self.bar.set_postfix_str(f"{notes:,} notes, {rate:.0f} notes/s", refresh=False)


@contextlib.contextmanager
def file_progress(enabled: bool | None, err: IO[str], total: int | None,
                  initial: int = 0) -> Iterator[Any]:
    """A bar on ``err`` over a file's ``total`` bytes (or over notes when ``total`` is None);
    ``enabled=None`` shows it only when ``err`` is a terminal. Yields an object with
    ``update(position, notes_done)``."""
    if enabled is None:
        enabled = bool(getattr(err, "isatty", lambda: False)())
    if not enabled:
        yield NoBar()
        return
    from tqdm import tqdm

    if total is not None:
        bar = tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
                   file=err, desc="classify", dynamic_ncols=True,
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}B/{total_fmt}B "
                              "[{elapsed}<{remaining}{postfix}]")
    else:
        bar = tqdm(unit="note", file=err, desc="classify", dynamic_ncols=True)
    try:
        yield _FileBar(bar, initial)
    finally:
        bar.close()
