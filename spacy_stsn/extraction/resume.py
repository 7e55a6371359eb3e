"""Resuming ``extract``: where an output left off, and whether it may be continued.

An output is continued only when nothing would be mixed up: its sidecar
(:mod:`spacy_stsn.extraction.outputs`) names the same model and options, and the
documents already written are exactly the first documents of the input, in order, one
per input line but for the lines recorded as skipped (``--on-error skip``,
:mod:`spacy_stsn.extraction.failures`). That is checked document by document (text and
passthrough fields) on every resume, so an output written twice over (two runs at once,
interleaved), one longer than its input or one of another input is refused with the
first place they differ, not resumed. The check reads the output and the input once, up
to the resume point.
"""

from pathlib import Path
from typing import Any, Collection, Dict, Iterator, Optional, Protocol, Tuple

from .outputs import read_sidecar, settings_differences, sidecar_path

# (line number, (text, passthrough fields) or the line's error), as the command reads
# its input
Numbered = Iterator[Tuple[int, Any]]


class Written(Protocol):
    """What a writer knows of an existing output."""

    @property
    def holds(self) -> bool: ...

    def written(self) -> Iterator[Tuple[str, Any, Optional[Dict[str, Any]]]]: ...


def check_resume(
    output: Path,
    input_path: Path,
    run: Dict[str, Any],
    writer: Written,
    inputs: Numbered,
    skipped: Collection[int] = (),
) -> int:
    """The input lines that ``output`` has done, after checking that continuing it with
    ``run`` mixes nothing (see the module doc); ``ValueError`` naming the problem
    otherwise.

    Args:
        output: the output file or folder.
        input_path: the input, for the messages.
        run: what the run that continues it records in the sidecar.
        writer: the output's writer (its documents already written).
        inputs: the input's numbered lines, from the first.
        skipped: the input lines recorded as skipped.
    """
    if not writer.holds and not skipped:
        return 0
    again = "run with --restart to start over, or choose another output"
    saved = read_sidecar(output)
    if saved is None:
        raise ValueError(
            f"{output}: it holds output, but no {sidecar_path(output).name} says which "
            f"input, model and options it came from; {again}"
        )
    differences = settings_differences(saved, run)
    if differences:
        raise ValueError(
            f"{output} was written with other settings ({'; '.join(differences)}); "
            f"{again}"
        )
    done, documents, difference = _walk(writer, inputs, input_path, skipped)
    if difference is not None:
        source = saved.get("input", {})
        raise ValueError(
            f"{output} holds {documents} documents from {source.get('path')} "
            f"({source.get('size')} bytes) that are not the first lines of "
            f"{input_path}: {difference}; {again}"
        )
    return done


def _walk(
    writer: Written, inputs: Numbered, input_path: Path, skipped: Collection[int]
) -> Tuple[int, int, Optional[str]]:
    """(input lines done, documents written, where the written documents and the input
    lines first differ or ``None``)."""
    written = writer.written()
    got = next(written, None)
    done = documents = 0
    difference = None
    for number, parsed in inputs:
        if number in skipped:
            done = number
            continue
        if got is None:
            break
        where, text, meta = got
        documents += 1
        want = parsed[0] if isinstance(parsed, tuple) else None
        if want is None or text != want or (meta is not None and meta != parsed[1]):
            shown = f"{want!r:.60}" if want is not None else "a malformed line"
            difference = (
                f"{where} has {text!r:.60} where {input_path}:{number} has {shown}"
            )
            break
        done = number
        got = next(written, None)
    else:
        if got is not None:
            documents += 1
            where, text, _ = got
            difference = f"{where} has {text!r:.60}, past the end of {input_path}"
    if difference is not None:
        documents += sum(1 for _ in written)
    return done, documents, difference
