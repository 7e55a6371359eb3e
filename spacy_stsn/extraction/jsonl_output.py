"""The JSONL output of the local ``extract``: one line per document, appended after the
complete lines already written, a torn last line (a crash mid-write) cut off."""

import json
import os
from itertools import islice
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple

from spacy.tokens import Doc

from .records import doc_to_record, output_line, prediction_fields


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

    @property
    def holds(self) -> bool:
        """Whether the file holds anything (a torn line too)."""
        return self.size > 0

    def written(self) -> Iterator[Tuple[str, Any, Optional[Dict[str, Any]]]]:
        """(where, text, passthrough fields or ``None`` for a line that is no record)
        of each complete line already written."""
        predictions = prediction_fields(self.tags)
        with self.path.open("rb") as handle:
            for number, line in enumerate(islice(handle, self.done), 1):
                try:
                    record = json.loads(line)
                except ValueError:  # not JSON, or not UTF-8
                    record = None
                if not isinstance(record, dict):
                    yield f"{self.path}:{number}", line[:60], None
                    continue
                text = record.pop(self.text_key, None)
                meta = {k: v for k, v in record.items() if k not in predictions}
                yield f"{self.path}:{number}", text, meta

    def write(self, doc: Doc, meta: Dict[str, Any], line: Optional[int] = None) -> None:
        """Append the document's record (``line``, its input line, names nothing in
        JSONL)."""
        record = doc_to_record(doc, self.spans_key, self.tags)
        self.out.write(output_line(doc.text, meta, record, self.text_key))

    def flush(self) -> None:
        self.out.flush()

    def __exit__(self, *exc: Any) -> None:
        self.out.close()
