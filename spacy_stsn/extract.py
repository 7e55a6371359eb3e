"""Batch extraction for people who do not write Python: text or JSONL in, JSONL (or brat) out, streamed and
resumable.

Input is read line by line and output is written and flushed batch by batch, so memory does not grow with the
file and a crash loses at most the batch in flight: run the same command again and it continues after the
last complete output line (one output line per input line, in order).
"""

import json
import sys
import time
from pathlib import Path
from typing import IO, Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from spacy.tokens import Doc

from .annotations import DEFAULT_SPANS_KEY, get_entities, relation_arguments
from .brat import BratWriter
from .loading import load_pipeline


def doc_to_record(
    doc: Doc, spans_key: str = DEFAULT_SPANS_KEY, tags: bool = False
) -> Dict[str, Any]:
    """Entities (char offsets, label, score), relations (indices into the entities) and optionally tags."""
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


def output_line(text: str, meta: Dict[str, Any], record: Dict[str, Any]) -> str:
    """One output JSON line: the text, the input's other fields, then the annotations of :func:`doc_to_record`."""
    return json.dumps({"text": text, **meta, **record}, ensure_ascii=False) + "\n"


def input_format(path: Path, fmt: str = "auto") -> str:
    """``text`` or ``jsonl``: ``auto`` means JSONL for .jsonl/.json files, else text."""
    if fmt == "auto":
        return "jsonl" if path.suffix in (".jsonl", ".json") else "text"
    return fmt


def read_inputs(
    path: Path, fmt: str, text_key: str, skip: int
) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """(text, passthrough fields) per input line, after the first ``skip`` lines."""
    with path.open(encoding="utf8") as handle:
        yield from parse_lines(handle, path, input_format(path, fmt), text_key, skip)


def parse_lines(
    lines: Iterable[str], name: Any, fmt: str, text_key: str, skip: int = 0
) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """:func:`read_inputs` over an open text stream; errors name the input ``name`` and the line number."""
    for number, line in enumerate(lines, 1):
        if number > skip:
            yield parse_line(line, name, number, fmt, text_key)


def parse_line(
    line: str, name: Any, number: int, fmt: str, text_key: str
) -> Tuple[str, Dict[str, Any]]:
    """(text, passthrough fields) of line ``number`` of the input ``name``; ``ValueError`` naming both if it
    is malformed."""
    line = line.rstrip("\n").rstrip("\r")
    if fmt == "text":
        return line, {}
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise ValueError(f"{name}:{number}: not a JSON object ({err.msg})") from None
    if not isinstance(record, dict) or not isinstance(record.get(text_key), str):
        raise ValueError(
            f"{name}:{number}: expected an object with a string field {text_key!r}"
        )
    meta = {k: v for k, v in record.items() if k != text_key}
    return record[text_key], meta


def completed_lines(path: Path) -> int:
    """Complete lines already in ``path``; a torn last line (a crash mid-write) is cut off."""
    if not path.exists():
        return 0
    with path.open("rb+") as handle:
        data = handle.read()
        complete = data.rfind(b"\n") + 1
        if complete < len(data):
            handle.truncate(complete)
    return data[:complete].count(b"\n")


class JsonlWriter:
    """One JSON line per document, appended after the complete lines already in the file (or over them)."""

    def __init__(self, path: Path, spans_key: str, tags: bool, resume: bool) -> None:
        self.path, self.spans_key, self.tags, self.resume = (
            path,
            spans_key,
            tags,
            resume,
        )
        self.done = completed_lines(path) if resume else 0

    def __enter__(self) -> "JsonlWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.out = self.path.open("a" if self.resume else "w", encoding="utf8")
        return self

    def write(self, doc: Doc, meta: Dict[str, Any]) -> None:
        self.out.write(
            output_line(doc.text, meta, doc_to_record(doc, self.spans_key, self.tags))
        )

    def flush(self) -> None:
        self.out.flush()

    def __exit__(self, *exc: Any) -> None:
        self.out.close()


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
    inference_precision: Optional[str] = None,
    output_format: str = "jsonl",
) -> int:
    """Extract from every input line into ``output_path``: a JSONL file, or a folder for
    ``output_format="brat"`` (see :class:`spacy_stsn.brat.BratWriter`). Returns the documents written now."""
    if output_format == "brat" and tags:
        raise ValueError(
            "tags are written to JSONL output only (brat has no place for them)"
        )
    nlp, stsn = load_pipeline(model, inference_precision=inference_precision)
    if output_format == "brat":
        resumed = read_inputs(input_path, fmt, text_key, 0) if resume else None
        writer: Union[BratWriter, JsonlWriter] = BratWriter(
            output_path, input_path, stsn.spans_key, resumed
        )
    else:
        writer = JsonlWriter(output_path, stsn.spans_key, tags, resume)
    done = writer.done
    failure: List[ValueError] = []
    inputs = _until_error(read_inputs(input_path, fmt, text_key, done), failure)
    written, start = 0, time.perf_counter()
    with writer:
        docs = nlp.pipe(
            inputs, as_tuples=True, batch_size=batch_size, n_process=n_process
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


def _until_error(
    inputs: Iterator[Tuple[str, Dict[str, Any]]], failure: List[ValueError]
) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """Yield the inputs up to a bad line, then stop cleanly and keep its error: ``nlp.pipe`` then finishes the
    batch in flight, so every document before the bad line is written before the error is raised."""
    try:
        yield from inputs
    except ValueError as err:
        failure.append(err)
