"""One writer per output: ``extract`` (and ``extract --ray`` with a local OUTPUT) holds
an exclusive lock on ``OUTPUT.lock`` for the whole run, so a second run onto the same
output is refused at once, naming the first (its pid, host and start time).

The lock is the operating system's (POSIX record locks, ``fcntl.lockf``), not the lock
file's existence: the kernel releases it when its process ends, however it ends (a
``kill -9``, a crash), so a run that was killed leaves a lock file that blocks nobody;
the next run takes it over. The file's content only names the holder, for the message.

Where it holds: any local filesystem, and NFS with working locks (NFSv4, or NFSv3 with
``lockd``), where POSIX locks are taken on the server and so exclude runs on other hosts
too (a host that dies holding one keeps it until the server's lease or lock recovery
frees it, a minute or two). Object stores (``s3://``, ``gs://``: ``extract --ray`` with
such an OUTPUT) have no locks: there no lock is taken, and one job per output is the
user's to ensure. On a system without ``fcntl`` (Windows) no lock is taken either.
"""

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional, Set

try:
    import fcntl
except ImportError:  # Windows: no POSIX locks
    fcntl = None  # type: ignore[assignment]

LOCK_SUFFIX = ".lock"
# Lock files held by this process: POSIX locks belong to a process, so a second lock
# of the same file from this process would succeed, and closing it would release the
# first; this set refuses it instead.
_HELD: Set[str] = set()


def lock_path(output: Path) -> Path:
    """``OUTPUT.lock``, next to the output file or folder."""
    absolute = Path(os.path.abspath(output))
    return absolute.with_name(absolute.name + LOCK_SUFFIX)


class OutputLocked(ValueError):
    """Another run holds the output's lock."""


class OutputLock:
    """An exclusive lock on ``output`` while entered: :class:`OutputLocked`, naming the
    holder, if another run holds it. The lock file is removed when the lock is released
    (a killed run's stays, unlocked).

    Args:
        output: the output file or folder to lock (its parent folder is created).
        command: what the holder is doing, for the message of a refused run.
    """

    def __init__(self, output: Path, command: str = "extract") -> None:
        self.output, self.path, self.command = output, lock_path(output), command
        self.fd: Optional[int] = None

    def __enter__(self) -> "OutputLock":
        if fcntl is None:
            return self
        key = os.path.realpath(self.path)
        if key in _HELD:
            raise OutputLocked(self._refusal(_holder(), "in this process"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_holder(fd)
                os.close(fd)
                raise OutputLocked(self._refusal(holder)) from None
            if _same_file(fd, self.path):
                break
            # the holder we waited for removed the file on release: lock the new one
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(_holder(self.command)).encode("utf8") + b"\n")
        self.fd, self.key = fd, key
        _HELD.add(key)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.fd is None:
            return
        # removed while still locked: a run that opens it now finds it gone and retries
        self.path.unlink(missing_ok=True)
        os.close(self.fd)
        _HELD.discard(self.key)
        self.fd = None

    def _refusal(self, holder: Optional[Dict[str, Any]], where: str = "") -> str:
        if holder is None:
            who = "another run (it has not yet written who it is)"
        else:
            who = (
                f"another {holder.get('command', 'run')} (pid {holder.get('pid')} on "
                f"{holder.get('host')}, started {holder.get('started')})"
            )
        where = f" {where}" if where else ""
        return (
            f"{self.output}: {who} is writing this output{where}; wait for it to "
            f"finish or stop it (a run that was stopped or killed releases "
            f"{self.path.name} by itself), or choose another output"
        )


def _holder(command: str = "extract") -> Dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "command": command,
        "argv": sys.argv,
    }


def _read_holder(fd: int) -> Optional[Dict[str, Any]]:
    try:
        record = json.loads(os.pread(fd, 1 << 16, 0))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _same_file(fd: int, path: Path) -> bool:
    try:
        here, there = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)
