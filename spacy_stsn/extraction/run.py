"""The loop of the local ``extract``: the input's lines through the pipeline
(:func:`spacy_stsn.extraction.failures.pipe_each`), each document written in input
order, each line that fails (malformed, or failing inside the pipeline) stopped at or
recorded, progress reported, and Ctrl-C turned into one line that says how to resume.

Whatever ends the run (the end of the input, a failed line with ``on_error="stop"``,
Ctrl-C, a crash), the output holds every document before the line it ended at, whole,
so running the same command again continues there (:mod:`spacy_stsn.extraction.resume`).
"""

import sys
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Dict, Iterator, Optional, Tuple, Union, cast

from spacy.language import Language
from spacy.tokens import Doc

from .failures import ErrorLog, failure_message, pipe_each

# ``progress``'s default: the ``sys.stderr`` of the call (one bound at import would
# outlive a redirection)
STDERR = cast(IO[str], object())


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped ``extract``; the message says where, and how to resume."""


@dataclass
class RunOptions:
    """How the loop runs.

    Args:
        input_path: the input, as named in messages and error records.
        output_path: the output, as named in messages.
        batch_size: documents per ``nlp.pipe`` batch, and per flush of the output.
        n_process: ``nlp.pipe``'s processes.
        on_error: ``"stop"`` at a line that fails, or ``"skip"`` (record it, go on).
        progress: where progress lines go (``None``: nowhere; :data:`STDERR`: the
            ``sys.stderr`` of the call).
    """

    input_path: Path
    output_path: Path
    batch_size: int = 64
    n_process: int = 1
    on_error: str = "stop"
    progress: Optional[IO[str]] = STDERR


@dataclass
class Counts:
    done: int  # input lines done before this run
    last: int  # the last input line done
    written: int = 0
    skipped: int = 0


def write_outcomes(
    nlp: Language,
    numbered: Iterator[Tuple[int, Any]],
    writer: Any,
    log: ErrorLog,
    options: RunOptions,
    done: int,
) -> int:
    """Annotate the ``numbered`` input lines and write them with ``writer`` (entered
    here), recording skipped lines in ``log``; returns the documents written.

    Args:
        nlp: the pipeline.
        numbered: (line number, (text, passthrough fields) or the line's error).
        writer: the output's writer (``write(doc, meta, line)``, ``flush()``).
        log: the errors file.
        options: how to run (:class:`RunOptions`).
        done: the input lines done by earlier runs, for the messages.
    """
    if options.progress is STDERR:
        options.progress = sys.stderr
    items = (_item(number, parsed) for number, parsed in numbered)
    counts, start = Counts(done, done), time.perf_counter()
    outcomes = pipe_each(nlp, items, options.batch_size, options.n_process)
    interrupted = False
    try:
        with writer, closing(outcomes):
            for (number, meta), outcome in outcomes:
                if isinstance(outcome, Doc):
                    writer.write(outcome, meta, number)
                    counts.written += 1
                else:
                    _failed(options, log, number, meta, outcome)
                    counts.skipped += 1
                counts.last = number
                if (counts.written + counts.skipped) % options.batch_size == 0:
                    writer.flush()
                    _report(options.progress, counts, start)
    except KeyboardInterrupt:
        interrupted = True
        raise Interrupted(
            f"stopped (Ctrl-C) after line {counts.last} of {options.input_path}: "
            f"{options.output_path} holds every document up to it; run the same "
            "command again to resume"
        ) from None
    finally:
        log.close()
        _report(options.progress, counts, start, log, end="\n", short=interrupted)
    return counts.written


def _item(number: int, parsed: Any) -> Tuple[Union[str, BaseException], Any]:
    """A line for :func:`pipe_each`: its text, or its error (no passthrough fields:
    ``None`` tells it from a document's failure)."""
    if isinstance(parsed, BaseException):
        return parsed, (number, None)
    text, meta = parsed
    return text, (number, meta)


def _failed(
    options: RunOptions,
    log: ErrorLog,
    number: int,
    meta: Optional[Dict[str, Any]],
    error: BaseException,
) -> None:
    """A line that is no document (its error names its FILE:LINE) or whose document
    failed in the pipeline: raise (``stop``) or record it (``skip``)."""
    where = f"{options.input_path}:{number}"
    message = str(error) if meta is None else failure_message(where, error)
    if options.on_error == "stop":  # the words of --ray's, which it must equal
        raise ValueError(message)
    log.write(str(options.input_path), number, message)


def _report(
    progress: Optional[IO[str]],
    counts: Counts,
    start: float,
    log: Optional[ErrorLog] = None,
    end: str = "",
    short: bool = False,
) -> None:
    """The progress line (``end="\\n"``: the last one, with the totals; ``short``:
    only the line break, after Ctrl-C)."""
    if progress is None:
        return
    if short:
        progress.write(end)
        return
    rate = counts.written / max(time.perf_counter() - start, 1e-9)
    line = f"\r{counts.done + counts.written} documents ({rate:.1f} docs/s)"
    if end:
        line += f"; {counts.written} new, {counts.done} lines resumed"
    if counts.skipped:
        where = f", listed in {log.path}" if log is not None else ""
        line += f"; {counts.skipped} lines skipped{where}"
    progress.write(line + end)
