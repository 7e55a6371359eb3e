"""The input lines of ``extract``: text or JSONL, parsed one line at a time, each bad
line an error that names its ``FILE:LINE``.

Lines are read as bytes and end at ``\\n`` or ``\\r\\n`` only (not at a bare ``\\r``,
unlike Python's universal newlines: a ``\\r`` inside a text stays in its document, as it
does in a JSON string), then decoded one by one, so an invalid UTF-8 byte, a malformed
JSONL line or a text longer than ``nlp.max_length`` is the error of its line alone. A
UTF-8 byte order mark before the first line is dropped.
"""

import json
import re
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, Optional, Sequence, Tuple, Union

from .records import PREDICTION_FIELDS

Inputs = Iterator[Tuple[str, Dict[str, Any]]]
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# (line number, (text, passthrough fields) or the line's error)
Numbered = Iterator[Tuple[int, Union[Tuple[str, Dict[str, Any]], ValueError]]]


def input_format(path: Path, fmt: str = "auto") -> str:
    """``text`` or ``jsonl``: ``auto`` means JSONL for .jsonl/.json files, else text."""
    if fmt == "auto":
        return "jsonl" if path.suffix in (".jsonl", ".json") else "text"
    return fmt


def read_inputs(
    path: Path, fmt: str, text_key: str, skip: int, **options: Any
) -> Inputs:
    """(text, passthrough fields) per input line, after the first ``skip`` lines, up to
    a bad line, whose error is raised; ``options``: :func:`read_numbered`'s."""
    return raising(read_numbered(path, fmt, text_key, skip, **options))


def read_numbered(
    path: Path,
    fmt: str,
    text_key: str,
    skip: int,
    *,
    max_length: Optional[int] = None,
    reserved: Sequence[str] = PREDICTION_FIELDS,
) -> Numbered:
    """(line number, (text, passthrough fields) or the line's error) per line of the
    file ``path`` after the first ``skip`` (see :func:`number_lines`)."""
    with path.open("rb") as handle:
        yield from number_lines(
            handle,
            path,
            input_format(path, fmt),
            text_key,
            skip,
            max_length=max_length,
            reserved=reserved,
        )


def raising(numbered: Numbered) -> Inputs:
    """The parsed lines of ``numbered``, up to a bad line, whose error is raised."""
    for _, parsed in numbered:
        if isinstance(parsed, ValueError):
            raise parsed
        yield parsed


def number_lines(
    lines: Iterable[Union[bytes, str]],
    name: Any,
    fmt: str,
    text_key: str,
    skip: int = 0,
    *,
    max_length: Optional[int] = None,
    reserved: Sequence[str] = PREDICTION_FIELDS,
    first: int = 1,
) -> Numbered:
    """(line number, (text, passthrough fields) or the line's error) for every line
    of a stream after the first ``skip``: reading goes on after a bad line. Errors name
    the input ``name`` and the line number (``first``: the number of the stream's first
    line, for a part of a file).

    Give it a binary stream (its lines end at ``\\n`` only, and each is decoded on its
    own); a text stream opened with universal newlines has already split lines at a bare
    ``\\r``. A text longer than ``max_length`` characters (spaCy's ``nlp.max_length``)
    and a JSONL field named like one of ``reserved`` (:func:`prediction_fields`) are
    errors."""
    for number, line in enumerate(lines, first):
        if number <= skip:
            continue
        try:
            parsed = _parse_line(
                line, name, number, fmt, text_key, max_length, reserved
            )
        except ValueError as err:
            yield number, err
            continue
        yield number, parsed


def _parse_line(
    line: Union[bytes, str],
    name: Any,
    number: int,
    fmt: str,
    text_key: str,
    max_length: Optional[int],
    reserved: Sequence[str],
) -> Tuple[str, Dict[str, Any]]:
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
        # a lone surrogate (JSON can escape one) is no character: spaCy's tokenizer
        # cannot take it; U+FFFD in its place keeps every offset
        text = LONE_SURROGATE.sub("\ufffd", text)
    if max_length is not None and len(text) > max_length:
        raise ValueError(
            f"{name}:{number}: the text has {len(text):,} characters, more than the "
            f"pipeline's max_length of {max_length:,} (spaCy's E088); raise it with "
            "--max-length N if the machine has the memory for such a document"
        )
    return text, meta


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
