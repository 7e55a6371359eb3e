"""Throughput and peak memory of ``extract`` on one machine against ``extract --ray`` with 1 and 2 workers.

Every run is its own Python process (bench_common.run_worker), one after the other on the same input, so the
figures are measured back to back under the same conditions. The input is the CoNLL04 test sentences
repeated to ``--docs`` documents, one a line. Memory: the peak RSS (VmHWM) of the process that runs the
model: the local command's process, or each Ray actor (sampled from /proc while the run lasts, taking the
largest peak any actor reached), and the Ray driver's own peak alongside.

    python benchmarks/ray_extract.py --model training/conll04_cpu/model-last --docs 2880
"""

import argparse
import hashlib
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import (  # noqa: E402
    RESULTS,
    busy_cores,
    fmt,
    lifetime_peak_rss_mib,
    machine_info,
    markdown_table,
    report_from_worker,
    run_worker,
    write_json,
)

DATA = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "conll04"
    / "conll04_test.json"
)


def actor_peaks(
    stop: threading.Event, peaks: Dict[int, float], interval: float = 0.2
) -> None:
    """Record the peak RSS (VmHWM, MiB) of every Ray map actor process until ``stop`` is set."""
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


def worker(job: Dict[str, Any]) -> None:
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
    report_from_worker(
        {
            **job,
            **result,
            "documents": n,
            "wall_s": wall,
            "docs_per_s": n / wall,
            "output_sha256": digest,
        }
    )


RUNS = [  # (label, mode, workers, CPUs per worker or the local command's torch threads: 0 = torch's default)
    ("local `extract`", "local", 0, 0),
    ("local `extract`, 1 torch thread", "local", 0, 1),
    ("`--ray --workers 1`", "ray", 1, 1),
    ("`--ray --workers 1 --cpus-per-worker 2`", "ray", 1, 2),
    ("`--ray --workers 2`", "ray", 2, 1),
    ("local `extract` (again, for drift)", "local", 0, 0),
]


def write_input(path: Path, n_docs: int) -> int:
    sentences = [
        " ".join(record["tokens"])
        for record in json.loads(DATA.read_text(encoding="utf8"))
    ]
    path.write_text(
        "".join(sentences[i % len(sentences)] + "\n" for i in range(n_docs)),
        encoding="utf8",
    )
    return len(sentences)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="training/conll04_cpu/model-last")
    parser.add_argument("--docs", type=int, default=2880)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--ray-cpus", type=int, default=2, help="num_cpus of the local Ray instance"
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "ray_extract.json")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        worker(json.loads(args.worker))
        return
    info = machine_info()
    rows, results = [], []
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "input.txt"
        n_sentences = write_input(source, args.docs)
        for label, mode, workers, cpus in RUNS:
            print(f"running {label} ...", file=sys.stderr, flush=True)
            job = {
                "mode": mode,
                "model": str(args.model),
                "input": str(source),
                "output": str(Path(tmp) / f"{mode}{workers}x{cpus}.jsonl"),
                "batch_size": args.batch_size,
                "workers": workers,
                "cpus_per_worker": cpus,
                "threads": cpus,
                "ray_cpus": args.ray_cpus,
            }
            busy_before = busy_cores(1.0)
            result = run_worker(Path(__file__), job, timeout=3600)
            result.update(label=label, busy_cores_before=busy_before)
            results.append(result)
            if "error" in result:
                print(json.dumps(result, indent=2), file=sys.stderr)
                continue
            rows.append(
                [
                    label,
                    result.get("torch_threads"),
                    fmt(result["wall_s"]),
                    fmt(result["docs_per_s"]),
                    fmt(result.get("ray_init_s")),
                    fmt(result["model_process_peak_rss_mib"], 0),
                    fmt(result.get("driver_peak_rss_mib"), 0),
                    fmt(busy_before, 2),
                    result["output_sha256"],
                ]
            )
    local = results[0].get("output_sha256")
    identical = all(r.get("output_sha256") == local for r in results)
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
    table = markdown_table(header, rows)
    print(
        f"{args.docs} documents (CoNLL04 test, {n_sentences} sentences repeated), batch size "
        f"{args.batch_size}, model {args.model}, commit {info['git_commit']}"
    )
    print(table)
    print(f"outputs identical to the local command's: {identical}")
    write_json(
        args.output,
        {
            "machine": info,
            "documents": args.docs,
            "batch_size": args.batch_size,
            "model": str(args.model),
            "outputs_identical": identical,
            "runs": results,
            "table": table,
        },
    )


if __name__ == "__main__":
    main()
