"""SpERT JSON <-> spaCy Docs: the benchmarks' format (CoNLL04, ADE, ACE05 as SpERT ships
them) to ``.spacy``.

A record is ``{"tokens", "entities": [{"type", "start", "end"}], "relations": [{"type",
"head", "tail"}], "orig_id"}`` with exclusive ``end`` and relations that index the
entity list. Entities may be unsorted and may nest (ADE); relations are stored by span
offsets, so re-sorting entities needs no index remapping.

Every problem raises a ``ValueError`` naming the file, the document and the fault;
nothing is dropped silently. ``tokens`` and ``entities`` are required; a key outside the
four above is an error (a misspelt ``relation`` would otherwise convert to no
relations). ``relations`` may be left out for an entities-only
(NER) corpus, but only by every document of a file: the first document decides, a later
      one that differs is an error, and a warning says the file was read as entities
      only. A token must be a non-empty string without whitespace (spaCy would split it
      on a round trip). An entity listed twice (same start, end and type) is an error:
      it cannot be told apart from its copy in a span group, so relations to either
      would merge (the SpERT data has none). Duplicate relations and self-relations are
      kept as given.

Files (:func:`read_spert`) are a JSON list, parsed as a stream with ijson, or JSONL (one
document a line), told apart by their first character; a UTF-8 byte order mark is
skipped. :func:`write_docbin` keeps memory flat with the corpus's size: past
``part_tokens`` tokens it writes ``OUTPUT`` as a folder of ``part-NNNNN.spacy`` files,
which spaCy's ``Corpus`` (``spacy train --paths.train OUTPUT``) and :func:`read_docbin`
read as one corpus; a smaller corpus is one ``.spacy`` file as before.
"""

import difflib
import functools
import json
import re
import warnings
from collections import Counter
from contextlib import contextmanager
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
from spacy.tokens import Doc, DocBin
from spacy.training.corpus import walk_corpus
from spacy.vocab import Vocab
from srsly import msgpack as srsly_msgpack

from ..files import remove, remove_temporaries, replacing
from ..pipeline.annotations import (
    DEFAULT_SPANS_KEY,
    SYMMETRIC_KEY,
    get_entities,
    make_relation,
    relation_arguments,
    set_entities,
)
from .types import check_label

KEYS = ("tokens", "entities", "relations", "orig_id")
# a part of a large corpus: DocBin takes ~0.5 kB a token while it is built and
# serialised (the peak of `convert` on repeated CoNLL04 was 336 / 561 / 845 MiB with
# parts of 0.1 / 0.5 / 1 M tokens); CoNLL04's train has 26,525 tokens, ADE 90,714, so
# the benchmark datasets stay one file
PART_TOKENS = 500_000
_PART = re.compile(r"part-[0-9]{5}\.spacy")
_SPACE = re.compile(r"\s")
_BOM = b"\xef\xbb\xbf"


def _read_json(path: Union[str, Path], expected: str) -> Any:
    """A small JSON file (a types file), or an error naming it and what it should
    hold."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(
            f"{path}: cannot read it ({err}); expected {expected}"
        ) from None
    try:
        return json.loads(text)
    except ValueError as err:
        raise ValueError(
            f"{path}: not valid JSON ({err}); expected {expected}"
        ) from None


def load_types(path: Union[str, Path]) -> Tuple[List[str], List[str]]:
    """Entity and relation labels of a SpERT types file, to reject labels a corpus
    should not have."""
    expected = "a JSON object with objects 'entities' and 'relations'"
    types = _read_json(path, f"a SpERT types file, {expected}")
    if not isinstance(types, dict) or not all(
        isinstance(types.get(k), dict) for k in ("entities", "relations")
    ):
        raise ValueError(f"{path}: not a SpERT types file (expected {expected})")
    return list(types["entities"]), list(types["relations"])


def load_symmetric(path: Union[str, Path]) -> List[str]:
    """Relation types a SpERT types file marks ``"symmetric": true`` (argument order
    carries no meaning)."""
    _, relations = load_types(path)
    described = _read_json(path, "a SpERT types file")["relations"]
    return sorted(
        label
        for label in relations
        if isinstance(described[label], dict)
        and described[label].get("symmetric") is True
    )


def _where(source: str, index: int, record: Any) -> str:
    """Name a record in error messages; there is no Doc yet for :func:`doc_name`."""
    orig_id = record.get("orig_id") if isinstance(record, dict) else None
    return f"{source}: document #{index}" + (
        f" (orig_id={orig_id})" if orig_id is not None else ""
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _objects(record: Dict[str, Any], key: str, where: str) -> List[Dict[str, Any]]:
    items = record.get(key, [])
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ValueError(f"{where}: '{key}' must be a list of objects, got {items!r}")
    return items


def _check_keys(record: Dict[str, Any], where: str) -> None:
    unknown = [key for key in record if key not in KEYS]
    if unknown:
        guesses = difflib.get_close_matches(str(unknown[0]), KEYS, n=1)
        hint = f"; did you mean {guesses[0]!r}?" if guesses else ""
        raise ValueError(
            f"{where}: unknown key {unknown[0]!r} (a SpERT document has 'tokens', "
            f"'entities', 'relations' and optionally 'orig_id'){hint}"
        )
    if "tokens" not in record:
        raise ValueError(f"{where}: no 'tokens'")
    if "entities" not in record:
        raise ValueError(
            f"{where}: no 'entities' key (a document without entities has "
            '"entities": [])'
        )


def _check_tokens(tokens: Any, where: str) -> None:
    if not isinstance(tokens, list):
        raise ValueError(f"{where}: 'tokens' must be a list of strings, got {tokens!r}")
    if not tokens:
        raise ValueError(f"{where}: the document has no tokens")
    if (
        all(isinstance(t, str) and t for t in tokens)
        and _SPACE.search("".join(tokens)) is None
    ):
        return
    for i, token in enumerate(tokens):
        if not isinstance(token, str):
            problem = "is not a string"
        elif not token:
            problem = "is empty"
        elif token.isspace():
            problem = "is only whitespace"
        elif _SPACE.search(token):
            problem = "contains whitespace"
        else:
            continue
        raise ValueError(
            f"{where}: token {i} {token!r} {problem} (a token is a non-empty string "
            "without spaces or line breaks, or its text would not tokenise back to it)"
        )


def _check_record(
    record: Any,
    where: str,
    entity_labels: Optional[Sequence[str]],
    relation_labels: Optional[Sequence[str]],
) -> None:
    """Raise on anything that would make a wrong or partial Doc."""
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected an object, got {type(record).__name__}")
    _check_keys(record, where)
    tokens = record["tokens"]
    _check_tokens(tokens, where)
    entities = _objects(record, "entities", where)
    seen = set()
    for i, ent in enumerate(entities):
        start, end, label = ent.get("start"), ent.get("end"), ent.get("type")
        check_label(label, entity_labels, f"entity {i}", where)
        if not _is_int(start) or not _is_int(end):
            raise ValueError(
                f"{where}: entity {i} ({label}) has non-integer start/end {start!r}/{end!r}"
            )
        if end <= start:
            raise ValueError(
                f"{where}: entity {i} ({label}) has end {end} <= start {start}"
            )
        if start < 0 or end > len(tokens):
            raise ValueError(
                f"{where}: entity {i} ({label}) span [{start}, {end}) is outside the sentence's {len(tokens)} tokens"
            )
        if (start, end, label) in seen:
            raise ValueError(
                f"{where}: entity {i} ({label}, [{start}, {end})) is listed twice"
            )
        seen.add((start, end, label))
    for i, rel in enumerate(_objects(record, "relations", where)):
        label = rel.get("type")
        check_label(label, relation_labels, f"relation {i}", where)
        for arg in ("head", "tail"):
            value = rel.get(arg)
            if not _is_int(value) or not 0 <= value < len(entities):
                raise ValueError(
                    f"{where}: relation {i} ({label}) {arg} {value!r} does not index one of the "
                    f"{len(entities)} entities"
                )


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
        where = _where(source, index, record)
        _check_record(record, where, entity_labels, relation_labels)
        if first is None:
            first = (where, "relations" in record)
            if not first[1]:
                warnings.warn(
                    f"{where} has no 'relations' key: the file is read as entities only "
                    "(every document must then leave the key out)"
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


class CorpusStats:
    """Counts to check a conversion against a dataset's published statistics, added one
    Doc at a time."""

    def __init__(self, spans_key: str = DEFAULT_SPANS_KEY) -> None:
        self.spans_key = spans_key
        self.documents = self.tokens = self.overlapping = 0
        self.entity_types: Counter = Counter()
        self.relation_types: Counter = Counter()

    def add(self, doc: Doc) -> None:
        ents = sorted(get_entities(doc, self.spans_key))
        self.documents += 1
        self.tokens += len(doc)
        self.entity_types.update(label for _, _, label in ents)
        self.relation_types.update(r["label"] for r in doc._.relations)
        # sorted by start, some pair overlaps iff some neighbouring pair does
        self.overlapping += any(a[1] > b[0] for a, b in zip(ents, ents[1:]))

    def as_dict(self) -> Dict[str, Any]:
        return {
            "documents": self.documents,
            "tokens": self.tokens,
            "entities": sum(self.entity_types.values()),
            "relations": sum(self.relation_types.values()),
            "entity_types": dict(sorted(self.entity_types.items())),
            "relation_types": dict(sorted(self.relation_types.items())),
            "docs_with_overlapping_entities": self.overlapping,
        }


def corpus_stats(
    docs: Iterable[Doc], spans_key: str = DEFAULT_SPANS_KEY
) -> Dict[str, Any]:
    """:class:`CorpusStats` of a whole corpus."""
    stats = CorpusStats(spans_key)
    for doc in docs:
        stats.add(doc)
    return stats.as_dict()


@contextmanager
def cached_msgpack_extensions() -> Iterator[None]:
    """Look srsly's msgpack extensions up once for the block instead of on every
    (de)serialisation.

    srsly scans the entry points and the catalogue registry on each
    ``msgpack_dumps``/``msgpack_loads`` (~0.7 ms); ``DocBin`` makes three such calls a
    document with user data and a span group, which made writing ADE (4,272 docs) take
    ~12 s instead of ~2 s, and reading it back as long. Extensions registered inside the
    block are not seen.
    """
    registries = [
        registry
        for registry in (srsly_msgpack.msgpack_encoders, srsly_msgpack.msgpack_decoders)
        if "get_all" not in vars(registry)  # not already cached by an enclosing block
    ]
    for registry in registries:
        registry.get_all = functools.partial(dict, registry.get_all())
    try:
        yield
    finally:
        for registry in registries:
            del registry.get_all


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


def _is_parts_folder(path: Path) -> bool:
    return path.is_dir() and all(
        entry.is_file() and _PART.fullmatch(entry.name) for entry in path.iterdir()
    )


def write_docbin(
    docs: Iterable[Doc],
    output_path: Union[str, Path],
    spans_key: str = DEFAULT_SPANS_KEY,
    part_tokens: Optional[int] = None,
) -> Dict[str, Any]:
    """Write docs as ``.spacy`` (user data kept: relations too) and return their
    statistics, with ``spacy_files``: 1 for a single file, else the number of
    ``OUTPUT/part-NNNNN.spacy`` files, each of at most ``part_tokens`` (default
    :data:`PART_TOKENS`) tokens, or one document. The docs are streamed; all is written
    under a hidden temporary name beside ``OUTPUT`` and moved to ``OUTPUT`` only when
    the last one is in (:func:`spacy_stsn.files.replacing`), so an error leaves
    ``OUTPUT`` as it was. A folder ``OUTPUT`` is replaced only if it holds
    nothing but part files."""
    part_tokens = PART_TOKENS if part_tokens is None else part_tokens
    if part_tokens < 1:
        raise ValueError(f"a part holds at least one token, not {part_tokens}")
    output = Path(output_path)
    if output.is_dir() and not _is_parts_folder(output):
        raise ValueError(
            f"{output}: a folder with other files than part-NNNNN.spacy; not replacing it"
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    remove_temporaries(output)  # left by a killed run
    stats = CorpusStats(spans_key)
    part, tokens, parts = DocBin(store_user_data=True), 0, 0
    with replacing(output) as staging, cached_msgpack_extensions():
        for doc in docs:
            if len(part) and tokens + len(doc) > part_tokens:
                staging.mkdir(exist_ok=True)
                part.to_disk(staging / f"part-{parts:05d}.spacy")
                part, tokens, parts = DocBin(store_user_data=True), 0, parts + 1
            part.add(doc)
            tokens += len(doc)
            stats.add(doc)
        # a part is flushed only when a document follows, so the last one is never
        # empty
        part.to_disk(staging / f"part-{parts:05d}.spacy" if parts else staging)
        if output.is_dir() or staging.is_dir():
            remove(output)  # a rename replaces a file, not a folder
    return {**stats.as_dict(), "spacy_files": parts + 1}


def read_docbin(path: Union[str, Path], vocab: Vocab) -> Iterator[Doc]:
    """The Docs of a ``.spacy`` file or of a folder of them (as :func:`write_docbin`
    writes a large corpus), found as spaCy's ``Corpus`` finds them; unlike ``Corpus`` it
    keeps empty documents."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such .spacy file or folder")
    for location in walk_corpus(path, ".spacy"):
        # the cache is global: not held across a yield
        with cached_msgpack_extensions():
            docs = list(DocBin().from_disk(location).get_docs(vocab))
        yield from docs
