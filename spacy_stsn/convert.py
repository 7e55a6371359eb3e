"""SpERT JSON <-> spaCy Docs: the benchmarks' format (CoNLL04, ADE, ACE05 as SpERT ships them) to ``.spacy``.

A record is ``{"tokens", "entities": [{"type", "start", "end"}], "relations": [{"type", "head", "tail"}],
"orig_id"}`` with exclusive ``end`` and relations that index the entity list. Entities may be unsorted and may
nest (ADE); relations are stored by span offsets, so re-sorting entities needs no index remapping.

Every problem raises a ``ValueError`` naming the file, the document and the fault; nothing is dropped
silently. An entity listed twice (same start, end and type) is an error: it cannot be told apart from its copy
in a span group, so relations to either would merge (the SpERT data has none). Duplicate relations and
self-relations are kept as given.
"""

import functools
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import srsly
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab
from srsly import msgpack as srsly_msgpack

from .annotations import (
    DEFAULT_SPANS_KEY,
    SYMMETRIC_KEY,
    get_entities,
    make_relation,
    relation_arguments,
    set_entities,
)


def load_types(path: Union[str, Path]) -> Tuple[List[str], List[str]]:
    """Entity and relation labels of a SpERT types file, to reject labels a corpus should not have."""
    types = srsly.read_json(path)
    if not isinstance(types, dict) or not all(
        isinstance(types.get(k), dict) for k in ("entities", "relations")
    ):
        raise ValueError(
            f"{path}: not a SpERT types file (expected objects 'entities' and 'relations')"
        )
    return list(types["entities"]), list(types["relations"])


def load_symmetric(path: Union[str, Path]) -> List[str]:
    """Relation types a SpERT types file marks ``"symmetric": true`` (argument order carries no meaning)."""
    _, relations = load_types(path)
    described = srsly.read_json(path)["relations"]
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


def _check_label(
    label: Any, labels: Optional[Sequence[str]], what: str, where: str
) -> None:
    if not isinstance(label, str) or not label:
        raise ValueError(f"{where}: {what} has no type (got {label!r})")
    if labels is not None and label not in labels:
        raise ValueError(
            f"{where}: {what} has unknown label {label!r} (types file: {list(labels)})"
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
    if "tokens" not in record:
        raise ValueError(f"{where}: no 'tokens'")
    tokens = record["tokens"]
    if not isinstance(tokens, list) or not all(
        isinstance(t, str) and t for t in tokens
    ):
        raise ValueError(
            f"{where}: 'tokens' must be a list of non-empty strings, got {tokens!r}"
        )
    if not tokens:
        raise ValueError(f"{where}: the document has no tokens")
    entities = _objects(record, "entities", where)
    seen = set()
    for i, ent in enumerate(entities):
        start, end, label = ent.get("start"), ent.get("end"), ent.get("type")
        _check_label(label, entity_labels, f"entity {i}", where)
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
        _check_label(label, relation_labels, f"relation {i}", where)
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
    """One Doc per record, with entities in ``doc.spans[spans_key]`` and ``doc.ents`` and relations in
    ``doc._.relations``. Label lists, when given, reject labels outside them; ``source`` names the input
    in error messages; ``symmetric`` relation types are recorded in ``doc.user_data[SYMMETRIC_KEY]``, which
    the component reads at initialize."""
    for index, record in enumerate(records):
        _check_record(
            record, _where(source, index, record), entity_labels, relation_labels
        )
        tokens = record["tokens"]
        doc = Doc(vocab, words=tokens, spaces=[True] * (len(tokens) - 1) + [False])
        if record.get("orig_id") is not None:
            doc.user_data["orig_id"] = record["orig_id"]
        if symmetric:
            doc.user_data[SYMMETRIC_KEY] = list(symmetric)
        spans = [(e["start"], e["end"], e["type"]) for e in record.get("entities", [])]
        set_entities(doc, spans, spans_key=spans_key)
        relations = []
        for rel in record.get("relations", []):
            head, tail = spans[rel["head"]], spans[rel["tail"]]  # (start, end, label)
            relations.append(
                make_relation(head[:2], head[2], tail[:2], tail[2], rel["type"], 1.0)
            )
        doc._.relations = relations
        yield doc


def docs_to_spert(
    docs: Iterable[Doc], spans_key: str = DEFAULT_SPANS_KEY
) -> List[Dict[str, Any]]:
    """The inverse, to export predictions (or check a conversion): entities in document order, relations
    re-indexed to them. A relation whose argument is not among the doc's entities raises ``ValueError``."""
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


def corpus_stats(
    docs: Sequence[Doc], spans_key: str = DEFAULT_SPANS_KEY
) -> Dict[str, Any]:
    """Counts to check a conversion against a dataset's published statistics."""
    entity_types: Counter = Counter()
    relation_types: Counter = Counter()
    overlapping = 0
    for doc in docs:
        ents = sorted(get_entities(doc, spans_key))
        entity_types.update(label for _, _, label in ents)
        relation_types.update(r["label"] for r in doc._.relations)
        # sorted by start, some pair overlaps iff some neighbouring pair does
        overlapping += any(a[1] > b[0] for a, b in zip(ents, ents[1:]))
    return {
        "documents": len(docs),
        "tokens": sum(len(d) for d in docs),
        "entities": sum(entity_types.values()),
        "relations": sum(relation_types.values()),
        "entity_types": dict(sorted(entity_types.items())),
        "relation_types": dict(sorted(relation_types.items())),
        "docs_with_overlapping_entities": overlapping,
    }


@contextmanager
def cached_msgpack_extensions() -> Iterator[None]:
    """Look srsly's msgpack extensions up once for the block instead of on every (de)serialisation.

    srsly scans the entry points and the catalogue registry on each ``msgpack_dumps``/``msgpack_loads``
    (~0.7 ms); ``DocBin`` makes three such calls a document with user data and a span group, which made
    writing ADE (4,272 docs) take ~12 s instead of ~2 s, and reading it back as long. Extensions registered
    inside the block are not seen.
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
) -> Dict[str, Any]:
    """Convert one SpERT JSON file to a ``.spacy`` DocBin (user data kept) and return its statistics.
    The output is written only if every document converts."""
    try:
        records = srsly.read_json(input_path)
    except (
        ValueError
    ) as err:  # a missing file or invalid JSON; srsly's message may not name the file
        raise ValueError(f"{input_path}: {err}") from err
    if not isinstance(records, list):
        raise ValueError(
            f"{input_path}: expected a JSON list of documents, got {type(records).__name__}"
        )
    entity_labels, relation_labels = (
        load_types(types_path) if types_path else (None, None)
    )
    symmetric = load_symmetric(types_path) if types_path else []
    docs = list(
        spert_to_docs(
            records,
            Vocab(),
            entity_labels,
            relation_labels,
            spans_key,
            str(input_path),
            symmetric,
        )
    )
    return write_docbin(docs, output_path, spans_key)


def write_docbin(
    docs: Sequence[Doc],
    output_path: Union[str, Path],
    spans_key: str = DEFAULT_SPANS_KEY,
) -> Dict[str, Any]:
    """Write docs as a ``.spacy`` DocBin (user data kept: relations too) and return their statistics."""
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with cached_msgpack_extensions():
        DocBin(docs=docs, store_user_data=True).to_disk(output_path)
    return corpus_stats(docs, spans_key)
