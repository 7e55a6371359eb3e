"""The process the network runs in: the memory that training steps freed handed back to
the operating system, and one torch thread in a forked child process.

Training in bfloat16 on a CPU allocates every step's casts and activations in new sizes;
glibc's malloc keeps the freed blocks in its heap instead of returning them, and the
process's resident memory grows with the steps. ``malloc_trim`` returns the free pages,
every ``EVERY`` backward passes: after every pass the pages fault back in and the step
slows down, too rarely and the memory grows. Other C libraries (musl, macOS) have no
``malloc_trim``: there it does nothing."""

import ctypes
import functools
import itertools
import os
import sys
from typing import Callable, Optional

# backward passes between trims: two per training step with a transformer (its shim and
# the head's), so a trim about every 32 steps; 0: never. Why 64: benchmarks/README.md,
# "Memory of these runs"
EVERY = 64
_calls = itertools.count(1)


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Optional[Callable[[int], int]]:
    """glibc's ``malloc_trim`` from the process's own C library, or ``None``."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_memory(every: Optional[int] = None) -> bool:
    """Every ``every``-th call (default ``EVERY``; 0: never), return the heap's free
    pages to the operating system.

    every (Optional[int]): calls between trims; None: ``EVERY``; 0: never.
    RETURNS (bool): whether this call trimmed.
    """
    every = EVERY if every is None else every
    if not every or next(_calls) % every:
        return False
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def one_torch_thread_after_fork() -> None:
    """In a child process forked after torch ran in its parent
    (``nlp.pipe(n_process=2)`` after ``nlp(text)``), use one intra-op thread: the
    OpenMP pool the child inherits has no threads, and its first matrix product would
    hang. One thread per child needs no pool, and is what several processes sharing the
    cores want anyway. Registered with ``os.register_at_fork`` when this module is
    imported (by :mod:`spacy_stsn.ml.model`); a process that never imported torch is
    left alone."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


os.register_at_fork(after_in_child=one_torch_thread_after_fork)
