"""What a benchmark worker measures with: peak memory, wall time, machine-wide CPU use,
stage timers, and the corpus documents rebuilt fresh for every timed pass.

Memory figures are per process: the harness runs every measurement in its own worker
process, so the peak resident set size one reports belongs to that measurement alone.
"""

import collections
import functools
import os
import resource
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from stsn_dev.data import data_dir  # noqa: F401 (re-exported to the benchmarks)

REPO = Path(__file__).resolve().parents[1]


Words = Tuple[List[str], List[bool]]


# -- memory ----------------------------------------------------------------------------
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
    """Reset the kernel's peak-RSS counter (VmHWM) to the current RSS, so a later
    :func:`peak_rss_mib` covers only what ran after this call (the loaded model stays
    counted, being resident). False if unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mib() -> float:
    """Peak RSS since the last :func:`reset_peak_rss` (VmHWM), else since the process
    started (ru_maxrss)."""
    kib = _status_kib("VmHWM")
    if kib is None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return kib / 1024


def lifetime_peak_rss_mib() -> float:
    """``getrusage(RUSAGE_SELF).ru_maxrss``: the process's peak RSS since it started
    (never reset)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory(rss_loaded: Optional[float]) -> Dict[str, Optional[float]]:
    """The memory fields every worker reports: RSS after loading, the peak since
    :func:`reset_peak_rss` and the process's lifetime peak."""
    return {
        "rss_after_load_mib": rss_loaded,
        "peak_rss_mib": peak_rss_mib(),
        "lifetime_peak_rss_mib": lifetime_peak_rss_mib(),
    }


# -- contention ------------------------------------------------------------------------
def cpu_seconds() -> Tuple[float, float]:
    """Machine-wide (busy, total) CPU time in seconds from /proc/stat (all cores
    summed)."""
    first = Path("/proc/stat").read_text().splitlines()[0]
    fields = [float(v) for v in first.split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(fields[:8]) - idle) / hz, sum(fields[:8]) / hz


def busy_cores(seconds: float = 2.0) -> float:
    """How many cores' worth of CPU the machine used over ``seconds`` (this process
    sleeps meanwhile)."""
    busy0, _ = cpu_seconds()
    time.sleep(seconds)
    busy1, _ = cpu_seconds()
    return (busy1 - busy0) / seconds


# -- timing ----------------------------------------------------------------------------
def time_call(func: Callable[[], Any]) -> Tuple[float, Any]:
    """Wall-clock seconds of one call, and its return value."""
    start = time.perf_counter()
    value = func()
    return time.perf_counter() - start, value


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


class StageTimer:
    """Inclusive wall time per call path (``a/b/c``), collected by wrappers that push
    and pop a stack: wrap functions of a loaded pipeline at run time, nothing in the
    package is edited."""

    def __init__(self) -> None:
        self.stack: List[str] = []
        self.seconds: Dict[Tuple[str, ...], float] = collections.defaultdict(float)
        self.calls: Dict[Tuple[str, ...], int] = collections.defaultdict(int)
        self.first_seen: Dict[Tuple[str, ...], int] = {}

    def wrap(self, name: str, func: Callable) -> Callable:
        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.stack.append(name)
            path = tuple(self.stack)
            self.first_seen.setdefault(path, len(self.first_seen))
            start = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.seconds[path] += time.perf_counter() - start
                self.calls[path] += 1
                self.stack.pop()

        return timed

    def total(self) -> float:
        """Seconds of the outermost wrapped calls."""
        return sum(s for path, s in self.seconds.items() if len(path) == 1)

    def rows(self, total: float) -> List[List[Any]]:
        """Depth-first tree rows: stage, calls, inclusive s, self s, % of ``total``."""
        out = []
        # depth-first, siblings in the order they first ran
        order = sorted(
            self.seconds,
            key=lambda p: [self.first_seen[p[:i]] for i in range(1, len(p) + 1)],
        )
        for path in order:
            children = sum(
                s
                for p, s in self.seconds.items()
                if len(p) == len(path) + 1 and p[:-1] == path
            )
            inclusive = self.seconds[path]
            out.append(
                [
                    "&nbsp;&nbsp;" * (len(path) - 1) + path[-1],
                    self.calls[path],
                    inclusive,
                    inclusive - children,
                    100 * inclusive / total,
                ]
            )
        return out

    def as_dict(self) -> Dict[str, Dict[str, float]]:
        return {
            "/".join(p): {"seconds": s, "calls": self.calls[p]}
            for p, s in self.seconds.items()
        }


# -- corpus ----------------------------------------------------------------------------
def corpus_words(path: Path) -> List[Words]:
    """The (words, spaces) of every document of a DocBin, so fresh unannotated Docs with
    the dataset's own tokens can be rebuilt for each timed pass (the benchmark's
    tokenization, as ``spacy_stsn.evaluation.evaluate``)."""
    import spacy
    from spacy.tokens import DocBin

    # registers the extensions stored in the DocBin's user data
    import spacy_stsn  # noqa: F401

    vocab = spacy.blank("en").vocab
    docs = DocBin().from_disk(path).get_docs(vocab)
    return [([t.text for t in doc], [bool(t.whitespace_) for t in doc]) for doc in docs]


def make_docs(vocab: Any, words: Iterable[Words]) -> List[Any]:
    from spacy.tokens import Doc

    return [Doc(vocab, words=w, spaces=s) for w, s in words]


def n_wordpieces(doc: Any) -> int:
    """Word pieces the transformer ran over for ``doc``: the summed lengths of its
    strided windows in ``doc._.trf_data.wordpieces`` (special tokens and window overlap
    included, i.e. the encoder's real work)."""
    data = getattr(doc._, "trf_data", None)
    if data is None or data.wordpieces is None:
        return 0
    return int(sum(data.wordpieces.lengths))
