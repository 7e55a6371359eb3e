"""``serve``: the HTTP service over the small pipeline trained in conftest, on
127.0.0.1 with ports the system picks: correct answers under concurrent load with
micro-batching, and bad input refused without harming anyone else (more in
test_serve_operations.py)."""

import asyncio
import contextlib
import io
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, AsyncIterator, Dict, Iterator, List, Tuple

import pytest
import spacy
from conftest import load_records
from spacy.language import Language

from spacy_stsn.extraction.records import doc_to_record

httpx = pytest.importorskip("httpx", reason="the serve tests need httpx")
pytest.importorskip("fastapi", reason="serve needs pip install spacy-stsn[serve]")

from spacy_stsn.serve import ServeOptions  # noqa: E402
from spacy_stsn.serve.server import LocalServer, listen  # noqa: E402

HERE = Path(__file__).resolve().parent
# texts that make the pipeline below fail inside the model, and leave annotations that
# no record can be made of
FAIL, BREAK = "FAIL-IN-MODEL", "BREAK-THE-RECORD"


@Language.factory("test_serve_trouble", default_config={"pause": 0.0})
def make_trouble(nlp: Language, name: str, pause: float):
    """A component that raises on a text holding ``FAIL``, leaves a broken relation on
    one holding ``BREAK``, and sleeps ``pause`` s per document (a slow model)."""

    def trouble(doc):
        if FAIL in doc.text:
            raise RuntimeError("this document fails on purpose")
        if BREAK in doc.text:
            doc._.relations = [{"label": "broken"}]
        time.sleep(pause)
        return doc

    return trouble


class Troubled:
    """A pipeline loader: the trained pipeline with the component above, after
    ``load_pause`` s (a slow load)."""

    def __init__(self, model_dir: str, pause: float = 0.0, load_pause: float = 0.0):
        self.model_dir, self.pause, self.load_pause = model_dir, pause, load_pause

    def __call__(self) -> Language:
        time.sleep(self.load_pause)
        nlp = spacy.load(self.model_dir)
        nlp.add_pipe("test_serve_trouble", config={"pause": self.pause})
        return nlp


@contextlib.contextmanager
def running(options: ServeOptions, ready: bool = True) -> Iterator[str]:
    """A :class:`LocalServer` in a thread on a free port of 127.0.0.1; its URL, once
    ``/ready`` (with ``ready``)."""
    server = LocalServer(options, log=io.StringIO())
    sock = listen("127.0.0.1", 0)
    thread = threading.Thread(target=server.run, args=(sock,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        if ready:
            wait_ready(url)
        yield url
    finally:
        server.stop()
        thread.join(60)
        assert not thread.is_alive(), "the server did not stop"


def wait_ready(url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ready", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} was not ready after {timeout} s")


def expected(nlp: Language, text: str) -> Dict[str, Any]:
    """What the server must answer for ``text``: ``nlp(text)``'s record."""
    return {"text": text, **doc_to_record(nlp(text))}


def same(answer: Any, truth: Any, tolerance: float = 1e-5) -> bool:
    """``answer`` is ``truth``, scores within ``tolerance`` (a batch moves them in the
    last float bits: by 5e-7 at most in the small pipeline, float32)."""
    if isinstance(truth, float):
        return isinstance(answer, float) and abs(answer - truth) <= tolerance
    if isinstance(truth, dict):
        return (
            isinstance(answer, dict)
            and answer.keys() == truth.keys()
            and all(same(answer[k], truth[k], tolerance) for k in truth)
        )
    if isinstance(truth, list):
        return (
            isinstance(answer, list)
            and len(answer) == len(truth)
            and all(same(a, t, tolerance) for a, t in zip(answer, truth))
        )
    return answer == truth


def metric(url: str, name: str, labelled: str = "") -> float:
    """The sum of the samples named ``name`` at ``/metrics`` (those whose labels hold
    ``labelled``)."""
    total = 0.0
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith(name) and line[len(name)] in " {" and labelled in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def sentences(conll04_records, n: int = 60) -> List[str]:
    """CoNLL04 test sentences, and the training ones, which the small pipeline knows
    (so that the answers hold entities and relations)."""
    test = load_records("conll04", "conll04_test.json", n)
    return [" ".join(r["tokens"]) for r in conll04_records + test]


def test_importing_the_package_or_the_cli_never_imports_the_web_stack():
    code = (
        "import sys, spacy_stsn, spacy_stsn.serve, spacy_stsn.cli.main; "
        "web = ('fastapi', 'uvicorn', 'starlette', 'prometheus_client', 'ray'); "
        "found = [m for m in sys.modules if m.split('.')[0] in web]; "
        "assert not found, found"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_documented_schema_is_the_records_extract_writes(trained):
    from spacy_stsn.serve.schema import Document, Entity, Relation

    nlp, _, _ = trained
    doc = nlp("John Smith lives in Boston and works for Acme Corp. .")
    record = doc_to_record(doc, tags=True)
    assert record["entities"] and record["relations"]
    assert set(record["entities"][0]) == set(Entity.model_fields)
    assert set(record["relations"][0]) == set(Relation.model_fields)
    assert set(record) | {"text", "html"} == set(Document.model_fields)


async def _client_load(
    url: str, texts: List[str], clients: int, per_client: int
) -> List[Tuple[Any, Dict[str, Any], int, Any]]:
    """``clients`` clients sending ``per_client`` requests each, one after the other:
    every fifth a ``texts`` list of three sentences, the others one ``text``. Returns
    (id, request, status, answer) per request."""
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def one_client(c: int) -> List[Tuple[Any, Dict[str, Any], int, Any]]:
            done = []
            for i in range(per_client):
                k = (c * per_client + i) * 7
                if i % 5 == 4:
                    body = {"texts": [texts[(k + j) % len(texts)] for j in range(3)]}
                else:
                    body = {"text": texts[k % len(texts)]}
                body["id"] = [c, i]
                response = await client.post("/extract", json=body)
                done.append((body["id"], body, response.status_code, response.json()))
            return done

        runs = await asyncio.gather(*(one_client(c) for c in range(clients)))
    return [answer for run in runs for answer in run]


def test_every_answer_under_load_is_its_own_texts(trained, conll04_records):
    """32 clients x 20 requests at once, micro-batching on, float32: every answer is
    ``nlp(text)``'s annotations of its own text, with its own id; requests did share
    batches."""
    nlp, model_dir, _ = trained
    texts = sentences(conll04_records)
    truth = {text: expected(nlp, text) for text in texts}
    assert sum(bool(t["relations"]) for t in truth.values()) >= 10
    options = ServeOptions(str(model_dir), precision="float32", max_wait_ms=20)
    with running(options) as url:
        answers = asyncio.run(_client_load(url, texts, clients=32, per_client=20))
        batches = metric(url, "stsn_serve_batch_documents_count")
        documents = metric(url, "stsn_serve_documents_total")
    assert len(answers) == 640
    sent = 0
    for request_id, body, status, answer in answers:
        assert status == 200, answer
        assert answer.pop("id") == request_id
        if "text" in body:
            assert same(answer, truth[body["text"]]), answer
            sent += 1
        else:
            truths = [truth[t] for t in body["texts"]]
            assert same(answer["documents"], truths), answer
            sent += len(body["texts"])
    assert documents == sent
    # micro-batching happened: fewer nlp.pipe calls than requests (the warm-up is one)
    assert batches - 1 < len(answers) / 2, batches


BAD = [
    # (request keyword arguments, status, words of the detail)
    ({"content": b'{"text": "Rome is in Italy .",'}, 400, "the body is not valid JSON"),
    ({"content": b""}, 400, "the body is empty: send a JSON object with 'text'"),
    ({"json": {"id": 7}}, 422, "give either 'text' (one document) or 'texts'"),
    ({"json": {"text": 5}}, 422, "text: Input should be a valid string"),
    ({"json": {"texts": ["Rome .", None]}}, 422, "texts.1: Input should be a valid"),
    ({"json": {"text": "a", "texts": ["b"]}}, 422, "give either 'text'"),
    ({"json": {"txt": "Rome ."}}, 422, "txt: Extra inputs are not permitted"),
    ({"json": ["Rome ."]}, 422, "Input should be a valid dictionary"),
    ({"json": {"text": "Rome is in Italy . " * 30}}, 413, "text has 570 characters"),
    ({"json": {"texts": ["a", "Rome . " * 90]}}, 413, "texts[1] has 630 characters"),
    ({"json": {"texts": ["Rome ."] * 9}}, 413, "9 texts in one request, the most"),
    ({"content": b" " * 5000}, 413, "the body has 5000 bytes, the most"),
    # sent in chunks, without a Content-Length
    ({"chunks": [b" " * 3000] * 2}, 413, "the body has more than 4096"),
    ({"json": {"text": f"John {FAIL} Smith ."}}, 500, "failed on this request: Runt"),
]


def test_bad_input_fails_alone_while_good_requests_are_answered(
    trained, conll04_records
):
    """Each bad request gets its status and a detail that says what is wrong, while 8
    clients keep sending good requests, all answered; a request that fails inside the
    model fails alone, also when it shares a batch with good ones."""
    nlp, model_dir, _ = trained
    texts = sentences(conll04_records, 20)
    truth = {text: expected(nlp, text) for text in texts}
    options = ServeOptions(
        Troubled(str(model_dir)),
        max_length=500,
        max_texts=8,
        max_body_bytes=4096,
        max_queue=64,
        max_wait_ms=30,
    )

    async def scenario(url: str) -> Tuple[List[Tuple[str, int, Any]], List[Any]]:
        stop = asyncio.Event()
        good: List[Tuple[str, int, Any]] = []
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:

            async def good_client(c: int) -> None:
                i = c
                while not stop.is_set() or i < c + 3 * 8:
                    text = texts[i % len(texts)]
                    response = await client.post("/extract", json={"text": text})
                    good.append((text, response.status_code, response.json()))
                    i += 8

            async def bad_requests() -> List[Any]:
                seen = []
                for kwargs, _, _ in BAD:
                    if "chunks" in kwargs:
                        kwargs = {"content": _stream(kwargs["chunks"])}
                    response = await client.post("/extract", **kwargs)
                    seen.append((response.status_code, response.json()))
                # the failing request among good ones sent at the same moment: one
                # batch, which fails, then each request on its own
                together = [{"text": t} for t in texts[:5]]
                together.insert(2, {"text": f"{FAIL} in Rome ."})
                together.insert(4, {"text": f"{BREAK} in Paris ."})
                responses = await asyncio.gather(
                    *(client.post("/extract", json=body) for body in together)
                )
                seen.append([(r.status_code, r.json()) for r in responses])
                stop.set()
                return seen

            results = await asyncio.gather(
                bad_requests(), *(good_client(c) for c in range(8))
            )
        return good, results[0]

    with running(options) as url:
        good, seen = asyncio.run(scenario(url))
        errors = metric(url, "stsn_serve_errors_total", '"/extract"')
    for (kwargs, status, words), (got, answer) in zip(BAD, seen):
        assert (got, words) == (status, words) and words in answer["detail"], (
            kwargs,
            answer,
        )
    together = seen[-1]
    assert [status for status, _ in together] == [200, 200, 500, 200, 500, 200, 200]
    assert "this document fails on purpose" in together[2][1]["detail"]
    assert "relation 0 has no 'head'" in together[4][1]["detail"]
    good_ones = together[:2] + together[3:4] + together[5:]
    for (_status, answer), text in zip(good_ones, texts[:5]):
        assert same(answer, truth[text])
    assert len(good) >= 24
    for text, status, answer in good:
        assert status == 200 and same(answer, truth[text]), answer
    assert errors == len(BAD) + 2


async def _stream(chunks: List[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
