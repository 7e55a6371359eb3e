"""``serve``, continued: readiness while the pipeline loads, a full queue, SIGTERM, the
command line, and the page in a real browser (headless Chromium)."""

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest
from test_serve import (
    HERE,
    Troubled,
    expected,
    httpx,
    metric,
    running,
    same,
    wait_ready,
)

from spacy_stsn.cli.main import main
from spacy_stsn.serve import ServeOptions  # noqa: E402  (after test_serve's skips)

SCRIPTS = HERE.parent / "scripts"


def test_health_ready_and_a_model_that_is_still_loading(trained):
    """``/health`` answers at once; ``/ready`` and ``/extract`` say 503 while the
    pipeline loads, then 200."""
    nlp, model_dir, _ = trained
    with running(ServeOptions(Troubled(str(model_dir), load_pause=3)), False) as url:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{url}/health")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert health.status_code == 200 and health.json() == {"status": "alive"}
        ready = httpx.get(f"{url}/ready")
        assert ready.status_code == 503 and "loading" in ready.json()["detail"]
        early = httpx.post(f"{url}/extract", json={"text": "Rome ."})
        assert early.status_code == 503 and early.headers["retry-after"] == "1"
        wait_ready(url)
        text = "John Smith lives in Boston ."
        answer = httpx.post(f"{url}/extract", json={"text": text, "id": None})
        assert answer.status_code == 200
        assert same(answer.json(), {"id": None, **expected(nlp, text)})
        page = httpx.get(url)
        assert page.status_code == 200 and 'id="text"' in page.text
        api = httpx.get(f"{url}/openapi.json").json()["paths"]["/extract"]["post"]
        body = api["requestBody"]["content"]["application/json"]["schema"]
        assert {"text", "texts", "id", "html"} == set(body["properties"])
        # the displaCy markup of the page escapes the text
        hostile = "<img src=x onerror=alert(1)> John Smith lives in Boston ."
        answer = httpx.post(f"{url}/extract", json={"text": hostile, "html": True})
        markup = answer.json()["html"]
        assert "&lt;" in markup and "<img" not in markup


def test_a_full_queue_answers_503_and_the_queued_requests_are_answered(trained):
    nlp, model_dir, _ = trained
    options = ServeOptions(
        Troubled(str(model_dir), pause=0.5), max_batch=1, max_texts=4, max_queue=4
    )
    four = ["Rome is in Italy .", "John Smith lives in Boston .", "Acme .", "Paris ."]

    async def scenario(url: str) -> List[Any]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            first = asyncio.ensure_future(client.post("/extract", json={"texts": four}))
            await asyncio.sleep(0.5)  # taken by the model: 2 s of work
            queued = asyncio.ensure_future(
                client.post("/extract", json={"texts": four})
            )
            await asyncio.sleep(0.3)
            refused = await client.post("/extract", json={"text": "Rome ."})
            return [await first, await queued, refused]

    with running(options) as url:
        first, queued, refused = asyncio.run(scenario(url))
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert "4 documents are waiting for the model" in refused.json()["detail"]
    for response in (first, queued):
        assert response.status_code == 200
        truths = [expected(nlp, t) for t in four]
        assert same(response.json()["documents"], truths)


def test_sigterm_finishes_the_requests_in_flight_then_exits(trained, tmp_path):
    """The server in its own process: SIGTERM while 6 slow requests are in flight;
    new connections are refused at once, each request in flight is answered, then the
    process ends."""
    nlp, model_dir, _ = trained
    code = (
        f"import sys; sys.path.insert(0, {str(HERE)!r}); "
        "from test_serve import Troubled; "
        "from spacy_stsn.serve import ServeOptions, serve; "
        f"serve(ServeOptions(Troubled({str(model_dir)!r}, pause=0.4), port=0, "
        "max_batch=2))"
    )
    log = tmp_path / "server.log"
    with log.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-c", code], stderr=stderr)
    try:
        url = _address(process, log)
        wait_ready(url)
        texts = [f"John Smith lives in Boston number {i} ." for i in range(6)]
        answers: Dict[str, Any] = {}

        def ask(text: str) -> None:
            try:
                response = httpx.post(f"{url}/extract", json={"text": text}, timeout=60)
                answers[text] = (response.status_code, response.json())
            except httpx.HTTPError as err:
                answers[text] = (None, repr(err))

        threads = [threading.Thread(target=ask, args=(t,)) for t in texts]
        for thread in threads:
            thread.start()
        while metric(url, "stsn_serve_requests_in_progress") < 1 + len(texts):
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        # 6 documents, 2 at a time, 0.4 s each: about 1.2 s of work left
        time.sleep(0.3)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/health")
        for thread in threads:
            thread.join(60)
        # uvicorn raises the signal again once it has drained: the process ends by
        # SIGTERM, as a shell or a supervisor expects
        assert process.wait(60) == -signal.SIGTERM, log.read_text()[-3000:]
        assert "Waiting for connections to close" in log.read_text()
    finally:
        process.kill()
    for text in texts:
        status, answer = answers[text]
        assert status == 200 and same(answer, expected(nlp, text)), answer


def _address(process: subprocess.Popen, log: Path) -> str:
    """The URL the server printed, once it listens."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if line.startswith("serving on "):
                return line.split()[2]
        assert process.poll() is None, log.read_text()[-3000:]
        time.sleep(0.05)
    raise AssertionError("the server never said where it listens")


def test_command_line_refuses_bad_options_and_a_model_that_does_not_load(
    tmp_path, capsys
):
    assert main(["serve", str(tmp_path / "nope"), "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert f"error: {tmp_path / 'nope'}: could not load the pipeline" in err
    assert main(["serve", str(tmp_path), "--max-batch", "0"]) == 1
    assert "error: --max-batch must be at least 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--max-queue .* --max-texts"):
        ServeOptions("x", max_texts=10, max_queue=5)


def test_the_page_in_a_real_browser_shows_entities_relations_and_the_json(
    trained, conll04_records, ade_overlap_records, tmp_path
):
    """Headless Chromium opens ``/``, types a sentence and presses Extract: the page
    shows each entity (nested ones too) in displaCy's span view, each relation as an
    arc with its label, and the JSON answer."""
    sys.path.insert(0, str(SCRIPTS))
    from screenshot import find_chromium
    from serve_screenshot import Chromium, submit

    from spacy_stsn.extraction.visualize import relation_graph

    try:
        find_chromium()
    except FileNotFoundError as err:
        pytest.skip(f"{err}: the page is not tried in a browser")
    nlp, model_dir, _ = trained
    with_relations = " ".join(
        next(r for r in conll04_records if r["relations"])["tokens"]
    )
    nested = next(
        text
        for text in (" ".join(r["tokens"]) for r in ade_overlap_records)
        if len(nlp(text).spans["stsn"]) > len(nlp(text).ents)
    )
    with running(ServeOptions(str(model_dir))) as url, Chromium() as browser:
        for text in (with_relations, nested):
            state = submit(browser, f"{url}/", text)
            browser.screenshot(tmp_path / "page.png")
            truth = expected(nlp, text)
            assert (state["done"], state["failed"]) == (1, 0), state["error"]
            assert same(json.loads(state["json"]), truth)
            assert state["span_views"] == 1
            labels = sorted(e["label"] for e in truth["entities"])
            assert sorted(state["entity_labels"]) == labels
            arcs = relation_graph(nlp(text))["arcs"]
            assert state["arcs"] == len(arcs)
            assert state["arc_labels"] == [arc["label"] for arc in arcs]
            assert f"{len(truth['entities'])} entities" in state["status"]
    assert truth["entities"] and (tmp_path / "page.png").stat().st_size > 5000
    assert relation_graph(nlp(with_relations))["arcs"], "no arc was drawn"
