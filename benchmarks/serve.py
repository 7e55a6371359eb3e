"""Serving throughput and latency: micro-batching against one ``nlp(text)`` per request,
at 1, 8 and 32 concurrent clients, in one run on one machine.

Two servers of the command line run side by side, ``python -m spacy_stsn serve MODEL``
with ``--max-batch 32`` (micro-batching) and with ``--max-batch 1`` (one document per
``nlp.pipe`` call, one request after the other: what a hand-written FastAPI wrapper
calling ``nlp(text)`` does, without its thread-safety problem), each in its own process
with the same precision. For each number of clients, both are measured back to back (in
alternating order), so that the load of the machine weighs on both alike. A client
sends one CoNLL04 test sentence per request and the next as soon as the answer is in
(closed loop); every client sends ``--requests`` / clients requests.

Per run: sentences/s over the run, p50 and p99 latency of a request, the mean documents
per ``nlp.pipe`` call (the servers' ``/metrics``), and the machine's load: the cores
that processes other than the servers and this client used meanwhile.

    python benchmarks/serve.py training/conll04/model-best --requests 384 --threads 1
"""

import asyncio
import os
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional

from harness import Benchmark, data_dir, fmt, markdown_table
from measure import cpu_seconds
from ray_extract import processes

MODES = {"micro-batching": 32, "one nlp(text) per request": 1}


def test_sentences() -> List[str]:
    import json

    path = data_dir() / "conll04" / "conll04_test.json"
    return [" ".join(r["tokens"]) for r in json.loads(path.read_text("utf8"))]


class Server:
    """``python -m spacy_stsn serve MODEL --port 0 ARGS`` in a process of its own
    (``threads``: its torch threads, 0 for torch's default)."""

    def __init__(self, model: str, *args: str, threads: int = 0) -> None:
        import httpx

        command = [sys.executable, "-m", "spacy_stsn", "serve", model, "--port", "0"]
        env = dict(os.environ)
        if threads:
            env["OMP_NUM_THREADS"] = str(threads)
        self.process = subprocess.Popen(
            [*command, *args], stderr=subprocess.PIPE, text=True, env=env
        )
        self.lines: List[str] = []
        self._found = threading.Event()
        threading.Thread(target=self._read_log, daemon=True).start()
        if not self._found.wait(600):
            raise RuntimeError("the server did not start:\n" + "".join(self.lines))
        self.url = next(
            line.split()[2] for line in self.lines if line.startswith("serving on ")
        )
        deadline = time.monotonic() + 600
        while httpx.get(f"{self.url}/ready").status_code != 200:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server is not ready:\n" + "".join(self.lines))
            time.sleep(0.2)

    def _read_log(self) -> None:
        for line in self.process.stderr:  # drained, so that the server never blocks
            self.lines.append(line)
            if line.startswith("serving on "):
                self._found.set()
        self._found.set()

    def batches(self) -> Dict[str, float]:
        """The sums of the batch size histogram: documents and ``nlp.pipe`` calls."""
        import httpx

        found = {}
        for line in httpx.get(f"{self.url}/metrics").text.splitlines():
            for key in ("sum", "count"):
                if line.startswith(f"stsn_serve_batch_documents_{key} "):
                    found[key] = float(line.split()[1])
        return found

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(120)


async def _load(url: str, texts: List[str], clients: int, requests: int) -> List[float]:
    """``clients`` closed-loop clients, ``requests`` in all; each request's latency."""
    import httpx

    latencies: List[float] = []
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:

        async def one_client(first: int) -> None:
            for i in range(first, requests, clients):
                start = time.perf_counter()
                response = await client.post(
                    "/extract", json={"text": texts[i % len(texts)]}
                )
                response.raise_for_status()
                latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(one_client(c) for c in range(clients)))
    return latencies


def measure(server: Server, texts: List[str], clients: int, requests: int) -> Dict:
    """One run against ``server``: throughput, latency, batch size and load."""
    own = [os.getpid(), server.process.pid]
    before, cpu_before = server.batches(), _cpu(own)
    busy_before, start = cpu_seconds()[0], time.perf_counter()
    latencies = asyncio.run(_load(server.url, texts, clients, requests))
    wall = time.perf_counter() - start
    busy = cpu_seconds()[0] - busy_before
    after, used = server.batches(), _cpu(own) - cpu_before
    latencies.sort()
    calls = after["count"] - before["count"]
    return {
        "clients": clients,
        "requests": requests,
        "wall_s": wall,
        "sentences_per_s": requests / wall,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "docs_per_call": (after["sum"] - before["sum"]) / max(calls, 1),
        "server_and_client_cores": used / wall,
        "other_busy_cores": max(0.0, busy - used) / wall,
        "loadavg_1min": os.getloadavg()[0],
    }


def _cpu(pids: List[int]) -> float:
    table = processes()
    return sum(table[pid][1] for pid in pids if pid in table)


def markdown(args: Any, runs: List[Dict[str, Any]]) -> str:
    header = ["clients", "server", "requests", "sentences/s", "p50 ms", "p99 ms"]
    header += ["docs/call"]
    header += ["others' cores", "load 1 min"]
    rows, ratios = [], []
    for run in runs:
        rows.append(
            [
                run["clients"],
                run["mode"],
                run["requests"],
                fmt(run["sentences_per_s"]),
                fmt(run["p50_ms"], 0),
                fmt(run["p99_ms"], 0),
                fmt(run["docs_per_call"]),
                fmt(run["other_busy_cores"], 2),
                fmt(run["loadavg_1min"]),
            ]
        )
    for clients in args.clients:
        pair = {r["mode"]: r for r in runs if r["clients"] == clients}
        batched, single = (pair[mode]["sentences_per_s"] for mode in MODES)
        ratios.append(f"{clients}: {batched / single:.2f}x")
    return "\n".join(
        [
            f"{args.model}, precision {args.precision or 'as the pipeline says'}, "
            f"--max-wait-ms {args.max_wait_ms}, torch threads {args.threads or 'default'}, "
            f"requests of one CoNLL04 test sentence, {args.requests} per run (at least 4 "
            "per client):",
            "",
            markdown_table(header, rows),
            "",
            "micro-batching against one nlp(text) per request, sentences/s by clients: "
            + "; ".join(ratios),
        ]
    )


def smoke(args: Any, kit: Any) -> None:
    args.model, args.requests, args.clients = str(kit.model), 8, [4]


def main(argv: Optional[List[str]] = None) -> None:
    bench = Benchmark(__doc__, __file__)
    add = bench.parser.add_argument
    add("model", nargs="?", default="training/conll04/model-best")
    add(
        "--requests",
        type=int,
        default=384,
        help="requests per run (at least 4 per client)",
    )
    add(
        "--threads",
        type=int,
        default=0,
        help="the servers' torch threads (0: torch's default, a thread per core); 1 is "
        "steadier when other processes share the cores",
    )
    add("--clients", type=int, nargs="+", default=[1, 8, 32])
    add("--max-wait-ms", type=float, default=5.0)
    add("--precision", default=None, help="the servers' --precision")
    args = bench.parse(argv, smoke)
    texts = test_sentences()
    extra = ["--max-wait-ms", str(args.max_wait_ms)]
    extra += ["--precision", args.precision] if args.precision else []
    servers = {
        mode: Server(
            str(args.model), "--max-batch", str(size), *extra, threads=args.threads
        )
        for mode, size in MODES.items()
    }
    runs = []
    try:
        for i, clients in enumerate(args.clients):
            order = list(MODES) if i % 2 == 0 else list(reversed(MODES))
            for mode in order:
                requests = max(args.requests, 4 * clients)
                run = measure(servers[mode], texts, clients, requests)
                runs.append({"mode": mode, **run})
                print(f"  {mode}, {clients} clients: {run}", file=sys.stderr)
    finally:
        for server in servers.values():
            server.stop()
    runs.sort(key=lambda r: (r["clients"], list(MODES).index(r["mode"])))
    bench.finish({"runs": runs}, markdown(args, runs))


if __name__ == "__main__":
    main()
