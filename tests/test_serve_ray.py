"""``serve --ray``: the command line's Ray Serve application, joined to a local Ray
instance (2 CPUs) with ``--address``, 2 model replicas of the small pipeline trained in
conftest: every answer correct, and the service keeps answering while a replica's
process is killed under load."""

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Set

import pytest
from test_serve import (
    _client_load,
    expected,
    metric,
    same,
    sentences,
    wait_ready,
)
from test_serve_operations import _address

from spacy_stsn.serve.server import listen

ray = pytest.importorskip("ray", reason="serve --ray needs spacy-stsn[serve-ray]")
serve = pytest.importorskip("ray.serve", reason="serve --ray needs ray[serve]")


@pytest.fixture(scope="module")
def served_on_ray(trained, tmp_path_factory):
    """``python -m spacy_stsn serve MODEL --ray --address ... --replicas 2``, as a
    driver joined to a Ray instance started here. Ray's workers at normal priority
    (tests/test_ray.py's ``local_ray`` says why)."""
    from spacy_stsn.serve.ray_serve import APP_NAME

    _, model_dir, _ = trained
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_worker_niceness", "0")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        with listen("127.0.0.1", 0) as sock:
            port = sock.getsockname()[1]
        command = [sys.executable, "-m", "spacy_stsn", "serve", str(model_dir)]
        command += ["--ray", "--address", ray.get_runtime_context().gcs_address]
        command += ["--port", str(port), "--replicas", "2", "--num-cpus", "1"]
        command += ["--precision", "float32", "--max-wait-ms", "20"]
        log = tmp_path_factory.mktemp("serve-ray") / "driver.log"
        with log.open("w") as stderr:
            driver = subprocess.Popen(command, stderr=stderr)
        try:
            url = _address(driver, log)
            wait_ready(url)
            yield url, APP_NAME
            driver.send_signal(signal.SIGTERM)
            assert driver.wait(120) == 0, log.read_text()[-3000:]
        finally:
            driver.kill()
            serve.shutdown()
            ray.shutdown()


def _replica_pids(app_name: str, want: int = 2, timeout: float = 120) -> Set[int]:
    """The processes of the running extractor replicas (asked until ``want`` answer)."""
    handle = serve.get_deployment_handle("STSNExtractor", app_name)
    pids: Set[int] = set()
    deadline = time.monotonic() + timeout
    while len(pids) < want:
        assert time.monotonic() < deadline, f"only replicas {pids} answered"
        pids.add(handle.pid.remote().result(timeout_s=60))
    return pids


def test_two_replicas_answer_correctly_and_survive_a_killed_replica(
    served_on_ray, trained, conll04_records, capsys
):
    url, app_name = served_on_ray
    nlp, _, _ = trained
    texts = sentences(conll04_records, 30)
    truth = {text: expected(nlp, text) for text in texts}
    pids = _replica_pids(app_name)
    assert len(pids) == 2

    # 16 clients x 12 requests; one replica is SIGKILLed once 60 are answered
    killed = {}

    def kill_one() -> None:
        while metric(url, "stsn_serve_requests_total", '"/extract"') < 60:
            time.sleep(0.02)
        killed["pid"] = pid = min(pids)
        os.kill(pid, signal.SIGKILL)
        killed["answered"] = metric(url, "stsn_serve_requests_total", '"/extract"')

    killer = threading.Thread(target=kill_one, daemon=True)
    killer.start()
    answers = asyncio.run(_client_load(url, texts, clients=16, per_client=12))
    killer.join(10)
    assert killed.get("answered", 192) < 150, f"killed too late: {killed}"
    statuses = Counter(status for _, _, status, _ in answers)
    retried = metric(url, "stsn_serve_retries_total")
    with capsys.disabled():
        print(
            f"\nreplica {killed['pid']} killed after {killed['answered']:.0f} answers: "
            f"{retried:.0f} documents asked again, statuses {dict(statuses)}"
        )
    assert len(answers) == 16 * 12
    for request_id, body, status, answer in answers:
        if status != 200:
            continue
        assert answer.pop("id") == request_id
        if "text" in body:
            assert same(answer, truth[body["text"]]), answer
        else:
            assert same(answer["documents"], [truth[t] for t in body["texts"]])
    # the ingress asks a live replica again: nothing failed
    assert statuses == {200: len(answers)}, statuses
    # Serve replaced the killed replica
    new = _replica_pids(app_name)
    assert killed["pid"] not in new and len(new) == 2
