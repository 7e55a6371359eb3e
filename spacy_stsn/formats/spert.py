"""SpERT JSON <-> spaCy Docs: the benchmarks' format (CoNLL04, ADE, ACE05 as SpERT ships
them) to ``.spacy``.

A record is ``{"tokens", "entities": [{"type", "start", "end"}], "relations": [{"type",
"head", "tail"}], "orig_id"}`` with exclusive ``end`` and relations that index the
entity list. Entities may be unsorted and may nest (ADE); relations are stored by span
offsets, so re-sorting entities needs no index remapping.

Every problem raises a ``ValueError`` naming the file, the document and the fault;
nothing is dropped silently (the checks: :mod:`spacy_stsn.formats.spert_checks`).
``tokens`` and ``entities`` are required; a key outside the four above is an error (a
misspelt ``relation`` would otherwise convert to no relations). ``relations`` may be
left out for an entities-only (NER) corpus, but only by every document of a file: the
first document decides, a later one that differs is an error, and a warning says the
file was read as entities only. A token must be a non-empty string without whitespace
(spaCy would split it on a round trip). An entity listed twice (same start, end and
type) is an error: it cannot be told apart from its copy in a span group, so relations
to either would merge (the SpERT data has none). Duplicate relations and self-relations
are kept as given.

Files (:func:`read_spert`) are a JSON list, parsed as a stream with ijson, or JSONL (one
document a line), told apart by their first character; a UTF-8 byte order mark is
skipped. :func:`convert_file` writes the Docs through
:func:`spacy_stsn.formats.docbin.write_docbin` (one ``.spacy`` file, or a folder of
parts for a large corpus), which :func:`read_docbin` reads back.
"""

import json
import warnings
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

import ijson
from spacy.tokens import Doc
from spacy.vocab import Vocab

from ..pipeline.annotations import (
    DEFAULT_SPANS_KEY,
    SYMMETRIC_KEY,
    get_entities,
    make_relation,
    relation_arguments,
    set_entities,
)
from .docbin import read_docbin as read_docbin  # the documented import path
from .docbin import write_docbin
from .spert_checks import check_record, record_where
from .types import load_symmetric, load_types

_BOM = b"\xef\xbb\xbf"


def spert_to_docs(
    records: Iterable[Dict[str, Any]],
    vocab: Vocab,
    entity_labels: Optional[Sequence[str]] = None,
    relation_labels: Optional[Sequence[str]] = None,
    spans_key: str = DEFAULT_SPANS_KEY,
    source: str = "<records>",
    symmetric: Sequence[str] = (),
) -> Iterator[Doc]:
    """One Doc per record, with entities in ``doc.spans[spans_key]`` and ``doc.ents``
    and relations in ``doc._.relations``. Label lists, when given, reject labels outside
    them; ``source`` names the input in error messages; ``symmetric`` relation types are
    recorded in ``doc.user_data[SYMMETRIC_KEY]``, which the component reads at
    initialize."""
    located = ((source, record) for record in records)
    return located_to_docs(
        located, vocab, entity_labels, relation_labels, spans_key, symmetric
    )


def located_to_docs(
    located: Iterable[Tuple[str, Any]],
    vocab: Vocab,
    entity_labels: Optional[Sequence[str]] = None,
    relation_labels: Optional[Sequence[str]] = None,
    spans_key: str = DEFAULT_SPANS_KEY,
    symmetric: Sequence[str] = (),
) -> Iterator[Doc]:
    """:func:`spert_to_docs` of ``(where, record)`` pairs, ``where`` naming the file
    (and line) of each."""
    first = None  # where the first document is, and whether it has a 'relations' key
    for index, (source, record) in enumerate(located):
        where = record_where(source, index, record)
        check_record(record, where, entity_labels, relation_labels)
        if first is None:
            first = (where, "relations" in record)
            if not first[1]:
                warnings.warn(
                    f"{where} has no 'relations' key: the file is read as entities only "
                    "(every document must then leave the key out)",
                    stacklevel=2,
                )
        elif ("relations" in record) != first[1]:
            this, that = ("no", "a") if first[1] else ("a", "no")
            raise ValueError(
                f"{where}: {this} 'relations' key, though {first[0]} has {that} 'relations' "
                "key (an entities-only file leaves the key out of every document)"
            )
        tokens = record["tokens"]
        doc = Doc(vocab, words=tokens, spaces=[True] * (len(tokens) - 1) + [False])
        if record.get("orig_id") is not None:
            doc.user_data["orig_id"] = record["orig_id"]
        if symmetric:
            doc.user_data[SYMMETRIC_KEY] = list(symmetric)
        spans = [(e["start"], e["end"], e["type"]) for e in record["entities"]]
        set_entities(doc, spans, spans_key=spans_key)
        relations = []
        for rel in record.get("relations", []):
            head, tail = spans[rel["head"]], spans[rel["tail"]]  # (start, end, label)
            relations.append(
                make_relation(head[:2], head[2], tail[:2], tail[2], rel["type"], 1.0)
            )
        doc._.relations = relations
        yield doc


def _skip_to_content(handle: IO[bytes]) -> bytes:
    """Move past a byte order mark and leading whitespace; return the first byte of
    content (b"" if none)."""
    position = len(_BOM) if handle.read(len(_BOM)) == _BOM else 0
    handle.seek(position)
    while True:
        chunk = handle.read(1 << 16)
        stripped = chunk.lstrip()
        if stripped or not chunk:
            handle.seek(position + len(chunk) - len(stripped))
            return stripped[:1]
        position += len(chunk)


def _json_list(handle: IO[bytes], path: Path) -> Iterator[Tuple[str, Any]]:
    count = 0
    try:
        for record in ijson.items(handle, "item", use_float=True):
            yield str(path), record
            count += 1
    except ijson.JSONError as err:
        reason = str(err).strip().splitlines()[0]
        raise ValueError(
            f"{path}: invalid JSON after {count} complete documents ({reason})"
        ) from None


def _json_lines(handle: IO[bytes], path: Path) -> Iterator[Tuple[str, Any]]:
    for number, line in enumerate(handle, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line.removeprefix(_BOM))
        except ValueError as err:  # UnicodeDecodeError included
            raise ValueError(
                f"{path}:{number}: not a JSON document ({err}); a JSONL file holds one "
                "whole document a line, else give a JSON list of documents"
            ) from None
        yield f"{path}:{number}", record


def read_spert(path: Union[str, Path]) -> Iterator[Tuple[str, Any]]:
    """``(where, record)`` of each document of a SpERT file, read as a stream: a JSON
    list of documents, or JSONL (one document a line; ``where`` then names the line)."""
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as err:
        raise ValueError(f"{path}: cannot read it ({err.strerror})") from None
    with handle:
        first = _skip_to_content(handle)
        if first == b"[":
            yield from _json_list(handle, path)
        elif first == b"{":
            yield from _json_lines(handle, path)
        else:
            raise ValueError(
                f"{path}: expected a JSON list of documents ('[...]') or JSONL (one "
                f"document a line, '{{...}}'), got "
                + (repr(first.decode("latin-1")) if first else "an empty file")
            )


def docs_to_spert(
    docs: Iterable[Doc], spans_key: str = DEFAULT_SPANS_KEY
) -> List[Dict[str, Any]]:
    """The inverse, to export predictions (or check a conversion): entities in document
    order, relations re-indexed to them. A relation whose argument is not among the
    doc's entities raises ``ValueError``."""
    records = []
    for i, doc in enumerate(docs):
        entities = get_entities(doc, spans_key)
        relations = [
            {"type": rel["label"], "head": head, "tail": tail}
            for rel, (head, tail) in zip(
                doc._.relations, relation_arguments(doc, entities, spans_key, i)
            )
        ]
        record: Dict[str, Any] = {
            "tokens": [token.text for token in doc],
            "entities": [
                {"type": label, "start": start, "end": end}
                for start, end, label in entities
            ],
            "relations": relations,
        }
        if doc.user_data.get("orig_id") is not None:
            record["orig_id"] = doc.user_data["orig_id"]
        records.append(record)
    return records


def convert_file(
    input_path: Union[str, Path],
    output_path: Union[str, Path],
    types_path: Optional[Union[str, Path]] = None,
    spans_key: str = DEFAULT_SPANS_KEY,
    part_tokens: Optional[int] = None,
) -> Dict[str, Any]:
    """Convert one SpERT file (a JSON list or JSONL) to ``.spacy`` (user data kept; see
    :func:`write_docbin`) and return its statistics. The output is written only if every
    document converts."""
    entity_labels, relation_labels = (
        load_types(types_path) if types_path else (None, None)
    )
    symmetric = load_symmetric(types_path) if types_path else []
    docs = located_to_docs(
        read_spert(input_path),
        Vocab(),
        entity_labels,
        relation_labels,
        spans_key,
        symmetric,
    )
    return write_docbin(docs, output_path, spans_key, part_tokens)
