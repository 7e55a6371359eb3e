"""Throughput and peak memory of ``extract`` on one machine against ``extract --ray``
with 1 and 2 workers.

Every run is its own Python process (a harness worker), one after the other on the same
input, so the figures are measured back to back under the same conditions. The input is
the CoNLL04 test sentences repeated to ``--docs`` documents, one a line. Memory: the
peak RSS (VmHWM) of the process that runs the model: the local command's process, or
each Ray actor (sampled from /proc while the run lasts, taking the largest peak any
actor reached), and the Ray driver's own peak alongside.

    python benchmarks/ray_extract.py --model training/conll04_cpu/model-last --docs 2880
"""

import hashlib
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from harness import Benchmark, data_dir, fmt, markdown_table
from measure import busy_cores, lifetime_peak_rss_mib


def test_sentences() -> Path:
    return data_dir() / "conll04" / "conll04_test.json"


def actor_peaks(
    stop: threading.Event, peaks: Dict[int, float], interval: float = 0.2
) -> None:
    """Record the peak RSS (VmHWM, MiB) of every Ray map actor process until ``stop`` is
    set."""
    while not stop.is_set():
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                if not (proc / "cmdline").read_bytes().startswith(b"ray::MapWorker"):
                    continue
                for line in (proc / "status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        pid, mib = int(proc.name), int(line.split()[1]) / 1024
                        peaks[pid] = max(peaks.get(pid, 0.0), mib)
            except OSError:
                continue
        stop.wait(interval)


def worker(job: Dict[str, Any]) -> Dict[str, Any]:
    """One run: the local command, or the Ray command with ``job['workers']`` actors."""
    source, output = Path(job["input"]), Path(job["output"])
    start = time.perf_counter()
    result: Dict[str, Any] = {}
    if job["mode"] == "local":
        import torch

        from spacy_stsn.extract import extract

        if job["threads"]:
            torch.set_num_threads(job["threads"])

        n = extract(
            job["model"],
            source,
            output,
            batch_size=job["batch_size"],
            resume=False,
            progress=None,
        )
        result.update(
            torch_threads=torch.get_num_threads(),
            model_process_peak_rss_mib=lifetime_peak_rss_mib(),
        )
    else:
        import ray

        from spacy_stsn.ray_extract import extract_on_ray

        ray.init(num_cpus=job["ray_cpus"], include_dashboard=False, log_to_driver=False)
        result["ray_init_s"] = time.perf_counter() - start
        peaks: Dict[int, float] = {}
        stop = threading.Event()
        sampler = threading.Thread(target=actor_peaks, args=(stop, peaks), daemon=True)
        sampler.start()
        n = extract_on_ray(
            job["model"],
            source,
            output,
            workers=job["workers"],
            cpus_per_worker=job["cpus_per_worker"],
            batch_size=job["batch_size"],
            progress=None,
        )
        stop.set()
        sampler.join()
        ray.shutdown()
        result.update(
            actors_seen=len(peaks),
            model_process_peak_rss_mib=max(peaks.values(), default=None),
            # Ray sets OMP_NUM_THREADS = the actor's num_cpus, which torch follows
            torch_threads=job["cpus_per_worker"],
            driver_peak_rss_mib=lifetime_peak_rss_mib(),
        )
    wall = time.perf_counter() - start
    digest = hashlib.sha256(output.read_bytes()).hexdigest()[:16]
    return {
        **job,
        **result,
        "documents": n,
        "wall_s": wall,
        "docs_per_s": n / wall,
        "output_sha256": digest,
    }


# (label, mode, workers, CPUs per worker or the local command's torch threads: 0 =
# torch's default)
RUNS = [
    ("local `extract`", "local", 0, 0),
    ("local `extract`, 1 torch thread", "local", 0, 1),
    ("`--ray --workers 1`", "ray", 1, 1),
    ("`--ray --workers 1 --cpus-per-worker 2`", "ray", 1, 2),
    ("`--ray --workers 2`", "ray", 2, 1),
    ("local `extract` (again, for drift)", "local", 0, 0),
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
                r.get("torch_threads"),
                fmt(r["wall_s"]),
                fmt(r["docs_per_s"]),
                fmt(r.get("ray_init_s")),
                fmt(r["model_process_peak_rss_mib"], 0),
                fmt(r.get("driver_peak_rss_mib"), 0),
                fmt(r["busy_cores_before"], 2),
                r["output_sha256"],
            ]
        )
    header = [
        "run",
        "torch threads per model process",
        "wall s",
        "documents/s",
        "ray.init s",
        "peak RSS per model process MiB",
        "driver peak RSS MiB",
        "machine busy cores before",
        "output sha256",
    ]
    digests = {r.get("output_sha256") for r in results}
    return "\n".join(
        [
            f"{args.docs} documents (CoNLL04 test, {n_sentences} sentences repeated), "
            f"batch size {args.batch_size}, model {args.model}:",
            "",
            markdown_table(header, rows),
            "",
            f"outputs identical to the local command's: {len(digests) == 1}",
        ]
    )


def smoke(args: Any, kit: Any) -> None:
    args.model, args.docs, args.runs = str(kit.model), 16, [1, 2]


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
        help="which of the runs, by position (0: the local command ... 5: local again)",
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
        for label, mode, workers, cpus in (RUNS[i] for i in args.runs):
            job = bench.job(
                "extract",
                mode=mode,
                model=str(args.model),
                input=str(source),
                output=str(Path(tmp) / f"{mode}{workers}x{cpus}.jsonl"),
                batch_size=args.batch_size,
                workers=workers,
                cpus_per_worker=cpus,
                threads=cpus,
                ray_cpus=args.ray_cpus,
            )
            busy_before = busy_cores(1.0)
            result = bench.run(job, label)
            results.append({**result, "label": label, "busy_cores_before": busy_before})
    digests = {r.get("output_sha256") for r in results}
    result = {"documents": args.docs, "outputs_identical": len(digests) == 1}
    bench.finish({**result, "runs": results}, markdown(args, results, n_sentences))


if __name__ == "__main__":
    main()
