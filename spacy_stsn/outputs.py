"""Guarding what the command line tools write: an output never overwrites an input, and
a resumed output belongs to the run that resumes it.

Both checks run before anything is opened for writing, so a refused command leaves every
file as it was. A resumable output (``extract``) has a sidecar, ``OUTPUT.resume.json``,
written before its first document: the input's path, size and the SHA-256 of its first
MiB, the model and the options that shape the output.
"""

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

SIDECAR_SUFFIX = ".resume.json"
HEAD_BYTES = 1 << 20


def refuse_overwriting_inputs(output: Path, inputs: Iterable[Optional[Path]]) -> None:
    """``ValueError`` naming both paths when writing ``output`` (a file, or a folder of
    outputs) could overwrite an input: the same file after resolving links (hard links
    too), an output inside an input folder, or an input inside the output folder.
    ``None`` inputs are skipped."""
    target = Path(output).resolve()
    for source in inputs:
        if source is None:
            continue
        resolved = Path(source).resolve()
        if target == resolved or _same_file(target, resolved):
            problem = f"it is the input {source}"
        elif target.is_relative_to(resolved):
            problem = f"it is inside the input folder {source}"
        elif resolved.is_relative_to(target):
            problem = f"it is a folder that holds the input {source}"
        else:
            continue
        raise ValueError(
            f"{output}: refusing to write the output there, {problem}; "
            "choose another output path"
        )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet
        return False


def sidecar_path(output: Path) -> Path:
    """``OUTPUT.resume.json``, next to the output file or folder."""
    absolute = Path(os.path.abspath(output))
    return absolute.with_name(absolute.name + SIDECAR_SUFFIX)


def input_fingerprint(path: Path) -> Dict[str, Any]:
    """The input's resolved path, size and the SHA-256 of its first :data:`HEAD_BYTES`
    bytes."""
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    return {
        "path": str(path.resolve()),
        "size": path.stat().st_size,
        "head_sha256": hashlib.sha256(head).hexdigest(),
    }


def model_identity(model: str) -> str:
    """A pipeline directory's resolved path, or a package name as given."""
    return str(Path(model).resolve()) if Path(model).exists() else model


def read_sidecar(output: Path) -> Optional[Dict[str, Any]]:
    """The run recorded for ``output``, or ``None`` if it has no (readable) sidecar."""
    path = sidecar_path(output)
    try:
        record = json.loads(path.read_text(encoding="utf8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) else None


def write_sidecar(output: Path, run: Dict[str, Any]) -> None:
    """Record ``run`` for ``output``, whole or not at all."""
    path = sidecar_path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(run, indent=2) + "\n", encoding="utf8")
    os.replace(partial, path)


def settings_differences(saved: Dict[str, Any], run: Dict[str, Any]) -> List[str]:
    """The model and options on which ``saved`` and ``run`` differ, as ``name: saved ->
    now``."""
    pairs = [("model", saved.get("model"), run["model"])] + [
        (name, saved.get("options", {}).get(name), value)
        for name, value in run["options"].items()
    ]
    return [f"{name}: {old!r} -> {new!r}" for name, old, new in pairs if old != new]


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
