"""The FastAPI app of ``serve``: ``POST /extract``, ``GET /health``, ``/ready``,
``/metrics`` and the page at ``/``, over a backend that runs the model (the local
micro-batcher, or Ray Serve's replicas).

Bad input is refused before it reaches the model, with a status that says whose fault
it is and a ``detail`` that says what is wrong: 400 for a body that is not JSON, 422 for
JSON of the wrong shape, 413 for too much (a text over ``--max-length``, more texts than
``--max-texts``, a body over ``--max-body-bytes``). A request that fails inside the
model is answered 500 alone; one that finds the model loading or its queue full, 503.
"""

import json
from contextlib import asynccontextmanager
from importlib import resources
from typing import (
    AsyncIterator,
    Dict,
    List,
    Optional,
    Protocol,
    Tuple,
    Union,
)

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError

from ..about import __version__
from .batching import Busy, NotReady
from .limits import BodyLimit
from .metrics import CONTENT_TYPE, MetricsMiddleware, ServeMetrics
from .options import ServeOptions
from .pipeline import ModelError, Record
from .schema import DocumentAnswer, DocumentsAnswer, ExtractRequest, Problem

ROUTES = ("/", "/extract", "/health", "/ready", "/metrics")
# what a client should wait before trying again when the queue is full or the model
# loads, in seconds
RETRY_AFTER = "1"
# the OpenAPI description of the body, which the endpoint reads itself
REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": ExtractRequest.model_json_schema()}},
    }
}


class Backend(Protocol):
    """What runs the model for the app."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def status(self) -> Tuple[bool, str]:
        """(ready, what it is doing) for ``/ready``."""
        ...

    async def annotate(self, texts: List[str], html: bool = False) -> List[Record]:
        """The records of ``texts``; raises ``NotReady``, ``Busy`` or ``ModelError``."""
        ...


def page() -> str:
    """The page at ``/`` (package data: ``static/index.html``)."""
    return (resources.files(__package__) / "static" / "index.html").read_text("utf8")


def create_app(
    options: ServeOptions, backend: Backend, metrics: Optional[ServeMetrics] = None
) -> FastAPI:
    """The app.

    options: the limits (``max_length``, ``max_texts``, ``max_body_bytes``).
    backend: what annotates; started and stopped with the app (its lifespan).
    metrics: the metrics ``/metrics`` shows (the backend's, so that its batch sizes
        are among them; default: new ones).
    """
    metrics = metrics if metrics is not None else ServeMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await backend.start()
        try:
            yield
        finally:
            await backend.stop()

    app = FastAPI(
        title="spacy-stsn",
        version=__version__,
        description="Joint entity and relation extraction (STSN) over HTTP.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, max_bytes=options.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=ROUTES)
    html = page()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(html)

    @app.get("/health")
    async def health() -> Dict[str, str]:
        """Alive (the process answers), whether or not the model is ready."""
        return {"status": "alive"}

    @app.get("/ready", responses={503: {"model": Problem}})
    async def ready() -> JSONResponse:
        """200 once the pipeline is loaded and warmed up, else 503."""
        is_ready, words = backend.status()
        if is_ready:
            return JSONResponse({"status": "ready"})
        return _problem(503, words, {"Retry-After": RETRY_AFTER})

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    @app.post(
        "/extract",
        responses={
            200: {"model": Union[DocumentAnswer, DocumentsAnswer]},
            **{code: {"model": Problem} for code in (400, 413, 422, 500, 503)},
        },
        openapi_extra=REQUEST_BODY,
    )
    async def extract(request: Request) -> Response:
        """Entities and relations of ``text`` (answered as one document) or ``texts``
        (answered as ``documents``, in order)."""
        return await answer_extract(request, options, backend, metrics)

    return app


async def answer_extract(
    request: Request, options: ServeOptions, backend: Backend, metrics: ServeMetrics
) -> Response:
    """The answer to ``POST /extract``: the documents' annotations, or a problem.

    request (Request): the request.
    options (ServeOptions): the limits of a request.
    backend (Backend): what annotates.
    metrics (ServeMetrics): counts the documents annotated.
    RETURNS (Response): the annotations (200) or the problem (400, 413, 422, 500, 503).
    """
    try:
        asked = parse_request(await request.body())
    except ValidationError as err:  # (a ValueError too)
        return _invalid(err)
    except ValueError as err:
        return _problem(400, str(err))
    texts = asked.documents()
    problem = _too_much(texts, options, single=asked.text is not None)
    if problem is not None:
        return _problem(413, problem)
    try:
        records = await backend.annotate(texts, asked.html)
    except (NotReady, Busy) as err:
        return _problem(503, str(err), {"Retry-After": RETRY_AFTER})
    except ModelError as err:
        return _problem(500, str(err))
    metrics.documents.inc(len(texts))
    documents = [{"text": t, **r} for t, r in zip(texts, records)]
    passthrough = {"id": asked.id} if "id" in asked.model_fields_set else {}
    if asked.text is not None:
        return JSONResponse({**passthrough, **documents[0]})
    return JSONResponse({**passthrough, "documents": documents})


def parse_request(body: bytes) -> ExtractRequest:
    """The request in ``body``, read as JSON whatever its Content-Type (``curl -d``
    sends a form's); ``ValueError`` if it is not JSON, pydantic's ``ValidationError``
    if it is not an extraction request."""
    if not body.strip():
        raise ValueError("the body is empty: send a JSON object with 'text' or 'texts'")
    try:
        data = json.loads(body)
    except ValueError as err:  # not JSON, or not UTF-8
        raise ValueError(f"the body is not valid JSON: {err}") from None
    return ExtractRequest.model_validate(data)


def _too_much(texts: List[str], options: ServeOptions, single: bool) -> Optional[str]:
    """Why ``texts`` (a request's ``text`` if ``single``) are more than the server
    takes, or None."""
    if len(texts) > options.max_texts:
        return (
            f"{len(texts)} texts in one request, the most this server takes is "
            f"{options.max_texts}; send them in several requests"
        )
    for i, text in enumerate(texts):
        if len(text) > options.max_length:
            where = "text" if single else f"texts[{i}]"
            return (
                f"{where} has {len(text):,} characters, the most this server takes is "
                f"{options.max_length:,} (--max-length); split the document"
            )
    return None


def _problem(
    status: int, detail: str, headers: Optional[Dict[str, str]] = None
) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _invalid(err: ValidationError) -> JSONResponse:
    """pydantic's errors as one readable ``detail`` (and the list, as ``errors``)."""
    errors = err.errors(include_url=False, include_input=False, include_context=False)
    messages = []
    for error in errors:
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        messages.append(f"{where}: {message}" if where else message)
    return JSONResponse({"detail": "; ".join(messages), "errors": errors}, 422)
