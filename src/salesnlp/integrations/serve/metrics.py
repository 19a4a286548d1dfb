"""Prometheus metrics of the HTTP service (a private registry, text exposition format)."""

from __future__ import annotations

ROUTES = ("/v1/classify", "/v1/detect-language", "/healthz", "/readyz", "/metrics",
          "/openapi.json", "/docs")


class Metrics:
    """Requests by route and status, latency, batch sizes, queue depth. Routes outside
    :data:`ROUTES` count as ``other`` (no label per arbitrary path)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("salesnlp_requests_total", "HTTP requests",
                                ["route", "status"], registry=self.registry)
        self.latency = Histogram("salesnlp_request_seconds", "Request latency", ["route"],
                                 buckets=(.002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10),
                                 registry=self.registry)
        self.batches = Histogram("salesnlp_batch_notes", "Notes per model call",
                                 buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
                                 registry=self.registry)
        self.depth = Gauge("salesnlp_queue_notes", "Notes waiting or being classified",
                           registry=self.registry)

    def request(self, route: str, status: int, seconds: float) -> None:
        route = route if route in ROUTES else "other"
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def batch(self, size: int) -> None:
        self.batches.observe(size)

    def render(self, queue_depth: int) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        self.depth.set(queue_depth)
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
