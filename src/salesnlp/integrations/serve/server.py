"""Running the HTTP service: ``salesnlp serve`` (uvicorn, one process).

Without a token the service listens on loopback only, and says so; asked to listen on
any other address without one, it refuses to start (exit status 2). ``SIGTERM`` stops
accepting connections, lets requests in flight finish and exits with status 0.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

import uvicorn

from salesnlp.integrations.serve.app import ServeSettings, create_app

TOKEN_ENV = "SALESNLP_API_TOKEN"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
EXIT_USAGE = 2


class ServeUsageError(Exception):
    """Settings the service cannot start with."""


def resolve_token(token_file: str | None) -> str | None:
    """The API token: from ``token_file`` if given, else ``$SALESNLP_API_TOKEN``, else None."""
    if token_file is not None:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ServeUsageError(f"cannot read the token file {token_file}: {exc}") from None
        if not token:
            raise ServeUsageError(f"the token file {token_file} is empty")
        return token
    token = os.environ.get(TOKEN_ENV, "").strip()
    return token or None


def check_settings(settings: ServeSettings) -> None:
    if settings.token is None and settings.host not in LOOPBACK:
        raise ServeUsageError(
            f"refusing to listen on {settings.host} without a token: set {TOKEN_ENV} "
            "(or --token-file), or listen on 127.0.0.1")
    for name in ("max_body_bytes", "max_batch", "max_batch_notes", "max_queue"):
        if getattr(settings, name) < 1:
            raise ServeUsageError(f"--{name.replace('_', '-')} must be at least 1")


def run(settings: ServeSettings) -> int:
    """Serve until stopped; the process's exit status."""
    try:
        check_settings(settings)
    except ServeUsageError as exc:
        print(f"salesnlp serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logging.getLogger("salesnlp.serve").setLevel(logging.INFO)
    if settings.token is None:
        print(f"salesnlp serve: no token set ({TOKEN_ENV}): listening on {settings.host} only",
              file=sys.stderr)
    config = uvicorn.Config(create_app(settings), host=settings.host, port=settings.port,
                            log_level="warning", access_log=False,
                            timeout_graceful_shutdown=30, lifespan="on")
    _Server(config).run()
    return 0


class _Server(uvicorn.Server):
    """uvicorn's server, exiting with status 0 after a graceful shutdown on SIGTERM or
    SIGINT (uvicorn re-raises the signal once shut down, which ends the process with
    -15)."""

    @contextlib.contextmanager
    def capture_signals(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.handle_exit)
        yield
