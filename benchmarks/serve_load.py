"""Load benchmark of ``salesnlp serve`` on loopback, next to in-process ``classify_many``.

    python -m benchmarks.serve_load            # writes benchmarks/serve/results.{json,md}
    python -m benchmarks.serve_load --quick

In one run: the in-process throughput of ``classify_many`` (batches of 32) on the
benchmark's ~40-token notes, then the server as a separate process on 127.0.0.1 with
1, 8 and 32 concurrent clients, each sending one note per request (asyncio + httpx in
one client process, keep-alive connections), bounded in requests and in time. Reports
p50/p95/p99 latency and throughput, and the 32-client throughput as a share of the
in-process one (goal: at least 0.6). Both share the machine's cores with the client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "serve"
TOKEN = "benchmark-token"
CONCURRENCY = (1, 8, 32)


def typical_notes(n: int) -> list[str]:
    import salesnlp
    from benchmarks.run import note_sets
    from salesnlp.corpus.notes import load_corpus

    notes = load_corpus(HERE.parent / "corpus", split="test")
    typical = note_sets(salesnlp.load(), notes)["typical"]
    return (typical * (n // len(typical) + 1))[:n]


def in_process(texts: list[str], repeats: int) -> float:
    import salesnlp

    clf = salesnlp.load()
    clf.classify_many(texts[:64])  # warm up
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        clf.classify_many(texts, batch_size=32)
        rates.append(len(texts) / (time.perf_counter() - start))
    return statistics.median(rates)


def start_server(port: int) -> subprocess.Popen:
    env = {**os.environ, "SALESNLP_API_TOKEN": TOKEN}
    process = subprocess.Popen([sys.executable, "-m", "salesnlp.cli", "serve", "--port",
                                str(port)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    import httpx

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("the server did not become ready")


async def load(url: str, texts: list[str], clients: int, max_requests: int,
               max_seconds: float) -> dict:
    import httpx

    latencies: list[float] = []
    errors = 0
    next_text = iter(range(max_requests))
    deadline = time.perf_counter() + max_seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60,
                                 limits=limits) as http:
        async def client() -> None:
            nonlocal errors
            for i in next_text:
                if time.perf_counter() > deadline:
                    return
                start = time.perf_counter()
                response = await http.post(url, json={"text": texts[i % len(texts)]})
                latencies.append(time.perf_counter() - start)
                errors += response.status_code != 200

        for _ in range(min(clients, 4)):  # warm up the connections
            await http.post(url, json={"text": texts[0]})
        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        seconds = time.perf_counter() - started
    ms = sorted(x * 1000 for x in latencies)

    def pct(q: float) -> float:
        return round(ms[min(len(ms) - 1, int(q * (len(ms) - 1)))], 1)

    return {"clients": clients, "requests": len(ms), "errors": errors,
            "seconds": round(seconds, 2), "notes_per_s": round(len(ms) / seconds, 1),
            "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99)}


def markdown(report: dict) -> str:
    lines = ["# HTTP service load benchmark", "",
             f"Measured {report['date']} on {report['cores']} cores (load average at the "
             f"start {report['loadavg_start'][0]:.2f}); `python -m benchmarks.serve_load`.",
             "", f"In-process `classify_many` (batches of 32): **{report['in_process']:.1f} "
             "notes/s** on the same ~40-token notes.", "",
             "| concurrent clients | requests | notes/s | p50 ms | p95 ms | p99 ms | "
             "share of in-process |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in report["runs"]:
        lines.append(f"| {r['clients']} | {r['requests']} | {r['notes_per_s']} | {r['p50_ms']} "
                     f"| {r['p95_ms']} | {r['p99_ms']} | {r['share']:.2f} |")
    lines += ["", f"Goal: 32 single-note clients at ≥ 0.6× in-process throughput: "
                  f"**{report['runs'][-1]['share']:.2f}×** "
                  f"({'met' if report['runs'][-1]['share'] >= 0.6 else 'not met'})."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    texts = typical_notes(256 if args.quick else 512)
    rate = in_process(texts, 1 if args.quick else 3)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = start_server(port)
    runs = []
    try:
        for clients in CONCURRENCY:
            run = asyncio.run(load(f"http://127.0.0.1:{port}/v1/classify", texts, clients,
                                   max_requests=200 if args.quick else 1000,
                                   max_seconds=20 if args.quick else 60))
            run["share"] = round(run["notes_per_s"] / rate, 3)
            runs.append(run)
            print(json.dumps(run), file=sys.stderr, flush=True)
    finally:
        server.terminate()
        server.wait(timeout=60)
    report = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "cores": os.cpu_count(),
              "loadavg_start": os.getloadavg(), "in_process": round(rate, 1), "runs": runs}
    OUT.mkdir(exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(report, indent=2))
    (OUT / "results.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
