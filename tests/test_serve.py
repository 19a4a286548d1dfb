"""``salesnlp serve``: the real server process on 127.0.0.1, talked to over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from salesnlp.inference.classifier import Classifier  # noqa: E402
from salesnlp.langid import detect_language  # noqa: E402

TOKEN = "test-token-4c1d"
NOTES = ["Ei öelnud, kes hanke võitis. Kolm kirja, vastust pole.",
         "Katsotaan syksyllä, ei päivämäärää.", "Подивимось після літа, може.",
         "Am semnat contractul, livrare marți.", "Wilde niet zeggen wie de leverancier is.",
         "-", "Он не сказал, кто выиграл тендер."]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, model: Path, tmp: Path, *args: str, token: str | None = TOKEN) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "SALESNLP_MODEL": str(model)}
        env.pop("SALESNLP_API_TOKEN", None)
        if token is not None:
            env["SALESNLP_API_TOKEN"] = token
        self.log = open(tmp / f"server-{self.port}.log", "w+")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "salesnlp.cli", "serve", "--port", str(self.port), *args],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError("the server did not become ready: " + self.output())

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def post(self, path: str, body=None, *, content: bytes | None = None, headers=None,
             timeout: float = 60):
        return httpx.post(self.url + path, json=body if content is None else None,
                          content=content, headers={**self.headers, **(headers or {})},
                          timeout=timeout)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()
        return self.process.returncode


@pytest.fixture(scope="module")
def server(tiny_model, tmp_path_factory):
    srv = Server(tiny_model, tmp_path_factory.mktemp("serve"), "--max-batch", "16",
                 "--max-body-bytes", "20000")
    srv.wait_ready()
    yield srv
    assert srv.stop() == 0


@pytest.fixture(scope="module")
def classifier(tiny_model):
    return Classifier.load(tiny_model)


def test_classify_one_and_many_equal_the_in_process_api(server, classifier):
    one = server.post("/v1/classify", {"text": NOTES[0]})
    assert one.status_code == 200, one.text
    expected = classifier.classify(NOTES[0]).to_dict()
    got = one.json()
    assert got["labels"] == expected["labels"] and got["language"] == expected["language"]
    assert got["scores"] == pytest.approx(expected["scores"], abs=1e-3)
    assert [e["text"] for e in got["evidence"]] == [e["text"] for e in expected["evidence"]]
    many = server.post("/v1/classify", {"texts": NOTES})
    assert many.status_code == 200
    results = many.json()["results"]
    assert [r["language"] for r in results] == [r.language for r in
                                                classifier.classify_many(NOTES)]
    assert results[5]["labels"] == [] and results[5]["language"] == "und"
    assert results[6]["supported"] is False


def test_detect_language(server):
    response = server.post("/v1/detect-language", {"text": NOTES[2]})
    guess = detect_language(NOTES[2])
    assert response.json() == {"language": guess.language, "confidence": guess.confidence,
                               "supported": guess.supported}


def test_auth(server):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
        response = httpx.post(server.url + "/v1/classify", json={"text": "x"}, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["error"]["code"] == "unauthorized"
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(server.url + "/readyz").status_code == 200
    assert httpx.get(server.url + "/metrics").status_code == 401


@pytest.mark.parametrize(("body", "status", "code"), [
    (b"{not json", 400, "invalid_json"),
    (json.dumps({"text": 3}).encode(), 422, "invalid_request"),
    (json.dumps({"texts": ["a", 2]}).encode(), 422, "invalid_request"),
    (json.dumps({"text": "a", "texts": ["b"]}).encode(), 422, "invalid_request"),
    (json.dumps({}).encode(), 422, "invalid_request"),
    (json.dumps({"texts": ["a"] * 17}).encode(), 422, "too_many_texts"),
    (json.dumps({"text": "x" * 30000}).encode(), 413, "body_too_large"),
])
def test_errors_are_json_without_note_text(server, body, status, code):
    response = server.post("/v1/classify", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert "xxxx" not in response.text


def test_a_chunked_body_over_the_limit_is_refused(server):
    def chunks():
        yield b'{"text": "'
        for _ in range(40):
            yield b"y" * 1000
        yield b'"}'

    response = httpx.post(server.url + "/v1/classify", content=chunks(),
                          headers={**server.headers, "Content-Type": "application/json"})
    assert response.status_code == 413


def test_unknown_route_and_method_are_json(server):
    assert server.post("/v2/nothing", {}).json()["error"]["code"] == "not_found"
    response = httpx.get(server.url + "/v1/classify", headers=server.headers)
    assert response.status_code == 405 and response.json()["error"]["code"] == \
        "method_not_allowed"


def test_surrogates_and_odd_text_survive_the_round_trip(server):
    body = b'{"texts": ["Ei \\ud83d \\u00f6elnud", "\\u0000", "<b>Wilde</b> niet &amp; zeggen"]}'
    response = server.post("/v1/classify", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 3


def test_concurrent_clients_get_their_own_results_in_order(server, classifier):
    expected = {n: classifier.classify(n).labels for n in NOTES}
    failures = []

    def client(k: int) -> None:
        with httpx.Client(headers=server.headers, timeout=60) as http:
            for i in range(6):
                note = NOTES[(k + i) % len(NOTES)]
                r = http.post(server.url + "/v1/classify", json={"text": note})
                if r.status_code != 200 or tuple(r.json()["labels"]) != expected[note]:
                    failures.append((k, i, r.status_code))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    metrics = httpx.get(server.url + "/metrics", headers=server.headers).text
    assert 'salesnlp_requests_total{route="/v1/classify",status="200"}' in metrics
    assert "salesnlp_batch_notes_bucket" in metrics and "salesnlp_queue_notes" in metrics
    # batching happened: fewer model calls than single-note requests
    calls = [line for line in metrics.splitlines() if line.startswith("salesnlp_batch_notes_count")]
    assert float(calls[0].split()[-1]) < 16 * 6


def test_access_log_has_ids_routes_and_no_note_text(server):
    server.post("/v1/classify", {"text": "Konfidentsiaalne märkus 12345"})
    log = server.output()
    assert "route=/v1/classify status=200" in log and "request_id=" in log
    assert "Konfidentsiaalne" not in log and "12345" not in log


def test_openapi_schema_describes_the_routes(server):
    schema = httpx.get(server.url + "/openapi.json").json()
    assert {"/v1/classify", "/v1/detect-language", "/healthz", "/readyz"} <= set(schema["paths"])


def test_refuses_a_public_address_without_a_token(tiny_model, tmp_path):
    env = {**os.environ, "SALESNLP_MODEL": str(tiny_model)}
    env.pop("SALESNLP_API_TOKEN", None)
    done = subprocess.run([sys.executable, "-m", "salesnlp.cli", "serve", "--host", "0.0.0.0",
                           "--port", str(free_port())], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "without a token" in done.stderr


def test_queue_full_answers_503_with_retry_after(tiny_model, tmp_path):
    srv = Server(tiny_model, tmp_path, "--max-queue", "2", "--max-batch", "64")
    try:
        srv.wait_ready()
        response = srv.post("/v1/classify", {"texts": NOTES[:5]})
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert response.json()["error"]["code"] == "overloaded"
        assert srv.post("/v1/classify", {"texts": NOTES[:2]}).status_code == 200
    finally:
        assert srv.stop() == 0


def test_sigterm_finishes_requests_in_flight_and_exits_0(tiny_model, tmp_path):
    srv = Server(tiny_model, tmp_path, token=None)
    srv.wait_ready()
    assert "listening on 127.0.0.1 only" in srv.output()
    long_notes = [" ".join(NOTES) * 30] * 16
    results: list = []

    def client() -> None:
        try:
            results.append(srv.post("/v1/classify", {"texts": long_notes}, timeout=120)
                           .status_code)
        except httpx.HTTPError as exc:
            results.append(repr(exc))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)  # the requests are in flight
    srv.process.send_signal(signal.SIGTERM)
    for t in threads:
        t.join()
    assert srv.stop() == 0
    assert results == [200] * 4


# -- fuzzing the API from its own OpenAPI schema (bounded) ------------------------------------

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402


def test_the_api_answers_any_request_of_its_schema_without_a_server_error(server):
    from hypothesis import given

    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/classify", "/v1/detect-language"}
    seen = []
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            response = case.call(headers=server.headers, timeout=60)
            seen.append(response.status_code)
            assert response.status_code < 500 or response.status_code == 503, response.text
            if response.status_code >= 400:
                assert set(response.json()["error"]) == {"code", "message"}

        check()
    assert len(seen) >= 4 * len(operations)
