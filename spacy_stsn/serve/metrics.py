"""The server's Prometheus metrics, through the official ``prometheus-client``.

Each app has its own registry (two servers in one process, as in the tests, count
apart), and :class:`MetricsMiddleware` counts every HTTP answer where the status is
known: a request refused by validation or by the body limit counts as an error as much
as one that failed in the model.
"""

import time
from typing import Any, Awaitable, Callable, Dict, MutableMapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# documents per nlp.pipe call: powers of two up to the largest --max-batch worth trying
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
# seconds: from a short sentence alone on a GPU to a long document on a busy CPU
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServeMetrics:
    """The metrics of one server (prefix ``stsn_serve_``).

    requests: answers by route and status code.
    errors: answers with a 4xx or 5xx status, by route and status code.
    documents: documents annotated (a ``texts`` request counts each of its texts).
    batch_documents: documents per ``nlp.pipe`` call (the micro-batches).
    latency: seconds from a request's arrival to its answer, by route.
    queue_documents: documents waiting for the model now.
    in_progress: requests being answered now.
    retries: documents sent to a model replica again after the one that had them
        died (``--ray``).
    """

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        labels = ("route", "status")
        self.requests = Counter(
            "stsn_serve_requests", "HTTP requests answered", labels, registry=registry
        )
        self.errors = Counter(
            "stsn_serve_errors",
            "HTTP requests answered with a 4xx or 5xx status",
            labels,
            registry=registry,
        )
        self.documents = Counter(
            "stsn_serve_documents", "documents annotated", registry=registry
        )
        self.batch_documents = Histogram(
            "stsn_serve_batch_documents",
            "documents per nlp.pipe call",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.latency = Histogram(
            "stsn_serve_request_seconds",
            "seconds from a request's arrival to its answer",
            ("route",),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.queue_documents = Gauge(
            "stsn_serve_queue_documents",
            "documents waiting for the model",
            registry=registry,
        )
        self.in_progress = Gauge(
            "stsn_serve_requests_in_progress",
            "requests being answered",
            registry=registry,
        )

        self.retries = Counter(
            "stsn_serve_retries",
            "documents sent again after their model replica died (--ray)",
            registry=registry,
        )

    def exposition(self) -> bytes:
        """Every metric in Prometheus' text format."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """ASGI middleware: counts and times every HTTP request by its route (the path of a
    known route, else ``other``, so that scanners do not create a label per path)."""

    def __init__(self, app: ASGIApp, metrics: ServeMetrics, routes: Any) -> None:
        self.app, self.metrics, self.routes = app, metrics, set(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = scope["path"] if scope["path"] in self.routes else "other"
        status: Dict[str, int] = {"code": 500}
        start = time.perf_counter()

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        self.metrics.in_progress.inc()
        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.metrics.in_progress.dec()
            code = str(status["code"])
            self.metrics.requests.labels(route, code).inc()
            if status["code"] >= 400:
                self.metrics.errors.labels(route, code).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)
