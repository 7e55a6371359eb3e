"""Throughput and CPU of ``extract`` on one machine against ``extract --ray`` writing
one ordered file (the driver writes it) and a folder of shards (the workers write them),
each with 1 and 2 workers of 1 CPU (1 torch thread) each.

Every run is its own Python process (a harness worker), one after the other on the same
input, so the figures are measured back to back under the same conditions. The input is
the CoNLL04 test sentences repeated to ``--docs`` documents, one a line. Per run:
documents/s over the whole run (Python start, ``ray.init`` of a local instance, model
loads included), after ``ray.init`` (as on a cluster that is already up) and in steady
state (while the output grew from 10 % to 90 % of its size); the driver's CPU seconds
per 1,000 documents and its share of the job's CPU (the driver and every process Ray
started, after ``ray.init``); the peak RSS of the model process (the local process, or
the largest any Ray actor reached) and of the driver; and a digest of the records (the
shards' ``_origin`` dropped, in input order), the same for every run when the outputs
hold the same records. Sizes, CPU and memory are sampled every 0.25 s by a process of
their own, so that the measured ones pay nothing for it.

    python benchmarks/ray_extract.py --model training/conll04_cpu/model-last --docs 2880
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from harness import Benchmark, data_dir, fmt, markdown_table
from measure import busy_cores, lifetime_peak_rss_mib


def test_sentences() -> Path:
    return data_dir() / "conll04" / "conll04_test.json"


def processes() -> Dict[int, Tuple[int, float, int, str]]:
    """pid: (parent pid, CPU seconds, resident MiB peak (VmHWM), command) of every
    process, from /proc."""
    found, hz = {}, os.sysconf("SC_CLK_TCK")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            status = (proc / "status").read_text()
            peak = next(
                int(line.split()[1]) / 1024
                for line in status.splitlines()
                if line.startswith("VmHWM:")
            )
            command = (proc / "cmdline").read_bytes()[:40].decode("utf8", "replace")
        except (OSError, IndexError, ValueError, StopIteration):
            continue  # gone, or a kernel thread
        cpu = (int(fields[11]) + int(fields[12])) / hz
        found[int(proc.name)] = (int(fields[1]), cpu, peak, command)
    return found


def sample(root: int, output: str, interval: float = 0.25) -> None:
    """Run as its own process (so that the measured ones pay nothing) until its stdin
    closes: every ``interval`` s, the CPU and peak memory of the processes below
    ``root`` (Ray's, when ``root`` started Ray) and the size of ``output``; then print
    as JSON the CPU they used since the first sample, the largest peak of a Ray actor,
    and the (time, size) samples."""
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    start: Dict[int, float] = {}
    last: Dict[int, float] = {}
    actor_peak, growth, first = 0.0, [], True
    while True:
        table = processes()
        below, todo = set(), [root]
        while todo:
            parent = todo.pop()
            children = [p for p, row in table.items() if row[0] == parent]
            below.update(children)
            todo += children
        below.discard(os.getpid())
        for pid in below:
            _, cpu, peak, command = table[pid]
            if first:
                start[pid] = cpu
            last[pid] = cpu
            if command.startswith("ray::MapWorker"):
                actor_peak = max(actor_peak, peak)
        path = Path(output)
        if path.is_dir():
            size = sum(p.stat().st_size for p in path.glob("*.jsonl"))
        else:
            size = path.stat().st_size if path.exists() else 0
        growth.append((time.perf_counter(), size))
        if first:
            print("ready", flush=True)
            first = False
        if stop.wait(interval):
            break
    cpu = sum(last[pid] - start.get(pid, 0.0) for pid in last)
    print(json.dumps({"cpu_s": cpu, "actor_peak_mib": actor_peak, "growth": growth}))


class Sampler:
    """:func:`sample` in a subprocess, from now until :meth:`result`."""

    def __init__(self, output: Path) -> None:
        here = str(Path(__file__).resolve().parent)
        code = (
            f"import sys; sys.path.insert(0, {here!r}); from ray_extract import sample; "
            f"sample({os.getpid()}, {str(output)!r})"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout.readline().strip() == "ready"

    def result(self, documents: int) -> Dict[str, Any]:
        """The processes' CPU, the actors' peak memory and the steady documents/s: while
        the output grew from 10 % to 90 % of its final size."""
        out, _ = self.process.communicate("")
        found = json.loads(out.strip().splitlines()[-1])
        growth, steady = found.pop("growth"), None
        final = growth[-1][1] if growth else 0
        inside = [(t, n) for t, n in growth if 0.1 * final <= n <= 0.9 * final]
        # a small output may be sampled empty, then whole, and a folder of shards grows
        # by whole shards (each written, then renamed): no steady state to measure
        if final > 0 and len(inside) >= 2 and inside[-1][1] > inside[0][1]:
            (t0, n0), (t1, n1) = inside[0], inside[-1]
            steady = (n1 - n0) / final * documents / (t1 - t0)
        return {**found, "steady_docs_per_s": steady}


def records_digest(output: Path) -> str:
    """SHA-256 of the records in input order (sharded: sorted by ``_origin``, which is
    then dropped), re-serialised as the local command writes them."""
    if output.is_dir():
        records = [
            json.loads(line)
            for shard in output.glob("*.jsonl")
            for line in shard.read_text(encoding="utf8").splitlines()
        ]
        records.sort(key=lambda r: (r["_origin"]["file"], r["_origin"]["line"]))
        for record in records:
            del record["_origin"]
    else:
        text = output.read_text(encoding="utf8")
        records = [json.loads(line) for line in text.splitlines()]
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    return hashlib.sha256(lines.encode("utf8")).hexdigest()[:16]


def worker(job: Dict[str, Any]) -> Dict[str, Any]:
    """One run: the local command, or the Ray command with ``job['workers']`` actors
    into a file (``ordered``) or a folder (``sharded``)."""
    source, output = Path(job["input"]), Path(job["output"])
    start, cpu_start = time.perf_counter(), time.process_time()
    result: Dict[str, Any] = {}
    if job["mode"] == "local":
        import torch

        from spacy_stsn.extraction.extract import extract

        torch.set_num_threads(1)
        sampler = Sampler(output)
        n = extract(
            job["model"],
            source,
            output,
            batch_size=job["batch_size"],
            restart=True,
            progress=None,
        )
        cpu = time.process_time() - cpu_start
        sampled = sampler.result(n)
        result.update(
            torch_threads=torch.get_num_threads(),
            model_process_peak_rss_mib=lifetime_peak_rss_mib(),
            job_cpu_s_per_1000_docs=1000 * cpu / n,
            steady_docs_per_s=sampled["steady_docs_per_s"],
        )
    else:
        import ray

        from spacy_stsn.extraction.ray.driver import extract_on_ray

        ray.init(num_cpus=job["ray_cpus"], include_dashboard=False, log_to_driver=False)
        result["ray_init_s"] = time.perf_counter() - start
        sampler = Sampler(output)
        driver0 = time.process_time()
        n = extract_on_ray(
            job["model"],
            source,
            f"{output}/" if job["mode"] == "sharded" else output,
            workers=job["workers"],
            cpus_per_worker=1,  # Ray sets OMP_NUM_THREADS=1: 1 torch thread per actor
            batch_size=job["batch_size"],
            progress=None,
        )
        driver = time.process_time() - driver0
        sampled = sampler.result(n)
        ray.shutdown()
        after_init = time.perf_counter() - start - result["ray_init_s"]
        result.update(
            model_process_peak_rss_mib=sampled["actor_peak_mib"],
            torch_threads=1,
            driver_peak_rss_mib=lifetime_peak_rss_mib(),
            driver_cpu_s_per_1000_docs=1000 * driver / n,
            job_cpu_s_per_1000_docs=1000 * (driver + sampled["cpu_s"]) / n,
            driver_cpu_share=driver / (driver + sampled["cpu_s"]),
            docs_per_s_after_ray_init=n / after_init,
            steady_docs_per_s=sampled["steady_docs_per_s"],
        )
    wall = time.perf_counter() - start
    return {
        **job,
        **result,
        "documents": n,
        "wall_s": wall,
        "docs_per_s": n / wall,
        "records_sha256": records_digest(output),
    }


# (label, mode, workers)
RUNS = [
    ("local `extract`, 1 torch thread", "local", 0),
    ("`--ray --workers 1`, a file", "ordered", 1),
    ("`--ray --workers 1`, a folder", "sharded", 1),
    ("`--ray --workers 2`, a file", "ordered", 2),
    ("`--ray --workers 2`, a folder", "sharded", 2),
    ("local `extract` (again, for drift)", "local", 0),
]


def write_input(path: Path, n_docs: int) -> int:
    """The CoNLL04 test sentences repeated to ``n_docs`` lines; returns how many there
    are."""
    records = json.loads(test_sentences().read_text(encoding="utf8"))
    sentences = [" ".join(record["tokens"]) for record in records]
    path.write_text(
        "".join(sentences[i % len(sentences)] + "\n" for i in range(n_docs)),
        encoding="utf8",
    )
    return len(sentences)


def markdown(args: Any, results: List[Dict[str, Any]], n_sentences: int) -> str:
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["label"], "failed: " + r["error"]])
            continue
        rows.append(
            [
                r["label"],
                fmt(r["wall_s"]),
                fmt(r["docs_per_s"]),
                fmt(r.get("docs_per_s_after_ray_init")),
                fmt(r.get("steady_docs_per_s")),
                fmt(r.get("ray_init_s")),
                fmt(r.get("driver_cpu_s_per_1000_docs"), 3),
                fmt(r.get("job_cpu_s_per_1000_docs", r.get("cpu_s_per_1000_docs"))),
                fmt(100 * r["driver_cpu_share"] if "driver_cpu_share" in r else None),
                fmt(r["model_process_peak_rss_mib"], 0),
                fmt(r.get("driver_peak_rss_mib"), 0),
                fmt(r["busy_cores_before"], 2),
                r["records_sha256"],
            ]
        )
    header = [
        "run",
        "wall s",
        "documents/s",
        "documents/s after ray.init",
        "documents/s steady",
        "ray.init s",
        "driver CPU s / 1,000 docs",
        "job CPU s / 1,000 docs",
        "driver % of job CPU",
        "peak RSS per model process MiB",
        "driver peak RSS MiB",
        "machine busy cores before",
        "records sha256",
    ]
    digests = {r.get("records_sha256") for r in results}
    local = [r for r in results if r.get("mode") == "local" and "error" not in r]
    ratios = []
    for r in results:
        if local and r.get("mode") != "local" and "error" not in r:
            ratio = [
                r[key] / local[0][key]
                for key in ("docs_per_s", "steady_docs_per_s")
                if r.get(key) and local[0].get(key)
            ]
            ratios.append(f"{r['label']}: " + " / ".join(f"{x:.2f}x" for x in ratio))
    return "\n".join(
        [
            f"{args.docs} documents (CoNLL04 test, {n_sentences} sentences repeated), "
            f"batch size {args.batch_size}, model {args.model}:",
            "",
            markdown_table(header, rows),
            "",
            "against the first local run (documents/s over the run / steady): "
            + "; ".join(ratios),
            f"the same records in every run: {len(digests) == 1}",
        ]
    )


def smoke(args: Any, kit: Any) -> None:
    args.model, args.docs, args.runs = str(kit.model), 16, [0, 2]


def main(argv: Optional[List[str]] = None) -> None:
    bench = Benchmark(__doc__, __file__, {"extract": worker})
    add = bench.parser.add_argument
    add("--model", default="training/conll04_cpu/model-last")
    add("--docs", type=int, default=2880)
    add("--batch-size", type=int, default=64)
    add("--ray-cpus", type=int, default=2, help="num_cpus of the local Ray instance")
    add(
        "--runs",
        type=int,
        nargs="+",
        default=list(range(len(RUNS))),
        help="which of the runs, by position (0: the local command, 1-4: --ray, a file "
        "and a folder with 1 and 2 workers, 5: local again)",
    )
    # every run reports its machine's load; Ray's actors are not this process's
    # children, so the harness would count them as other processes: no waiting, no
    # retries
    bench.parser.set_defaults(max_wait=0.0, retries=0, timeout=3600)
    args = bench.parse(argv, smoke)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "input.txt"
        n_sentences = write_input(source, args.docs)
        for label, mode, workers in (RUNS[i] for i in args.runs):
            name = f"{mode}{workers}-{len(results)}"
            job = bench.job(
                "extract",
                mode=mode,
                model=str(args.model),
                input=str(source),
                output=str(
                    Path(tmp) / (name if mode == "sharded" else name + ".jsonl")
                ),
                batch_size=args.batch_size,
                workers=workers,
                ray_cpus=args.ray_cpus,
            )
            busy_before = busy_cores(1.0)
            result = bench.run(job, label)
            results.append({**result, "label": label, "busy_cores_before": busy_before})
    digests = {r.get("records_sha256") for r in results}
    result = {"documents": args.docs, "records_identical": len(digests) == 1}
    bench.finish({**result, "runs": results}, markdown(args, results, n_sentences))


if __name__ == "__main__":
    main()
