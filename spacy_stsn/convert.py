"""SpERT JSON <-> spaCy Docs: the benchmarks' format (CoNLL04, ADE, ACE05 as SpERT ships them) to ``.spacy``.

A record is ``{"tokens", "entities": [{"type", "start", "end"}], "relations": [{"type", "head", "tail"}],
"orig_id"}`` with exclusive ``end`` and relations that index the entity list. Entities may be unsorted and may
nest (ADE); relations are stored by span offsets, so re-sorting entities needs no index remapping. Every
problem raises a ``ValueError`` naming the file, the document and the fault: nothing is dropped silently.
"""
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import srsly
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from .annotations import DEFAULT_SPANS_KEY, get_entities, make_relation, set_entities


def load_types(path: Union[str, Path]) -> Tuple[List[str], List[str]]:
    """Entity and relation labels of a SpERT types file."""
    types = srsly.read_json(path)
    if not isinstance(types, dict) or "entities" not in types or "relations" not in types:
        raise ValueError(f"{path}: not a SpERT types file (expected keys 'entities' and 'relations')")
    return list(types["entities"]), list(types["relations"])


def _where(source: str, index: int, record: Any) -> str:
    orig_id = record.get("orig_id") if isinstance(record, dict) else None
    return f"{source}: document #{index}" + (f" (orig_id={orig_id})" if orig_id is not None else "")


def _check_record(record: Any, where: str, entity_labels: Optional[Sequence[str]],
                  relation_labels: Optional[Sequence[str]]) -> None:
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected an object, got {type(record).__name__}")
    tokens = record.get("tokens")
    if not isinstance(tokens, list) or not all(isinstance(t, str) and t for t in tokens):
        raise ValueError(f"{where}: 'tokens' must be a list of non-empty strings")
    if not tokens:
        raise ValueError(f"{where}: the document has no tokens")
    entities, relations = record.get("entities", []), record.get("relations", [])
    seen = set()
    for i, ent in enumerate(entities):
        start, end, label = ent.get("start"), ent.get("end"), ent.get("type")
        if not isinstance(start, int) or not isinstance(end, int):
            raise ValueError(f"{where}: entity {i} has non-integer start/end {start!r}/{end!r}")
        if end <= start:
            raise ValueError(f"{where}: entity {i} ({label}) has end {end} <= start {start}")
        if start < 0 or end > len(tokens):
            raise ValueError(f"{where}: entity {i} ({label}) span [{start}, {end}) is outside the "
                             f"sentence's {len(tokens)} tokens")
        if entity_labels is not None and label not in entity_labels:
            raise ValueError(f"{where}: entity {i} has unknown label {label!r} (types file: {list(entity_labels)})")
        if (start, end, label) in seen:
            raise ValueError(f"{where}: entity {i} ({label}, [{start}, {end})) is listed twice")
        seen.add((start, end, label))
    for i, rel in enumerate(relations):
        label = rel.get("type")
        for arg in ("head", "tail"):
            value = rel.get(arg)
            if not isinstance(value, int) or not 0 <= value < len(entities):
                raise ValueError(f"{where}: relation {i} ({label}) {arg} {value!r} does not index one of the "
                                 f"{len(entities)} entities")
        if relation_labels is not None and label not in relation_labels:
            raise ValueError(f"{where}: relation {i} has unknown label {label!r} "
                             f"(types file: {list(relation_labels)})")


def spert_to_docs(
    records: Iterable[Dict[str, Any]],
    vocab: Vocab,
    entity_labels: Optional[Sequence[str]] = None,
    relation_labels: Optional[Sequence[str]] = None,
    spans_key: str = DEFAULT_SPANS_KEY,
    source: str = "<records>",
) -> Iterator[Doc]:
    """One Doc per record, with entities in ``doc.spans[spans_key]`` and ``doc.ents`` and relations in
    ``doc._.relations``. Label lists, when given, reject labels outside them."""
    for index, record in enumerate(records):
        where = _where(source, index, record)
        _check_record(record, where, entity_labels, relation_labels)
        tokens = record["tokens"]
        doc = Doc(vocab, words=tokens, spaces=[True] * (len(tokens) - 1) + [False])
        if record.get("orig_id") is not None:
            doc.user_data["orig_id"] = record["orig_id"]
        entities = record.get("entities", [])
        set_entities(doc, [(e["start"], e["end"], e["type"]) for e in entities], spans_key=spans_key)
        doc._.relations = [
            make_relation(
                (entities[r["head"]]["start"], entities[r["head"]]["end"]), entities[r["head"]]["type"],
                (entities[r["tail"]]["start"], entities[r["tail"]]["end"]), entities[r["tail"]]["type"],
                r["type"],
            )
            for r in record.get("relations", [])
        ]
        yield doc


def docs_to_spert(docs: Iterable[Doc], spans_key: str = DEFAULT_SPANS_KEY) -> List[Dict[str, Any]]:
    """The inverse: SpERT records of Docs (gold or predicted), e.g. to export predictions."""
    records = []
    for doc in docs:
        entities = get_entities(doc, spans_key)
        index = {(s, e, label): i for i, (s, e, label) in enumerate(entities)}
        record: Dict[str, Any] = {
            "tokens": [t.text for t in doc],
            "entities": [{"type": label, "start": s, "end": e} for s, e, label in entities],
            "relations": [
                {"type": r["label"], "head": index[(*r["head"], r["head_label"])],
                 "tail": index[(*r["tail"], r["tail_label"])]}
                for r in doc._.relations
            ],
        }
        if doc.user_data.get("orig_id") is not None:
            record["orig_id"] = doc.user_data["orig_id"]
        records.append(record)
    return records


def corpus_stats(docs: Sequence[Doc], spans_key: str = DEFAULT_SPANS_KEY) -> Dict[str, Any]:
    """Counts to check a conversion against a dataset's published statistics."""
    entity_types: Counter = Counter()
    relation_types: Counter = Counter()
    overlapping = 0
    for doc in docs:
        ents = sorted(get_entities(doc, spans_key))
        entity_types.update(label for _, _, label in ents)
        relation_types.update(r["label"] for r in doc._.relations)
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


def convert_file(
    input_path: Union[str, Path],
    output_path: Union[str, Path],
    types_path: Optional[Union[str, Path]] = None,
    spans_key: str = DEFAULT_SPANS_KEY,
) -> Dict[str, Any]:
    """Convert one SpERT JSON file to a ``.spacy`` DocBin (user data kept); returns its statistics."""
    records = srsly.read_json(input_path)
    if not isinstance(records, list):
        raise ValueError(f"{input_path}: expected a JSON list of documents")
    entity_labels, relation_labels = load_types(types_path) if types_path else (None, None)
    vocab = Vocab()
    docs = list(spert_to_docs(records, vocab, entity_labels, relation_labels, spans_key, str(input_path)))
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    DocBin(docs=docs, store_user_data=True).to_disk(output_path)
    return corpus_stats(docs, spans_key)
