"""Files written whole or not at all: the content goes to a hidden temporary name beside
the target and is renamed over it once complete.

A rename within one folder is atomic, so a reader, or a rerun after a crash, sees the
old file or the new one, never half of one. Each writer's temporary name is its own
(:func:`temporary_name`), so two writers of one target never write into one file.
Nothing is fsync'ed: a completed file survives the process being killed, not the
machine losing power. The rule holds for every writer of the package: brat pairs,
``.spacy`` corpora, resume sidecars, and Ray's shards on any pyarrow filesystem.
"""

import glob
import os
import posixpath
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Union

TEMPORARY_SUFFIX = ".tmp"


def temporary_name(name: str) -> str:
    """The name a file is written under before it is renamed to ``name``.

    name (str): the target's file name, without its folder.
    RETURNS (str): ``.NAME.<12 hex digits>.tmp``: hidden (listings and globs such as
        ``*.ann`` pass it by), unique to its writer, and recognised by
        :func:`is_temporary`.
    """
    return f".{name}.{uuid.uuid4().hex[:12]}{TEMPORARY_SUFFIX}"


def is_temporary(path: str) -> bool:
    """Whether ``path`` (a name, or a path with ``/`` separators) is one of
    :func:`temporary_name`'s, as a writer that was killed leaves it behind."""
    name = posixpath.basename(path)
    return name.startswith(".") and name.endswith(TEMPORARY_SUFFIX)


def remove(path: Union[str, Path]) -> None:
    """Remove a file, a link or a folder tree at ``path``, if there is one (a link is
    removed, not followed)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def remove_temporaries(path: Union[str, Path]) -> None:
    """Remove what killed writers of ``path`` left beside it (its :func:`temporary_name`
    files or folders); for a large output that a rerun would otherwise leave behind."""
    path = Path(path)
    pattern = glob.escape(f".{path.name}.") + "*" + TEMPORARY_SUFFIX
    for stale in path.parent.glob(pattern):
        remove(stale)


@contextmanager
def replacing(path: Union[str, Path]) -> Iterator[Path]:
    """A temporary path beside ``path`` for the block to write (a file, or a folder it
    creates), renamed to ``path`` when the block ends.

    path (Union[str, Path]): the target; its folder must exist. An existing file is
        replaced; an existing folder only if the block removed it (a rename does not
        replace a folder).
    YIELDS (Path): where to write. If the block or the rename raises (Ctrl-C
        included), what it wrote there is removed and ``path`` is left as it was.
    """
    path = Path(path)
    temporary = path.with_name(temporary_name(path.name))
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        remove(temporary)
        raise


def write_text(path: Union[str, Path], text: str) -> None:
    """Write ``text`` (UTF-8, line ends as given) to ``path`` whole or not at all."""
    with replacing(path) as temporary:
        with temporary.open("w", encoding="utf8", newline="") as handle:
            handle.write(text)


def check_writable(*paths: Optional[Path]) -> None:
    """``ValueError`` naming the first of ``paths`` (output files or folders; ``None``
    skipped) that cannot be written, before any work is done: an existing file must
    open for appending (nothing is changed), and a file can be created in an existing
    folder, or in the nearest existing folder above a path that does not exist yet (a
    file is created there and removed at once: permissions, a read-only or full
    filesystem, ACLs all show)."""
    for path in paths:
        if path is not None:
            _check_writable(Path(path))


def _check_writable(path: Path) -> None:
    absolute = Path(os.path.abspath(path))
    where, problem = absolute, None
    try:
        if absolute.is_file():
            absolute.open("ab").close()
            return
        while not where.exists() and where != where.parent:
            where = where.parent
        if not where.is_dir():
            problem = f"{where} is a file, not a folder"
        else:
            fd, probe = tempfile.mkstemp(dir=where, prefix=".write-check-")
            os.close(fd)
            os.unlink(probe)
    except OSError as err:
        problem = f"{where}: {err.strerror or err}"
    if problem is not None:
        raise ValueError(f"{path}: cannot write the output there ({problem})")
