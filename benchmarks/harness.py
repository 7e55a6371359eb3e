"""Running a benchmark script: its common flags, worker subprocesses with timeouts, the
machine's description, and the printed table written as JSON and Markdown.

A script builds one :class:`Benchmark` from its docstring, its file and its worker
functions, adds its own arguments to ``bench.parser``, and then::

    args = bench.parse(argv, smoke)  # in a worker process: run the job, exit
    result = bench.run(bench.job("inference", model=args.model))  # a measurement
    bench.finish({"runs": [...]}, markdown_text)  # print, write, exit status

Every measurement runs in its own Python process (``SCRIPT --worker JOB_JSON``), so the
peak memory it reports is its own, after waiting for the other processes on the machine
to leave the CPU. A measurement that fails (a crash, a timeout, an out-of-memory kill)
does not stop the others, but the script then exits 1 and leaves ``--output`` as it was:
committed results are never replaced by a table of failures. The partial results go to a
temporary file that the script names.

``--smoke`` runs a script on the tiny pipeline of ``STSN_SMOKE_KIT`` (built on demand,
see :mod:`smoke_kit`) with its smallest sizes, workers inline and no waiting: what
``benchmarks/test_smoke.py`` runs for every script, so a script that no longer runs
fails CI.
"""

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from importlib import metadata
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
)

from measure import REPO, busy_cores, cpu_seconds, data_dir  # noqa: F401 (re-exported)

RESULTS = REPO / "benchmarks" / "results"
WORKER_FLAG = "--worker"
WORKER_MARK = "@@BENCH-RESULT@@ "
PACKAGES = ("torch", "spacy", "spacy-transformers", "transformers", "thinc", "numpy")

Job = Dict[str, Any]
Worker = Callable[[Job], Dict[str, Any]]


class Benchmark:
    """One benchmark script: its parser with the common flags, workers and output."""

    def __init__(
        self,
        doc: str,
        script: str,
        workers: Optional[Mapping[str, Worker]] = None,
        device: bool = False,
    ) -> None:
        self.script = Path(script).resolve()
        self.name = self.script.stem
        self.workers = dict(workers or {})
        self.failures: List[str] = []
        self.inputs: Dict[str, Tuple[str, Callable[[str], Any], bool]] = {}
        self.args = argparse.Namespace()
        self.machine: Dict[str, Any] = {}
        self.parser = parser = argparse.ArgumentParser(
            description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        parser.add_argument(
            "--output",
            type=Path,
            help="JSON result, with the printed table as .md beside it (default: in "
            "benchmarks/results/, named after the script)",
        )
        parser.add_argument(
            "--smoke",
            action="store_true",
            help="the smallest run on the tiny pipeline of $STSN_SMOKE_KIT (built if "
            "unset), workers inline, into a temporary --output: does the script run?",
        )
        if self.workers:
            parser.add_argument(
                "--timeout", type=float, default=1800, help="seconds per worker"
            )
            parser.add_argument(
                "--max-wait",
                type=float,
                default=900,
                help="seconds to wait for other processes to leave the CPU first",
            )
            parser.add_argument(
                "--retries",
                type=int,
                default=2,
                help="measure again (at most this often) when others used over 0.3 "
                "cores meanwhile",
            )
        if device:
            parser.add_argument(
                "--gpu-id",
                type=int,
                default=-1,
                help="GPU (spacy.require_gpu); -1: CPU",
            )
            parser.add_argument(
                "--torch-threads",
                type=int,
                default=0,
                help="torch.set_num_threads in the workers (0: torch's default); 1 is "
                "steadier when other processes share the cores",
            )

    # -- arguments ---------------------------------------------------------------------
    def input(
        self,
        name: str,
        kit: str,
        help: str,
        type: Callable[[str], Any] = str,
        required: bool = True,
    ) -> None:
        """A positional input of the run (a pipeline, a corpus), taken from the smoke
        kit's attribute ``kit`` under ``--smoke`` when not given."""
        self.inputs[name] = (kit, type, required)
        self.parser.add_argument(name, nargs="?", type=type, help=help)

    def parse(
        self,
        argv: Optional[Sequence[str]] = None,
        smoke: Optional[Callable[[argparse.Namespace, Any], None]] = None,
    ) -> argparse.Namespace:
        """The script's arguments. In a worker process (``--worker JOB``) run the job,
        print its result and exit. With ``--smoke``, the inputs come from the
        :class:`smoke_kit.SmokeKit` and ``smoke(args, kit)`` sets the smallest sizes."""
        argv = list(sys.argv[1:] if argv is None else argv)
        if argv[:1] == [WORKER_FLAG]:
            print(WORKER_MARK + json.dumps(self.work(json.loads(argv[1]))), flush=True)
            raise SystemExit(0)
        args = self.parser.parse_args(argv)
        if args.smoke:
            from stsn_dev.smoke_kit import SmokeKit

            kit = SmokeKit.get()
            for name, (attr, type_, _) in self.inputs.items():
                if getattr(args, name) is None:
                    setattr(args, name, type_(str(getattr(kit, attr))))
            if self.workers:
                args.max_wait, args.retries = 0.0, 0
            if smoke is not None:
                smoke(args, kit)
        missing = [
            name.upper()
            for name, (_, _, required) in self.inputs.items()
            if required and getattr(args, name) is None
        ]
        if missing:
            self.parser.error(
                f"the following arguments are required: {', '.join(missing)}"
            )
        self.args = args
        self.machine = machine_info()
        warn_if_busy()
        return args

    def job(self, kind: str, **fields: Any) -> Job:
        """A worker job of ``kind`` with the device flags, if the script has them."""
        device = {
            key: getattr(self.args, key)
            for key in ("gpu_id", "torch_threads")
            if hasattr(self.args, key)
        }
        return {"kind": kind, **device, **fields}

    # -- workers -----------------------------------------------------------------------
    def work(self, job: Job) -> Dict[str, Any]:
        """Run ``job`` here (in the worker process): device first, then the worker."""
        if "gpu_id" not in job:  # a script without device flags
            return self.workers[job["kind"]](job)
        use_device(job)
        return {**self.workers[job["kind"]](job), **device_info(job)}

    def run(self, job: Job, label: str = "") -> Dict[str, Any]:
        """One measurement in its own process on a quiet machine (inline under --smoke).
        A failure is recorded (the script will exit 1) and returned as ``{"error":
        ...}``."""
        if self.args.smoke:
            result = self._inline(job)
        else:
            result = run_quiet(
                self.script,
                job,
                self.args.timeout,
                self.args.max_wait,
                self.args.retries,
            )
        if "error" in result:
            tail = result.get("stderr_tail", "")
            self.fail(label or json.dumps(job), f"{result['error']}\n{tail}".strip())
        result.setdefault("job", job)
        return result

    def fail(self, what: str, error: str) -> None:
        """Record a failed measurement: the script will exit 1 without writing
        ``--output``."""
        self.failures.append(f"{what}: {error.splitlines()[0]}")
        print(f"  FAILED {what}: {error}", file=sys.stderr, flush=True)

    def _inline(self, job: Job) -> Dict[str, Any]:
        """The worker in this process, its job and result through JSON as a worker's
        are."""
        if job.get("code"):
            return {"error": "--smoke runs workers inline: no other checkout's code"}
        try:
            return json.loads(json.dumps(self.work(json.loads(json.dumps(job)))))
        except Exception as err:  # noqa: BLE001  (a worker's failure is a result)
            return {
                "error": f"{type(err).__name__}: {err}",
                "stderr_tail": traceback.format_exc()[-2000:],
            }

    # -- output ------------------------------------------------------------------------
    def finish(
        self,
        result: Dict[str, Any],
        text: str,
        stem: Optional[str] = None,
        also: Optional[Callable[[Path], None]] = None,
    ) -> Path:
        """Print ``text``; write ``result`` (with the machine and the arguments) as JSON
        and ``text`` as Markdown to ``--output`` (default ``results/{stem}.json``), and
        ``also(output)`` (a plot, say). After a failure, write them to a temporary
        folder instead, leave ``--output`` untouched and exit 1."""
        print(text)
        data = {
            "machine": self.machine,
            "args": {k: _plain(v) for k, v in vars(self.args).items()},
            **result,
            "loadavg_end_1_5_15min": list(os.getloadavg()),
        }
        output = self.args.output
        if output is None:
            folder = RESULTS
            if self.args.smoke:  # never into the committed results
                folder = Path(tempfile.mkdtemp(prefix=f"{self.name}-smoke-"))
            output = folder / f"{stem or self.name}.json"
        if self.failures:
            kept = Path(tempfile.mkdtemp(prefix=f"{self.name}-failed-")) / output.name
            write_outputs(kept, {**data, "failures": self.failures}, text)
            print(
                f"{len(self.failures)} measurement(s) failed; {output} was left as "
                f"it was; this run's results: {kept}",
                file=sys.stderr,
            )
            raise SystemExit(1)
        write_outputs(output, data, text)
        if also is not None:
            also(output)
        print(f"wrote {output} and its .md")
        return output


def _plain(value: Any) -> Any:
    return (
        value if isinstance(value, (int, float, bool, type(None), list)) else str(value)
    )


def write_outputs(path: Path, data: Dict[str, Any], text: str) -> None:
    """``data`` as ``path`` (JSON) and ``text`` as the same name with ``.md``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf8")
    path.with_suffix(".md").write_text(text + "\n", encoding="utf8")


# -- workers ---------------------------------------------------------------------------
def run_worker(
    script: Path, job: Job, timeout: Optional[float] = None
) -> Dict[str, Any]:
    """Run ``script --worker JOB_JSON`` in a fresh interpreter and return the JSON it
    reports, with its wall time and the cores other processes used meanwhile.

    A worker that crashes, is killed (e.g. out of memory) or times out yields
    ``{"error": ...}``. A job with ``"code": DIR`` imports ``spacy_stsn`` from that
    checkout (``PYTHONPATH``), e.g. the code before a change."""
    cmd = [sys.executable, str(script), WORKER_FLAG, json.dumps(job)]
    env = None
    if job.get("code"):
        env = {**os.environ, "PYTHONPATH": str(Path(job["code"]).resolve())}
    start = time.perf_counter()
    busy0, _ = cpu_seconds()
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env
        )
    except subprocess.TimeoutExpired:
        return {"job": job, "error": f"timed out after {timeout} s"}
    wall = time.perf_counter() - start
    busy1, _ = cpu_seconds()
    children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = sum(
        getattr(children1, f) - getattr(children0, f) for f in ("ru_utime", "ru_stime")
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(WORKER_MARK):
            result = json.loads(line[len(WORKER_MARK) :])
            result["worker_wall_s"] = wall
            # CPU the rest of the machine used meanwhile, in cores: near 0 when quiet
            result["other_busy_cores"] = max(0.0, (busy1 - busy0) - own) / wall
            return result
    return {
        "job": job,
        "error": f"worker exited with code {proc.returncode}",
        "stderr_tail": (proc.stderr or proc.stdout)[-2000:],
    }


def wait_for_idle(max_wait: float, threshold: float = 0.3) -> Dict[str, float]:
    """Wait (at most ``max_wait`` s) until other processes use less than ``threshold``
    cores.

    With 2 cores and torch's default 2 threads, one competing busy process does not cost
    a fair half: torch's OpenMP threads wait at every barrier for the descheduled one,
    and steps get 5-20x slower. So a benchmark waits for a quiet machine rather than
    report such numbers."""
    start = time.perf_counter()
    load = busy_cores() if max_wait > 0 else None
    while load is not None and load > threshold:
        if time.perf_counter() - start >= max_wait:
            break
        print(
            f"  waiting for an idle machine: others use {load:.2f} cores",
            file=sys.stderr,
        )
        time.sleep(10)
        load = busy_cores()
    return {"waited_s": time.perf_counter() - start, "busy_cores_before": load}


def run_quiet(
    script: Path,
    job: Job,
    timeout: Optional[float],
    max_wait: float,
    retries: int = 2,
    threshold: float = 0.3,
) -> Dict[str, Any]:
    """:func:`run_worker` on an idle machine: wait for quiet first, and run again (up to
    ``retries`` times) when other processes took more than ``threshold`` cores during
    the run. The result keeps every attempt's contention, so a number measured under
    load is visible as such."""
    attempts = []
    for attempt in range(retries + 1):
        idle = wait_for_idle(max_wait, threshold)
        result = run_worker(script, job, timeout)
        other = result.get("other_busy_cores")
        attempts.append({**idle, "other_busy_cores": other})
        if "error" in result or other is None or other <= threshold:
            break
        if attempt == retries:
            print(f"  others used {other:.2f} cores meanwhile", file=sys.stderr)
            break
        print(
            f"  others used {other:.2f} cores meanwhile: measuring again",
            file=sys.stderr,
        )
    result["attempts"] = attempts
    return result


# -- device ----------------------------------------------------------------------------
def use_device(job: Job) -> None:
    """Torch threads and GPU (``gpu_id`` >= 0) of a job, before anything is loaded."""
    if job.get("torch_threads"):
        import torch

        torch.set_num_threads(job["torch_threads"])
    if job.get("gpu_id", -1) >= 0:
        import spacy

        spacy.require_gpu(job["gpu_id"])


def synchronizer(job: Job) -> Callable[[], None]:
    """What makes a clock honest on the job's device: a GPU synchronisation (nothing on
    CPU)."""
    if job.get("gpu_id", -1) < 0:
        return lambda: None
    import torch

    return torch.cuda.synchronize


def device_info(job: Job) -> Dict[str, Any]:
    import torch

    if job.get("gpu_id", -1) < 0:
        return {"device": "cpu", "torch_threads": torch.get_num_threads()}
    gpu = torch.cuda.get_device_name(job["gpu_id"])
    return {"device": f"cuda:{job['gpu_id']}", "gpu": gpu}


# -- machine ---------------------------------------------------------------------------
def _command(args: List[str]) -> str:
    try:
        done = subprocess.run(
            args, capture_output=True, text=True, cwd=REPO, timeout=30
        )
        return done.stdout.rstrip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> Dict[str, Any]:
    """What the numbers were measured on: hardware, library versions and the exact code
    (commit + dirty files), with read-only git commands."""
    import torch

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    status = _command(["git", "status", "--porcelain"]).splitlines()
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "nproc": _command(["nproc"]) or str(os.cpu_count()),
        "cpu_model": cpu_model(),
        "free_h": _command(["free", "-h"]) if shutil.which("free") else "",
        # above nproc: something else competed for the CPU
        "loadavg_1_5_15min": list(os.getloadavg()),
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "versions": versions,
        "git_commit": _command(["git", "rev-parse", "--short", "HEAD"]),
        "git_dirty": [line for line in status if line.strip()],
    }


def warn_if_busy() -> None:
    """Timings mean something only on an idle machine: say so when the load says
    otherwise."""
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load > 0.5 * cores:
        print(
            f"warning: 1-minute load average {load:.1f} on {cores} cores; other "
            "processes may skew timings",
            file=sys.stderr,
        )


# -- tables ----------------------------------------------------------------------------
def fmt(value: Optional[float], digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def named_rows(columns: Sequence[str], rows: Mapping[str, Mapping[str, Any]]) -> str:
    """A table of named rows, one value per column (floats to one decimal)."""
    return markdown_table(
        [""] + list(columns),
        [
            [name]
            + [
                fmt(v) if isinstance(v, float) or v is None else v
                for v in (values[c] for c in columns)
            ]
            for name, values in rows.items()
        ],
    )


def most_contention(*runs: Mapping[str, Any]) -> Optional[float]:
    """The most cores other processes took during any of ``runs`` (None: not
    measured)."""
    measured = [r.get("other_busy_cores") for r in runs]
    return max((m for m in measured if m is not None), default=None)


CONTENTION_NOTE = (
    "others' cores: CPU (in cores) that other processes used while the measurement "
    "ran; near 0 means a quiet machine."
)
