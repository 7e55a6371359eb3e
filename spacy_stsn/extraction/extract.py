"""Batch extraction for people who do not write Python: text or JSONL in, JSONL (or
brat) out, streamed and resumable.

Input is read line by line and output is written and flushed batch by batch, so memory
does not grow with the file and a crash loses at most the batch in flight: run the same
command again and it continues after the last complete output line (one output line per
input line, in order).

Input lines are read as bytes and end at ``\\n`` or ``\\r\\n`` only (not at a bare
``\\r``, unlike Python's universal newlines: a ``\\r`` inside a text stays in its
document, as it does in a JSON string), then decoded one by one, so an invalid UTF-8
byte, a malformed JSONL line or a text longer than ``nlp.max_length`` stops the run with
``FILE:LINE`` after every document before it has been written. A UTF-8 byte order mark
before the first line is dropped.

Nothing is lost or mixed up: the output may not be the input
(:mod:`spacy_stsn.extraction.outputs`); a resume checks the output's sidecar (the input,
the model and the options of the run that wrote it) and, when the input has changed
since (a bad line fixed), that the documents already written are the input's first ones;
input fields named like the predictions are refused rather than overwritten.
"""

import json
import os
import re
import sys
import time
from itertools import islice, zip_longest
from pathlib import Path
from typing import (
    IO,
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from spacy.tokens import Doc

from ..formats.brat import BratWriter
from ..pipeline.annotations import DEFAULT_SPANS_KEY, get_entities, relation_arguments
from ..pipeline.loading import load_pipeline
from .outputs import (
    input_fingerprint,
    model_identity,
    read_sidecar,
    refuse_overwriting_inputs,
    settings_differences,
    sidecar_path,
    write_sidecar,
)

# The fields that :func:`doc_to_record` adds to each output record (the tag fields with
# ``tags`` only): an input field of one of these names would be overwritten, so it is an
# error.
PREDICTION_FIELDS = ("entities", "relations")
TAG_FIELDS = ("tokens", "tags")
Inputs = Iterator[Tuple[str, Dict[str, Any]]]
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def prediction_fields(tags: bool = False) -> Tuple[str, ...]:
    """The fields the output records get from the predictions."""
    return PREDICTION_FIELDS + (TAG_FIELDS if tags else ())


def doc_to_record(
    doc: Doc, spans_key: str = DEFAULT_SPANS_KEY, tags: bool = False
) -> Dict[str, Any]:
    """Entities (char offsets, label, score), relations (indices into the entities) and
    optionally tags."""
    group = doc.spans[spans_key] if spans_key in doc.spans else None
    scores = list(group.attrs.get("scores", [])) if group is not None else []
    ents = get_entities(doc, spans_key)
    entities = []
    for i, (start, end, label) in enumerate(ents):
        span = doc[start:end]
        entities.append(
            {
                "text": span.text,
                "label": label,
                "start_char": span.start_char,
                "end_char": span.end_char,
                "start": start,
                "end": end,
                "score": float(scores[i]) if i < len(scores) else 1.0,
            }
        )
    relations = [
        {
            "head": head,
            "tail": tail,
            "label": rel["label"],
            "score": float(rel["score"]),
        }
        for rel, (head, tail) in zip(
            doc._.relations, relation_arguments(doc, ents, spans_key)
        )
    ]
    record: Dict[str, Any] = {"entities": entities, "relations": relations}
    if tags:
        record["tokens"] = [t.text for t in doc]
        record["tags"] = doc._.stsn_tags
    return record


def output_line(
    text: str, meta: Dict[str, Any], record: Dict[str, Any], text_key: str = "text"
) -> str:
    """One output JSON line: the text under ``text_key`` (the key it was read from, so
    that the character offsets refer to that field), the input's other fields, then the
    annotations of :func:`doc_to_record`."""
    return json.dumps({text_key: text, **meta, **record}, ensure_ascii=False) + "\n"


def input_format(path: Path, fmt: str = "auto") -> str:
    """``text`` or ``jsonl``: ``auto`` means JSONL for .jsonl/.json files, else text."""
    if fmt == "auto":
        return "jsonl" if path.suffix in (".jsonl", ".json") else "text"
    return fmt


def read_inputs(
    path: Path,
    fmt: str,
    text_key: str,
    skip: int,
    *,
    max_length: Optional[int] = None,
    reserved: Sequence[str] = PREDICTION_FIELDS,
) -> Inputs:
    """(text, passthrough fields) per input line, after the first ``skip`` lines (see
    :func:`parse_lines`)."""
    with path.open("rb") as handle:
        yield from parse_lines(
            handle,
            path,
            input_format(path, fmt),
            text_key,
            skip,
            max_length=max_length,
            reserved=reserved,
        )


def parse_lines(
    lines: Iterable[Union[bytes, str]],
    name: Any,
    fmt: str,
    text_key: str,
    skip: int = 0,
    *,
    max_length: Optional[int] = None,
    reserved: Sequence[str] = PREDICTION_FIELDS,
    first: int = 1,
) -> Inputs:
    """:func:`read_inputs` over lines of a stream; errors name the input ``name`` and
    the line number (``first``: the number of the stream's first line, for a part of a
    file).

    Give it a binary stream (its lines end at ``\\n`` only, and each is decoded on its
    own); a text stream opened with universal newlines has already split lines at a bare
    ``\\r``. A text longer than ``max_length`` characters (spaCy's ``nlp.max_length``)
    and a JSONL field named like one of ``reserved`` (:func:`prediction_fields`) are
    errors."""
    for number, line in enumerate(lines, first):
        if number <= skip:
            continue
        if isinstance(line, bytes):
            line = _decode(line, name, number)
        if line.endswith("\n"):
            line = line[:-1].removesuffix("\r")
        if number == 1:
            line = line.removeprefix("\ufeff")
        if fmt == "text":
            text, meta = line, {}
        else:
            text, meta = _parse_record(line, name, number, text_key, reserved)
            # a lone surrogate (JSON can escape one) is no character: spaCy's
            # tokenizer cannot take it; U+FFFD in its place keeps every offset
            text = LONE_SURROGATE.sub("\ufffd", text)
        if max_length is not None and len(text) > max_length:
            raise ValueError(
                f"{name}:{number}: the text has {len(text):,} characters, more than the "
                f"pipeline's max_length of {max_length:,} (spaCy's E088); raise it with "
                "--max-length N if the machine has the memory for such a document"
            )
        yield text, meta


def _decode(line: bytes, name: Any, number: int) -> str:
    try:
        return line.decode("utf8")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{name}:{number}: not UTF-8: {err.object[err.start : err.end]!r} at byte "
            f"{err.start + 1} of the line ({err.reason})"
        ) from None


def _parse_record(
    line: str, name: Any, number: int, text_key: str, reserved: Sequence[str]
) -> Tuple[str, Dict[str, Any]]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise ValueError(f"{name}:{number}: not a JSON object ({err.msg})") from None
    if not isinstance(record, dict) or not isinstance(record.get(text_key), str):
        raise ValueError(
            f"{name}:{number}: expected an object with a string field {text_key!r}"
        )
    clash = next((field for field in reserved if field in record), None)
    if clash is not None:
        raise ValueError(
            f"{name}:{number}: the input field {clash!r} would be overwritten by the "
            f"predictions (the fields {', '.join(reserved)}); rename it"
        )
    return record[text_key], {k: v for k, v in record.items() if k != text_key}


def complete_prefix(path: Path) -> Tuple[int, int]:
    """The complete lines of ``path`` and their length in bytes (a torn last line is not
    counted), read in blocks so that memory does not grow with the file."""
    lines = end = offset = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            newline = block.rfind(b"\n")
            if newline >= 0:
                lines += block.count(b"\n")
                end = offset + newline + 1
            offset += len(block)
    return lines, end


def completed_lines(path: Path) -> int:
    """Complete lines already in ``path``; a torn last line (a crash mid-write) is cut
    off."""
    if not path.exists():
        return 0
    lines, end = complete_prefix(path)
    if end < path.stat().st_size:
        os.truncate(path, end)
    return lines


class JsonlWriter:
    """One JSON line per document, appended after the complete lines already in the file
    (or over them). Opening nothing until entered: a resume is checked first
    (:func:`check_resume`)."""

    def __init__(
        self,
        path: Path,
        spans_key: str,
        tags: bool,
        resume: bool,
        text_key: str = "text",
    ) -> None:
        self.path, self.spans_key, self.tags, self.resume, self.text_key = (
            path,
            spans_key,
            tags,
            resume,
            text_key,
        )
        exists = resume and path.exists()
        self.size = path.stat().st_size if exists else 0
        self.done, self.complete_bytes = complete_prefix(path) if exists else (0, 0)

    def __enter__(self) -> "JsonlWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.complete_bytes < self.size:  # a torn last line: cut and redone
            os.truncate(self.path, self.complete_bytes)
        self.out = self.path.open("a" if self.resume else "w", encoding="utf8")
        return self

    def write(self, doc: Doc, meta: Dict[str, Any]) -> None:
        record = doc_to_record(doc, self.spans_key, self.tags)
        self.out.write(output_line(doc.text, meta, record, self.text_key))

    def flush(self) -> None:
        self.out.flush()

    def __exit__(self, *exc: Any) -> None:
        self.out.close()


Writer = Union[BratWriter, JsonlWriter]


def extract(
    model: str,
    input_path: Path,
    output_path: Path,
    *,
    fmt: str = "auto",
    text_key: str = "text",
    batch_size: int = 64,
    n_process: int = 1,
    tags: bool = False,
    resume: bool = True,
    progress: Optional[IO[str]] = sys.stderr,
    precision: Optional[str] = None,
    output_format: str = "jsonl",
    max_length: Optional[int] = None,
) -> int:
    """Extract from every input line into ``output_path``: a JSONL file, or a folder for
    ``output_format="brat"`` (see :class:`spacy_stsn.formats.brat.BratWriter`). Returns
    the documents written now. ``max_length`` replaces the pipeline's ``nlp.max_length``
    (the longest text it accepts)."""
    if output_format == "brat" and tags:
        raise ValueError(
            "tags are written to JSONL output only (brat has no place for them)"
        )
    refuse_overwriting_inputs(output_path, [input_path])
    nlp, stsn = load_pipeline(model, precision=precision)
    if max_length is not None:
        nlp.max_length = max_length
    fmt = input_format(input_path, fmt)
    # brat output writes no passthrough field, so none can collide with a prediction
    reserved = prediction_fields(tags) if output_format == "jsonl" else ()

    def inputs(skip: int) -> Inputs:
        return read_inputs(
            input_path,
            fmt,
            text_key,
            skip,
            max_length=nlp.max_length,
            reserved=reserved,
        )

    run = {
        "input": input_fingerprint(input_path),
        "model": model_identity(model),
        "options": {
            "format": fmt,
            "text_key": text_key,
            "tags": tags,
            "output_format": output_format,
            "precision": precision,
        },
    }
    if output_format == "brat":
        writer: Writer = BratWriter(
            output_path, input_path, stsn.spans_key, inputs(0) if resume else None
        )
    else:
        writer = JsonlWriter(output_path, stsn.spans_key, tags, resume, text_key)
    if resume:
        check_resume(output_path, input_path, run, writer, inputs(0))
    write_sidecar(output_path, run)
    done = writer.done
    failure: List[ValueError] = []
    documents = _until_error(inputs(done), failure)
    written, start = 0, time.perf_counter()
    with writer:
        docs = nlp.pipe(
            documents, as_tuples=True, batch_size=batch_size, n_process=n_process
        )
        for doc, meta in docs:
            writer.write(doc, meta)
            written += 1
            if written % batch_size == 0:
                writer.flush()
                if progress is not None:
                    rate = written / (time.perf_counter() - start)
                    progress.write(f"\r{done + written} documents ({rate:.1f} docs/s)")
    if progress is not None:
        rate = written / max(time.perf_counter() - start, 1e-9)
        progress.write(
            f"\r{done + written} documents ({rate:.1f} docs/s); {written} new, {done} resumed\n"
        )
    if failure:
        raise failure[0]
    return written


def _until_error(inputs: Inputs, failure: List[ValueError]) -> Inputs:
    """Yield the inputs up to a bad line, then stop cleanly and keep its error:
    ``nlp.pipe`` then finishes the batch in flight, so every document before the bad
    line is written before the error is raised."""
    try:
        yield from inputs
    except ValueError as err:
        failure.append(err)


def check_resume(
    output: Path,
    input_path: Path,
    run: Dict[str, Any],
    writer: Writer,
    inputs: Inputs,
) -> None:
    """``ValueError`` unless continuing ``output`` with ``run`` (see :func:`extract`)
    mixes nothing: an output that holds documents needs a sidecar with the same model
    and options, and either the same input (path, size, first MiB) or an input whose
    first lines are the documents already written (a bad line fixed after them, lines
    appended)."""
    holds = writer.done > 0 if isinstance(writer, BratWriter) else writer.size > 0
    if not holds:
        return
    again = "run with --restart to start over, or choose another output"
    saved = read_sidecar(output)
    if saved is None:
        raise ValueError(
            f"{output}: it holds output, but no {sidecar_path(output).name} says which input, model and "
            f"options it came from; {again}"
        )
    differences = settings_differences(saved, run)
    if differences:
        raise ValueError(
            f"{output} was written with other settings ({'; '.join(differences)}); {again}"
        )
    if saved.get("input") == run["input"]:
        return
    difference = _first_difference(writer, inputs, input_path)
    if difference is not None:
        source = saved.get("input", {})
        raise ValueError(
            f"{output} holds {writer.done} documents from {source.get('path')} "
            f"({source.get('size')} bytes) that are not the first lines of {input_path}: "
            f"{difference}; {again}"
        )


def _first_difference(
    writer: Writer, inputs: Inputs, input_path: Path
) -> Optional[str]:
    """Where the documents written by ``writer`` and the first input lines first differ,
    or ``None``."""
    expected = islice(inputs, writer.done)
    pairs = zip_longest(_written(writer), expected)
    for number, (got, want) in enumerate(pairs, 1):
        if want is None:
            return f"{input_path} has only {number - 1} lines"
        where, text, meta = got
        if text != want[0] or (meta is not None and meta != want[1]):
            return f"{where} has {text!r:.60} where {input_path}:{number} has {want[0]!r:.60}"
    return None


def _written(writer: Writer) -> Iterator[Tuple[str, Any, Optional[Dict[str, Any]]]]:
    """(where, text, passthrough fields or ``None`` for brat) of each document already
    written."""
    if isinstance(writer, BratWriter):
        for name in sorted(writer.names, key=writer.names.__getitem__):
            path = writer.directory / (name + ".txt")
            yield str(path), path.read_bytes().decode("utf8", "replace"), None
        return
    predictions = prediction_fields(writer.tags)
    with writer.path.open("rb") as handle:
        for number, line in enumerate(islice(handle, writer.done), 1):
            try:
                record = json.loads(line)
            except ValueError:  # not JSON, or not UTF-8
                record = None
            if not isinstance(record, dict):
                yield f"{writer.path}:{number}", line[:60], None
                continue
            text = record.pop(writer.text_key, None)
            meta = {k: v for k, v in record.items() if k not in predictions}
            yield f"{writer.path}:{number}", text, meta
