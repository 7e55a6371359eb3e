"""Helpers shared by the benchmark scripts: machine description, peak-memory probes, isolated workers, output.

Every measurement that reports memory runs in its own Python subprocess (a "worker"), so the peak resident set
size it reports belongs to that measurement alone and not to whatever ran before it in the parent.
"""

import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
WORKER_MARK = "@@BENCH-RESULT@@ "
PACKAGES = ("torch", "spacy", "spacy-transformers", "transformers", "thinc", "numpy")


# -- memory ------------------------------------------------------------------------------------------
def _status_kib(field: str) -> Optional[int]:
    """A ``kB`` field of /proc/self/status (Linux only), e.g. VmRSS or VmHWM."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_mib() -> Optional[float]:
    """Current resident set size."""
    kib = _status_kib("VmRSS")
    return None if kib is None else kib / 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) to the current RSS, so a later :func:`peak_rss_mib` covers
    only what ran after this call (the loaded model stays counted, being resident). False if unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mib() -> float:
    """Peak RSS since the last :func:`reset_peak_rss` (VmHWM), else since the process started (ru_maxrss)."""
    kib = _status_kib("VmHWM")
    if kib is None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return kib / 1024


def lifetime_peak_rss_mib() -> float:
    """``getrusage(RUSAGE_SELF).ru_maxrss``: the process's peak RSS since it started (never reset)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- contention ------------------------------------------------------------------------------------
def cpu_seconds() -> Tuple[float, float]:
    """Machine-wide (busy, total) CPU time in seconds from /proc/stat (all cores summed)."""
    fields = [
        float(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(fields[:8]) - idle) / hz, sum(fields[:8]) / hz


def busy_cores(seconds: float = 2.0) -> float:
    """How many cores' worth of CPU the machine used over ``seconds`` (this process sleeps meanwhile)."""
    busy0, _ = cpu_seconds()
    time.sleep(seconds)
    busy1, _ = cpu_seconds()
    return (busy1 - busy0) / seconds


def wait_for_idle(max_wait: float, threshold: float = 0.3) -> Dict[str, float]:
    """Wait (at most ``max_wait`` s) until other processes use less than ``threshold`` cores.

    With 2 cores and torch's default 2 threads, a single competing busy process does not cost a fair half:
    torch's OpenMP threads wait at every barrier for the descheduled one, and steps get 5-20x slower. So the
    benchmark waits for a quiet machine rather than reporting such numbers."""
    start = time.perf_counter()
    load = busy_cores()
    while load > threshold and time.perf_counter() - start < max_wait:
        print(
            f"  waiting for an idle machine: others use {load:.2f} cores",
            file=sys.stderr,
            flush=True,
        )
        time.sleep(10)
        load = busy_cores()
    return {"waited_s": time.perf_counter() - start, "busy_cores_before": load}


# -- workers -----------------------------------------------------------------------------------------
def run_worker(
    script: Path, job: Dict[str, Any], timeout: Optional[float] = None
) -> Dict[str, Any]:
    """Run ``script --worker JOB_JSON`` in a fresh interpreter and return the JSON it reports.

    A worker that crashes, is killed (e.g. out of memory) or times out yields ``{"error": ...}`` instead of
    stopping the whole benchmark, so one failed length does not lose the others. A job with ``"code": DIR``
    imports ``spacy_stsn`` from that checkout (``PYTHONPATH``), e.g. the code before a change.
    """
    cmd = [sys.executable, str(script), "--worker", json.dumps(job)]
    env = (
        {**os.environ, "PYTHONPATH": str(Path(job["code"]).resolve())}
        if job.get("code")
        else None
    )
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
    own = (children1.ru_utime - children0.ru_utime) + (
        children1.ru_stime - children0.ru_stime
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(WORKER_MARK):
            result = json.loads(line[len(WORKER_MARK) :])
            result["worker_wall_s"] = wall
            # CPU the rest of the machine used while the worker ran, in cores: near 0 on a quiet machine
            result["other_busy_cores"] = max(0.0, (busy1 - busy0) - own) / wall
            return result
    tail = (proc.stderr or proc.stdout)[-2000:]
    return {
        "job": job,
        "error": f"worker exited with code {proc.returncode}",
        "stderr_tail": tail,
    }


def run_quiet(
    script: Path,
    job: Dict[str, Any],
    timeout: Optional[float],
    max_wait: float,
    retries: int = 2,
    threshold: float = 0.3,
) -> Dict[str, Any]:
    """:func:`run_worker` on an idle machine: wait for quiet first, and run again (up to ``retries`` times)
    when other processes took more than ``threshold`` cores during the run. The result keeps the attempts'
    contention figures, so a number measured under load is visible as such."""
    attempts = []
    for _ in range(retries + 1):
        idle = wait_for_idle(max_wait, threshold)
        result = run_worker(script, job, timeout)
        other = result.get("other_busy_cores")
        attempts.append({**idle, "other_busy_cores": other})
        if "error" in result or other is None or other <= threshold:
            break
        print(
            f"  others used {other:.2f} cores during the run: measuring again",
            file=sys.stderr,
            flush=True,
        )
    result["attempts"] = attempts
    return result


def report_from_worker(result: Dict[str, Any]) -> None:
    """Print a worker's result on the line its parent looks for."""
    print(WORKER_MARK + json.dumps(result), flush=True)


# -- timing ------------------------------------------------------------------------------------------
def time_call(func: Callable[[], Any]) -> Tuple[float, Any]:
    """Wall-clock seconds of one call, and its return value."""
    start = time.perf_counter()
    value = func()
    return time.perf_counter() - start, value


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


# -- corpus ------------------------------------------------------------------------------------------
def corpus_words(path: Path) -> List[Tuple[List[str], List[bool]]]:
    """The (words, spaces) of every document of a DocBin, so fresh unannotated Docs with the dataset's own
    tokens can be rebuilt for each timed pass (the benchmark's tokenization, as ``spacy_stsn.evaluate``)."""
    import spacy
    from spacy.tokens import DocBin

    import spacy_stsn  # noqa: F401  (registers the extensions stored in the DocBin's user data)

    vocab = spacy.blank("en").vocab
    docs = DocBin().from_disk(path).get_docs(vocab)
    return [([t.text for t in doc], [bool(t.whitespace_) for t in doc]) for doc in docs]


def make_docs(vocab: Any, words: Iterable[Tuple[List[str], List[bool]]]) -> List[Any]:
    from spacy.tokens import Doc

    return [Doc(vocab, words=w, spaces=s) for w, s in words]


def n_wordpieces(doc: Any) -> int:
    """Word pieces the transformer ran over for ``doc``: the summed lengths of its strided windows in
    ``doc._.trf_data.wordpieces`` (special tokens and window overlap included, i.e. the encoder's real work)."""
    data = getattr(doc._, "trf_data", None)
    if data is None or data.wordpieces is None:
        return 0
    return int(sum(data.wordpieces.lengths))


# -- machine -----------------------------------------------------------------------------------------
def _command(args: List[str]) -> str:
    try:
        return subprocess.run(
            args, capture_output=True, text=True, cwd=REPO, timeout=30
        ).stdout.rstrip()
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
    """What the numbers were measured on: hardware, library versions and the exact code (commit + dirty files).

    Uses only read-only git commands."""
    import torch

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    dirty = [
        line
        for line in _command(["git", "status", "--porcelain"]).splitlines()
        if line.strip()
    ]
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "nproc": _command(["nproc"]) or str(os.cpu_count()),
        "cpu_model": cpu_model(),
        "free_h": _command(["free", "-h"]) if shutil.which("free") else "",
        "loadavg_1_5_15min": list(
            os.getloadavg()
        ),  # > nproc means something else competed for the CPU
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "versions": versions,
        "git_commit": _command(["git", "rev-parse", "--short", "HEAD"]),
        "git_dirty": dirty,
    }


def warn_if_busy() -> None:
    """Timings are only meaningful on an otherwise idle machine: say so when the load says it is not."""
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load > 0.5 * cores:
        print(
            f"warning: 1-minute load average {load:.1f} on {cores} cores; other processes may skew timings",
            file=sys.stderr,
        )


# -- output ------------------------------------------------------------------------------------------
def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(path: Path, data: Dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf8")


def fmt(value: Optional[float], digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def write_results(
    stem: str,
    title: str,
    columns: Sequence[str],
    rows: Dict[str, Dict[str, Any]],
    meta: Dict[str, Any],
) -> str:
    """A table of named rows (one value per column) printed by the caller and written as
    ``benchmarks/results/{stem}.md`` and ``.json``, with ``meta`` and :func:`machine_info` as provenance."""
    table = markdown_table(
        [""] + list(columns),
        [
            [name]
            + [
                fmt(values[c])
                if isinstance(values[c], float) or values[c] is None
                else values[c]
                for c in columns
            ]
            for name, values in rows.items()
        ],
    )
    text = f"{title}\n\n{table}\n"
    results = REPO / "benchmarks" / "results"
    write_json(
        results / f"{stem}.json",
        {"meta": {**meta, "machine": machine_info()}, "rows": rows},
    )
    (results / f"{stem}.md").write_text(text, encoding="utf8")
    return text
