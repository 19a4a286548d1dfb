"""The HTTP service for CRM plugins: a FastAPI application over one :class:`Classifier`.

Routes (``/openapi.json`` describes them):

- ``POST /v1/classify``: ``{"text": "..."}`` gives one result (``Classification.to_dict``);
  ``{"texts": [...]}`` gives ``{"results": [...]}`` in input order;
- ``POST /v1/detect-language``: ``{"text": "..."}`` gives ``{"language", "confidence",
  "supported"}``;
- ``GET /healthz`` (alive) and ``GET /readyz`` (model loaded), without a token;
- ``GET /metrics``: Prometheus text.

Every error is JSON ``{"error": {"code": ..., "message": ...}}`` and never carries note
text: 400 invalid JSON, 401 missing or wrong token (with ``WWW-Authenticate: Bearer``),
404/405 unknown route or method, 413 body over the limit, 422 schema errors, 503 queue
full or not ready (with ``Retry-After``), 500 anything unexpected.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from salesnlp.integrations.serve.batcher import Batcher, QueueFull
from salesnlp.integrations.serve.metrics import Metrics
from salesnlp.integrations.serve.schema import (
    ClassifyRequest,
    ClassifyResponse,
    DetectRequest,
    DetectResponse,
    ErrorResponse,
    ManyResponse,
)

access_log = logging.getLogger("salesnlp.serve.access")
logger = logging.getLogger("salesnlp.serve")


@dataclass
class ServeSettings:
    """How the service runs (the ``salesnlp serve`` options)."""

    host: str = "127.0.0.1"
    port: int = 8000
    model: str | None = None
    token: str | None = None
    max_body_bytes: int = 1_048_576
    max_batch: int = 256           # texts in one request
    max_batch_notes: int = 64      # notes in one model call
    batch_wait_ms: float = 4.0
    max_queue: int = 4096          # notes waiting before 503
    unsupported_language: str = "score"


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def create_app(settings: ServeSettings, classifier=None):
    """The ASGI application. ``classifier``: a loaded one (tests), else it is loaded from
    ``settings.model`` when the server starts."""
    from contextlib import asynccontextmanager

    state: dict[str, Any] = {"classifier": classifier, "batcher": None}
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app):
        import asyncio

        if state["classifier"] is None:
            from salesnlp.api import load

            state["classifier"] = await asyncio.to_thread(
                load, settings.model, unsupported_language=settings.unsupported_language)
        clf = state["classifier"]
        state["batcher"] = Batcher(lambda texts: clf.classify_many(texts, batch_size=32),
                                   max_batch_notes=settings.max_batch_notes,
                                   max_wait=settings.batch_wait_ms / 1000,
                                   max_queue=settings.max_queue, on_batch=metrics.batch)
        logger.info("ready: model %s (%s)", clf.path, clf.precision)
        yield
        await asyncio.to_thread(state["batcher"].drain)
        state["batcher"].close()

    app = FastAPI(title="salesnlp", version=_version(), lifespan=lifespan,
                  default_response_class=SafeJSONResponse,
                  description="Flags buyer behaviours in sellers' notes (et, fi, uk, ro, nl).")
    _routes(app, settings, state, metrics)
    _error_handlers(app)
    app.add_middleware(_Guard, settings=settings, metrics=metrics)
    return app


def _version() -> str:
    from salesnlp._version import __version__

    return __version__


def _routes(app, settings: ServeSettings, state: dict, metrics: Metrics) -> None:
    errors = {code: {"model": ErrorResponse} for code in (400, 401, 413, 422, 503)}

    @app.post("/v1/classify", response_model=ClassifyResponse | ManyResponse, responses=errors,
              summary="Classify one note (text) or several (texts, results in order)")
    async def classify(body: ClassifyRequest, request: Request):
        texts = [body.text] if body.text is not None else list(body.texts or [])
        if len(texts) > settings.max_batch:
            raise ApiError(422, "too_many_texts",
                           f"{len(texts)} texts in one request; at most {settings.max_batch}")
        request.state.n_texts = len(texts)
        results = await _submit(state, texts)
        dicts = [r.to_dict() for r in results]
        return dicts[0] if body.text is not None else {"results": dicts}

    @app.post("/v1/detect-language", response_model=DetectResponse, responses=errors,
              summary="The language of a text")
    async def detect(body: DetectRequest, request: Request):
        from salesnlp.langid import detect_language

        request.state.n_texts = 1
        guess = detect_language(body.text)
        return {"language": guess.language, "confidence": guess.confidence,
                "supported": guess.supported}

    @app.get("/healthz", summary="The process is alive")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", summary="The model is loaded", responses={503: {"model": ErrorResponse}})
    async def readyz():
        if state["batcher"] is None:
            raise ApiError(503, "not_ready", "the model is loading", {"Retry-After": "2"})
        return {"status": "ready"}

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics_route():
        depth = state["batcher"].depth if state["batcher"] is not None else 0
        body, content_type = metrics.render(depth)
        return Response(body, media_type=content_type)


async def _submit(state: dict, texts: list[str]) -> list:
    batcher: Batcher | None = state["batcher"]
    if batcher is None:
        raise ApiError(503, "not_ready", "the model is loading", {"Retry-After": "2"})
    try:
        return await batcher.submit(texts)
    except QueueFull:
        raise ApiError(503, "overloaded", "too many notes are waiting; retry shortly",
                       {"Retry-After": "1"}) from None


def _error_handlers(app) -> None:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    @app.exception_handler(ApiError)
    async def api_error(request, exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc: RequestValidationError):
        # Only where and what, never the offending value: it may be a confidential note.
        problems = [f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: "
                    f"{e['msg']}" for e in exc.errors()]
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return error_response(400, "invalid_json", "the request body is not valid JSON")
        return error_response(422, "invalid_request", "; ".join(problems)[:500])

    codes = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
             413: "body_too_large"}

    @app.exception_handler(HTTPException)
    async def http_error(request, exc: HTTPException):
        return error_response(exc.status_code, codes.get(exc.status_code, "http_error"),
                              str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request, exc: Exception):
        logger.error("unexpected error on %s: %s", request.url.path, type(exc).__name__)
        return error_response(500, "internal_error", "the request could not be processed")


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None):
    return SafeJSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                            headers=headers)


class SafeJSONResponse(JSONResponse):
    """JSON that survives text with lone surrogates (escaped, as JSON allows)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "backslashreplace")


class _Guard:
    """ASGI middleware: request ids, the token, the body limit, metrics and the access log
    (route, status, latency, number of texts; never note text)."""

    OPEN = ("/healthz", "/readyz", "/docs", "/openapi.json", "/docs/oauth2-redirect")

    def __init__(self, app, settings: ServeSettings, metrics: Metrics) -> None:
        self.app, self.settings, self.metrics = app, settings, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = uuid.uuid4().hex[:16]
        started = time.perf_counter()
        status = {"code": 500}
        scope.setdefault("state", {})["n_texts"] = 0

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            refusal = self._refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send_wrapper)
            else:
                await self.app(scope, _limited(receive, self.settings.max_body_bytes),
                               send_wrapper)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route").path if scope.get("route") else scope["path"]
            n_texts = scope["state"].get("n_texts", 0)
            self.metrics.request(route, status["code"], seconds)
            access_log.info("request_id=%s method=%s route=%s status=%d latency_ms=%.1f "
                            "texts=%d", request_id, scope["method"], route, status["code"],
                            seconds * 1000, n_texts)

    def _refusal(self, scope):
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.settings.max_body_bytes:
            return error_response(413, "body_too_large",
                                  f"the body is over {self.settings.max_body_bytes} bytes")
        token = self.settings.token
        if token is None or scope["path"] in self.OPEN:
            return None
        given = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(),
                                                                 token.encode()):
            return error_response(401, "unauthorized",
                                  "missing or wrong token (Authorization: Bearer <token>)",
                                  {"WWW-Authenticate": 'Bearer realm="salesnlp"'})
        return None


def _limited(receive, limit: int):
    """``receive`` that stops a body (chunked, or longer than its Content-Length says) at
    ``limit`` with a 413 (an HTTPException, which FastAPI lets through body parsing)."""
    seen = {"bytes": 0}

    async def wrapped():
        message = await receive()
        if message["type"] == "http.request":
            seen["bytes"] += len(message.get("body", b""))
            if seen["bytes"] > limit:
                raise HTTPException(413, f"the body is over {limit} bytes")
        return message

    return wrapped
