"""One bad document fails alone: the documents that fail inside the pipeline, and the
record of the lines a run skipped (``extract --on-error skip``, local or ``--ray``).

:func:`pipe_each` runs ``nlp.pipe`` as usual, in batches, and only when a batch fails
runs that batch's documents one by one, to find the one that fails and give every other
its Doc; then it goes on in batches. Each failure comes back in its document's place,
and the caller decides: stop there (``--on-error stop``, the default: every document
before it is written, and the error names its ``FILE:LINE``) or record it and go on
(``skip``).

A skipped line is recorded as one JSON line ``{"file", "line", "error"}``
(:func:`error_line`), in ``OUTPUT.errors.jsonl`` next to a file OUTPUT, or a folder
OUTPUT of ``--ray`` shards' ``_errors/``. A local run reads its file back to resume
(:func:`recorded_lines`): the lines it lists were done.
"""

import json
import os
from collections import deque
from itertools import chain
from pathlib import Path
from typing import (
    Any,
    Deque,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Tuple,
    TypeVar,
    Union,
)

from spacy.language import Language
from spacy.tokens import Doc

ON_ERROR = ("stop", "skip")
ERRORS_SUFFIX = ".errors.jsonl"
Context = TypeVar("Context")
# a text to annotate, or the error of a line that is no document (passed through)
Item = Tuple[Union[str, BaseException], Context]


def check_on_error(on_error: str) -> None:
    """``ValueError`` unless ``on_error`` is one of :data:`ON_ERROR`."""
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error: one of {ON_ERROR}, not {on_error!r}")


def failure_message(where: str, err: BaseException) -> str:
    """What a document that failed inside the pipeline reports: ``where`` (its
    ``FILE:LINE``), then the exception's type and message."""
    return f"{where}: the pipeline failed on this document: {type(err).__name__}: {err}"


def error_line(file: Optional[str], line: Optional[int], error: Optional[str]) -> str:
    """A skipped line's record: one JSON line."""
    record = {"file": file, "line": line, "error": error}
    return json.dumps(record, ensure_ascii=False) + "\n"


def errors_path(output: Path) -> Path:
    """``OUTPUT.errors.jsonl``, next to the output file or folder."""
    absolute = Path(os.path.abspath(output))
    return absolute.with_name(absolute.name + ERRORS_SUFFIX)


def recorded_lines(path: Path) -> Dict[int, str]:
    """The line numbers (and records) in the errors file ``path``; a torn last record
    (a crash mid-write) is left out."""
    if not path.exists():
        return {}
    lines = {}
    with path.open("rb") as handle:
        for raw in handle:
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("line"), int):
                lines[record["line"]] = raw.decode("utf8").rstrip("\n") + "\n"
    return lines


class ErrorLog:
    """The errors file of a local run: each record is written and flushed at once, so
    that it is on disk before any later document of the output (a resume relies on
    it). Created at the first record; ``keep`` (a resume) starts it with the records
    of the lines already done, in order, and drops the others."""

    def __init__(self, path: Path, keep: Optional[Dict[int, str]] = None) -> None:
        self.path, self.handle = path, None
        if keep:
            partial = path.with_name(path.name + ".partial")
            partial.write_text("".join(keep[n] for n in sorted(keep)), encoding="utf8")
            os.replace(partial, path)
            self.handle = path.open("a", encoding="utf8")
        else:
            path.unlink(missing_ok=True)

    def write(self, file: str, line: int, error: str) -> None:
        if self.handle is None:
            self.handle = self.path.open("a", encoding="utf8")
        self.handle.write(error_line(file, line, error))
        self.handle.flush()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def pipe_each(
    nlp: Language,
    items: Iterable[Item],
    batch_size: int = 64,
    n_process: int = 1,
) -> Iterator[Tuple[Any, Union[Doc, BaseException]]]:
    """(context, Doc or the exception it raised) for each (text, context) of ``items``,
    in order; an item whose text is an exception is passed through as its outcome, never
    reaching the pipeline.

    ``nlp.pipe`` annotates the texts in batches of ``batch_size`` (on ``n_process``
    processes); when it fails, the first ``batch_size`` texts it had not given back (the
    batch that failed, whichever component or process it failed in) are annotated one
    by one with ``nlp(text)``, and ``nlp.pipe`` starts again after them. A document
    annotated alone may differ from its batched annotation in the last float bits of
    its scores, as any document does across batches. An error of ``items`` itself (the
    input) is raised after the documents before it."""
    source: Iterator[Item] = iter(items)
    while True:
        pending: Deque[Item] = deque()
        broken: List[BaseException] = []
        texts = _feed(source, pending, broken)
        docs = nlp.pipe(
            texts, as_tuples=True, batch_size=batch_size, n_process=n_process
        )
        try:
            for doc, context in docs:
                yield from _passed_through(pending)
                pending.popleft()
                yield context, doc
        except Exception:  # a document of the first batch in ``pending`` failed
            docs.close()
            if broken:
                raise broken[0] from None
            retry = _first_texts(pending, batch_size)
            if all(isinstance(text, BaseException) for text, _ in retry):
                raise  # no document to blame: the pipeline's own failure
            for text, context in retry:
                yield context, _annotate_alone(nlp, text)
            source = chain(pending, source)
            continue
        yield from _passed_through(pending)
        if broken:
            raise broken[0]
        return


def _feed(
    source: Iterator[Item], pending: Deque[Item], broken: List[BaseException]
) -> Iterator[Tuple[str, Any]]:
    """The texts of ``source`` for ``nlp.pipe``; every item read goes to ``pending``
    until its outcome is given back, and an error of the source itself ends the texts
    (into ``broken``) rather than passing for a document's."""
    while True:
        try:
            item = next(source)
        except StopIteration:
            return
        except Exception as err:
            broken.append(err)
            return
        pending.append(item)
        if not isinstance(item[0], BaseException):
            yield item  # type: ignore[misc]


def _passed_through(pending: Deque[Item]) -> Iterator[Tuple[Any, BaseException]]:
    """The items at the front of ``pending`` that are errors, as outcomes."""
    while pending and isinstance(pending[0][0], BaseException):
        error, context = pending.popleft()
        yield context, error  # type: ignore[misc]


def _first_texts(pending: Deque[Item], n: int) -> List[Item]:
    """Take the first ``n`` texts off ``pending``, with the errors among them (in
    order)."""
    taken: List[Item] = []
    texts = 0
    while pending and texts < n:
        item = pending.popleft()
        taken.append(item)
        texts += not isinstance(item[0], BaseException)
    return taken


def _annotate_alone(nlp: Language, text: Union[str, BaseException]) -> Any:
    if isinstance(text, BaseException):
        return text
    try:
        return nlp(text)
    except Exception as err:
        return err
